"""A real Redis Cluster (3 masters, 3 replicas) and Sentinel group from scripts/redis-group:
the URLs it prints, key slots as the cluster computes them, the slot map a client reads."""

# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from horus.cluster_slots import SLOTS, Node, Redirect, SlotMap, key_slot
from horus.keys import Keys
from horus.redis_url import Address, ClusterTarget, SentinelTarget, parse_target
from horus.resp import Connection, ReplyError

from .redis_groups import cluster, group_dir, redis_group, run_script, sentinel  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def seed(cluster: ClusterTarget) -> Iterator[Connection]:
    conn = Connection(cluster.seeds[0])
    yield conn
    conn.close()


def _sample_keys() -> list[str]:
    keys = Keys("ns")
    found = [
        keys.queue("runner-a"),
        keys.job("runner-a", "job-1"),
        keys.job_index("job-1"),
        keys.runners(),
        keys.schedules(),
        keys.workflow("wf-1"),
        keys.workflow_events("b07"),
        keys.osiris_doc("people", "p1"),
        "plain",
        "{}",
        "a{}b{c}",
        "é{ü}",
    ]
    return found + [f"key-{n}" for n in range(200)]


def test_the_script_prints_six_seeds_and_start_is_idempotent(cluster: ClusterTarget, group_dir: Path) -> None:
    assert len(cluster.seeds) == 6
    again = run_script("cluster", "start", "--dir", str(group_dir))
    assert again.returncode == 0, again.stderr
    assert parse_target(again.stdout.strip()) == cluster
    status = run_script("cluster", "status", "--dir", str(group_dir))
    assert status.returncode == 0 and "ready: redis+cluster://" in status.stdout


def test_key_slot_agrees_with_the_cluster(seed: Connection) -> None:
    keys = _sample_keys()
    answers = seed.pipeline([("CLUSTER", "KEYSLOT", key) for key in keys])
    assert answers == [key_slot(key) for key in keys]


def test_slot_maps_from_shards_and_slots_agree_and_cover_every_slot(cluster: ClusterTarget, seed: Connection) -> None:
    host = cluster.seeds[0].host
    shards = SlotMap.from_shards(seed.call("CLUSTER", "SHARDS"), host)
    slots = SlotMap.from_slots(seed.call("CLUSTER", "SLOTS"), host)
    assert shards.uncovered() == slots.uncovered() == 0
    assert len(shards.masters()) == 3
    for slot in range(0, SLOTS, 97):
        assert shards.master_for(slot) == slots.master_for(slot)
    seeds = {(s.host, s.port) for s in cluster.seeds}
    for shard in shards.shards:
        assert len(shard.replicas) == 1
        assert {(n.host, n.port) for n in (shard.master, *shard.replicas)} <= seeds
        replica = Connection(cluster.node(shard.replicas[0].host, shard.replicas[0].port))
        try:
            role = replica.call("ROLE")
        finally:
            replica.close()
        assert role[0] == "slave" and (role[1], role[2]) == (shard.master.host, shard.master.port)


def test_the_map_names_the_master_that_takes_each_key(cluster: ClusterTarget, seed: Connection) -> None:
    slots = SlotMap.from_shards(seed.call("CLUSTER", "SHARDS"), cluster.seeds[0].host)
    conns = {m: Connection(cluster.node(m.host, m.port)) for m in slots.masters()}
    try:
        for key in _sample_keys()[:40]:
            owner = slots.master_for_key(key)
            assert conns[owner].call("SET", key, "v", "PX", 60000) == "OK"
            other = next(m for m in conns if m != owner)
            with pytest.raises(ReplyError) as refused:
                conns[other].call("GET", key)
            redirect = Redirect.parse(str(refused.value), other.host)
            assert redirect is not None and redirect.kind == "MOVED"
            assert (redirect.slot, redirect.node) == (key_slot(key), Node(owner.host, owner.port))
    finally:
        for conn in conns.values():
            conn.close()


def test_every_sentinel_names_the_same_master(sentinel: SentinelTarget) -> None:
    answers = set()
    for address in sentinel.sentinels:
        conn = Connection(address)
        try:
            host, port = conn.call("SENTINEL", "get-master-addr-by-name", sentinel.master_name)
        finally:
            conn.close()
        answers.add((host, int(port)))
    assert len(answers) == 1
    master = Connection(sentinel.master(*answers.pop()))
    try:
        assert master.call("ROLE")[0] == "master"
        assert master.address == Address(host=master.address.host, port=master.address.port)
    finally:
        master.close()

"""ClusterConnection on a real cluster: commands reach the master of their slot, a stale map
is corrected by MOVED, a slot being migrated is followed by ASK, a resharding and a failover
are lived through."""

# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from horus import scripts
from horus.cluster_slots import Node, SlotMap, key_slot
from horus.errors import ConnectionFailed
from horus.redis_url import ClusterTarget
from horus.resp import Connection, ReplyError
from horus.resp_cluster import ClusterConnection, CrossSlot, command_keys, command_slot

from .redis_groups import cluster, group_dir, redis_group  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow

#: How long the cluster gets to promote a replica (cluster-node-timeout is 2 s in the script).
FAILOVER_DEADLINE_S = 60


@pytest.fixture
def conn(cluster: ClusterTarget) -> Iterator[ClusterConnection]:
    conn = ClusterConnection(cluster)
    yield conn
    conn.close()


def _direct(cluster: ClusterTarget, node: Node) -> Connection:
    return Connection(cluster.node(node.host, node.port))


def _node_id(cluster: ClusterTarget, node: Node) -> str:
    direct = _direct(cluster, node)
    try:
        return str(direct.call("CLUSTER", "MYID"))
    finally:
        direct.close()


def test_commands_reach_the_master_of_their_slot_without_redirection(conn: ClusterConnection) -> None:
    keys = [f"route-{n}" for n in range(300)]
    assert len({conn.slots.master_for_key(k) for k in keys}) == 3
    for key in keys:
        assert conn.call("SET", key, key, "PX", 60000) == "OK"
    assert [conn.call("GET", k) for k in keys] == keys
    assert conn.pipeline([("GET", k) for k in keys]) == keys
    assert conn.redirects == {"MOVED": 0, "ASK": 0}


def test_keys_in_several_slots_are_refused_before_sending(conn: ClusterConnection) -> None:
    assert key_slot("a") != key_slot("b")
    with pytest.raises(CrossSlot, match=r"DEL names keys in 2 hash slots.*a \(slot \d+\), b \(slot \d+\)"):
        conn.call("DEL", "a", "b")
    assert conn.call("DEL", "{t}a", "{t}b") == 0
    assert command_keys(("XREAD", "COUNT", 5, "STREAMS", "s1", "s2", "0", "0")) == ["s1", "s2"]
    assert command_keys(("EVALSHA", "x", 2, "k1", "k2", "arg")) == ["k1", "k2"]
    assert command_slot(("PING",)) is None


def test_scripts_are_loaded_on_every_master_and_run_in_their_slot(conn: ClusterConnection) -> None:
    conn.pipeline([("SCRIPT", "FLUSH")])
    ids = [f"job-{n}" for n in range(30)]
    replies = scripts.run(conn, [scripts.command("claim", [f"ns:job:{{{i}}}"], ["r1", 60]) for i in ids])
    assert replies == [1] * len(ids)
    assert len({conn.slots.master_for_key(f"{{{i}}}") for i in ids}) == 3


def test_an_error_reply_is_raised_as_on_one_redis(conn: ClusterConnection) -> None:
    conn.call("SET", "not-a-list", "x")
    with pytest.raises(ReplyError, match="WRONGTYPE"):
        conn.call("LPUSH", "not-a-list", "y")


def test_a_stale_map_is_corrected_by_moved(conn: ClusterConnection) -> None:
    key = "moved-key"
    conn.call("SET", key, "v")
    owner = conn.slots.master_for_key(key)
    wrong = next(m for m in conn.slots.masters() if m != owner)
    conn.slots.moved(key_slot(key), wrong)
    assert conn.call("GET", key) == "v"
    assert conn.redirects["MOVED"] == 1
    # The map is read again before the next command: no second redirection.
    assert conn.call("GET", key) == "v"
    assert conn.redirects["MOVED"] == 1
    assert conn.slots.master_for_key(key) == owner


def test_replies_read_later_come_in_order_with_a_redirection_followed(conn: ClusterConnection) -> None:
    keys = [f"later-{n}" for n in range(30)]
    conn.pipeline([("SET", k, k) for k in keys])
    stale = keys[7]
    owner = conn.slots.master_for_key(stale)
    conn.slots.moved(key_slot(stale), next(m for m in conn.slots.masters() if m != owner))
    # Sent to three masters at once, one of them wrongly: read back in the order sent.
    conn.send([*(("GET", k) for k in keys), ("PING",), ("LPUSH", keys[0], "x")])
    replies = [conn.reply() for _ in range(len(keys) + 2)]
    assert replies[: len(keys)] == keys
    assert replies[len(keys)] == "PONG"
    assert isinstance(replies[-1], ReplyError) and "WRONGTYPE" in str(replies[-1])
    assert conn.redirects["MOVED"] == 1
    # A blocking command read later, as a worker reserves: it blocks on its own master.
    conn.call("DEL", "{later}q", "{later}inflight")
    conn.send([("BLMOVE", "{later}q", "{later}inflight", "RIGHT", "LEFT", 0.05), ("LLEN", "{later}inflight")])
    assert (conn.reply(timeout_s=5), conn.reply()) == (None, 0)


def test_a_subscription_hears_a_publish_sent_to_any_master(cluster: ClusterTarget, conn: ClusterConnection) -> None:
    listener = ClusterConnection(cluster)
    channel = "ns:runner:{r1}:control"
    listener.subscribe(channel)
    try:
        for master in conn.slots.masters():
            direct = _direct(cluster, master)
            try:
                direct.call("PUBLISH", channel, f"hello {master.port}")
            finally:
                direct.close()
        heard: list[str] = []
        deadline = time.monotonic() + 30
        while len(heard) < 3 and time.monotonic() < deadline:
            select.select([listener.fileno()], [], [], 1)
            heard += listener.messages()
        assert sorted(heard) == sorted(f"hello {m.port}" for m in conn.slots.masters())
    finally:
        listener.close()


def test_a_slot_in_migration_is_followed_by_ask_then_moved_once_resharded(
    cluster: ClusterTarget, conn: ClusterConnection
) -> None:
    old_key, slot = "{migrating}old", key_slot("{migrating}")
    conn.call("SET", old_key, "before")
    source = conn.slots.master_for(slot)
    target = next(m for m in conn.slots.masters() if m != source)
    source_id, target_id = _node_id(cluster, source), _node_id(cluster, target)
    at_source, at_target = _direct(cluster, source), _direct(cluster, target)
    try:
        assert at_target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id) == "OK"
        assert at_source.call("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id) == "OK"
        # A key still at the source is served there; a key the source lacks is asked of the target.
        assert conn.call("GET", old_key) == "before"
        assert conn.call("SET", "{migrating}new", "after") == "OK"
        assert conn.redirects == {"MOVED": 0, "ASK": 1}
        assert at_target.pipeline([("ASKING",), ("GET", "{migrating}new")])[1] == "after"
        assert conn.slots.master_for(slot) == source  # ASK leaves the map alone
        # Finish the resharding: move the remaining keys, then give the slot to the target.
        keys = at_source.call("CLUSTER", "GETKEYSINSLOT", slot, 100)
        assert keys == [old_key]
        at_source.call("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
        for master in conn.slots.masters():
            node = _direct(cluster, master)
            try:
                node.call("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            finally:
                node.close()
    finally:
        at_source.close()
        at_target.close()
    assert conn.call("GET", old_key) == "before"
    assert conn.redirects["MOVED"] == 1
    assert conn.slots.master_for(slot) == Node(target.host, target.port, conn.slots.master_for(slot).node_id)


def _master_serving(cluster: ClusterTarget, slot: int, not_port: int) -> Node | None:
    """The master another node says serves ``slot``, once it is not the one killed."""
    for seed in cluster.seeds:
        if seed.port == not_port:
            continue
        try:
            direct = Connection(seed)
            try:
                node = SlotMap.from_shards(direct.call("CLUSTER", "SHARDS"), seed.host).master_for(slot)
            finally:
                direct.close()
        except Exception:
            continue
        if node.port != not_port:
            return node
    return None


def test_a_failover_is_lived_through(cluster: ClusterTarget, conn: ClusterConnection, group_dir: Path) -> None:
    key = "failover-key"
    conn.call("SET", key, "kept")
    owner = conn.slots.master_for_key(key)
    assert conn.call("WAIT", 1, 5000) >= 1  # the replica has it before its master dies
    index = [s.port for s in cluster.seeds].index(owner.port)
    pid = int((group_dir / "cluster" / f"node{index}" / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + FAILOVER_DEADLINE_S
    while _master_serving(cluster, key_slot(key), owner.port) is None:
        assert time.monotonic() < deadline, "no replica was promoted"
        time.sleep(0.2)
    # The connection to the dead master fails once; the map is read again and the new master
    # answers.
    answers: list[object] = []
    while not answers:
        assert time.monotonic() < deadline, "the cluster connection never reached the new master"
        try:
            answers.append(conn.call("GET", key))
        except ConnectionFailed:
            time.sleep(0.2)
    assert answers == ["kept"]
    assert conn.slots.master_for_key(key).port != owner.port

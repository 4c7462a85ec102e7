"""Hash slots (vectors answered by a real cluster's CLUSTER KEYSLOT) and the slot map."""

from __future__ import annotations

import inspect

import pytest

from horus.cluster_slots import (
    SLOTS,
    BadClusterReply,
    Node,
    Redirect,
    SlotMap,
    SlotNotCovered,
    hash_tag,
    key_slot,
)
from horus.keys import WORKFLOW_BUCKETS, Keys, workflow_bucket

# key -> CLUSTER KEYSLOT on Redis 7.0 (the hash-tag edge cases included).
VECTORS = {
    "foo": 12182,
    "bar": 5061,
    "hello": 866,
    "123456789": 12739,
    "{user1000}.following": 3443,
    "{user1000}.followers": 3443,
    "foo{}{bar}": 8363,
    "foo{{bar}}zap": 4015,
    "foo{bar}{zap}": 5061,
    "{}": 15257,
    "{": 4092,
    "}{a}": 15495,
    "horus:runner:{r1}:jobs": 2121,
    "héllo": 11061,
    "": 0,
}


@pytest.mark.parametrize(("key", "slot"), VECTORS.items())
def test_key_slot_matches_redis(key: str, slot: int) -> None:
    assert key_slot(key) == slot
    assert key_slot(key.encode()) == slot


def test_the_hash_tag_rule() -> None:
    assert hash_tag(b"a{b}c") == b"b"
    assert hash_tag(b"a{}c{d}") == b"a{}c{d}"  # an empty first tag: the whole key
    assert hash_tag(b"{{b}}") == b"{b"  # from the first { to the first } after it
    assert hash_tag(b"a}b{c") == b"a}b{c"


def test_keys_of_one_runner_share_its_slot() -> None:
    keys = Keys("ns")
    slots = {key_slot(k) for k in (keys.queue("r1"), keys.job("r1", "j"), keys.dead("r1"), keys.events("r1"))}
    assert slots == {key_slot("r1")}


def _shards_reply() -> list[object]:
    def node(port: int, role: str, health: str = "online", endpoint: str = "10.0.0.1") -> list[object]:
        return ["id", f"id{port}", "port", port, "ip", "10.0.0.1", "endpoint", endpoint, "role", role,
                "replication-offset", 1, "health", health]  # fmt: skip

    return [
        ["slots", [0, 99, 200, 299], "nodes", [node(7000, "master"), node(7003, "replica", "loading")]],
        ["slots", [100, 199], "nodes", [node(7001, "master", endpoint="?"), node(7004, "replica", "failed")]],
        ["slots", [300, SLOTS - 1], "nodes", [node(7002, "master", "failed"), node(7005, "replica")]],
    ]


def test_slot_map_from_cluster_shards() -> None:
    slots = SlotMap.from_shards(_shards_reply(), asked_host="seed")
    assert slots.master_for(0) == slots.master_for(250) == Node("10.0.0.1", 7000, "id7000")
    assert slots.shard_for(50).replicas == (Node("10.0.0.1", 7003, "id7003"),)
    # An endpoint of "?" falls back to the IP; failed nodes are left out.
    assert slots.master_for(150) == Node("10.0.0.1", 7001, "id7001")
    assert slots.shard_for(150).replicas == ()
    # A shard whose master failed serves nothing until the map is read again.
    assert slots.uncovered() == SLOTS - 300
    with pytest.raises(SlotNotCovered, match="no master serves slot 300"):
        slots.master_for(300)


def test_slot_map_from_cluster_slots() -> None:
    reply = [
        [0, 5460, ["127.0.0.1", 7000, "a", []], ["127.0.0.1", 7003, "d", []]],
        [5461, 10922, ["", 7001, "b", []]],
        [10923, 16382, ["127.0.0.1", 7002, "c", []], ["127.0.0.1", 7005, "f", []]],
        [16383, 16383, ["127.0.0.1", 7000, "a", []], ["127.0.0.1", 7003, "d", []]],
    ]
    slots = SlotMap.from_slots(reply, asked_host="seed")
    assert slots.master_for(16383) == slots.master_for(0) == Node("127.0.0.1", 7000, "a")
    assert slots.master_for(6000) == Node("seed", 7001, "b")  # no endpoint known: the seed's host
    assert len(slots.masters()) == 3 and slots.uncovered() == 0
    assert slots.shard_for(12000).replicas == (Node("127.0.0.1", 7005, "f"),)
    with pytest.raises(BadClusterReply):
        SlotMap.from_slots([[0, 1]], asked_host="seed")


def test_moved_reassigns_one_slot() -> None:
    slots = SlotMap.from_shards(_shards_reply(), asked_host="seed")
    slots.moved(5, Node("10.0.0.1", 7001))
    assert slots.master_for(5).port == 7001 and slots.master_for(6).port == 7000
    slots.moved(400, Node("10.0.0.9", 7009))  # a master the map did not know
    assert slots.master_for(400) == Node("10.0.0.9", 7009)
    assert slots.uncovered() == SLOTS - 300 - 1


def test_redirections_are_read() -> None:
    assert Redirect.parse("MOVED 3999 127.0.0.1:6381", "seed") == Redirect("MOVED", 3999, Node("127.0.0.1", 6381))
    assert Redirect.parse("ASK 3999 :6381", "seed") == Redirect("ASK", 3999, Node("seed", 6381))
    assert Redirect.parse("MOVED 1 [::1]:7000", "seed") == Redirect("MOVED", 1, Node("::1", 7000))
    assert Redirect.parse("ERR unknown command", "seed") is None
    with pytest.raises(BadClusterReply, match="cannot read the redirection"):
        Redirect.parse("MOVED x y", "seed")


# Every key builder whose keys carry no hash tag: each is one key for the whole namespace, in a
# slot of its own, so no script may touch it together with a runner's or a workflow's keys on a
# Cluster. docs/scaling.md says what each is for and how it is to be redesigned; a new one must
# be added there and here.
NAMESPACE_WIDE = {
    "runners",
    "supervisor_runners",
    "supervisor_keys",
    "supervisor_tokens",
    "supervisor_jobs",
    # the layout before buckets, read once by the migration at a coordinator's start
    "workflows_active_unbucketed",
    "workflows_index_unbucketed",
    "workflow_events_unbucketed",
}
SAMPLES = {
    "runner_id": "runner-a",
    "job_id": "job-1",
    "worker_id": "w-1",
    "workflow_id": "wf-1",
    "collection": "people",
    "doc_id": "p1",
    "field": "email",
    "bucket": "b07",
}
#: The bucket of the sample workflow id: its keys carry that tag, not the id's.
WF_BUCKET = workflow_bucket("wf-1")


def _built() -> dict[str, str]:
    """Every key builder of Keys, called with the sample ids."""
    keys = Keys("ns")
    built = {}
    for name, method in inspect.getmembers(keys, inspect.ismethod):
        if (
            name.startswith("_")
            or name in ("job_affixes", "osiris_prefix", "workflow_buckets")
            or name.endswith("_workflow_keys")
        ):
            continue
        params = list(inspect.signature(method).parameters)
        built[name] = method(*(SAMPLES[p] for p in params))
    return built


def test_every_key_is_in_the_slot_of_its_owner_or_namespace_wide() -> None:
    owners = {"runner-a", "job-1", WF_BUCKET, "b07", "people", "schedules"}
    untagged = set()
    for name, key in _built().items():
        tag = hash_tag(key.encode()).decode()
        if tag == key:
            untagged.add(name)
        else:
            assert tag in owners, f"{name} is tagged {{{tag}}}, not by the id it belongs to"
    assert untagged == NAMESPACE_WIDE


def test_keys_of_one_owner_share_a_slot() -> None:
    by_tag: dict[str, set[int]] = {}
    for key in _built().values():
        by_tag.setdefault(hash_tag(key.encode()).decode(), set()).add(key_slot(key))
    for tag in ("runner-a", WF_BUCKET, "people", "schedules"):
        assert len(by_tag[tag]) == 1


def test_a_workflows_keys_share_the_slot_of_its_buckets_indexes() -> None:
    keys = Keys("ns")
    for workflow_id in ("wf-1", "01J0000000000000000000000", "x"):
        bucket = workflow_bucket(workflow_id)
        own = [keys.workflow(workflow_id), keys.workflow_steps(workflow_id), keys.workflow_lease(workflow_id)]
        indexes = [keys.workflows_active(bucket), keys.workflows_index(bucket), keys.workflow_events(bucket)]
        assert {key_slot(k) for k in own + indexes} == {key_slot(f"{{{bucket}}}")}


def test_workflow_buckets_are_fixed_and_spread() -> None:
    buckets = Keys("ns").workflow_buckets()
    assert len(buckets) == WORKFLOW_BUCKETS == 64 and buckets[0] == "b00" and buckets[-1] == "b63"
    assert len({key_slot(f"{{{b}}}") for b in buckets}) == 64  # every bucket a slot of its own
    # CRC16/XMODEM of the id, as documented in docs/protocol.md (other clients compute it too).
    assert workflow_bucket("123456789") == f"b{0x31C3 % 64:02d}"
    # Over the three masters of a default 3-master cluster (slots split in thirds), evenly enough.
    thirds = [sum(1 for b in buckets if key_slot(f"{{{b}}}") * 3 // SLOTS == n) for n in range(3)]
    assert min(thirds) >= 16

from __future__ import annotations

import pytest
from redis.crc import key_slot

from horus import scripts
from horus.keys import PRIORITY_TOKEN, Keys
from horus.models import check_id


def test_runner_keys_share_one_cluster_slot() -> None:
    keys = Keys("tenant-a")
    runner_keys = [
        keys.queue("r1"),
        keys.job("r1", "j1"),
        keys.result("r1", "j1"),
        keys.log("r1", "j1"),
        keys.inflight("r1", "host:1:2"),
        keys.workers("r1"),
        keys.dead("r1"),
        keys.rate_limit("r1"),
        keys.scheduled("r1"),
        keys.priority_queue("r1"),
        keys.priority_seq("r1"),
        keys.events("r1"),
        keys.stats("r1"),
    ]
    assert len({key_slot(k.encode()) for k in runner_keys}) == 1
    assert all(k.startswith("tenant-a:") for k in runner_keys)


def test_job_index_is_tagged_by_job_id() -> None:
    keys = Keys()
    assert key_slot(keys.job_index("abc").encode()) == key_slot(b"abc")


def test_namespaces_never_collide() -> None:
    assert Keys("a").queue("r1") != Keys("b").queue("r1")


def test_job_affixes_rebuild_the_job_keys() -> None:
    keys = Keys("tenant-a")
    before, after, spec_tail = keys.job_affixes("r1")
    assert before + "J1" + after == keys.job("r1", "J1")
    assert before + "J1" + after + spec_tail == keys.spec("r1", "J1")


def test_scripts_name_a_runners_keys_from_its_queue_key() -> None:
    """queue_lib.lua's runner_key(): the queue key less ``jobs``, plus the key's own name."""
    keys = Keys("tenant-a")
    stem = keys.queue("r1").removesuffix("jobs")
    assert stem + "scheduled" == keys.scheduled("r1")
    assert stem + "priority" == keys.priority_queue("r1")
    assert stem + "priority_seq" == keys.priority_seq("r1")
    assert stem + "control" == keys.control("r1")
    assert stem + "events" == keys.events("r1")
    assert "string.sub(queue, 1, -5)" in scripts.source("queue_lib")


def test_the_priority_token_is_never_a_job_id() -> None:
    with pytest.raises(ValueError):
        check_id(PRIORITY_TOKEN)
    for name in ("queue_lib", "start", "cancel", "take_priority"):
        assert f"'{PRIORITY_TOKEN}'" in scripts.source(name), name

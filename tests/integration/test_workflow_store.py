"""The workflow store on one Redis: workflows spread over their buckets, listed newest first
across them page by page, leases renewed per bucket, step jobs watched per runner."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import redis

from horus.broker import Broker
from horus.coordinator.models import Workflow
from horus.coordinator.service import ListParams, list_workflows
from horus.coordinator.store import WorkflowStore
from horus.keys import workflow_bucket


def _stored(store: WorkflowStore, count: int, owner: str = "") -> list[Workflow]:
    flows = []
    for n in range(count):
        # Several workflows per second: ties are ordered by id, across buckets too.
        step = {"id": "s", "runner_id": "r", "payload": "x"}
        flow = Workflow.model_validate({"id": f"wf-{n:03d}", "created_at": 1_760_000_000 + n // 4, "steps": [step]})
        store.create(flow, f"digest-{n}", "submitter", owner, 60_000 if owner else 0)
        flows.append(flow)
    return flows


def _list(store: WorkflowStore, **params: Any) -> Any:
    return list_workflows(SimpleNamespace(store=store), ListParams(**params))  # type: ignore[arg-type]


def test_pages_across_buckets_are_newest_first_and_whole(broker: Broker, r: redis.Redis) -> None:
    store = WorkflowStore(broker)
    flows = _stored(store, 30)
    assert len({workflow_bucket(f.id) for f in flows}) > 10
    expected = [f.id for f in sorted(flows, key=lambda f: (f.created_at, f.id), reverse=True)]
    seen: list[str] = []
    cursor: int | None = 0
    while cursor is not None:
        page = _list(store, limit=7, cursor=cursor)
        seen += [w.workflow_id for w in page.workflows]
        cursor = page.next_cursor
    assert seen == expected
    assert sorted(store.active()) == sorted(expected)
    # An expired workflow drops out of the list and its bucket's index; the pages stay whole.
    r.delete(broker.keys.workflow(expected[3]), broker.keys.workflow(expected[10]))
    again: list[str] = []
    cursor = 0
    while cursor is not None:
        page = _list(store, limit=5, cursor=cursor)
        again += [w.workflow_id for w in page.workflows]
        cursor = page.next_cursor
    assert again == [w for w in expected if w not in (expected[3], expected[10])]
    assert r.zscore(broker.keys.workflows_index(workflow_bucket(expected[3])), expected[3]) is None


def test_leases_are_renewed_per_bucket_and_jobs_watched_per_runner(broker: Broker) -> None:
    store = WorkflowStore(broker)
    flows = _stored(store, 12, owner="me")
    ids = [f.id for f in flows]
    assert store.renew(ids, "me", 30_000) == ids
    assert store.renew(ids, "someone-else", 30_000) == []
    assert store.renew(ids[:3], "me", 0) == ids[:3]  # released
    assert store.renew(ids, "me", 30_000) == ids[3:]
    statuses = store.watch([("r1", "job-a", 60), ("r2", "job-b", 60), ("r1", "job-c", 60)])
    assert statuses == [None, None, None]
    broker.call("HSET", broker.keys.job("r2", "job-b"), "status", "running")
    assert store.watch([("r1", "job-a", 60), ("r2", "job-b", 60)]) == [None, "running"]

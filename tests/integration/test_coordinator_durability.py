"""Coordinators killed with SIGKILL, restarted, and running side by side: every step runs exactly
once and every workflow ends."""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import random
import time
from typing import Any

import pytest
import redis

from horus.coordinator.models import StepStatus
from horus.keys import Keys, workflow_bucket
from tests.integration.coordinator_fixtures import WAIT, Stack, python_step, serve, stack  # noqa: F401


def recorded_flow(redis_url: str, runs: str, name: str, width: int, seconds: float) -> dict[str, Any]:
    """start -> `width` parallel steps -> join -> end, each counting its runs in the hash ``runs``."""
    middle = [f"{name}-p{i}" for i in range(width)]

    def rec(step_id: str, **fields: Any) -> dict[str, Any]:
        return python_step(step_id, "wf_record", redis_url, runs, step_id, seconds, **fields)

    return {
        "name": name,
        "steps": [
            rec(f"{name}-start"),
            *[rec(m, depends_on=[f"{name}-start"]) for m in middle],
            rec(f"{name}-join", depends_on=middle),
            rec(f"{name}-end", depends_on=[f"{name}-join"]),
        ],
    }


def assert_exactly_once(r: redis.Redis, runs: str, flow: dict[str, Any]) -> None:
    counts = {k: int(v) for k, v in r.hgetall(runs).items()}
    assert counts == {step["id"]: 1 for step in flow["steps"]}


def test_killed_coordinator_is_resumed_by_a_restarted_one(stack: Stack, redis_url: str, r: redis.Redis) -> None:
    stack.start_worker(concurrency=3)
    first = stack.start_coordinator()
    flow = recorded_flow(redis_url, "runs", "k", 4, 0.4)
    with stack.client(first) as client:
        workflow_id = client.submit(flow)
    deadline = time.monotonic() + WAIT
    while r.hget("runs", "k-start") is None:  # killed while steps are in flight
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.kill()
    second = stack.start_coordinator()
    with stack.client(second) as client:
        outcome = client.wait(workflow_id, WAIT)
        info = client.status(workflow_id)
    assert outcome.status == "completed", outcome
    assert_exactly_once(r, "runs", flow)
    assert all(step.attempt == 1 for step in info.steps)


@pytest.mark.slow
def test_coordinators_killed_at_random_moments(stack: Stack, redis_url: str, r: redis.Redis) -> None:
    stack.start_worker(concurrency=4)
    flow = recorded_flow(redis_url, "runs", "rk", 8, 0.15)
    coordinator = stack.start_coordinator(lease_ttl=1.0)
    with stack.client(coordinator) as client:
        workflow_id = client.submit(flow)
    rng = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 120
    # Kills follow the workflow's progress (steps recorded), with random jitter, so that at least
    # two land before it can end however fast or slow the machine is: its last step cannot start
    # before all ten others have.
    for recorded in (1, 2, 4, 6, 8):
        while len(r.hkeys("runs")) < recorded:
            assert time.monotonic() < deadline, "the workflow made no progress"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.2))
        with stack.client(coordinator) as client:
            if client.status(workflow_id).ended_at is not None:
                break
        coordinator.kill()
        kills += 1
        coordinator = stack.start_coordinator(lease_ttl=1.0)
    with stack.client(coordinator) as client:
        outcome = client.wait(workflow_id, WAIT)
    assert kills >= 2
    assert outcome.status == "completed"
    assert_exactly_once(r, "runs", flow)


@pytest.mark.slow
def test_two_coordinators_share_workflows_and_never_dispatch_a_step_twice(
    stack: Stack, redis_url: str, r: redis.Redis
) -> None:
    stack.start_worker(concurrency=4)
    one, two = stack.start_coordinator(), stack.start_coordinator()
    flows = [recorded_flow(redis_url, f"runs-{i}", f"w{i}", 6, 0.05) for i in range(6)]
    ids = []
    for i, flow in enumerate(flows):
        receiver = one if i % 2 else two
        with stack.client(receiver) as client:
            ids.append(client.submit(flow))
        # The coordinator a workflow was submitted to drives it (a load balancer spreads the work).
        lease = r.get(Keys(stack.namespace).workflow_lease(ids[-1]))
        assert lease is not None and lease.split(":")[-2] == str(receiver.proc.pid)
    deadline = time.monotonic() + WAIT
    while not all(r.hget(f"runs-{i}", f"w{i}-start") for i in range(len(flows))):  # all under way
        assert time.monotonic() < deadline
        time.sleep(0.02)
    one.kill()  # the survivor adopts what the dead one held
    with stack.client(two) as client:
        for workflow_id in ids:
            assert client.wait(workflow_id, WAIT).status == "completed"
            assert {s.status for s in client.status(workflow_id).steps} == {StepStatus.COMPLETED}
    for i, flow in enumerate(flows):
        assert_exactly_once(r, f"runs-{i}", flow)


@pytest.mark.slow
def test_a_chord_of_a_thousand_steps(stack: Stack) -> None:
    stack.start_worker(concurrency=4)
    coordinator = stack.start_coordinator()
    steps = [python_step(f"p{i}", "wf_value", i) for i in range(1000)]
    steps.append(python_step("total", "wf_sum", depends_on=[s["id"] for s in steps]))
    started = time.monotonic()
    with stack.client(coordinator) as client:
        outcome = client.run({"name": "big-chord", "steps": steps}, 180)
    elapsed = time.monotonic() - started
    assert outcome.status == "completed"
    assert outcome.steps["total"].value == sum(range(1000))
    assert elapsed < 180


def test_a_workflow_stored_before_buckets_is_moved_and_finished(stack: Stack, r: redis.Redis) -> None:
    keys = Keys(stack.namespace)
    first = stack.start_coordinator()
    with stack.client(first) as client:
        workflow_id = client.submit({"name": "old", "steps": [python_step("only", "wf_value", 7)]})
        deadline = time.monotonic() + WAIT
        while client.status(workflow_id).steps[0].status != StepStatus.DISPATCHED:  # no worker yet: it waits
            assert time.monotonic() < deadline
            time.sleep(0.02)
    first.kill()
    # Put it back the way a coordinator before buckets stored it.
    bucket = workflow_bucket(workflow_id)
    for new, old in zip(
        keys.bucketed_workflow_keys(workflow_id), keys.unbucketed_workflow_keys(workflow_id), strict=True
    ):
        if r.exists(new):
            r.rename(new, old)
    created = r.zscore(keys.workflows_index(bucket), workflow_id)
    r.zadd(keys.workflows_index_unbucketed(), {workflow_id: created})
    r.zadd(keys.workflows_active_unbucketed(), {workflow_id: created})
    r.delete(keys.workflows_index(bucket), keys.workflows_active(bucket))
    r.xadd(keys.workflow_events_unbucketed(), {"workflow": workflow_id, "event": "submitted"})
    stack.start_worker()
    second = stack.start_coordinator()
    with stack.client(second) as client:
        outcome = client.wait(workflow_id, WAIT)
        assert workflow_id in [w.workflow_id for w in client.list().workflows]
    assert (outcome.status, outcome.steps["only"].value) == ("completed", 7)
    assert not r.exists(
        keys.workflows_index_unbucketed(), keys.workflows_active_unbucketed(), keys.workflow_events_unbucketed()
    )
    assert not any(r.exists(old) for old in keys.unbucketed_workflow_keys(workflow_id))
    assert "moved 1 workflow(s)" in second.log()

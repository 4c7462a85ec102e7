"""Refusals at submit, failure policies, retries and cancel, with real processes."""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import time
import urllib.request
from typing import Any

import orjson
import pytest
import redis

from horus.coordinator import CoordinatorClient, WorkflowRejected
from horus.coordinator.models import StepStatus
from horus.models import JobStatus
from horus.signing import generate_key, public_hex
from tests.integration.coordinator_fixtures import ADMIN, WAIT, Stack, python_step, serve, stack  # noqa: F401


def wait_for(condition: Any, timeout_s: float = WAIT) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def nothing_stored(r: redis.Redis, namespace: str) -> bool:
    return not r.keys(f"{namespace}:wf:*")


@pytest.mark.parametrize(
    ("steps", "code", "field"),
    [
        ([python_step("a", "wf_noop"), python_step("a", "wf_noop")], "duplicate_step", "steps[1].id"),
        ([python_step("a", "wf_noop", depends_on=["ghost"])], "unknown_dependency", "steps[0].depends_on[0]"),
        (
            [python_step("a", "wf_noop", depends_on=["b"]), python_step("b", "wf_noop", depends_on=["a"])],
            "cycle",
            "steps[0].depends_on",
        ),
        ([python_step("a", "wf_noop", runner_id="nowhere")], "unknown_runner", "steps[0].runner_id"),
        ([{"id": "a", "runner_id": "wf"}], "invalid_workflow", "steps[0].payload"),
    ],
)
def test_refused_workflows_name_the_problem_and_store_nothing(
    stack: Stack, r: redis.Redis, steps: list[dict[str, Any]], code: str, field: str
) -> None:
    coordinator = stack.start_coordinator()
    with stack.client(coordinator) as client, pytest.raises(WorkflowRejected) as caught:
        client.submit({"name": "bad", "steps": steps})
    assert (caught.value.code, caught.value.field) == (code, field)
    if code == "cycle":
        assert caught.value.path == ["a", "b", "a"]
        assert "a -> b -> a" in str(caught.value)
    assert nothing_stored(r, stack.namespace)


def test_signature_freshness_and_replay_refusals(stack: Stack, r: redis.Redis) -> None:
    coordinator = stack.start_coordinator()
    flow = {"name": "f", "steps": [python_step("a", "wf_noop")]}
    refusals = []
    with CoordinatorClient(coordinator.url, token=ADMIN) as unsigned:
        with pytest.raises(WorkflowRejected) as caught:
            unsigned.submit(flow)
        refusals.append(caught.value.code)
    with stack.client(coordinator, key=generate_key()) as stranger, pytest.raises(WorkflowRejected) as caught:
        stranger.submit(flow)
    refusals.append(caught.value.code)
    with stack.client(coordinator) as client:
        with pytest.raises(WorkflowRejected) as caught:
            client.submit({**flow, "created_at": int(time.time()) - 3600})
        refusals.append(caught.value.code)
        signed = client.build({**flow, "id": "fixed-id"})
        tampered = signed.model_copy(update={"name": "changed"})
        with pytest.raises(WorkflowRejected) as caught:
            client.call("workflow.submit", workflow=tampered.model_dump(mode="json"))
        refusals.append(caught.value.code)
        assert nothing_stored(r, stack.namespace)
        # The same signed workflow again is the same submission (a retry after a lost answer) ...
        assert client.call("workflow.submit", workflow=signed.model_dump(mode="json")) == "fixed-id"
        assert client.call("workflow.submit", workflow=signed.model_dump(mode="json")) == "fixed-id"
        # ... other content under a used id is a replay.
        with pytest.raises(WorkflowRejected) as caught:
            client.submit({**flow, "id": "fixed-id", "name": "other"})
        refusals.append(caught.value.code)
    assert refusals == ["unsigned", "untrusted_key", "stale", "tampered", "replayed_id"]


def test_submitter_and_coordinator_keys_must_be_allowed_for_every_runner(stack: Stack, r: redis.Redis) -> None:
    coordinator = stack.start_coordinator()
    flow = {"name": "f", "steps": [python_step("a", "wf_noop"), python_step("b", "wf_noop", runner_id="wf2")]}
    stack.supervisor.call("key.add", {"public_key": public_hex(stack.key), "runners": ["wf"]})
    with stack.client(coordinator) as client:
        with pytest.raises(WorkflowRejected) as caught:
            client.submit(flow)
        assert caught.value.code == "key_not_allowed"
        stack.supervisor.call("key.add", {"public_key": public_hex(stack.key), "runners": ["*"]})
        stack.supervisor.call("key.add", {"public_key": public_hex(stack.coordinator_key), "runners": ["wf"]})
        # Sent without job signatures, the coordinator signs the step jobs: its key must be allowed too.
        wire = client.build(flow).model_copy(update={"job_signatures": {}}).model_dump(mode="json")
        with pytest.raises(WorkflowRejected) as caught:
            client.call("workflow.submit", workflow=wire)
        assert (caught.value.code, caught.value.field) == ("coordinator_not_allowed", "steps[1].runner_id")
    assert nothing_stored(r, stack.namespace)


def test_fail_fast_cancels_running_steps_and_skips_the_rest(stack: Stack, redis_url: str) -> None:
    stack.start_worker(concurrency=3)
    stack.start_coordinator()
    flow = {
        "name": "ff",
        "policy": "fail_fast",
        "steps": [
            python_step("slow", "wf_record", redis_url, "ff-runs", "slow", 300),
            python_step("gate", "wf_value", 1),
            python_step("bad", "wf_fail", "broken on purpose", depends_on=["gate"]),
            python_step("after", "wf_noop", depends_on=["bad"]),
            python_step("other", "wf_noop", depends_on=["slow"]),
        ],
    }
    with stack.client() as client:
        workflow_id = client.submit(flow)
        outcome = client.wait(workflow_id, WAIT)
        info = {s.id: s for s in client.status(workflow_id).steps}
    assert outcome.status == "failed"
    assert "broken on purpose" in (outcome.steps["bad"].error or "")
    assert outcome.steps["slow"].status == JobStatus.CANCELLED
    assert {i: info[i].status for i in info} == {
        "slow": StepStatus.CANCELLED,
        "gate": StepStatus.COMPLETED,
        "bad": StepStatus.FAILED,
        "after": StepStatus.SKIPPED,
        "other": StepStatus.SKIPPED,
    }


def test_continue_lets_independent_branches_finish(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    stack.start_coordinator()
    flow = {
        "name": "cont",
        "policy": "continue",
        "steps": [
            python_step("a1", "wf_fail"),
            python_step("a2", "wf_noop", depends_on=["a1"]),
            python_step("a3", "wf_noop", depends_on=["a2"]),
            python_step("b1", "wf_value", 5),
            python_step("b2", "wf_inc", 1, depends_on=["b1"]),
            python_step("join", "wf_noop", depends_on=["a3", "b2"]),
        ],
    }
    with stack.client() as client:
        workflow_id = client.submit(flow)
        outcome = client.wait(workflow_id, WAIT)
        info = {s.id: s.status for s in client.status(workflow_id).steps}
    assert outcome.status == "failed"
    assert outcome.steps["b2"].value == 6
    assert info == {
        "a1": StepStatus.FAILED,
        "a2": StepStatus.SKIPPED,
        "a3": StepStatus.SKIPPED,
        "b1": StepStatus.COMPLETED,
        "b2": StepStatus.COMPLETED,
        "join": StepStatus.SKIPPED,
    }
    assert "skipped" in (outcome.steps["a2"].error or "")


def test_retries_with_backoff(stack: Stack, redis_url: str) -> None:
    stack.start_worker()
    stack.start_coordinator()
    flow = {
        "name": "retry",
        "policy": "continue",
        "steps": [
            python_step("flaky", "wf_flaky", redis_url, "flaky-1", 2, retries=2, backoff_ms=200),
            python_step("gives-up", "wf_flaky", redis_url, "flaky-2", 5, retries=1, backoff_ms=50),
        ],
    }
    with stack.client() as client:
        workflow_id = client.submit(flow)
        outcome = client.wait(workflow_id, WAIT)
        info = {s.id: s for s in client.status(workflow_id).steps}
    assert outcome.steps["flaky"].value == 3
    assert outcome.steps["flaky"].job_id == f"{workflow_id}.flaky.3"
    assert (info["flaky"].status, info["flaky"].attempt) == (StepStatus.COMPLETED, 3)
    assert (info["gives-up"].status, info["gives-up"].attempt) == (StepStatus.FAILED, 2)
    assert "flaky failure 2" in (outcome.steps["gives-up"].error or "")
    assert outcome.status == "failed"
    # Backoff: 200 ms, then 400 ms between the three attempts of the first step.
    assert info["flaky"].ended_at is not None and info["flaky"].started_at is not None


def test_cancel_cascades_to_running_jobs(stack: Stack, redis_url: str, r: redis.Redis) -> None:
    stack.start_worker()
    stack.start_coordinator()
    flow = {
        "name": "c",
        "steps": [
            # Far longer than the wait below: only the cancel can end it in time.
            python_step("long", "wf_record", redis_url, "cancel-runs", "long", 300),
            python_step("next", "wf_noop", depends_on=["long"]),
        ],
    }
    with stack.client() as client:
        workflow_id = client.submit(flow)
        wait_for(lambda: r.hget("cancel-runs", "long") == "1")
        assert client.cancel(workflow_id) == "cancelled"
        outcome = client.wait(workflow_id, WAIT)
        assert client.cancel(workflow_id) == "cancelled"
    assert outcome.status == "cancelled"
    assert outcome.steps["long"].status == JobStatus.CANCELLED
    assert outcome.steps["long"].job_id == f"{workflow_id}.long.1"
    assert outcome.steps["next"].status == JobStatus.CANCELLED


def test_the_largest_workflow_fits_in_a_request(stack: Stack, r: redis.Redis) -> None:
    # 10,000 steps, each with its job signature: ~3 MB, read whole and then checked.
    coordinator = stack.start_coordinator()
    steps = [python_step(f"s{i}", "wf_noop", runner_id="nobody") for i in range(10_000)]
    with stack.client(coordinator) as client, pytest.raises(WorkflowRejected) as caught:
        client.submit({"name": "big", "steps": steps})
    assert caught.value.code == "unknown_runner"
    assert nothing_stored(r, stack.namespace)


def test_the_coordinator_api_limits_batches_and_its_link_splits_its_own(stack: Stack) -> None:
    coordinator = stack.start_coordinator("--max-batch", "5")
    discover = b'{"jsonrpc":"2.0","method":"rpc.discover","id":1}'

    def batch(calls: int) -> Any:
        body = b"[" + b",".join([discover] * calls) + b"]"
        request = urllib.request.Request(coordinator.url, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return orjson.loads(response.read())

    answers = batch(5)
    assert len(answers) == 5 and all("result" in answer for answer in answers)
    refused = batch(6)
    assert refused["error"]["data"]["reason"] == "batch_too_large"
    assert refused["error"]["data"]["limit"] == 5
    assert batch(22_000)["error"]["data"]["reason"] == "request_too_large"  # a batch body: 1 MiB at most
    # More steps at once than the supervisor takes per batch: the coordinator sends several.
    stack.start_worker(concurrency=4)
    steps = [python_step(f"s{i}", "wf_noop") for i in range(150)]
    with stack.client(coordinator) as client:
        outcome = client.wait(client.submit({"name": "wide", "steps": steps}), WAIT * 4)
    assert outcome.status == "completed", outcome

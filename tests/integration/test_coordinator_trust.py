"""Who signs a step's job: the submitter (job_signatures, runners trust only the client's key), or
a coordinator with a key of its own for workflows sent without them; inputs reach every runner."""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from horus.coordinator import WorkflowRejected, chain, step
from horus.coordinator.document import digest
from horus.coordinator.models import Workflow
from horus.coordinator.stepjobs import attempt_job
from horus.keys import Keys
from horus.signing import Signer, public_hex
from tests.conftest import HERO_STANDIN
from tests.integration.coordinator_fixtures import WAIT, Stack, serve, stack  # noqa: F401


def task(step_id: str, name: str, *args: object, runner_id: str = "wf") -> object:
    return step(step_id, runner_id, {"task": name, "args": list(args)})


def unsigned_steps(flow: Workflow) -> dict[str, Any]:
    """The workflow as a client that signs only the workflow sends it (its signature still holds:
    job signatures are not part of the signed content)."""
    return flow.model_copy(update={"job_signatures": {}}).model_dump(mode="json")


def test_steps_run_under_the_client_key_alone(stack: Stack) -> None:
    stack.start_worker()  # trusts the client's key only
    stack.start_coordinator(own_key=False)
    flow = chain(task("a", "wf_value", 1), task("b", "wf_inc", 10), task("c", "wf_inputs"))
    with stack.client() as client:
        outcome = client.run(flow, WAIT)
    assert outcome.status == "completed", outcome
    assert {s: r.value for s, r in outcome.steps.items()} == {"a": 1, "b": 11, "c": {"b": 11}}


def test_a_coordinator_without_a_key_refuses_steps_nobody_signed(stack: Stack, r: redis.Redis) -> None:
    coordinator = stack.start_coordinator(own_key=False)
    with stack.client(coordinator) as client:
        flow = client.build(chain(task("a", "wf_value", 1)))
        with pytest.raises(WorkflowRejected) as caught:
            client.call("workflow.submit", workflow=unsigned_steps(flow))
    assert (caught.value.code, caught.value.field) == ("unsigned", "job_signatures")
    assert "--key" in caught.value.reason
    assert not r.keys(f"{stack.namespace}:wf*")


def test_a_changed_job_signature_is_refused(stack: Stack) -> None:
    coordinator = stack.start_coordinator(own_key=False)
    with stack.client(coordinator) as client:
        flow = client.build(chain(task("a", "wf_value", 1), task("b", "wf_inc", 1)))
        wire = flow.model_dump(mode="json")
        wire["job_signatures"]["b"] = wire["job_signatures"]["a"]
        with pytest.raises(WorkflowRejected) as caught:
            client.call("workflow.submit", workflow=wire)
        assert (caught.value.code, caught.value.field) == ("tampered", "job_signatures.b[0]")
        wire["job_signatures"]["b"] = []
        with pytest.raises(WorkflowRejected) as caught:
            client.call("workflow.submit", workflow=wire)
        assert (caught.value.code, caught.value.field) == ("unsigned", "job_signatures.b")


def test_the_coordinator_key_signs_workflows_sent_without_job_signatures(stack: Stack) -> None:
    stack.start_worker(trusted=[public_hex(stack.coordinator_key)])
    coordinator = stack.start_coordinator()
    with stack.client(coordinator) as client:
        flow = client.build(chain(task("a", "wf_value", 5), task("b", "wf_inc", 1)))
        workflow_id = client.call("workflow.submit", workflow=unsigned_steps(flow))
        outcome = client.wait(workflow_id, WAIT)
    assert {s: r.value for s, r in outcome.steps.items()} == {"a": 5, "b": 6}


def test_a_rhai_step_reads_its_inputs(stack: Stack) -> None:
    stack.supervisor.call("runner.register", {"runner_id": "wfsal", "runner_type": "sal"})
    stack.start_worker()
    stack.start_worker_fn("wfsal", runner_type="sal", concurrency=1)
    stack.start_coordinator(own_key=False)
    flow = {
        "name": "mixed",
        "steps": [
            {"id": "a", "runner_id": "wf", "payload": {"task": "wf_value", "args": [20]}},
            {
                "id": "b",
                "runner_id": "wfsal",
                "payload": "print(`got ${inputs.a}`); inputs.a * 2 + 2",
                "depends_on": ["a"],
            },
        ],
    }
    with stack.client() as client:
        outcome = client.run(flow, WAIT)
    assert outcome.status == "completed", outcome
    assert (outcome.steps["b"].value, outcome.steps["b"].output) == (42, "got 20")


def test_a_hero_step_reads_its_inputs_from_the_env(stack: Stack) -> None:
    stack.supervisor.call("runner.register", {"runner_id": "wfhero", "runner_type": "hero"})
    stack.start_worker()
    stack.start_worker_fn("wfhero", "--hero-bin", str(HERO_STANDIN), runner_type="hero", concurrency=1)
    stack.start_coordinator(own_key=False)
    flow = {
        "name": "hero",
        "steps": [
            {"id": "a", "runner_id": "wf", "payload": {"task": "wf_value", "args": [7]}},
            {"id": "b", "runner_id": "wfhero", "payload": "print(env.HORUS_INPUTS)", "depends_on": ["a"]},
        ],
    }
    with stack.client() as client:
        outcome = client.run(flow, WAIT)
    assert outcome.status == "completed", outcome
    assert outcome.steps["b"].output.strip() == '{"a":7}'


def test_a_step_job_older_than_the_window_is_admitted_only_while_its_workflow_runs(
    stack: Stack, r: redis.Redis
) -> None:
    signer = Signer(stack.key)
    flow = Workflow.model_validate(
        {
            "id": "old-flow",
            "created_at": int(time.time()) - 3600,
            "steps": [{"id": "a", "runner_id": "wf", "payload": "x"}],
        }
    )
    job = attempt_job(flow, digest(flow), signer.public_key, flow.steps[0], 1)
    signed = signer.sign(job).model_dump(mode="json", exclude={"status"})
    meta = Keys(stack.namespace).workflow(flow.id)
    refused = stack.supervisor.error("job.create", {"job": signed})
    assert refused["data"]["reason"] == "stale"  # no such workflow
    r.hset(meta, mapping={"status": "running", "digest": "0" * 64})
    assert stack.supervisor.error("job.create", {"job": signed})["data"]["reason"] == "stale"  # another workflow
    r.hset(meta, mapping={"status": "completed", "digest": digest(flow)})
    assert stack.supervisor.error("job.create", {"job": signed})["data"]["reason"] == "stale"  # it has ended
    r.hset(meta, "status", "running")
    assert stack.supervisor.call("job.create", {"job": signed}) == job.id

"""The job a step attempt becomes: the step's runner, payload and env, plus its upstream results
and where it comes from, signed by the coordinator's key (docs/workflows.md, "Trust")."""

from __future__ import annotations

import time
from typing import Any

import orjson

from horus.coordinator.models import Step, Workflow
from horus.coordinator.store import job_id
from horus.models import Job, JobResult
from horus.signing import Signer

#: Upstream results, a JSON object {step id: value}; the Rhai runners show it as ``inputs``
#: (horus.scripting.INPUTS_ENV), the python runner passes it to tasks taking ``inputs``.
INPUTS_ENV = "HORUS_INPUTS"
WORKFLOW_ENV = "HORUS_WORKFLOW_ID"
DIGEST_ENV = "HORUS_WORKFLOW_DIGEST"
STEP_ENV = "HORUS_STEP_ID"
ATTEMPT_ENV = "HORUS_STEP_ATTEMPT"


def input_value(result: JobResult) -> Any:
    """What dependants see of a step: its structured value, else its output text."""
    return result.value if result.value is not None else result.output


def step_job(
    workflow: Workflow,
    digest: str,
    submitter: str,
    step: Step,
    attempt: int,
    inputs: dict[str, Any],
    signer: Signer,
) -> Job:
    env = {
        **step.env_vars,
        INPUTS_ENV: orjson.dumps(inputs).decode(),
        WORKFLOW_ENV: workflow.id,
        DIGEST_ENV: digest,
        STEP_ENV: step.id,
        ATTEMPT_ENV: str(attempt),
    }
    job = Job(
        id=job_id(workflow.id, step.id, attempt),
        runner_id=step.runner_id,
        payload=step.payload,
        timeout=step.timeout,
        env_vars=env,
        created_at=int(time.time()),
        caller_id=submitter,
        context_id=workflow.id,
    )
    return signer.sign(job, in_place=True)

"""The job a step attempt becomes (docs/workflows.md, "Trust").

Its content is fixed by the workflow alone: the step's runner, payload, timeout and env, the
workflow's id, digest and ``created_at``, the submitter as ``caller_id``, and the attempt. So the
submitter signs every attempt's job when it signs the workflow (``job_signatures``), and a runner
that trusts only the submitter's key runs the steps. Upstream results are not part of the job:
the coordinator writes them to the job's inputs key and the runner adds them as ``HORUS_INPUTS``.

A workflow sent without ``job_signatures`` is run by a coordinator that has a key of its own: it
signs each attempt's job itself, with the upstream results in the signed env.
"""

from __future__ import annotations

from typing import Any

import orjson

from horus.coordinator.models import Step, Workflow
from horus.coordinator.store import job_id
from horus.models import DIGEST_ENV, INPUTS_ENV, WORKFLOW_ENV, Job, JobResult, Signature, assemble
from horus.signing import Signer

STEP_ENV = "HORUS_STEP_ID"
ATTEMPT_ENV = "HORUS_STEP_ATTEMPT"

__all__ = ["ATTEMPT_ENV", "DIGEST_ENV", "INPUTS_ENV", "STEP_ENV", "WORKFLOW_ENV"]


def input_value(result: JobResult) -> Any:
    """What dependants see of a step: its structured value, else its output text."""
    return result.value if result.value is not None else result.output


def attempt_job(workflow: Workflow, digest: str, submitter: str, step: Step, attempt: int) -> Job:
    """The unsigned job of one attempt of a step: the same bytes for submitter and coordinator."""
    env = {
        **step.env_vars,
        WORKFLOW_ENV: workflow.id,
        DIGEST_ENV: digest,
        STEP_ENV: step.id,
        ATTEMPT_ENV: str(attempt),
    }
    return Job(
        id=job_id(workflow.id, step.id, attempt),
        runner_id=step.runner_id,
        payload=step.payload,
        timeout=step.timeout,
        env_vars=env,
        created_at=workflow.created_at,
        caller_id=submitter,
        context_id=workflow.id,
    )


def attempts(step: Step) -> range:
    return range(1, step.retries + 2)


def sign_attempts(workflow: Workflow, digest: str, signer: Signer) -> dict[str, list[str]]:
    """The submitter's signature of every attempt's job, by step id."""
    return {
        step.id: [
            signer.signature(attempt_job(workflow, digest, signer.public_key, step, n)).signature
            for n in attempts(step)
        ]
        for step in workflow.steps
    }


def presigned_job(workflow: Workflow, digest: str, submitter: str, step: Step, attempt: int) -> Job:
    """The attempt's job with the submitter's signature from ``job_signatures``."""
    job = attempt_job(workflow, digest, submitter, step, attempt)
    signature = workflow.job_signatures[step.id][attempt - 1]
    job.signatures = [assemble(Signature, {"public_key": submitter, "signature": signature, "algorithm": "ed25519"})]
    return job


def coordinator_job(
    workflow: Workflow, digest: str, submitter: str, step: Step, attempt: int, inputs: dict[str, Any], signer: Signer
) -> Job:
    """The attempt's job signed by the coordinator, its upstream results in the signed env."""
    job = attempt_job(workflow, digest, submitter, step, attempt)
    job.env_vars[INPUTS_ENV] = orjson.dumps(inputs).decode()
    return signer.sign(job, in_place=True)

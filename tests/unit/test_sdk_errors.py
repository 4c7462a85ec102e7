from __future__ import annotations

from horus.errors import JobRejected
from horus.sdk import SupervisorError, translate


def test_a_workflow_refusal_with_a_job_code_is_told_once() -> None:
    message = "workflow rejected: steps[0].runner_id: runner 'x' (step 'a') is not registered with the supervisor"
    error = SupervisorError(-32114, message, {"reason": "unknown_runner", "field": "steps[0].runner_id"})
    translated = translate(error)
    assert isinstance(translated, JobRejected)
    assert str(translated) == "steps[0].runner_id: runner 'x' (step 'a') is not registered with the supervisor"

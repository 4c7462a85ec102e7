"""Chain, group and chord through real coordinator, supervisor and worker processes: results and
data passing."""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from horus.coordinator import chain, chord, group, step
from horus.models import JobStatus
from tests.conftest import ROOT, horus_cmd
from tests.integration.coordinator_fixtures import ADMIN, WAIT, Stack, python_step, serve, stack  # noqa: F401


def task(step_id: str, name: str, *args: object, **kwargs: object) -> object:
    return step(step_id, "wf", {"task": name, "args": list(args), "kwargs": kwargs})


def test_chain_passes_each_result_to_the_next(stack: Stack) -> None:
    stack.start_worker()
    stack.start_coordinator()
    flow = chain(task("a", "wf_value", 1), task("b", "wf_inc", 10), task("c", "wf_inc", 100))
    with stack.client() as client:
        outcome = client.run(flow, WAIT, name="chain")
    assert outcome.status == "completed"
    assert {s: r.value for s, r in outcome.steps.items()} == {"a": 1, "b": 11, "c": 111}
    assert all(r.status == JobStatus.COMPLETED for r in outcome.steps.values())


def test_group_runs_side_by_side_and_chord_gathers_every_branch(stack: Stack) -> None:
    stack.start_worker(concurrency=3)
    stack.start_coordinator()
    flow = chain(
        task("seed", "wf_value", 2),
        chord(group(task("x", "wf_inc", 1), task("y", "wf_inc", 2), task("z", "wf_inc", 3)), task("total", "wf_sum")),
        group(task("echo", "wf_inputs"), task("plus", "wf_inc", 1000)),
    )
    with stack.client() as client:
        outcome = client.run(flow, WAIT)
    values = {s: r.value for s, r in outcome.steps.items()}
    assert outcome.status == "completed"
    assert values == {
        "seed": 2,
        "x": 3,
        "y": 4,
        "z": 5,
        "total": 12,
        "echo": {"total": 12},
        "plus": 1012,
    }


def test_each_step_sees_only_its_own_upstream_results_and_where_it_comes_from(stack: Stack) -> None:
    stack.start_worker()
    stack.start_coordinator()
    flow = {
        "name": "env",
        "steps": [
            python_step("a", "wf_value", "text"),
            python_step("b", "wf_value", [1, 2]),
            python_step("c", "wf_inputs", depends_on=["a", "b"]),
            python_step(
                "d",
                "echo_env",
                "HORUS_INPUTS",
                "HORUS_WORKFLOW_ID",
                "HORUS_STEP_ID",
                "HORUS_WORKFLOW_DIGEST",
                "MINE",
                depends_on=["c"],
                env_vars={"MINE": "yes"},
            ),
        ],
    }
    with stack.client() as client:
        workflow_id = client.submit(flow)
        outcome = client.wait(workflow_id, WAIT)
        info = client.status(workflow_id)
    assert outcome.steps["c"].value == {"a": "text", "b": [1, 2]}
    env = outcome.steps["d"].value
    assert json.loads(env["HORUS_INPUTS"]) == {"c": {"a": "text", "b": [1, 2]}}
    assert (env["HORUS_WORKFLOW_ID"], env["HORUS_STEP_ID"], env["MINE"]) == (workflow_id, "d", "yes")
    assert env["HORUS_WORKFLOW_DIGEST"] == info.digest
    assert outcome.steps["d"].job_id == f"{workflow_id}.d.1"


def test_cli_submits_a_yaml_file_and_prints_every_result(stack: Stack, tmp_path: Path, key_file: Path) -> None:
    stack.start_worker()
    coordinator = stack.start_coordinator()
    (tmp_path / "flow.yaml").write_text(
        """
name: from-yaml
policy: continue
steps:
  - {id: one, runner_id: wf, payload: {task: wf_value, args: [20]}}
  - {id: two, runner_id: wf, payload: {task: wf_inc, args: [22]}, depends_on: [one]}
"""
    )
    env = {**os.environ, "HORUS_COORDINATOR_URL": coordinator.url, "HORUS_TOKEN": ADMIN}

    def horus(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(horus_cmd(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT)

    done = horus("workflow", "submit", str(tmp_path / "flow.yaml"), "--key", str(key_file), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert set(outcome) == {"workflow_id", "status", "steps"}
    assert outcome["status"] == "completed"
    assert outcome["steps"]["two"]["value"] == 42
    assert outcome["steps"]["two"]["status"] == "completed"

    started = horus("workflow", "submit", str(tmp_path / "flow.yaml"), "--key", str(key_file))
    assert started.returncode == 0, started.stderr
    workflow_id = started.stdout.strip().splitlines()[-1]
    with stack.client() as client:
        client.wait(workflow_id, WAIT)
    shown = horus("workflow", "status", workflow_id)
    assert shown.returncode == 0, shown.stderr
    assert "one" in shown.stdout and "two" in shown.stdout and "completed" in shown.stdout
    listed = horus("workflow", "list", "--json")
    assert {w["workflow_id"] for w in json.loads(listed.stdout)["workflows"]} == {
        workflow_id,
        outcome["workflow_id"],
    }
    missing = horus("workflow", "status", "nope")
    assert missing.returncode == 2
    assert "not found" in missing.stderr

"""Workflow validation: each problem named precisely, with the field and (for a cycle) its path."""

from __future__ import annotations

from typing import Any

import pytest

from horus.coordinator import dag
from horus.coordinator.document import parse_workflow
from horus.coordinator.errors import WorkflowRejected
from horus.coordinator.models import Workflow


def flow(*steps: dict[str, Any], **fields: Any) -> Workflow:
    return parse_workflow({"name": "t", "steps": list(steps), **fields})


def s(step_id: str, *deps: str, runner: str = "r1") -> dict[str, Any]:
    return {"id": step_id, "runner_id": runner, "payload": "x", "depends_on": list(deps)}


def refused(workflow: Workflow, known: set[str] | None = None) -> WorkflowRejected:
    with pytest.raises(WorkflowRejected) as caught:
        dag.validate(workflow, (lambda r: r in known) if known is not None else None)
    return caught.value


def test_a_valid_dag_passes_and_orders_steps() -> None:
    workflow = flow(s("c", "a", "b"), s("a"), s("b", "a"))
    dag.validate(workflow, lambda r: r == "r1")
    assert dag.topological_order(workflow.steps) == ["a", "b", "c"]


def test_duplicate_step_id() -> None:
    error = refused(flow(s("a"), s("b"), s("a")))
    assert (error.code, error.field) == ("duplicate_step", "steps[2].id")
    assert "steps[0]" in error.reason


def test_unknown_dependency() -> None:
    error = refused(flow(s("a"), s("b", "a", "zz")))
    assert (error.code, error.field) == ("unknown_dependency", "steps[1].depends_on[1]")
    assert "'zz'" in error.reason


def test_cycle_names_its_path() -> None:
    error = refused(flow(s("a", "c"), s("b", "a"), s("c", "b"), s("d")))
    assert error.code == "cycle"
    assert error.path == ["a", "c", "b", "a"]
    assert "a -> c -> b -> a" in error.reason
    assert error.field == "steps[0].depends_on"


def test_self_dependency_is_a_cycle() -> None:
    error = refused(flow(s("a"), s("b", "b")))
    assert (error.code, error.path, error.field) == ("cycle", ["b", "b"], "steps[1].depends_on")


def test_deep_chain_has_no_recursion_limit() -> None:
    steps = [s("s0")] + [s(f"s{i}", f"s{i - 1}") for i in range(1, 5000)]
    workflow = flow(*steps)
    dag.validate(workflow)
    assert dag.topological_order(workflow.steps)[-1] == "s4999"


def test_unknown_runner() -> None:
    error = refused(flow(s("a"), s("b", "a", runner="nope")), known={"r1"})
    assert (error.code, error.field) == ("unknown_runner", "steps[1].runner_id")
    assert "'nope'" in error.reason


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "t", "steps": []}, "steps", "at least 1"),
        ({"name": "t"}, "steps", "missing"),
        ({"name": "t", "steps": [{"id": "a", "runner_id": "r1"}]}, "steps[0].payload", "missing"),
        ({"name": "t", "steps": [s("a.b")]}, "steps[0].id", "letters"),
        ({"name": "t", "steps": [{**s("a"), "timeout": 0}]}, "steps[0].timeout", "between"),
        ({"name": "t", "steps": [{**s("a"), "retries": 99}]}, "steps[0].retries", "10"),
        ({"name": "t", "steps": [{**s("a"), "env_vars": {"HORUS_INPUTS": "{}"}}]}, "steps[0].env_vars", "HORUS_"),
        ({"name": "t", "steps": [{**s("a"), "extra": 1}]}, "steps[0].extra", "not a workflow field"),
        ({"name": "t", "steps": [s("a")], "policy": "sometimes"}, "policy", "fail_fast"),
    ],
)
def test_structure_errors_name_the_field(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(WorkflowRejected) as caught:
        parse_workflow(data)
    assert caught.value.code == "invalid_workflow"
    assert caught.value.field == field
    assert words in caught.value.reason


def test_yaml_and_json_give_the_same_workflow() -> None:
    yaml_text = """
name: t
policy: continue
steps:
  - id: a
    runner_id: r1
    payload: {task: wf_value, args: [1]}
  - id: b
    runner_id: r1
    payload: {task: wf_inc, args: [1]}
    depends_on: [a]
"""
    json_text = (
        '{"name": "t", "policy": "continue", "steps": ['
        '{"id": "a", "runner_id": "r1", "payload": "{\\"task\\":\\"wf_value\\",\\"args\\":[1]}"},'
        '{"id": "b", "runner_id": "r1", "payload": "{\\"task\\":\\"wf_inc\\",\\"args\\":[1]}", "depends_on": ["a"]}]}'
    )
    from_yaml, from_json = parse_workflow(yaml_text), parse_workflow(json_text)
    assert from_yaml.content() | {"id": "", "created_at": 0} == from_json.content() | {"id": "", "created_at": 0}


def test_text_that_is_neither_json_nor_yaml() -> None:
    with pytest.raises(WorkflowRejected) as caught:
        parse_workflow("steps: [unclosed")
    assert caught.value.code == "invalid_workflow"

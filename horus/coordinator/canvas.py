"""``chain``, ``group`` and ``chord``: Celery's canvas, compiled to the same DAG a workflow file gives.

A chain runs its parts one after another, a group runs them side by side, and a chord runs a
group and then a callback that depends on every branch. Parts nest freely; every part's first
steps depend on the last steps of what came before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from horus.coordinator.models import Policy, Step, Workflow


@dataclass(frozen=True)
class Chain:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Group:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Chord:
    header: Group
    body: Node


Node = Step | Chain | Group | Chord


def step(id: str, runner_id: str, payload: str | dict[str, Any] | list[Any], **fields: Any) -> Step:
    """One step; ``payload`` may be a JSON object (a python task: ``{"task": ..., "args": [...]}``)."""
    return Step.model_validate({"id": id, "runner_id": runner_id, "payload": payload, **fields})


def chain(*parts: Node) -> Chain:
    return Chain(tuple(parts))


def group(*parts: Node | Iterable[Node]) -> Group:
    """``group(a, b)`` or ``group(generator_of_steps)``."""
    flat: list[Node] = []
    for part in parts:
        if isinstance(part, Step | Chain | Group | Chord):
            flat.append(part)
        else:
            flat.extend(part)
    return Group(tuple(flat))


def chord(header: Group | Iterable[Node], body: Node) -> Chord:
    return Chord(header if isinstance(header, Group) else group(header), body)


def _compile(node: Node, after: list[str], out: list[Step]) -> list[str]:
    """Append ``node``'s steps to ``out`` depending on ``after``; returns its last steps."""
    if isinstance(node, Step):
        depends = list(dict.fromkeys([*node.depends_on, *after]))
        out.append(node.model_copy(update={"depends_on": depends}))
        return [node.id]
    if isinstance(node, Chain):
        tails = after
        for part in node.parts:
            tails = _compile(part, tails, out)
        return tails
    if isinstance(node, Group):
        if not node.parts:
            return after
        return [tail for part in node.parts for tail in _compile(part, after, out)]
    return _compile(node.body, _compile(node.header, after, out), out)


def steps_of(node: Node) -> list[Step]:
    out: list[Step] = []
    _compile(node, [], out)
    return out


def workflow(
    node: Node, name: str = "", policy: Policy | str = Policy.FAIL_FAST, workflow_id: str | None = None
) -> Workflow:
    """The workflow for a canvas (validated by the coordinator on submit, or by ``dag.validate``)."""
    data: dict[str, Any] = {"name": name, "policy": Policy(policy), "steps": steps_of(node)}
    if workflow_id is not None:
        data["id"] = workflow_id
    return Workflow.model_validate(data)

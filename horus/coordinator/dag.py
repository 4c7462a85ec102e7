"""The DAG's rules: unique step ids, known dependencies, no cycle; and the order steps may run in."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from horus.coordinator.errors import WorkflowRejected
from horus.coordinator.models import Step, Workflow


def check_unique(steps: Sequence[Step]) -> None:
    seen: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.id in seen:
            raise WorkflowRejected(
                "duplicate_step", f"steps[{index}].id", f"step id {step.id!r} is already used by steps[{seen[step.id]}]"
            )
        seen[step.id] = index


def check_dependencies(steps: Sequence[Step]) -> None:
    ids = {step.id for step in steps}
    for index, step in enumerate(steps):
        for position, dependency in enumerate(step.depends_on):
            if dependency not in ids:
                raise WorkflowRejected(
                    "unknown_dependency",
                    f"steps[{index}].depends_on[{position}]",
                    f"step {step.id!r} depends on {dependency!r}, which is not a step of this workflow",
                )


def find_cycle(steps: Sequence[Step]) -> list[str]:
    """A cycle as its path (``[a, b, c, a]``: a depends on b, b on c, c on a), or an empty list.

    Iterative, so a chain thousands of steps deep is fine.
    """
    edges = {step.id: list(dict.fromkeys(step.depends_on)) for step in steps}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in edges:
        if root in state:
            continue
        path = [root]
        todo = [iter(edges[root])]
        state[root] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(edges.get(nxt, ())))
    return []


def check_acyclic(steps: Sequence[Step]) -> None:
    cycle = find_cycle(steps)
    if cycle:
        index = next(i for i, step in enumerate(steps) if step.id == cycle[0])
        shown = " -> ".join(cycle)
        raise WorkflowRejected(
            "cycle", f"steps[{index}].depends_on", f"dependency cycle: {shown} (each step depends on the next)", cycle
        )


def check_runners(steps: Sequence[Step], known: Callable[[str], bool]) -> None:
    verdicts: dict[str, bool] = {}
    for index, step in enumerate(steps):
        if step.runner_id not in verdicts:
            verdicts[step.runner_id] = known(step.runner_id)
        if not verdicts[step.runner_id]:
            raise WorkflowRejected(
                "unknown_runner",
                f"steps[{index}].runner_id",
                f"runner {step.runner_id!r} (step {step.id!r}) is not registered with the supervisor",
            )


def validate(workflow: Workflow, known_runner: Callable[[str], bool] | None = None) -> None:
    """Raise :class:`WorkflowRejected` for the first problem, in the order a person would fix them."""
    check_unique(workflow.steps)
    check_dependencies(workflow.steps)
    check_acyclic(workflow.steps)
    if known_runner is not None:
        check_runners(workflow.steps, known_runner)


def dependants(steps: Iterable[Step]) -> dict[str, list[str]]:
    """Step id -> the steps that depend on it, in definition order."""
    steps = list(steps)
    out: dict[str, list[str]] = {step.id: [] for step in steps}
    for step in steps:
        for dependency in dict.fromkeys(step.depends_on):
            out[dependency].append(step.id)
    return out


def topological_order(steps: Sequence[Step]) -> list[str]:
    """Step ids so that each comes after its dependencies (Kahn; ties keep definition order)."""
    waiting = {step.id: len(set(step.depends_on)) for step in steps}
    after = dependants(steps)
    ready = deque(step.id for step in steps if waiting[step.id] == 0)
    order: list[str] = []
    while ready:
        current = ready.popleft()
        order.append(current)
        for dependant in after[current]:
            waiting[dependant] -= 1
            if waiting[dependant] == 0:
                ready.append(dependant)
    if len(order) != len(steps):
        raise WorkflowRejected("cycle", "steps", "dependency cycle: " + " -> ".join(find_cycle(steps)))
    return order

"""chain, group and chord compile to the same DAG a workflow file would give."""

from __future__ import annotations

from horus.coordinator import chain, chord, group, step, workflow
from horus.coordinator.canvas import steps_of


def t(step_id: str) -> object:
    return step(step_id, "r1", {"task": "wf_noop"})


def deps(node: object) -> dict[str, list[str]]:
    return {s.id: s.depends_on for s in steps_of(node)}  # type: ignore[arg-type]


def test_chain() -> None:
    assert deps(chain(t("a"), t("b"), t("c"))) == {"a": [], "b": ["a"], "c": ["b"]}


def test_group() -> None:
    assert deps(group(t("a"), t("b"))) == {"a": [], "b": []}


def test_chord() -> None:
    assert deps(chord(group(t("a"), t("b")), t("cb"))) == {"a": [], "b": [], "cb": ["a", "b"]}


def test_chord_from_a_generator() -> None:
    assert deps(chord((t(f"p{i}") for i in range(3)), t("cb")))["cb"] == ["p0", "p1", "p2"]


def test_nesting() -> None:
    flow = chain(
        t("start"),
        group(chain(t("a1"), t("a2")), t("b")),
        chord(group(t("c1"), t("c2")), t("merge")),
        t("end"),
    )
    assert deps(flow) == {
        "start": [],
        "a1": ["start"],
        "a2": ["a1"],
        "b": ["start"],
        "c1": ["a2", "b"],
        "c2": ["a2", "b"],
        "merge": ["c1", "c2"],
        "end": ["merge"],
    }


def test_explicit_dependencies_are_kept() -> None:
    flow = chain(t("a"), group(t("b"), step("c", "r1", "x", depends_on=["a"])))
    assert deps(flow)["c"] == ["a"]


def test_workflow_from_a_canvas() -> None:
    built = workflow(chain(t("a"), t("b")), name="n", policy="continue", workflow_id="wf1")
    assert (built.id, built.name, built.policy.value) == ("wf1", "n", "continue")
    assert [s.id for s in built.steps] == ["a", "b"]
    assert built.steps[0].payload == '{"task":"wf_noop"}'

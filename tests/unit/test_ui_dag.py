"""The workflows page's DAG layout (horus/ui/dag.py): layers, no overlaps, escaping, defensiveness."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from itertools import combinations, pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from horus.coordinator.models import Step
from horus.ui import dag

SVG_NS = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class S:
    id: str
    depends_on: list[str] = field(default_factory=list)


def by_id(drawing: dag.Layout) -> dict[str, dag.Node]:
    return {node.id: node for node in drawing.nodes}


def overlapping(a: dag.Node, b: dag.Node) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def assert_sound(steps: list[S], drawing: dag.Layout) -> None:
    """Every step drawn once, inside the drawing, none on another, dependencies to the left."""
    nodes = by_id(drawing)
    assert sorted(nodes) == sorted({s.id for s in steps})
    assert len(drawing.nodes) == len(nodes)
    for node in drawing.nodes:
        assert node.x >= 0 and node.x + node.width <= drawing.width
        assert node.y >= 0 and node.y + node.height <= drawing.height
    columns: dict[int, list[dag.Node]] = {}
    for node in drawing.nodes:
        columns.setdefault(node.x, []).append(node)
    for column in columns.values():  # nodes only overlap within a column: x is a column's left edge
        column.sort(key=lambda n: n.y)
        for upper, lower in pairwise(column):
            assert upper.y + upper.height <= lower.y, (upper, lower)
    for a, b in combinations(sorted(columns), 2):
        assert columns[a][0].x + dag.NODE_W <= columns[b][0].x
    if not drawing.cyclic:
        for step in steps:
            for dep in step.depends_on:
                if dep in nodes and dep != step.id:
                    assert nodes[dep].layer < nodes[step.id].layer
                    assert nodes[dep].x + nodes[dep].width < nodes[step.id].x


def test_a_chain_is_one_layer_per_step_left_to_right_on_one_row() -> None:
    steps = [S("a"), *(S(f"s{i}", [f"s{i - 1}" if i else "a"]) for i in range(30))]
    drawing = dag.layout(steps)
    assert_sound(steps, drawing)
    assert [n.layer for n in drawing.nodes] == list(range(31))
    assert len({n.y for n in drawing.nodes}) == 1
    assert len(drawing.edges) == 30


def test_a_diamond_puts_the_branches_side_by_side_and_the_join_between_them() -> None:
    steps = [S("top"), S("left", ["top"]), S("right", ["top"]), S("join", ["left", "right"])]
    drawing = dag.layout(steps)
    assert_sound(steps, drawing)
    nodes = by_id(drawing)
    assert {k: n.layer for k, n in nodes.items()} == {"top": 0, "left": 1, "right": 1, "join": 2}
    assert nodes["left"].x == nodes["right"].x
    assert nodes["left"].y < nodes["join"].y < nodes["right"].y
    assert nodes["top"].y == nodes["join"].y
    assert {(e.source, e.target) for e in drawing.edges} == {
        ("top", "left"),
        ("top", "right"),
        ("left", "join"),
        ("right", "join"),
    }


def test_a_layer_is_a_step_past_its_deepest_dependency() -> None:
    steps = [S("a"), S("b", ["a"]), S("c", ["b"]), S("d", ["a", "c"])]
    assert by_id(dag.layout(steps))["d"].layer == 3


def test_a_wide_fan_out_wraps_into_columns_without_overlaps() -> None:
    steps = [
        S("root"),
        *(S(f"leaf-{i}", ["root"]) for i in range(1000)),
        S("gather", [f"leaf-{i}" for i in range(1000)]),
    ]
    drawing = dag.layout(steps)
    assert_sound(steps, drawing)
    leaves = [n for n in drawing.nodes if n.layer == 1]
    rows = {n.y for n in leaves}
    assert len(rows) == max(dag.MAX_ROWS, 31)  # 1000 steps: a square-ish block, not one strip
    assert len({n.x for n in leaves}) == -(-1000 // len(rows))
    assert drawing.height < 50 * (dag.NODE_H + dag.ROW_GAP)
    assert by_id(drawing)["gather"].x > max(n.x for n in leaves)


def test_the_order_within_a_layer_follows_the_parents_so_edges_do_not_cross() -> None:
    # b2's parent is drawn above b1's: the barycenter ordering swaps the children to match.
    steps = [S("a1"), S("a2"), S("b1", ["a2"]), S("b2", ["a1"])]
    nodes = by_id(dag.layout(steps))
    assert nodes["a1"].y < nodes["a2"].y
    assert nodes["b2"].y < nodes["b1"].y


def test_the_same_steps_give_the_same_layout() -> None:
    steps = [S("x"), *(S(f"n{i}", ["x"] + ([f"n{i - 3}"] if i >= 3 else [])) for i in range(60))]
    assert dag.layout(steps) == dag.layout(list(steps))
    assert dag.render_svg(dag.layout(steps)) == dag.render_svg(dag.layout(steps))


def test_workflow_models_are_laid_out_as_they_are() -> None:
    steps = [
        Step(id="fetch", runner_id="r", payload="x"),
        Step(id="build", runner_id="r", payload="x", depends_on=["fetch"]),
    ]
    assert {n.id: n.layer for n in dag.layout(steps).nodes} == {"fetch": 0, "build": 1}


def test_a_cycle_ends_in_a_last_layer_instead_of_looping() -> None:
    steps = [S("start"), S("a", ["start", "b"]), S("b", ["a"]), S("after", ["start"])]
    drawing = dag.layout(steps)
    nodes = by_id(drawing)
    assert drawing.cyclic == ("a", "b")
    assert nodes["a"].layer == nodes["b"].layer == 2
    assert nodes["after"].layer == 1
    assert len(drawing.edges) == 4
    assert_sound(steps, drawing)


def test_unknown_self_and_repeated_dependencies_and_repeated_ids_are_ignored() -> None:
    steps = [S("a", ["ghost", "a"]), S("b", ["a", "a"]), S("a", ["b"])]
    drawing = dag.layout(steps)
    assert [(n.id, n.layer) for n in drawing.nodes] == [("a", 0), ("b", 1)]
    assert [(e.source, e.target) for e in drawing.edges] == [("a", "b")]
    assert drawing.cyclic == ()


def test_no_steps_is_an_empty_drawing() -> None:
    drawing = dag.layout([])
    assert drawing.nodes == () and drawing.edges == ()
    ET.fromstring(dag.render_svg(drawing))


def test_long_ids_are_cut_in_the_label_and_whole_in_the_title() -> None:
    long_id = "a" * 64
    drawing = dag.layout([S(long_id)])
    (node,) = drawing.nodes
    assert len(node.label) == dag.LABEL_CHARS and node.label.endswith("…")
    root = ET.fromstring(dag.render_svg(drawing, {long_id: "running"}))
    assert root.find(f".//{SVG_NS}title").text == f"{long_id} — running"  # type: ignore[union-attr]


def test_the_svg_escapes_ids_and_statuses() -> None:
    evil = '<script>alert("x")</script>&\'"'
    drawing = dag.layout([S(evil), S("next", [evil])])
    svg = dag.render_svg(drawing, {evil: '<b onload="x">', "next": "completed"})
    assert "<script" not in svg and "<b " not in svg
    root = ET.fromstring(svg)  # well-formed: every text and attribute was escaped
    groups = root.findall(f".//{SVG_NS}g[@class='node']")
    assert [g.get("data-step") for g in groups] == [evil, "next"]
    assert groups[0].get("data-status") == '<b onload="x">'
    texts = [t.text for t in groups[0].findall(f"{SVG_NS}text")]
    assert texts == [evil[: dag.LABEL_CHARS - 1] + "…", '<b onload="x">']
    (edge,) = root.findall(f".//{SVG_NS}path[@class='edge']")
    assert (edge.get("data-source"), edge.get("data-target")) == (evil, "next")


def test_the_svg_colours_each_node_after_its_status() -> None:
    root = ET.fromstring(dag.render_svg(dag.layout([S("a"), S("b", ["a"])]), {"a": "completed", "b": "failed"}))
    groups = root.findall(f".//{SVG_NS}g[@class='node']")
    fills = {g.get("data-step"): g.find(f"{SVG_NS}rect").get("fill") for g in groups}  # type: ignore[union-attr]
    assert fills["a"] == dag.STATUS_COLOURS["completed"][0]
    assert fills["b"] == dag.STATUS_COLOURS["failed"][0]


def test_the_json_layout_has_every_node_and_edge() -> None:
    data = dag.layout([S("a"), S("b", ["a"])]).as_json()
    assert [n["id"] for n in data["nodes"]] == ["a", "b"]
    assert data["edges"] == [{"source": "a", "target": "b", "path": data["edges"][0]["path"]}]
    assert data["edges"][0]["path"].startswith(f"M{data['nodes'][0]['x'] + dag.NODE_W},")


@st.composite
def dags(draw: st.DrawFn) -> list[S]:
    """Random DAGs: each step may depend on any earlier ones, listed in a shuffled order."""
    count = draw(st.integers(1, 60))
    steps = []
    for i in range(count):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=4, unique=True)) if i else []
        steps.append(S(f"s{i}", [f"s{d}" for d in deps]))
    return draw(st.permutations(steps))


@settings(max_examples=60, deadline=None)
@given(dags())
def test_any_dag_is_laid_out_soundly(steps: list[S]) -> None:
    drawing = dag.layout(steps)
    assert drawing.cyclic == ()
    assert_sound(steps, drawing)
    assert len(drawing.edges) == sum(len(s.depends_on) for s in steps)


def path_points(path: str) -> list[tuple[int, int]]:
    """Every point a path's commands end on, control points left out."""
    points = []
    for command in re.findall(r"[MLC][^MLC]*", path):
        pairs = command[1:].split()
        x, y = pairs[-1].split(",")
        points.append((int(x), int(y)))
    return points


def test_a_long_edge_passes_beside_the_steps_it_skips() -> None:
    steps = [
        S("fetch"),
        S("compile", ["fetch"]),
        S("lint", ["fetch"]),
        S("docs", ["fetch"]),
        S("package", ["compile", "lint"]),
        S("publish", ["package", "docs"]),
        S("announce", ["fetch", "publish"]),  # spans four layers
    ]
    drawing = dag.layout(steps)
    assert_sound(steps, drawing)
    nodes = by_id(drawing)
    for edge in drawing.edges:
        points = path_points(edge.path)
        assert len(points) == 2 * (nodes[edge.target].layer - nodes[edge.source].layer)
        for node in drawing.nodes:
            if node.id in (edge.source, edge.target):
                continue
            for x, y in points:
                inside = node.x <= x <= node.x + node.width and node.y <= y <= node.y + node.height
                assert not inside, (edge, node)
    docs_to_publish = next(e for e in drawing.edges if (e.source, e.target) == ("docs", "publish"))
    assert " L" in docs_to_publish.path


def test_past_the_budget_long_edges_are_drawn_straight_across() -> None:
    count = 40  # a chain where each step also depends on the first: about count²/2 crossings
    steps = [S("s0"), *(S(f"s{i}", [f"s{i - 1}", "s0"]) for i in range(1, count))]
    drawing = dag.layout(steps)
    assert_sound(steps, drawing)
    crossings = sum(e.path.count(" L") for e in drawing.edges)
    assert 0 < crossings <= dag.MAX_PLACEHOLDERS_PER_STEP * count

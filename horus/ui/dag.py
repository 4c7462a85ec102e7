"""A workflow's DAG as a drawing: steps in layers left to right, edges from each dependency.

Pure and deterministic (the same steps give the same layout, byte for byte), so the workflows
page can fetch a layout once and only poll the statuses after. :func:`layout` places the
nodes; :meth:`Layout.as_json` is what the page's script draws, :func:`render_svg` the same
drawing as a standalone SVG document (every text escaped).

The coordinator validates that a workflow is a DAG before it stores it, but nothing here
relies on it: a dependency on an unknown step is ignored, and steps caught in a cycle are put
in one last layer (and listed in ``Layout.cyclic``) rather than looping.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Protocol

NODE_W = 176
NODE_H = 44
#: Room between two columns for the edges' curves.
COL_GAP = 64
ROW_GAP = 14
MARGIN = 12
#: A layer taller than this many nodes (a wide fan-out) is wrapped into several columns, so a
#: group of a thousand steps is a block of columns instead of a strip 50,000 px high. Past
#: MAX_ROWS squared steps, the block grows as a square (sqrt(n) rows).
MAX_ROWS = 25
#: Characters of a step id that fit in a node; a longer id is cut, the node's title has it whole.
LABEL_CHARS = 22
#: Placeholders kept for long edges, at most this many per step (see _split_long_edges).
MAX_PLACEHOLDERS_PER_STEP = 4
#: Barycenter passes (down and up) that order each layer to shorten and uncross the edges.
ORDER_PASSES = 4

#: Fill and stroke of a node per step status (horus.coordinator.models.StepStatus); others grey.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "waiting": ("#f1f3f5", "#adb5bd"),
    "ready": ("#e7f5ff", "#74c0fc"),
    "dispatched": ("#d0ebff", "#1c7ed6"),
    "retrying": ("#fff3bf", "#f08c00"),
    "completed": ("#d3f9d8", "#2f9e44"),
    "failed": ("#ffe3e3", "#e03131"),
    "skipped": ("#f8f9fa", "#ced4da"),
    "cancelled": ("#e9ecef", "#495057"),
}
_UNKNOWN_COLOURS = ("#f8f9fa", "#868e96")


class StepLike(Protocol):
    """What the layout needs of a step: models.Step and models.StepInfo both are one."""

    @property
    def id(self) -> str: ...

    @property
    def depends_on(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    layer: int
    #: Position within the layer after ordering (0 at the top of its first column).
    index: int
    x: int
    y: int
    width: int = NODE_W
    height: int = NODE_H


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    #: SVG path data: a curve from the source's right side to the target's left side.
    path: str


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    #: Steps that were caught in a dependency cycle (never, for a workflow the coordinator took).
    cyclic: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "nodes": [
                {
                    "id": n.id,
                    "label": n.label,
                    "layer": n.layer,
                    "x": n.x,
                    "y": n.y,
                    "width": n.width,
                    "height": n.height,
                }
                for n in self.nodes
            ],
            "edges": [{"source": e.source, "target": e.target, "path": e.path} for e in self.edges],
            "cyclic": list(self.cyclic),
        }


def _graph(steps: Iterable[StepLike]) -> tuple[list[str], dict[str, list[str]]]:
    """Step ids in the order given (a repeated id counted once) and each one's known dependencies."""
    order: list[str] = []
    deps: dict[str, list[str]] = {}
    for step in steps:
        if step.id not in deps:
            order.append(step.id)
            deps[step.id] = list(step.depends_on)
    for step_id, wanted in deps.items():
        deps[step_id] = list(dict.fromkeys(d for d in wanted if d in deps and d != step_id))
    return order, deps


def assign_layers(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> tuple[dict[str, int], list[str]]:
    """Each step's layer: one past its deepest dependency (0 without any). Kahn's algorithm, so
    a cycle ends the walk instead of recursing forever; the steps it never reached come back
    as the second value."""
    dependants: dict[str, list[str]] = {step_id: [] for step_id in order}
    pending = {step_id: len(deps[step_id]) for step_id in order}
    for step_id in order:
        for dep in deps[step_id]:
            dependants[dep].append(step_id)
    queue = deque(step_id for step_id in order if pending[step_id] == 0)
    layer: dict[str, int] = {}
    while queue:
        step_id = queue.popleft()
        layer[step_id] = max((layer[d] + 1 for d in deps[step_id]), default=0)
        for after in dependants[step_id]:
            pending[after] -= 1
            if pending[after] == 0:
                queue.append(after)
    stuck = [step_id for step_id in order if step_id not in layer]
    last = max(layer.values(), default=-1) + 1
    for step_id in stuck:
        layer[step_id] = last
    return layer, stuck


def _order(order: Sequence[str], deps: Mapping[str, Sequence[str]], layer_of: Mapping[str, int]) -> list[list[str]]:
    """The steps of each layer, sorted by the mean position of their neighbours (barycenters),
    ties kept in the order the workflow lists them, so the result is deterministic."""
    count = max(layer_of.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    for step_id in order:
        layers[layer_of[step_id]].append(step_id)
    given = {step_id: i for i, step_id in enumerate(order)}
    children: dict[str, list[str]] = {step_id: [] for step_id in order}
    for step_id in order:
        for dep in deps[step_id]:
            children[dep].append(step_id)

    def place() -> dict[str, float]:
        # Positions relative to the layer's size, so layers of different sizes compare.
        return {s: (i + 0.5) / len(members) for members in layers for i, s in enumerate(members)}

    for sweep in range(ORDER_PASSES):
        neighbours = deps if sweep % 2 == 0 else children
        where = place()
        for members in layers if sweep % 2 == 0 else reversed(layers):
            keys = {}
            for s in members:
                near = neighbours[s]
                keys[s] = (sum(where[n] for n in near) / len(near) if near else where[s], given[s])
            members.sort(key=keys.__getitem__)
            where.update({s: (i + 0.5) / len(members) for i, s in enumerate(members)})
    return layers


def _label(step_id: str) -> str:
    return step_id if len(step_id) <= LABEL_CHARS else step_id[: LABEL_CHARS - 1] + "…"


def _curve(x1: int, y1: int, x2: int, y2: int) -> str:
    bend = max(COL_GAP // 2, (x2 - x1) // 2)
    return f"C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"


def _edge_path(source: Node, target: Node, via: Sequence[Node] = ()) -> str:
    """From the source's right side to the target's left, through the slots kept for it in the
    layers it crosses (``via``), so a long edge passes beside the steps between, not over them."""
    x, y = source.x + source.width, source.y + source.height // 2
    parts = [f"M{x},{y}"]
    for slot in via:
        slot_y = slot.y + slot.height // 2
        parts.append(_curve(x, y, slot.x, slot_y))
        x, y = slot.x + slot.width, slot_y
        parts.append(f"L{x},{y}")
    parts.append(_curve(x, y, target.x, target.y + target.height // 2))
    return " ".join(parts)


def _split_long_edges(
    order: Sequence[str], deps: Mapping[str, Sequence[str]], layer_of: Mapping[str, int]
) -> tuple[list[str], dict[str, list[str]], dict[str, int], dict[tuple[str, str], list[str]]]:
    """The graph with a placeholder in every layer a long edge crosses (Sugiyama's dummy nodes):
    the ordering then keeps a row free for the edge there. Past a budget of placeholders (a
    dense graph of long edges), the remaining long edges are drawn straight across."""
    budget = MAX_PLACEHOLDERS_PER_STEP * len(order)
    all_order, all_deps, all_layers = list(order), {k: list(v) for k, v in deps.items()}, dict(layer_of)
    routes: dict[tuple[str, str], list[str]] = {}
    count = 0
    for step_id in order:
        for position, dep in enumerate(deps[step_id]):
            span = layer_of[step_id] - layer_of[dep]
            if span < 2 or span - 1 > budget:
                continue
            budget -= span - 1
            chain = []
            previous = dep
            for layer in range(layer_of[dep] + 1, layer_of[step_id]):
                name = f"\0{count}"
                while name in deps:  # no step id has a NUL, but make sure
                    name += "\0"
                count += 1
                all_order.append(name)
                all_deps[name] = [previous]
                all_layers[name] = layer
                chain.append(name)
                previous = name
            all_deps[step_id][position] = previous
            routes[(dep, step_id)] = chain
    return all_order, all_deps, all_layers, routes


def layout(steps: Iterable[StepLike]) -> Layout:
    """Place every step: layer = column block, position in the layer = row (wrapped past
    MAX_ROWS), each layer centred vertically against the tallest."""
    order, deps = _graph(steps)
    layer_of, stuck = assign_layers(order, deps)
    all_order, all_deps, all_layers, routes = _split_long_edges(order, deps, layer_of)
    layers = _order(all_order, all_deps, all_layers)
    shapes = []  # (columns, rows per column) per layer
    for members in layers:
        columns = math.ceil(len(members) / max(MAX_ROWS, math.isqrt(len(members))))
        shapes.append((columns, math.ceil(len(members) / columns)))
    tallest = max((rows for _, rows in shapes), default=0)
    full_height = tallest * (NODE_H + ROW_GAP) - ROW_GAP
    placed: dict[str, Node] = {}
    x = MARGIN
    for number, (members, (columns, rows)) in enumerate(zip(layers, shapes, strict=True)):
        top = MARGIN + (full_height - (rows * (NODE_H + ROW_GAP) - ROW_GAP)) // 2
        for index, step_id in enumerate(members):
            column, row = divmod(index, rows)
            node_x = x + column * (NODE_W + COL_GAP)
            placed[step_id] = Node(step_id, _label(step_id), number, index, node_x, top + row * (NODE_H + ROW_GAP))
        x += columns * (NODE_W + COL_GAP)
    edges = tuple(
        Edge(
            dep, step_id, _edge_path(placed[dep], placed[step_id], [placed[p] for p in routes.get((dep, step_id), ())])
        )
        for step_id in order
        for dep in deps[step_id]
    )
    width = x - COL_GAP + MARGIN if order else 2 * MARGIN
    height = full_height + 2 * MARGIN if order else 2 * MARGIN
    nodes = tuple(placed[s] for members in layers for s in members if s in deps)
    return Layout(width, height, nodes, edges, tuple(stuck))


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def render_svg(drawing: Layout, statuses: Mapping[str, str] | None = None) -> str:
    """The layout as an SVG document, each node filled after its status (``statuses``: step id
    -> status). Styling is in presentation attributes, so the document needs no inline style
    or script and shows the same under any Content-Security-Policy."""
    statuses = statuses or {}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{drawing.width}" height="{drawing.height}" '
        f'viewBox="0 0 {drawing.width} {drawing.height}" role="img" aria-label="workflow steps">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#868e96"/></marker></defs>',
        '<g class="edges">',
    ]
    for edge in drawing.edges:
        out.append(
            f'<path class="edge" d="{_attr(edge.path)}" data-source="{_attr(edge.source)}" '
            f'data-target="{_attr(edge.target)}" fill="none" stroke="#868e96" stroke-width="1.5" '
            'marker-end="url(#arrow)"/>'
        )
    out.append('</g><g class="nodes">')
    for node in drawing.nodes:
        status = statuses.get(node.id, "")
        fill, stroke = STATUS_COLOURS.get(status, _UNKNOWN_COLOURS)
        out.append(
            f'<g class="node" data-step="{_attr(node.id)}" data-status="{_attr(status)}" '
            f'transform="translate({node.x},{node.y})">'
            f"<title>{escape(node.id)}{' — ' + escape(status) if status else ''}</title>"
            f'<rect width="{node.width}" height="{node.height}" rx="6" fill="{fill}" stroke="{stroke}" '
            'stroke-width="1.5"/>'
            f'<text x="10" y="18" font-family="sans-serif" font-size="13" fill="#212529">{escape(node.label)}</text>'
            f'<text x="10" y="35" font-family="sans-serif" font-size="11" fill="#495057">{escape(status)}</text>'
            "</g>"
        )
    out.append("</g></svg>")
    return "".join(out)

"""A layered drawing of an :class:`~.graph.OperatorGraph` as SVG, in pure Python (what
:func:`~.graph.graph_svg` uses when Graphviz is not installed).

The layout follows Sugiyama's scheme, kept small: nodes go to layers by longest path from the
inputs; an edge that spans several layers passes through a point in each; a few barycentre sweeps
order each layer to reduce crossings (the best order seen is kept); then nodes move towards the
mean position of their neighbours, without overlapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise

from .graph import GraphEdge, OperatorGraph

__all__ = ["Layout", "layered_layout", "layered_svg"]

_FONT = 12          # px, monospace: a character is about 0.6 em wide
_SMALL = 10         # px, edge labels and the second line of a box
_CHAR = 0.62        # width of a character, in em (generous for common monospace fonts)
_PAD = 10           # px inside a box, left and right
_BOX_HEIGHT = 36.0  # two lines of text
_GAP_X = 24         # px between neighbouring boxes
_GAP_Y = 40         # px between layers (room for an edge label)
_MARGIN = 12
_SWEEPS = 8


@dataclass
class _Node:
    id: str
    width: float
    layer: int = 0
    x: float = 0.0
    up: list[_Node] = field(default_factory=list)      # neighbours in the layer above
    down: list[_Node] = field(default_factory=list)    # neighbours in the layer below


@dataclass(frozen=True)
class Layout:
    """Box centres and sizes by node id, and each edge's route (a polyline of points)."""

    width: float
    height: float
    boxes: dict[str, tuple[float, float, float, float]]    # id -> (x centre, y top, w, h)
    routes: tuple[tuple[GraphEdge, tuple[tuple[float, float], ...]], ...]


def layered_layout(graph: OperatorGraph) -> Layout:
    """Positions for every node and a route for every edge of ``graph``, top to bottom."""
    nodes = {n.id: _Node(n.id, _box_width(n.label, n.detail)) for n in graph.nodes}
    order = {n.id: k for k, n in enumerate(graph.nodes)}
    forward = [e for e in graph.edges if order[e.source] < order[e.target]]
    for e in sorted(forward, key=lambda e: order[e.target]):
        target, source = nodes[e.target], nodes[e.source]
        target.layer = max(target.layer, source.layer + 1)
    chains: dict[int, list[_Node]] = {}  # by id(edge)
    for e in forward:  # an edge over several layers passes through a narrow point in each
        chain = [nodes[e.source]]
        for layer in range(nodes[e.source].layer + 1, nodes[e.target].layer):
            point = _Node(f"{e.source}>{e.target}@{layer}", 2.0, layer)
            nodes[point.id] = point
            chain.append(point)
        chain.append(nodes[e.target])
        for upper, lower in pairwise(chain):
            upper.down.append(lower)
            lower.up.append(upper)
        chains[id(e)] = chain
    layers = _order(nodes.values())
    _place(layers)
    left = min(n.x - n.width / 2 for n in nodes.values())
    for n in nodes.values():
        n.x += _MARGIN - left
    boxes = {key: (nodes[key].x, _y(nodes[key].layer), nodes[key].width, _BOX_HEIGHT)
             for key in (g.id for g in graph.nodes)}
    paths = {id(e): [(boxes[e.source][0], boxes[e.source][1] + _BOX_HEIGHT),
                     *((p.x, _y(p.layer) + _BOX_HEIGHT / 2) for p in chains.get(id(e), [])[1:-1])]
             for e in graph.edges}
    incoming: dict[str, list[GraphEdge]] = {}
    for e in graph.edges:
        incoming.setdefault(e.target, []).append(e)
    for into, edges in incoming.items():  # spread along the box's top, ordered as they come
        x, y, w, _ = boxes[into]
        edges.sort(key=lambda e: paths[id(e)][-1][0])
        for k, e in enumerate(edges):
            paths[id(e)].append((x - w / 2 + w * (k + 1) / (len(edges) + 1), y))
    routes = tuple((e, tuple(paths[id(e)])) for e in graph.edges)
    width = max(n.x + n.width / 2 for n in nodes.values()) + _MARGIN
    height = _y(max(n.layer for n in nodes.values()) + 1) - _GAP_Y + _MARGIN
    return Layout(width, height, boxes, routes)


def layered_svg(graph: OperatorGraph) -> str:
    """``graph`` drawn with :func:`layered_layout` as a standalone ``<svg>`` element."""
    if not graph.nodes:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40">'
                '<text x="10" y="24" font-family="monospace" font-size="12">(no operators)'
                '</text></svg>')
    lay = layered_layout(graph)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" '
           f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
           f'font-family="monospace" font-size="{_FONT}" class="tflitekit-graph">',
           '<defs><marker id="tflitekit-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           '<path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>']
    labelled = set()  # a tensor read by several operators is labelled once
    for e, points in lay.routes:
        path = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}"
                        for k, (x, y) in enumerate(points))
        out.append(f'<g class="edge"><title>{escape(e.tensor or "")}</title>'
                   f'<path d="{path}" fill="none" stroke="#666" stroke-width="1.2" '
                   'marker-end="url(#tflitekit-arrow)"/>')
        if (e.source, e.tensor, e.shape) not in labelled:
            labelled.add((e.source, e.tensor, e.shape))
            (x0, y0), (x1, y1) = points[0], points[1]
            out.append(f'<text x="{(x0 + x1) / 2 + 5:.1f}" y="{(y0 + y1) / 2 + 3:.1f}" '
                       f'font-size="{_SMALL}" fill="#444">{escape(e.label)}</text>')
        out.append("</g>")
    for n in graph.nodes:
        x, y, w, h = lay.boxes[n.id]
        operator = n.kind == "operator"
        fill, stroke = ("#e8eefc", "#4a6fb5") if operator else ("#eef6e8", "#5a8f3c")
        weight = "bold" if operator else "normal"
        out.append(f'<g class="node {n.kind}"><title>{escape(n.label)}</title>'
                   f'<rect x="{x - w / 2:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                   f'rx="{4 if operator else h / 2:.0f}" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{x:.1f}" y="{y + 15:.1f}" text-anchor="middle" '
                   f'font-weight="{weight}">{escape(n.label)}</text>'
                   f'<text x="{x:.1f}" y="{y + 29:.1f}" text-anchor="middle" '
                   f'font-size="{_SMALL}" fill="#333">{escape(n.detail)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def _box_width(label: str, detail: str) -> float:
    return max(len(label) * _FONT, len(detail) * _SMALL) * _CHAR + 2 * _PAD


def _y(layer: int) -> float:
    return _MARGIN + layer * (_BOX_HEIGHT + _GAP_Y)


def _order(nodes: Iterable[_Node]) -> list[list[_Node]]:
    """The layers, each ordered by barycentre sweeps (down, then up) to reduce crossings."""
    layers: list[list[_Node]] = []
    for n in nodes:
        while len(layers) <= n.layer:
            layers.append([])
        layers[n.layer].append(n)
    best, fewest = [list(layer) for layer in layers], _crossings(layers)
    for sweep in range(_SWEEPS):
        down = sweep % 2 == 0
        for i in range(1, len(layers)) if down else range(len(layers) - 2, -1, -1):
            fixed = {id(n): k for k, n in enumerate(layers[i - 1 if down else i + 1])}
            key = {id(n): _barycentre(n.up if down else n.down, fixed, k)
                   for k, n in enumerate(layers[i])}
            layers[i].sort(key=lambda n: key[id(n)])
        crossings = _crossings(layers)
        if crossings < fewest:
            best, fewest = [list(layer) for layer in layers], crossings
    return best


def _barycentre(neighbours: list[_Node], position: dict[int, int], current: int) -> float:
    if not neighbours:
        return float(current)
    return sum(position[id(n)] for n in neighbours) / len(neighbours)


def _crossings(layers: list[list[_Node]]) -> int:
    """How many pairs of edges cross between adjacent layers."""
    total = 0
    for upper, lower in pairwise(layers):
        position = {id(n): k for k, n in enumerate(upper)}
        ends = [(position[id(u)], k) for k, n in enumerate(lower) for u in n.up]
        total += sum(1 for i, (a, b) in enumerate(ends) for c, d in ends[i + 1:]
                     if (a - c) * (b - d) < 0)
    return total


def _place(layers: list[list[_Node]]) -> None:
    """x positions: packed and centred first, then moved towards the mean x of their
    neighbours (above on the way down, below on the way up), keeping order and gaps."""
    for layer in layers:
        x = 0.0
        for n in layer:
            n.x = x + n.width / 2
            x += n.width + _GAP_X
        for n in layer:
            n.x -= (x - _GAP_X) / 2
    for sweep in range(4):
        down = sweep % 2 == 0
        for layer in layers[1:] if down else layers[-2::-1]:
            wanted = [sum(m.x for m in ns) / len(ns) if (ns := n.up if down else n.down)
                      else n.x for n in layer]
            _spread(layer, wanted)


def _spread(layer: list[_Node], wanted: list[float]) -> None:
    """Put ``layer`` as near ``wanted`` as the gaps allow: the mean of the tightest packing
    from the left and from the right (each keeps the gaps, so their mean does too)."""
    gaps = [(a.width + b.width) / 2 + _GAP_X for a, b in pairwise(layer)]
    left = list(wanted)
    for k in range(1, len(layer)):
        left[k] = max(left[k], left[k - 1] + gaps[k - 1])
    right = list(wanted)
    for k in range(len(layer) - 2, -1, -1):
        right[k] = min(right[k], right[k + 1] - gaps[k])
    for n, a, b in zip(layer, left, right, strict=True):
        n.x = (a + b) / 2

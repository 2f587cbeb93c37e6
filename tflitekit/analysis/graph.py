"""The operator graph of a subgraph, and its drawing as SVG.

:func:`operator_graph` reads the structure (operators, the activations between them, the graph's
inputs and outputs) into an :class:`OperatorGraph`; :func:`graph_svg` draws it, with Graphviz's
``dot`` when it is installed and with the layered layout of :mod:`.graph_layout` otherwise. Nothing
is fetched from the network.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import TFLiteKitError, UsageError
from ..ir import Model, Tensor

__all__ = ["GraphEdge", "GraphNode", "OperatorGraph", "graph_svg", "graphviz_available",
           "operator_graph", "shape_text"]

Engine = Literal["auto", "graphviz", "builtin"]
NodeKind = Literal["operator", "input", "output"]

_DOT_TIMEOUT = 120  # seconds; dot lays out graphs of thousands of nodes in a few


@dataclass(frozen=True)
class GraphNode:
    """An operator, or an input or output of the subgraph. ``id`` is ``op<index>``,
    ``input<position>`` or ``output<position>``; ``detail`` is the output shapes and dtype of an
    operator, the shape and dtype of an input or output."""

    id: str
    kind: NodeKind
    index: int
    label: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "index": self.index, "label": self.label,
                "detail": self.detail}


@dataclass(frozen=True)
class GraphEdge:
    """A tensor that flows from one node to another (constants are not edges)."""

    source: str
    target: str
    tensor: str | None
    shape: tuple[int, ...] | None
    dtype: str

    @property
    def label(self) -> str:
        return shape_text(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "tensor": self.tensor,
                "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class OperatorGraph:
    """The nodes (inputs, operators in order, outputs) and edges of one subgraph."""

    subgraph: int
    name: str | None
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    def to_json(self) -> dict[str, Any]:
        return {"subgraph": self.subgraph, "name": self.name,
                "nodes": [n.to_json() for n in self.nodes],
                "edges": [e.to_json() for e in self.edges]}

    def to_dot(self) -> str:
        """The graph in Graphviz's DOT language, top to bottom."""
        lines = ["digraph model {",
                 '  graph [rankdir=TB, nodesep=0.3, ranksep=0.4, fontname="Helvetica"];',
                 '  node [shape=box, style="rounded,filled", fillcolor="#e8eefc", '
                 'color="#4a6fb5", fontname="Helvetica", fontsize=11];',
                 '  edge [color="#666666", fontname="Helvetica", fontsize=9, '
                 'fontcolor="#444444"];']
        for n in self.nodes:
            style = "" if n.kind == "operator" else ', shape=oval, fillcolor="#eef6e8", ' \
                                                    'color="#5a8f3c"'
            label = _dot_string(f"{n.label}\n{n.detail}")
            lines.append(f'  {n.id} [label="{label}", tooltip="{_dot_string(n.label)}"{style}];')
        for e in self.edges:
            lines.append(f'  {e.source} -> {e.target} [label=" {_dot_string(e.label)}", '
                         f'tooltip="{_dot_string(e.tensor or "")}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def operator_graph(model: Model, subgraph: int = 0) -> OperatorGraph:
    """The operator graph of ``model.subgraphs[subgraph]``."""
    if not 0 <= subgraph < len(model.subgraphs):
        raise UsageError(f"subgraph {subgraph} does not exist: the model has "
                         f"{len(model.subgraphs)}")
    graph = model.subgraphs[subgraph]
    nodes: list[GraphNode] = []
    source: dict[int, str] = {}  # id(tensor) -> the node producing it
    for k, t in enumerate(graph.inputs):
        nodes.append(GraphNode(f"input{k}", "input", k, _name(t), _tensor_text(t)))
        source.setdefault(id(t), f"input{k}")
    for k, op in enumerate(graph.operators):
        label = op.opcode.name if op.opcode is not None else "?"
        nodes.append(GraphNode(f"op{k}", "operator", k, label,
                               ", ".join(_tensor_text(t) for t in op.outputs) or "-"))
        for t in op.outputs:
            source[id(t)] = f"op{k}"
    edges: dict[tuple[str, str, int], GraphEdge] = {}

    def connect(t: Tensor, target: str) -> None:
        start = source.get(id(t))
        if start is not None:
            edges.setdefault((start, target, id(t)), GraphEdge(
                start, target, t.name, t.shape, _dtype(t)))

    for k, op in enumerate(graph.operators):
        for read in op.inputs:
            if read is not None and not read.is_constant:
                connect(read, f"op{k}")
    for k, out in enumerate(graph.outputs):
        nodes.append(GraphNode(f"output{k}", "output", k, _name(out), _tensor_text(out)))
        connect(out, f"output{k}")
    return OperatorGraph(subgraph, graph.name, tuple(nodes), tuple(edges.values()))


def graphviz_available() -> bool:
    """Whether Graphviz's ``dot`` is on the PATH."""
    return shutil.which("dot") is not None


def graph_svg(graph: OperatorGraph, engine: Engine = "auto") -> str:
    """``graph`` drawn as an SVG document (the ``<svg>`` element, ready to inline in HTML):
    with Graphviz (``engine="graphviz"``), with :func:`.graph_layout.layered_svg`
    (``"builtin"``), or with Graphviz when ``dot`` is installed (``"auto"``)."""
    if engine not in ("auto", "graphviz", "builtin"):
        raise UsageError(f"unknown graph engine {engine!r}: use auto, graphviz or builtin")
    dot = shutil.which("dot") if engine != "builtin" else None
    if dot is None:
        if engine == "graphviz":
            raise TFLiteKitError("Graphviz's 'dot' is not on the PATH (install graphviz, or "
                                 "draw with the builtin layout)")
        from .graph_layout import layered_svg
        return layered_svg(graph)
    try:
        done = subprocess.run([dot, "-Tsvg"], input=graph.to_dot(), capture_output=True,
                              text=True, timeout=_DOT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TFLiteKitError(f"dot did not finish within {_DOT_TIMEOUT} s") from exc
    start = done.stdout.find("<svg")
    if done.returncode != 0 or start < 0:
        reason = done.stderr.strip().splitlines()
        raise TFLiteKitError(f"dot failed (exit {done.returncode})"
                             + (f": {reason[0]}" if reason else ""))
    return done.stdout[start:]


def shape_text(shape: tuple[int, ...] | None) -> str:
    """``1x49x40x1``; ``scalar`` for rank 0, ``?`` for an unknown shape."""
    if shape is None:
        return "?"
    return "x".join(map(str, shape)) if shape else "scalar"


def _dtype(t: Tensor) -> str:
    return str(getattr(t.dtype, "name", t.dtype)).lower()


def _tensor_text(t: Tensor) -> str:
    return f"{shape_text(t.shape)} {_dtype(t)}"


def _name(t: Tensor) -> str:
    return t.name if t.name else "(unnamed)"


def _dot_string(text: str) -> str:
    """``text`` inside a DOT double-quoted string (newlines as centred line breaks)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")

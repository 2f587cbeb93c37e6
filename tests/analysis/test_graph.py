"""The operator graph (analysis.graph) and its drawing: the builtin layered layout, Graphviz."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from tflitekit import Model, Tensor
from tflitekit.analysis.graph import (
    GraphEdge,
    OperatorGraph,
    graph_svg,
    graphviz_available,
    operator_graph,
    shape_text,
)
from tflitekit.analysis.graph_layout import layered_layout, layered_svg
from tflitekit.errors import TFLiteKitError, UsageError
from tflitekit.options import BuiltinOperator as Op
from tflitekit.testing import build_runnable_model

SVG = "{http://www.w3.org/2000/svg}"


def _residual() -> Model:
    """x -> RELU -> LOGISTIC -> ADD(x, .) -> y, and RELU's output is a second graph output:
    the edge x -> ADD skips two layers."""
    m = Model("residual")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 4), "float32"))
    a, b, y = (Tensor(n, (1, 4), "float32") for n in ("a", "b", "y"))
    g.add_operator(Op.RELU, [x], [a])
    g.add_operator(Op.LOGISTIC, [a], [b])
    g.add_operator(Op.ADD, [x, b], [y])
    g.add_output(y)
    g.add_output(a)
    return m


def _crossed() -> Model:
    """Two inputs; the first operator reads the second input, the second the first: in reading
    order the two edges cross."""
    m = Model("crossed")
    g = m.add_subgraph("main")
    p, q = (g.add_input(Tensor(n, (2,), "float32")) for n in ("p", "q"))
    u, v = Tensor("u", (2,), "float32"), Tensor("v", (2,), "float32")
    g.add_operator(Op.RELU, [q], [u])
    g.add_operator(Op.TANH, [p], [v])
    g.add_output(u)
    g.add_output(v)
    return m


def test_operator_graph_of_the_runnable_model() -> None:
    graph = operator_graph(build_runnable_model())
    assert [(n.id, n.kind, n.label, n.detail) for n in graph.nodes] == [
        ("input0", "input", "x", "1x4x4x2 int8"),
        ("op0", "operator", "CONV_2D", "1x4x4x3 int8"),
        ("op1", "operator", "RESHAPE", "1x48 int8"),
        ("op2", "operator", "FULLY_CONNECTED", "1x5 int8"),
        ("op3", "operator", "ADD", "1x5 int8"),
        ("output0", "output", "y", "1x5 int8")]
    # constants (weights, the new shape, the added constant) are not edges
    assert [(e.source, e.target, e.tensor, e.label) for e in graph.edges] == [
        ("input0", "op0", "x", "1x4x4x2"), ("op0", "op1", "conv/y", "1x4x4x3"),
        ("op1", "op2", "flat", "1x48"), ("op2", "op3", "fc/y", "1x5"),
        ("op3", "output0", "y", "1x5")]
    assert graph.name == "main" and graph.subgraph == 0
    data = graph.to_json()
    assert data["edges"][1] == {"source": "op0", "target": "op1", "tensor": "conv/y",
                                "shape": [1, 4, 4, 3], "dtype": "int8"}
    assert data["nodes"][0]["kind"] == "input"


def test_a_tensor_read_twice_by_one_operator_is_one_edge() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (3,), "float32"))
    y = Tensor("y", (3,), "float32")
    g.add_operator(Op.MUL, [x, x], [y])
    g.add_output(y)
    assert [(e.source, e.target) for e in operator_graph(m).edges] == [
        ("input0", "op0"), ("op0", "output0")]


def test_shape_text() -> None:
    assert shape_text((1, 49, 40, 1)) == "1x49x40x1"
    assert shape_text(()) == "scalar"
    assert shape_text(None) == "?"


def test_missing_subgraph_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="subgraph 3 does not exist: the model has 1"):
        operator_graph(build_runnable_model(), 3)


def _layers(graph: OperatorGraph) -> dict[str, float]:
    return {k: box[1] for k, box in layered_layout(graph).boxes.items()}


def test_layers_follow_the_longest_path() -> None:
    graph = operator_graph(_residual())
    top = _layers(graph)
    row = sorted(set(top.values()))
    assert [row.index(top[k]) for k in ("input0", "op0", "op1", "op2", "output0", "output1")] \
        == [0, 1, 2, 3, 4, 2]


def test_a_long_edge_bends_through_each_layer_it_crosses() -> None:
    graph = operator_graph(_residual())
    lay = layered_layout(graph)
    routes = {(e.source, e.target): points for e, points in lay.routes}
    assert len(routes[("input0", "op2")]) == 4  # start, a point in layers 1 and 2, end
    assert len(routes[("op0", "op1")]) == 2
    for (source, target), points in routes.items():
        sx, sy, _, sh = lay.boxes[source]
        tx, ty, tw, _ = lay.boxes[target]
        assert points[0] == (sx, sy + sh)  # leaves from the bottom middle
        assert points[-1][1] == ty and tx - tw / 2 < points[-1][0] < tx + tw / 2  # enters top
    # the skipping edge passes beside the boxes it skips, not through them
    for x, _ in routes[("input0", "op2")][1:-1]:
        for k in ("op0", "op1"):
            bx, _, bw, _ = lay.boxes[k]
            assert not bx - bw / 2 <= x <= bx + bw / 2


def test_boxes_of_a_layer_do_not_overlap_and_a_chain_is_straight() -> None:
    lay = layered_layout(operator_graph(build_runnable_model()))
    assert len({round(box[0], 6) for box in lay.boxes.values()}) == 1
    lay = layered_layout(operator_graph(_crossed()))
    by_row: dict[float, list[tuple[float, float, float, float]]] = {}
    for box in lay.boxes.values():
        by_row.setdefault(box[1], []).append(box)
    for boxes in by_row.values():
        boxes.sort()
        for (x0, _, w0, _), (x1, _, w1, _) in pairwise(boxes):
            assert x0 + w0 / 2 < x1 - w1 / 2
    assert all(x - w / 2 >= 0 and x + w / 2 <= lay.width for x, _, w, _ in lay.boxes.values())


def test_ordering_removes_a_crossing() -> None:
    lay = layered_layout(operator_graph(_crossed()))
    x = {k: box[0] for k, box in lay.boxes.items()}
    # p is left of q; the operator reading q (op0) moves right of the one reading p (op1)
    assert x["input0"] < x["input1"]
    assert x["op1"] < x["op0"]


def test_builtin_svg_is_well_formed_and_shows_every_node_and_edge() -> None:
    graph = operator_graph(_residual())
    text = layered_svg(graph)
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    nodes = root.findall(f".//{SVG}g[@class]")
    assert sum(1 for g in nodes if g.get("class", "").startswith("node")) == len(graph.nodes)
    assert sum(1 for g in nodes if g.get("class") == "edge") == len(graph.edges)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for label in ("RELU", "LOGISTIC", "ADD", "x", "y", "a", "1x4 float32"):
        assert label in texts
    assert "href=\"http" not in text and "src=" not in text
    # the tensor x feeds two operators but is labelled once; a feeds LOGISTIC and an output
    assert texts.count("1x4") == len({(e.source, e.tensor) for e in graph.edges})


def test_names_are_escaped() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor('in<&>"put', (2,), "float32"))
    y = Tensor("out\\put", (2,), "float32")
    g.add_operator(Op.RELU, [x], [y])
    g.add_output(y)
    graph = operator_graph(m)
    root = ET.fromstring(layered_svg(graph))  # parses: <, & and quotes are escaped
    assert 'in<&>"put' in [t.text for t in root.iter(f"{SVG}text")]
    dot = graph.to_dot()
    assert 'label="in<&>\\"put\\n2 float32"' in dot
    assert 'label="out\\\\put\\n2 float32"' in dot


def test_an_empty_subgraph_still_draws() -> None:
    m = Model()
    m.add_subgraph()
    ET.fromstring(graph_svg(operator_graph(m), "builtin"))


def test_to_dot() -> None:
    dot = operator_graph(build_runnable_model()).to_dot()
    assert dot.startswith("digraph model {")
    assert '  op0 [label="CONV_2D\\n1x4x4x3 int8", tooltip="CONV_2D"];' in dot
    assert '  op0 -> op1 [label=" 1x4x4x3", tooltip="conv/y"];' in dot
    assert dot.count("->") == 5


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = operator_graph(build_runnable_model())
    with pytest.raises(UsageError, match="unknown graph engine 'neato'"):
        graph_svg(graph, "neato")  # type: ignore[arg-type]
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not graphviz_available()
    assert graph_svg(graph) == layered_svg(graph)  # auto without dot: the builtin layout
    with pytest.raises(TFLiteKitError, match="Graphviz's 'dot' is not on the PATH"):
        graph_svg(graph, "graphviz")


def test_a_failing_dot_is_a_tflitekit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/bin/false")
    with pytest.raises(TFLiteKitError, match=r"dot failed \(exit 1\)"):
        graph_svg(operator_graph(build_runnable_model()), "graphviz")


@pytest.mark.skipif(not graphviz_available(), reason="needs Graphviz's dot (apt-get install "
                                                     "graphviz)")
def test_graphviz_svg() -> None:
    graph = operator_graph(_residual())
    text = graph_svg(graph, "graphviz")
    assert text.startswith("<svg")
    root = ET.fromstring(text)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert {"op0", "op1", "op2", "input0", "output0", "output1"} <= set(titles)
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"RELU", "LOGISTIC", "ADD", " 1x4"} <= texts


def test_graph_edge_is_a_value() -> None:
    e = GraphEdge("op0", "op1", "t", (1, 2), "int8")
    assert e.label == "1x2"
    assert e.to_json() == {"source": "op0", "target": "op1", "tensor": "t", "shape": [1, 2],
                           "dtype": "int8"}

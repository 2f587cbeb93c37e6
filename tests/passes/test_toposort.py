"""topological_sort: stable, and a cycle is an error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tflitekit import Model, Quantization, Tensor
from tflitekit.options import BuiltinOperator
from tflitekit.passes import PassError, topological_sort
from tflitekit.passes.toposort import TopologicalSort
from tflitekit.testing import assert_same_outputs


def _names(model: Model) -> list[str]:
    return [op.outputs[0].name or "" for op in model.main.operators]


def test_sorted_model_is_left_alone(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    before = model.to_bytes()
    assert not TopologicalSort()(model).modified
    assert model.to_bytes() == before


@pytest.mark.tflm
def test_reversed_model_is_sorted_back(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    data = model.to_bytes()
    g = model.main
    g.operators[:] = list(reversed(g.operators))
    assert model.check()
    result = TopologicalSort()(model, check=False)
    assert result.changes == ["subgraph 0: reordered 4 operators"]
    assert model.check() == []
    assert _names(model) == ["conv/y", "flat", "fc/y", "y"]
    assert_same_outputs(data, model)


def test_independent_branches_keep_their_relative_order(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    g = model.main
    x = g.inputs[0]
    q = Quantization(0.05, -3)
    a1, a2, b1 = (Tensor(n, x.shape, "int8", quantization=q) for n in ("a1", "a2", "b1"))
    g.add_operator(BuiltinOperator.RELU, [a1], [a2], before=g.operators[0])  # reads a1 too early
    g.add_operator(BuiltinOperator.RELU, [x], [b1], before=g.operators[0])
    g.add_operator(BuiltinOperator.RELU, [x], [a1])
    for t in (a2, b1):
        g.add_output(t)
    topological_sort(model)
    assert _names(model) == ["b1", "conv/y", "flat", "fc/y", "y", "a1", "a2"]


def test_cycle_is_an_error(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    g = model.main
    first, last = g.operators[0], g.operators[-1]
    first.set_input(0, last.outputs[0])
    with pytest.raises(PassError, match="has a cycle through Operator\\(CONV_2D"):
        TopologicalSort()(model, check=False)

"""prune: golden tests on builder-made models, and outputs unchanged in TFLite Micro."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tflitekit import Buffer, Model, Operator, OperatorCode, Quantization, Tensor
from tflitekit.options import BuiltinOperator, SoftmaxOptions
from tflitekit.passes import prune
from tflitekit.passes.prune import Prune
from tflitekit.testing import assert_same_outputs


def _with_dead_parts(model: Model) -> Model:
    """Add to the runnable model a dead chain, an unused tensor, buffer and operator code, and a
    stale metadata_buffer entry."""
    g = model.main
    x = g.inputs[0]
    dead1 = Tensor("dead/relu", x.shape, "int8", quantization=Quantization(0.05, -3))
    dead2 = Tensor("dead/softmax", x.shape, "int8", quantization=Quantization(1 / 256, -128))
    g.add_operator(BuiltinOperator.RELU, [x], [dead1])
    g.add_operator(BuiltinOperator.SOFTMAX, [dead1], [dead2], SoftmaxOptions(beta=1.0))
    g.add_tensor(Tensor.constant("unused/const", np.arange(7, dtype=np.int8)))
    orphan = Buffer(b"orphan")
    model.buffers.append(orphan)
    model.metadata_buffer = [orphan]
    model.operator_codes.append(OperatorCode(BuiltinOperator.TANH))
    return model


def test_prune_removes_exactly_the_dead_parts(runnable_model: Callable[[], Model]) -> None:
    original = runnable_model()
    model = _with_dead_parts(runnable_model())
    result = Prune()(model)
    assert result.changes == [
        "subgraph 0: removed dead operator RELU (outputs 'dead/relu')",
        "subgraph 0: removed dead operator SOFTMAX (outputs 'dead/softmax')",
        "subgraph 0: removed 3 unused tensors ('dead/relu', 'dead/softmax', 'unused/const')",
        "removed 1 unused operator codes (TANH)",
        "removed 1 metadata_buffer entries that point at buffers no tensor or metadata entry "
        "uses",
        "removed 1 unused buffers (6 bytes)",
    ]
    assert [op.opcode.name for op in model.main.operators] == [
        "CONV_2D", "RESHAPE", "FULLY_CONNECTED", "ADD"]
    assert [t.name for t in model.main.tensors] == [t.name for t in original.main.tensors]
    assert model.operator_codes == [] and model.buffers == [] and model.metadata_buffer is None
    assert model.to_bytes() == original.to_bytes()


@pytest.mark.tflm
def test_prune_keeps_outputs_bit_identical(runnable_model: Callable[[], Model]) -> None:
    model = _with_dead_parts(runnable_model())
    data = model.to_bytes()
    pruned = prune(model).to_bytes()
    assert len(pruned) < len(data)
    assert_same_outputs(data, pruned, seeds=(0, 1))


def test_prune_keeps_operators_with_side_effects(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    g = model.main
    custom_out = Tensor("custom/out", (1, 5), "int8")
    g.add_operator(Operator("MyCustom", [g.outputs[0]], [custom_out]))
    state = Tensor("state", (1, 5), "int8", is_variable=True)
    stateful_out = Tensor("stateful/out", (1, 5), "int8")
    g.add_operator(BuiltinOperator.ADD, [g.outputs[0], state], [stateful_out])
    assert not Prune()(model).modified
    assert len(g.operators) == 6


def test_prune_on_the_tiny_model(tiny_model: Callable[[], Model]) -> None:
    model = tiny_model()
    result = Prune()(model)
    assert result.changes == [
        "subgraph 1: removed 8 unused tensors ('init/sparse', 'init/variant', None, "
        "'init/empty_q', 'init/empty_buffer', ...)",
        "removed 1 metadata_buffer entries that point at buffers no tensor or metadata entry "
        "uses",
        "removed 1 unused buffers (13 bytes)",
    ]
    assert not Prune()(model).modified  # idempotent


def test_prune_keeps_signature_tensors(runnable_model: Callable[[], Model]) -> None:
    from tflitekit import SignatureDef

    model = runnable_model()
    g = model.main
    extra = g.add_tensor(Tensor("only/in/signature", (1,), "int8"))
    model.signature_defs.append(SignatureDef("sig", g, inputs={"x": g.inputs[0]},
                                             outputs={"y": g.outputs[0], "extra": extra}))
    Prune()(model, check=False)
    assert extra in g.tensors

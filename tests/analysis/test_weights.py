"""analysis.weights: constant operands as real values, their roles and channel axes."""

from __future__ import annotations

import numpy as np
import pytest

from tflitekit import FormatError, Model, Quantization, Tensor
from tflitekit.analysis.weights import weights
from tflitekit.errors import UsageError
from tflitekit.options import BuiltinOperator as Op
from tflitekit.options import DepthwiseConv2DOptions, Padding
from tflitekit.testing import build_runnable_model


def test_roles_schemes_and_axes_of_the_runnable_model() -> None:
    found = weights(build_runnable_model())
    # RESHAPE's new shape is an index operand: not a weight
    assert [(t.name, t.operator, t.opcode, t.role, t.shape, t.dtype, t.quantization,
             t.channel_axis) for t in found.tensors] == [
        ("conv/w", 0, "CONV_2D", "weights", (3, 2, 2, 2), "int8", "per-channel", 0),
        ("conv/b", 0, "CONV_2D", "bias", (3,), "int32", "per-channel", 0),
        ("fc/w", 2, "FULLY_CONNECTED", "weights", (5, 48), "int8", "per-tensor", 0),
        ("fc/b", 2, "FULLY_CONNECTED", "bias", (5,), "int32", "per-tensor", None),
        ("add/c", 3, "ADD", "constant", (1, 5), "int8", "per-tensor", None)]
    assert [t.name for t in found.of_role("weights")] == ["conv/w", "fc/w"]
    assert [t.name for t in found.of_role("bias", "constant")] == ["conv/b", "fc/b", "add/c"]


def test_values_are_dequantized_per_tensor_and_per_channel() -> None:
    model = build_runnable_model()
    g = model.main
    by_name = {t.name: t for t in weights(model).tensors}
    conv_w = g.tensor("conv/w").data
    assert conv_w is not None
    scales = np.array([0.02, 0.011, 0.031], np.float32).astype(np.float64)
    np.testing.assert_array_equal(by_name["conv/w"].values,
                                  conv_w.astype(np.float64) * scales[:, None, None, None])
    add_c = g.tensor("add/c").data
    assert add_c is not None
    expected = np.float64(np.float32(0.1)) * (add_c.astype(np.float64) - 1)
    np.testing.assert_array_equal(by_name["add/c"].values, expected)
    assert by_name["add/c"].values.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        by_name["add/c"].values[0, 0] = 0.0


def test_channels_follow_the_channel_axis() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 5, 5, 4), "float32"))
    w = Tensor.constant("dw", np.arange(36, dtype=np.float32).reshape(1, 3, 3, 4))
    b = Tensor.constant("b", np.zeros(4, np.float32))
    y = Tensor("y", (1, 3, 3, 4), "float32")
    g.add_operator(Op.DEPTHWISE_CONV_2D, [x, w, b], [y],
                   DepthwiseConv2DOptions(padding=Padding.VALID, stride_w=1, stride_h=1,
                                          depth_multiplier=1))
    z = Tensor("z", (1, 3, 3, 4), "float32")
    g.add_operator(Op.ADD, [y, b], [z])  # b read again: listed once, by its first reader
    g.add_output(z)
    found = weights(m)
    assert [(t.name, t.role, t.channel_axis, t.quantization) for t in found.tensors] == [
        ("dw", "weights", 3, "none"), ("b", "bias", None, "none")]
    dw = found.tensors[0]
    assert dw.channels.shape == (4, 9)
    np.testing.assert_array_equal(dw.channels[1], np.arange(1, 36, 4))
    assert found.tensors[1].channels.shape == (1, 4)


def test_a_per_channel_scale_that_does_not_fit_is_a_format_error() -> None:
    """Three scales for a dimension of 1 (or 2): no real values to show, and the error says
    which tensor (raw integers shown as reals would mislead)."""
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 2), "int8", quantization=Quantization(1.0, 0)))
    c = Tensor.constant("c", np.array([[3, -4]], np.int8),
                        quantization=Quantization([0.5, 0.25, 2.0], [0, 0, 0]))
    y = Tensor("y", (1, 2), "int8", quantization=Quantization(1.0, 0))
    g.add_operator(Op.ADD, [x, c], [y])
    g.add_output(y)
    with pytest.raises(FormatError, match="tensor 'c' has 3 per-channel scales"):
        weights(m)


def test_to_json() -> None:
    found = weights(build_runnable_model()).to_json()
    fc_b = found["tensors"][3]
    data = build_runnable_model().main.tensor("fc/b").data
    assert data is not None
    real = data.astype(np.float64) * np.float64(np.float32(0.04 * 0.01))
    assert fc_b == {"name": "fc/b", "operator": 2, "opcode": "FULLY_CONNECTED", "role": "bias",
                    "shape": [5], "dtype": "int32", "quantization": "per-tensor",
                    "channel_axis": None, "count": 5, "min": real.min(), "max": real.max(),
                    "mean": real.mean(), "std": real.std()}


def test_missing_subgraph() -> None:
    with pytest.raises(UsageError, match="subgraph 1 does not exist"):
        weights(build_runnable_model(), 1)

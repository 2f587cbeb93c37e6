"""Int8 TFLite layers lowered to the XS3 kernels: the same program on both engines, within one
step of TFLite (our interpreter, bit-exact with TFLite Micro), and clear refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tflitekit import Interpreter, load
from tflitekit.errors import UnsupportedOperatorError
from tflitekit.ir import Model, Quantization, Tensor
from tflitekit.options import (
    ActivationFunctionType,
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Padding,
)
from tflitekit.testing import single_op
from tflitekit.xs3 import VPU, BatchVPU, Memory, lower

RELU = ActivationFunctionType.RELU


def _model(opcode: BuiltinOperator, w: np.ndarray, x_shape: tuple[int, ...],
           y_shape: tuple[int, ...], options: Any, *, z_out: int = 5) -> Model:
    rng = np.random.default_rng(w.size)
    axis = 3 if opcode == BuiltinOperator.DEPTHWISE_CONV_2D else 0
    cout = w.shape[axis]
    s_w = rng.uniform(0.004, 0.02, cout).astype(np.float32)
    x = Tensor("x", x_shape, "int8", quantization=Quantization(0.05, -7))
    wt = Tensor.constant("w", w, quantization=Quantization(s_w, np.zeros(cout, np.int64),
                                                           quantized_dimension=axis))
    b = Tensor.constant("b", rng.integers(-3000, 3000, cout).astype(np.int32),
                        quantization=Quantization((0.05 * s_w).astype(np.float32),
                                                  np.zeros(cout, np.int64)))
    y = Tensor("y", y_shape, "int8", quantization=Quantization(0.6, z_out))
    return single_op(opcode, [x, wt, b], [y], options)


def _weights(shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(len(shape))
    return np.clip(np.rint(rng.normal(0, 40, shape)), -127, 127).astype(np.int8)


CASES = {
    "conv": (BuiltinOperator.CONV_2D, _weights((20, 3, 3, 3)), (1, 7, 6, 3), (1, 4, 3, 20),
             Conv2DOptions(padding=Padding.SAME, stride_h=2, stride_w=2)),
    "depthwise": (BuiltinOperator.DEPTHWISE_CONV_2D, _weights((1, 3, 3, 8)), (1, 5, 5, 4),
                  (1, 3, 3, 8), DepthwiseConv2DOptions(padding=Padding.VALID, stride_h=1,
                                                       stride_w=1, depth_multiplier=2)),
    "fully_connected": (BuiltinOperator.FULLY_CONNECTED, _weights((10, 48)), (1, 48), (1, 10),
                        FullyConnectedOptions()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lowered_layer_is_within_one_step_of_tflite(case: str) -> None:
    opcode, w, x_shape, y_shape, options = CASES[case]
    model = _model(opcode, w, x_shape, y_shape, options)
    x = np.random.default_rng(3).integers(-128, 128, (40, *x_shape[1:]), dtype=np.int8)
    (want,) = Interpreter(model).run([x])
    layer = lower(model.main.operators[0])
    got = layer.run(BatchVPU(Memory(len(x))), x)
    assert got.shape == want.shape
    diff = np.abs(got.astype(np.int32) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.05
    one = VPU(Memory(1))
    np.testing.assert_array_equal(layer.run(one, x[:1]), got[:1])
    assert layer.macs == int(np.prod(y_shape)) * (w.size // w.shape[3 if case == "depthwise"
                                                                    else 0])


def test_relu_is_exact_only_where_it_clamps_nothing() -> None:
    opcode, w, x_shape, y_shape, _ = CASES["fully_connected"]
    opts = FullyConnectedOptions(fused_activation_function=RELU)
    lower(_model(opcode, w, x_shape, y_shape, opts, z_out=-128).main.operators[0])
    with pytest.raises(UnsupportedOperatorError, match=r"RELU clamps to \[5, 127\]"):
        lower(_model(opcode, w, x_shape, y_shape, opts).main.operators[0])


def test_refusals_say_why() -> None:
    def f32(name: str) -> Tensor:
        return Tensor(name, (1, 4), "float32")

    w = Tensor.constant("w", np.ones((4, 4), np.float32))
    fc = single_op(BuiltinOperator.FULLY_CONNECTED, [f32("x"), w, None], [f32("y")],
                   FullyConnectedOptions())
    with pytest.raises(UnsupportedOperatorError, match="input must be int8"):
        lower(fc.main.operators[0])
    add = single_op(BuiltinOperator.ADD, [f32("x"), f32("z")], [f32("y")])
    with pytest.raises(UnsupportedOperatorError, match="only CONV_2D"):
        lower(add.main.operators[0])


@pytest.mark.corpus
def test_micro_speech_layers_on_xs3(corpus_paths: list[Path]) -> None:
    """micro_speech's CONV_2D and FULLY_CONNECTED on the XS3 kernels against TFLite's
    intermediate tensors: each output within one step."""
    path = next(p for p in corpus_paths if p.name == "tflite_micro_speech.tflite")
    model = load(path)
    x = np.random.default_rng(0).integers(-128, 128, (20, 1, 49, 40, 1), dtype=np.int8)
    interpreter = Interpreter(model)
    interpreter.run([x], keep=True)
    conv_op, _, fc_op = model.main.operators[:3]
    for op in (conv_op, fc_op):
        layer = lower(op)
        inputs = op.inputs[0]
        assert inputs is not None
        got = layer.run(BatchVPU(Memory(20)), interpreter.tensor(inputs))
        want = interpreter.tensor(op.outputs[0])
        assert np.abs(got.astype(np.int32) - want.reshape(got.shape)).max() <= 1

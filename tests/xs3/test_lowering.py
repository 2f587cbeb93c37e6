"""Int8 TFLite layers lowered to the XS3 kernels: the same program on both engines and the fast
path, within one step of TFLite (our interpreter, bit-exact with TFLite Micro); refusals."""

from __future__ import annotations

import copy
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
    Pool2DOptions,
)
from tflitekit.testing import single_op
from tflitekit.xs3 import VPU, BatchVPU, Lowered, Memory, lower
from tflitekit.xs3.output_transform import OutputTransform


def _model(opcode: BuiltinOperator, w: np.ndarray, x_shape: tuple[int, ...],
           y_shape: tuple[int, ...], options: Any, *, z_out: int = 5) -> Model:
    rng = np.random.default_rng(w.size)
    axis = 3 if opcode == BuiltinOperator.DEPTHWISE_CONV_2D else 0
    cout = w.shape[axis]
    s_w = np.asarray(rng.uniform(0.004, 0.02, cout), np.float32)
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


def _engines_agree(layer: Lowered, x: np.ndarray) -> np.ndarray:
    """The fast path, bit-identical to the program on BatchVPU, and the first sample on the
    instruction-level VPU; returns the outputs."""
    fast: np.ndarray = layer.compute(x)
    program = layer.run(BatchVPU(Memory(len(x))), x)
    np.testing.assert_array_equal(fast, program)
    np.testing.assert_array_equal(layer.run(VPU(Memory(1)), x[:1]), program[:1])
    return fast


@pytest.mark.parametrize("case", sorted(CASES))
def test_lowered_layer_is_within_one_step_of_tflite(case: str) -> None:
    opcode, w, x_shape, y_shape, options = CASES[case]
    model = _model(opcode, w, x_shape, y_shape, options)
    x = np.random.default_rng(3).integers(-128, 128, (40, *x_shape[1:]), dtype=np.int8)
    (want,) = Interpreter(model).run([x])
    layer = lower(model.main.operators[0])
    got = _engines_agree(layer, x)
    assert got.shape == want.shape
    diff = np.abs(got.astype(np.int32) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.05
    assert layer.macs == int(np.prod(y_shape)) * (w.size // w.shape[3 if case == "depthwise"
                                                                    else 0])


@pytest.mark.parametrize("zero", [-128, -20, 50])
@pytest.mark.parametrize("activation", ["RELU", "RELU6", "RELU_N1_TO_1"])
@pytest.mark.parametrize("case", ["conv", "fully_connected"])
def test_fused_activation_clamps_exactly(case: str, activation: str, zero: int) -> None:
    """The clamp stage (int16, before VDEPTH8) gives TFLite's clamped range: outputs stay in
    it, each within one step of TFLite's; the bounds far from the int16 rails (lo = 50, or
    hi < 0) take the two-part steps."""
    opcode, w, x_shape, y_shape, options = CASES[case]
    opts: Any = copy.copy(options)
    opts.fused_activation_function = ActivationFunctionType[activation]
    model = _model(opcode, w, x_shape, y_shape, opts, z_out=zero)
    x = np.random.default_rng(4).integers(-128, 128, (60, *x_shape[1:]), dtype=np.int8)
    (want,) = Interpreter(model).run([x])
    layer = lower(model.main.operators[0])
    lo, hi = layer.clamp
    if (lo, hi) == (-128, 127):  # RELU at zero point -128
        return
    got = _engines_agree(layer, x)
    assert got.min() >= lo and got.max() <= hi
    assert np.abs(got.astype(np.int32) - want).max() <= 1
    assert ((want == lo) | (want == hi)).any()


def _pool(kernel: tuple[int, int], stride: tuple[int, int], padding: Padding,
          x_shape: tuple[int, ...], y_shape: tuple[int, ...], zero: int) -> Model:
    q = Quantization(0.1, zero)
    return single_op(BuiltinOperator.AVERAGE_POOL_2D,
                     [Tensor("x", x_shape, "int8", quantization=q)],
                     [Tensor("y", y_shape, "int8", quantization=q)],
                     Pool2DOptions(padding=padding, stride_h=stride[0], stride_w=stride[1],
                                   filter_height=kernel[0], filter_width=kernel[1]))


@pytest.mark.parametrize("zero", [-128, 0, 30])
def test_average_pool_matches_tflite_but_for_ties(zero: int) -> None:
    """An odd window: every output equal to TFLite's. A 2x2 window: equal but for the ties
    (sum ≡ 2 mod 4) whose sign is not the one the zero point predicts, which differ by one."""
    rng = np.random.default_rng(zero + 200)
    odd = _pool((3, 3), (3, 3), Padding.VALID, (1, 7, 6, 5), (1, 2, 2, 5), zero)
    x = rng.integers(-128, 128, (50, 7, 6, 5), dtype=np.int8)
    got = _engines_agree(lower(odd.main.operators[0]), x)
    np.testing.assert_array_equal(got, Interpreter(odd).run([x])[0])
    even = _pool((2, 2), (2, 2), Padding.SAME, (1, 6, 4, 17), (1, 3, 2, 17), zero)
    x = np.clip(rng.normal(zero, 40, (50, 6, 4, 17)).round(), -128, 127).astype(np.int8)
    got = _engines_agree(lower(even.main.operators[0]), x)
    (want,) = Interpreter(even).run([x])
    sums = x.astype(np.int64).reshape(50, 3, 2, 2, 2, 17).sum(axis=(2, 4))
    wrong_tie = (sums % 4 == 2) & ((sums < 0) != (zero < 0))
    np.testing.assert_array_equal(got != want, wrong_tie)
    assert np.abs(got.astype(np.int32) - want).max() <= 1


def test_average_pool_refuses_partial_windows() -> None:
    model = _pool((3, 3), (2, 2), Padding.SAME, (1, 6, 6, 4), (1, 3, 3, 4), 0)
    with pytest.raises(UnsupportedOperatorError, match="SAME padding puts taps"):
        lower(model.main.operators[0])


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


@pytest.mark.parametrize("seed", range(6))
def test_compiled_transform_equals_apply(seed: int) -> None:
    """The fast path's compiled transform (start, clamp, bound, repeated rows; integer or float
    sums) gives apply's outputs of ``sums + start``, clamped."""
    rng = np.random.default_rng(seed)
    channels, rows = int(rng.integers(1, 20)), int(rng.integers(1, 6))
    grouped = seed % 2 == 0
    initial = int(rng.integers(-16, 20)) if grouped else rng.integers(0, 20, channels)
    t = OutputTransform(initial, rng.integers(-32768, 32768, channels),
                        rng.integers(-32768, 32768, channels), int(rng.integers(-12, 12)))
    start = rng.integers(-2**20, 2**20, channels)
    sums = rng.integers(-2**22, 2**22, (7, rows, channels))
    bound = int(np.abs(sums + start).max())
    low, high = sorted(int(v) for v in rng.integers(-128, 128, 2))
    want = np.clip(t.apply(sums + start), low, high)
    for kind in (np.int32, np.float32, np.float64):
        got = t.compiled(start, (low, high), bound, rows)(sums.astype(kind))
        np.testing.assert_array_equal(got, want)

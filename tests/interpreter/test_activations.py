"""RELU, RELU6, LEAKY_RELU, HARD_SWISH: scalar transcriptions, TFLite Micro, batching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _harness import assert_batch_equals_single_runs, assert_matches, random_int, run, single_op
from _scalar import f32, mbqm, quantize_multiplier, rdbpot, round_away, srdhm, wrap

from tflitekit import Interpreter, Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.options import BuiltinOperator, LeakyReluOptions

B = BuiltinOperator
SHAPE = (1, 5, 7, 3)
RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}

# (input scale, input zero point, output scale, output zero point); int16 cases use zero points 0
INT8_PARAMS = [(0.05, -3, 0.05, -3), (0.1, 10, 0.03, -128), (0.02, -128, 0.25, 5),
               (1.7, 0, 0.0123, 17), (0.0039, 127, 0.5, -100)]
INT16_PARAMS = [(1e-3, 0, 1e-3, 0), (3e-4, 0, 1e-4, 0), (0.01, 0, 0.07, 0), (2.0, 0, 0.001, 0)]
PARAMS = [("int8", p) for p in INT8_PARAMS] + [("int16", p) for p in INT16_PARAMS]
ALPHAS = [0.2, 0.01, 1.5, -0.3, 0.0]


def model(opcode: B, dtype: str, params: tuple[float, int, float, int] | None,
          options: Any = None, shape: tuple[int, ...] = SHAPE) -> Model:
    if params is None:
        x, y = Tensor("x", shape, dtype), Tensor("y", shape, dtype)
    else:
        s_in, z_in, s_out, z_out = params
        x = Tensor("x", shape, dtype, quantization=Quantization(s_in, z_in))
        y = Tensor("y", shape, dtype, quantization=Quantization(s_out, z_out))
    return single_op(opcode, [x], [y], options)


def each(x: np.ndarray, function: Any) -> np.ndarray:
    """``function`` of every element, one at a time."""
    return np.array([function(int(v)) for v in x.reshape(-1)], x.dtype).reshape(x.shape)


# ------------------------------------------------------------------------------------------------
# Scalar transcriptions
# ------------------------------------------------------------------------------------------------


def relu_scalar(dtype: str, params: tuple[float, int, float, int], single: bool) -> Any:
    s_in, z_in, s_out, z_out = (f32(params[0]), params[1], f32(params[2]), params[3])
    multiplier, shift = quantize_multiplier(f32(s_in / s_out), single)
    low, high = max(RANGE[dtype][0], z_out), RANGE[dtype][1]
    return lambda v: min(max(z_out + mbqm(v - z_in, multiplier, shift, single), low), high)


def relu6_scalar(dtype: str, params: tuple[float, int, float, int]) -> Any:
    s_in, z_in = f32(params[0]), params[1]
    qmin, qmax = RANGE[dtype]
    six = min(max(round_away(f32(6 / s_in)) + z_in, qmin), qmax)
    return lambda v: six if v > six else z_in if v < z_in else v


def leaky_scalar(dtype: str, params: tuple[float, int, float, int], alpha: float,
                 single: bool) -> Any:
    s_in, z_in, s_out, z_out = (f32(params[0]), params[1], f32(params[2]), params[3])
    identity = quantize_multiplier(f32(s_in / s_out), single)
    m_alpha, shift_alpha = quantize_multiplier(f32(f32(s_in * f32(alpha)) / s_out), single)
    qmin, qmax = RANGE[dtype]

    def leaky(v: int) -> int:
        centered = v - z_in
        if centered >= 0:
            out = z_out + mbqm(centered, *identity, single)
        else:
            scaled = mbqm(centered, abs(m_alpha), shift_alpha, single)
            out = z_out + (-scaled if m_alpha < 0 else scaled)
        return min(max(out, qmin), qmax)
    return leaky


def int16_multiplier(real: float) -> tuple[int, int]:
    fixed, exponent = quantize_multiplier(real)
    return (32767 if fixed >= 2**31 - 1 - 2**15 else (fixed + 2**15) >> 16), exponent


def hard_swish_scalar(params: tuple[float, int, float, int]) -> Any:
    """reference_ops::HardSwish<int8_t>, one value at a time in 16-bit arithmetic."""
    s_in, z_in, s_out, z_out = (f32(params[0]), params[1], f32(params[2]), params[3])
    hires_scale = f32(f32(1 / 128) * s_in)
    out_m, out_e = int16_multiplier(f32(hires_scale / s_out))
    relu_m, relu_e = int16_multiplier(f32(hires_scale / f32(3 / 32768)))

    def shift_left(v: int, amount: int) -> int:
        return min(max(v * (1 << amount), -32768), 32767)

    def hard_swish(v: int) -> int:
        hires = wrap(wrap(v - z_in, 16) * 128, 16)
        preshift_out = srdhm(hires, out_m, 16)
        reluish = hires
        if relu_e > 0:
            reluish = shift_left(reluish, relu_e - 1)
        reluish = srdhm(reluish, relu_m, 16)
        if relu_e > 0:
            reluish = shift_left(reluish, 1)
        if relu_e < 0:
            reluish = rdbpot(reluish, -relu_e, 16)
        reluish = (reluish + 32768) >> 1
        product = reluish * preshift_out
        preshift = wrap(abs(product) // 32768 * (1 if product >= 0 else -1), 16)
        out = wrap(rdbpot(preshift, -out_e, 16) + z_out, 16)
        return min(max(out, -128), 127)
    return hard_swish


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize(("dtype", "params"), PARAMS)
def test_relu_matches_the_transcription(dtype: str, params: Any, rounding: str) -> None:
    x = random_int(np.random.default_rng(1), SHAPE, dtype)
    got = run(model(B.RELU, dtype, params), [x], rounding=rounding)[0]
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, each(x, relu_scalar(dtype, params, rounding == "single")))


@pytest.mark.parametrize(("dtype", "params"), PARAMS)
def test_relu6_matches_the_transcription(dtype: str, params: Any) -> None:
    x = random_int(np.random.default_rng(2), SHAPE, dtype)
    got = run(model(B.RELU6, dtype, params), [x])[0]
    np.testing.assert_array_equal(got, each(x, relu6_scalar(dtype, params)))


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize(("dtype", "params"), PARAMS)
def test_leaky_relu_matches_the_transcription(dtype: str, params: Any, alpha: float,
                                              rounding: str) -> None:
    x = random_int(np.random.default_rng(3), SHAPE, dtype)
    m = model(B.LEAKY_RELU, dtype, params, LeakyReluOptions(alpha=alpha))
    got = run(m, [x], rounding=rounding)[0]
    expected = each(x, leaky_scalar(dtype, params, alpha, rounding == "single"))
    np.testing.assert_array_equal(got, expected)


# the output scale must exceed the input scale / 128 (TFLite Micro refuses the others)
HARD_SWISH_PARAMS = [p for p in INT8_PARAMS if p[0] / 128 < p[2]] + [
    (0.3, 2, 0.003, -128), (1e-4, 0, 2e-5, 3), (20.0, -5, 0.2, 0), (0.02, 0, 2e-4, 0),
    (5e-3, 0, 10.0, 0), (1e-6, 3, 1e-4, -7),
    (1.7, 0, 0.0133, 17)]


@pytest.mark.parametrize("params", HARD_SWISH_PARAMS)
def test_hard_swish_matches_the_transcription(params: Any) -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    got = run(model(B.HARD_SWISH, "int8", params, shape=(1, 256)), [x])[0]
    np.testing.assert_array_equal(got, each(x, hard_swish_scalar(params)))


def float_scalar(opcode: B, alpha: float) -> Any:
    a = np.float32(alpha)

    def function(v: np.float32) -> np.float32:
        if opcode == B.RELU:
            return np.float32(0) if v < 0 else v
        if opcode == B.RELU6:
            return np.float32(6) if v > 6 else np.float32(0) if v < 0 else v
        if opcode == B.LEAKY_RELU:
            return v if v > 0 else np.float32(v * a)
        clamped = min(np.float32(6), max(np.float32(0), np.float32(v + np.float32(3))))
        return np.float32(np.float32(v * clamped) / np.float32(6))
    return function


FLOAT_VALUES = np.array([-np.inf, -7.0, -3.0, -2.5, -1e-8, -0.0, 0.0, 1e-8, 0.5, 2.999, 3.0,
                         5.9999, 6.0, 6.0001, 100.0, np.inf, np.nan], np.float32)


@pytest.mark.parametrize("opcode", [B.RELU, B.RELU6, B.LEAKY_RELU, B.HARD_SWISH])
def test_float_matches_the_transcription(opcode: B) -> None:
    x = np.concatenate([FLOAT_VALUES, np.random.default_rng(4).normal(0, 5, 47)
                        .astype(np.float32)]).reshape(1, 64)
    options = LeakyReluOptions(alpha=0.3) if opcode == B.LEAKY_RELU else None
    with np.errstate(invalid="ignore"):
        got = run(model(opcode, "float32", None, options, shape=(1, 64)), [x])[0]
        function = float_scalar(opcode, 0.3)
        expected = np.array([function(v) for v in x.reshape(-1)], np.float32).reshape(x.shape)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)  # equal_nan by default
    assert np.array_equal(np.signbit(got), np.signbit(expected))


# ------------------------------------------------------------------------------------------------
# TFLite Micro
# ------------------------------------------------------------------------------------------------


@pytest.mark.tflm
@pytest.mark.parametrize("opcode", [B.RELU, B.RELU6])
@pytest.mark.parametrize(("dtype", "params"), PARAMS)
def test_relu_matches_tflm(opcode: B, dtype: str, params: Any) -> None:
    x = random_int(np.random.default_rng(5), SHAPE, dtype)
    assert_matches(model(opcode, dtype, params), [x])


@pytest.mark.tflm
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize(("dtype", "params"), PARAMS)
def test_leaky_relu_matches_tflm(dtype: str, params: Any, alpha: float) -> None:
    x = random_int(np.random.default_rng(6), SHAPE, dtype)
    assert_matches(model(B.LEAKY_RELU, dtype, params, LeakyReluOptions(alpha=alpha)), [x])


@pytest.mark.tflm
@pytest.mark.parametrize("params", HARD_SWISH_PARAMS)
def test_hard_swish_matches_tflm(params: Any) -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    assert_matches(model(B.HARD_SWISH, "int8", params, shape=(1, 256)), [x])


@pytest.mark.tflm
def test_hard_swish_random_scales_match_tflm() -> None:
    rng = np.random.default_rng(7)
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for _ in range(30):
        s_in, s_out = 10.0 ** rng.uniform(-4, 1.5), 10.0 ** rng.uniform(-5, 0)
        if s_in / 128 / s_out > 1:  # refused: the output scale must be below s_in / 128
            continue
        params = (s_in, int(rng.integers(-128, 128)), s_out, int(rng.integers(-128, 128)))
        assert_matches(model(B.HARD_SWISH, "int8", params, shape=(1, 256)), [x])


@pytest.mark.tflm
@pytest.mark.parametrize("opcode", [B.RELU, B.RELU6, B.LEAKY_RELU, B.HARD_SWISH])
def test_float_matches_tflm(opcode: B) -> None:
    x = np.random.default_rng(8).normal(0, 5, SHAPE).astype(np.float32)
    options = LeakyReluOptions(alpha=0.3) if opcode == B.LEAKY_RELU else None
    assert_matches(model(opcode, "float32", None, options), [x], rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Batching and refusals
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("opcode", "dtype", "params", "options"), [
    (B.RELU, "int8", INT8_PARAMS[1], None),
    (B.RELU6, "int16", INT16_PARAMS[1], None),
    (B.LEAKY_RELU, "int8", INT8_PARAMS[2], LeakyReluOptions(alpha=0.1)),
    (B.HARD_SWISH, "int8", HARD_SWISH_PARAMS[4], None),
    (B.HARD_SWISH, "float32", None, None),
])
def test_a_batch_equals_single_runs(opcode: B, dtype: str, params: Any, options: Any) -> None:
    rng = np.random.default_rng(9)
    batch = (rng.normal(0, 5, (6, *SHAPE[1:])).astype(np.float32) if dtype == "float32"
             else random_int(rng, (6, *SHAPE[1:]), dtype))
    (together,) = assert_batch_equals_single_runs(model(opcode, dtype, params, options), [batch])
    assert together.shape == batch.shape and together.dtype == batch.dtype


@pytest.mark.parametrize(("m", "message"), [
    (model(B.RELU, "int16", (0.1, 1, 0.1, 0)), "zero points of 0"),
    (model(B.HARD_SWISH, "int16", (0.1, 0, 0.1, 0)), "expected one type in and out"),
    (model(B.RELU6, "uint8", (0.1, 0, 0.1, 0)), "expected one type in and out"),
    (model(B.HARD_SWISH, "int8", (1.0, 0, 0.001, 0)), "below the input scale"),
    (model(B.RELU, "int8", None), "not quantized per tensor"),
    (single_op(B.RELU, [Tensor("x", (4,), "int8", quantization=Quantization(0.1, 0))],
               [Tensor("y", (4,), "int16", quantization=Quantization(0.1, 0))]),
     "expected one type in and out"),
    (single_op(B.RELU, [Tensor("x", (4,), "float32")], [Tensor("y", (5,), "float32")]),
     "different numbers of elements"),
], ids=lambda v: "" if isinstance(v, Model) else v)
def test_refusals(m: Model, message: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)

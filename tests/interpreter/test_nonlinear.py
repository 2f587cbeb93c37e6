"""LOGISTIC and TANH: float32, int8 and int16, against scalar transcriptions of TFLite Micro's
prepare and reference kernels (``_scalar`` for the fixed point) and against TFLite Micro."""

from __future__ import annotations

import math

import _scalar as ref
import numpy as np
import pytest
from _harness import assert_batch_equals_single_runs, assert_matches, random_int, run, single_op

from tflitekit import Interpreter, Model, Quantization, Tensor
from tflitekit.errors import UnsupportedOperatorError
from tflitekit.interpreter.kernels.nonlinear import SIGMOID_TABLE
from tflitekit.options import BuiltinOperator as Op

OPS = [Op.LOGISTIC, Op.TANH]


def q(scale: float, zero: int) -> Quantization:
    return Quantization(np.array([scale], np.float32), np.array([zero], np.int64))


def model(op: Op, dtype: str, shape: tuple[int, ...] = (1, 256), in_q: Quantization | None = None,
          out_q: Quantization | None = None) -> Model:
    return single_op(op, [Tensor("x", shape, dtype, quantization=in_q)],
                     [Tensor("y", shape, dtype, quantization=out_q)])


def int8_model(op: Op, scale: float, zero: int, shape: tuple[int, ...] = (1, 256)) -> Model:
    out = q(1 / 256, -128) if op == Op.LOGISTIC else q(1 / 128, 0)
    return model(op, "int8", shape, q(scale, zero), out)


def int16_model(op: Op, scale: float, shape: tuple[int, ...] = (1, 256)) -> Model:
    return model(op, "int16", shape, q(scale, 0), q(2**-15, 0))


# --- scalar transcriptions

def scalar_int8(op: Op, scale: float, zero: int, values: list[int],
                rounding: str = "double") -> list[int]:
    """TFLite Micro's int8 prepare (CalculateArithmeticOpData) and reference_integer_ops
    Logistic / Tanh, one value at a time."""
    real_multiplier = float(np.float32(scale)) * float(1 << (31 - 4))
    mantissa, left_shift = math.frexp(real_multiplier)
    multiplier = ref.round_away(mantissa * (1 << 31))
    radius = ref.calculate_input_radius(4, left_shift, 31)
    out = []
    for v in values:
        x = v - zero
        if x <= -radius:
            out.append(-128)
        elif x >= radius:
            out.append(127)
        else:
            x_q4 = ref.mbqm(x, multiplier, left_shift, rounding == "single")
            if op == Op.LOGISTIC:
                y = ref.rdbpot(ref.logistic(x_q4, 4), 31 - 8)
                out.append(min(max(y - 128, -128), 127))
            else:
                y = ref.rdbpot(ref.tanh(x_q4, 4), 31 - 7)
                out.append(min(max(y, -128), 127))
    return out


def _checked_log2(x: float) -> tuple[int, bool]:
    f = np.float32
    log2 = f(math.log(f(x))) * (f(1) / f(math.log(f(2))))
    rounded = f(ref.c_round(float(log2)))
    return int(rounded), bool(abs(log2 - rounded) < f(1e-3))


def scalar_int16(op: Op, scale: float, values: list[int]) -> list[int]:
    """TFLite Micro's int16 prepare and the sigmoid-table interpolation of
    reference_integer_ops Logistic / Tanh (int16), one value at a time."""
    logistic = op == Op.LOGISTIC
    log2, pot = _checked_log2(scale)
    left_shift = 15 - 3 + log2
    pot = pot and (left_shift == 0 if logistic else left_shift in (0, 1))
    if pot:
        multiplier = 0
    else:
        real = float(np.float32(scale)) * 4096.0 * 3.0
        left_shift = 0
        while real <= 32767.0 / 2.0 and left_shift <= 30:
            left_shift += 1
            real *= 2.0
        multiplier = int(real)
    if multiplier == 0:
        multiplier = 3 << left_shift
        left_shift = 0
    rounding = 1 << (left_shift - 1) if left_shift > 0 else 0
    table = [int(v) for v in SIGMOID_TABLE]
    out = []
    for v in values:
        x = ref.i32((v * multiplier + rounding) >> left_shift)
        magnitude = abs(x)
        if logistic:
            uh = magnitude >> 9
            if uh >= 255:
                result = 0x7FFF << 10
            else:
                ua, ub = table[uh], table[uh + 1]
                result = (ua << 9) + (magnitude & 0x1FF) * (ub - ua)
            result = result + (1 << 9) if x >= 0 else (1 << 25) - result + (1 << 9) - 1
            out.append(ref.i16(result >> 10))
        else:
            uh = magnitude >> 8
            if uh >= 255:
                result = 0xFFFF << 8
            else:
                ua, ub = table[uh], table[uh + 1]
                result = (ua << 8) + (magnitude & 0xFF) * (ub - ua)
            result = (result - (1 << 23) + (1 << 7) if x >= 0
                      else -result + (1 << 23) + (1 << 7) - 1)
            out.append(ref.i16(result >> 8))
    return out


INT8_CASES = [(0.1, 0), (0.05, -20), (1 / 16, 3), (0.003, 100), (0.5, -128), (0.0234, 7),
              (2.0, 0), (1e-5, 1), (16.0, 0), (40.0, -5), (0.0625, 127), (0.17, -77)]
ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("case", INT8_CASES)
def test_int8_matches_scalar(op: Op, case: tuple[float, int]) -> None:
    scale, zero = case
    (y,) = run(int8_model(op, scale, zero), [ALL_INT8])
    assert y.dtype == np.int8 and y.shape == (1, 256)
    assert y.reshape(-1).tolist() == scalar_int8(op, scale, zero, list(range(-128, 128)))


@pytest.mark.parametrize("op", OPS)
def test_int8_single_rounding_matches_scalar(op: Op) -> None:
    for scale, zero in INT8_CASES[:6]:
        (y,) = run(int8_model(op, scale, zero), [ALL_INT8], rounding="single")
        assert y.reshape(-1).tolist() == scalar_int8(op, scale, zero, list(range(-128, 128)),
                                                     "single")


INT16_SCALES = [2**-12, 2**-11, 2**-13, 2**-10, 1 / 3000, 0.001, 0.0007, 1e-6, 0.01, 3e-5]
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 65536)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("scale", INT16_SCALES)
def test_int16_matches_scalar(op: Op, scale: float) -> None:
    (y,) = run(int16_model(op, scale, (1, 65536)), [ALL_INT16])
    assert y.dtype == np.int16
    assert y.reshape(-1).tolist() == scalar_int16(op, scale, list(range(-32768, 32768)))


def test_float_matches_formulas() -> None:
    x = np.concatenate([np.linspace(-20, 20, 401), [16.619047164916992188, 16.62, -9, -9.01,
                                                    0, -0.0, 88, -104, 1e30, -1e30]])
    x = x.astype(np.float32).reshape(1, -1)
    (y,) = run(model(Op.LOGISTIC, "float32", x.shape), [x])
    want = [1.0 if v > 16.619047164916992188 else math.exp(v) if v < -9 else
            1 / (1 + math.exp(-v)) for v in x.reshape(-1).tolist()]
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.reshape(-1), want, rtol=1e-6, atol=1e-45)
    (y,) = run(model(Op.TANH, "float32", x.shape), [x])
    np.testing.assert_allclose(y.reshape(-1), np.tanh(x.astype(np.float64)).reshape(-1),
                               rtol=1e-6, atol=1e-37)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float32", "int8", "int16"])
def test_batched_equals_single(op: Op, dtype: str) -> None:
    rng = np.random.default_rng(1)
    shape = (1, 3, 4, 5)
    if dtype == "float32":
        m = model(op, dtype, shape)
        batch = rng.normal(0, 5, (6, *shape)).astype(np.float32)
    elif dtype == "int8":
        m = int8_model(op, 0.07, -3, shape)
        batch = random_int(rng, (6, *shape), np.int8)
    else:
        m = int16_model(op, 0.0004, shape)
        batch = random_int(rng, (6, *shape), np.int16)
    (together,) = assert_batch_equals_single_runs(m, [batch])
    assert together.shape == batch.shape


def test_output_shape_may_differ_in_layout() -> None:
    m = single_op(Op.TANH, [Tensor("x", (1, 6), "float32")], [Tensor("y", (2, 3), "float32")])
    (y,) = run(m, [np.zeros((1, 6), np.float32)])
    assert y.shape == (2, 3)


def refused(m: Model, why: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=why):
        Interpreter(m)


def test_refusals() -> None:
    refused(model(Op.LOGISTIC, "int8", (1, 4), q(0.1, 0), q(1 / 256, 0)), "zero point -128")
    refused(model(Op.TANH, "int16", (1, 4), q(2**-12, 1), q(2**-15, 0)), "zero points of 0")
    refused(model(Op.LOGISTIC, "int16", (1, 4), q(2**-12, 0), q(2**-14, 0)), "2\\^-15")
    refused(model(Op.TANH, "int16", (1, 4), q(4.0, 0), q(2**-15, 0)), "too large")
    refused(model(Op.TANH, "int8", (1, 4), q(1e-9, 0), q(1 / 128, 0)), "too small")
    refused(model(Op.TANH, "int32", (1, 4), q(0.1, 0), q(0.1, 0)), "expected")
    refused(model(Op.LOGISTIC, "int8", (1, 4)), "without quantization")
    refused(single_op(Op.TANH, [Tensor("x", (1, 4), "int8", quantization=q(0.1, 0))],
                      [Tensor("y", (1, 4), "int16", quantization=q(2**-15, 0))]), "output")
    refused(single_op(Op.TANH, [Tensor("x", (1, 4), "float32")],
                      [Tensor("y", (1, 5), "float32")]), "different numbers of elements")


# --- TFLite Micro

@pytest.mark.tflm
@pytest.mark.parametrize("op", OPS)
def test_int8_matches_tflm(op: Op) -> None:
    rng = np.random.default_rng(2)
    cases = INT8_CASES + [(float(s), int(z)) for s, z in zip(
        np.exp(rng.uniform(-9, 3, 8)), rng.integers(-128, 128, 8), strict=True)]
    for scale, zero in cases:
        m = int8_model(op, scale, zero, (1, 4, 4, 32))
        assert_matches(m, [ALL_INT8.reshape(1, 4, 4, 16).repeat(2, -1)])
        assert_matches(m, [random_int(rng, (1, 4, 4, 32), np.int8)])


@pytest.mark.tflm
@pytest.mark.parametrize("op", OPS)
def test_int16_matches_tflm(op: Op) -> None:
    rng = np.random.default_rng(3)
    scales = INT16_SCALES + [float(s) for s in np.exp(rng.uniform(-14, -3, 6))]
    for scale in scales:
        assert_matches(int16_model(op, scale, (1, 65536)), [ALL_INT16])


@pytest.mark.tflm
@pytest.mark.parametrize("op", OPS)
def test_float_matches_tflm(op: Op) -> None:
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0, 6, 2000), [16.7, -9.5, 0, 30, -30, -100, 100]])
    x = x.astype(np.float32).reshape(1, -1)
    assert_matches(model(op, "float32", x.shape), [x], rtol=1e-5)

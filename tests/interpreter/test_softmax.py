"""SOFTMAX: float32, int8 -> int8, int8 -> int16 and int16 -> int16, against scalar
transcriptions of TFLite Micro's prepare (CalculateSoftmaxParams) and reference kernels, and
against TFLite Micro, over the last axis of rank-2 and rank-4 tensors."""

from __future__ import annotations

import math

import _scalar as ref
import numpy as np
import pytest
from _harness import assert_batch_equals_single_runs, assert_matches, random_int, run, single_op

from tflitekit import Interpreter, Model, Quantization, Tensor
from tflitekit.errors import UnsupportedOperatorError
from tflitekit.interpreter.kernels.softmax import KERNELS
from tflitekit.interpreter.node import describe
from tflitekit.options import BuiltinOperator as Op
from tflitekit.options import SoftmaxOptions


def q(scale: float, zero: int) -> Quantization:
    return Quantization(np.array([scale], np.float32), np.array([zero], np.int64))


OUTPUT_Q = {("int8", "int8"): q(1 / 256, -128), ("int8", "int16"): q(1 / 65536, -32768),
            ("int16", "int16"): q(1 / 32768, 0)}


def softmax(shape: tuple[int, ...], dtype: str = "float32", out: str | None = None,
            scale: float = 0.1, zero: int = 0, beta: float = 1.0) -> Model:
    out = out or dtype
    in_q = None if dtype == "float32" else q(scale, zero)
    out_q = None if dtype == "float32" else OUTPUT_Q[(dtype, out)]
    return single_op(Op.SOFTMAX, [Tensor("x", shape, dtype, quantization=in_q)],
                     [Tensor("y", shape, out, quantization=out_q)], SoftmaxOptions(beta=beta))


# --- scalar transcriptions

def scalar_int8(row: list[int], scale: float, beta: float, out_bits: int,
                rounding: str = "double") -> list[int]:
    """PreprocessSoftmaxScaling, CalculateInputRadius and reference_ops::Softmax (int8 input)
    for one row."""
    single = rounding == "single"
    max_real = (1 << 30) - 1.0 if single else (1 << 31) - 1.0
    real = min(float(np.float32(beta)) * float(np.float32(scale)) * (1 << (31 - 5)), max_real)
    assert real > 1.0
    multiplier, left_shift = ref.quantize_multiplier(real, single)
    assert left_shift >= 0
    diff_min = -ref.calculate_input_radius(5, left_shift)
    out_min, out_max = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    max_in_row = max(row)
    sum_of_exps = 0
    for v in row:
        diff = v - max_in_row
        if diff >= diff_min:
            rescaled = ref.mbqm(diff, multiplier, left_shift, single)
            exp = ref.exp_on_negative_values(rescaled, 5)
            sum_of_exps = ref.i32(sum_of_exps + ref.rescale(exp, 0, 12))
    shifted_scale, num_bits_over_unit = ref.get_reciprocal(sum_of_exps, 12)
    exponent = num_bits_over_unit + 31 - out_bits
    assert 0 <= exponent <= 31
    out = []
    for v in row:
        diff = v - max_in_row
        if diff >= diff_min:
            rescaled = ref.mbqm(diff, multiplier, left_shift, single)
            exp = ref.exp_on_negative_values(rescaled, 5)
            unsat = ref.rdbpot(ref.srdhm(shifted_scale, exp), exponent)
            out.append(max(min(unsat + out_min, out_max), out_min))
        else:
            out.append(out_min)
    return out


_F = np.float32
_EXP_LUT = ref.lut_populate_int16(lambda v: _F(math.exp(float(v))), float(_F(10) / _F(65535)),
                                  32767, float(_F(2) / _F(65535)), 0)
_RECIPROCAL_LUT = ref.lut_populate_int16(lambda v: _F(1) / (_F(1) + v),
                                         float(_F(1) / _F(65535)), -32768,
                                         float(_F(2) / _F(65535)), 0)


def scalar_int16(row: list[int], scale: float, beta: float, rounding: str = "double") -> list[int]:
    """CalculateSoftmaxParams (int16) and reference_ops::SoftmaxInt16 for one row."""
    single = rounding == "single"
    multiplier, shift = ref.quantize_multiplier(
        float(np.float32(scale)) * float(np.float32(beta)) / (10.0 / 65535.0), single)
    max_in_row = max(row)
    exps = []
    for v in row:
        scaled = ref.mbqm(v - max_in_row, multiplier, shift, single)
        exps.append(ref.lut_lookup_int16(min(max(scaled + 32767, -32768), 32767), _EXP_LUT))
    sum_of_exps = sum(exps)
    headroom_plus_one = ref.count_leading_zeros(sum_of_exps)
    shifted_sum = ((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    sym = min(max(shifted_sum - ((1 << 15) + (1 << 16)), -32768), 32767)
    reciprocal = ref.lut_lookup_int16(sym, _RECIPROCAL_LUT)
    right_shift = 31 - headroom_plus_one
    return [min(max((e * reciprocal + (1 << (right_shift - 1))) >> right_shift, 0), 32767)
            for e in exps]


def rows(x: np.ndarray) -> list[list[int]]:
    return [[int(v) for v in r] for r in x.reshape(-1, x.shape[-1])]


SHAPES = [(1, 10), (1, 3, 4, 12)]
INT8_CASES = [(0.1, 0, 1.0), (0.05, -20, 1.0), (1 / 16, 3, 0.5), (0.003, 100, 2.0),
              (0.5, -128, 1.0), (2.0, 0, 1.0), (16.0, 7, 1.0), (0.0234, 7, 0.3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("out", ["int8", "int16"])
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_int8_matches_scalar(shape: tuple[int, ...], out: str, rounding: str) -> None:
    rng = np.random.default_rng(0)
    for scale, zero, beta in INT8_CASES:
        x = random_int(rng, shape, np.int8)
        x.reshape(-1)[:3] = [127, 127, -128]  # ties for the maximum
        (y,) = run(softmax(shape, "int8", out, scale, zero, beta), [x], rounding=rounding)
        assert y.dtype == np.dtype(out) and y.shape == shape
        want = [v for r in rows(x) for v in scalar_int8(r, scale, beta, 8 * y.itemsize,
                                                         rounding)]
        assert y.reshape(-1).tolist() == want, (scale, zero, beta)


INT16_CASES = [(2**-12, 1.0), (1 / 3000, 1.0), (0.001, 0.5), (0.0007, 2.0), (1e-5, 1.0),
               (0.01, 1.0), (0.3, 1.0), (3e-4, 0.25)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_int16_matches_scalar(shape: tuple[int, ...], rounding: str) -> None:
    rng = np.random.default_rng(1)
    for scale, beta in INT16_CASES:
        for x in (random_int(rng, shape, np.int16),
                  rng.integers(-2000, 2000, shape).astype(np.int16)):
            (y,) = run(softmax(shape, "int16", "int16", scale, 0, beta), [x], rounding=rounding)
            assert y.dtype == np.int16
            want = [v for r in rows(x) for v in scalar_int16(r, scale, beta, rounding)]
            assert y.reshape(-1).tolist() == want, (scale, beta)


@pytest.mark.parametrize("shape", SHAPES)
def test_float_matches_formula(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(2)
    x = (rng.normal(0, 5, shape)).astype(np.float32)
    for beta in (1.0, 0.5, 3.0):
        (y,) = run(softmax(shape, beta=beta), [x])
        z = ((x - x.max(-1, keepdims=True)) * np.float32(beta)).astype(np.float64)  # float32
        want = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-30)


def test_tables_match_the_scalar_lut_population() -> None:
    """The kernel's tables (numpy exp rounded to float32) equal those built with math.exp."""
    node = describe(softmax((1, 4), "int16", "int16", 0.001).main.operators[0])
    params = KERNELS[Op.SOFTMAX].prepare(node)
    assert [int(v) for v in params.exp_table] == _EXP_LUT
    assert [int(v) for v in params.reciprocal_table] == _RECIPROCAL_LUT


@pytest.mark.parametrize("dtype,out", [("float32", "float32"), ("int8", "int8"),
                                       ("int8", "int16"), ("int16", "int16")])
def test_batched_equals_single(dtype: str, out: str) -> None:
    rng = np.random.default_rng(3)
    shape = (1, 2, 3, 7)
    m = softmax(shape, dtype, out, 0.02 if dtype != "int16" else 0.0005)
    batch = (rng.normal(0, 4, (5, *shape)).astype(np.float32) if dtype == "float32"
             else random_int(rng, (5, *shape), np.dtype(dtype)))
    (together,) = assert_batch_equals_single_runs(m, [batch])
    assert together.shape == batch.shape


def refused(m: Model, why: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=why):
        Interpreter(m)


def test_refusals() -> None:
    def with_output(dtype: str, out: str, out_q: Quantization) -> Model:
        return single_op(Op.SOFTMAX, [Tensor("x", (1, 4), dtype, quantization=q(0.1, 0))],
                         [Tensor("y", (1, 4), out, quantization=out_q)], SoftmaxOptions(beta=1))

    refused(with_output("int8", "int8", q(1 / 256, 0)), "zero point -128")
    refused(with_output("int8", "int8", q(1 / 255, -128)), "scale 1/256")
    refused(with_output("int8", "int16", q(1 / 65536, 0)), "-32768")
    refused(with_output("int16", "int16", q(1 / 65536, 0)), "1/32768")
    refused(with_output("int16", "int8", q(1 / 256, -128)), "expected INT16")
    refused(with_output("int16", "int16", q(1 / 32768, 3)), "zero points of 0")
    refused(softmax((1, 4), "int8", "int8", scale=1e-9), "at most 2\\^-26")
    refused(softmax((1, 4), "int8", "int8", beta=0.0), "at most")
    refused(softmax((), "float32"), "scalar")
    refused(single_op(Op.SOFTMAX, [Tensor("x", (1, 4), "float32")],
                      [Tensor("y", (4, 1), "float32")], SoftmaxOptions(beta=1)), "shape")


# --- TFLite Micro

@pytest.mark.tflm
@pytest.mark.parametrize("shape", [*SHAPES, (2, 100)])
@pytest.mark.parametrize("out", ["int8", "int16"])
def test_int8_matches_tflm(shape: tuple[int, ...], out: str) -> None:
    rng = np.random.default_rng(4)
    cases = INT8_CASES + [(float(s), int(z), float(b)) for s, z, b in zip(
        np.exp(rng.uniform(-7, 3, 6)), rng.integers(-128, 128, 6), rng.uniform(0.2, 2, 6),
        strict=True)]
    for scale, zero, beta in cases:
        m = softmax(shape, "int8", out, scale, zero, beta)
        assert_matches(m, [random_int(rng, shape, np.int8)])


@pytest.mark.tflm
@pytest.mark.parametrize("shape", [*SHAPES, (2, 100)])
def test_int16_matches_tflm(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(5)
    cases = INT16_CASES + [(float(s), float(b)) for s, b in zip(
        np.exp(rng.uniform(-12, -1, 6)), rng.uniform(0.2, 2, 6), strict=True)]
    for scale, beta in cases:
        m = softmax(shape, "int16", "int16", scale, 0, beta)
        assert_matches(m, [random_int(rng, shape, np.int16)])
        assert_matches(m, [rng.integers(-3000, 3000, shape).astype(np.int16)])


@pytest.mark.tflm
def test_int16_every_table_entry_matches_tflm() -> None:
    """Inputs whose scaled differences sweep the whole exp table, and sums sweeping the
    reciprocal table."""
    rng = np.random.default_rng(6)
    x = np.zeros((64, 1024), np.int16)
    x[:, 0] = 32767
    x[:, 1:] = np.arange(32767, -32768, -64, dtype=np.int64)[:1023]
    width = np.arange(64)[:, None] * 16 + 8
    x[:, 1:] = np.where(np.arange(1, 1024) < width, 32767 - rng.integers(0, 8, (64, 1023)),
                        x[:, 1:])
    m = softmax(x.shape, "int16", "int16", 10 / 65535)
    assert_matches(m, [x])


@pytest.mark.tflm
@pytest.mark.parametrize("shape", SHAPES)
def test_float_matches_tflm(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    for beta in (1.0, 0.4, 2.5):
        x = rng.normal(0, 6, shape).astype(np.float32)
        assert_matches(softmax(shape, beta=beta), [x], rtol=1e-5)

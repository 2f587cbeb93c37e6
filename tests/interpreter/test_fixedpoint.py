"""Every primitive of ``tflitekit.interpreter.fixedpoint``, bit for bit against the literal
scalar transcriptions in ``_scalar`` (C int32 / int64 semantics), over edge cases and random
values."""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable, Sequence
from typing import Any

import _scalar as ref
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tflitekit.interpreter import fixedpoint as fp

INT32_MIN, INT32_MAX = ref.INT32_MIN, ref.INT32_MAX
int32s = st.integers(INT32_MIN, INT32_MAX)


def _edge_int32() -> list[int]:
    """INT32_MIN/MAX, 0, ±1, powers of two and their neighbours, halves of powers of two."""
    values = {0, 1, -1, INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1}
    for k in range(31):
        for v in (1 << k, (1 << k) - 1, (1 << k) + 1, 3 << k >> 1):
            values.update({v, -v})
    return sorted(v for v in values if INT32_MIN <= v <= INT32_MAX)


EDGE = _edge_int32()


def _random_int32(n: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    full = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True)
    small = rng.integers(-(1 << 16), 1 << 16, n)  # values near 0 matter as much
    return [int(v) for v in np.concatenate([full, small])]


VALUES = EDGE + _random_int32(3000)

MULTIPLIERS = sorted({0, 1, 2, 1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MAX - 1, 1 << 29,
                      1518500250, 1073741823, 0x7FFF0000, 0x7FFEFFFF, 0x7FFF8000}
                     | {int(v) for v in np.random.default_rng(1).integers(1 << 30, 1 << 31, 12)})


def _same(vectorised: Any, scalar: Sequence[int] | Sequence[tuple[int, ...]]) -> None:
    got = np.asarray(vectorised)
    want = np.asarray(scalar, np.int64)
    assert got.shape == want.shape
    bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
    assert bad.size == 0, f"{bad.size} differ; first at {bad[0]}: {got.reshape(-1)[bad[0]]} " \
                          f"vs {want.reshape(-1)[bad[0]]}"


def _elementwise(vectorised: Callable[..., Any], scalar: Callable[..., int],
                 *columns: Sequence[int]) -> None:
    _same(vectorised(*(np.array(c, np.int64) for c in columns)),
          [scalar(*args) for args in zip(*columns, strict=True)])


# --- quantize_multiplier

REALS = [0.0, 1e-12, 2.0**-31, 2.0**-32, 2.0**-31 * 0.75, 4.6e-10, 0.5, 1.0, 1.5, 0.999999999,
         1 - 2**-33, 1 - 2**-32, 1 - 2**-31, 3.0, 2.0**30, 2.0**31, 2.0**40, 123.456, 1 / 3,
         np.nextafter(0.5, 0), 0.0039215686, 0.00390625, 7.62939453125e-06, -0.25, -0.75]


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_quantize_multiplier(rounding: str) -> None:
    reals = REALS + [float(v) for v in np.random.default_rng(2).lognormal(0, 8, 2000)]
    for d in reals:
        assert fp.quantize_multiplier(d, rounding) == ref.quantize_multiplier(  # type: ignore[arg-type]
            d, rounding == "single"), d


@given(st.floats(min_value=0, max_value=2.0**40, allow_nan=False))
def test_quantize_multiplier_any_double(d: float) -> None:
    assert fp.quantize_multiplier(d) == ref.quantize_multiplier(d)
    assert fp.quantize_multiplier(d, "single") == ref.quantize_multiplier(d, True)


def test_quantize_multipliers_per_channel() -> None:
    reals = np.array(REALS[:20]).reshape(4, 5)
    fixed, shifts = fp.quantize_multipliers(reals)
    assert fixed.shape == shifts.shape == (4, 5)
    _same(np.stack([fixed, shifts], -1), [[ref.quantize_multiplier(float(d)) for d in row]
                                          for row in reals])


# --- round_half_away

def test_round_half_away_matches_c_round() -> None:
    special = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, 0.49999999999999994, 8388609.0,
               8388609.5, 2.0**52 + 1, 4503599627370497.5, -0.0, 0.0, 1e30, -7.5, 127.5]
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        values = np.concatenate([np.array(special), rng.normal(0, 1000, 3000),
                                 np.round(rng.normal(0, 100, 1000)) + 0.5]).astype(dtype)
        got = fp.round_half_away(values)
        assert got.dtype == dtype
        want = np.array([ref.c_round(float(v)) for v in values], dtype)
        np.testing.assert_array_equal(got, want)
        assert np.signbit(got[values == 0]).tolist() == np.signbit(values[values == 0]).tolist()
    assert np.isposinf(fp.round_half_away(np.float32(np.inf)))
    assert np.isnan(fp.round_half_away(np.float32(np.nan)))


# --- SRDHM, RDBPOT, MBQM

def test_saturating_rounding_doubling_high_mul() -> None:
    edge = [v for v in EDGE if v % 7 == 0 or abs(v) < 5 or abs(v) > 2**30]
    a = [x for x in edge for _ in edge]
    b = [y for _ in edge for y in edge]
    _elementwise(fp.saturating_rounding_doubling_high_mul, ref.srdhm, a, b)
    rng = np.random.default_rng(4)
    a = [int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 5000, endpoint=True)]
    b = [int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 5000, endpoint=True)]
    _elementwise(fp.saturating_rounding_doubling_high_mul, ref.srdhm, a, b)


@given(int32s, int32s)
def test_saturating_rounding_doubling_high_mul_any(a: int, b: int) -> None:
    assert int(fp.saturating_rounding_doubling_high_mul(a, b)) == ref.srdhm(a, b)


def test_rounding_divide_by_pot_every_exponent() -> None:
    for exponent in range(32):
        _elementwise(fp.rounding_divide_by_pot, ref.rdbpot, VALUES, [exponent] * len(VALUES))
    # per-element exponents broadcast
    exponents = [i % 32 for i in range(len(VALUES))]
    _elementwise(fp.rounding_divide_by_pot, ref.rdbpot, VALUES, exponents)


def test_rounding_divide_by_pot_halves() -> None:
    """Exact halves round away from zero."""
    for exponent in range(1, 31):
        half = 1 << (exponent - 1)
        xs = [half, -half, 3 * half, -3 * half, half - 1, -half + 1, half + 1, -half - 1]
        _elementwise(fp.rounding_divide_by_pot, ref.rdbpot, xs, [exponent] * len(xs))
        assert int(fp.rounding_divide_by_pot(half, exponent)) == 1
        assert int(fp.rounding_divide_by_pot(-half, exponent)) == -1


@given(int32s, st.integers(0, 31))
def test_rounding_divide_by_pot_any(x: int, exponent: int) -> None:
    assert int(fp.rounding_divide_by_pot(x, exponent)) == ref.rdbpot(x, exponent)


def _mbqm_cases(shifts: range) -> tuple[list[int], list[int], list[int]]:
    xs = VALUES[::11]
    x, m, s = [], [], []
    for multiplier in MULTIPLIERS:
        for shift in shifts:
            x += xs
            m += [multiplier] * len(xs)
            s += [shift] * len(xs)
    return x, m, s


def test_multiply_by_quantized_multiplier_double_rounding() -> None:
    x, m, s = _mbqm_cases(range(-31, 32, 4))
    _elementwise(fp.multiply_by_quantized_multiplier, ref.mbqm_double, x, m, s)
    for shift in (-31, -1, 0, 1, 31):  # every shift's edges, including wrap of x << shift
        x, m, s = _mbqm_cases(range(shift, shift + 1))
        _elementwise(fp.multiply_by_quantized_multiplier, ref.mbqm_double, x, m, s)


def test_multiply_by_quantized_multiplier_single_rounding() -> None:
    x, m, s = _mbqm_cases(range(-31, 31, 4))
    _elementwise(lambda *a: fp.multiply_by_quantized_multiplier(*a, rounding="single"),
                 ref.mbqm_single, x, m, s)
    for shift in (-31, 0, 30):
        x, m, s = _mbqm_cases(range(shift, shift + 1))
        _elementwise(lambda *a: fp.multiply_by_quantized_multiplier(*a, rounding="single"),
                     ref.mbqm_single, x, m, s)


@given(int32s, st.integers(0, INT32_MAX), st.integers(-31, 31))
def test_multiply_by_quantized_multiplier_any(x: int, multiplier: int, shift: int) -> None:
    assert int(fp.multiply_by_quantized_multiplier(x, multiplier, shift)) == ref.mbqm_double(
        x, multiplier, shift)
    if shift <= 30:
        assert int(fp.multiply_by_quantized_multiplier(x, multiplier, shift, "single")) == \
            ref.mbqm_single(x, multiplier, shift)


def test_multiply_by_quantized_multiplier_64() -> None:
    rng = np.random.default_rng(5)
    wide = [int(v) for v in rng.integers(-(1 << 47), 1 << 47, 300)]
    xs = [*wide, 0, 1, -1, (1 << 47) - 1, -(1 << 47), 1 << 40, -(1 << 40), 32767, -32768]
    x, m, s = [], [], []
    for multiplier in MULTIPLIERS:
        for shift in range(-31, 8, 3):
            x += xs
            m += [multiplier] * len(xs)
            s += [shift] * len(xs)
    _elementwise(fp.multiply_by_quantized_multiplier_64, ref.mbqm_64, x, m, s)


@given(st.integers(-(1 << 47), (1 << 47) - 1), st.integers(0, INT32_MAX), st.integers(-31, 7))
def test_multiply_by_quantized_multiplier_64_any(x: int, multiplier: int, shift: int) -> None:
    assert int(fp.multiply_by_quantized_multiplier_64(x, multiplier, shift)) == ref.mbqm_64(
        x, multiplier, shift)


def test_wrap_int32() -> None:
    xs = [0, 1, -1, 2**31, -(2**31) - 1, 2**32, 2**40 + 5, -(2**40) - 5, INT32_MAX, INT32_MIN]
    _elementwise(fp.wrap_int32, ref.i32, xs)


# --- gemmlowp fixed point

def test_saturating_rounding_multiply_by_pot() -> None:
    for exponent in range(-31, 32):
        _same(fp.saturating_rounding_multiply_by_pot(np.array(VALUES), exponent),
              [ref.srmbpot(v, exponent) for v in VALUES])


def test_rescale() -> None:
    for src, dst in [(0, 12), (12, 0), (5, 0), (0, 5), (4, 2), (1, 0), (2, 0), (3, 3)]:
        _same(fp.rescale(np.array(VALUES), src, dst), [ref.rescale(v, src, dst) for v in VALUES])


def test_rounding_half_sum() -> None:
    a = VALUES[::7]
    b = [INT32_MAX, INT32_MIN, 0, 1, -1] * (len(a) // 5) + VALUES[1::7][: len(a) % 5]
    _elementwise(fp.rounding_half_sum, ref.rounding_half_sum, a, b[: len(a)])
    _elementwise(fp.rounding_half_sum, ref.rounding_half_sum, a, VALUES[3::7][: len(a)])


def test_exp_on_interval_between_negative_one_quarter_and_0_excl() -> None:
    quarter = [-(1 << 29) + i for i in range(0, 1 << 29, 99991)] + [-(1 << 29), -1, -2, -3]
    _elementwise(fp.exp_on_interval_between_negative_one_quarter_and_0_excl,
                 ref.exp_on_interval_between_negative_one_quarter_and_0_excl, quarter + VALUES)
    got = fp.exp_on_interval_between_negative_one_quarter_and_0_excl(np.array(quarter)) / 2**31
    assert np.allclose(got, np.exp(np.array(quarter) / 2**31), atol=1e-8)


@pytest.mark.parametrize("integer_bits", [0, 1, 2, 3, 4, 5, 6, 8, 12, 20, 26])
def test_exp_on_negative_values(integer_bits: int) -> None:
    negatives = [v for v in VALUES if v <= 0]
    _elementwise(lambda a: fp.exp_on_negative_values(a, integer_bits),
                 lambda a: ref.exp_on_negative_values(a, integer_bits), VALUES)
    got = fp.exp_on_negative_values(np.array(negatives), integer_bits) / 2**31
    real = np.array(negatives) / 2.0 ** (31 - integer_bits)
    assert np.allclose(got, np.exp(real), atol=1e-6)


@given(st.integers(INT32_MIN, 0), st.integers(0, 12))
def test_exp_on_negative_values_any(a: int, integer_bits: int) -> None:
    assert int(fp.exp_on_negative_values(a, integer_bits)) == ref.exp_on_negative_values(
        a, integer_bits)


def test_one_over_one_plus_x_for_x_in_0_1() -> None:
    unit = [v for v in VALUES if v >= 0] + [INT32_MAX, 0, 1 << 30]
    _elementwise(fp.one_over_one_plus_x_for_x_in_0_1, ref.one_over_one_plus_x_for_x_in_0_1,
                 unit + VALUES)
    got = fp.one_over_one_plus_x_for_x_in_0_1(np.array(unit)) / 2**31
    assert np.allclose(got, 1 / (1 + np.array(unit) / 2**31), atol=1e-8)


def test_one_minus_x_over_one_plus_x_for_x_in_0_1() -> None:
    unit = [v for v in VALUES if v >= 0] + [INT32_MAX, 0, 1 << 30]
    _elementwise(fp.one_minus_x_over_one_plus_x_for_x_in_0_1,
                 ref.one_minus_x_over_one_plus_x_for_x_in_0_1, unit + VALUES)
    x = np.array(unit) / 2**31
    got = fp.one_minus_x_over_one_plus_x_for_x_in_0_1(np.array(unit)) / 2**31
    assert np.allclose(got, (1 - x) / (1 + x), atol=1e-8)


@pytest.mark.parametrize("integer_bits", [0, 1, 3, 4, 5, 8])
def test_logistic_and_tanh(integer_bits: int) -> None:
    _elementwise(lambda a: fp.logistic(a, integer_bits),
                 lambda a: ref.logistic(a, integer_bits), VALUES)
    _elementwise(lambda a: fp.tanh(a, integer_bits),
                 lambda a: ref.tanh(a, integer_bits), VALUES)
    real = np.array(VALUES) / 2.0 ** (31 - integer_bits)
    assert np.allclose(fp.logistic(np.array(VALUES), integer_bits) / 2**31,
                       1 / (1 + np.exp(-real)), atol=1e-6)
    assert np.allclose(fp.tanh(np.array(VALUES), integer_bits) / 2**31, np.tanh(real),
                       atol=1e-6)


@given(int32s, st.integers(0, 8))
def test_logistic_and_tanh_any(a: int, integer_bits: int) -> None:
    assert int(fp.logistic(a, integer_bits)) == ref.logistic(a, integer_bits)
    assert int(fp.tanh(a, integer_bits)) == ref.tanh(a, integer_bits)


def test_count_leading_zeros() -> None:
    unsigned = [0, 1, 2, 3, 2**31, 2**32 - 1, 2**31 - 1] + [1 << k for k in range(32)] + [
        v % 2**32 for v in VALUES]
    _elementwise(fp.count_leading_zeros, ref.count_leading_zeros, unsigned)
    small = [v % 2**16 for v in unsigned]
    _elementwise(lambda x: fp.count_leading_zeros(x, 16),
                 lambda x: ref.count_leading_zeros(x, 16), small)
    with pytest.raises(ValueError):
        fp.count_leading_zeros(1, 64)


@pytest.mark.parametrize("digits", [0, 12, 19, 31])
def test_get_reciprocal(digits: int) -> None:
    positives = [v for v in VALUES if v > 0]
    got, bits = fp.get_reciprocal(np.array(VALUES), digits)
    want = [ref.get_reciprocal(v, digits) for v in VALUES]
    _same(np.stack([got, bits], -1), want)
    value, over = fp.get_reciprocal(np.array(positives), digits)
    # x * 2^-(31 - digits) ≈ 2^over / (value / 2^31)
    real = np.array(positives) / 2.0 ** (31 - digits)
    assert np.allclose(value / 2**31 * real, 2.0**over, rtol=1e-7)


def test_calculate_input_radius() -> None:
    for bits in range(0, 8):
        for shift in range(0, 40):
            for total in (15, 31):
                if bits <= total:
                    assert fp.calculate_input_radius(bits, shift, total) == \
                        ref.calculate_input_radius(bits, shift, total)


# --- int16 LUTs

def _exp32(x: Any) -> Any:
    return np.exp(np.asarray(x, np.float64)).astype(np.float32)


def _reciprocal32(x: Any) -> Any:
    return np.float32(1) / (np.float32(1) + x)


def _tanh32(x: Any) -> Any:
    return np.tanh(np.asarray(x, np.float64)).astype(np.float32)


LUT_CASES = [
    (_exp32, 10 / 65535, 32767, 2 / 65535, 0),  # softmax's exp table
    (_reciprocal32, 1 / 65535, -32768, 2 / 65535, 0),  # softmax's 1 / (1 + x)
    (_tanh32, 2**-12, 0, 2**-15, 0),
    (_exp32, 0.0003, -100, 0.002, 7),
    (_reciprocal32, 1e-5, 5, 1e-3, -3),
]


@pytest.mark.parametrize("case", range(len(LUT_CASES)))
def test_lut_populate_int16(case: int) -> None:
    transform, in_scale, in_zero, out_scale, out_zero = LUT_CASES[case]
    got = fp.lut_populate_int16(transform, in_scale, in_zero, out_scale, out_zero)
    assert got.dtype == np.int16 and got.shape == (513,)
    want = ref.lut_populate_int16(lambda v: transform(np.array([v], np.float32))[0],
                                  in_scale, in_zero, out_scale, out_zero)
    _same(got, want)


def test_lut_lookup_int16() -> None:
    rng = np.random.default_rng(6)
    tables = [fp.lut_populate_int16(*LUT_CASES[0]),
              rng.integers(-32768, 32767, 513, endpoint=True).astype(np.int16)]  # wrapping slopes
    every = list(range(-32768, 32768))
    for table in tables:
        listed = [int(v) for v in table]
        _same(fp.lut_lookup_int16(np.array(every), table),
              [ref.lut_lookup_int16(v, listed) for v in every])


def _libm_expf() -> Callable[[float], float] | None:
    name = ctypes.util.find_library("m")
    if name is None:
        return None
    try:
        expf = ctypes.CDLL(name).expf
    except (OSError, AttributeError):
        return None
    expf.restype, expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return expf  # type: ignore[no-any-return]


def test_exp_table_does_not_depend_on_expf_rounding() -> None:
    """The C code calls expf; numpy's float64 exp rounded to float32 (what the kernels pass)
    builds the same table as the C library's expf, which is not always correctly rounded."""
    expf = _libm_expf()
    if expf is None:
        pytest.skip("no C math library to call")
    _, in_scale, in_zero, out_scale, out_zero = LUT_CASES[0]
    with_libm = fp.lut_populate_int16(
        lambda x: np.array([expf(float(v)) for v in x], np.float32),
        in_scale, in_zero, out_scale, out_zero)
    _same(fp.lut_populate_int16(*LUT_CASES[0]), with_libm)
    assert math.isclose(float(with_libm[-1]), 32767)

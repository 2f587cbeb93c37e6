"""TFLite's fixed-point primitives, vectorised over numpy arrays.

Every function here is the array form of one function of TFLite's reference code
(``quantization_util.cc``, ``common.h``, gemmlowp's ``fixedpoint.h``); the tests hold each to a
literal scalar transcription of its definition. Integer arrays are computed in int64, so no
intermediate wraps; results are returned as int64 unless said otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from .node import Rounding

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "calculate_input_radius",
    "count_leading_zeros",
    "exp_on_interval_between_negative_one_quarter_and_0_excl",
    "exp_on_negative_values",
    "get_reciprocal",
    "logistic",
    "lut_lookup_int16",
    "lut_populate_int16",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_64",
    "one_minus_x_over_one_plus_x_for_x_in_0_1",
    "one_over_one_plus_x_for_x_in_0_1",
    "quantize_multiplier",
    "quantize_multipliers",
    "rescale",
    "round_half_away",
    "rounding_divide_by_pot",
    "rounding_half_sum",
    "saturating_rounding_doubling_high_mul",
    "saturating_rounding_multiply_by_pot",
    "tanh",
    "wrap_int32",
]

IntArray = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def _i64(x: ArrayLike) -> IntArray:
    return cast(IntArray, np.asarray(x, np.int64))


def round_half_away(x: ArrayLike) -> npt.NDArray[Any]:
    """C's ``round``: halves away from zero (numpy's ``round`` goes to even); keeps the dtype.

    Exact for every float: float32 and float16 round to even and move the exact halves;
    float64 computes the fraction ``x - trunc(x)`` without rounding. (``floor(|x| +
    0.5)`` in the input's own type rounds the sum: 0.49999997f gave 1, 8388609f gave 8388610.)
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        return x
    if x.dtype.itemsize <= 4:
        # rint (halves to even) is exact, and so is x - rint(x) below 2^23 (above, x is whole):
        # only the rare exact halves need moving away from zero
        nearest = np.asarray(np.rint(x))
        with np.errstate(invalid="ignore"):  # inf - inf
            diff = np.asarray(x - nearest)
        halves = np.flatnonzero(np.abs(diff, out=diff) == x.dtype.type(0.5))
        if halves.size:
            flat = nearest.reshape(-1)
            flat[halves] = np.trunc(x.reshape(-1)[halves]) + np.sign(x.reshape(-1)[halves])
        return nearest
    whole = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf: infinities stay as they are
        away = np.abs(x - whole) >= x.dtype.type(0.5)
    return cast(npt.NDArray[Any], np.where(away, whole + np.sign(x), whole).astype(x.dtype))


def quantize_multiplier(multiplier: float, rounding: Rounding = "double") -> tuple[int, int]:
    """QuantizeMultiplier: ``multiplier ≈ M * 2^(shift - 31)`` with M an int32 in [2^30, 2^31).

    Multipliers below 2^-31 flush to (0, 0); with ``single`` rounding a shift above 30 saturates
    to (2^31 - 1, 30).
    """
    if multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(multiplier)
    fixed = int(round_half_away(q * float(1 << 31)))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if rounding == "single" and shift > 30:
        return (1 << 31) - 1, 30
    return fixed, shift


def quantize_multipliers(multipliers: ArrayLike, rounding: Rounding = "double"
                         ) -> tuple[IntArray, IntArray]:
    """:func:`quantize_multiplier` of every element (e.g. per output channel)."""
    pairs = [quantize_multiplier(float(m), rounding) for m in np.ravel(multipliers)]
    shape = np.shape(multipliers)
    fixed = np.array([p[0] for p in pairs], np.int64).reshape(shape)
    shifts = np.array([p[1] for p in pairs], np.int64).reshape(shape)
    return fixed, shifts


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> IntArray:
    """gemmlowp's SaturatingRoundingDoublingHighMul of int32 values: ``round(a * b / 2^31)``
    with halves away from zero, and INT32_MAX for INT32_MIN * INT32_MIN."""
    a = _i64(a)
    b = _i64(b)
    ab = np.asarray(a * b)
    # Branch-free, in place: the nudge is 2^30, or 1 - 2^30 for a negative product (ab >> 63 is
    # -1 there, 0 elsewhere); then a negative value gets 2^31 - 1 added so that the arithmetic
    # shift truncates toward zero, as C's division does.
    ab += (1 << 30) + ((ab >> 63) & (1 - (1 << 31)))
    ab += (ab >> 63) & ((1 << 31) - 1)
    ab >>= 31
    if np.any(b == INT32_MIN) and np.any(a == INT32_MIN):  # multipliers are rarely negative
        return cast(IntArray, np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, ab))
    return cast(IntArray, ab)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> IntArray:
    """gemmlowp's RoundingDivideByPOT: ``x / 2^exponent`` rounded half away from zero."""
    x = _i64(x)
    exponent = _i64(exponent)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return cast(IntArray, (x >> exponent) + (remainder > threshold))


def wrap_int32(x: ArrayLike) -> IntArray:
    """Two's-complement wrap of int64 values into int32's range, as C's int32 arithmetic and
    ``static_cast<int32_t>`` behave on every platform TFLite runs on."""
    x = _i64(x)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike,
                                     rounding: Rounding = "double") -> IntArray:
    """MultiplyByQuantizedMultiplier of int32 ``x``: ``x * multiplier * 2^(shift - 31)``.

    ``double``: SaturatingRoundingDoublingHighMul of ``x * 2^max(shift, 0)`` (an int32 product,
    wrapping), then RoundingDivideByPOT by ``max(-shift, 0)``. ``single``: ``(x * M +
    2^(30 - shift)) >> (31 - shift)`` in 64 bits, cast to int32. With a shift >= 0 this is also
    MultiplyByQuantizedMultiplierGreaterThanOne.
    """
    x = _i64(x)
    multiplier = _i64(multiplier)
    shift = _i64(shift)
    if rounding == "single":
        total = 31 - shift
        return wrap_int32((x * multiplier + (np.int64(1) << (total - 1))) >> total)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(wrap_int32(x << left), multiplier), right)


def multiply_by_quantized_multiplier_64(x: ArrayLike, multiplier: ArrayLike,
                                        shift: ArrayLike) -> IntArray:
    """MultiplyByQuantizedMultiplier of an int64 ``x`` (int16 activations' 64-bit
    accumulators): the multiplier is first reduced to 16 bits, ``(M + 2^15) >> 16`` (0x7FFF at
    the top), then ``(x * reduced + 2^(14 - shift)) >> (15 - shift)``, cast to int32."""
    x = _i64(x)
    multiplier = _i64(multiplier)
    shift = _i64(shift)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - shift
    return wrap_int32((x * reduced + (np.int64(1) << (total - 1))) >> total)


def saturating_rounding_multiply_by_pot(x: ArrayLike, exponent: int) -> IntArray:
    """gemmlowp's SaturatingRoundingMultiplyByPOT of int32 values: ``x * 2^exponent``,
    saturating to int32 when ``exponent > 0``, RoundingDivideByPOT when it is negative."""
    x = _i64(x)
    if exponent <= 0:
        return x if exponent == 0 else rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX,
                    np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x: ArrayLike, src_integer_bits: int, dst_integer_bits: int) -> IntArray:
    """gemmlowp's Rescale: a FixedPoint<int32, src> value's raw int as FixedPoint<int32, dst>."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a: ArrayLike, b: ArrayLike) -> IntArray:
    """gemmlowp's RoundingHalfSum of int32 values: ``(a + b) / 2`` rounded half away from
    zero (C division truncates toward zero after adding the sum's sign)."""
    total = _i64(a) + _i64(b)
    nudged = total + np.where(total >= 0, 1, -1)
    return np.where(nudged >= 0, nudged >> 1, -((-nudged) >> 1))


def _one(integer_bits: int) -> int:
    """FixedPoint<int32, integer_bits>::One()'s raw value (INT32_MAX with no integer bits)."""
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def _mul(a: IntArray, b: ArrayLike) -> IntArray:
    """A FixedPoint product (its integer bits add up): SaturatingRoundingDoublingHighMul."""
    return saturating_rounding_doubling_high_mul(a, b)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: ArrayLike) -> IntArray:
    """gemmlowp's ``exp(a)`` for a Q0.31 ``a`` in [-1/4, 0): a Taylor expansion around -1/8
    (Q0.31 result)."""
    exp_minus_one_eighth = 1895147668  # exp(-1/8) in Q0.31
    one_third = 715827883
    x = wrap_int32(_i64(a) + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(
        wrap_int32(_mul(wrap_int32(x4_over_4 + x3), one_third) + x2), -1)
    return wrap_int32(exp_minus_one_eighth
                      + _mul(np.int64(exp_minus_one_eighth), wrap_int32(x + poly)))


# exp(-2^k) in Q0.31 for k = -2..4: the barrel shifter of exp_on_negative_values.
_EXP_OF_MINUS_POT = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                     (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: ArrayLike, integer_bits: int) -> IntArray:
    """gemmlowp's ``exp(a)`` for ``a <= 0`` held as FixedPoint<int32, integer_bits> (Q0.31
    result): exp of ``a mod 1/4`` on [-1/4, 0), times exp(-2^k) for each bit k set in the
    rest; 0 below -32, One() at 0."""
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap_int32((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_OF_MINUS_POT:
        if integer_bits > exponent:
            bit = (remainder >> (fractional_bits + exponent)) & 1
            result = np.where(bit != 0, _mul(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal(a: IntArray) -> tuple[IntArray, IntArray]:
    """gemmlowp's Newton-Raphson division shared by the two ``..._for_x_in_0_1`` functions:
    ``(half_denominator, x)`` with ``x`` ≈ 1 / half_denominator in Q2.29."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap_int32(1515870810 + _mul(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = wrap_int32(_one(2) - _mul(half_denominator, x))
        x = wrap_int32(x + rescale(_mul(x, one_minus), 4, 2))
    return half_denominator, x


def one_over_one_plus_x_for_x_in_0_1(a: ArrayLike) -> IntArray:
    """gemmlowp's ``1 / (1 + a)`` for a Q0.31 ``a`` in [0, 1) (Q0.31 result)."""
    _, x = _newton_reciprocal(_i64(a))
    return rescale(x, 1, 0)  # x / 2 is the result in Q1.30


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: ArrayLike) -> IntArray:
    """gemmlowp's ``(1 - a) / (1 + a)`` for a Q0.31 ``a`` in [0, 1) (Q0.31 result)."""
    _, x = _newton_reciprocal(_i64(a))
    return rescale(wrap_int32(x - _one(2)), 2, 0)


def logistic(a: ArrayLike, integer_bits: int) -> IntArray:
    """gemmlowp's ``logistic`` of FixedPoint<int32, integer_bits> values (Q0.31 result)."""
    a = _i64(a)
    positive = a > 0
    magnitude = np.where(positive, a, wrap_int32(-a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(wrap_int32(-magnitude), integer_bits))
    if_negative = wrap_int32(_one(0) - if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def tanh(a: ArrayLike, integer_bits: int) -> IntArray:
    """gemmlowp's ``tanh`` of FixedPoint<int32, integer_bits> values (Q0.31 result):
    ``(1 - exp(-2|a|)) / (1 + exp(-2|a|))`` with the sign of ``a``."""
    a = _i64(a)
    negative = a < 0
    n = np.where(negative, a, wrap_int32(-a))
    # exp(2n): the same raw value read with one more integer bit
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))


def count_leading_zeros(x: ArrayLike, bits: int = 32) -> IntArray:
    """CountLeadingZeros of unsigned ``bits``-bit values (``bits`` <= 32; ``bits`` for 0)."""
    if not 0 < bits <= 32:
        raise ValueError(f"count_leading_zeros handles up to 32 bits, not {bits}")
    x = _i64(x)
    _, length = np.frexp(x.astype(np.float64))  # exact: the bit length of x for x < 2^53
    return bits - length.astype(np.int64)


def get_reciprocal(x: ArrayLike, x_integer_digits: int) -> tuple[IntArray, IntArray]:
    """TFLite's GetReciprocal of positive int32 ``x`` with ``x_integer_digits`` integer bits:
    ``(1 / (1 + m))`` in Q0.31 for the mantissa ``1 + m`` of ``x`` shifted into [1, 2), and
    ``num_bits_over_unit`` (``x ≈ (1 + m) * 2^num_bits_over_unit``)."""
    unsigned = _i64(x) & 0xFFFFFFFF
    headroom_plus_one = count_leading_zeros(unsigned)
    shifted_minus_one = wrap_int32((unsigned << headroom_plus_one) - (1 << 31))
    return (one_over_one_plus_x_for_x_in_0_1(shifted_minus_one),
            x_integer_digits - headroom_plus_one)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """CalculateInputRadius: the largest input magnitude whose rescaled value stays below the
    fixed-point format's maximum, ``floor((2^ib - 1) * 2^(total - ib) / 2^left_shift)``."""
    limit = ((1 << input_integer_bits) - 1) * float(1 << (total_signed_bits - input_integer_bits))
    return math.floor(limit / float(1 << input_left_shift))


def lut_populate_int16(transform: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]],
                       input_scale: float, input_zero_point: int, output_scale: float,
                       output_zero_point: int) -> npt.NDArray[np.int16]:
    """TFLite's LUTPopulate<int16_t> (float version): the 513-entry table of
    ``transform`` over the int16 input range for :func:`lut_lookup_int16`, in float32
    arithmetic as the C code does it; each entry is biased by half the error of linear
    interpolation at its segment's midpoint. ``transform`` maps float32 arrays elementwise."""
    f32 = np.float32
    in_scale, out_scale = f32(input_scale), f32(output_scale)
    input_min = in_scale * f32(-32768 - input_zero_point)
    input_max = in_scale * f32(32767 - input_zero_point)
    output_min = out_scale * f32(-32768 - output_zero_point)
    output_max = out_scale * f32(32767 - output_zero_point)
    steps = 512
    step = (input_max - input_min) / f32(steps)
    half_step = step / f32(2)
    scaling_inv = f32(65536) / (output_max - output_min)
    i = np.arange(steps + 1, dtype=np.int64).astype(f32)
    starts = input_min + i * step  # starts[k + 1] is the C code's input_min + (k + 1) * step
    values = transform(starts)
    sample, value_next = values[:-1], values[1:]
    midpoint = transform(starts[:-1] + half_step)
    rounded = round_half_away(sample * scaling_inv)
    interpolated = round_half_away((value_next * scaling_inv + rounded) / f32(2))
    bias = round_half_away((interpolated - round_half_away(midpoint * scaling_inv)) / f32(2))
    last = round_half_away(transform(np.array([input_max], f32)) * scaling_inv)
    table = np.concatenate([rounded - bias, last])
    return cast(npt.NDArray[np.int16], np.clip(table, f32(-32768), f32(32767)).astype(np.int16))


def lut_lookup_int16(x: ArrayLike, lut: npt.NDArray[np.int16]) -> IntArray:
    """TFLite's LUTLookup of int16 values in a 513-entry table: entry ``256 + (x >> 7)`` plus
    the slope to the next entry times the low 7 bits, ``(slope * (x & 127) + 64) >> 7``."""
    x = _i64(x)
    table = lut.astype(np.int64)
    index = 256 + (x >> 7)
    base = table[index]
    slope = _wrap_int16(table[index + 1] - base)
    return _wrap_int16(base + ((slope * (x & 0x7F) + 64) >> 7))


def _wrap_int16(x: IntArray) -> IntArray:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)

"""Literal scalar transcriptions of TFLite's and gemmlowp's integer code, on plain Python ints
with C's int16 / int32 / int64 semantics (two's-complement wrap where C would wrap, truncating
division, ``round`` halving away from zero), for the bit-exact tests of
``tflitekit.interpreter.fixedpoint`` and of the kernels built on it. Slow and obvious on purpose:
one value at a time, statement by statement. ``single`` selects TFLite's
``TFLITE_SINGLE_ROUNDING`` build.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tflitekit.options import ActivationFunctionType as Act

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def wrap(value: int, bits: int) -> int:
    """A C conversion of ``value`` to a signed integer of ``bits`` bits (two's complement)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def i32(v: int) -> int:
    """C's int32 wrap-around."""
    return wrap(v, 32)


def i16(v: int) -> int:
    return wrap(v, 16)


def c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def c_round(v: float) -> float:
    """C's round / roundf: halves away from zero."""
    if math.isinf(v) or math.isnan(v):
        return v
    magnitude = abs(v)
    floor = math.floor(magnitude)
    up = floor + 1 if magnitude - floor >= 0.5 else floor
    return math.copysign(up, v)


def round_away(v: float) -> int:
    """``static_cast<int>(round(v))`` of a finite ``v``."""
    return int(c_round(v))


def f32(x: float) -> float:
    """``x`` rounded to float32, as a Python float."""
    return float(np.float32(x))


# --- quantization_util.cc / common.cc

def quantize_multiplier(d: float, single: bool = False) -> tuple[int, int]:
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = round_away(q * (1 << 31))
    assert q_fixed <= 1 << 31
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift = 0
        q_fixed = 0
    if single and shift > 30:
        shift = 30
        q_fixed = (1 << 31) - 1
    return q_fixed, shift


def srdhm(a: int, b: int, bits: int = 32) -> int:
    """SaturatingRoundingDoublingHighMul of int32 (or int16) values."""
    low = -(1 << (bits - 1))
    overflow = a == b == low
    ab = a * b
    nudge = (1 << (bits - 2)) if ab >= 0 else 1 - (1 << (bits - 2))
    high = wrap(c_div(ab + nudge, 1 << (bits - 1)), bits)
    return -low - 1 if overflow else high


def rdbpot(x: int, exponent: int, bits: int = 32) -> int:
    """RoundingDivideByPOT; the mask is an integer of ``bits`` bits."""
    mask = wrap((1 << exponent) - 1, bits)
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def mbqm_double(x: int, multiplier: int, shift: int) -> int:
    left_shift = shift if shift > 0 else 0
    right_shift = 0 if shift > 0 else -shift
    return rdbpot(srdhm(i32(x * (1 << left_shift)), multiplier), right_shift)


def mbqm_single(x: int, multiplier: int, shift: int) -> int:
    total_shift = 31 - shift
    rounding = 1 << (total_shift - 1)
    return i32((x * multiplier + rounding) >> total_shift)


def mbqm(x: int, multiplier: int, shift: int, single: bool = False) -> int:
    """MultiplyByQuantizedMultiplier of an int32."""
    return (mbqm_single if single else mbqm_double)(x, multiplier, shift)


def mbqm_64(x: int, multiplier: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier of an int64: a 16-bit multiplier, one rounding shift."""
    reduced = (multiplier + (1 << 15)) >> 16 if multiplier < 0x7FFF0000 else 0x7FFF
    total_shift = 15 - shift
    return i32((x * reduced + (1 << (total_shift - 1))) >> total_shift)


def activation_range(act: int, scale: float, zero: int, dtype: Any) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the type's range narrowed to the activation's, with
    0, 6 and ±1 quantized as ``zero + round(f / scale)`` in float32."""
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)

    def q(v: float) -> int:
        return zero + round_away(f32(np.float32(v) / np.float32(scale)))

    if act == Act.RELU:
        return max(lo, q(0.0)), hi
    if act == Act.RELU6:
        return max(lo, q(0.0)), min(hi, q(6.0))
    if act == Act.RELU_N1_TO_1:
        return max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


FLT_MAX = float(np.finfo(np.float32).max)


def float_activation_range(act: int) -> tuple[float, float]:
    """CalculateActivationRange of float outputs: the widest is float's finite range
    (``std::numeric_limits<float>::lowest()`` to ``max()``)."""
    return {Act.RELU: (0.0, FLT_MAX), Act.RELU6: (0.0, 6.0),
            Act.RELU_N1_TO_1: (-1.0, 1.0)}.get(act, (-FLT_MAX, FLT_MAX))


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1)
                          * (1 << (total_signed_bits - input_integer_bits))
                          / (1 << input_left_shift))
    return math.floor(max_input_rescaled)


def count_leading_zeros(x: int, bits: int = 32) -> int:
    if x == 0:
        return bits
    leading = 0
    while x < 1 << (bits - 1):
        x <<= 1
        leading += 1
    return leading


# --- gemmlowp fixedpoint.h, FixedPoint<int32_t, N> as raw ints

def one(integer_bits: int) -> int:
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def srmbpot(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT<exponent>."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return i32(x * (1 << exponent))


def rescale(x: int, src_bits: int, dst_bits: int) -> int:
    return srmbpot(x, src_bits - dst_bits)


def rounding_half_sum(a: int, b: int) -> int:
    total = a + b
    sign = 1 if total >= 0 else -1
    return i32(c_div(total + sign, 2))


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term = 1895147668
    constant_1_over_3 = 715827883
    x = i32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = srmbpot(x4, -2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = srmbpot(
        i32(srdhm(i32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return i32(constant_term + srdhm(constant_term,
                                     i32(x + x4_over_24_plus_x3_over_6_plus_x2_over_2)))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = i32(one_quarter - 1)
    a_mod_quarter_minus_one_quarter = i32((a & mask) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = i32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084),
                                 (1, 290630308), (2, 39332535), (3, 720401), (4, 242)):
        if integer_bits > exponent:
            shift_amount = fractional_bits + exponent
            if remainder & (1 << shift_amount):
                result = srdhm(result, multiplier)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        if a < clamp:
            result = 0
    if a == 0:
        result = one(0)
    return result


def _newton(a: int) -> int:
    half_denominator = rounding_half_sum(a, one(0))
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = i32(constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus_half_denominator_times_x = i32(one(2) - half_denominator_times_x)
        x = i32(x + rescale(srdhm(x, one_minus_half_denominator_times_x), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return rescale(_newton(a), 1, 0)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return rescale(i32(_newton(a) - one(2)), 2, 0)


def logistic(a: int, integer_bits: int) -> int:
    positive = a > 0
    abs_input = a if positive else i32(-a)
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(i32(-abs_input), integer_bits))
    result_if_negative = i32(one(0) - result_if_positive)
    if a == 0:
        return 1 << 30
    return result_if_positive if positive else result_if_negative


def tanh(a: int, integer_bits: int) -> int:
    negative = a < 0
    n = a if negative else i32(-a)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    if a == 0:
        return 0
    return i32(-t) if negative else t


def get_reciprocal(x: int, x_integer_digits: int) -> tuple[int, int]:
    headroom_plus_one = count_leading_zeros(x % 2**32)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = i32((((x % 2**32) << headroom_plus_one) - (1 << 31)) % 2**32)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


# --- common.h LUTs, float32 arithmetic

def lut_populate_int16(transform: Callable[[np.float32], np.float32], input_scale: float,
                       input_zero_point: int, output_scale: float,
                       output_zero_point: int) -> list[int]:
    f = np.float32
    input_min = f(input_scale) * f(-32768 - input_zero_point)
    input_max = f(input_scale) * f(32767 - input_zero_point)
    output_min = f(output_scale) * f(-32768 - output_zero_point)
    output_max = f(output_scale) * f(32767 - output_zero_point)
    nb_steps = 512
    step = (input_max - input_min) / f(nb_steps)
    half_step = step / f(2)
    output_scaling_inv = f(65536) / (output_max - output_min)
    table_min, table_max = f(-32768), f(32767)
    lut = []
    for i in range(nb_steps):
        val = transform(input_min + f(i) * step)
        val_midpoint = transform(input_min + f(i) * step + half_step)
        val_next = transform(input_min + f(i + 1) * step)
        sample_val = f(c_round(val * output_scaling_inv))
        midpoint_interp_val = f(c_round(
            (val_next * output_scaling_inv + f(c_round(val * output_scaling_inv))) / f(2)))
        midpoint_val = f(c_round(val_midpoint * output_scaling_inv))
        midpoint_err = midpoint_interp_val - midpoint_val
        bias = f(c_round(midpoint_err / f(2)))
        lut.append(int(min(max(sample_val - bias, table_min), table_max)))
    lut.append(int(min(max(f(c_round(transform(input_max) * output_scaling_inv)), table_min),
                       table_max)))
    return lut


def lut_lookup_int16(value: int, lut: list[int]) -> int:
    index = (256 + (value >> 7)) % 2**16
    assert index < 512
    offset = value & 0x7F
    base = lut[index]
    slope = i16(lut[index + 1] - lut[index])
    delta = (slope * offset + 64) >> 7
    return i16(base + delta)

"""Literal scalar transcriptions (plain Python ints) of the TFLite fixed-point routines the
activation and quantization kernel tests check against: one value at a time, C++ int32 / int16
wrap-around written out where the C++ code wraps."""

from __future__ import annotations

import math

import numpy as np


def wrap(value: int, bits: int) -> int:
    """A C++ conversion of ``value`` to a signed integer of ``bits`` bits."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def round_away(x: float) -> int:
    """std::round: halves away from zero."""
    whole = math.floor(abs(x))
    if abs(x) - whole >= 0.5:
        whole += 1
    return int(math.copysign(whole, x))


def quantize_multiplier(real: float, single: bool = False) -> tuple[int, int]:
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = round_away(q * 2**31)
    if fixed == 2**31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if single and shift > 30:
        return 2**31 - 1, 30
    return fixed, shift


def divide_toward_zero(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def srdhm(a: int, b: int, bits: int = 32) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 (or int16) values."""
    low = -(1 << (bits - 1))
    if a == low and b == low:
        return -low - 1
    ab = a * b
    nudge = 1 << (bits - 2) if ab >= 0 else 1 - (1 << (bits - 2))
    return wrap(divide_toward_zero(ab + nudge, 1 << (bits - 1)), bits)


def rdbpot(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp's RoundingDivideByPOT; the mask is an integer of ``bits`` bits."""
    mask = wrap((1 << exponent) - 1, bits)
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def mbqm(x: int, multiplier: int, shift: int, single: bool = False) -> int:
    """MultiplyByQuantizedMultiplier of an int32, with C++'s int32 wrap-around."""
    if single:
        total = 31 - shift
        return wrap((x * multiplier + (1 << (total - 1))) >> total, 32)
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot(srdhm(wrap(x * (1 << left), 32), multiplier), right)


def f32(x: float) -> float:
    """``x`` rounded to float32, as a Python float."""
    return float(np.float32(x))

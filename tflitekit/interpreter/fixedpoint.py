"""TFLite's fixed-point primitives, vectorised over numpy arrays.

Every function here is the array form of one function of TFLite's reference code
(``quantization_util.cc``, ``common.h``, gemmlowp's ``fixedpoint.h``); the tests hold each to a
literal scalar transcription of its definition. Integer arrays are computed in int64, so no
intermediate wraps; results are returned as int64 unless said otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .node import Rounding

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_64",
    "quantize_multiplier",
    "quantize_multipliers",
    "round_half_away",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]

IntArray = npt.NDArray[np.int64]
ArrayLike = Any

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def round_half_away(x: ArrayLike) -> npt.NDArray[Any]:
    """C's ``round``: halves away from zero (numpy's ``round`` goes to even); keeps the dtype."""
    x = np.asarray(x)
    return np.copysign(np.floor(np.abs(x) + x.dtype.type(0.5)), x)


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
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))  # division truncating to 0
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> IntArray:
    """gemmlowp's RoundingDivideByPOT: ``x / 2^exponent`` rounded half away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike,
                                     rounding: Rounding = "double") -> IntArray:
    """MultiplyByQuantizedMultiplier of int32 ``x``: ``x * multiplier * 2^(shift - 31)``.

    ``double``: SaturatingRoundingDoublingHighMul of ``x * 2^max(shift, 0)``, then
    RoundingDivideByPOT by ``max(-shift, 0)``. ``single``: ``(x * M + 2^(30 - shift)) >>
    (31 - shift)`` in 64 bits.
    """
    x = np.asarray(x, np.int64)
    multiplier = np.asarray(multiplier, np.int64)
    shift = np.asarray(shift, np.int64)
    if rounding == "single":
        total = 31 - shift
        return (x * multiplier + (np.int64(1) << (total - 1))) >> total
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x << left, multiplier), right)


def multiply_by_quantized_multiplier_64(x: ArrayLike, multiplier: ArrayLike,
                                        shift: ArrayLike) -> IntArray:
    """MultiplyByQuantizedMultiplier of an int64 ``x`` (int16 activations' 64-bit
    accumulators): the multiplier is first reduced to 16 bits, ``(M + 2^15) >> 16`` (0x7FFF at
    the top), then ``(x * reduced + 2^(14 - shift)) >> (15 - shift)``."""
    x = np.asarray(x, np.int64)
    multiplier = np.asarray(multiplier, np.int64)
    shift = np.asarray(shift, np.int64)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - shift
    return (x * reduced + (np.int64(1) << (total - 1))) >> total

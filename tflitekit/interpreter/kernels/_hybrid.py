"""The per-sample input quantizers of LiteRT's hybrid (dynamic-range) kernels, shared by
FULLY_CONNECTED and the convolutions: each row (last axis) of a float32 input is quantized on its
own, as LiteRT's x86 build runs its NEON quantizers (compiled through NEON_2_SSE)."""

from __future__ import annotations

import numpy as np

from .. import fixedpoint as fp
from ..node import Array

__all__ = ["quantize_asymmetric", "quantize_symmetric"]


def quantize_symmetric(x: Array) -> tuple[Array, Array, Array]:
    """Each row (last axis) of float32 ``x`` to [-127, 127] by its largest magnitude
    (SymmetricQuantizeFloats): values (as float64), float32 scales, zero offsets."""
    largest = np.max(np.abs(x), axis=-1)
    empty = largest == 0
    largest = np.where(empty, np.float32(1), largest)
    factor = np.where(empty, np.float32(1), largest / np.float32(127))
    q = np.clip(_round(x * (np.float32(127) / largest)[..., None]), -127, 127)
    return q, factor, np.zeros(factor.shape, np.int64)


def quantize_asymmetric(x: Array) -> tuple[Array, Array, Array]:
    """Each row of float32 ``x`` to [-128, 127] over its range widened to include 0
    (AsymmetricQuantizeFloats): the range's width in float32, the scale and the zero point
    chosen in double; values, float32 scales, zero points."""
    rmin = np.minimum(np.float32(0), np.min(x, axis=-1))
    rmax = np.maximum(np.float32(0), np.max(x, axis=-1))
    empty = rmin == rmax
    scale = np.where(empty, 1.0, (rmax - rmin).astype(np.float64)) / 255.0
    low, high = rmin / scale, rmax / scale
    zero = np.where(128.0 + np.abs(low) < 127.0 + np.abs(high), -128.0 - low, 127.0 - high)
    offset = np.where(zero <= -128, -128, np.where(zero >= 127, 127, fp.round_half_away(zero)))
    offset = np.where(empty, 0, offset).astype(np.int64)
    factor = np.where(empty, np.float32(1), scale.astype(np.float32))
    inverse = (1.0 / factor.astype(np.float64)).astype(np.float32)
    q = np.clip(offset[..., None] + _round(x * inverse[..., None]), -128, 127)
    return q, factor, offset


def _round(v: Array) -> Array:
    """Float32 ``v`` rounded as LiteRT's quantizers round on x86 (their NEON code through
    NEON_2_SSE), as float64: in each row's leading multiple of 8 columns
    ``trunc(float32(v ± 0.5))`` (values a float32 ulp below a half round up), in the remaining
    columns halves away from zero."""
    out: Array = fp.round_half_away(v.astype(np.float64))
    vector = v.shape[-1] // 8 * 8
    if vector:
        head = v[..., :vector]
        out[..., :vector] = np.trunc(head + np.where(head < 0, np.float32(-0.5),
                                                     np.float32(0.5)))
    return out

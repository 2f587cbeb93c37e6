"""Weight clustering: 1-D k-means (Lloyd's algorithm) on the values of an array.

Per slice (the whole array, or each slice along ``axis``): when the slice has at most ``k``
distinct values, the table is those values (exact). Otherwise Lloyd's algorithm runs in float64 on
the distinct values weighted by their counts, from ``init``:

- ``"kmeans++"``: k-means++ seeding (each next centre drawn with probability proportional to
  count * squared distance to the nearest centre so far);
- ``"linear"``: evenly spaced between the minimum and the maximum (TF-MOT's LINEAR);
- ``"density"``: evenly spaced points of the empirical CDF mapped back to values (quantiles);
- ``"random"``: distinct values drawn at random;

all drawn from ``numpy.random.default_rng(seed)`` afresh for every slice, so the result is
reproducible and each slice's clustering is that of the slice alone. With
``preserve_zero`` one centre is fixed at 0 (so a 0 stays exactly 0) and ``k - 1`` are free.
The values are divided by a power of two to at most 1 in magnitude (exact, bar subnormals), so
no distance or sum overflows; a centre stays within the values' range. The centres are then put
in the array's dtype (integers rounded half away from zero and clipped to the dtype's range),
deduplicated, every element is assigned to its nearest table value (a tie to the smaller), exactly
(:func:`nearest_entry`: float64 differences would round past 2^53 and overflow past the float64
range), and unused entries are dropped. The quantization: ``decode(encode(x))`` is, per
element, the nearest value of its slice's table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError
from .base import Codec, CodecParams, Encoded, register
from .packing import Packed
from .tables import (
    Quantize1D,
    check_array,
    decode_table,
    encode_table,
    nearest,
    to_dtype,
    unit_scale,
)

__all__ = ["INITS", "KMEANS", "KMeans", "kmeans_1d", "nearest_entry"]

Array = npt.NDArray[Any]
F64 = npt.NDArray[np.float64]
INITS = ("kmeans++", "linear", "density", "random")


@dataclass(frozen=True)
class KMeans:
    """k-means parameters: ``k`` centres per slice, their ``init`` (one of :data:`INITS`) and
    ``seed``; ``axis``: one clustering per slice along it (``None``: per tensor);
    ``preserve_zero``: a centre fixed at 0; ``max_iter`` Lloyd iterations at most; ``then``:
    the index coder."""

    k: int
    init: str = "kmeans++"
    seed: int = 0
    axis: int | None = None
    preserve_zero: bool = False
    max_iter: int = 100
    then: CodecParams = field(default_factory=Packed)


def _init(u: F64, w: F64, m: int, init: str, rng: np.random.Generator, fixed: F64) -> F64:
    """``m`` starting centres from the distinct values ``u`` (sorted, more than ``m``)."""
    if m == 0:
        return np.zeros(0)
    if init == "linear":
        return np.linspace(u[0], u[-1], m)
    if init == "density":
        cdf = np.cumsum(w) / w.sum()
        return np.interp(np.linspace(cdf[0], 1.0, m), cdf, u)
    if init == "random":
        return rng.choice(u, m, replace=False)
    # u is scaled into [-1, 1] (kmeans_1d), so count * squared distance cannot overflow; values
    # far below the largest may underflow to the same scaled value, or their squared distances
    # to 0, so every distance can be 0 while values are left to draw.
    centres = list(fixed)
    drawn = np.zeros(len(u), bool)  # m < len(u): one is always left
    d2 = np.min((u[:, None] - fixed[None, :]) ** 2, axis=1) * w if len(fixed) else w.copy()
    for _ in range(m):
        total = d2.sum()
        if total > 0:
            p = d2 / total
        else:  # any value not yet a centre, else (all equal once scaled) any not yet drawn
            fresh = np.isin(u, centres, invert=True)
            fresh = fresh if fresh.any() else ~drawn
            p = fresh / np.count_nonzero(fresh)
        i = rng.choice(len(u), p=p)
        drawn[i] = True
        d2 = np.minimum(d2, (u - u[i]) ** 2 * w) if centres else (u - u[i]) ** 2 * w
        centres.append(u[i])
    return np.array(centres[len(fixed):])


def kmeans_1d(u: F64, w: F64, k: int, init: str = "kmeans++",
              rng: np.random.Generator | None = None, preserve_zero: bool = False,
              max_iter: int = 100) -> F64:
    """Weighted 1-D k-means of the sorted distinct values ``u`` (weights ``w``, more than ``k``
    values): the sorted centres (float64; some may have no member)."""
    rng = np.random.default_rng(0) if rng is None else rng
    scale = unit_scale(u)  # a power of two: exact, and no overflow in the sums
    u = u / scale
    fixed = np.zeros(1 if preserve_zero else 0)
    centres = np.sort(np.concatenate([_init(u, w, k - len(fixed), init, rng, fixed), fixed]))
    for _ in range(max_iter):
        members = nearest(u, centres)
        count = np.bincount(members, weights=w, minlength=len(centres))
        total = np.bincount(members, weights=w * u, minlength=len(centres))
        moved = np.where(count > 0, total / np.where(count > 0, count, 1), centres)
        if preserve_zero:
            moved[centres == 0] = 0.0
        moved.sort()
        if np.array_equal(moved, centres):
            break
        centres = moved
    # a mean rounded in float64 may pass the extremes (and once scaled back, the float64 range)
    low, high = float(u[0]), float(u[-1])
    if preserve_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    out: F64 = np.clip(centres, low, high) * scale
    return out


def _above_midpoints(table: Array) -> Array:
    """For each two neighbours ``a < b`` of the sorted distinct ``table``, the least value of its
    dtype above ``(a + b) / 2``, exactly: a value ``x`` is nearer to ``b`` than to ``a`` when
    it is at least that."""
    if table.dtype.kind in "iu":  # floor((a + b) / 2) + 1 without overflow
        a, b = table[:-1], table[1:]
        out: Array = a // 2 + b // 2 + (a % 2 + b % 2) // 2 + 1
        return out
    a, b = table[:-1].astype(np.float64), table[1:].astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = a + b
        err = (a - (s - (s - a))) + (b - (s - a))  # the rounding error of s (TwoSum)
    # s / 2 is (a + b) / 2 where s is exact (float16/32 values but of distant magnitudes) and
    # halving it too (not subnormal); the dtype value nearest to it is the one below or above it
    mid = s / 2
    exact = np.isfinite(s) & (err == 0) & (mid * 2 == s)
    mid = np.where(exact, mid, 0.0)
    c = mid.astype(table.dtype)
    out = np.where(c.astype(np.float64) > mid, c, np.nextafter(c, np.array(np.inf, c.dtype)))
    for i in np.flatnonzero(~exact):  # the others in rationals
        m = (Fraction(float(a[i])) + Fraction(float(b[i]))) / 2
        v = table.dtype.type(float(m))
        while Fraction(float(v)) <= m:
            v = np.nextafter(v, table.dtype.type(np.inf))
        while Fraction(float(below := np.nextafter(v, table.dtype.type(-np.inf)))) > m:
            v = below
        out[i] = v
    return out


def nearest_entry(values: Array, table: Array) -> npt.NDArray[np.intp]:
    """For each of ``values``, the index of the nearest entry of the sorted distinct, non-empty
    ``table`` of the same dtype (a tie to the smaller), exactly: on the values as they are,
    with no rounded or overflowing difference."""
    return np.searchsorted(_above_midpoints(table), values, side="right")


def _quantize(params: KMeans) -> Quantize1D:
    def quantize(row: Array) -> tuple[Array, Array]:
        distinct, inverse, counts = np.unique(row, return_inverse=True, return_counts=True)
        if len(distinct) <= params.k:
            return distinct, inverse.ravel()
        u = distinct.astype(np.float64)
        rng = np.random.default_rng(params.seed)  # per slice: the slices are independent
        centres = kmeans_1d(u, counts.astype(np.float64), params.k, params.init, rng,
                            params.preserve_zero, params.max_iter)
        table = np.unique(to_dtype(centres, row.dtype))
        assign = nearest_entry(distinct, table)
        used = np.unique(assign)
        return table[used], np.searchsorted(used, assign)[inverse.ravel()]
    return quantize


def _encode(array: Array, params: KMeans) -> Encoded:
    if params.k < 1:
        raise CodecError(f"kmeans: k is at least 1, not {params.k}")
    if params.init not in INITS:
        raise CodecError(f"kmeans: init is one of {INITS}, not {params.init!r}")
    if params.max_iter < 0:
        raise CodecError("kmeans: max_iter is non-negative")
    axis = check_array(array, params.axis, "kmeans")
    return encode_table("kmeans", params, array, axis, params.then, _quantize(params))


KMEANS = register(Codec("kmeans", KMeans, _encode, decode_table, lossless=False))

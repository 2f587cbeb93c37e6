"""B&Q (bin and quantize; Sakthi, Tewfik, Pawate, ICASSP 2020): bin the values, replace each by
its bin's mean (or median).

Per slice (the whole array, or each slice along ``axis``), with ``lo``/``hi`` its minimum and
maximum, the edges are:

- ``"initial"``: the paper notebook's ``[lo, m - s, m, m + s, hi]`` (m, s: the slice's mean and
  population standard deviation);
- ``"quantile"``: the ``bins + 1`` evenly spaced quantiles (``np.quantile``, linear);
- a tuple of floats: those edges;

then clipped to ``[lo, hi]``, with ``lo`` and ``hi`` added, sorted and deduplicated
(:func:`bin_edges`). Bins are half-open ``[e_i, e_{i+1})``, the last one closed, so every value is
in exactly one bin (:func:`bin_of`). A bin's value is the exact mean (or median) of its elements,
computed in float64 and, for integer arrays, rounded once to an integer (half away from zero,
clipped to the dtype's range); float arrays keep it cast to their dtype. Empty bins get no table
entry. The quantization: ``decode(encode(x)) == table[bin_of(x)]`` with the table of the
non-empty bins' values, slice by slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError
from .base import Codec, CodecParams, Encoded, register
from .packing import Packed
from .tables import Quantize1D, check_array, decode_table, encode_table, to_dtype, unit_scale

__all__ = ["BQ", "BQ_CODEC", "bin_edges", "bin_of"]

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class BQ:
    """B&Q parameters: ``edges`` ``"initial"``, ``"quantile"`` (with ``bins``) or a tuple of
    floats; each bin's ``value`` its ``"mean"`` or ``"median"``; ``axis``: one set of bins per
    slice along it (``None``: per tensor); ``then``: the index coder."""

    edges: str | tuple[float, ...] = "initial"
    bins: int | None = None
    value: str = "mean"
    axis: int | None = None
    then: CodecParams = field(default_factory=Packed)


def _check(params: BQ) -> None:
    if params.value not in ("mean", "median"):
        raise CodecError(f"bq: value is 'mean' or 'median', not {params.value!r}")
    if params.edges == "quantile":
        if params.bins is None or params.bins < 1:
            raise CodecError("bq: quantile edges need bins >= 1")
    elif params.bins is not None:
        raise CodecError("bq: bins applies to quantile edges only")
    elif isinstance(params.edges, str) and params.edges != "initial":
        raise CodecError(f"bq: edges are 'initial', 'quantile' or floats, not {params.edges!r}")


def bin_edges(values: npt.ArrayLike, params: BQ) -> npt.NDArray[np.float64]:
    """The sorted, distinct bin edges of one slice's ``values`` (empty for no values)."""
    _check(params)
    x = np.asarray(values, np.float64).ravel()
    if x.size == 0:
        return np.zeros(0)
    lo, hi = float(x.min()), float(x.max())
    scale = unit_scale(x)  # statistics of x / scale: no overflow
    if params.edges == "initial":
        mu, sigma = float((x / scale).mean()), float((x / scale).std())
        with np.errstate(over="ignore"):  # an edge past the float64 range is clipped below
            inner = np.array([mu - sigma, mu, mu + sigma]) * scale
    elif params.edges == "quantile":
        assert params.bins is not None
        inner = np.quantile(x / scale, np.linspace(0.0, 1.0, params.bins + 1)) * scale
    else:
        inner = np.asarray(params.edges, np.float64)
    return np.unique(np.concatenate([[lo, hi], np.clip(inner, lo, hi)]))


def bin_of(values: npt.ArrayLike, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The bin of each value: ``i`` for ``edges[i] <= v < edges[i+1]``, the last bin closed."""
    x = np.asarray(values, np.float64)
    last = max(len(edges) - 2, 0)
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, last)


def _quantize(params: BQ) -> Quantize1D:
    def quantize(row: Array) -> tuple[Array, Array]:
        x = row.astype(np.float64)
        if x.size == 0:
            return np.zeros(0, row.dtype), np.zeros(0, np.intp)
        edges = bin_edges(x, params)
        bins = bin_of(x, edges)
        nbins = max(len(edges) - 1, 1)
        counts = np.bincount(bins, minlength=nbins)
        used = counts[counts > 0]
        rank = (np.cumsum(counts > 0) - 1)[bins]
        ordered = np.sort(x)  # bins are monotone in x: runs of the sorted values
        start = np.cumsum(used) - used
        first, last = ordered[start], ordered[start + used - 1]
        if params.value == "mean":
            # per bin, a power of two above its magnitudes: exact, and the sums stay finite
            scale = np.ldexp(1.0, np.minimum(np.frexp(np.maximum(-first, last))[1], 1023))
            centres = np.bincount(rank, weights=x / scale[rank]) / used * scale
        else:
            a, b = ordered[start + (used - 1) // 2], ordered[start + used // 2]
            with np.errstate(over="ignore"):  # the branch that would overflow is not taken
                centres = np.where(np.sign(a) == np.sign(b), a + (b - a) / 2, (a + b) / 2)
        # a float64 sum may round a mean past its bin's extremes (e.g. a constant bin)
        return to_dtype(np.clip(centres, first, last), row.dtype), rank
    return quantize


def _encode(array: Array, params: BQ) -> Encoded:
    _check(params)
    axis = check_array(array, params.axis, "bq")
    return encode_table("bq", params, array, axis, params.then, _quantize(params))


BQ_CODEC = register(Codec("bq", BQ, _encode, decode_table, lossless=False))

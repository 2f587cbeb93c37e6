"""The frame shared by the value quantizers (B&Q, k-means): slices, value tables, indices.

A quantizer maps each slice of an array (the whole array, or each slice along ``axis``) to a
value table in the array's dtype and one index per element into it. The :class:`Encoded` holds
the ``"values"`` table (per tensor: ``[n]``; per channel: ``[channels, stride]``, each channel's
table zero-padded to the largest, with a ``"counts"`` table of each channel's entries), and as
``inner`` the indices, in the array's shape and element order, coded by the ``then`` index coder
(per channel, an index is into its own channel's table: TFLite Micro's LUT layout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError
from .base import CodecParams, Encoded, decode, encode
from .packing import index_dtype

__all__ = ["Quantize1D", "decode_table", "encode_table", "nearest", "slices", "to_dtype",
           "unit_scale"]

Array = npt.NDArray[Any]
#: One slice's quantizer: (the slice's values, flat, in the array's dtype) -> (table, indices).
Quantize1D = Callable[[Array], tuple[Array, Array]]


def to_dtype(values: npt.NDArray[np.float64], dtype: np.dtype[Any]) -> Array:
    """Float64 ``values`` in ``dtype``: integers rounded once (half away from zero) and clipped to
    the dtype's range; floats cast."""
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    rounded = np.sign(values) * np.floor(np.abs(values) + 0.5)
    out: Array = np.clip(rounded, float(info.min), float(info.max)).astype(dtype)
    return out


def unit_scale(values: npt.NDArray[np.float64]) -> float:
    """A power of two at least the largest magnitude in ``values`` (1 for none or zeros):
    dividing by it is exact (but for subnormals) and keeps sums of the quotients finite."""
    top = float(np.abs(values).max()) if values.size else 0.0
    return float(np.ldexp(1.0, min(int(np.frexp(top)[1]), 1023))) if top > 0 else 1.0


def nearest(values: npt.NDArray[np.float64], table: npt.NDArray[np.float64]
            ) -> npt.NDArray[np.intp]:
    """For each value, the index of the nearest entry of the sorted, non-empty ``table``
    (a tie goes to the smaller entry)."""
    upper = np.clip(np.searchsorted(table, values), 1, max(len(table) - 1, 1))
    lower = upper - 1
    if len(table) == 1:
        return np.zeros(values.shape, np.intp)
    take_upper = np.abs(table[upper] - values) < np.abs(values - table[lower])
    return np.where(take_upper, upper, lower)


def check_array(array: Array, axis: int | None, codec: str) -> int | None:
    """Validate a quantizer's input; the normalised axis."""
    if array.dtype.kind not in "iuf":
        raise CodecError(f"{codec} takes integer or float arrays, not {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise CodecError(f"{codec} takes finite values")
    if axis is None:
        return None
    if not -array.ndim <= axis < array.ndim:
        raise CodecError(f"{codec}: axis {axis} is out of range for shape {array.shape}")
    return axis % array.ndim


def slices(array: Array, axis: int | None) -> Array:
    """The array as ``[slices, elements]`` rows: one row, or one per index along ``axis``."""
    if axis is None:
        return array.reshape(1, -1)
    moved = np.moveaxis(array, axis, 0)
    return moved.reshape(len(moved), int(np.prod(moved.shape[1:], dtype=np.int64)))


def encode_table(name: str, params: Any, array: Array, axis: int | None, then: CodecParams,
                 quantize: Quantize1D) -> Encoded:
    """Quantize every slice of ``array`` with ``quantize``, code the indices with ``then``."""
    rows = slices(array, axis)
    results = [quantize(row) for row in rows]
    counts = np.array([len(table) for table, _ in results], np.uint32)
    stride = int(counts.max()) if len(counts) else 0
    values = np.zeros((len(results), stride), array.dtype)
    indices = np.zeros(rows.shape, index_dtype(max(stride - 1, 1).bit_length()))
    for row, (table, index) in enumerate(results):
        values[row, :len(table)] = table
        indices[row] = index
    if axis is None:
        tables: tuple[tuple[str, Array], ...] = (("values", values.reshape(-1)),)
        indices = indices.reshape(array.shape)
    else:
        tables = (("values", values), ("counts", counts))
        moved = (array.shape[axis], *array.shape[:axis], *array.shape[axis + 1:])
        indices = np.moveaxis(indices.reshape(moved), 0, axis)
    return Encoded(name, params, array.shape, array.dtype.str, tables,
                   inner=encode(np.ascontiguousarray(indices), then))


def decode_table(encoded: Encoded) -> Array:
    """The values the indices of ``encoded.inner`` select from its ``"values"`` table(s), per
    channel along the ``axis`` of the quantizer's parameters when it has one."""
    axis = encoded.params.axis
    axis = None if axis is None else axis % len(encoded.shape)
    if encoded.inner is None:
        raise CodecError(f"{encoded.codec}: the encoding has no indices")
    values = encoded.table("values")
    indices = decode(encoded.inner).reshape(encoded.shape).astype(np.intp)
    if axis is None:
        if indices.size and int(indices.max()) >= len(values):
            raise CodecError(f"{encoded.codec}: an index is past the value table")
        return values[indices]
    rows = slices(indices, axis)
    if rows.size and int(rows.max()) >= values.shape[1]:
        raise CodecError(f"{encoded.codec}: an index is past the value table")
    out = values[np.arange(len(rows))[:, None], rows]
    moved = (encoded.shape[axis], *encoded.shape[:axis], *encoded.shape[axis + 1:])
    return np.moveaxis(out.reshape(moved), 0, axis)

"""STRIDED_SLICE, SLICE, GATHER: operators that pick values out of one sample.

Slice specs and gather axes are those of one sample. The slice specs must be constant (TFLite
Micro requires it for STRIDED_SLICE; a computed SLICE window would give a shape unknown before
the run). Where TFLite Micro lacks a feature (STRIDED_SLICE's ellipsis and new-axis masks and
``offset``), the kernels follow LiteRT's reference kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import TFLiteKitError
from ...options import BuiltinOperator, GatherOptions, StridedSliceOptions, TensorType
from ..kernel import Kernel, Registry, expect_types, options, unsupported
from ..node import Array, Node
from ._layout import INDEX_TYPES, axis, constant_ints, elements, same_type

__all__ = ["KERNELS"]


@dataclass(frozen=True)
class _Window:
    """Reshape one sample to ``expanded`` (new axes inserted), index it with ``index``, then
    reshape it to ``shape`` (shrunk axes removed)."""

    expanded: tuple[int, ...]
    index: tuple[slice, ...]
    shape: tuple[int, ...]


def _run_window(window: _Window, arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    assert x is not None
    n = x.shape[0]
    index = (slice(None), *window.index)
    picked = x.reshape(n, *window.expanded)[index]
    return [np.ascontiguousarray(picked).reshape(n, *window.shape)]


def _as_slice(kept: range) -> slice:
    """``kept`` as a slice (an empty range as an empty one: a stop of -1 means 'before 0')."""
    if not kept:
        return slice(0, 0)
    return slice(kept.start, None if kept.stop < 0 else kept.stop, kept.step)


# -- SLICE ---------------------------------------------------------------------------------------


def _prepare_slice(node: Node) -> _Window:
    data = node.input(0)
    same_type(node, data)
    for i in (1, 2):
        expect_types(node, node.input(i), *INDEX_TYPES)
    begin, size = constant_ints(node, 1, "begin"), constant_ints(node, 2, "size")
    shape = data.shape
    if len(begin) != len(shape) or len(size) != len(shape):
        unsupported(node, f"begin {begin} and size {size} for shape {list(shape)}")
    index = []
    for dim, start, count in zip(shape, begin, size, strict=True):
        stop = dim if count == -1 else start + count
        if not 0 <= start <= stop <= dim or count < -1:
            unsupported(node, f"begin {begin} and size {size} leave shape {list(shape)}")
        index.append(slice(start, stop))
    out = tuple(s.stop - s.start for s in index)
    return _Window(shape, tuple(index), out)


# -- STRIDED_SLICE (LiteRT semantics for the masks TFLite Micro ignores) -------------------------

_WHOLE = -1  # a dimension taken whole: covered by the ellipsis or past the end of the spec
_NEW_AXIS = -2  # a new dimension of size 1


def _prepare_strided_slice(node: Node) -> _Window:
    settings = options(node, StridedSliceOptions)
    data = node.input(0)
    same_type(node, data)
    for i in (1, 2, 3):
        expect_types(node, node.input(i), *INDEX_TYPES)
    begin, end, strides = (constant_ints(node, i, name)
                           for i, name in ((1, "begin"), (2, "end"), (3, "strides")))
    if not len(begin) == len(end) == len(strides):
        unsupported(node, f"begin {begin}, end {end} and strides {strides} differ in length")
    if 0 in strides:
        unsupported(node, "a stride is 0")
    if settings.offset:
        _check_offset_slice(node, settings, data.shape, begin, end, strides)
    entries = _slice_entries(node, settings, len(begin), len(data.shape))
    sizes = iter(data.shape)
    expanded = tuple(1 if e == _NEW_AXIS else next(sizes) for e in entries)
    index: list[slice] = []
    shape: list[int] = []
    for size, entry in zip(expanded, entries, strict=True):
        kept = (range(size) if entry in (_WHOLE, _NEW_AXIS) else
                _axis_range(node, settings, size, begin, end, strides, entry))
        index.append(_as_slice(kept))
        if entry < 0 or not settings.shrink_axis_mask >> entry & 1:
            shape.append(len(kept))
    return _Window(expanded, tuple(index), tuple(shape))


def _check_offset_slice(node: Node, settings: StridedSliceOptions, shape: tuple[int, ...],
                        begin: list[int], end: list[int], strides: list[int]) -> None:
    """With ``offset``, ``end`` is a size counted from ``begin``. LiteRT computes such slices
    right only when they lie inside the input (its output shape is not clamped), cover every
    dimension, go forward and use no mask; TFLite Micro ignores ``offset``."""
    masks = (settings.begin_mask, settings.end_mask, settings.ellipsis_mask,
             settings.new_axis_mask, settings.shrink_axis_mask)
    inside = len(begin) == len(shape) and all(
        min(b, e) >= 0 and b + e <= d and s > 0
        for b, e, s, d in zip(begin, end, strides, shape, strict=True))
    if any(masks) or not inside:
        unsupported(node, "offset is evaluated only for forward slices inside the input "
                          "without masks")


def _slice_entries(node: Node, settings: StridedSliceOptions, count: int, rank: int
                   ) -> list[int]:
    """Per dimension of the input with its new axes inserted: the index of the slice spec
    entry that applies to it, ``_WHOLE`` or ``_NEW_AXIS`` (LiteRT's reading of the masks: a
    new axis bit where the ellipsis bit is set has no effect)."""
    ellipsis = [i for i in range(count) if settings.ellipsis_mask >> i & 1]
    new_axes = {i for i in range(count) if settings.new_axis_mask >> i & 1} - set(ellipsis)
    if len(ellipsis) > 1:
        unsupported(node, f"ellipsis_mask {settings.ellipsis_mask} has several bits")
    if (settings.ellipsis_mask | settings.new_axis_mask) >> count:  # LiteRT reads them anyway
        unsupported(node, f"ellipsis_mask or new_axis_mask has bits past the {count} slice "
                          "entries")
    uncovered = rank - (count - len(ellipsis) - len(new_axes))
    if uncovered < 0 or (ellipsis and uncovered == 0):
        unsupported(node, f"{count} slice entries with ellipsis_mask {settings.ellipsis_mask} "
                          f"and new_axis_mask {settings.new_axis_mask} for rank {rank}")
    entries: list[int] = []
    for i in range(count):
        if i in ellipsis:
            entries += [_WHOLE] * uncovered
        else:
            entries.append(_NEW_AXIS if i in new_axes else i)
    return entries + ([] if ellipsis else [_WHOLE] * uncovered)


def _axis_range(node: Node, settings: StridedSliceOptions, size: int, begin: list[int],
                end: list[int], strides: list[int], entry: int) -> range:
    """The input indices one dimension keeps (TFLite's StridedSliceStart/EndForAxis)."""
    stride = strides[entry]
    start = begin[entry] + size if begin[entry] < 0 else begin[entry]
    start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
    if settings.begin_mask >> entry & 1:
        start = 0 if stride > 0 else size - 1
    if settings.shrink_axis_mask >> entry & 1:
        if not 0 <= start < size:
            unsupported(node, f"shrunk index {begin[entry]} is outside a dimension of {size}")
        if stride < 0:  # the runtimes' loops then write nothing
            unsupported(node, "a shrunk dimension has a negative stride")
        return range(start, start + 1)
    stop = end[entry] + (start if settings.offset else 0)
    stop = stop + size if stop < 0 else stop
    stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
    if settings.end_mask >> entry & 1:
        stop = size if stride > 0 else -1
    return range(start, stop, stride)


# -- GATHER ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Gather:
    """One sample's params viewed as (batch, outer, axis, inner) and its indices as
    (batch, coordinates); the result is reshaped to ``shape``."""

    params: tuple[int, int, int, int]
    coordinates: int
    shape: tuple[int, ...]
    where: str


def _prepare_gather(node: Node) -> _Gather:
    """GATHER on ``axis`` with ``batch_dims`` leading dimensions shared by params and indices.
    Indices must lie in [0, dimension): constant ones are checked here; computed ones at run
    time (LiteRT fails the run; TFLite Micro reads outside the tensor)."""
    settings = options(node, GatherOptions)
    params, indices = node.input(0), node.input(1)
    same_type(node, params)
    expect_types(node, indices, TensorType.INT16, *INDEX_TYPES)
    p_shape, i_shape = params.shape, indices.shape
    batch = settings.batch_dims + len(i_shape) if settings.batch_dims < 0 else settings.batch_dims
    at = axis(node, settings.axis, len(p_shape))
    if not 0 <= batch <= min(at, len(i_shape)) or p_shape[:batch] != i_shape[:batch]:
        unsupported(node, f"batch_dims {settings.batch_dims} for params {list(p_shape)} and "
                          f"indices {list(i_shape)}")
    if indices.data is not None and indices.data.size and (
            indices.data.min() < 0 or indices.data.max() >= p_shape[at]):
        unsupported(node, f"an index is outside [0, {p_shape[at]})")
    view = (elements(p_shape[:batch]), elements(p_shape[batch:at]), p_shape[at],
            elements(p_shape[at + 1:]))
    shape = (*p_shape[:at], *i_shape[batch:], *p_shape[at + 1:])
    return _Gather(view, elements(i_shape[batch:]), shape, node.where or node.name)


def _run_gather(gather: _Gather, arrays: Sequence[Array | None]) -> list[Array]:
    params, indices = arrays[0], arrays[1]
    assert params is not None and indices is not None
    batch, outer, size, inner = gather.params
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise TFLiteKitError(f"{gather.where}: an index is outside [0, {size})")
    table = params.reshape(params.shape[0], batch, outer, size, inner)
    where = indices.reshape(indices.shape[0], batch, gather.coordinates).astype(np.intp)
    samples = np.arange(params.shape[0]).reshape(-1, 1, 1)
    batches = np.arange(batch).reshape(1, -1, 1)
    picked = table[samples, batches, :, where]  # (n, batch, coordinates, outer, inner)
    n = picked.shape[0]
    return [picked.transpose(0, 1, 3, 2, 4).reshape(n, *gather.shape)]


KERNELS: Registry = {
    BuiltinOperator.STRIDED_SLICE: Kernel(_prepare_strided_slice, _run_window),
    BuiltinOperator.SLICE: Kernel(_prepare_slice, _run_window),
    BuiltinOperator.GATHER: Kernel(_prepare_gather, _run_gather),
}
"""Types: float32, int8, int16, int32, int64, uint8, bool; indices int32 or int64 (GATHER also
int16)."""

"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of 4-D NHWC images, as TFLite's reference
kernels compute them (TFLite Micro's; LiteRT's for int16 bilinear, which TFLite Micro lacks).

The output size is a constant int32 ``[height, width]`` input, so every source row and column,
and every interpolation weight, is computed once in ``prepare``, in the arithmetic TFLite uses:

- nearest: ``scale = in / out`` (or ``(in - 1) / (out - 1)`` with ``align_corners``) in float32;
  source ``floor((i + offset) * scale)`` (``round`` with ``align_corners``), offset 0.5 with
  ``half_pixel_centers``, clamped to the image.
- bilinear, float32: float32 source position, ``floor`` / ``ceil`` neighbours clamped to the
  image, and the four-term weighted sum in float32, in TFLite's order.
- bilinear, integers (``ResizeBilinearInteger``): positions in 1/1024 units with the scale
  ``round(1024 * in / out)``; the four products of value and weights summed in 64 bits (units of
  2^-20) and divided by 2^20 rounding half away from zero (``single`` rounding: half up).

Values are copied or interpolated raw: quantization parameters play no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ...options import (
    BuiltinOperator,
    ResizeBilinearOptions,
    ResizeNearestNeighborOptions,
    TensorType,
)
from ..kernel import Kernel, Registry, expect_types, options, unsupported
from ..node import Array, Node

__all__ = ["KERNELS"]

IntArray = npt.NDArray[np.int64]


def _size(node: Node, types: tuple[TensorType, ...]) -> tuple[int, int, int, int, int]:
    """Check the node; ``(in height, in width, out height, out width, channels)``."""
    x, size, y = node.input(0), node.input(1), node.outputs[0]
    expect_types(node, x, *types)
    if y.type != x.type:
        unsupported(node, f"output is {y.type_name}, input {x.type_name}")
    if len(x.shape) != 4:
        unsupported(node, f"input of rank {len(x.shape)}, expected 4")
    expect_types(node, size, TensorType.INT32)
    if size.data is None or size.data.size != 2:
        unsupported(node, f"size {size.name!r} must be a constant of two elements")
    oh, ow = (int(v) for v in np.ravel(size.data))
    if oh <= 0 or ow <= 0:
        unsupported(node, f"output size {[oh, ow]}")
    b, h, w, c = x.shape
    if tuple(y.shape) != (b, oh, ow, c):
        unsupported(node, f"output shape {list(y.shape)}, expected {[b, oh, ow, c]}")
    if h <= 0 or w <= 0:
        unsupported(node, "empty input")
    return h, w, oh, ow, c


@dataclass(frozen=True)
class _Nearest:
    rows: IntArray
    cols: IntArray
    out_shape: tuple[int, ...]


def _nearest_index(size: int, out: int, align: bool, half: bool) -> IntArray:
    f32 = np.float32
    scale = f32(size - 1) / f32(out - 1) if align and out > 1 else f32(size) / f32(out)
    pos = (np.arange(out, dtype=f32) + f32(0.5 if half else 0.0)) * scale
    source = np.copysign(np.floor(np.abs(pos) + f32(0.5)), pos) if align else np.floor(pos)
    index: IntArray = np.minimum(source.astype(np.int64), size - 1)
    return np.maximum(index, 0) if half else index


def _prepare_nearest(node: Node) -> _Nearest:
    opts = options(node, ResizeNearestNeighborOptions)
    h, w, oh, ow, _ = _size(node, (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16))
    align, half = opts.align_corners, opts.half_pixel_centers
    return _Nearest(_nearest_index(h, oh, align, half), _nearest_index(w, ow, align, half),
                    node.outputs[0].shape)


def _run_nearest(params: _Nearest, arrays: Any) -> list[Array]:
    x = arrays[0]
    n = x.shape[0]
    x = x.reshape((-1, *x.shape[-3:]))
    out = x[:, params.rows][:, :, params.cols]
    return [out.reshape((n, *params.out_shape))]


@dataclass(frozen=True)
class _Bilinear:
    """Per output row (``y``) and column (``x``): the two source indices and their weights."""

    y0: IntArray
    y1: IntArray
    x0: IntArray
    x1: IntArray
    weights: tuple[Array, Array, Array, Array]  # (1 - dy, dy) by rows, (1 - dx, dx) by columns
    integer: bool
    single_rounding: bool
    dtype: np.dtype[Any]
    out_shape: tuple[int, ...]


def _float_axis(size: int, out: int, align: bool, half: bool
                ) -> tuple[IntArray, IntArray, Array, Array]:
    f32 = np.float32
    scale = f32(size - 1) / f32(out - 1) if align and out > 1 else f32(size) / f32(out)
    value = np.arange(out, dtype=f32)
    pos = (value + f32(0.5)) * scale - f32(0.5) if half else value * scale
    low = np.maximum(np.floor(pos).astype(np.int64), 0)
    high = np.minimum(np.ceil(pos).astype(np.int64), size - 1)
    frac = pos - low.astype(f32)
    return low, high, f32(1) - frac, frac


def _c_div(a: IntArray, b: int) -> IntArray:
    """C's integer division (truncating toward zero) by a positive ``b``."""
    quotient: IntArray = np.sign(a) * (np.abs(a) // b)
    return quotient


def _integer_axis(size: int, out: int, align: bool, half: bool
                  ) -> tuple[IntArray, IntArray, Array, Array]:
    if align and out > 1:
        scale = (1024 * (size - 1) + (out - 1) // 2) // (out - 1)
    else:
        scale = (1024 * size + out // 2) // out
    value = np.arange(out, dtype=np.int64)
    pos = value * scale + scale // 2 - 512 if half else value * scale
    low = np.maximum(_c_div(pos, 1024), 0)
    high = np.minimum(_c_div(pos + 1023, 1024), size - 1)
    frac = pos - 1024 * low
    return low, high, 1024 - frac, frac


def _prepare_bilinear(node: Node) -> _Bilinear:
    opts = options(node, ResizeBilinearOptions)
    h, w, oh, ow, _ = _size(node, (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16))
    align, half = opts.align_corners, opts.half_pixel_centers
    if align and half:
        unsupported(node, "align_corners and half_pixel_centers are both set")
    integer = node.input(0).type != TensorType.FLOAT32
    axis = _integer_axis if integer else _float_axis
    y0, y1, wy0, wy1 = axis(h, oh, align, half)
    x0, x1, wx0, wx1 = axis(w, ow, align, half)
    if y0.max() >= h or x0.max() >= w:
        unsupported(node, "a source position falls outside the image (TFLite reads past it)")
    dtype = node.input(0).dtype
    assert dtype is not None
    return _Bilinear(y0, y1, x0, x1, (wy0[:, None, None], wy1[:, None, None], wx0[:, None],
                                      wx1[:, None]),
                     integer, node.rounding == "single", dtype, node.outputs[0].shape)


def _run_bilinear(params: _Bilinear, arrays: Any) -> list[Array]:
    x = arrays[0]
    n = x.shape[0]
    x = x.reshape((-1, *x.shape[-3:]))
    if params.integer:
        x = x.astype(np.int64)
    top, bottom = x[:, params.y0], x[:, params.y1]
    wy0, wy1, wx0, wx1 = params.weights
    # TFLite's order: v00*wy0*wx0 + v10*wy1*wx0 + v01*wy0*wx1 + v11*wy1*wx1.
    total = (top[:, :, params.x0] * wy0 * wx0 + bottom[:, :, params.x0] * wy1 * wx0
             + top[:, :, params.x1] * wy0 * wx1 + bottom[:, :, params.x1] * wy1 * wx1)
    if not params.integer:
        out = total + np.float32(0)
    elif params.single_rounding:
        out = (total + (1 << 19)) >> 20
    else:
        out = _c_div(total + np.where(total > 0, 1 << 19, -(1 << 19)), 1 << 20)
    return [out.astype(params.dtype).reshape((n, *params.out_shape))]


KERNELS: Registry = {
    BuiltinOperator.RESIZE_NEAREST_NEIGHBOR: Kernel(_prepare_nearest, _run_nearest),
    BuiltinOperator.RESIZE_BILINEAR: Kernel(_prepare_bilinear, _run_bilinear),
}

"""AVERAGE_POOL_2D and MAX_POOL_2D, as TFLite Micro's reference kernels compute them.

Windows are clipped to the image (padding positions are skipped, not counted). Average pool
sums the window in the input type's arithmetic (int32 for int8/int16, float32 in tap order for
float32) and divides by the number of taps in the clipped window: integers round half away
from zero, floats divide in float32. Max pool takes the raw maximum, starting from the type's
lowest value (so float NaNs are ignored). Both clamp to the fused activation's range; integer
pools require the output to share the input's scale and zero point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ...options import BuiltinOperator, Padding, Pool2DOptions, TensorType
from ..kernel import (
    Kernel,
    Registry,
    activation_range,
    expect_types,
    float_activation,
    options,
    unsupported,
)
from ..node import Array, Node

__all__ = ["KERNELS"]


@dataclass(frozen=True)
class _Params:
    average: bool
    filter: tuple[int, int]
    stride: tuple[int, int]
    pad_before: tuple[int, int]
    pad_after: tuple[int, int]
    out_hw: tuple[int, int]
    counts: npt.NDArray[np.int64]  # (oh, ow, 1): taps inside each clipped window
    low: Any  # the activation range, in the input's scalar type
    high: Any
    dtype: np.dtype[Any]
    out_shape: tuple[int, ...]


def _geometry(size: int, filter_size: int, stride: int, padding: int
                  ) -> tuple[int, int, npt.NDArray[np.int64]]:
    """TFLite's windowing along one axis: ``(output size, padding before, taps per window)``,
    where ``taps`` counts each window's positions inside the image (``ComputePaddingHeightWidth``
    without dilation)."""
    if padding == Padding.SAME:
        out = (size + stride - 1) // stride
    else:
        out = (size + stride - filter_size) // stride
    before = max((out - 1) * stride + filter_size - size, 0) // 2
    origin = np.arange(max(out, 0), dtype=np.int64) * stride - before
    taps = np.minimum(filter_size, size - origin) - np.maximum(0, -origin)
    return out, before, taps


def _prepare(node: Node, average: bool) -> _Params:
    opts = options(node, Pool2DOptions)
    x, y = node.input(0), node.outputs[0]
    expect_types(node, x, TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
    if y.type != x.type:
        unsupported(node, f"output is {y.type_name}, input {x.type_name}")
    if len(x.shape) != 4:
        unsupported(node, f"input of rank {len(x.shape)}, expected 4")
    if min(opts.filter_height, opts.filter_width, opts.stride_h, opts.stride_w) <= 0:
        unsupported(node, "filter sizes and strides must be positive")
    if opts.padding not in (Padding.SAME, Padding.VALID):
        unsupported(node, f"padding {opts.padding}")
    _, h, w, c = x.shape
    oh, top, taps_h = _geometry(h, opts.filter_height, opts.stride_h, opts.padding)
    ow, left, taps_w = _geometry(w, opts.filter_width, opts.stride_w, opts.padding)
    if tuple(y.shape) != (x.shape[0], oh, ow, c):
        unsupported(node, f"output shape {list(y.shape)}, expected {[x.shape[0], oh, ow, c]}")
    if oh <= 0 or ow <= 0 or (taps_h <= 0).any() or (taps_w <= 0).any():
        unsupported(node, "a pooling window lies wholly in the padding")
    assert x.dtype is not None
    if x.type == TensorType.FLOAT32:
        low, high = (np.float32(v) for v in float_activation(node, opts.fused_activation_function))
    else:
        if not x.quantized or not y.quantized:
            unsupported(node, "integer pooling needs quantized input and output")
        if abs(float(np.float32(x.scale_value) - np.float32(y.scale_value))) > 1e-6 or (
                x.zero_value != y.zero_value):
            unsupported(node, "the output's scale and zero point must equal the input's")
        lo, hi = activation_range(node, opts.fused_activation_function, y)
        low, high = x.dtype.type(lo), x.dtype.type(hi)
    bottom = max((oh - 1) * opts.stride_h + opts.filter_height - top - h, 0)
    right = max((ow - 1) * opts.stride_w + opts.filter_width - left - w, 0)
    return _Params(average, (opts.filter_height, opts.filter_width),
                   (opts.stride_h, opts.stride_w), (top, left), (bottom, right), (oh, ow),
                   (taps_h[:, None] * taps_w[None, :])[..., None], low, high, x.dtype,
                   y.shape)


def _windows(params: _Params, x: Array, fill: Any) -> tuple[Array, list[tuple[slice, slice]]]:
    """``x`` padded with ``fill`` and the strided slice of every filter tap."""
    (top, left), (bottom, right) = params.pad_before, params.pad_after
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    (sh, sw), (oh, ow) = params.stride, params.out_hw
    taps = [(slice(fy, fy + (oh - 1) * sh + 1, sh), slice(fx, fx + (ow - 1) * sw + 1, sw))
            for fy in range(params.filter[0]) for fx in range(params.filter[1])]
    return padded, taps


def _run(params: _Params, arrays: Any) -> list[Array]:
    x = arrays[0]
    n = x.shape[0]
    x = x.reshape((-1, *x.shape[-3:]))
    floating = params.dtype == np.float32
    if params.average:
        acc_type = np.float32 if floating else np.int32
        padded, taps = _windows(params, x, 0)
        acc = np.zeros((x.shape[0], *params.out_hw, x.shape[3]), acc_type)
        for ys, xs in taps:  # row-major tap order, as TFLite accumulates
            acc += padded[:, ys, xs, :]
        if floating:
            out = acc / params.counts.astype(np.float32)
        else:
            half = params.counts // 2
            wide = acc.astype(np.int64)
            out = np.sign(wide) * ((np.abs(wide) + half) // params.counts)
    else:
        lowest = np.finfo(np.float32).min if floating else np.iinfo(params.dtype).min
        padded, taps = _windows(params, x, lowest)
        out = np.full((x.shape[0], *params.out_hw, x.shape[3]), lowest, params.dtype)
        for ys, xs in taps:
            np.fmax(out, padded[:, ys, xs, :], out=out)
    out = np.minimum(np.maximum(out, params.low), params.high)
    return [out.astype(params.dtype).reshape((n, *params.out_shape))]


KERNELS: Registry = {
    BuiltinOperator.AVERAGE_POOL_2D: Kernel(lambda node: _prepare(node, True), _run),
    BuiltinOperator.MAX_POOL_2D: Kernel(lambda node: _prepare(node, False), _run),
}

"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, as TFLite Micro's reference kernels compute
them (and, for the hybrid kinds TFLite Micro refuses, as LiteRT's reference kernels do).

- **Integer** (int8 or int16 activations, int8 weights per tensor or per output channel):
  ``acc = Σ w * (x - zp_in) + bias`` over the taps inside the image, in an int32 accumulator that
  wraps (int8; int16 with an int32 bias) or an int64 one (int16 with an int64 bias, which int16
  depthwise and transpose convolutions always use); then MultiplyByQuantizedMultiplier per
  channel (the 64-bit form for int64 accumulators), ``+ zp_out`` (int8 only: int16 kernels use no
  zero points) and the fused activation's range. Weight zero points are ignored, as TFLite Micro
  ignores them. TRANSPOSE_CONV pads as TFLite Micro does: as a convolution over the output's size
  would be padded.
- **Float32**: the sums in float64 (TFLite Micro sums in float32, so results agree to rounding),
  ``+ bias`` in float32, then the activation's range. Filters and biases may be computed (float16
  weights widened by DEQUANTIZE).
- **Hybrid** (float32 activations, int8 weights, float bias: dynamic-range models): each sample is
  quantized to int8 on its own, asymmetrically (depthwise, grouped, and convolutions whose filter
  scales differ) or symmetrically (the others); the integer sums are scaled back in float32 in
  LiteRT's order (:mod:`._conv_stages`).

Speed: the input is padded with the value whose offset is zero (the input zero point, folded
into a per-channel constant), the windows gathered with stride tricks and summed with BLAS in
float32 or float64 wherever the sums are provably exact there (|Σ| < 2^24, resp. 2^53), in
blocks small enough for OpenBLAS to stay on the calling thread; depthwise kernels loop over the
filter taps, reading the stride's phases so that every tap is a unit-stride window. Batches run
in cache-sized chunks, written straight into the output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...options import (
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    Padding,
    TensorType,
    TransposeConvOptions,
)
from ..kernel import Kernel, Registry, options, unsupported
from ..node import Array, Node, Operand
from ._conv_stages import INT32, Finish, Scratch, Spec, abs_sum, output_stage

__all__ = ["KERNELS"]

_EXACT32 = 1 << 24  # integers below this are exact in float32 sums
_BLAS_BLOCK = 1 << 18  # multiply-adds per BLAS call (below OpenBLAS's threading threshold)
_CHUNK_BYTES = 1 << 20  # temporaries per chunk: cache-sized, so that each pass is fast


# ------------------------------------------------------------------------------------------------
# Windows
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The sliding window of a convolution over (height, width)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    before: tuple[int, int]  # padding before (top, left)
    after: tuple[int, int]  # padding after (bottom, right), as far as the windows reach
    out: tuple[int, int]

    @property
    def taps(self) -> list[tuple[int, int]]:
        return [(ky, kx) for ky in range(self.kernel[0]) for kx in range(self.kernel[1])]

    @property
    def padded(self) -> bool:
        return any(self.before) or any(self.after)


def _window(node: Node, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int], padding: int) -> _Window:
    """TFLite's windowing (ComputePaddingHeightWidth) along height and width."""
    if min(*stride, *dilation) < 1:
        unsupported(node, f"strides {list(stride)} and dilations {list(dilation)} must be "
                          "positive")
    if padding not in (Padding.SAME, Padding.VALID):
        unsupported(node, f"padding {padding}")
    out, before, after = [], [], []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        reach = (k - 1) * d + 1
        o = (n + s - 1) // s if padding == Padding.SAME else (n + s - reach) // s
        if o < 1:
            unsupported(node, "the output would be empty")
        b = max((o - 1) * s + reach - n, 0) // 2
        out.append(o)
        before.append(b)
        after.append(max((o - 1) * s + reach - n - b, 0))
    return _Window((kernel[0], kernel[1]), (stride[0], stride[1]), (dilation[0], dilation[1]),
                   (before[0], before[1]), (after[0], after[1]), (out[0], out[1]))


def _pad(x: Array, win: _Window, fill: Any, dtype: Any) -> Array:
    """``x`` (n, h, w, c) as ``dtype``, padded with ``fill`` (a scalar or one value per
    sample, shaped (n, 1, 1, 1))."""
    if not win.padded:
        return x.astype(dtype, copy=False)
    (top, left), (bottom, right) = win.before, win.after
    n, h, w, c = x.shape
    out = np.empty((n, top + h + bottom, left + w + right, c), dtype)
    out[:, :top] = fill
    out[:, top + h:] = fill
    out[:, top:top + h, :left] = fill
    out[:, top:top + h, left + w:] = fill
    out[:, top:top + h, left:left + w] = x
    return out


def _tap(padded: Array, win: _Window, ky: int, kx: int) -> Array:
    """The input value under filter tap (ky, kx) for every output position: (n, oh, ow, c)."""
    (sy, sx), (dy, dx), (oh, ow) = win.stride, win.dilation, win.out
    return padded[:, ky * dy:ky * dy + (oh - 1) * sy + 1:sy,
                  kx * dx:kx * dx + (ow - 1) * sx + 1:sx]


def _im2col(padded: Array, win: _Window, dtype: Any) -> Array:
    """Every window of ``padded`` (n, H, W, c) as a row: (n * oh * ow, kh * kw * c)."""
    n, _, _, c = padded.shape
    (kh, kw), (oh, ow) = win.kernel, win.out
    if (kh, kw) == (1, 1):
        return np.ascontiguousarray(_tap(padded, win, 0, 0), dtype).reshape(-1, c)
    sn, sh, sw, sc = padded.strides
    (sy, sx), (dy, dx) = win.stride, win.dilation
    view = np.lib.stride_tricks.as_strided(
        padded, (n, oh, ow, kh, kw, c), (sn, sh * sy, sw * sx, sh * dy, sw * dx, sc),
        writeable=False)
    cols = np.empty(view.shape, dtype)
    np.copyto(cols, view, casting="unsafe")
    return cols.reshape(n * oh * ow, kh * kw * c)


def _chunks(n: int, temp_per_sample: int) -> Iterator[slice]:
    """Slices of the batch whose temporaries take about ``_CHUNK_BYTES``."""
    step = max(1, min(n, _CHUNK_BYTES // max(temp_per_sample, 1)))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _phases(padded: Array, win: _Window) -> dict[tuple[int, int], Array]:
    """``padded`` split by the stride's phases (space to depth), each contiguous, so that every
    filter tap reads a unit-stride window: phase ``(py, px)`` holds rows ``py::sy`` and columns
    ``px::sx``."""
    (sy, sx), (dy, dx) = win.stride, win.dilation
    needed = {(ky * dy % sy, kx * dx % sx) for ky, kx in win.taps}
    return {(py, px): np.ascontiguousarray(padded[:, py::sy, px::sx]) for py, px in needed}


def _unit_tap(phases: dict[tuple[int, int], Array], win: _Window, ky: int, kx: int) -> Array:
    """:func:`_tap` read from the stride's phases: (n, oh, ow, c), each output row contiguous."""
    (sy, sx), (dy, dx), (oh, ow) = win.stride, win.dilation, win.out
    y, x = ky * dy, kx * dx
    return phases[y % sy, x % sx][:, y // sy:y // sy + oh, x // sx:x // sx + ow]


def _check_output(node: Node, y: Operand, expected: Sequence[int]) -> None:
    if tuple(y.shape) != tuple(expected):
        unsupported(node, f"output shape {list(y.shape)}, expected {list(expected)}")


def _batch(x: Array | None) -> tuple[Array, tuple[int, ...]]:
    """The leading run batch and the model's batch merged, (n, h, w, c), and the leading axes
    to restore on the output."""
    assert x is not None
    return x.reshape(-1, *x.shape[-3:]), x.shape[:-3]


# ------------------------------------------------------------------------------------------------
# CONV_2D
# ------------------------------------------------------------------------------------------------

_CONV = Spec(0, 1, 2, 0, True, (TensorType.INT32, TensorType.INT64), True)


@dataclass(frozen=True)
class _Conv:
    win: _Window
    groups: int
    out_shape: tuple[int, ...]
    mats: tuple[Array, ...] | None  # per group (kh * kw * cin / groups, cout / groups)
    finish: Finish


def _conv_matrices(w: Array, groups: int, dtype: Any) -> tuple[Array, ...]:
    per = w.shape[0] // groups
    return tuple(np.ascontiguousarray(w[g * per:(g + 1) * per].reshape(per, -1).T, dtype)
                 for g in range(groups))


def _prepare_conv(node: Node) -> _Conv:
    opts = options(node, Conv2DOptions)
    x, w, y = node.input(0), node.input(1), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4:
        unsupported(node, "input and filter must have rank 4")
    cout, kh, kw, cin = w.shape
    if cin < 1 or x.shape[3] % cin or cout % (x.shape[3] // cin):
        unsupported(node, f"filter depth {cin} does not split input depth {x.shape[3]} and "
                          f"{cout} output channels into groups")
    groups = x.shape[3] // cin
    win = _window(node, x.shape[1:3], (kh, kw), (opts.stride_h, opts.stride_w),
                  (opts.dilation_h_factor, opts.dilation_w_factor), opts.padding)
    _check_output(node, y, (x.shape[0], *win.out, cout))
    finish = output_stage(node, _CONV, opts.fused_activation_function, opts.quantized_bias_type,
                          groups > 1)
    if w.data is None:
        return _Conv(win, groups, y.shape, None, finish)
    if w.type == TensorType.FLOAT32:
        dtype: Any = np.float64
    else:  # exact in float32 while every partial sum stays below 2^24
        largest = 32768 if x.type == TensorType.INT16 else 128
        exact = largest * abs_sum(w.data.reshape(cout, -1)) < _EXACT32
        dtype = np.float32 if exact else np.float64
    return _Conv(win, groups, y.shape, _conv_matrices(w.data, groups, dtype), finish)


def _conv_sums(p: _Conv, mats: tuple[Array, ...], x: Array, fill: Any) -> Array:
    """Σ w * padded input for every output position and channel: (n * oh * ow, cout)."""
    padded = _pad(x, p.win, fill, x.dtype)
    if p.groups == 1:
        return _matmul(_im2col(padded, p.win, mats[0].dtype), mats[0])
    per = x.shape[3] // p.groups
    return np.concatenate([_matmul(_im2col(padded[..., g * per:(g + 1) * per], p.win, m.dtype),
                                   m) for g, m in enumerate(mats)], axis=1)


def _matmul(a: Array, b: Array) -> Array:
    """``a @ b`` as a stack of products of at most ``_BLAS_BLOCK`` multiply-adds each, which
    OpenBLAS runs on the calling thread: its worker threads, woken for every chunk and spinning
    in between, slowed whole models several times over on small machines."""
    rows = max(1, _BLAS_BLOCK // (b.shape[0] * b.shape[1]))
    if rows >= a.shape[0]:
        return a @ b
    whole = a.shape[0] // rows * rows
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    np.matmul(a[:whole].reshape(-1, rows, a.shape[1]), b,
              out=out[:whole].reshape(-1, rows, b.shape[1]))
    if whole < a.shape[0]:
        np.matmul(a[whole:], b, out=out[whole:])
    return out


def _run_conv(p: _Conv, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[0])
    mats = p.mats
    if mats is None:
        mats = _conv_matrices(np.asarray(arrays[1])[0], p.groups, np.float64)
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    k = sum(m.shape[0] for m in mats)
    temp = oh * ow * (k * mats[0].itemsize + cout * 40)
    scratch = Scratch()
    for part in _chunks(x.shape[0], temp):
        q, fill, factor, zero = p.finish.inputs(x[part])
        sums = _conv_sums(p, mats, q, fill).reshape(q.shape[0], oh, ow, cout)
        p.finish(sums, arrays, factor, zero, out[part], scratch)
    return [out.reshape(*lead, oh, ow, cout)]


# ------------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D
# ------------------------------------------------------------------------------------------------

_DEPTHWISE = Spec(0, 1, 2, 3, True, (TensorType.INT64,), True)


@dataclass(frozen=True)
class _Depthwise:
    win: _Window
    multiplier: int
    out_shape: tuple[int, ...]
    taps: Array | None  # (kh * kw, 1, out width, channels) in the accumulator's type
    finish: Finish


def _prepare_depthwise(node: Node) -> _Depthwise:
    opts = options(node, DepthwiseConv2DOptions)
    x, w, y = node.input(0), node.input(1), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or w.shape[0] != 1:
        unsupported(node, "input and filter must have rank 4, the filter shaped [1, h, w, c]")
    _, kh, kw, cout = w.shape
    cin = x.shape[3]
    if cout % cin or opts.depth_multiplier != cout // cin:
        unsupported(node, f"depth multiplier {opts.depth_multiplier} with {cin} input and "
                          f"{cout} output channels")
    win = _window(node, x.shape[1:3], (kh, kw), (opts.stride_h, opts.stride_w),
                  (opts.dilation_h_factor, opts.dilation_w_factor), opts.padding)
    _check_output(node, y, (x.shape[0], *win.out, cout))
    finish = output_stage(node, _DEPTHWISE, opts.fused_activation_function, TensorType.INT64, True)
    if w.data is None:
        return _Depthwise(win, cout // cin, y.shape, None, finish)
    taps = w.data.reshape(kh * kw, cout)
    if w.type == TensorType.FLOAT32:
        dtype: Any = np.float64
    else:  # the raw sums (input values up to 2^15 in magnitude) in int32 when they fit
        largest = 32768 if x.type == TensorType.INT16 else 128
        dtype = np.int32 if largest * abs_sum(taps.T) < INT32 else np.int64
    return _Depthwise(win, cout // cin, y.shape, _tile_taps(taps, win, dtype), finish)


def _tile_taps(taps: Array, win: _Window, dtype: Any) -> Array:
    """(kh * kw, channels) repeated along the output width: numpy's inner loops then run over
    whole output rows rather than single pixels."""
    tiled = np.broadcast_to(taps[:, None, None, :], (taps.shape[0], 1, win.out[1], taps.shape[1]))
    return np.ascontiguousarray(tiled, dtype)


def _depthwise_sums(p: _Depthwise, taps: Array, x: Array, fill: Any, scratch: Scratch
                    ) -> Array:
    """Σ w * padded input per output position and channel: (n, oh, ow, cout), taps' type."""
    if p.multiplier > 1:
        x = np.repeat(x, p.multiplier, axis=3)
    phases = _phases(_pad(x, p.win, fill, taps.dtype), p.win)
    shape = (x.shape[0], *p.out_shape[1:])
    acc, product = (scratch.take(name, shape, taps.dtype) for name in ("sums", "product"))
    np.multiply(_unit_tap(phases, p.win, 0, 0), taps[0], out=acc)
    for t, (ky, kx) in enumerate(p.win.taps[1:], start=1):
        np.multiply(_unit_tap(phases, p.win, ky, kx), taps[t], out=product)
        acc += product
    return acc


def _run_depthwise(p: _Depthwise, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[0])
    taps = p.taps
    if taps is None:
        taps = _tile_taps(np.asarray(arrays[1]).reshape(len(p.win.taps), -1), p.win, np.float64)
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    padded = (x.shape[1] + sum(p.win.before) + sum(p.win.after)) * (x.shape[2] + 8) * cout
    temp = (padded + 3 * oh * ow * cout) * taps.itemsize
    scratch = Scratch()
    for part in _chunks(x.shape[0], temp):
        q, fill, factor, zero = p.finish.inputs(x[part])
        sums = _depthwise_sums(p, taps, q, fill, scratch)
        p.finish(sums, arrays, factor, zero, out[part], scratch)
    return [out.reshape(*lead, oh, ow, cout)]


# ------------------------------------------------------------------------------------------------
# TRANSPOSE_CONV
# ------------------------------------------------------------------------------------------------

_TRANSPOSE = Spec(2, 1, 3, 0, False, (TensorType.INT16, TensorType.INT64), False)


@dataclass(frozen=True)
class _Transpose:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    before: tuple[int, int]  # the output's cropping (top, left)
    out_shape: tuple[int, ...]
    mat: Array | None  # (cin, kh * kw * cout), float64
    zero: int  # the input zero point
    finish: Finish


def _prepare_transpose(node: Node) -> _Transpose:
    opts = options(node, TransposeConvOptions)
    w, x, y = node.input(1), node.input(2), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        unsupported(node, "input, filter and output must have rank 4")
    cout, kh, kw, cin = w.shape
    if cin != x.shape[3] or y.shape[3] != cout or y.shape[0] != x.shape[0]:
        unsupported(node, f"filter {list(w.shape)} does not fit input {list(x.shape)} and "
                          f"output {list(y.shape)}")
    # TFLite Micro pads as it would pad a convolution over the output's size.
    win = _window(node, y.shape[1:3], (kh, kw), (opts.stride_h, opts.stride_w), (1, 1),
                  opts.padding)
    finish = output_stage(node, _TRANSPOSE, opts.fused_activation_function, TensorType.INT64, False)
    mat = None if w.data is None else _transpose_matrix(w.data)
    return _Transpose((kh, kw), win.stride, win.before, y.shape, mat, finish.fill, finish)


def _transpose_matrix(w: Array) -> Array:
    """(cout, kh, kw, cin) -> (cin, kh * kw * cout)."""
    return np.ascontiguousarray(w.transpose(3, 1, 2, 0).reshape(w.shape[3], -1), np.float64)


def _transpose_sums(p: _Transpose, mat: Array, x: Array) -> Array:
    """Every input pixel's products scattered onto the output: (n, oh, ow, cout), float64."""
    n, h, w, cin = x.shape
    (kh, kw), (sy, sx), (top, left) = p.kernel, p.stride, p.before
    oh, ow, cout = p.out_shape[1:]
    centred = x.astype(np.float64).reshape(-1, cin)
    if p.zero:
        centred -= p.zero
    cols = (centred @ mat).reshape(n, h, w, kh, kw, cout)
    canvas = np.zeros((n, max((h - 1) * sy + kh, top + oh), max((w - 1) * sx + kw, left + ow),
                       cout))
    for ky in range(kh):
        for kx in range(kw):
            canvas[:, ky:ky + (h - 1) * sy + 1:sy, kx:kx + (w - 1) * sx + 1:sx] += (
                cols[:, :, :, ky, kx])
    return canvas[:, top:top + oh, left:left + ow]


def _run_transpose(p: _Transpose, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[2])
    mat = p.mat if p.mat is not None else _transpose_matrix(np.asarray(arrays[1])[0])
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    temp = 8 * (x[0].size * (1 + mat.shape[1] // x.shape[3]) + 4 * oh * ow * cout)
    scratch = Scratch()
    for part in _chunks(x.shape[0], temp):
        p.finish(_transpose_sums(p, mat, x[part]), arrays, None, None, out[part], scratch)
    return [out.reshape(*lead, oh, ow, cout)]


KERNELS: Registry = {
    BuiltinOperator.CONV_2D: Kernel(_prepare_conv, _run_conv),
    BuiltinOperator.DEPTHWISE_CONV_2D: Kernel(_prepare_depthwise, _run_depthwise),
    BuiltinOperator.TRANSPOSE_CONV: Kernel(_prepare_transpose, _run_transpose),
}

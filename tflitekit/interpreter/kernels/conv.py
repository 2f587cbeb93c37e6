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
- **Float32**: bit-exact with the reference kernels' float loops: one float32 product and one
  float32 addition per tap, in their order (filter row, filter column, input channel for
  CONV_2D; filter row and column for DEPTHWISE_CONV_2D; input pixel and channel for the
  scattering TRANSPOSE_CONV), taps outside the image skipped, then ``+ bias`` in float32 and the
  activation's range. A Python loop runs over the taps, each vectorised over the batch, the
  output pixels and channels. Filters and biases may be computed (float16 weights widened by
  DEQUANTIZE).
- **Hybrid** (float32 activations, int8 weights, float bias: dynamic-range models): each sample is
  quantized to int8 on its own, asymmetrically (depthwise, grouped, and convolutions whose filter
  scales differ) or symmetrically (the others); the integer sums are scaled back in float32 in
  LiteRT's order (:mod:`._conv_stages`). TRANSPOSE_CONV (always asymmetric) scales every term
  ``(q - zp) * w`` on its own and adds them in float32, in the float kernel's order.

Speed: integer inputs are padded with the value whose offset is zero (the input zero point,
folded into a per-channel constant), the windows gathered with stride tricks and summed with BLAS
in float32 or float64 wherever the sums are provably exact there (|Σ| < 2^24, resp. 2^53), in
blocks small enough for OpenBLAS to stay on the calling thread; depthwise kernels loop over the
filter taps, reading the stride's phases so that every tap is a unit-stride window. The float
loops of CONV_2D and TRANSPOSE_CONV run channel-major (the output channels outermost), so that
each tap's pass runs over whole rows of pixels. Batches run in cache-sized chunks, written
straight into the output.
"""

from __future__ import annotations

import math
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

__all__ = ["KERNELS", "Window", "chunks", "depthwise_sums", "im2col", "matmul", "pad",
           "tflite_window", "tile_taps"]

_EXACT32 = 1 << 24  # integers below this are exact in float32 sums
_BLAS_BLOCK = 1 << 18  # multiply-adds per BLAS call (below OpenBLAS's threading threshold)
_CHUNK_BYTES = 1 << 20  # temporaries per chunk: cache-sized, so that each pass is fast
_TILE_BYTES = 1 << 18  # depthwise filter taps repeated over the output pixels up to this size


def _quiet() -> np.errstate:
    """Float sums overflow and make NaNs silently, as in C."""
    return np.errstate(over="ignore", invalid="ignore")


# ------------------------------------------------------------------------------------------------
# Windows
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
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


def tflite_window(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                  dilation: Sequence[int], same: bool) -> Window | None:
    """TFLite's windowing (ComputePaddingHeightWidth) along height and width, SAME or VALID
    padding (positive strides and dilations); None when the output would be empty."""
    out, before, after = [], [], []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        reach = (k - 1) * d + 1
        o = (n + s - 1) // s if same else (n + s - reach) // s
        if o < 1:
            return None
        b = max((o - 1) * s + reach - n, 0) // 2
        out.append(o)
        before.append(b)
        after.append(max((o - 1) * s + reach - n - b, 0))
    return Window((kernel[0], kernel[1]), (stride[0], stride[1]), (dilation[0], dilation[1]),
                  (before[0], before[1]), (after[0], after[1]), (out[0], out[1]))


def _window(node: Node, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int], padding: int) -> Window:
    """:func:`tflite_window` of a node's options, refusing what TFLite refuses."""
    if min(*stride, *dilation) < 1:
        unsupported(node, f"strides {list(stride)} and dilations {list(dilation)} must be "
                          "positive")
    if padding not in (Padding.SAME, Padding.VALID):
        unsupported(node, f"padding {padding}")
    win = tflite_window(size, kernel, stride, dilation, padding == Padding.SAME)
    if win is None:
        unsupported(node, "the output would be empty")
    return win


def _buffer(scratch: Scratch | None, name: str, shape: tuple[int, ...], dtype: Any) -> Array:
    """An uninitialised array: from ``scratch`` when given (reused memory), else new."""
    return np.empty(shape, dtype) if scratch is None else scratch.take(name, shape, dtype)


def pad(x: Array, win: Window, fill: Any, dtype: Any, scratch: Scratch | None = None) -> Array:
    """``x`` (n, h, w, c) as ``dtype``, padded with ``fill`` (a scalar or one value per
    sample, shaped (n, 1, 1, 1))."""
    (top, left), (bottom, right) = win.before, win.after
    n, h, w, c = x.shape
    if not win.padded and x.dtype == dtype:
        return x
    out = _buffer(scratch, "padded", (n, top + h + bottom, left + w + right, c), dtype)
    if not win.padded:
        np.copyto(out, x, casting="unsafe")
        return out
    out[:, :top] = fill
    out[:, top + h:] = fill
    out[:, top:top + h, :left] = fill
    out[:, top:top + h, left + w:] = fill
    out[:, top:top + h, left:left + w] = x
    return out


def _tap(padded: Array, win: Window, ky: int, kx: int) -> Array:
    """The input value under filter tap (ky, kx) for every output position: (n, oh, ow, c)."""
    (sy, sx), (dy, dx), (oh, ow) = win.stride, win.dilation, win.out
    return padded[:, ky * dy:ky * dy + (oh - 1) * sy + 1:sy,
                  kx * dx:kx * dx + (ow - 1) * sx + 1:sx]


def im2col(padded: Array, win: Window, dtype: Any, scratch: Scratch | None = None) -> Array:
    """Every window of ``padded`` (n, H, W, c) as a row: (n * oh * ow, kh * kw * c)."""
    n, _, _, c = padded.shape
    (kh, kw), (oh, ow) = win.kernel, win.out
    if (kh, kw) == (1, 1):
        view = _tap(padded, win, 0, 0)
    else:
        sn, sh, sw, sc = padded.strides
        (sy, sx), (dy, dx) = win.stride, win.dilation
        view = np.lib.stride_tricks.as_strided(
            padded, (n, oh, ow, kh, kw, c), (sn, sh * sy, sw * sx, sh * dy, sw * dx, sc),
            writeable=False)
    cols = _buffer(scratch, "cols", view.shape, dtype)
    np.copyto(cols, view, casting="unsafe")
    return cols.reshape(n * oh * ow, kh * kw * c)


def chunks(n: int, temp_per_sample: int, budget: int = _CHUNK_BYTES) -> Iterator[slice]:
    """Slices of the batch whose temporaries take about ``budget`` bytes."""
    step = max(1, min(n, budget // max(temp_per_sample, 1)))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _phases(padded: Array, win: Window, scratch: Scratch | None = None
            ) -> dict[tuple[int, int], Array]:
    """``padded`` split by the stride's phases (space to depth), each contiguous, so that every
    filter tap reads a unit-stride window: phase ``(py, px)`` holds rows ``py::sy`` and columns
    ``px::sx``."""
    (sy, sx), (dy, dx) = win.stride, win.dilation
    if (sy, sx) == (1, 1):
        return {(0, 0): padded}
    phases = {}
    for py, px in {(ky * dy % sy, kx * dx % sx) for ky, kx in win.taps}:
        view = padded[:, py::sy, px::sx]
        phases[py, px] = _buffer(scratch, f"phase {py} {px}", view.shape, view.dtype)
        np.copyto(phases[py, px], view)
    return phases


def _unit_tap(phases: dict[tuple[int, int], Array], win: Window, ky: int, kx: int) -> Array:
    """:func:`_tap` read from the stride's phases: (n, oh, ow, c), each output row contiguous."""
    (sy, sx), (dy, dx), (oh, ow) = win.stride, win.dilation, win.out
    y, x = ky * dy, kx * dx
    return phases[y % sy, x % sx][:, y // sy:y // sy + oh, x // sx:x // sx + ow]


def _inside(win: Window, size: Sequence[int], ky: int, kx: int
            ) -> tuple[slice, slice, slice, slice] | None:
    """Where filter tap (ky, kx) reads inside the image: the output rows and columns, and the
    input rows and columns they read; None when it never does."""
    found = []
    for k, n, s, d, b, o in zip((ky, kx), size, win.stride, win.dilation, win.before, win.out,
                                strict=True):
        shift = k * d - b  # the input index of output 0
        first, last = max(0, -(shift // s)), min(o, (n - 1 - shift) // s + 1)
        if first >= last:
            return None
        found.append((slice(first, last), slice(first * s + shift, (last - 1) * s + shift + 1, s)))
    (rows, in_rows), (cols, in_cols) = found
    return rows, cols, in_rows, in_cols


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
    win: Window
    groups: int
    out_shape: tuple[int, ...]
    mats: tuple[Array, ...] | None  # integer filters: per group (kh * kw * cin / g, cout / g)
    floats: Array | None  # a constant float filter, (kh, kw, cin / groups, cout) float32
    finish: Finish


def _conv_matrices(w: Array, groups: int, dtype: Any) -> tuple[Array, ...]:
    per = w.shape[0] // groups
    return tuple(np.ascontiguousarray(w[g * per:(g + 1) * per].reshape(per, -1).T, dtype)
                 for g in range(groups))


def _float_filter(w: Array) -> Array:
    """(cout, kh, kw, cin) -> (kh, kw, cin, cout), float32: the reference order of the taps."""
    return np.ascontiguousarray(w.transpose(1, 2, 3, 0), np.float32)


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
    if w.type == TensorType.FLOAT32:
        floats = None if w.data is None else _float_filter(w.data)
        return _Conv(win, groups, y.shape, None, floats, finish)
    assert w.data is not None  # integer filters are constant (output_stage checks)
    # exact in float32 while every partial sum stays below 2^24
    largest = 32768 if x.type == TensorType.INT16 else 128
    exact = largest * abs_sum(w.data.reshape(cout, -1)) < _EXACT32
    mats = _conv_matrices(w.data, groups, np.float32 if exact else np.float64)
    return _Conv(win, groups, y.shape, mats, None, finish)


def _float_conv_sums(p: _Conv, w: Array, x: Array, scratch: Scratch) -> Array:
    """Σ w * x as reference_ops::Conv adds it (float32, tap after tap, taps outside the image
    skipped): (n, oh, ow, cout), a channel-major view."""
    kh, kw, per, cout = w.shape
    n, h, width, _ = x.shape
    (oh, ow), groups = p.win.out, p.groups
    by_group = w.reshape(kh, kw, per, groups, cout // groups, 1, 1, 1)
    planes = np.ascontiguousarray(np.moveaxis(x, 3, 0), np.float32).reshape(groups, per, n, h,
                                                                             width)
    acc = scratch.take("sums", (groups, cout // groups, n, oh, ow), np.float32)
    acc.fill(0)
    for ky, kx in p.win.taps:
        inside = _inside(p.win, (h, width), ky, kx)
        if inside is None:
            continue
        rows, cols, in_rows, in_cols = inside
        target = acc[..., rows, cols]
        product = scratch.take("product", target.shape, np.float32)
        with _quiet():
            for c in range(per):
                np.multiply(by_group[ky, kx, c], planes[:, c, None, :, in_rows, in_cols],
                            out=product)
                target += product
    return np.moveaxis(acc.reshape(cout, n, oh, ow), 0, -1)


def _conv_sums(p: _Conv, mats: tuple[Array, ...], x: Array, fill: Any, scratch: Scratch
               ) -> Array:
    """Σ w * padded input for every output position and channel: (n * oh * ow, cout)."""
    padded = pad(x, p.win, fill, x.dtype, scratch)
    if p.groups == 1:
        return matmul(im2col(padded, p.win, mats[0].dtype, scratch), mats[0], scratch)
    per = x.shape[3] // p.groups
    return np.concatenate([matmul(im2col(padded[..., g * per:(g + 1) * per], p.win, m.dtype,
                                         scratch), m) for g, m in enumerate(mats)], axis=1)


def matmul(a: Array, b: Array, scratch: Scratch | None = None) -> Array:
    """``a @ b`` as a stack of products of at most ``_BLAS_BLOCK`` multiply-adds each, which
    OpenBLAS runs on the calling thread: its worker threads, woken for every chunk and spinning
    in between, slowed whole models several times over on small machines."""
    rows = max(1, _BLAS_BLOCK // (b.shape[0] * b.shape[1]))
    out = _buffer(scratch, "matmul", (a.shape[0], b.shape[1]), np.result_type(a, b))
    if rows >= a.shape[0]:
        return np.matmul(a, b, out=out)
    whole = a.shape[0] // rows * rows
    np.matmul(a[:whole].reshape(-1, rows, a.shape[1]), b,
              out=out[:whole].reshape(-1, rows, b.shape[1]))
    if whole < a.shape[0]:
        np.matmul(a[whole:], b, out=out[whole:])
    return out


def _run_conv(p: _Conv, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[0])
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    scratch = Scratch()
    if p.mats is None:
        floats = p.floats if p.floats is not None else _float_filter(np.asarray(arrays[1])[0])
        for part in chunks(x.shape[0], 4 * (x[0].size + 2 * oh * ow * cout)):
            sums = _float_conv_sums(p, floats, x[part], scratch)
            p.finish(sums, arrays, None, None, out[part], scratch)
        return [out.reshape(*lead, oh, ow, cout)]
    mats = p.mats
    k = sum(m.shape[0] for m in mats)
    temp = oh * ow * (k * mats[0].itemsize + cout * 40)
    for part in chunks(x.shape[0], temp):
        q, fill, factor, zero = p.finish.inputs(x[part])
        sums = _conv_sums(p, mats, q, fill, scratch).reshape(q.shape[0], oh, ow, cout)
        p.finish(sums, arrays, factor, zero, out[part], scratch)
    return [out.reshape(*lead, oh, ow, cout)]


# ------------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D
# ------------------------------------------------------------------------------------------------

_DEPTHWISE = Spec(0, 1, 2, 3, True, (TensorType.INT64,), True)


@dataclass(frozen=True)
class _Depthwise:
    win: Window
    multiplier: int
    out_shape: tuple[int, ...]
    taps: Array | None  # integer filters: (kh * kw, 1, out width, channels) in the sums' type
    floats: Array | None  # a constant float filter: (kh * kw, channels) float32
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
    if w.type == TensorType.FLOAT32:
        floats = None if w.data is None else w.data.reshape(kh * kw, cout).astype(np.float32)
        return _Depthwise(win, cout // cin, y.shape, None, floats, finish)
    assert w.data is not None  # integer filters are constant (output_stage checks)
    taps = w.data.reshape(kh * kw, cout)
    # the raw sums (input values up to 2^15 in magnitude) in int32 when they fit
    largest = 32768 if x.type == TensorType.INT16 else 128
    dtype = np.int32 if largest * abs_sum(taps.T) < INT32 else np.int64
    return _Depthwise(win, cout // cin, y.shape, tile_taps(taps, win, dtype), None, finish)


def tile_taps(taps: Array, win: Window, dtype: Any) -> Array:
    """(kh * kw, channels) repeated over the output pixels (along its width only when that
    would take more than ``_TILE_BYTES``): numpy's inner loops then run over whole output
    images or rows rather than single pixels."""
    kh_kw, channels = taps.shape
    (oh, ow), size = win.out, np.dtype(dtype).itemsize
    rows = oh if kh_kw * oh * ow * channels * size <= _TILE_BYTES else 1
    tiled = np.broadcast_to(taps[:, None, None, :], (kh_kw, rows, ow, channels))
    return np.ascontiguousarray(tiled, dtype)


def depthwise_sums(x: Array, taps: Array, win: Window, fill: Any, multiplier: int,
                   scratch: Scratch) -> Array:
    """Σ w * padded input per output position and channel: (n, oh, ow, channels), taps'
    type (:func:`tile_taps`); ``x`` is (n, h, w, channels / multiplier), padded with
    ``fill``."""
    if multiplier > 1:
        x = np.repeat(x, multiplier, axis=3)
    phases = _phases(pad(x, win, fill, taps.dtype, scratch), win, scratch)
    shape = (x.shape[0], *win.out, taps.shape[-1])
    acc, product = (scratch.take(name, shape, taps.dtype) for name in ("sums", "product"))
    np.multiply(_unit_tap(phases, win, 0, 0), taps[0], out=acc)
    for t, (ky, kx) in enumerate(win.taps[1:], start=1):
        np.multiply(_unit_tap(phases, win, ky, kx), taps[t], out=product)
        acc += product
    return acc


def _float_depthwise_sums(p: _Depthwise, taps: Array, x: Array, scratch: Scratch) -> Array:
    """Σ w * x as reference_ops::DepthwiseConv adds it (float32, tap after tap, taps outside
    the image skipped): (n, oh, ow, cout)."""
    if p.multiplier > 1:
        x = np.repeat(x, p.multiplier, axis=3)
    acc = scratch.take("sums", (x.shape[0], *p.out_shape[1:]), np.float32)
    acc.fill(0)
    for t, (ky, kx) in enumerate(p.win.taps):
        inside = _inside(p.win, x.shape[1:3], ky, kx)
        if inside is None:
            continue
        rows, cols, in_rows, in_cols = inside
        target = acc[:, rows, cols]
        product = scratch.take("product", target.shape, np.float32)
        with _quiet():
            np.multiply(x[:, in_rows, in_cols], taps[t], out=product)
            target += product
    return acc


def _run_depthwise(p: _Depthwise, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[0])
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    scratch = Scratch()
    if p.taps is None:
        floats = p.floats
        if floats is None:
            floats = np.asarray(arrays[1], np.float32).reshape(len(p.win.taps), cout)
        for part in chunks(x.shape[0], 4 * (x[0].size * p.multiplier + 2 * oh * ow * cout)):
            sums = _float_depthwise_sums(p, floats, x[part], scratch)
            p.finish(sums, arrays, None, None, out[part], scratch)
        return [out.reshape(*lead, oh, ow, cout)]
    taps = p.taps
    (top, left), (bottom, right) = p.win.before, p.win.after
    padded = (x.shape[1] + top + bottom) * (x.shape[2] + left + right) * cout
    temp = (2 * padded + 3 * oh * ow * cout) * taps.itemsize  # padded, phases, sums
    for part in chunks(x.shape[0], temp):
        q, fill, factor, zero = p.finish.inputs(x[part])
        sums = depthwise_sums(q, taps, p.win, fill, p.multiplier, scratch)
        p.finish(sums, arrays, factor, zero, out[part], scratch)
    return [out.reshape(*lead, oh, ow, cout)]


# ------------------------------------------------------------------------------------------------
# TRANSPOSE_CONV
# ------------------------------------------------------------------------------------------------

_TRANSPOSE = Spec(2, 1, 3, 0, True, (TensorType.INT16, TensorType.INT64), False)


@dataclass(frozen=True)
class _Transpose:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    before: tuple[int, int]  # the output's cropping (top, left)
    out_shape: tuple[int, ...]
    mat: Array | None  # integer inputs: (cin, kh * kw * cout), float64
    floats: Array | None  # float and hybrid kinds, a constant filter: (kh, kw, cin, cout) float32
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
    mat = floats = None
    if x.type == TensorType.FLOAT32:
        floats = None if w.data is None else _float_filter(w.data)
    else:
        assert w.data is not None  # integer filters are constant (output_stage checks)
        mat = _transpose_matrix(w.data)
    return _Transpose((kh, kw), win.stride, win.before, y.shape, mat, floats, finish.fill,
                      finish)


def _transpose_matrix(w: Array) -> Array:
    """(cout, kh, kw, cin) -> (cin, kh * kw * cout)."""
    return np.ascontiguousarray(w.transpose(3, 1, 2, 0).reshape(w.shape[3], -1), np.float64)


def _reach(p: _Transpose, h: int, w: int) -> tuple[int, int]:
    """The height and width of a canvas covering every output position an input pixel reaches,
    and the output's."""
    (kh, kw), (sy, sx), (top, left), (oh, ow) = p.kernel, p.stride, p.before, p.out_shape[1:3]
    return max((h - 1) * sy + kh, top + oh), max((w - 1) * sx + kw, left + ow)


def _crop(p: _Transpose, canvas: Array) -> Array:
    (top, left), (oh, ow) = p.before, p.out_shape[1:3]
    return canvas[:, top:top + oh, left:left + ow]


def _transpose_sums(p: _Transpose, mat: Array, x: Array) -> Array:
    """Every input pixel's products scattered onto the output: (n, oh, ow, cout), float64."""
    n, h, w, cin = x.shape
    (kh, kw), (sy, sx) = p.kernel, p.stride
    centred = x.astype(np.float64).reshape(-1, cin)
    if p.zero:
        centred -= p.zero
    cols = (centred @ mat).reshape(n, h, w, kh, kw, -1)
    canvas = np.zeros((n, *_reach(p, h, w), mat.shape[1] // (kh * kw)))
    for ky in range(kh):
        for kx in range(kw):
            canvas[:, ky:ky + (h - 1) * sy + 1:sy, kx:kx + (w - 1) * sx + 1:sx] += (
                cols[:, :, :, ky, kx])
    return _crop(p, canvas)


def _float_transpose_sums(p: _Transpose, w: Array, x: Array, scaling: tuple[Array, Array] | None,
                          scratch: Scratch) -> Array:
    """reference_ops::TransposeConv's float sums (HybridTransposeConv's with ``scaling``, the
    filter's scale per output channel and the input's per sample, ``x`` then holding ``q -
    zp``): each output adds its terms in float32 in the order of the input pixels and
    channels that reach it, i.e. the filter's rows and columns backwards: (n, oh, ow, cout),
    a channel-major view."""
    n, h, width, cin = x.shape
    (sy, sx), cout = p.stride, w.shape[3]
    planes = np.ascontiguousarray(np.moveaxis(x, 3, 0), np.float32)
    canvas = np.zeros((cout, n, *_reach(p, h, width)), np.float32)
    columns = w[..., None, None, None]  # (kh, kw, cin, cout, 1, 1, 1)
    product = scratch.take("product", (cout, n, h, width), np.float32)
    for ky in reversed(range(p.kernel[0])):
        for kx in reversed(range(p.kernel[1])):
            target = canvas[:, :, ky:ky + (h - 1) * sy + 1:sy, kx:kx + (width - 1) * sx + 1:sx]
            with _quiet():
                for c in range(cin):
                    np.multiply(columns[ky, kx, c], planes[c], out=product)
                    if scaling is not None:
                        product *= scaling[0]
                        product *= scaling[1]
                    target += product
    return _crop(p, np.moveaxis(canvas, 0, -1))


def _run_transpose(p: _Transpose, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[2])
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    scratch = Scratch()
    canvas = math.prod(_reach(p, *x.shape[1:3])) * cout
    if p.mat is not None:
        temp = 8 * (x[0].size * (1 + p.mat.shape[1] // x.shape[3]) + 4 * canvas)
        for part in chunks(x.shape[0], temp):
            p.finish(_transpose_sums(p, p.mat, x[part]), arrays, None, None, out[part], scratch)
        return [out.reshape(*lead, oh, ow, cout)]
    floats = p.floats if p.floats is not None else _float_filter(np.asarray(arrays[1])[0])
    hybrid = p.finish.hybrid
    for part in chunks(x.shape[0], 4 * (x[0].size + 2 * canvas)):
        scaling = None
        values = x[part]
        if hybrid is not None:  # each term scaled on its own: the finish only adds the bias
            q, _, factor, zero = hybrid.quantize(values)
            values = q.astype(np.float32) - zero.astype(np.float32)[:, None, None, None]
            scaling = (hybrid.scales[:, None, None, None], factor[None, :, None, None])
        sums = _float_transpose_sums(p, floats, values, scaling, scratch)
        p.finish(sums, arrays, None, None, out[part], scratch)
    return [out.reshape(*lead, oh, ow, cout)]


KERNELS: Registry = {
    BuiltinOperator.CONV_2D: Kernel(_prepare_conv, _run_conv),
    BuiltinOperator.DEPTHWISE_CONV_2D: Kernel(_prepare_depthwise, _run_depthwise),
    BuiltinOperator.TRANSPOSE_CONV: Kernel(_prepare_transpose, _run_transpose),
}

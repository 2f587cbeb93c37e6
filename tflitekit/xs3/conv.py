"""Convolution, depthwise convolution and fully connected layers on the XS3 vector unit.

Each is an instruction program over raw accumulators ``Σ x·w`` followed by the output transform
of :mod:`~tflitekit.xs3.output_transform` (which holds the input zero point, the bias and the
output zero point). Inputs are NHWC int8 with a leading batch; padding uses the input zero point,
so that ``Σ (x - zp)·w = Σ x·w - zp·Σw`` holds over every tap and the folded correction is exact.

- **Dense** (conv2d and fully connected): each output pixel's patch (im2col: the ``KH·KW·Cin``
  inputs under the kernel, zero-padded to whole 32-byte chunks) is one input vector; per group
  of 16 output channels, VCLRDR, then per chunk a VLDC of the patch and 16 VLMACCRs over the
  weight rows stored reversed (VLMACCR adds to the last accumulator and rotates it to the front).
- **Depthwise**: per pixel and group of 16 channels, VCLRDR, then per kernel tap a VLDC of the
  tap's 16 input channels and a VLMACC of the tap's 16 weights (16 separate accumulators).

With ``start`` (int32 per output channel) the accumulators begin at it, loaded by VLDR and VLDD
(low and high halves) in place of VCLRDR: the lowering puts the bias and the input zero point's
correction there (TFLite's own accumulator; see ``derive_transform(folded=True)``).
The accumulators are stored (VSTR, VSTD) and transformed 16 channels at a time; a ``clamp``
``(low, high)`` (a fused activation) adds the transform's clamp stage. The patch copy
(im2col), done by scalar code in a real kernel, is counted as ``"other"``: a load and a store per
4-byte word; loops add one scalar instruction per chunk or tap and a few per group.

:func:`fast` is the same computation in whole-array numpy (the batched backends' fast path),
bit-identical to the programs; :func:`patches` and :func:`window` share the interpreter's
CONV_2D windowing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.interpreter.kernels._conv_stages import Scratch
from tflitekit.interpreter.kernels.conv import (
    Window,
    chunks,
    depthwise_sums,
    im2col,
    matmul,
    pad,
    tflite_window,
    tile_taps,
)
from tflitekit.xs3.isa import Mode, VectorUnit
from tflitekit.xs3.output_transform import (
    GROUP,
    Compiled,
    OutputTransform,
    Placed,
    place,
    transform_group,
)

__all__ = ["Fast", "Window", "conv2d", "depthwise_conv2d", "fast", "fully_connected",
           "patches", "window"]

Padding = Literal["VALID", "SAME"]
CHUNK = 32
"""Inputs per VLMACCR."""
OTHER_PER_STEP = 1
"""Scalar instructions per chunk or tap (the loop's count and branch, dual-issued)."""
OTHER_PER_GROUP = 4
"""Scalar instructions per group of 16 outputs of one pixel (pointers, loop)."""


def window(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
           dilation: tuple[int, int] = (1, 1), padding: Padding = "VALID") -> Window:
    """The sliding window over an image of ``size`` (height, width), padded as TFLite pads."""
    win = tflite_window(size, kernel, stride, dilation, padding == "SAME")
    if win is None:
        raise UsageError(f"a {kernel} kernel does not fit the {size} input")
    return win


def patches(x: npt.ArrayLike, kernel: tuple[int, int], *, stride: tuple[int, int] = (1, 1),
            dilation: tuple[int, int] = (1, 1), padding: Padding = "VALID",
            pad_value: int = 0) -> npt.NDArray[np.int8]:
    """im2col of NHWC ``x``: ``(batch, OH, OW, KH, KW, C)``, padded with ``pad_value``."""
    xs = np.asarray(x, np.int8)
    if xs.ndim != 4:
        raise UsageError(f"x must be NHWC with a leading batch, got shape {xs.shape}")
    win = window(xs.shape[1:3], kernel, stride, dilation, padding)
    cols = im2col(pad(xs, win, pad_value, np.int8), win, np.int8)
    out: npt.NDArray[np.int8] = cols.reshape(len(xs), *win.out, *kernel, xs.shape[3])
    return out


def _transform_stored(vpu: VectorUnit, placed: Placed, ring: int, out: int, group: int) -> None:
    vpu.vstr(ring)
    vpu.vstd(ring + 32)
    transform_group(vpu, placed, ring, out, group)


def _check(transform: OutputTransform, channels: int) -> None:
    if transform.channels != channels:
        raise UsageError(f"the output transform has {transform.channels} channels, the layer "
                         f"{channels}")


Clamp = tuple[int, int] | None
"""The outputs' range ``(low, high)`` when narrower than int8 (a fused activation)."""


Start = npt.ArrayLike | None
"""Where the accumulators begin, per output channel (int32), or None for 0 (VCLRDR)."""


def _place_start(vpu: VectorUnit, start: Start, groups: int) -> int | None:
    """``start`` as VLDR/VLDD operands (per group: 16 low halves, then 16 high halves)."""
    if start is None:
        return None
    values = np.zeros(groups * GROUP, np.int64)
    s = np.asarray(start, np.int64)
    if s.min(initial=0) < -(2**31) or s.max(initial=0) >= 2**31:
        raise UsageError("accumulator starts must be int32")
    values[:s.size] = s
    halves = np.stack([values & 0xFFFF, (values >> 16) & 0xFFFF], axis=1)  # (G*16, 2)
    table = halves.reshape(groups, GROUP, 2).transpose(0, 2, 1).astype("<u2")
    return vpu.memory.alloc(np.ascontiguousarray(table).reshape(-1).view(np.uint8))


def _begin(vpu: VectorUnit, start: int | None, group: int) -> None:
    """Set the accumulators of ``group``: VCLRDR, or its start values."""
    if start is None:
        vpu.vclrdr()
    else:
        vpu.vldr(start + 64 * group)
        vpu.vldd(start + 64 * group + 32)


def _dense(vpu: VectorUnit, rows: npt.NDArray[np.int8], weights: npt.NDArray[np.int8],
           transform: OutputTransform, clamp: Clamp, start: Start) -> npt.NDArray[np.int8]:
    """``rows`` ``(batch, P, K)`` times ``weights`` ``(C, K)`` → int8 ``(batch, P, C)``."""
    mem = vpu.memory
    batch, pixels, depth = rows.shape
    channels = weights.shape[0]
    _check(transform, channels)
    groups, chunks = -(-channels // GROUP), -(-depth // CHUNK)
    wp = np.zeros((groups * GROUP, chunks * CHUNK), np.int8)
    wp[:channels, :depth] = weights
    layout = wp.reshape(groups, GROUP, chunks, CHUNK).transpose(0, 2, 1, 3)[:, :, ::-1]
    w_addr = mem.alloc(np.ascontiguousarray(layout))
    xp = np.zeros((batch, pixels, chunks * CHUNK), np.int8)
    xp[:, :, :depth] = rows
    x_addr = mem.alloc(xp.reshape(batch, -1), per_sample=True)
    placed = place(mem, transform, clamp)
    begin = _place_start(vpu, start, groups)
    ring = mem.alloc(64, per_sample=True)
    stride = groups * GROUP + GROUP
    y_addr = mem.alloc(pixels * stride, per_sample=True)
    for p in range(pixels):
        for g in range(groups):
            vpu.other(OTHER_PER_GROUP)
            vpu.vsetc(Mode.INT8)
            _begin(vpu, begin, g)
            for k in range(chunks):
                vpu.other(OTHER_PER_STEP)
                vpu.vldc(x_addr + (p * chunks + k) * CHUNK)
                base = w_addr + (g * chunks + k) * GROUP * CHUNK
                for r in range(GROUP):
                    vpu.vlmaccr(base + CHUNK * r)
            _transform_stored(vpu, placed, ring, y_addr + p * stride + GROUP * g, g)
    out = mem.view(y_addr, pixels * stride, np.int8).reshape(batch, pixels, stride)
    result: npt.NDArray[np.int8] = out[:, :, :channels]
    return result


def _pad_channels(a: npt.NDArray[np.int8], groups: int) -> npt.NDArray[np.int8]:
    """The last axis zero-padded to ``groups`` groups of 16, split as ``(..., groups, 16)``."""
    out = np.zeros((*a.shape[:-1], groups * GROUP), np.int8)
    out[..., :a.shape[-1]] = a
    return out.reshape(*a.shape[:-1], groups, GROUP)


def _count_copy(vpu: VectorUnit, nbytes: int) -> None:
    """The scalar im2col copy of ``nbytes`` per sample: a load and a store per word."""
    vpu.other(2 * -(-nbytes // 4))


def fully_connected(vpu: VectorUnit, weights: npt.ArrayLike, transform: OutputTransform,
                    x: npt.ArrayLike, *, clamp: Clamp = None, start: Start = None
                    ) -> npt.NDArray[np.int8]:
    """``weights`` int8 ``(out, in)``, ``x`` int8 ``(batch, in)`` → int8 ``(batch, out)``."""
    w = np.asarray(weights, np.int8)
    xs = np.asarray(x, np.int8)
    if xs.ndim != 2 or xs.shape[1] != w.shape[1]:
        raise UsageError(f"x must be (batch, {w.shape[1]}), got {xs.shape}")
    return _dense(vpu, xs[:, None, :], w, transform, clamp, start)[:, 0, :]


def conv2d(vpu: VectorUnit, x: npt.ArrayLike, weights: npt.ArrayLike,
           transform: OutputTransform, *, input_zero: int, stride: tuple[int, int] = (1, 1),
           dilation: tuple[int, int] = (1, 1), padding: Padding = "VALID", clamp: Clamp = None,
           start: Start = None) -> npt.NDArray[np.int8]:
    """CONV_2D: ``x`` NHWC int8, ``weights`` ``(Cout, KH, KW, Cin)`` int8 → ``(batch, OH, OW,
    Cout)`` int8, padding with ``input_zero``."""
    w = np.asarray(weights, np.int8)
    cols = patches(x, (w.shape[1], w.shape[2]), stride=stride, dilation=dilation,
                   padding=padding, pad_value=input_zero)
    if cols.shape[-1] != w.shape[3]:
        raise UsageError(f"input has {cols.shape[-1]} channels, weights {w.shape[3]}")
    batch, oh, ow = cols.shape[:3]
    rows = cols.reshape(batch, oh * ow, -1)
    _count_copy(vpu, rows.shape[1] * rows.shape[2])
    return _dense(vpu, rows, w.reshape(w.shape[0], -1), transform, clamp, start).reshape(
        batch, oh, ow, -1)


def depthwise_conv2d(vpu: VectorUnit, x: npt.ArrayLike, weights: npt.ArrayLike,
                     transform: OutputTransform, *, input_zero: int,
                     stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1),
                     padding: Padding = "VALID", clamp: Clamp = None, start: Start = None
                     ) -> npt.NDArray[np.int8]:
    """DEPTHWISE_CONV_2D: ``x`` NHWC int8, ``weights`` ``(1, KH, KW, C·dm)`` int8 (output
    channel ``o`` reads input channel ``o // dm``) → ``(batch, OH, OW, C·dm)`` int8."""
    w = np.asarray(weights, np.int8)
    xs = np.asarray(x, np.int8)
    channels = w.shape[3]
    if xs.ndim != 4 or channels % xs.shape[3]:
        raise UsageError(f"weights' {channels} channels are not a multiple of the input's")
    _check(transform, channels)
    expanded = np.repeat(xs, channels // xs.shape[3], axis=3)
    cols = patches(expanded, (w.shape[1], w.shape[2]), stride=stride, dilation=dilation,
                   padding=padding, pad_value=input_zero)
    batch, oh, ow = cols.shape[:3]
    taps = w.shape[1] * w.shape[2]
    groups = -(-channels // GROUP)
    # every (pixel, tap, group) and every (group, tap) is one vector: 16 channels, 16 zeros
    xv = np.zeros((batch, oh * ow, taps, groups, 2 * GROUP), np.int8)
    xv[..., :GROUP] = _pad_channels(cols.reshape(batch, oh * ow, taps, channels), groups)
    wv = np.zeros((groups, taps, 2 * GROUP), np.int8)
    wv[..., :GROUP] = _pad_channels(w.reshape(taps, channels), groups).transpose(1, 0, 2)
    mem = vpu.memory
    _count_copy(vpu, oh * ow * taps * channels)
    x_addr = mem.alloc(xv.reshape(batch, -1), per_sample=True)
    w_addr = mem.alloc(wv)
    placed = place(mem, transform, clamp)
    begin = _place_start(vpu, start, groups)
    ring = mem.alloc(64, per_sample=True)
    stride_out = groups * GROUP + GROUP
    y_addr = mem.alloc(oh * ow * stride_out, per_sample=True)
    for p in range(oh * ow):
        for g in range(groups):
            vpu.other(OTHER_PER_GROUP)
            vpu.vsetc(Mode.INT8)
            _begin(vpu, begin, g)
            for t in range(taps):
                vpu.other(OTHER_PER_STEP)
                vpu.vldc(x_addr + ((p * taps + t) * groups + g) * 2 * GROUP)
                vpu.vlmacc(w_addr + (g * taps + t) * 2 * GROUP)
            _transform_stored(vpu, placed, ring, y_addr + p * stride_out + GROUP * g, g)
    out = mem.view(y_addr, oh * ow * stride_out, np.int8).reshape(batch, oh * ow, stride_out)
    result: npt.NDArray[np.int8] = out[:, :, :channels].reshape(batch, oh, ow, channels)
    return result


# -- the fast path ----------------------------------------------------------------------------

_EXACT_F32 = 2**24
"""Sums of integers below this magnitude are exact in float32."""
_CHUNK_BYTES = 1 << 22
"""Temporaries per chunk of the batch: few enough numpy calls per sample, and cache-sized."""
_TILE = 1 << 15
"""Per-channel transform values repeated over up to this many outputs (longer numpy loops)."""


@dataclass(frozen=True, eq=False)
class Fast:
    """A convolution's outputs in whole-array numpy, bit-identical to its program (:func:`fast`):
    the raw accumulators through the reference CONV_2D and DEPTHWISE_CONV_2D helpers
    (stride-trick im2col and BLAS, in float32 where every sum is exact there, else float64,
    over the input channels that have a nonzero weight; depthwise tap by tap in integers),
    then the compiled output transform, in cache-sized chunks of the batch."""

    window: Window
    weights: npt.NDArray[Any]  # dense (KH·KW·Cin', Cout) float, depthwise tiled taps
    depthwise: bool
    inputs: slice | npt.NDArray[np.intp]  # dense: the input channels whose weights are not all 0
    fill: int  # the byte read outside the image
    transform: Compiled

    def __call__(self, x: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
        """int8 ``(N, OH, OW, Cout)`` of NHWC int8 ``x``."""
        win, w = self.window, self.weights
        if not self.depthwise:
            x = x[..., self.inputs]
        n, h, width, c = x.shape
        channels = w.shape[-1]
        out = np.empty((n, *win.out, channels), np.int8)
        pixels = win.out[0] * win.out[1]
        padded = (h + win.before[0] + win.after[0]) * (width + win.before[1] + win.after[1])
        if self.depthwise:
            temp = 8 * padded * channels + 13 * pixels * channels
        else:
            temp = padded * c + pixels * (w.shape[0] * w.itemsize + channels * (w.itemsize + 5))
        scratch = Scratch()
        for part in chunks(n, temp, _CHUNK_BYTES):
            if self.depthwise:
                sums = depthwise_sums(x[part], w, win, self.fill, channels // c, scratch)
            else:
                padded = pad(x[part], win, self.fill, np.int8, scratch)
                sums = matmul(im2col(padded, win, w.dtype, scratch), w, scratch)
            if sums.dtype != self.transform.wide:  # float sums: the transform's integers
                ints = scratch.take("ints", sums.shape, self.transform.wide)
                np.copyto(ints, sums, casting="unsafe")
                sums = ints
            self.transform(sums, out[part], consume=True)
        return out


def fast(weights: npt.ArrayLike, transform: OutputTransform, win: Window, *,
         depthwise: bool = False, fill: int = 0, start: Start = None,
         clamp: tuple[int, int] = (-128, 127)) -> Fast:
    """The fast path of :func:`conv2d` (``weights`` ``(Cout, KH, KW, Cin)``) or, with
    ``depthwise``, :func:`depthwise_conv2d` (``(1, KH, KW, C·multiplier)``) over the window
    ``win`` (padding read as ``fill``), accumulators starting at ``start``, outputs clamped
    to ``clamp``."""
    w = np.asarray(weights, np.int64)
    by_output = w.reshape(-1, w.shape[-1]).T if depthwise else w.reshape(len(w), -1)
    sums = 128 * np.abs(by_output).sum(axis=1)
    reach = sums if start is None else sums + np.abs(np.asarray(start, np.int64))
    bound = int(reach.max(initial=0))
    top = int(sums.max(initial=0))
    inputs: slice | npt.NDArray[np.intp] = slice(None)
    if depthwise:
        taps = w.reshape(-1, w.shape[-1])
        matrix = tile_taps(taps, win, np.int32 if top < 2**31 else np.int64)
    else:
        used = np.flatnonzero(w.any(axis=(0, 1, 2)))
        inputs = slice(len(used)) if np.array_equal(used, np.arange(len(used))) else used
        cols = w[..., inputs].reshape(len(w), -1).T
        matrix = np.ascontiguousarray(cols, np.float32 if top < _EXACT_F32 else np.float64)
    (oh, ow), channels = win.out, by_output.shape[0]
    rows = oh * ow if oh * ow * channels <= _TILE else ow if ow * channels <= _TILE else 1
    return Fast(win, matrix, depthwise, inputs, fill,
                transform.compiled(start, clamp, bound, rows))

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
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.xs3.isa import Mode, VectorUnit
from tflitekit.xs3.output_transform import GROUP, OutputTransform, Placed, place, transform_group

__all__ = ["conv2d", "depthwise_conv2d", "fully_connected", "patches"]

Padding = Literal["VALID", "SAME"]
CHUNK = 32
"""Inputs per VLMACCR."""
OTHER_PER_STEP = 1
"""Scalar instructions per chunk or tap (the loop's count and branch, dual-issued)."""
OTHER_PER_GROUP = 4
"""Scalar instructions per group of 16 outputs of one pixel (pointers, loop)."""


def _pads(size: int, kernel: int, stride: int, dilation: int, padding: Padding
          ) -> tuple[int, int, int]:
    """Output size and (before, after) padding, as TFLite computes them."""
    span = (kernel - 1) * dilation + 1
    if padding == "VALID":
        return (size - span) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def patches(x: npt.ArrayLike, kernel: tuple[int, int], *, stride: tuple[int, int] = (1, 1),
            dilation: tuple[int, int] = (1, 1), padding: Padding = "VALID",
            pad_value: int = 0) -> npt.NDArray[np.int8]:
    """im2col of NHWC ``x``: ``(batch, OH, OW, KH, KW, C)``, padded with ``pad_value``."""
    xs = np.asarray(x, np.int8)
    if xs.ndim != 4:
        raise UsageError(f"x must be NHWC with a leading batch, got shape {xs.shape}")
    (oh, top, bottom), (ow, left, right) = (
        _pads(xs.shape[1 + i], kernel[i], stride[i], dilation[i], padding) for i in range(2))
    if oh < 1 or ow < 1:
        raise UsageError(f"a {kernel} kernel does not fit the {xs.shape[1:3]} input")
    padded = np.pad(xs, [(0, 0), (top, bottom), (left, right), (0, 0)],
                    constant_values=pad_value)
    spans = tuple((kernel[i] - 1) * dilation[i] + 1 for i in range(2))
    windows = np.lib.stride_tricks.sliding_window_view(padded, spans, axis=(1, 2))
    picked = windows[:, :(oh - 1) * stride[0] + 1:stride[0], :(ow - 1) * stride[1] + 1:stride[1],
                     :, ::dilation[0], ::dilation[1]]
    out: npt.NDArray[np.int8] = np.ascontiguousarray(picked.transpose(0, 1, 2, 4, 5, 3))
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

"""The binary option blocks of ``XC_conv2d_v2`` and ``XC_maxpool2d``, decoded and checked.

xcore-opt writes lib_nn's parameter structs, little-endian int32 fields (facts read from lib_nn's
public ``MemCpyFn.hpp``, ``AggregateFn.hpp``, ``OutputTransformFn.hpp``, ``AbstractKernel.hpp``;
the code is ours), as FlexBuffer strings in the custom options map:

- ``mp``, how a kernel finds an output pixel's inputs ("memcpy"), in bytes of the NHWC input
  (``C`` channels, ``W`` columns): *deref* ``(W·C·sh, C·sw)`` reads the input in place (an
  output pixel ``(v, h)`` starts at ``v·W·C·sh + h·C·sw``); *im2col valid* copies the window's
  pixels into a contiguous patch (10 fields: row and pixel steps as deref, ``KH-1``, ``KW-1``,
  ``⌈C/32⌉-1``, a rewind, the horizontal and vertical steps that encode the dilations, a store
  mask, a no-zero flag); *im2col padded* (16 fields) also knows the input's height and width,
  the top and left padding and the pad byte (the input zero point).
- ``a``, the aggregate (the multiply-accumulate loop): *generic* ``(OC, KH·KW·C)`` over the
  patch; *direct* (6 fields: ``KH·KW·C·16``, ``KH-1``, ``KW-1``, ``C/32-1``, the tap steps);
  *depthwise direct* (5 fields: ``KH·KW·16``, ``KH-1``, ``KW-1``, the tap steps).
- ``o``, the output transform: ``(OC, initial shift, final shift)`` (int32, int16, int16) for
  the group form, ``(OC, final shift)`` for the channelwise one.
- ``p``, one region per thread (10 fields then two ASCII ``"0"`` pad bytes): output rows
  ``[h0, h1)``, columns ``[w0, w1)``, channel groups ``[g0, g1)``, the first channel, the output
  steps at the end of a row and between pixels, an input byte offset.
- ``k`` the kernel type, ``t`` the transform type, ``s`` scratch bytes per thread.

:func:`window` turns the ``mp`` and ``a`` blocks into a :class:`Window` (input, kernel, strides,
dilations, padding, output) and checks that re-encoding it gives the same blocks;
:func:`output_shape` checks the regions tile a plain output.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from tflitekit.interpreter.kernel import unsupported
from tflitekit.interpreter.node import Node, Operand

__all__ = ["GROUP", "KernelType", "Region", "Window", "fields", "output_shape", "regions",
           "window"]

GROUP = 16
"""Output channels per accumulator group (lib_nn's ``VPU_INT8_ACC_PERIOD``)."""
_VEC = 32
T = TypeVar("T", bound=np.generic)


class KernelType(IntEnum):
    """``k``: how XC_conv2d_v2 reaches its inputs (lib_tflite_micro's ``KernelType``)."""

    VALID_DIRECT = 0
    VALID_INDIRECT = 1
    PADDED_INDIRECT = 2
    DEPTHWISE_VALID_DIRECT = 3
    DEPTHWISE_PADDED_INDIRECT = 4

    @property
    def depthwise(self) -> bool:
        return self >= KernelType.DEPTHWISE_VALID_DIRECT

    @property
    def padded(self) -> bool:
        return self in (KernelType.PADDED_INDIRECT, KernelType.DEPTHWISE_PADDED_INDIRECT)


def fields(node: Node, options: dict[str, Any], key: str, layout: str) -> tuple[int, ...]:
    """Option ``key``'s block unpacked little-endian as ``layout`` (a :mod:`struct` format,
    such as ``"10i"``); refuses a block of another size."""
    blob = options[key]
    size = struct.calcsize("<" + layout)
    if not isinstance(blob, bytes) or len(blob) != size:
        got = len(blob) if isinstance(blob, bytes) else type(blob).__name__
        unsupported(node, f"option {key!r} has {got} bytes, expected {size}")
    values: tuple[int, ...] = struct.unpack("<" + layout, blob)
    return values


@dataclass(frozen=True)
class Window:
    """A sliding window over an NHWC input ``(H, W, C)`` giving ``(OH, OW)`` output pixels:
    ``kernel`` ``(KH, KW)``, ``stride`` and ``dilation`` ``(rows, cols)``, ``padding`` ``(top,
    left, bottom, right)`` (the bottom and right pads are what the windows reach past the
    input; out-of-image taps read the pad byte)."""

    input: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    output: tuple[int, int]

    @property
    def padded(self) -> bool:
        return any(self.padding)

    def taps(self, image: npt.NDArray[T]) -> Iterator[tuple[tuple[int, int], npt.NDArray[T]]]:
        """Each kernel tap ``(i, j)`` and the ``(N, OH, OW, C)`` view of the (padded) NHWC
        ``image`` under it."""
        (oh, ow), (sh, sw), (dh, dw) = self.output, self.stride, self.dilation
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                yield (i, j), image[:, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                                    j * dw:j * dw + (ow - 1) * sw + 1:sw]


@dataclass(frozen=True)
class Region:
    """One thread's part of the output (``p``): rows ``[h0, h1)``, columns ``[w0, w1)``,
    channel groups ``[g0, g1)``, the first channel, the output byte steps after a row's last
    pixel and between pixels, and a byte offset added to the input."""

    h0: int
    h1: int
    w0: int
    w1: int
    g0: int
    g1: int
    channel: int
    row_step: int
    pixel_step: int
    input_offset: int


def regions(node: Node, options: dict[str, Any]) -> tuple[Region, ...]:
    """The per-thread regions of option ``p`` (a vector of 42-byte strings)."""
    blocks = options["p"]
    if not isinstance(blocks, list) or not blocks:
        unsupported(node, "option 'p' is not a non-empty vector of regions")
    out = []
    for i, blob in enumerate(blocks):
        if not isinstance(blob, bytes) or len(blob) != 42 or blob[40:] != b"00":
            unsupported(node, f"region {i} of option 'p' is not 40 bytes and '00'")
        out.append(Region(*struct.unpack("<10i", blob[:40])))
    return tuple(out)


def output_shape(node: Node, parts: tuple[Region, ...], channels: int) -> tuple[int, int]:
    """``(OH, OW)`` of an output of ``channels`` channels that the regions tile exactly as a
    plain (not transposed, not chained) convolution writes it; refuses anything else."""
    ow = {(r.row_step + (r.w1 - r.w0) * channels) // channels for r in parts}
    if len(ow) != 1 or any(r.pixel_step != channels or r.input_offset or r.channel != GROUP * r.g0
                           or (r.row_step + (r.w1 - r.w0) * channels) % channels
                           for r in parts):
        unsupported(node, "the thread regions are not those of a plain output (transposed or "
                          "chained convolutions are not supported)")
    width = ow.pop()
    size = math.prod(node.outputs[0].shape)
    if width < 1 or size % (width * channels):
        unsupported(node, f"output of {size} values is not rows of {width}x{channels}")
    height = size // (width * channels)
    covered = np.zeros((height, width, -(-channels // GROUP)), bool)
    for r in parts:
        if not (0 <= r.h0 <= r.h1 <= height and 0 <= r.w0 <= r.w1 <= width
                and 0 <= r.g0 <= r.g1 <= covered.shape[2]):
            unsupported(node, f"thread region {r} lies outside the {height}x{width}x{channels} "
                              "output")
        covered[r.h0:r.h1, r.w0:r.w1, r.g0:r.g1] = True
    if not covered.all():
        unsupported(node, "the thread regions do not cover the whole output")
    return height, width


# -- the window: decoded from mp and a, checked by re-encoding ---------------------------------

def _deref(w: Window) -> tuple[int, ...]:
    (_, width, c), (sh, sw) = w.input, w.stride
    return width * c * sh, c * sw


def _im2col_valid(w: Window) -> tuple[int, ...]:
    (_, width, c), (kh, kw), (sh, sw), (dh, dw) = w.input, w.kernel, w.stride, w.dilation
    groups = -(-c // _VEC)
    tail = c % _VEC
    return (width * c * sh, c * sw, kh - 1, kw - 1, groups - 1, groups * _VEC - c - _VEC,
            c * dw - groups * _VEC, width * c * dh - kw * c * dw,
            (1 << tail) - 1 if tail else -1, 0)


def _im2col_padded(w: Window, copy: int, pad: int) -> tuple[int, ...]:
    (h, width, c), (kh, kw), (sh, sw), (dh, dw) = w.input, w.kernel, w.stride, w.dilation
    top, left = w.padding[:2]
    return (kh, h, kw, width, c * dw, dw, dh * width * c - c * dw * kw, dh, copy, pad,
            width * c, c, left, top, sh, sw)


def _direct(w: Window) -> tuple[int, ...]:
    (_, width, c), (kh, kw), (dh, dw) = w.input, w.kernel, w.dilation
    return kh * kw * c * GROUP, kh - 1, kw - 1, c // _VEC - 1, c * dw - c, \
        width * c * dh - kw * c * dw


def _depthwise(w: Window) -> tuple[int, ...]:
    (_, width, c), (kh, kw), (dh, dw) = w.input, w.kernel, w.dilation
    if w.padded:  # over the im2col patch of 16 channels per tap
        return kh * kw * GROUP, 0, kh * kw - 1, GROUP, 0
    return kh * kw * GROUP, kh - 1, kw - 1, c * dw, width * c * dh - kw * c * dw


def _input_size(node: Node, operand: Operand, channels: int) -> tuple[int, int]:
    """``(H, W)`` of an input of ``channels`` channels: its shape's when the last axis is the
    channels, else one pixel holding the whole tensor (a fully connected layer)."""
    size = math.prod(operand.shape)
    if len(operand.shape) >= 2 and operand.shape[-1] == channels:
        width = operand.shape[-2]
    elif size == channels:
        width = 1
    else:
        unsupported(node, f"input shape {list(operand.shape)} is not pixels of {channels} "
                          "channels")
    if width < 1 or size % (width * channels):
        unsupported(node, f"input shape {list(operand.shape)} is not rows of {width}x{channels}")
    return size // (width * channels), width


def _exact(node: Node, value: int, unit: int, what: str) -> int:
    if unit <= 0 or value % unit or value // unit < 1:
        unsupported(node, f"{what} step of {value} bytes is not a positive multiple of {unit}")
    return value // unit


def window(node: Node, kind: KernelType, mp: tuple[int, ...], a: tuple[int, ...],
           channels: int, output: tuple[int, int]) -> Window:
    """The window the ``mp`` and ``a`` fields of a ``kind`` kernel describe, for an input of
    ``channels`` channels (the output's, for depthwise) and ``output`` ``(OH, OW)``; refuses
    the node unless encoding that window again gives the same fields."""
    if kind.padded:
        kh, h, kw, width, _, dw, _, dh, _, _, _, c, left, top, sh, sw = mp
        geometry = (h, width, c), (kh, kw), (sh, sw), (dh, dw), (top, left)
    else:
        if kind == KernelType.VALID_INDIRECT:
            c = (mp[4] + 1) * _VEC - _VEC - mp[5]
            kh, kw, tap_col = mp[2] + 1, mp[3] + 1, mp[6] + (mp[4] + 1) * _VEC
            tap_row = mp[7] + kw * tap_col
        elif kind == KernelType.VALID_DIRECT:  # the steps after a tap's C bytes, a row's taps
            kh, kw, c = a[1] + 1, a[2] + 1, (a[3] + 1) * _VEC
            tap_col = a[4] + c
            tap_row = a[5] + kw * tap_col
        else:  # the steps after a tap, after a row's taps
            kh, kw, c, tap_col = a[1] + 1, a[2] + 1, channels, a[3]
            tap_row = a[4] + kw * tap_col
        if c < 1:
            unsupported(node, f"option 'mp' gives {c} input channels")
        h, width = _input_size(node, node.input(0), c)
        geometry = ((h, width, c), (kh, kw),
                    (_exact(node, mp[0], width * c, "row"), _exact(node, mp[1], c, "pixel")),
                    (_exact(node, tap_row, width * c, "tap row"),
                     _exact(node, tap_col, c, "tap column")), (0, 0))
    (h, width, c), (kh, kw), (sh, sw), (dh, dw), (top, left) = geometry
    if min(h, width, c, kh, kw, sh, sw, dh, dw) < 1 or top < 0 or left < 0:
        unsupported(node, f"option 'mp' describes no window ({geometry})")
    if math.prod(node.input(0).shape) != h * width * c:
        unsupported(node, f"input shape {list(node.input(0).shape)} does not hold the "
                          f"{h}x{width}x{c} image of option 'mp'")
    bottom = (output[0] - 1) * sh + (kh - 1) * dh + 1 - h - top
    right = (output[1] - 1) * sw + (kw - 1) * dw + 1 - width - left
    if not kind.padded and (bottom > 0 or right > 0):
        unsupported(node, f"the {kh}x{kw} window does not fit the {h}x{width} input")
    win = Window((h, width, c), (kh, kw), (sh, sw), (dh, dw),
                 (top, left, max(bottom, 0), max(right, 0)), output)
    _check_encoding(node, kind, win, mp, a)
    return win


def _check_encoding(node: Node, kind: KernelType, win: Window, mp: tuple[int, ...],
                    a: tuple[int, ...]) -> None:
    if kind.padded:
        copy = GROUP if kind.depthwise else win.input[2]
        want_mp = _im2col_padded(win, copy, mp[9])
    else:
        want_mp = _im2col_valid(win) if kind == KernelType.VALID_INDIRECT else _deref(win)
    if kind.depthwise:
        want_a = _depthwise(win)
    elif kind == KernelType.VALID_DIRECT:
        want_a = _direct(win)
    else:
        want_a = (a[0], win.kernel[0] * win.kernel[1] * win.input[2])
    for key, got, want in (("mp", mp, want_mp), ("a", a, want_a)):
        if tuple(got) != tuple(want):
            unsupported(node, f"option {key!r} {list(got)} is not what lib_nn encodes for "
                              f"{win} ({list(want)})")

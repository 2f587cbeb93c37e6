"""``XC_conv2d_v2``: xcore-opt's int8 convolution (dense, depthwise, and the fully connected and
average-pooling layers it rewrites as convolutions), bit-exact with xmos' host interpreter.

Inputs: the int8 input, the reordered int8 weights, the int16 output-transform table, an optional
partial output and an optional scratch buffer (both unused here: every region writes a plain
output). The options (:mod:`~tflitekit.xs3.xc.params`) give the kernel type ``k``, the window,
the transform and the thread regions. Facts from lib_nn's public sources (``AggregateFn.cpp``,
``AggregateFn_DW.cpp``, ``MemCpyFn.cpp``, ``OutputTransformFn.hpp``); the code is ours:

- **Dense weights** (``k`` 0-2), per group of 16 output channels, per 32-byte chunk of an output
  channel's ``KH·KW·C`` weights, the group's rows (each the chunk's bytes, fewer in the last
  chunk) last channel first, as VLMACCR consumes them; then pad bytes up to one 16-row vector
  block past the last chunk. The aggregate multiplies the whole window (patch or input in place,
  followed by zeros) so the accumulator is exactly ``Σ x·w``.
- **Depthwise weights** (``k`` 3-4), per group of 16 channels, per tap, the 16 channels' weights
  (the last group padded), then 16 pad bytes; VLMACC accumulates each channel on its own.
- **Transform table** (int16), per group ``g`` of ``n`` ≤ 16 channels: at ``32·g`` the ``n``
  multipliers then ``n`` biases (``t`` = 0, group form: one initial and final shift in ``o``),
  or at ``48·g`` ``n`` initial shifts, multipliers, biases (``t`` = 1, channelwise form).
- Padded kernels read the pad byte of ``mp`` (the input zero point) outside the image.

The fast path (:func:`run`) is :func:`tflitekit.xs3.conv.fast` (the interpreter's CONV_2D and
DEPTHWISE_CONV_2D helpers, then the compiled output transform). :func:`emulate` runs the same
layer as our XS3 instruction program (:mod:`tflitekit.xs3.conv`), which the profile counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.interpreter.kernel import Kernel, unsupported
from tflitekit.interpreter.node import Array, Node
from tflitekit.options import TensorType
from tflitekit.xs3 import conv
from tflitekit.xs3.isa import VectorUnit
from tflitekit.xs3.output_transform import OutputTransform

from . import maxpool
from .custom_options import custom_options
from .params import GROUP, KernelType, Window, fields, output_shape, regions
from .params import window as decode_window

__all__ = ["KERNELS", "Conv2dParams", "emulate", "prepare", "run"]

_ACC_MAX = 2**31 - 1


@dataclass(frozen=True, eq=False)
class Conv2dParams:
    """A decoded ``XC_conv2d_v2``: ``kind`` (``k``), the ``window``, the ``weights`` in a
    standard layout (dense ``(OC, KH, KW, C)``, depthwise ``(KH, KW, C)``), the
    ``transform``, the byte read outside the image (``pad_value``), the thread count and the
    output's sample shape."""

    kind: KernelType
    window: Window
    weights: npt.NDArray[np.int8]
    transform: OutputTransform
    pad_value: int
    threads: int
    output_shape: tuple[int, ...]
    _fast: conv.Fast = field(repr=False)

    @property
    def depthwise(self) -> bool:
        return self.kind.depthwise


def _dense_positions(channels: int, depth: int) -> npt.NDArray[np.int64]:
    """Where weight ``(o, k)`` of ``channels`` rows of ``depth`` bytes lies in lib_nn's
    reordered dense layout (module docstring)."""
    o = np.arange(channels, dtype=np.int64)[:, None]
    k = np.arange(depth, dtype=np.int64)[None, :]
    g, j = o // GROUP, o % GROUP
    n = np.minimum(np.int64(GROUP), channels - GROUP * g)
    chunk = k // 32
    width = np.minimum(np.int64(32), depth - 32 * chunk)
    positions: npt.NDArray[np.int64] = (GROUP * g * depth + n * 32 * chunk
                                         + (n - 1 - j) * width + k - 32 * chunk)
    return positions


def _dense_weights(node: Node, data: npt.NDArray[np.int8], win: Window, channels: int
                   ) -> npt.NDArray[np.int8]:
    (kh, kw), c = win.kernel, win.input[2]
    depth = kh * kw * c
    last_rows, last_width = channels - GROUP * ((channels - 1) // GROUP), depth - 32 * (
        (depth - 1) // 32)
    size = channels * depth - last_rows * last_width + GROUP * 32
    if data.size != size:
        unsupported(node, f"{data.size} weight bytes, expected {size} for {channels} channels "
                          f"of {kh}x{kw}x{c}")
    return data[_dense_positions(channels, depth)].reshape(channels, kh, kw, c)


def _depthwise_weights(node: Node, data: npt.NDArray[np.int8], win: Window
                       ) -> npt.NDArray[np.int8]:
    (kh, kw), c = win.kernel, win.input[2]
    groups = -(-c // GROUP)
    if data.size != groups * kh * kw * GROUP + GROUP:
        unsupported(node, f"{data.size} weight bytes, expected {groups * kh * kw * GROUP + GROUP}"
                          f" for {c} channels of {kh}x{kw}")
    blocks = data[:groups * kh * kw * GROUP].reshape(groups, kh, kw, GROUP)
    return np.ascontiguousarray(blocks.transpose(1, 2, 0, 3).reshape(kh, kw, -1)[..., :c])


def _transform(node: Node, table: npt.NDArray[np.int16], o: dict[str, int], channelwise: bool,
               channels: int) -> OutputTransform:
    """The transform from the int16 table and the ``o`` fields (module docstring)."""
    per = 3 if channelwise else 2
    starts = np.arange(channels) // GROUP * GROUP
    n = np.minimum(GROUP, channels - starts)
    base = starts * per + np.arange(channels) - starts  # group start, then the channel's lane
    if table.size <= int((base + n * (per - 1)).max(initial=0)):
        unsupported(node, f"transform table of {table.size} values is too short for "
                          f"{channels} channels")
    parts = [table[base + i * n] for i in range(per)]
    shift = np.int16(o["final_shift"])
    initial = parts.pop(0) if channelwise else np.full(channels, o["initial_shift"], np.int16)
    try:
        return OutputTransform(initial, parts[0], parts[1], np.full(channels, shift))
    except UsageError as exc:
        unsupported(node, f"output transform: {exc}")


def _operand_data(node: Node, index: int, kind: TensorType) -> Array:
    operand = node.inputs[index] if index < len(node.inputs) else None
    if operand is None or operand.data is None or operand.type != kind:
        unsupported(node, f"input {index} must be a constant {kind.name} tensor")
    return np.asarray(operand.data).reshape(-1)


def _output_transform_fields(node: Node, options: dict[str, object], channelwise: bool
                             ) -> dict[str, int]:
    if channelwise:
        count, final = fields(node, options, "o", "ih2x")
        return {"count": count, "final_shift": final}
    count, initial, final = fields(node, options, "o", "ihh")
    return {"count": count, "initial_shift": initial, "final_shift": final}


def prepare(node: Node) -> Conv2dParams:
    """Decode and check the node (module docstring); refuses what it does not understand."""
    options = custom_options(node, "k", "t", "mp", "a", "o", "p", "s")
    source, result = node.input(0), node.outputs[0]
    if source.type != TensorType.INT8 or result.type != TensorType.INT8:
        unsupported(node, f"{source.type_name} input and {result.type_name} output, expected "
                          "int8 (the int16 and binary kernels are not supported)")
    try:
        kind = KernelType(options["k"])
    except ValueError:
        unsupported(node, f"kernel type k={options['k']} is not an int8 convolution (0-4)")
    if options["t"] not in (0, 1):
        unsupported(node, f"output transform type t={options['t']} is not 0 or 1")
    o = _output_transform_fields(node, options, options["t"] == 1)
    channels = o["count"]
    parts = regions(node, options)
    out = output_shape(node, parts, channels)
    direct = kind in (KernelType.VALID_DIRECT,)
    mp = fields(node, options, "mp", "16i" if kind.padded else "10i" if kind ==
                KernelType.VALID_INDIRECT else "2i")
    a = fields(node, options, "a", "5i" if kind.depthwise else "6i" if direct else "2i")
    win = decode_window(node, kind, mp, a, channels, out)
    if not kind.depthwise and not direct and a[0] != channels:
        unsupported(node, f"option 'a' has {a[0]} output channels, option 'o' {channels}")
    if kind.depthwise and win.input[2] != channels:
        unsupported(node, f"depthwise over {win.input[2]} input channels to {channels} outputs")
    data = _operand_data(node, 1, TensorType.INT8).astype(np.int8)
    weights = (_depthwise_weights(node, data, win) if kind.depthwise
               else _dense_weights(node, data, win, channels))
    transform = _transform(node, _operand_data(node, 2, TensorType.INT16),
                           o, options["t"] == 1, channels)
    pad_value = _signed_byte(mp[9]) if kind.padded else 0
    return Conv2dParams(kind, win, weights, transform, pad_value, len(parts), result.shape,
                        _fast(node, win, weights, transform, pad_value, kind.depthwise))


def _signed_byte(value: int) -> int:
    return (value & 0xFF) - ((value & 0x80) << 1)


def _fast(node: Node, win: Window, weights: npt.NDArray[np.int8], transform: OutputTransform,
          pad_value: int, depthwise: bool) -> conv.Fast:
    """The fast path (:func:`tflitekit.xs3.conv.fast`); refuses layers whose 32-bit
    accumulators could saturate (it does not model that)."""
    w = weights.astype(np.int64)
    flat = w.reshape(-1, w.shape[-1]).T if depthwise else w.reshape(w.shape[0], -1)
    bound = 128 * int(np.abs(flat).sum(axis=1).max(initial=0))
    if bound > _ACC_MAX:
        unsupported(node, f"accumulators could reach {bound}, past the 32-bit saturation")
    top, left, bottom, right = win.padding
    band = conv.Window(win.kernel, win.stride, win.dilation, (top, left), (bottom, right),
                       win.output)
    return conv.fast(weights[None] if depthwise else weights, transform, band,
                     depthwise=depthwise, fill=pad_value)


def _image(params: Conv2dParams, x: Array) -> npt.NDArray[np.int8]:
    """The batch as NHWC images, padded with the pad byte where the windows reach past them."""
    win = params.window
    img = np.asarray(x, np.int8).reshape(len(x), *win.input)
    if not win.padded:
        return img
    top, left, bottom, right = win.padding
    return np.pad(img, ((0, 0), (top, bottom), (left, right), (0, 0)),
                  constant_values=params.pad_value)


def run(params: Conv2dParams, arrays: Sequence[Array | None]) -> list[Array]:
    """The int8 outputs ``(N, *output shape)`` of the batch ``arrays[0]``."""
    x = arrays[0]
    assert x is not None
    out = params._fast(np.asarray(x, np.int8).reshape(len(x), *params.window.input))
    return [out.reshape(len(x), *params.output_shape)]


def emulate(params: Conv2dParams, vpu: VectorUnit, x: Array) -> npt.NDArray[np.int8]:
    """The layer as our XS3 instruction program (:func:`tflitekit.xs3.conv.conv2d` or
    :func:`~tflitekit.xs3.conv.depthwise_conv2d`) on ``vpu``, whose memory's batch is
    ``len(x)``: int8 ``(N, OH, OW, OC)``. The image is padded beforehand (the program's own
    padding is TFLite's SAME, the layer's may be explicit)."""
    win = params.window
    img = _image(params, x)
    kernel = conv.depthwise_conv2d if params.depthwise else conv.conv2d
    weights = params.weights[None] if params.depthwise else params.weights
    return kernel(vpu, img, weights, params.transform, input_zero=params.pad_value,
                  stride=win.stride, dilation=win.dilation)


KERNELS: dict[str, Kernel] = {"XC_conv2d_v2": Kernel(prepare, run), **maxpool.KERNELS}
"""XC_conv2d_v2 and XC_maxpool2d (:mod:`~tflitekit.xs3.xc.maxpool`), which share the options."""

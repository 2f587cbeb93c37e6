"""An int8 TFLite layer lowered to an XS3 kernel: its output transform derived from the layer's
quantization (:func:`~tflitekit.xs3.output_transform.derive_transform`) and the kernel of
:mod:`tflitekit.xs3.conv` that computes it.

A :class:`Lowered` layer runs two ways, bit-identical: :meth:`Lowered.run` executes the
instruction program on an engine (which counts what it executes), :meth:`Lowered.compute` is its
whole-array numpy form (the interpreter backend's fast path, :func:`tflitekit.xs3.conv.fast`): the
same raw accumulators by im2col and a product, then the compiled output transform with the
fused activation's clamp (the transform's optional clamp stage; exact, see
:mod:`~tflitekit.xs3.output_transform`).

Unlike xcore-opt, which folds the bias and both zero points into the int16 bias of the output
transform, the lowering starts the accumulators at ``bias - zp_in·Σw`` (VLDR/VLDD in place of
VCLRDR, one more instruction per group of 16 outputs), so they hold TFLite's own int32
accumulator and the int16 bias only the output zero point: a large constant (an input zero
point of -128 times a large weight sum) no longer forces a coarse bias exponent. It does so
whenever no accumulator can saturate.

**AVERAGE_POOL_2D** is a depthwise convolution with weights 1, no bias and zero points 0, and the
multiplier ``1/n`` (``n = KH·KW``): TFLite divides each window's raw sum (the values as stored;
the output shares the input's quantization) by ``n``, rounding half away from zero. The transform
rounds one way for every sign, so a tie (``n`` even) is resolved by an offset of ``±1/(2n)`` in the
output: down when the input zero point is negative (the raw values gather at it, so sums are
mostly negative), up otherwise; a tie of the other sign differs by one. SAME padding that puts
taps outside the image is refused: TFLite divides such windows by their count of inside taps, the
transform has one divisor per channel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.interpreter.kernel import activation_range, unsupported
from tflitekit.interpreter.kernels.conv import tflite_window
from tflitekit.interpreter.node import Node, Operand, describe
from tflitekit.ir import Operator
from tflitekit.options import (
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Padding,
    Pool2DOptions,
    TensorType,
)
from tflitekit.xs3 import conv
from tflitekit.xs3.isa import VectorUnit
from tflitekit.xs3.output_transform import OutputTransform, derive_transform, tflite_multipliers

__all__ = ["LOWERED_OPCODES", "Lowered", "lower", "lower_node"]

#: The operators :func:`lower` accepts (int8 activations and weights).
LOWERED_OPCODES = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D")

Int8 = npt.NDArray[np.int8]
Int64 = npt.NDArray[np.int64]
Kind = Literal["conv2d", "depthwise", "dense"]


@dataclass(frozen=True)
class Window:
    """A convolution's stride, dilation and padding."""

    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: conv.Padding = "VALID"


@dataclass(frozen=True, eq=False)
class Lowered:
    """A layer on the XS3 kernels: its kind, weights in the kernel's layout (``conv2d`` ``(Cout,
    KH, KW, Cin)``, ``depthwise`` ``(1, KH, KW, C)``, ``dense`` ``(Cout, K)``), the output
    transform derived for it and the output range (a fused activation's clamp)."""

    opcode: str
    kind: Kind
    weights: Int8
    transform: OutputTransform
    clamp: tuple[int, int]
    input_zero: int
    window: Window
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    start: Int64 | None = None
    """Where the accumulators begin per channel (the bias and the input zero point's
    correction, :func:`~tflitekit.xs3.conv`'s ``start``), None for 0."""

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample."""
        per_output = self.weights.size // self.transform.channels
        return math.prod(self.output_shape) * per_output

    @property
    def _clamp(self) -> conv.Clamp:
        return None if self.clamp == (-128, 127) else self.clamp

    def _samples(self, x: npt.ArrayLike) -> tuple[Int8, tuple[int, ...]]:
        """``x`` as ``(N, *input.shape)`` or ``(N, *input.shape[1:])``, and the output sample
        shape that comes back the same way."""
        xs = np.asarray(x, np.int8)
        batched = xs.ndim > len(self.input_shape)
        return xs, self.output_shape if batched else self.output_shape[1:]

    def run(self, vpu: VectorUnit, x: npt.ArrayLike) -> Int8:
        """The instruction program on ``vpu``, whose memory's batch is ``len(x)``: ``x`` is ``(N,
        *input.shape)`` as :meth:`Interpreter.tensor` keeps it, or ``(N, *input.shape[1:])`` as
        :meth:`Interpreter.run` takes it; the output comes the same way."""
        xs, shape = self._samples(x)
        w, win, clamp = self.weights, self.window, self._clamp
        if self.kind == "dense":
            out = conv.fully_connected(vpu, w, self.transform, xs.reshape(len(xs), -1),
                                       clamp=clamp, start=self.start)
        else:
            run = conv.conv2d if self.kind == "conv2d" else conv.depthwise_conv2d
            out = run(vpu, xs.reshape(len(xs), *xs.shape[-3:]), w, self.transform,
                      input_zero=self.input_zero, stride=win.stride, dilation=win.dilation,
                      padding=win.padding, clamp=clamp, start=self.start)
        return out.reshape(len(xs), *shape)

    @functools.cached_property
    def _fast(self) -> conv.Fast:
        w, win = self.weights, self.window
        if self.kind == "dense":
            w, band = w[:, None, None, :], conv.window((1, 1), (1, 1))
        else:
            (_, h, width, _), (_, kh, kw, _) = self.input_shape, w.shape
            band = conv.window((h, width), (kh, kw), win.stride, win.dilation, win.padding)
        return conv.fast(w, self.transform, band, depthwise=self.kind == "depthwise",
                         fill=self.input_zero, start=self.start, clamp=self.clamp)

    def compute(self, x: npt.ArrayLike) -> Int8:
        """What :meth:`run` returns, in whole-array numpy (no instructions, nothing counted):
        :func:`tflitekit.xs3.conv.fast`."""
        xs, shape = self._samples(x)
        image = (1, 1, xs[0].size) if self.kind == "dense" else self.input_shape[-3:]
        return self._fast(xs.reshape(len(xs), *image)).reshape(len(xs), *shape)


# -- from a node --------------------------------------------------------------------------------


def _quantization(node: Node, operand: Operand, role: str) -> tuple[npt.NDArray[np.float64], int]:
    if operand.type != TensorType.INT8 or operand.scale is None:
        unsupported(node, f"XS3 lowering: the {role} must be int8 with a scale and zero point")
    return operand.scale.astype(np.float64), operand.zero_value


def _shape(node: Node, operand: Operand, rank: int, role: str) -> tuple[int, ...]:
    if len(operand.shape) != rank:
        unsupported(node, f"XS3 lowering: the {role} has rank {len(operand.shape)}, "
                          f"expected {rank}")
    return operand.shape


def _derive(node: Node, weights: Int8, bias: npt.ArrayLike | None, input_zero: int,
            multipliers: npt.NDArray[np.float64], output_zero: float, channelwise: bool,
            folded: bool = False) -> OutputTransform:
    """:func:`derive_transform`, refusing the node when no transform represents it."""
    try:
        return derive_transform(weights, bias, input_zero, multipliers, output_zero,
                                channelwise=channelwise, folded=folded)
    except UsageError as exc:
        unsupported(node, f"XS3 lowering: {exc}")


def _window(opts: Conv2DOptions | DepthwiseConv2DOptions | Pool2DOptions) -> Window:
    dilation = (1, 1) if isinstance(opts, Pool2DOptions) else \
        (opts.dilation_h_factor, opts.dilation_w_factor)
    return Window((opts.stride_h, opts.stride_w), dilation,
                  "SAME" if opts.padding == Padding.SAME else "VALID")


def _convolution(node: Node) -> Lowered:
    """CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED with constant weights."""
    x, w_op, y = node.input(0), node.input(1), node.outputs[0]
    b_op = node.inputs[2] if len(node.inputs) > 2 else None
    if w_op.data is None:
        unsupported(node, "XS3 lowering: the weights must be constant")
    s_x, z_x = _quantization(node, x, "input")
    s_w, _ = _quantization(node, w_op, "weights")
    s_y, z_y = _quantization(node, y, "output")
    if w_op.zero_point is not None and w_op.zero_point.any():
        unsupported(node, "XS3 lowering: the weights must be symmetric (zero point 0)")
    if b_op is not None and (b_op.data is None or b_op.type != TensorType.INT32):
        unsupported(node, "XS3 lowering: the bias must be constant int32")
    w = np.asarray(w_op.data, np.int8)
    name = node.name
    opts = node.options
    if name == "FULLY_CONNECTED":
        if isinstance(opts, FullyConnectedOptions) and opts.weights_format != 0:
            unsupported(node, "XS3 lowering: only the default weights format")
        if math.prod(x.shape) != w.shape[1]:
            unsupported(node, "XS3 lowering: the input holds more than one row per sample")
        kind: Kind = "dense"
        window = Window()
        by_output = w
    else:
        _shape(node, x, 4, "input")
        if not isinstance(opts, (Conv2DOptions, DepthwiseConv2DOptions)):
            unsupported(node, "XS3 lowering: the convolution has no options")
        kind = "conv2d" if name == "CONV_2D" else "depthwise"
        window = _window(opts)
        if kind == "conv2d" and x.shape[3] != w.shape[3]:
            unsupported(node, "XS3 lowering: grouped convolutions are not lowered")
        if kind == "depthwise" and w.shape[3] % x.shape[3]:
            unsupported(node, "XS3 lowering: the weights' channels are not a multiple of the "
                              "input's")
        by_output = w.reshape(-1, w.shape[3]).T if kind == "depthwise" else w.reshape(len(w), -1)
    channels = by_output.shape[0]
    mult = tflite_multipliers(s_x[0], np.broadcast_to(s_w, channels), s_y[0])
    bias = np.zeros(channels, np.int64) if b_op is None else np.asarray(b_op.data, np.int64)
    start = bias - z_x * by_output.astype(np.int64).sum(axis=1)
    reach = np.abs(start) + 128 * np.abs(by_output.astype(np.int64)).sum(axis=1)
    folded = bool(reach.max(initial=0) < 2**31 - 1)  # no accumulator ever saturates
    transform = _derive(node, by_output, bias, z_x, mult, z_y, s_w.size > 1, folded)
    clamp = activation_range(node, getattr(opts, "fused_activation_function", 0), y)
    return Lowered(name, kind, w, transform, clamp, z_x, window, x.shape, y.shape,
                   start if folded else None)


def _average_pool(node: Node) -> Lowered:
    """AVERAGE_POOL_2D as a depthwise convolution (module docstring)."""
    x, y = node.input(0), node.outputs[0]
    _, z_x = _quantization(node, x, "input")
    _quantization(node, y, "output")
    _, height, width, channels = _shape(node, x, 4, "input")
    opts = node.options
    if not isinstance(opts, Pool2DOptions):
        unsupported(node, "XS3 lowering: the pool has no options")
    kernel = (opts.filter_height, opts.filter_width)
    window = _window(opts)
    band = tflite_window((height, width), kernel, window.stride, window.dilation,
                         window.padding == "SAME")
    if band is None:
        unsupported(node, "XS3 lowering: the pool's window is larger than the input")
    if band.padded:
        unsupported(node, "XS3 lowering: SAME padding puts taps of an average pool outside "
                          "the image, where TFLite divides by fewer taps; the output "
                          "transform has one divisor per channel")
    taps = kernel[0] * kernel[1]
    tie = 0.0 if taps % 2 else (-0.5 if z_x < 0 else 0.5) / taps
    ones = np.ones((channels, taps), np.int8)
    transform = _derive(node, ones, None, 0, np.array(1.0 / taps), tie, False)
    clamp = activation_range(node, opts.fused_activation_function, y)
    return Lowered(node.name, "depthwise", np.ones((1, *kernel, channels), np.int8), transform,
                   clamp, 0, window, x.shape, y.shape)


_LOWERINGS: dict[str, Callable[[Node], Lowered]] = {
    "CONV_2D": _convolution, "DEPTHWISE_CONV_2D": _convolution,
    "FULLY_CONNECTED": _convolution, "AVERAGE_POOL_2D": _average_pool}


def lower_node(node: Node) -> Lowered:
    """``node`` (an int8 operator of :data:`LOWERED_OPCODES`) on the XS3 kernels;
    :class:`~tflitekit.UnsupportedOperatorError` says why another cannot be."""
    lowering = _LOWERINGS.get(node.name) if node.custom_code is None else None
    if lowering is None:
        unsupported(node, f"XS3 lowering: only {', '.join(LOWERED_OPCODES)} are lowered")
    if not node.outputs or not node.inputs:
        unsupported(node, "XS3 lowering: needs an input and an output")
    return lowering(node)


def lower(op: Operator) -> Lowered:
    """:func:`lower_node` of the node that describes ``op``."""
    return lower_node(describe(op))

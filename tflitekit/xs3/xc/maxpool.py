"""``XC_maxpool2d``: xcore-opt's int8 MAX_POOL_2D, bit-exact with xmos' host interpreter.

Inputs: the int8 input and an optional scratch buffer (unused here). Its options share the
blocks of ``XC_conv2d_v2`` (:mod:`~tflitekit.xs3.xc.params`): ``mp`` reads the input in place
(a VALID window: no padding), ``a`` is the depthwise aggregate's window (the taps' steps), ``o``
the channelwise transform's ``(channels, final shift)`` (only the channel count is used), ``p``
the thread regions. lib_nn's aggregate keeps a running int8 maximum per channel from -128 over
the window's taps and the transform stores it unchanged (facts from lib_nn's ``maxpool_direct``
and ``otfn_int8_maxpool``; the code is ours). No fused activation is applied.

Instructions are not counted: lib_nn runs this operator as a scalar loop (its reference) or
hand-written assembly we have not modelled, so there is no XS3 program of ours to count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tflitekit.interpreter.kernel import Kernel, unsupported
from tflitekit.interpreter.node import Array, Node
from tflitekit.options import TensorType

from .custom_options import custom_options
from .params import KernelType, Window, fields, output_shape, regions, window

__all__ = ["KERNELS", "MaxPoolParams", "prepare", "run"]


@dataclass(frozen=True)
class MaxPoolParams:
    """A decoded ``XC_maxpool2d``: its window, thread count and the output's sample shape."""

    window: Window
    threads: int
    output_shape: tuple[int, ...]


def prepare(node: Node) -> MaxPoolParams:
    """Decode and check the node (module docstring); refuses what it does not understand."""
    options = custom_options(node, "mp", "a", "o", "p")
    source, result = node.input(0), node.outputs[0]
    if source.type != TensorType.INT8 or result.type != TensorType.INT8:
        unsupported(node, f"{source.type_name} input and {result.type_name} output, expected "
                          "int8")
    channels, _ = fields(node, options, "o", "ih2x")
    parts = regions(node, options)
    out = output_shape(node, parts, channels)
    win = window(node, KernelType.DEPTHWISE_VALID_DIRECT, fields(node, options, "mp", "2i"),
                 fields(node, options, "a", "5i"), channels, out)
    return MaxPoolParams(win, len(parts), result.shape)


def run(params: MaxPoolParams, arrays: Sequence[Array | None]) -> list[Array]:
    """The int8 outputs ``(N, *output shape)``: each window's per-channel maximum."""
    x = arrays[0]
    assert x is not None
    win = params.window
    img = np.asarray(x, np.int8).reshape(len(x), *win.input)
    y = np.full((len(x), *win.output, win.input[2]), -128, np.int8)
    for _, tap in win.taps(img):
        np.maximum(y, tap, out=y)
    return [y.reshape(len(x), *params.output_shape)]


KERNELS: dict[str, Kernel] = {"XC_maxpool2d": Kernel(prepare, run)}

"""An int8 TFLite layer lowered to an XS3 kernel: its output transform derived from the layer's
quantization (:func:`~tflitekit.xs3.output_transform.derive_transform`) and the kernel of
:mod:`tflitekit.xs3.conv` that computes it, on either engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UnsupportedOperatorError
from tflitekit.ir import Operator, Tensor
from tflitekit.options import (
    ActivationFunctionType,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    Padding,
    TensorType,
)
from tflitekit.xs3 import conv
from tflitekit.xs3.isa import VectorUnit
from tflitekit.xs3.output_transform import OutputTransform, derive_transform, tflite_multipliers

__all__ = ["LOWERED_OPCODES", "Lowered", "lower"]

#: The operators :func:`lower` accepts (int8 activations and weights).
LOWERED_OPCODES = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")

Int8 = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Lowered:
    """A layer on the XS3 kernels (:meth:`run`), the output transform derived for it, and the
    multiply-accumulates it does per sample."""

    opcode: str
    transform: OutputTransform
    input_zero: int
    macs: int
    kernel: Callable[[VectorUnit, Int8], Int8]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def run(self, vpu: VectorUnit, x: npt.ArrayLike) -> Int8:
        """The layer on ``vpu``, whose memory's batch is ``len(x)``: ``x`` is ``(N,
        *input.shape)`` as :meth:`Interpreter.tensor` keeps it, or ``(N, *input.shape[1:])`` as
        :meth:`Interpreter.run` takes it; the output comes the same way."""
        xs = np.asarray(x, np.int8)
        shape = self.output_shape if xs.ndim > len(self.input_shape) else self.output_shape[1:]
        return self.kernel(vpu, xs).reshape(len(xs), *shape)


def _refuse(op: Operator, why: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"XS3 lowering of {op.opcode.name}: {why}")


def _quantization(op: Operator, t: Tensor, role: str) -> tuple[npt.NDArray[np.float64], int]:
    q = t.quantization
    if t.dtype != TensorType.INT8 or q is None or q.scale is None or q.zero_point is None:
        raise _refuse(op, f"the {role} must be int8 with a scale and zero point")
    return np.asarray(q.scale, np.float64).reshape(-1), int(np.asarray(q.zero_point).flat[0])


def _check_activation(op: Operator, scale: float, zero: int) -> None:
    """The output transform saturates to [-128, 127] and clamps nothing else: a fused
    activation is exact only when its clamp is no narrower (ReLU with zero point -128...)."""
    act = getattr(op.options, "fused_activation_function", ActivationFunctionType.NONE)
    lo, hi = {ActivationFunctionType.NONE: (-128, 127),
              ActivationFunctionType.RELU: (zero, 127),
              ActivationFunctionType.RELU6: (zero, zero + round(6.0 / scale)),
              ActivationFunctionType.RELU_N1_TO_1: (zero + round(-1.0 / scale),
                                                    zero + round(1.0 / scale))
              }.get(act, (None, None))
    if lo is None or hi is None:
        raise _refuse(op, f"fused {act.name} is not modelled")
    if lo > -128 or hi < 127:
        raise _refuse(op, f"fused {act.name} clamps to [{max(lo, -128)}, {min(hi, 127)}], which "
                          "the output transform does not")


def lower(op: Operator) -> Lowered:
    """``op`` (an int8 CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED with constant weights) on
    the XS3 kernels; :class:`UnsupportedOperatorError` says why another cannot be."""
    name = op.opcode.name
    if name not in LOWERED_OPCODES:
        raise _refuse(op, f"only {', '.join(LOWERED_OPCODES)} are lowered")
    x_t, w_t = op.inputs[0], op.inputs[1]
    b_t = op.inputs[2] if len(op.inputs) > 2 else None
    if x_t is None or w_t is None or w_t.data is None:
        raise _refuse(op, "needs an input and constant weights")
    s_x, z_x = _quantization(op, x_t, "input")
    s_w, _ = _quantization(op, w_t, "weights")
    s_y, z_y = _quantization(op, op.outputs[0], "output")
    _check_activation(op, float(s_y[0]), z_y)
    if b_t is not None and (b_t.data is None or b_t.dtype != TensorType.INT32):
        raise _refuse(op, "the bias must be constant int32")
    w = np.asarray(w_t.data, np.int8)
    if x_t.shape is None or op.outputs[0].shape is None:
        raise _refuse(op, "needs the input and output shapes")
    if name == "FULLY_CONNECTED" and int(np.prod(x_t.shape)) != w.shape[1]:
        raise _refuse(op, "the input holds more than one row per sample")
    channels = w.shape[-1] if name == "DEPTHWISE_CONV_2D" else w.shape[0]
    per_channel = np.broadcast_to(s_w, channels)
    by_output = w.reshape(-1, channels).T if name == "DEPTHWISE_CONV_2D" else \
        w.reshape(channels, -1)
    transform = derive_transform(by_output, None if b_t is None else b_t.data, z_x,
                                 tflite_multipliers(float(s_x[0]), per_channel, float(s_y[0])),
                                 z_y, channelwise=s_w.size > 1)
    out_shape = tuple(int(d) for d in op.outputs[0].shape)
    macs = int(np.prod(out_shape)) * int(by_output.shape[1])
    opts = op.options
    kernel: Callable[[VectorUnit, Int8], Int8]
    if isinstance(opts, (Conv2DOptions, DepthwiseConv2DOptions)):
        stride, dilation = (opts.stride_h, opts.stride_w), \
            (opts.dilation_h_factor, opts.dilation_w_factor)
        padding: conv.Padding = "SAME" if opts.padding == Padding.SAME else "VALID"
        run = conv.conv2d if name == "CONV_2D" else conv.depthwise_conv2d

        def kernel(vpu: VectorUnit, x: Int8) -> Int8:
            return run(vpu, x.reshape(len(x), *x.shape[-3:]), w, transform, input_zero=z_x,
                       stride=stride, dilation=dilation, padding=padding)
    else:
        def kernel(vpu: VectorUnit, x: Int8) -> Int8:
            return conv.fully_connected(vpu, w, transform, x.reshape(-1, w.shape[1]))
    return Lowered(name, transform, z_x, macs, kernel, tuple(int(d) for d in x_t.shape),
                   out_shape)

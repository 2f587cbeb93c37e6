"""RELU, RELU6, LEAKY_RELU and HARD_SWISH, as TFLite Micro computes them.

- RELU (int8, int16): requantize by ``float32(s_in / s_out)`` and clamp to
  ``[max(qmin, zp_out), qmax]`` (TFLite Micro's ReluQuantized); int16 needs zero points of 0.
- RELU6 (int8, int16): no requantization: the raw input is clamped to ``[zp_in, q(6)]`` with
  ``q(6) = clamp(round(6 / s_in) + zp_in)`` (Relu6Quantized), whatever the output's parameters.
- LEAKY_RELU (int8, int16): ``q - zp_in`` is scaled by ``s_in / s_out`` where it is >= 0 and by
  ``float32(s_in * alpha) / s_out`` elsewhere (a negative alpha by its magnitude, negated).
- HARD_SWISH (int8): TFLite's reference fixed-point HardSwish, 16-bit gemmlowp arithmetic.
- float32 for all four, with C++'s comparisons (NaN passes RELU, RELU6 and LEAKY_RELU through).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir import dtypes
from ...options import BuiltinOperator, LeakyReluOptions, TensorType
from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, round_half_away
from ..kernel import Kernel, Registry, options, run_unary, unary, unsupported
from ..node import Array, Node, Operand, Rounding

__all__ = ["KERNELS"]

T = TensorType


def _range(operand: Operand) -> tuple[int, int]:
    info = np.iinfo(operand.dtype)
    return int(info.min), int(info.max)


@dataclass(frozen=True)
class _Float:
    opcode: BuiltinOperator
    alpha: np.float32
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        zero = np.float32(0)
        if self.opcode == BuiltinOperator.RELU:
            return np.where(x < zero, zero, x)
        if self.opcode == BuiltinOperator.RELU6:
            six = np.float32(6)
            return np.where(x > six, six, np.where(x < zero, zero, x))
        if self.opcode == BuiltinOperator.LEAKY_RELU:
            return np.where(x > zero, x, x * self.alpha)
        with np.errstate(invalid="ignore"):  # HARD_SWISH: x * min(6, max(0, x + 3)) / 6
            y: Array = x * np.minimum(np.float32(6), np.maximum(zero, x + np.float32(3)))
        out: Array = y / np.float32(6)
        return out


def _operands(node: Node, *types: TensorType) -> tuple[Operand, Operand, tuple[int, ...]]:
    """The input and output, of the same type among ``types``, quantized unless float32, and
    the output sample shape."""
    source, result, shape = unary(node)
    if source.type not in types or result.type != source.type:
        allowed = ", ".join(dtypes.name(t) for t in types)
        unsupported(node, f"{source.type_name} to {result.type_name}; expected one type in "
                          f"and out, one of {allowed}")
    if source.type != T.FLOAT32:
        for operand in (source, result):
            if operand.scale is None or operand.per_channel:
                unsupported(node, f"{operand.name!r} is not quantized per tensor")
    return source, result, shape


def _multiplier(node: Node, ratio: float) -> tuple[int, int]:
    multiplier, shift = quantize_multiplier(ratio, node.rounding)
    if shift > 30:  # C++ computes 1 << shift in int
        unsupported(node, f"the scale ratio {ratio:g} is too large")
    return multiplier, shift


# --------------------------------------------------------------------------------------------
# RELU and LEAKY_RELU
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rescale:
    """``q - zp_in`` scaled by ``identity`` where it is >= 0 and by ``negative`` elsewhere
    (negated when ``negate``; by ``identity`` too when None, as RELU), plus ``zp_out``, clamped
    to ``[low, high]``."""

    identity: tuple[int, int]
    negative: tuple[int, int] | None
    negate: bool
    zero_in: int
    zero_out: int
    low: int
    high: int
    rounding: Rounding
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        centered = x.astype(np.int64) - self.zero_in
        scaled = multiply_by_quantized_multiplier(centered, *self.identity, self.rounding)
        if self.negative is not None:
            negative = multiply_by_quantized_multiplier(centered, *self.negative, self.rounding)
            scaled = np.where(centered >= 0, scaled, -negative if self.negate else negative)
        return np.clip(scaled + self.zero_out, self.low, self.high).astype(x.dtype)


def _prepare_relu(node: Node) -> _Float | _Rescale:
    source, result, shape = _operands(node, T.FLOAT32, T.INT8, T.INT16)
    if source.type == T.FLOAT32:
        return _Float(node.opcode, np.float32(0), shape)
    if source.type == T.INT16 and (source.zero_value or result.zero_value):
        unsupported(node, "int16 RELU needs zero points of 0")
    ratio = float(np.float32(source.scale_value) / np.float32(result.scale_value))
    qmin, qmax = _range(source)
    return _Rescale(_multiplier(node, ratio), None, False, source.zero_value, result.zero_value,
                    max(qmin, result.zero_value), qmax, node.rounding, shape)


def _prepare_leaky_relu(node: Node) -> _Float | _Rescale:
    source, result, shape = _operands(node, T.FLOAT32, T.INT8, T.INT16)
    alpha = np.float32(options(node, LeakyReluOptions).alpha)
    if source.type == T.FLOAT32:
        return _Float(node.opcode, alpha, shape)
    s_in, s_out = np.float32(source.scale_value), np.float32(result.scale_value)
    identity = _multiplier(node, float(s_in / s_out))
    alpha_multiplier, alpha_shift = _multiplier(node, float(s_in * alpha / s_out))
    if alpha_multiplier == -(2**31):  # its magnitude does not fit int32
        unsupported(node, f"alpha {alpha:g} gives a multiplier of -2^31")
    return _Rescale(identity, (abs(alpha_multiplier), alpha_shift), alpha_multiplier < 0,
                    source.zero_value, result.zero_value, *_range(source), node.rounding, shape)


# --------------------------------------------------------------------------------------------
# RELU6
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clamp:
    low: int
    high: int
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        # C++: val > six ? six : val < zero ? zero : val, in the input type
        y = np.where(x > self.high, self.high, np.where(x < self.low, self.low, x))
        return y.astype(x.dtype)


def _prepare_relu6(node: Node) -> _Float | _Clamp:
    source, _, shape = _operands(node, T.FLOAT32, T.INT8, T.INT16)
    if source.type == T.FLOAT32:
        return _Float(node.opcode, np.float32(0), shape)
    quotient = np.float32(6) / np.float32(source.scale_value)
    if not quotient < 2.0**31:
        unsupported(node, f"6 / scale {source.scale_value:g} leaves int32 (undefined in C++)")
    qmin, qmax = _range(source)
    six = source.zero_value + int(round_half_away(quotient))
    return _Clamp(source.zero_value, min(max(six, qmin), qmax), shape)


# --------------------------------------------------------------------------------------------
# HARD_SWISH
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _HardSwish:
    zero_in: int
    zero_out: int
    output_multiplier: int  # int16
    output_exponent: int  # <= 0
    reluish_multiplier: int  # int16
    reluish_exponent: int
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        hires = _wrap16(_wrap16(x.astype(np.int64) - self.zero_in) * 128)
        preshift_output = _srdhm16(hires, self.output_multiplier)
        reluish = hires
        if self.reluish_exponent > 0:
            reluish = _saturating_left_shift16(reluish, self.reluish_exponent - 1)
        reluish = _srdhm16(reluish, self.reluish_multiplier)
        if self.reluish_exponent > 0:
            reluish = _saturating_left_shift16(reluish, 1)
        elif self.reluish_exponent < 0:
            reluish = _rdbpot16(reluish, -self.reluish_exponent)
        reluish = (reluish + 2**15) >> 1  # [-1, 1] to [0, 1]
        product = reluish * preshift_output  # SaturatingDoublingHighMul: truncates, never saturates
        preshift = np.where(product >= 0, product >> 15, -((-product) >> 15))
        y = _wrap16(_rdbpot16(preshift, -self.output_exponent) + self.zero_out)
        return np.clip(y, -128, 127).astype(np.int8)


def _int16_multiplier(node: Node, real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier: ``(M + 2^15) >> 16``, 32767 at
    the top."""
    multiplier, exponent = _multiplier(node, real)
    if multiplier >= 2**31 - 1 - 2**15:
        return 32767, exponent
    return (multiplier + 2**15) >> 16, exponent


def _prepare_hard_swish(node: Node) -> _Float | _HardSwish:
    source, result, shape = _operands(node, T.FLOAT32, T.INT8)
    if source.type == T.FLOAT32:
        return _Float(node.opcode, np.float32(0), shape)
    hires_scale = np.float32(1 / 128) * np.float32(source.scale_value)
    output = _int16_multiplier(node, float(hires_scale / np.float32(result.scale_value)))
    if output[1] > 0:
        unsupported(node, "the output scale is below the input scale / 128")
    reluish = _int16_multiplier(node, float(hires_scale / np.float32(3 / 32768)))
    return _HardSwish(source.zero_value, result.zero_value, *output, *reluish, shape)


def _wrap16(x: Array) -> Array:
    return (x + 2**15) % 2**16 - 2**15


def _srdhm16(a: Array, b: int) -> Array:
    """gemmlowp's SaturatingRoundingDoublingHighMul of int16 values."""
    ab = a * b
    nudged = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = np.where(nudged >= 0, nudged >> 15, -((-nudged) >> 15))  # truncating division
    return np.where((a == -(2**15)) & (b == -(2**15)), 2**15 - 1, _wrap16(high))


def _rdbpot16(x: Array, exponent: int) -> Array:
    """gemmlowp's RoundingDivideByPOT of int16 values (its mask is an int16: -1 from 16 on)."""
    mask = int(_wrap16(np.int64((1 << exponent) - 1)))
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def _saturating_left_shift16(x: Array, amount: int) -> Array:
    y: Array = x << amount
    return np.clip(y, -(2**15), 2**15 - 1)


KERNELS: Registry = {
    BuiltinOperator.RELU: Kernel(_prepare_relu, run_unary),
    BuiltinOperator.RELU6: Kernel(_prepare_relu6, run_unary),
    BuiltinOperator.LEAKY_RELU: Kernel(_prepare_leaky_relu, run_unary),
    BuiltinOperator.HARD_SWISH: Kernel(_prepare_hard_swish, run_unary),
}

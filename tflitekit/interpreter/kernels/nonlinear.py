"""LOGISTIC and TANH, as TFLite Micro computes them.

- float32: ``1 / (1 + exp(-x))`` (1 above 16.619047, ``exp(x)`` below -9) and ``tanh(x)``.
- int8: the input, less its zero point, is rescaled to Q4.27 by MultiplyByQuantizedMultiplier
  (multiplier ``scale * 2^27``) and fed to gemmlowp's fixed-point ``logistic`` / ``tanh``;
  inputs at or beyond the input radius saturate. LOGISTIC's output is ``RDBPOT(y, 23) - 128``
  (TFLite Micro requires the output zero point -128); TANH's is ``RDBPOT(y, 24)``: both are
  fixed by the arithmetic, whatever the output's scale (TFLite Micro checks no more).
- int16 (zero points 0, output scale 2^-15): the input is scaled so that 2^17 stands for
  ±10.7 (``x * multiplier + round >> shift``; multiplier 3 << shift for power-of-two input
  scales) and looked up in TFLite's 256-entry sigmoid table with linear interpolation
  (tanh(x) = 2 sigmoid(2x) - 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...options import BuiltinOperator, TensorType
from .. import fixedpoint as fp
from ..kernel import Kernel, Registry, expect_types, run_unary, unary, unsupported
from ..node import Array, Node, Operand, Rounding

__all__ = ["KERNELS", "SIGMOID_TABLE"]

SIGMOID_TABLE = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535], np.int64)
"""TFLite's ``sigmoid_table_uint16``: sigmoid(i / 24) in unsigned Q0.16, i = 0..255."""

_INPUT_INTEGER_BITS = 4  # int8: the input is rescaled to Q4.27


@dataclass(frozen=True)
class _Float:
    logistic: bool
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        x = x.astype(np.float32)
        if not self.logistic:
            return np.tanh(x)
        with np.errstate(over="ignore"):  # the branch not taken may overflow
            inner = np.float32(1) / (np.float32(1)
                                     + np.exp(-x.astype(np.float64)).astype(np.float32))
            low = np.exp(x.astype(np.float64)).astype(np.float32)
        return np.where(x > np.float32(16.619047164916992188), np.float32(1),
                        np.where(x < np.float32(-9), low, inner))


@dataclass(frozen=True)
class _Int8:
    logistic: bool
    zero_point: int
    radius: int
    multiplier: int
    shift: int
    rounding: Rounding
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        centered = x.astype(np.int64) - self.zero_point
        rescaled = fp.multiply_by_quantized_multiplier(
            np.clip(centered, 1 - self.radius, self.radius - 1), self.multiplier, self.shift,
            self.rounding)
        if self.logistic:
            value = fp.rounding_divide_by_pot(fp.logistic(rescaled, _INPUT_INTEGER_BITS), 23) - 128
        else:
            value = fp.rounding_divide_by_pot(fp.tanh(rescaled, _INPUT_INTEGER_BITS), 24)
        out = np.clip(value, -128, 127)
        return np.where(centered <= -self.radius, -128,
                        np.where(centered >= self.radius, 127, out)).astype(np.int8)


@dataclass(frozen=True)
class _Int16:
    logistic: bool
    multiplier: int
    shift: int
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        rounding = 1 << (self.shift - 1) if self.shift > 0 else 0
        scaled = (x.astype(np.int64) * self.multiplier + rounding) >> self.shift
        magnitude = np.abs(scaled)
        fraction_bits = 9 if self.logistic else 8  # sigmoid(x) at x, tanh(x) = 2 sigmoid(2x) - 1
        high = magnitude >> fraction_bits
        index = np.minimum(high, 254)
        below, above = SIGMOID_TABLE[index], SIGMOID_TABLE[index + 1]
        low = magnitude & ((1 << fraction_bits) - 1)
        interpolated = (below << fraction_bits) + low * (above - below)
        if self.logistic:
            value = np.where(high >= 255, 0x7FFF << 10, interpolated)
            value = np.where(scaled >= 0, value + (1 << 9),
                             (1 << 25) - value + (1 << 9) - 1) >> 10
        else:
            value = np.where(high >= 255, 0xFFFF << 8, interpolated)
            value = np.where(scaled >= 0, value - (1 << 23) + (1 << 7),
                             -value + (1 << 23) + (1 << 7) - 1) >> 8
        return value.astype(np.int16)


def _operands(node: Node) -> tuple[Operand, Operand, tuple[int, ...]]:
    source, result, shape = unary(node)
    expect_types(node, source, TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
    if result.type != source.type:
        unsupported(node, f"input {source.type_name} with output {result.type_name}")
    if source.type != TensorType.FLOAT32 and (source.scale is None or result.scale is None):
        unsupported(node, f"{source.type_name} tensors without quantization")
    if source.per_channel or result.per_channel:
        unsupported(node, "per-channel quantization")
    return source, result, shape


def _checked_log2(x: float) -> tuple[int, bool]:
    """TFLite's CheckedLog2 (float32): the nearest integer to log2(x), and whether x is within
    1e-3 (in log2) of that power of two."""
    log2 = np.float32(np.log(np.float32(x))) * (np.float32(1) / np.log(np.float32(2)))
    rounded = fp.round_half_away(log2)
    return int(rounded), bool(abs(log2 - rounded) < np.float32(1e-3))


def _prepare_int8(node: Node, source: Operand, result: Operand, shape: tuple[int, ...],
                  logistic: bool) -> _Int8:
    if logistic and result.zero_value != -128:
        unsupported(node, f"int8 LOGISTIC needs output zero point -128, not {result.zero_value}")
    real = float(source.scale_value) * float(1 << (31 - _INPUT_INTEGER_BITS))
    q, shift = np.frexp(real)
    if shift < 0:
        unsupported(node, f"input scale {source.scale_value} is too small (below 2^-28)")
    multiplier = int(fp.round_half_away(np.float64(q) * float(1 << 31)))
    return _Int8(logistic, source.zero_value,
                 fp.calculate_input_radius(_INPUT_INTEGER_BITS, int(shift)), multiplier,
                 int(shift), node.rounding, shape)


def _prepare_int16(node: Node, source: Operand, result: Operand, shape: tuple[int, ...],
                   logistic: bool) -> _Int16:
    if source.zero_value != 0 or result.zero_value != 0:
        unsupported(node, "int16 needs zero points of 0")
    log2_in, pot = _checked_log2(source.scale_value)
    shift = 12 + log2_in  # (15 - 3 integer bits) + log2(scale)
    if pot and (shift == 0 or (not logistic and shift == 1)):
        multiplier, shift = 3 << shift, 0
    else:  # rescale to 1/(3 * 4096) per unit, keeping the multiplier below 2^15
        real = float(source.scale_value) * 4096.0 * 3.0
        shift = 0
        while real <= 32767.0 / 2.0 and shift <= 30:
            shift += 1
            real *= 2.0
        multiplier = int(real)
        if multiplier > 32767:
            unsupported(node, f"input scale {source.scale_value} is too large for int16")
    log2_out, pot_out = _checked_log2(result.scale_value)
    if not pot_out or log2_out != -15:
        unsupported(node, f"int16 needs output scale 2^-15, not {result.scale_value}")
    return _Int16(logistic, multiplier, shift, shape)


def _prepare(node: Node) -> _Float | _Int8 | _Int16:
    logistic = node.opcode == BuiltinOperator.LOGISTIC
    source, result, shape = _operands(node)
    if source.type == TensorType.INT8:
        return _prepare_int8(node, source, result, shape, logistic)
    if source.type == TensorType.INT16:
        return _prepare_int16(node, source, result, shape, logistic)
    return _Float(logistic, shape)


_KERNEL = Kernel(_prepare, run_unary)

KERNELS: Registry = {BuiltinOperator.LOGISTIC: _KERNEL, BuiltinOperator.TANH: _KERNEL}

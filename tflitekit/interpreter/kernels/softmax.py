"""SOFTMAX over the last axis, as TFLite Micro computes it.

- float32: ``exp((x - max) * beta) / sum``, in float32.
- int8 input, int8 output (zero point -128, scale 1/256) or int16 output (zero point -32768,
  scale 1/65536): ``x - max`` is rescaled by ``beta * scale * 2^26`` (PreprocessSoftmaxScaling)
  to Q5.26 and exponentiated with gemmlowp's ``exp_on_negative_values``; the exps, in Q12.19,
  are summed and inverted (GetReciprocal); differences below ``diff_min`` (the input radius)
  count as exp = 0 and give the output's minimum.
- int16 input and output (zero points 0, scale 2^-15): ``x - max`` is rescaled so that
  [-65535, 0] stands for [-10, 0], exponentiated through a 513-entry table, and the sum of exps
  inverted through a table of ``1 / (1 + x)`` (both LUTPopulate<int16_t>, in float32).

Where TFLite Micro aborts (a sum of int8 exps so large that the output shift exceeds 31, which
takes 2^(bits + 1) maximal entries in one row), the shift is taken as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...options import BuiltinOperator, SoftmaxOptions, TensorType
from .. import fixedpoint as fp
from ..kernel import Kernel, Registry, expect_types, options, run_unary, unary, unsupported
from ..node import Array, Node, Rounding

__all__ = ["KERNELS", "preprocess_softmax_scaling"]

_SCALED_DIFF_INTEGER_BITS = 5  # int8: x - max rescaled to Q5.26
_ACCUMULATION_INTEGER_BITS = 12  # int8: the sum of exps in Q12.19
_INT16_RANGE = 65535


@dataclass(frozen=True)
class _Params:
    type: TensorType
    output_dtype: np.dtype[np.generic]
    shape: tuple[int, ...]
    beta: float = 1.0
    multiplier: int = 0
    shift: int = 0
    diff_min: int = 0
    rounding: Rounding = "double"
    exp_table: npt.NDArray[np.int16] | None = None
    reciprocal_table: npt.NDArray[np.int16] | None = None

    def __call__(self, x: Array) -> Array:
        compute = _float if self.type == TensorType.FLOAT32 else (
            _int8 if self.type == TensorType.INT8 else _int16)
        return compute(self, x).astype(self.output_dtype)


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int,
                               rounding: Rounding = "double") -> tuple[int, int] | None:
    """TFLite's PreprocessSoftmaxScaling: the quantized multiplier and left shift of
    ``beta * input_scale * 2^(31 - input_integer_bits)`` (capped at 2^31 - 1, or 2^30 - 1 with
    single rounding); None where TFLite fails its check that the multiplier exceeds 1."""
    cap = float((1 << 30) - 1 if rounding == "single" else (1 << 31) - 1)
    real = min(beta * input_scale * float(1 << (31 - input_integer_bits)), cap)
    if not real > 1.0:
        return None
    return fp.quantize_multiplier(real, rounding)


def _exp_transform(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.exp(x.astype(np.float64)).astype(np.float32)


def _reciprocal_transform(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    result: npt.NDArray[np.float32] = np.float32(1) / (np.float32(1) + x)
    return result


def _prepare(node: Node) -> _Params:
    source, result, shape = unary(node)
    expect_types(node, source, TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
    if not source.shape:
        unsupported(node, "a scalar input (SOFTMAX needs at least one dimension)")
    if shape != source.shape:
        unsupported(node, f"output shape {list(shape)} differs from the input's "
                          f"{list(source.shape)}")
    beta = float(np.float32(options(node, SoftmaxOptions).beta))
    if source.type == TensorType.FLOAT32:
        expect_types(node, result, TensorType.FLOAT32)
        return _Params(source.type, np.dtype(np.float32), shape, beta=beta)
    if source.scale is None or result.scale is None:
        unsupported(node, f"{source.type_name} tensors without quantization")
    scale, out_scale = source.scale_value, result.scale_value
    if source.type == TensorType.INT16:
        expect_types(node, result, TensorType.INT16)
        if source.zero_value != 0 or result.zero_value != 0:
            unsupported(node, "int16 needs zero points of 0")
        if abs(out_scale - 1 / 32768) > 0.001 / 32768:
            unsupported(node, f"int16 needs output scale 1/32768, not {out_scale}")
        # scale x - max so that [-65535, 0] stands for [-10, 0]
        multiplier, shift = fp.quantize_multiplier(
            scale * beta / (10.0 / _INT16_RANGE), node.rounding)
        f32 = np.float32
        return _Params(
            source.type, np.dtype(np.int16), shape, multiplier=multiplier, shift=shift,
            rounding=node.rounding,
            exp_table=fp.lut_populate_int16(_exp_transform, float(f32(10) / f32(_INT16_RANGE)),
                                            32767, float(f32(2) / f32(_INT16_RANGE)), 0),
            reciprocal_table=fp.lut_populate_int16(
                _reciprocal_transform, float(f32(1) / f32(_INT16_RANGE)), -32768,
                float(f32(2) / f32(_INT16_RANGE)), 0))
    expect_types(node, result, TensorType.INT8, TensorType.INT16)
    if result.type == TensorType.INT8 and (result.zero_value != -128 or
                                           out_scale != np.float32(1 / 256)):
        unsupported(node, "int8 output needs zero point -128 and scale 1/256")
    if result.type == TensorType.INT16 and (
            result.zero_value != -32768 or abs(out_scale - 1 / 65536) > 0.001 / 65536):
        unsupported(node, "int16 output of an int8 input needs zero point -32768 and scale "
                          "1/65536")
    scaling = preprocess_softmax_scaling(beta, scale, _SCALED_DIFF_INTEGER_BITS, node.rounding)
    if scaling is None:
        unsupported(node, f"beta * input scale ({beta} * {scale}) is at most 2^-26")
    multiplier, shift = scaling
    assert result.dtype is not None
    return _Params(source.type, result.dtype, shape, multiplier=multiplier,
                   shift=shift, rounding=node.rounding,
                   diff_min=-fp.calculate_input_radius(_SCALED_DIFF_INTEGER_BITS, shift))


def _float(p: _Params, x: Array) -> Array:
    x = x.astype(np.float32)
    shifted = (x - x.max(axis=-1, keepdims=True)) * np.float32(p.beta)
    e = np.exp(shifted.astype(np.float64)).astype(np.float32)
    result: Array = e / e.sum(axis=-1, keepdims=True, dtype=np.float32)
    return result


def _int8(p: _Params, x: Array) -> Array:
    diff = x.astype(np.int64) - x.max(axis=-1, keepdims=True)
    kept = diff >= p.diff_min
    rescaled = fp.multiply_by_quantized_multiplier(np.where(kept, diff, 0), p.multiplier,
                                                   p.shift, p.rounding)
    exps = fp.exp_on_negative_values(rescaled, _SCALED_DIFF_INTEGER_BITS)
    terms = fp.rescale(exps, 0, _ACCUMULATION_INTEGER_BITS)
    total = fp.wrap_int32(np.where(kept, terms, 0).sum(axis=-1, keepdims=True))
    reciprocal, bits_over_unit = fp.get_reciprocal(total, _ACCUMULATION_INTEGER_BITS)
    bits = 8 * p.output_dtype.itemsize
    lowest, highest = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    exponent = bits_over_unit + 31 - bits
    scaled = fp.rounding_divide_by_pot(
        fp.saturating_rounding_doubling_high_mul(reciprocal, exps), exponent)
    return np.where(kept, np.clip(scaled + lowest, lowest, highest), lowest)


def _int16(p: _Params, x: Array) -> Array:
    assert p.exp_table is not None and p.reciprocal_table is not None
    diff = x.astype(np.int64) - x.max(axis=-1, keepdims=True)
    scaled = fp.multiply_by_quantized_multiplier(diff, p.multiplier, p.shift, p.rounding)
    exps = fp.lut_lookup_int16(np.clip(scaled + 32767, -32768, 32767), p.exp_table)  # Q0.15
    total = exps.sum(axis=-1, keepdims=True)
    headroom_plus_one = fp.count_leading_zeros(total)
    shifted = ((total << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    # 1 / (1 + x) of x = shifted - 1, recentred from [0, 65535] to the table's int16 range
    reciprocal = fp.lut_lookup_int16(np.clip(shifted - (1 << 15) - (1 << 16), -32768, 32767),
                                     p.reciprocal_table)
    right_shift = 31 - headroom_plus_one
    value = (exps * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
    result: Array = np.clip(value, 0, 32767)
    return result


KERNELS: Registry = {BuiltinOperator.SOFTMAX: Kernel(_prepare, run_unary)}

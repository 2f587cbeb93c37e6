"""QUANTIZE, DEQUANTIZE and CAST.

- QUANTIZE of float32 is TFLite's AffineQuantize: ``clamp(int32(round(x / float32(scale))) +
  zero_point)``, division and rounding in float32 (halves away from zero), to int8 and int16
  (TFLite Micro), uint8 and per-channel scales (LiteRT's reference kernels; TFLite Micro has
  neither). A quotient outside int32 (or NaN) converts to INT32_MIN and the zero point is added
  with int32 wrap-around, as both runtimes compute on x86; a constant input with such values is
  refused, since C++ leaves the conversion undefined.
- QUANTIZE of an integer tensor requantizes it (TFLite's Requantize):
  ``clamp(MultiplyByQuantizedMultiplier(q - zp_in, s_in / s_out) + zp_out)``, for the type pairs
  TFLite Micro implements, and uint8 to uint8 (LiteRT).
- DEQUANTIZE: ``float32(scale * (q - zero_point))`` of int8, int16 and uint8, per tensor
  (TFLite Micro) or per channel for int8 and uint8 (LiteRT; TFLite Micro applies the first scale
  to every channel and LiteRT refuses int16); float16 is widened (LiteRT: what the converter
  emits for float16 weights).
- CAST: C++ ``static_cast`` between bool, the integer types, float16 and float32 (TFLite
  Micro's pairs and LiteRT's wider set). Floats convert to integers by truncation, saturating
  out-of-range values and sending NaN to 0 (TFLite Micro's observed behaviour); a constant input
  with such values is refused, since C++ leaves the conversion undefined and LiteRT differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...ir import dtypes
from ...options import BuiltinOperator, TensorType
from ..fixedpoint import (
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    round_half_away,
    wrap_int32,
)
from ..kernel import Kernel, Registry, run_unary, unary, unsupported
from ..node import Array, Node, Operand, Rounding

__all__ = ["KERNELS"]

T = TensorType
_INTEGER = (T.INT8, T.INT16, T.UINT8)

_REQUANTIZE = frozenset({
    (T.INT8, T.INT8), (T.INT8, T.UINT8), (T.INT8, T.INT16), (T.INT8, T.INT32),
    (T.UINT8, T.INT8), (T.UINT8, T.UINT8),
    (T.INT16, T.INT8), (T.INT16, T.INT16), (T.INT16, T.INT32),
    (T.INT32, T.INT8), (T.INT32, T.INT16),
})
"""Requantizations: TFLite Micro's pairs, and uint8 to uint8 (LiteRT)."""

_CAST_TYPES = frozenset({T.BOOL, T.INT8, T.INT16, T.INT32, T.INT64, T.UINT8, T.UINT32,
                         T.FLOAT16, T.FLOAT32})


def _channel_shape(node: Node, operand: Operand) -> tuple[int, ...]:
    """How a per-channel operand's scales broadcast over a batched value (``(1,)`` when per
    tensor)."""
    assert operand.scale is not None
    if operand.scale.size == 1:
        return (1,)
    axis, rank = operand.quantized_dimension, len(operand.shape)
    if not 0 <= axis < rank or operand.shape[axis] != operand.scale.size:
        unsupported(node, f"per-channel quantization on dimension {axis} of shape "
                          f"{list(operand.shape)}")
    shape = [1] * (rank + 1)
    shape[axis + 1] = operand.scale.size
    return tuple(shape)


# --------------------------------------------------------------------------------------------
# QUANTIZE
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Affine:
    """AffineQuantize of float32 (module docstring); ``scale`` (float32) and ``zero`` (int64)
    broadcast over the batched input."""

    scale: Array
    zero: Array
    dtype: np.dtype[Any]
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        with np.errstate(all="ignore"):
            quotient = round_half_away(x.astype(np.float32, copy=False) / self.scale)
        info = np.iinfo(self.dtype)
        if quotient.size and quotient.min() > -(2.0**30) and quotient.max() < 2.0**30:
            # no NaN and nothing near int32's limits: clamp and shift, in place, in float32
            zero = self.zero.astype(np.float32)
            np.clip(quotient, info.min - zero, info.max - zero, out=quotient)
            quotient += zero
            return quotient.astype(self.dtype)
        rounded = quotient.astype(np.float64)
        fits = np.abs(rounded) < 2.0**31  # False for NaN
        as_int = np.where(fits, np.where(fits, rounded, 0).astype(np.int64), INT32_MIN)
        return np.clip(wrap_int32(as_int + self.zero), info.min, info.max).astype(self.dtype)


@dataclass(frozen=True)
class _Requantize:
    """TFLite's Requantize of an integer input with int32 arithmetic, wrapping where C++
    wraps."""

    multiplier: int
    shift: int
    zero_in: int
    zero_out: int
    dtype: np.dtype[Any]
    rounding: Rounding
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        centered = wrap_int32(x.astype(np.int64) - self.zero_in)
        scaled = multiply_by_quantized_multiplier(centered, self.multiplier, self.shift,
                                                  self.rounding)
        info = np.iinfo(self.dtype)
        return np.clip(wrap_int32(scaled + self.zero_out), info.min, info.max).astype(self.dtype)


def _prepare_quantize(node: Node) -> _Affine | _Requantize:
    source, result, shape = unary(node)
    pair = f"{source.type_name} to {result.type_name}"
    if result.scale is None or result.zero_point is None:
        unsupported(node, f"output {result.name!r} is not quantized")
    assert result.dtype is not None
    if source.type == T.FLOAT32:
        if result.type not in _INTEGER:
            unsupported(node, f"{pair} (float32 quantizes to int8, int16 or uint8)")
        channels = _channel_shape(node, result)
        scale = result.scale.astype(np.float32).reshape(channels)
        if source.data is not None:
            with np.errstate(all="ignore"):
                quotient = np.abs(source.data[None].astype(np.float32) / scale)
            if not np.all(round_half_away(quotient).astype(np.float64) < 2.0**31):
                unsupported(node, "a value is outside int32 before clamping (undefined in C++)")
        return _Affine(scale, result.zero_point.reshape(channels), result.dtype, shape)
    if (source.type, result.type) not in _REQUANTIZE:
        unsupported(node, f"{pair} is not a requantization TFLite Micro implements")
    if source.scale is None:
        unsupported(node, f"input {source.name!r} is not quantized")
    if source.per_channel or result.per_channel:
        unsupported(node, "per-channel requantization")
    multiplier, shift = quantize_multiplier(source.scale_value / result.scale_value,
                                            node.rounding)
    if shift > 30:  # C++ computes 1 << shift in int
        unsupported(node, f"the scale ratio {source.scale_value / result.scale_value:g} "
                          "is too large to requantize")
    return _Requantize(multiplier, shift, source.zero_value, result.zero_value, result.dtype,
                       node.rounding, shape)


# --------------------------------------------------------------------------------------------
# DEQUANTIZE
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dequantize:
    scale: Array | None  # float32, broadcastable; None to widen float16
    zero: Array | None
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        if self.scale is None or self.zero is None:
            return x.astype(np.float32)
        centered = (x.astype(np.int64) - self.zero).astype(np.float32)  # exact: |q - zp| < 2^24
        result: Array = self.scale * centered
        return result


def _prepare_dequantize(node: Node) -> _Dequantize:
    source, result, shape = unary(node)
    if result.type != T.FLOAT32:
        unsupported(node, f"output type {result.type_name} (only float32)")
    if source.type == T.FLOAT16:
        return _Dequantize(None, None, shape)
    if source.type not in _INTEGER:
        unsupported(node, f"input of type {source.type_name} (DEQUANTIZE takes int8, int16, "
                          "uint8 or float16)")
    if source.scale is None or source.zero_point is None:
        unsupported(node, f"input of type {source.type_name} without quantization")
    if source.per_channel and source.type == T.INT16:  # LiteRT refuses, TFLite Micro ignores
        unsupported(node, "int16 per channel is not evaluated by any runtime")
    channels = _channel_shape(node, source)
    return _Dequantize(source.scale.astype(np.float32).reshape(channels),
                       source.zero_point.reshape(channels), shape)


# --------------------------------------------------------------------------------------------
# CAST
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cast:
    dtype: np.dtype[Any]
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        dtype = self.dtype
        y: Array
        if x.dtype.kind == "f" and dtype.kind in "iu":
            info = np.iinfo(dtype)
            wide = np.nan_to_num(np.trunc(x.astype(np.float64)), nan=0.0)
            upper = min(float(info.max), 2.0**63 - 1024)  # the largest float64 below int64's max
            y = np.clip(wide, info.min, upper).astype(dtype)
            y[wide > upper] = info.max
        else:
            with np.errstate(over="ignore"):
                y = x.astype(dtype)
        return y


def _prepare_cast(node: Node) -> _Cast:
    source, result, shape = unary(node)
    for operand in (source, result):
        if operand.type not in _CAST_TYPES:
            unsupported(node, f"{operand.name!r} has type {operand.type_name}; CAST takes "
                        + ", ".join(sorted(dtypes.name(t) for t in _CAST_TYPES)))
    assert result.dtype is not None
    if source.data is not None and source.dtype is not None and source.dtype.kind == "f" \
            and result.dtype.kind in "iu":
        info = np.iinfo(result.dtype)
        truncated = np.trunc(source.data.astype(np.float64))
        if not np.all(np.isfinite(truncated) & (truncated >= info.min) & (truncated <= info.max)):
            unsupported(node, f"a value does not fit {result.dtype} (undefined in C++)")
    return _Cast(result.dtype, shape)


KERNELS: Registry = {
    BuiltinOperator.QUANTIZE: Kernel(_prepare_quantize, run_unary),
    BuiltinOperator.DEQUANTIZE: Kernel(_prepare_dequantize, run_unary),
    BuiltinOperator.CAST: Kernel(_prepare_cast, run_unary),
}

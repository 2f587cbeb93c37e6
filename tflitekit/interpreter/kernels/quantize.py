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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...ir import dtypes
from ...options import BuiltinOperator, TensorType
from ..fixedpoint import INT32_MIN, multiply_by_quantized_multiplier, quantize_multiplier
from ..kernel import Kernel, Registry, unsupported
from ..node import Array, Node, Operand, Rounding

__all__ = ["KERNELS", "multiply_int32", "quantize_float", "requantize", "reshaped",
           "unary", "wrap_int32"]

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


def unary(node: Node) -> tuple[Operand, Operand, tuple[int, ...]]:
    """The input and output of an element-wise operator with one of each, and the shape of
    one output sample: the output's own, or the input's when the output has no shape (as in
    a model being folded)."""
    if len(node.outputs) != 1:
        unsupported(node, f"{len(node.outputs)} outputs, expected 1")
    source, result = node.input(0), node.outputs[0]
    if result.dtype is None:
        unsupported(node, f"output {result.name!r} has type {result.type_name}")
    if not result.shape and source.shape:
        return source, result, source.shape
    if math.prod(source.shape) != math.prod(result.shape):
        unsupported(node, f"input shape {list(source.shape)} and output shape "
                          f"{list(result.shape)} hold different numbers of elements")
    return source, result, result.shape


def wrap_int32(x: Array) -> Array:
    """int64 values wrapped to int32 (two's complement), kept as int64."""
    return (x + 2**31) % 2**32 - 2**31


def reshaped(x: Array, shape: tuple[int, ...]) -> Array:
    """A batched result with the output's sample shape."""
    return x.reshape((x.shape[0], *shape))


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
    scale: Array  # float32, broadcastable over the batched input
    zero: Array  # int64, likewise
    dtype: np.dtype[Any]
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _Requantize:
    multiplier: int
    shift: int
    zero_in: int
    zero_out: int
    dtype: np.dtype[Any]
    rounding: Rounding
    shape: tuple[int, ...]


def quantize_float(x: Array, scale: Array, zero: Array, dtype: np.dtype[Any]) -> Array:
    """AffineQuantize of float32 ``x`` (module docstring), vectorised; ``scale`` (float32) and
    ``zero`` broadcast against ``x``."""
    with np.errstate(all="ignore"):
        quotient = (x.astype(np.float32) / scale).astype(np.float64)
        rounded = np.copysign(np.floor(np.abs(quotient) + 0.5), quotient)  # exact in float64
    fits = np.abs(rounded) < 2.0**31  # False for NaN
    as_int = np.where(fits, np.where(fits, rounded, 0).astype(np.int64), INT32_MIN)
    info = np.iinfo(dtype)
    return np.clip(wrap_int32(as_int + zero), info.min, info.max).astype(dtype)


def multiply_int32(x: Array, multiplier: int, shift: int, rounding: Rounding) -> Array:
    """MultiplyByQuantizedMultiplier of int32 ``x`` as C++ computes it: with ``double``
    rounding, ``x * 2^shift`` wraps in int32 before the high multiply; with ``single``, the
    64-bit result is truncated to int32."""
    if rounding == "double":
        left = max(shift, 0)
        return multiply_by_quantized_multiplier(wrap_int32(x << left), multiplier, shift - left)
    return wrap_int32(multiply_by_quantized_multiplier(x, multiplier, shift, rounding))


def requantize(x: Array, multiplier: int, shift: int, zero_in: int, zero_out: int,
               dtype: np.dtype[Any], rounding: Rounding) -> Array:
    """TFLite's Requantize of integer ``x`` with int32 arithmetic, wrapping where C++ wraps."""
    centered = wrap_int32(x.astype(np.int64) - zero_in)
    scaled = multiply_int32(centered, multiplier, shift, rounding)
    info = np.iinfo(dtype)
    return np.clip(wrap_int32(scaled + zero_out), info.min, info.max).astype(dtype)


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
            if not np.all(np.floor(quotient.astype(np.float64) + 0.5) < 2.0**31):
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


def _run_quantize(params: _Affine | _Requantize, arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    assert x is not None
    if isinstance(params, _Affine):
        y = quantize_float(x, params.scale, params.zero, params.dtype)
    else:
        y = requantize(x, params.multiplier, params.shift, params.zero_in, params.zero_out,
                       params.dtype, params.rounding)
    return [reshaped(y, params.shape)]


# --------------------------------------------------------------------------------------------
# DEQUANTIZE
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dequantize:
    scale: Array | None  # float32, broadcastable; None to widen float16
    zero: Array | None
    shape: tuple[int, ...]


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


def _run_dequantize(params: _Dequantize, arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    assert x is not None
    if params.scale is None or params.zero is None:
        return [reshaped(x.astype(np.float32), params.shape)]
    centered = (x.astype(np.int64) - params.zero).astype(np.float32)  # exact: |q - zp| < 2^24
    return [reshaped(params.scale * centered, params.shape)]


# --------------------------------------------------------------------------------------------
# CAST
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cast:
    dtype: np.dtype[Any]
    shape: tuple[int, ...]


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


def _run_cast(params: _Cast, arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    assert x is not None
    dtype = params.dtype
    if x.dtype.kind == "f" and dtype.kind in "iu":
        info = np.iinfo(dtype)
        wide = np.nan_to_num(np.trunc(x.astype(np.float64)), nan=0.0)
        upper = min(float(info.max), 2.0**63 - 1024)  # the largest float64 below int64's max
        y = np.clip(wide, info.min, upper).astype(dtype)
        y[wide > upper] = info.max
    else:
        with np.errstate(over="ignore"):
            y = x.astype(dtype)
    return [reshaped(y, params.shape)]


KERNELS: Registry = {
    BuiltinOperator.QUANTIZE: Kernel(_prepare_quantize, _run_quantize),
    BuiltinOperator.DEQUANTIZE: Kernel(_prepare_dequantize, _run_dequantize),
    BuiltinOperator.CAST: Kernel(_prepare_cast, _run_cast),
}

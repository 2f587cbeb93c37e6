"""MEAN, SUM, ARG_MAX and ARG_MIN, as TFLite Micro's reference kernels compute them.

Axes come from a constant input and name the model's dimensions (negative ones count from the
end, repeats are dropped); the kernels shift them past the run's batch axis, so reducing over
the model's dimension 0 reduces within each sample.

- MEAN / SUM, integer (``QuantizedMeanOrSum``): the raw values are summed in int32, the input
  zero point times the element count ``n`` is subtracted, and the result is requantized with the
  multiplier of ``s_in / s_out``; for MEAN the multiplier is first divided by ``n`` in fixed
  point (``(M << k) / n`` with ``k = min(floor(log2 n), 32, 31 + shift)``, the shift lowered by
  ``k``). Then the output zero point is added and the type's range clamps.
- MEAN / SUM, float32: a float32 sum in the input's element order, divided by ``float(n)``.
- ARG_MAX / ARG_MIN: the first index of the extreme value along one axis. Floats compare as
  TFLite Micro does (``a > b``): a NaN is never taken after the first element and is kept when
  it is the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...options import ArgMaxOptions, ArgMinOptions, BuiltinOperator, ReducerOptions, TensorType
from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from ..kernel import Kernel, Registry, expect_types, options, unsupported
from ..node import Array, Node, Rounding

__all__ = ["KERNELS"]


def _axes(node: Node, rank: int) -> tuple[int, ...]:
    """The constant axes input resolved as TFLite's ResolveAxis: wrapped, deduplicated."""
    axis = node.input(1)
    expect_types(node, axis, TensorType.INT32, TensorType.INT64)
    if axis.data is None:
        unsupported(node, f"axis {axis.name!r} is not a constant")
    resolved: list[int] = []
    for a in np.ravel(axis.data).tolist():
        if not -rank <= a < rank:
            unsupported(node, f"axis {a} out of range for rank {rank}")
        if a % rank not in resolved:
            resolved.append(a % rank)
    return tuple(resolved)


@dataclass(frozen=True)
class _Reduce:
    mean: bool
    axes: tuple[int, ...]  # sorted, in the batched array's numbering
    count: int
    out_shape: tuple[int, ...]
    dtype: np.dtype[Any]
    multiplier: int = 0
    shift: int = 0
    zero_in: int = 0
    zero_out: int = 0
    rounding: Rounding = "double"


def _prepare_reduce(node: Node, mean: bool) -> _Reduce:
    x, y = node.input(0), node.outputs[0]
    expect_types(node, x, TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
    if y.type != x.type:
        unsupported(node, f"output is {y.type_name}, input {x.type_name}")
    expect_types(node, node.input(1), TensorType.INT32)
    keep = options(node, ReducerOptions).keep_dims
    if 0 in x.shape:
        unsupported(node, "empty input")
    axes = _axes(node, len(x.shape))
    expected = tuple(1 if a in axes else d for a, d in enumerate(x.shape) if keep or a not in axes)
    if tuple(y.shape) != expected:
        unsupported(node, f"output shape {list(y.shape)}, expected {list(expected)}")
    count = math.prod(x.shape[a] for a in axes)
    assert x.dtype is not None
    reduced = tuple(sorted(a + 1 for a in axes))
    if x.type == TensorType.FLOAT32:
        return _Reduce(mean, reduced, count, y.shape, x.dtype)
    if not x.quantized or not y.quantized:
        unsupported(node, "integer MEAN/SUM needs quantized input and output")
    if not y.scale_value > 0:
        unsupported(node, f"output scale {y.scale_value}")
    multiplier, shift = quantize_multiplier(x.scale_value / y.scale_value, node.rounding)
    if mean:
        k = min(count.bit_length() - 1, 32, 31 + shift)
        multiplier = (multiplier << k) // count
        shift -= k
    return _Reduce(mean, reduced, count, y.shape, x.dtype, multiplier, shift, x.zero_value,
                   y.zero_value, node.rounding)


def _wrap32(x: Array) -> Array:
    """int64 values wrapped to int32, as C's conversions wrap them."""
    return x.astype(np.int32).astype(np.int64)


def _run_reduce(params: _Reduce, arrays: Any) -> list[Array]:
    x = arrays[0]
    n = x.shape[0]
    if params.dtype == np.float32:
        # Sum one reduced element after another, in the input's order, as TFLite does.
        kept = [a for a in range(x.ndim) if a not in params.axes]
        ordered = x.transpose((*params.axes, *kept)).reshape((-1, *(x.shape[a] for a in kept)))
        total = np.cumsum(ordered, axis=0, dtype=np.float32)[-1]
        out = total / np.float32(params.count) if params.mean else total
        return [out.reshape((n, *params.out_shape))]
    total = _wrap32(x.sum(axis=params.axes, dtype=np.int64))
    shifted = _wrap32(total - params.zero_in * params.count)
    out = multiply_by_quantized_multiplier(shifted, params.multiplier, params.shift,
                                           params.rounding) + params.zero_out
    info = np.iinfo(params.dtype)
    out = np.clip(out, info.min, info.max).astype(params.dtype)
    return [out.reshape((n, *params.out_shape))]


@dataclass(frozen=True)
class _Arg:
    largest: bool
    axis: int  # in the batched array's numbering
    floating: bool
    out_dtype: np.dtype[Any]
    out_shape: tuple[int, ...]


def _prepare_arg(node: Node, largest: bool) -> _Arg:
    x, y = node.input(0), node.outputs[0]
    expect_types(node, x, TensorType.FLOAT32, TensorType.INT8, TensorType.UINT8,
                 TensorType.INT32)
    expect_types(node, y, TensorType.INT32, TensorType.INT64)
    options(node, ArgMaxOptions if largest else ArgMinOptions)  # output_type: y's type rules
    if not x.shape:
        unsupported(node, "scalar input")
    axes = _axes(node, len(x.shape))
    if len(axes) != 1:
        unsupported(node, f"{len(axes)} axes, expected exactly one")
    expected = x.shape[:axes[0]] + x.shape[axes[0] + 1:]
    if tuple(y.shape) != expected:
        unsupported(node, f"output shape {list(y.shape)}, expected {list(expected)}")
    assert y.dtype is not None
    return _Arg(largest, axes[0] + 1, x.type == TensorType.FLOAT32, y.dtype, y.shape)


def _run_arg(params: _Arg, arrays: Any) -> list[Array]:
    x = arrays[0]
    n = x.shape[0]
    if params.floating:
        # A NaN after the first element never wins a comparison: make it lose every one.
        later = np.isnan(x)
        later[(slice(None),) * params.axis + (0,)] = False
        if later.any():
            x = np.where(later, np.float32(-np.inf if params.largest else np.inf), x)
    index = np.argmax(x, axis=params.axis) if params.largest else np.argmin(x, axis=params.axis)
    return [index.astype(params.out_dtype).reshape((n, *params.out_shape))]


KERNELS: Registry = {
    BuiltinOperator.MEAN: Kernel(lambda node: _prepare_reduce(node, True), _run_reduce),
    BuiltinOperator.SUM: Kernel(lambda node: _prepare_reduce(node, False), _run_reduce),
    BuiltinOperator.ARG_MAX: Kernel(lambda node: _prepare_arg(node, True), _run_arg),
    BuiltinOperator.ARG_MIN: Kernel(lambda node: _prepare_arg(node, False), _run_arg),
}

"""Evaluate operators on constant inputs with numpy, bit-exactly as TFLite Micro does.

Each evaluator is a pure function ``(op, values) -> outputs``: ``values`` holds one array per
operator input (None for an absent optional input, and for the inputs of :data:`SHAPE_ONLY`
operators, which read only their inputs' static shapes); the result holds one array per
operator output, of that output's dtype. The operator itself is read only for its options and
its tensors' types, shapes and quantization. An evaluator raises :class:`NotEvaluable` for
options, types or values it does not handle (or that make the runtimes fail or disagree).
Where TFLite Micro lacks a feature (STRIDED_SLICE ellipsis/new-axis masks and ``offset``,
per-channel or float16 DEQUANTIZE), the evaluator follows LiteRT's reference kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..errors import TFLiteKitError
from ..ir import Operator, Tensor, dtypes
from ..ir.opfacts import FACTS
from ..options import (
    ActivationFunctionType,
    AddOptions,
    BuiltinOperator,
    ConcatenationOptions,
    GatherOptions,
    MulOptions,
    PackOptions,
    ReshapeOptions,
    SqueezeOptions,
    StridedSliceOptions,
    SubOptions,
    Table,
    UnpackOptions,
)

__all__ = ["EVALUATORS", "SHAPE_ONLY", "Array", "Evaluator", "NotEvaluable", "evaluate"]

Array = npt.NDArray[Any]
Evaluator = Callable[[Operator, Sequence["Array | None"]], list[Array]]
T = TypeVar("T", bound=Table)

SHAPE_ONLY = frozenset(code for code, known in FACTS.items() if known.shape_only)
"""Operators that read only the static shapes of their inputs, never their values."""


class NotEvaluable(TFLiteKitError):
    """An operator cannot be evaluated here: the message says why."""


def evaluate(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    """The outputs of ``op`` for input ``values`` (see the module docstring)."""
    evaluator = EVALUATORS.get(op.type)
    if evaluator is None:
        raise NotEvaluable(f"no evaluator for {op.opcode.name}")
    return evaluator(op, values)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _options(op: Operator, kind: type[T]) -> T:
    """The operator's options, or the defaults when the file has none."""
    if op.options is None:
        return kind()
    if not isinstance(op.options, kind):
        raise NotEvaluable(f"options of type {type(op.options).__name__}, expected "
                           f"{kind.__name__}")
    return op.options


def _input(values: Sequence[Array | None], index: int) -> Array:
    if index >= len(values) or values[index] is None:
        raise NotEvaluable(f"input {index} is missing")
    return values[index]  # type: ignore[return-value]


def _output_dtype(op: Operator, index: int = 0) -> np.dtype[Any]:
    dtype = op.outputs[index].numpy_dtype
    if dtype is None:
        raise NotEvaluable(f"output {index} has type {dtypes.name(op.outputs[index].dtype)}")
    return dtype


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    """``axis`` in [-rank, rank) made non-negative."""
    if not -rank <= axis < rank:
        raise NotEvaluable(f"{what} {axis} is outside [{-rank}, {rank})")
    return axis % rank


def _ints(array: Array, what: str) -> list[int]:
    """The entries of an integer index tensor (a scalar counts as one entry)."""
    if array.dtype.kind not in "iu":
        raise NotEvaluable(f"{what} has type {array.dtype}, expected integers")
    return [int(v) for v in array.reshape(-1)]


def _scale_and_zero_point(tensor: Tensor) -> tuple[Array, Array] | None:
    q = tensor.quantization
    if q is None or q.scale is None or not q.is_quantized:
        return None
    zero = q.zero_point if q.zero_point is not None and q.zero_point.size else np.zeros(
        q.scale.shape, np.int64)
    return q.scale, zero


def _same_quantization(a: Tensor, b: Tensor) -> bool:
    qa, qb = _scale_and_zero_point(a), _scale_and_zero_point(b)
    if qa is None or qb is None:
        return qa is qb
    return all(bool(np.array_equal(x, y)) for x, y in zip(qa, qb, strict=True))


def _not_quantized(op: Operator) -> None:
    for tensor in (*op.inputs, *op.outputs):
        if tensor is not None and _scale_and_zero_point(tensor) is not None:
            raise NotEvaluable(f"{tensor.name!r} is quantized")


# --------------------------------------------------------------------------------------------
# Shapes and data movement
# --------------------------------------------------------------------------------------------


def _shape(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    """SHAPE: the input's static shape (which fixes dynamic dimensions to it)."""
    shape = op.inputs[0].shape if op.inputs and op.inputs[0] is not None else None
    if shape is None:
        raise NotEvaluable("the input has no static shape")
    dtype = _output_dtype(op)
    if dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise NotEvaluable(f"output type {dtype} (SHAPE gives int32 or int64)")
    return [np.array(shape, dtype)]


def _reshape(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    """RESHAPE to the shape input (an int32 vector), else to the ``new_shape`` option; one
    dimension may be -1."""
    data = _input(values, 0)
    shape_input = values[1] if len(values) > 1 else None
    if shape_input is not None and shape_input.ndim == 1 and shape_input.dtype == np.int32:
        wanted = _ints(shape_input, "shape")
    else:
        new_shape = _options(op, ReshapeOptions).new_shape
        if new_shape is None:
            raise NotEvaluable("neither a shape input nor a new_shape option")
        wanted = [] if list(new_shape) == [0] else [int(d) for d in new_shape]  # legacy scalar
    return [data.reshape(_resolve_shape(wanted, data.size))]


def _resolve_shape(wanted: list[int], size: int) -> tuple[int, ...]:
    stretch = [i for i, d in enumerate(wanted) if d == -1]
    known = int(np.prod([d for d in wanted if d != -1], dtype=np.int64))
    if len(stretch) > 1 or any(d < -1 for d in wanted) or (stretch and not known):
        raise NotEvaluable(f"invalid shape {wanted}")
    if stretch:
        wanted[stretch[0]] = size // known
    if int(np.prod(wanted, dtype=np.int64)) != size:
        raise NotEvaluable(f"shape {wanted} does not hold {size} elements")
    return tuple(wanted)


def _squeeze(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    data = _input(values, 0)
    dims = _options(op, SqueezeOptions).squeeze_dims
    if not dims:
        return [data.reshape([d for d in data.shape if d != 1])]
    axes = {_axis(int(d), data.ndim, "squeeze dimension") for d in dims}
    if any(data.shape[a] != 1 for a in axes):
        raise NotEvaluable(f"squeeze dimensions {list(dims)} of shape {data.shape} are not 1")
    return [data.reshape([d for a, d in enumerate(data.shape) if a not in axes])]


def _expand_dims(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    data = _input(values, 0)
    axis = _ints(_input(values, 1), "axis")
    if len(axis) != 1:
        raise NotEvaluable(f"axis {axis} is not a single value")
    return [np.expand_dims(data, _axis(axis[0], data.ndim + 1))]


def _transpose(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    data = _input(values, 0)
    perm = _ints(_input(values, 1), "perm")
    if sorted(perm) != list(range(data.ndim)):
        raise NotEvaluable(f"perm {perm} is not a permutation of {data.ndim} dimensions")
    return [np.transpose(data, perm)]


def _pack(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    options = _options(op, PackOptions)
    arrays = [_input(values, i) for i in range(len(values))]
    if options.values_count != len(arrays) or len({a.shape for a in arrays}) != 1:
        raise NotEvaluable(f"values_count {options.values_count} for {len(arrays)} inputs of "
                           f"shapes {[a.shape for a in arrays]}")
    return [np.stack(arrays, _axis(options.axis, arrays[0].ndim + 1))]


def _unpack(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    options = _options(op, UnpackOptions)
    data = _input(values, 0)
    axis = _axis(options.axis, data.ndim)
    if options.num != data.shape[axis] or len(op.outputs) != options.num:
        raise NotEvaluable(f"num {options.num} for dimension {axis} of shape {data.shape} and "
                           f"{len(op.outputs)} outputs")
    return [np.take(data, i, axis) for i in range(options.num)]


def _concatenation(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    options = _options(op, ConcatenationOptions)
    if options.fused_activation_function != ActivationFunctionType.NONE:
        raise NotEvaluable(f"fused activation {options.fused_activation_function.name}")
    if any(t is None or not _same_quantization(t, op.outputs[0]) for t in op.inputs):
        raise NotEvaluable("input and output quantization differ (the runtime requantizes)")
    arrays = [_input(values, i) for i in range(len(values))]
    axis = _axis(options.axis, arrays[0].ndim)
    if any(a.ndim != arrays[0].ndim or a.shape[:axis] + a.shape[axis + 1:] !=
           arrays[0].shape[:axis] + arrays[0].shape[axis + 1:] for a in arrays):
        raise NotEvaluable(f"shapes {[a.shape for a in arrays]} do not concatenate on {axis}")
    return [np.concatenate(arrays, axis)]


def _gather(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    options = _options(op, GatherOptions)
    params, indices = _input(values, 0), _input(values, 1)
    _ints(indices, "indices")
    batch = options.batch_dims + indices.ndim if options.batch_dims < 0 else options.batch_dims
    axis = _axis(options.axis, params.ndim)
    if not 0 <= batch <= min(axis, indices.ndim) or params.shape[:batch] != indices.shape[:batch]:
        raise NotEvaluable(f"batch_dims {options.batch_dims} for params {params.shape} and "
                           f"indices {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= params.shape[axis]):
        raise NotEvaluable(f"an index is outside [0, {params.shape[axis]})")
    outer = int(np.prod(params.shape[batch:axis], dtype=np.int64))
    inner = int(np.prod(params.shape[axis + 1:], dtype=np.int64))
    b = int(np.prod(params.shape[:batch], dtype=np.int64))
    flat_params = params.reshape(b, outer, params.shape[axis], inner)
    flat_indices = indices.reshape(b, -1).astype(np.int64)
    gathered = flat_params[np.arange(b)[:, None], :, flat_indices]  # (b, indices, outer, inner)
    shape = params.shape[:axis] + indices.shape[batch:] + params.shape[axis + 1:]
    return [gathered.transpose(0, 2, 1, 3).reshape(shape)]


def _slice(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    data = _input(values, 0)
    begin, size = _ints(_input(values, 1), "begin"), _ints(_input(values, 2), "size")
    if len(begin) != data.ndim or len(size) != data.ndim:
        raise NotEvaluable(f"begin {begin} and size {size} for shape {data.shape}")
    index = []
    for dim, start, count in zip(data.shape, begin, size, strict=True):
        stop = dim if count == -1 else start + count
        if not 0 <= start <= stop <= dim or count < -1:
            raise NotEvaluable(f"begin {begin} and size {size} leave shape {data.shape}")
        index.append(slice(start, stop))
    return [data[tuple(index)]]


# --------------------------------------------------------------------------------------------
# STRIDED_SLICE (LiteRT semantics for the masks TFLite Micro ignores)
# --------------------------------------------------------------------------------------------

_WHOLE = -1  # a dimension taken whole: covered by the ellipsis or past the end of the spec
_NEW_AXIS = -2  # a new dimension of size 1


def _strided_slice(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    options = _options(op, StridedSliceOptions)
    data = _input(values, 0)
    begin, end, strides = (_ints(_input(values, i), name)
                           for i, name in ((1, "begin"), (2, "end"), (3, "strides")))
    if not len(begin) == len(end) == len(strides):
        raise NotEvaluable(f"begin {begin}, end {end} and strides {strides} differ in length")
    if 0 in strides:
        raise NotEvaluable("a stride is 0")
    if options.offset:
        _check_offset_slice(options, data.shape, begin, end, strides)
    entries = _slice_entries(options, len(begin), data.ndim)
    sizes = iter(data.shape)
    picked = data.reshape([1 if e == _NEW_AXIS else next(sizes) for e in entries])
    shape: list[int] = []
    for axis, entry in enumerate(entries):
        kept = (range(picked.shape[axis]) if entry in (_WHOLE, _NEW_AXIS) else
                _axis_range(options, picked.shape[axis], begin, end, strides, entry))
        picked = np.take(picked, np.asarray(kept, np.int64), axis)
        if entry < 0 or not options.shrink_axis_mask >> entry & 1:
            shape.append(len(kept))
    return [picked.reshape(shape)]


def _check_offset_slice(options: StridedSliceOptions, shape: tuple[int, ...], begin: list[int],
                        end: list[int], strides: list[int]) -> None:
    """With ``offset``, ``end`` is a size counted from ``begin``. LiteRT computes such slices
    right only when they lie inside the input (its output shape is not clamped), cover every
    dimension, go forward and use no mask; TFLite Micro ignores ``offset``."""
    masks = (options.begin_mask, options.end_mask, options.ellipsis_mask, options.new_axis_mask,
             options.shrink_axis_mask)
    inside = len(begin) == len(shape) and all(
        min(b, e) >= 0 and b + e <= d and s > 0
        for b, e, s, d in zip(begin, end, strides, shape, strict=True))
    if any(masks) or not inside:
        raise NotEvaluable("offset is evaluated only for forward slices inside the input "
                           "without masks")


def _slice_entries(options: StridedSliceOptions, count: int, rank: int) -> list[int]:
    """Per dimension of the input with its new axes inserted: the index of the slice spec
    entry that applies to it, ``_WHOLE`` or ``_NEW_AXIS`` (LiteRT's reading of the masks: a
    new axis bit where the ellipsis bit is set has no effect)."""
    ellipsis = [i for i in range(count) if options.ellipsis_mask >> i & 1]
    new_axes = {i for i in range(count) if options.new_axis_mask >> i & 1} - set(ellipsis)
    if len(ellipsis) > 1:
        raise NotEvaluable(f"ellipsis_mask {options.ellipsis_mask} has several bits")
    if (options.ellipsis_mask | options.new_axis_mask) >> count:  # LiteRT reads them anyway
        raise NotEvaluable(f"ellipsis_mask or new_axis_mask has bits past the {count} slice "
                           "entries")
    uncovered = rank - (count - len(ellipsis) - len(new_axes))
    if uncovered < 0 or (ellipsis and uncovered == 0):
        raise NotEvaluable(f"{count} slice entries with ellipsis_mask {options.ellipsis_mask} "
                           f"and new_axis_mask {options.new_axis_mask} for rank {rank}")
    entries: list[int] = []
    for i in range(count):
        if i in ellipsis:
            entries += [_WHOLE] * uncovered
        else:
            entries.append(_NEW_AXIS if i in new_axes else i)
    return entries + ([] if ellipsis else [_WHOLE] * uncovered)


def _axis_range(options: StridedSliceOptions, size: int, begin: list[int], end: list[int],
                strides: list[int], entry: int) -> range:
    """The input indices one dimension keeps (TFLite's StridedSliceStart/EndForAxis)."""
    stride = strides[entry]
    start = begin[entry] + size if begin[entry] < 0 else begin[entry]
    start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
    if options.begin_mask >> entry & 1:
        start = 0 if stride > 0 else size - 1
    if options.shrink_axis_mask >> entry & 1:
        if not 0 <= start < size:
            raise NotEvaluable(f"shrunk index {begin[entry]} is outside a dimension of {size}")
        if stride < 0:  # the runtimes' loops then write nothing
            raise NotEvaluable("a shrunk dimension has a negative stride")
        return range(start, start + 1)
    stop = end[entry] + (start if options.offset else 0)
    stop = stop + size if stop < 0 else stop
    stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
    if options.end_mask >> entry & 1:
        stop = size if stride > 0 else -1
    return range(start, stop, stride)


# --------------------------------------------------------------------------------------------
# Element-wise
# --------------------------------------------------------------------------------------------


def _cast(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    """CAST with C++ ``static_cast`` semantics; float values whose truncation does not fit the
    integer type (undefined behaviour in C++) are not evaluated."""
    data = _input(values, 0)
    dtype = _output_dtype(op)
    if "c" in (data.dtype.kind, dtype.kind):
        raise NotEvaluable("complex types")
    if data.dtype.kind == "f" and dtype.kind in "iu":
        info = np.iinfo(dtype)
        truncated = np.trunc(data.astype(np.float64))
        if not np.all(np.isfinite(truncated) & (truncated >= info.min) & (truncated <= info.max)):
            raise NotEvaluable(f"a value does not fit {dtype}")
    with np.errstate(over="ignore"):
        return [data.astype(dtype)]


_ARITHMETIC: dict[BuiltinOperator, tuple[type[Table], Callable[[Array, Array], Array]]] = {
    BuiltinOperator.ADD: (AddOptions, np.add),
    BuiltinOperator.SUB: (SubOptions, np.subtract),
    BuiltinOperator.MUL: (MulOptions, np.multiply),
}

_ACTIVATION_RANGES: dict[ActivationFunctionType, tuple[int | None, int | None]] = {
    ActivationFunctionType.NONE: (None, None),
    ActivationFunctionType.RELU: (0, None),
    ActivationFunctionType.RELU_N1_TO_1: (-1, 1),
    ActivationFunctionType.RELU6: (0, 6),
}


def _int32_arithmetic(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    """ADD, SUB, MUL of non-quantized int32 tensors (broadcasting) and their fused activation
    (none for ADD, where the runtimes disagree); a result outside int32 (undefined behaviour in
    C++) is not evaluated."""
    kind, function = _ARITHMETIC[op.type]
    options: Any = _options(op, kind)
    activation = options.fused_activation_function
    a, b = _input(values, 0), _input(values, 1)
    _not_quantized(op)
    if not a.dtype == b.dtype == _output_dtype(op) == np.dtype(np.int32):
        raise NotEvaluable(f"types {a.dtype}, {b.dtype} (only int32 is evaluated)")
    if activation not in _ACTIVATION_RANGES or (
            op.type == BuiltinOperator.ADD and activation != ActivationFunctionType.NONE):
        raise NotEvaluable(f"fused activation {activation.name} (TFLite Micro ignores it on "
                           "int32 ADD, LiteRT applies it)" if activation in _ACTIVATION_RANGES
                           else f"fused activation {activation.name}")
    try:
        wide = function(a.astype(np.int64), b.astype(np.int64))
    except ValueError as exc:
        raise NotEvaluable(f"shapes {a.shape} and {b.shape} do not broadcast") from exc
    low, high = _ACTIVATION_RANGES[activation]
    if wide.size and (wide.min() < np.iinfo(np.int32).min or wide.max() > np.iinfo(np.int32).max):
        raise NotEvaluable("the result overflows int32")
    return [np.clip(wide, low, high).astype(np.int32)]


# --------------------------------------------------------------------------------------------
# Quantization
# --------------------------------------------------------------------------------------------

_QUANTIZED_TYPES = frozenset({np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.uint8)})


def _round_half_away(x: Array) -> Array:
    """``std::round`` on float32, exactly (no float ``x + 0.5`` rounding error)."""
    magnitude = np.abs(x)
    whole = np.floor(magnitude)
    whole += (magnitude - whole) >= 0.5
    return np.copysign(whole, x)


def _quantize(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    """QUANTIZE of float32 to int8/int16/uint8, per tensor:
    ``clamp(round_half_away(x / float32(scale)) + zero_point)`` in float32."""
    data = _input(values, 0)
    dtype = _output_dtype(op)
    params = _scale_and_zero_point(op.outputs[0])
    if data.dtype != np.float32 or dtype not in _QUANTIZED_TYPES:
        raise NotEvaluable(f"{data.dtype} to {dtype} (only float32 to int8/int16/uint8)")
    if params is None or params[0].size != 1:
        raise NotEvaluable("the output is not quantized per tensor")
    scale, zero = params[0].astype(np.float32)[0], int(params[1][0])
    with np.errstate(all="ignore"):
        rounded = _round_half_away(data / scale)
    if not np.all(np.abs(rounded) < 2.0**31):
        raise NotEvaluable("a value is outside int32 before clamping (undefined in C++)")
    info = np.iinfo(dtype)
    return [np.clip(rounded.astype(np.int64) + zero, info.min, info.max).astype(dtype)]


def _dequantize(op: Operator, values: Sequence[Array | None]) -> list[Array]:
    """DEQUANTIZE to float32: float16 values are widened, int8/int16/uint8 ones become
    ``float32(scale) * float32(q - zero_point)`` per tensor, or per channel for int8/uint8
    (as LiteRT does: TFLite Micro applies the first scale and zero point to every channel)."""
    data, source = _input(values, 0), op.inputs[0]
    if _output_dtype(op) != np.float32:
        raise NotEvaluable(f"output type {_output_dtype(op)} (only float32)")
    if data.dtype == np.float16:
        return [data.astype(np.float32)]
    params = None if source is None else _scale_and_zero_point(source)
    if data.dtype not in _QUANTIZED_TYPES or params is None:
        raise NotEvaluable(f"input of type {data.dtype} without quantization")
    shape = [1] * data.ndim
    if params[0].size > 1:
        if data.dtype == np.int16:  # LiteRT rejects it, TFLite Micro ignores the channels
            raise NotEvaluable("int16 per channel is not evaluated by any runtime")
        shape[_quantized_axis(source, data)] = params[0].size  # type: ignore[arg-type]
    scale, zero = (p.reshape(shape) for p in params)
    centered = (data.astype(np.int64) - zero).astype(np.float32)
    return [(scale.astype(np.float32) * centered).astype(np.float32)]


def _quantized_axis(tensor: Tensor, data: Array) -> int:
    quantization = tensor.quantization
    assert quantization is not None and quantization.scale is not None
    axis = quantization.quantized_dimension
    if not 0 <= axis < data.ndim or data.shape[axis] != quantization.scale.size:
        raise NotEvaluable(f"per-channel quantization on dimension {axis} of shape "
                           f"{data.shape}")
    return axis


EVALUATORS: dict[BuiltinOperator, Evaluator] = {
    BuiltinOperator.SHAPE: _shape,
    BuiltinOperator.STRIDED_SLICE: _strided_slice,
    BuiltinOperator.PACK: _pack,
    BuiltinOperator.UNPACK: _unpack,
    BuiltinOperator.RESHAPE: _reshape,
    BuiltinOperator.SQUEEZE: _squeeze,
    BuiltinOperator.EXPAND_DIMS: _expand_dims,
    BuiltinOperator.TRANSPOSE: _transpose,
    BuiltinOperator.CONCATENATION: _concatenation,
    BuiltinOperator.CAST: _cast,
    BuiltinOperator.GATHER: _gather,
    BuiltinOperator.SLICE: _slice,
    BuiltinOperator.ADD: _int32_arithmetic,
    BuiltinOperator.SUB: _int32_arithmetic,
    BuiltinOperator.MUL: _int32_arithmetic,
    BuiltinOperator.QUANTIZE: _quantize,
    BuiltinOperator.DEQUANTIZE: _dequantize,
}
"""The evaluator of each supported builtin operator."""

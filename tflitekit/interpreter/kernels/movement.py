"""TRANSPOSE, PAD, PADV2, CONCATENATION, SPLIT, SPLIT_V: operators that move values around.

Permutations, paddings and axes are those of one sample; the kernels shift them past the batch
axis (which is never padded, permuted or split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...options import (
    ActivationFunctionType,
    BuiltinOperator,
    ConcatenationOptions,
    SplitOptions,
    TensorType,
)
from ..kernel import Kernel, Registry, expect_types, options, unsupported
from ..node import Array, Node, Operand
from ._layout import (
    INDEX_TYPES,
    axis,
    constant_ints,
    data_types,
    elements,
    same_batch,
    same_type,
)

__all__ = ["KERNELS"]


def _prepare_transpose(node: Node) -> tuple[int, ...]:
    """The permutation of the batched axes."""
    data = node.input(0)
    same_type(node, data)
    perm = constant_ints(node, 1, "perm")
    if sorted(perm) != list(range(len(data.shape))):
        unsupported(node, f"perm {perm} is not a permutation of {len(data.shape)} dimensions")
    return (0, *(p + 1 for p in perm))


def _run_transpose(perm: tuple[int, ...], arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    assert x is not None
    return [np.ascontiguousarray(np.transpose(x, perm))]


# -- PAD, PADV2 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pad:
    before: tuple[int, ...]
    shape: tuple[int, ...]
    """The output shape of one sample."""
    value: Array | None
    """The pad value as a (1,) array, or None to read it from input 2 at run time."""


def _prepare_pad(node: Node) -> _Pad:
    """PAD pads with 0, or with the output's zero point when it is int8 or uint8; PADV2 pads
    with its third input (of the input's type and quantization), when there is one."""
    data, out = node.input(0), node.outputs[0]
    fill = node.inputs[2] if len(node.inputs) > 2 else None
    same_type(node, data, fill)
    expect_types(node, node.input(1), *INDEX_TYPES)
    rank = len(data.shape)
    paddings = constant_ints(node, 1, "paddings")
    if len(paddings) != 2 * rank or min(paddings, default=0) < 0:
        unsupported(node, f"paddings {paddings} for shape {list(data.shape)} (expected "
                          f"{rank} pairs of non-negative sizes)")
    before, after = paddings[0::2], paddings[1::2]
    shape = tuple(b + d + a for b, d, a in zip(before, data.shape, after, strict=True))
    assert data.dtype is not None
    if fill is not None:
        if elements(fill.shape) != 1:
            unsupported(node, f"constant values of shape {list(fill.shape)} (expected one)")
        if data.type in (TensorType.INT8, TensorType.UINT8) and _params(fill) != _params(out):
            unsupported(node, "the constant values and the output are quantized differently")
        value = None if fill.data is None else fill.data.reshape(1)
    elif data.type in (TensorType.INT8, TensorType.UINT8):
        zero = out.zero_value
        info = np.iinfo(data.dtype)
        if not info.min <= zero <= info.max:
            unsupported(node, f"output zero point {zero} is outside {data.type_name}")
        value = np.array([zero], data.dtype)
    else:
        value = np.zeros(1, data.dtype)
    return _Pad(tuple(before), shape, value)


def _params(operand: Operand) -> tuple[float, int]:
    """Scale and zero point as TFLite Micro compares them (0 when not quantized)."""
    return (operand.scale_value if operand.quantized else 0.0), operand.zero_value


def _run_pad(pad: _Pad, arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    value = pad.value if pad.value is not None else arrays[2]
    assert x is not None and value is not None
    n = max(x.shape[0], value.shape[0])
    out = np.empty((n, *pad.shape), x.dtype)
    out[...] = value.reshape(-1, *[1] * len(pad.shape))
    inside = (slice(None), *(slice(b, b + d) for b, d in zip(pad.before, x.shape[1:],
                                                             strict=True)))
    out[inside] = x
    return [out]


# -- CONCATENATION -----------------------------------------------------------------------------


def _prepare_concatenation(node: Node) -> int:
    """The batched axis to join on. Inputs must share the output's quantization (no
    requantization) and there is no fused activation, as in TFLite Micro."""
    settings = options(node, ConcatenationOptions)
    if settings.fused_activation_function != ActivationFunctionType.NONE:
        unsupported(node, f"fused activation {settings.fused_activation_function.name}")
    values = [node.input(i) for i in range(len(node.inputs))]
    if not values:
        unsupported(node, "no input")
    same_type(node, values[0], *values[1:])
    out = node.outputs[0]
    if any(_quantization(v) != _quantization(out) for v in values):
        unsupported(node, "input and output quantization differ (the runtime requantizes)")
    if out.type == TensorType.INT16 and out.zero_value != 0:
        unsupported(node, f"int16 zero point {out.zero_value} (TFLite Micro needs 0)")
    shape = values[0].shape
    at = axis(node, settings.axis, len(shape))
    if any(len(v.shape) != len(shape) or v.shape[:at] + v.shape[at + 1:] !=
           shape[:at] + shape[at + 1:] for v in values):
        unsupported(node, f"shapes {[list(v.shape) for v in values]} do not concatenate on "
                          f"{at}")
    return at + 1


def _quantization(operand: Operand) -> tuple[list[float], list[int]] | None:
    if operand.scale is None:
        return None
    return operand.scale.tolist(), [] if operand.zero_point is None else operand.zero_point.tolist()


def _run_concatenation(at: int, arrays: Sequence[Array | None]) -> list[Array]:
    return [np.concatenate(same_batch([a for a in arrays if a is not None]), at)]


# -- SPLIT, SPLIT_V ----------------------------------------------------------------------------


def _split_axis(node: Node, index: int, data: Operand) -> int:
    expect_types(node, node.input(index), *INDEX_TYPES)
    where = constant_ints(node, index, "axis")
    if len(where) != 1:
        unsupported(node, f"axis {where} is not a single value")
    return axis(node, where[0], len(data.shape))


def _prepare_split(node: Node) -> tuple[int, int, list[int]]:
    """The data input, the batched axis, and where to cut it."""
    data = node.input(1)
    same_type(node, data, allowed=data_types(without=TensorType.BOOL))
    at = _split_axis(node, 0, data)
    count = options(node, SplitOptions).num_splits
    if count != len(node.outputs) or data.shape[at] % count:
        unsupported(node, f"num_splits {count} for dimension {at} of shape "
                          f"{list(data.shape)} and {len(node.outputs)} outputs")
    size = data.shape[at] // count
    return 1, at + 1, [size * i for i in range(1, count)]


def _prepare_split_v(node: Node) -> tuple[int, int, list[int]]:
    data = node.input(0)
    same_type(node, data, allowed=data_types(without=TensorType.BOOL))
    expect_types(node, node.input(1), *INDEX_TYPES)
    at = _split_axis(node, 2, data)
    sizes = constant_ints(node, 1, "size_splits")
    stretch = [i for i, s in enumerate(sizes) if s == -1]
    if len(stretch) == 1:
        sizes[stretch[0]] = data.shape[at] - sum(s for s in sizes if s != -1)
    if (len(sizes) != len(node.outputs) or len(stretch) > 1 or min(sizes, default=0) < 0
            or sum(sizes) != data.shape[at]):
        unsupported(node, f"size_splits {constant_ints(node, 1, 'size_splits')} for dimension "
                          f"{at} of shape {list(data.shape)} and {len(node.outputs)} outputs")
    return 0, at + 1, [int(c) for c in np.cumsum(sizes)[:-1]]


def _run_split(params: tuple[int, int, list[int]], arrays: Sequence[Array | None]
               ) -> list[Array]:
    data, at, cuts = params
    x = arrays[data]
    assert x is not None
    return np.split(x, cuts, at)


KERNELS: Registry = {
    BuiltinOperator.TRANSPOSE: Kernel(_prepare_transpose, _run_transpose),
    BuiltinOperator.PAD: Kernel(_prepare_pad, _run_pad),
    BuiltinOperator.PADV2: Kernel(_prepare_pad, _run_pad),
    BuiltinOperator.CONCATENATION: Kernel(_prepare_concatenation, _run_concatenation),
    BuiltinOperator.SPLIT: Kernel(_prepare_split, _run_split),
    BuiltinOperator.SPLIT_V: Kernel(_prepare_split_v, _run_split),
}
"""Types: float32, int8, int16, int32, int64, uint8, bool (SPLIT and SPLIT_V: not bool)."""

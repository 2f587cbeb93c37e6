"""RESHAPE, SQUEEZE, EXPAND_DIMS, SHAPE, FILL, PACK, UNPACK: operators that give values a new
shape, or read one.

Shapes and axes are those of one sample; the kernels shift them past the batch axis. SHAPE reads
only its input's static shape: its output never carries the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import TFLiteKitError
from ...options import (
    BuiltinOperator,
    PackOptions,
    ReshapeOptions,
    SqueezeOptions,
    TensorType,
    UnpackOptions,
)
from ..kernel import Kernel, Registry, expect_types, options, unsupported
from ..node import Array, Node
from ._layout import INDEX_TYPES, axis, constant_ints, data_types, elements, same_type

__all__ = ["KERNELS"]


# -- RESHAPE, SQUEEZE, EXPAND_DIMS: one sample's values under a new shape ----------------------


def _same_bytes(node: Node) -> None:
    """The data types these operators take: any fixed-size type, the same in and out."""
    data = node.input(0)
    if data.dtype is None:
        unsupported(node, f"{data.name!r} is {data.type_name}")
    same_type(node, data, allowed=(data.type,))


def _prepare_reshape(node: Node) -> tuple[int, ...]:
    """The output shape: the shape input (an int32 vector), else the ``new_shape`` option; one
    dimension may be -1. A shape computed at run time is the output's static shape, as
    TFLite Micro reads it."""
    _same_bytes(node)
    data = node.input(0)
    shape = node.inputs[1] if len(node.inputs) > 1 else None
    if shape is not None and shape.data is None:
        wanted = list(node.outputs[0].shape)
    elif shape is not None and len(shape.shape) == 1 and shape.type == TensorType.INT32:
        wanted = constant_ints(node, 1, "shape")
    else:
        new_shape = options(node, ReshapeOptions).new_shape
        if new_shape is None:
            unsupported(node, "neither a shape input nor a new_shape option")
        wanted = [] if list(new_shape) == [0] else [int(d) for d in new_shape]  # legacy scalar
    return _resolve(node, wanted, elements(data.shape))


def _resolve(node: Node, wanted: list[int], size: int) -> tuple[int, ...]:
    stretch = [i for i, d in enumerate(wanted) if d == -1]
    known = elements([d for d in wanted if d != -1])
    if len(stretch) > 1 or any(d < -1 for d in wanted) or (stretch and not known):
        unsupported(node, f"invalid shape {wanted}")
    if stretch:
        wanted[stretch[0]] = size // known
    if elements(wanted) != size:
        unsupported(node, f"shape {wanted} does not hold {size} elements")
    return tuple(wanted)


def _prepare_squeeze(node: Node) -> tuple[int, ...]:
    _same_bytes(node)
    shape = node.input(0).shape
    dims = options(node, SqueezeOptions).squeeze_dims
    if not dims:
        return tuple(d for d in shape if d != 1)
    axes = {axis(node, int(d), len(shape), "squeeze dimension") for d in dims}
    if any(shape[a] != 1 for a in axes):
        unsupported(node, f"squeeze dimensions {list(dims)} of shape {list(shape)} are not 1")
    return tuple(d for a, d in enumerate(shape) if a not in axes)


def _prepare_expand_dims(node: Node) -> tuple[int, ...]:
    _same_bytes(node)
    shape = node.input(0).shape
    expect_types(node, node.input(1), *INDEX_TYPES)
    where = constant_ints(node, 1, "axis")
    if len(where) != 1:
        unsupported(node, f"axis {where} is not a single value")
    at = axis(node, where[0], len(shape) + 1)
    return (*shape[:at], 1, *shape[at:])


def _run_reshape(shape: tuple[int, ...], arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    assert x is not None
    return [x.reshape(x.shape[0], *shape)]


# -- SHAPE, FILL ---------------------------------------------------------------------------------


def _prepare_shape(node: Node) -> Array:
    """The result itself: the static shape of one sample, unbatched."""
    expect_types(node, node.outputs[0], TensorType.INT32, TensorType.INT64)
    assert node.outputs[0].dtype is not None
    return np.array([node.input(0).shape], node.outputs[0].dtype)


def _run_shape(result: Array, arrays: Sequence[Array | None]) -> list[Array]:
    return [result.copy()]


@dataclass(frozen=True)
class _Fill:
    """The output shape of one sample; whether ``dims`` is computed at run time (and then
    checked against that shape), and how the error names the node."""

    shape: tuple[int, ...]
    computed: bool
    where: str


def _prepare_fill(node: Node) -> _Fill:
    """The output shape of one sample: the constant ``dims`` vector, else (``dims`` computed at
    run time, as converters do for a dynamic batch from SHAPE, STRIDED_SLICE and PACK) the
    output's static shape, which ``run`` checks the values against. TFLite Micro refuses
    computed dims; LiteRT resizes the output to them."""
    dims, value = node.input(0), node.input(1)
    expect_types(node, dims, *INDEX_TYPES)
    same_type(node, value, allowed=data_types(without=TensorType.UINT8))
    if len(dims.shape) != 1 or value.shape != ():
        unsupported(node, f"dims of shape {list(dims.shape)} and value of shape "
                          f"{list(value.shape)} (expected a vector and a scalar)")
    computed = dims.data is None
    shape = list(node.outputs[0].shape) if computed else constant_ints(node, 0, "dims")
    if computed and len(shape) != dims.shape[0]:
        unsupported(node, f"{dims.shape[0]} computed dims for an output of shape {shape}")
    if min(shape, default=0) < 0:
        unsupported(node, f"negative dims {shape}")
    return _Fill(tuple(shape), computed, node.where or node.name)


def _run_fill(fill: _Fill, arrays: Sequence[Array | None]) -> list[Array]:
    dims, value = arrays
    assert dims is not None and value is not None
    if fill.computed:
        wrong = np.flatnonzero((dims != np.asarray(fill.shape)).any(axis=1))
        if wrong.size:
            raise TFLiteKitError(f"{fill.where}: dims {dims[wrong[0]].tolist()} differ from the "
                                 f"output's static shape {list(fill.shape)}")
    n = max(dims.shape[0], value.shape[0])
    shape = fill.shape
    return [np.broadcast_to(value.reshape(value.shape[0], *[1] * len(shape)), (n, *shape)).copy()]


# -- PACK, UNPACK ----------------------------------------------------------------------------------


def _prepare_pack(node: Node) -> int:
    """The axis of the batched output the values are stacked on."""
    settings = options(node, PackOptions)
    count = settings.values_count
    values = [node.input(i) for i in range(len(node.inputs))]
    if not values:
        unsupported(node, "no input")
    same_type(node, values[0], *values[1:], allowed=data_types(without=TensorType.BOOL))
    shapes = [list(v.shape) for v in values]
    if count != len(values) or any(s != shapes[0] for s in shapes):
        unsupported(node, f"values_count {count} for {len(values)} inputs of shapes {shapes}")
    return axis(node, settings.axis, len(shapes[0]) + 1) + 1


def _run_pack(at: int, arrays: Sequence[Array | None]) -> list[Array]:
    values = [a for a in arrays if a is not None]
    n = max(a.shape[0] for a in values)
    return [np.stack([np.broadcast_to(a, (n, *a.shape[1:])) for a in values], at)]


def _prepare_unpack(node: Node) -> tuple[int, int]:
    """The batched axis to split and the number of outputs."""
    settings = options(node, UnpackOptions)
    data = node.input(0)
    same_type(node, data, allowed=data_types(without=TensorType.INT64))
    at = axis(node, settings.axis, len(data.shape))
    if settings.num != data.shape[at] or len(node.outputs) != settings.num:
        unsupported(node, f"num {settings.num} for dimension {at} of shape {list(data.shape)} "
                          f"and {len(node.outputs)} outputs")
    return at + 1, settings.num


def _run_unpack(params: tuple[int, int], arrays: Sequence[Array | None]) -> list[Array]:
    at, count = params
    x = arrays[0]
    assert x is not None
    return [np.take(x, i, at) for i in range(count)]


KERNELS: Registry = {
    BuiltinOperator.RESHAPE: Kernel(_prepare_reshape, _run_reshape),
    BuiltinOperator.SQUEEZE: Kernel(_prepare_squeeze, _run_reshape),
    BuiltinOperator.EXPAND_DIMS: Kernel(_prepare_expand_dims, _run_reshape),
    BuiltinOperator.SHAPE: Kernel(_prepare_shape, _run_shape),
    BuiltinOperator.FILL: Kernel(_prepare_fill, _run_fill),
    BuiltinOperator.PACK: Kernel(_prepare_pack, _run_pack),
    BuiltinOperator.UNPACK: Kernel(_prepare_unpack, _run_unpack),
}
"""Types: float32, int8, int16, int32, int64, uint8, bool, except uint8 for FILL, bool for PACK
and int64 for UNPACK (which neither runtime takes); RESHAPE, SQUEEZE and EXPAND_DIMS take any
fixed-size type."""

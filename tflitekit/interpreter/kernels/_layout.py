"""What the data-movement families (shapes, movement, slicing) share: reading constant index
operands, normalising axes, checking types, and lining up the batch axes of several inputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...options import TensorType
from ..kernel import expect_types, unsupported
from ..node import Array, Node, Operand

__all__ = ["DATA_TYPES", "INDEX_TYPES", "axis", "constant_ints", "data_types", "elements",
           "same_batch", "same_type"]

DATA_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32,
              TensorType.INT64, TensorType.UINT8, TensorType.BOOL)
"""The types the runtimes move between tensors (TFLite Micro a subset, LiteRT all of them)."""

INDEX_TYPES = (TensorType.INT32, TensorType.INT64)


def data_types(without: TensorType) -> tuple[TensorType, ...]:
    """:data:`DATA_TYPES` but one (that neither runtime moves for some operator)."""
    return tuple(t for t in DATA_TYPES if t != without)


def constant_ints(node: Node, index: int, what: str) -> list[int]:
    """The entries of a constant integer operand (a scalar counts as one entry)."""
    found = node.input(index)
    if found.data is None:
        unsupported(node, f"{what} {found.name!r} is not constant")
    if found.data.dtype.kind not in "iu":
        unsupported(node, f"{what} has type {found.data.dtype}, expected integers")
    return [int(v) for v in found.data.reshape(-1)]


def axis(node: Node, value: int, rank: int, what: str = "axis") -> int:
    """``value`` in [-rank, rank) made non-negative."""
    if not -rank <= value < rank:
        unsupported(node, f"{what} {value} is outside [{-rank}, {rank})")
    return value % rank


def same_type(node: Node, data: Operand, *others: Operand | None,
              allowed: Sequence[TensorType] = DATA_TYPES) -> None:
    """``data`` has one of the ``allowed`` types and every operand of ``others`` (and every
    output) has the same."""
    expect_types(node, data, *allowed)
    for other in (*others, *node.outputs):
        expect_types(node, other, data.type)


def elements(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def same_batch(arrays: Sequence[Array]) -> list[Array]:
    """The arrays with their leading batch axes broadcast to the largest (views, no copies)."""
    n = max(a.shape[0] for a in arrays)
    return [a if a.shape[0] == n else np.broadcast_to(a, (n, *a.shape[1:])) for a in arrays]

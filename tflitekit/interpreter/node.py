"""What a kernel sees of an operator: a :class:`Node` of plain operand descriptions.

A kernel never sees IR objects: the interpreter (or ``fold_constants``) describes each operand
by its type, static shape, quantization and, for constants, its value, and says whether the
operand carries the run's batch (see :mod:`tflitekit.interpreter.kernel`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import UnsupportedOperatorError
from ..ir import Operator, Tensor, dtypes
from ..ir.opfacts import FACTS
from ..options import BuiltinOperator, Table, TensorType

__all__ = ["Array", "Node", "Operand", "Rounding", "describe"]

Array = npt.NDArray[Any]
Rounding = Literal["double", "single"]
"""How MultiplyByQuantizedMultiplier rounds: TFLite's default ``double`` rounding (a rounding
doubling high multiply, then a rounding right shift) or ``single`` (one rounding shift, as
TFLite built with ``TFLITE_SINGLE_ROUNDING``)."""

SHAPE_ONLY = frozenset(code for code, known in FACTS.items() if known.shape_only)
"""Operators that read only the static shapes of their inputs, never their values."""


@dataclass(frozen=True, eq=False)
class Operand:
    """One input or output of a node.

    ``shape`` is the static shape of one sample (the model's shape); ``scale`` (float32, as the
    file stores it) and ``zero_point`` (int64) are None when the tensor is not quantized;
    ``data`` is a constant's value (read-only) and None otherwise; ``batched`` says whether the
    value carries the run's batch (graph inputs and everything computed from them do; constants
    and results computed from constants or static shapes only do not).
    """

    name: str
    type: TensorType
    dtype: np.dtype[Any] | None
    shape: tuple[int, ...]
    scale: npt.NDArray[np.float32] | None = None
    zero_point: npt.NDArray[np.int64] | None = None
    quantized_dimension: int = 0
    data: Array | None = None
    batched: bool = False

    @property
    def quantized(self) -> bool:
        return self.scale is not None

    @property
    def per_channel(self) -> bool:
        return self.scale is not None and self.scale.size > 1

    @property
    def scale_value(self) -> float:
        """The (first) scale as a Python float (the float32 value, widened exactly)."""
        if self.scale is None:
            raise ValueError(f"tensor {self.name!r} is not quantized")
        return float(self.scale[0])

    @property
    def zero_value(self) -> int:
        """The (first) zero point, 0 when there is none."""
        return 0 if self.zero_point is None or self.zero_point.size == 0 else int(
            self.zero_point[0])

    @property
    def type_name(self) -> str:
        return dtypes.name(self.type)

    def __repr__(self) -> str:
        quant = "" if self.scale is None else f" q({self.scale.size})"
        const = " const" if self.data is not None else ""
        return f"Operand({self.name!r} {self.type_name}{list(self.shape)}{quant}{const})"


@dataclass(frozen=True, eq=False)
class Node:
    """An operator as a kernel sees it.

    ``opcode`` is the builtin operator (``CUSTOM`` with ``custom_code`` set for a custom one),
    ``options`` the typed builtin options (None when the file has none), ``inputs`` one
    :class:`Operand` per input (None for an absent optional one), ``rounding`` the requested
    fixed-point rounding, ``where`` how messages name the operator.
    """

    opcode: BuiltinOperator
    version: int
    options: Table | None
    inputs: tuple[Operand | None, ...]
    outputs: tuple[Operand, ...]
    rounding: Rounding = "double"
    custom_code: str | None = None
    custom_options: bytes | None = None
    where: str = ""

    @property
    def name(self) -> str:
        return self.custom_code if self.custom_code is not None else self.opcode.name

    @property
    def batched(self) -> bool:
        """True when any input carries the batch, so the outputs carry it too."""
        return any(o is not None and o.batched for o in self.inputs)

    def input(self, index: int) -> Operand:
        """Input ``index``, which must be present: a missing one refuses the operator
        (:class:`~tflitekit.UnsupportedOperatorError`, as a kernel's ``prepare`` does)."""
        operand = self.inputs[index] if index < len(self.inputs) else None
        if operand is None:
            raise UnsupportedOperatorError(f"{self.where or self.name}: input {index} is missing")
        return operand

    def __repr__(self) -> str:
        return f"Node({self.where or self.name})"


def _operand(tensor: Tensor, batched: bool, constant: bool, value: Array | None = None
             ) -> Operand:
    q = tensor.quantization
    scale = zero = None
    if q is not None and q.is_quantized:
        scale = np.asarray(q.scale, np.float32)
        zero = (np.zeros(scale.shape, np.int64) if q.zero_point is None or q.zero_point.size == 0
                else np.asarray(q.zero_point, np.int64))
    data = value
    if constant and tensor.is_constant:
        data = tensor.data
        if data is not None and data.dtype == tensor.numpy_dtype and tensor.shape is not None:
            data = data.reshape(tensor.shape)
    return Operand(
        name=tensor.name or "",
        type=tensor.dtype,
        dtype=tensor.numpy_dtype,
        shape=tuple(tensor.shape or ()),
        scale=scale,
        zero_point=zero,
        quantized_dimension=0 if q is None else q.quantized_dimension,
        data=data,
        batched=batched,
    )


def describe(op: Operator, batched: Collection[int] = (), *, rounding: Rounding = "double",
             where: str = "", known: Mapping[int, Array] | None = None) -> Node:
    """The node of ``op``: ``batched`` holds the ids of the tensors that carry the batch;
    ``known`` the values of computed tensors that are constants all the same (the outputs of
    a decoder of compressed weights), by tensor id, which the node's operands carry as data."""
    known = known or {}
    inputs = tuple(None if t is None else _operand(t, id(t) in batched, True, known.get(id(t)))
                   for t in op.inputs)
    carries = op.type not in SHAPE_ONLY and any(o is not None and o.batched for o in inputs)
    outputs = tuple(_operand(t, carries, False) for t in op.outputs)
    code = op.opcode
    return Node(
        opcode=op.type,
        version=code.version,
        options=op.options,
        inputs=inputs,
        outputs=outputs,
        rounding=rounding,
        custom_code=code.custom_code if code.is_custom else None,
        custom_options=None if op.custom_options is None else bytes(op.custom_options),
        where=where or code.name,
    )

"""The constant tensors operators read (weights, biases, other constants), as real values, for
histograms and weight images (:mod:`.plots`) and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import UsageError
from ..ir import Model, Operator, Tensor
from ..ir.opfacts import Shapes, Types, facts
from .dequantize import real_values

__all__ = ["WeightTensor", "Weights", "weights"]

Array = npt.NDArray[Any]
Role = Literal["weights", "bias", "constant"]
Scheme = Literal["none", "per-tensor", "per-channel"]


@dataclass(frozen=True)
class WeightTensor:
    """A constant operand. ``values`` are real (float64): integer data with a scale dequantized
    per tensor or per channel, other data as it is. ``channel_axis`` is the output-channel axis:
    the quantized dimension, or for weights the operator's (filters' dimension 0, depthwise
    filters' last); None for other constants that no quantization splits."""

    name: str | None
    operator: int
    opcode: str
    role: Role
    shape: tuple[int, ...]
    dtype: str
    quantization: Scheme
    channel_axis: int | None
    values: Array = field(repr=False, compare=False)

    @property
    def channels(self) -> Array:
        """``values`` as one row per channel (a single row without a channel axis)."""
        if self.channel_axis is None:
            return self.values.reshape(1, -1)
        return np.moveaxis(self.values, self.channel_axis, 0).reshape(
            self.values.shape[self.channel_axis], -1)

    def to_json(self) -> dict[str, Any]:
        v = self.values
        stats = ({"min": float(v.min()), "max": float(v.max()), "mean": float(v.mean()),
                  "std": float(v.std())} if v.size else {})
        return {"name": self.name, "operator": self.operator, "opcode": self.opcode,
                "role": self.role, "shape": list(self.shape), "dtype": self.dtype,
                "quantization": self.quantization, "channel_axis": self.channel_axis,
                "count": int(v.size), **stats}


@dataclass(frozen=True)
class Weights:
    """The constant operands of a subgraph's operators, each once, in reading order."""

    tensors: tuple[WeightTensor, ...]

    def of_role(self, *roles: Role) -> tuple[WeightTensor, ...]:
        return tuple(t for t in self.tensors if t.role in roles)

    def to_json(self) -> dict[str, Any]:
        return {"tensors": [t.to_json() for t in self.tensors]}


def weights(model: Model, subgraph: int = 0) -> Weights:
    """The constant operands of ``model.subgraphs[subgraph]``'s operators, without the operands
    that hold axes, shapes or sizes, nor data that is not numbers."""
    if not 0 <= subgraph < len(model.subgraphs):
        raise UsageError(f"subgraph {subgraph} does not exist: the model has "
                         f"{len(model.subgraphs)}")
    found: list[WeightTensor] = []
    seen: set[int] = set()
    for k, op in enumerate(model.subgraphs[subgraph].operators):
        for slot, t in enumerate(op.inputs):
            if t is None or id(t) in seen or not t.is_constant or _is_index(op, slot):
                continue
            data = t.data
            if data is None or data.dtype.kind not in "biuf" or data.size == 0:
                continue
            seen.add(id(t))
            role = _role(op, slot)
            values = real_values(t, data)
            values.flags.writeable = False
            found.append(WeightTensor(
                t.name, k, op.opcode.name if op.opcode is not None else "?", role,
                tuple(values.shape), str(getattr(t.dtype, "name", t.dtype)).lower(),
                _scheme(t), _channel_axis(op, t, role, values.ndim), values))
    return Weights(tuple(found))


def _is_index(op: Operator, slot: int) -> bool:
    operands = facts(op.type).operands
    return operands is not None and slot in operands.index


def _role(op: Operator, slot: int) -> Role:
    operands = facts(op.type).operands
    if operands is None or operands.types is not Types.WEIGHTED:
        return "constant"
    if slot == 1:
        return "weights"
    return "bias" if slot == operands.inputs[1] - 1 else "constant"  # type: ignore[operator]


def _scheme(t: Tensor) -> Scheme:
    q = t.quantization
    if q is None or not q.is_quantized:
        return "none"
    return "per-channel" if q.per_channel else "per-tensor"


def _channel_axis(op: Operator, t: Tensor, role: Role, ndim: int) -> int | None:
    q = t.quantization
    if q is not None and q.per_channel and q.quantized_dimension < ndim:
        return q.quantized_dimension
    if role != "weights" or ndim < 2:
        return None
    operands = facts(op.type).operands
    return ndim - 1 if operands is not None and operands.shapes is Shapes.DEPTHWISE else 0

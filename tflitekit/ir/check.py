"""Structural validation of a Model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._generated.schema import OPERATOR_OPTIONS, TensorType
from . import dtypes

if TYPE_CHECKING:
    from .graph import Subgraph
    from .model import Model
    from .tensor import Tensor

__all__ = ["Problem", "check"]


@dataclass(frozen=True)
class Problem:
    """One structural problem: where it is and what is wrong.

    ``where`` and ``message`` are for people; ``kind`` (a stable identifier such as
    ``"bad-scale"``) and ``subject`` (the tensor, operator, subgraph, buffer or entry at fault)
    are for programs: :attr:`key` identifies the problem independently of positions, so a pass
    that removes ``tensors[1]`` is not blamed for a problem that moved from ``tensors[2]``.
    """

    where: str
    message: str
    kind: str = "structure"
    subject: object = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[object, ...]:
        """Identity of the problem that survives renumbering: kind, subject and message."""
        subject = self.where if self.subject is None else id(self.subject)
        return self.kind, subject, self.message

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def check(model: Model) -> list[Problem]:
    """Every structural problem of ``model``; an empty list when it is sound."""
    problems: list[Problem] = []
    for index, graph in enumerate(model.subgraphs):
        _check_graph(graph, f"subgraphs[{index}]", problems)
    for index, sig in enumerate(model.signature_defs):
        where = f"signature_defs[{index}] ({sig.key!r})"
        if not any(sig.subgraph is g for g in model.subgraphs):
            problems.append(Problem(where, "its subgraph is not in the model"))
            continue
        for side, mapping in (("input", sig.inputs), ("output", sig.outputs)):
            for name, tensor in mapping.items():
                if tensor is None or tensor.graph is not sig.subgraph:
                    problems.append(Problem(where, f"{side} {name!r} is not a tensor of its "
                                                   "subgraph"))
    for index, entry in enumerate(model.metadata):
        if entry.buffer is None:
            problems.append(Problem(f"metadata[{index}] ({entry.name!r})", "has no buffer"))
    return problems


def _check_graph(graph: Subgraph, where: str, problems: list[Problem]) -> None:
    listed: set[int] = set()
    for i, tensor in enumerate(graph.tensors):
        at = f"{where}.tensors[{i}] ({tensor.name!r})"
        if id(tensor) in listed:
            problems.append(Problem(at, "is listed more than once"))
        listed.add(id(tensor))
        _check_tensor(tensor, at, problems)
    for side in ("inputs", "outputs"):
        for i, tensor in enumerate(getattr(graph, side)):
            if tensor.graph is not graph:
                problems.append(Problem(f"{where}.{side}[{i}]",
                                        f"{tensor!r} is not a tensor of this subgraph"))
    inputs = {id(t) for t in graph.inputs}
    available = set(inputs)
    available.update(id(t) for t in graph.tensors if t.is_constant or t.is_variable)
    produced_later = {id(t) for op in graph.operators for t in op.outputs}
    producers: dict[int, int] = {}
    for k, op in enumerate(graph.operators):
        at = f"{where}.operators[{k}] ({op.opcode.name})"
        _check_options(op.opcode.builtin_code, op.options, op.options_2, at, problems)
        for i, source in enumerate(op.inputs):
            if source is None:
                continue
            if source.graph is not graph:
                problems.append(Problem(at, f"input {i} {source!r} is not a tensor of this "
                                            "subgraph"))
            elif id(source) not in available:
                problems.append(Problem(at, f"input {i} {source.name!r} is read before it is "
                                            "produced" if id(source) in produced_later else
                                            f"input {i} {source.name!r} has no producer, no data "
                                            "and is not a subgraph input"))
        for tensor in op.outputs:
            if id(tensor) in producers:
                problems.append(Problem(at, f"output {tensor.name!r} is also written by "
                                            f"operators[{producers[id(tensor)]}]"))
            producers[id(tensor)] = k
            if id(tensor) in inputs:
                problems.append(Problem(at, f"output {tensor.name!r} is also a subgraph input"))
            if tensor.graph is not graph:
                problems.append(Problem(at, f"output {tensor!r} is not a tensor of this "
                                            "subgraph"))
            available.add(id(tensor))
    for i, tensor in enumerate(graph.outputs):
        if id(tensor) not in available:
            problems.append(Problem(f"{where}.outputs[{i}]",
                                    f"{tensor.name!r} is never produced"))


def _check_tensor(tensor: Tensor, where: str, problems: list[Problem]) -> None:
    shape = tensor.shape
    if shape is not None and any(d < 0 for d in shape):
        problems.append(Problem(where, f"negative dimension in shape {shape}"))
        return
    count = None if shape is None else int(np.prod(shape, dtype=np.int64))
    if tensor.is_constant and count is not None and tensor.sparsity is None:
        size = dtypes.itemsize(tensor.dtype)
        expected = (count * size if size is not None
                    else (count + 1) // 2 if tensor.dtype == TensorType.INT4 else None)
        actual = tensor.buffer.nbytes  # type: ignore[union-attr]
        if expected is not None and actual != expected:
            problems.append(Problem(where, f"buffer holds {actual} bytes but shape {shape} of "
                                           f"{tensor.dtype.name} needs {expected}"))
    q = tensor.quantization
    if q is None or q.scale is None or q.scale.size == 0:
        return
    if q.zero_point is not None and q.zero_point.size not in (q.scale.size, 0):
        problems.append(Problem(where, f"{q.scale.size} scales but {q.zero_point.size} "
                                       "zero points"))
    if not np.all(np.isfinite(q.scale)) or np.any(q.scale <= 0):
        problems.append(Problem(where, "quantization scales must be finite and positive"))
    if q.scale.size > 1 and shape is not None:
        if not 0 <= q.quantized_dimension < len(shape):
            problems.append(Problem(where, f"quantized_dimension {q.quantized_dimension} is "
                                           f"outside the tensor's rank {len(shape)}"))
        elif shape[q.quantized_dimension] != q.scale.size:
            problems.append(Problem(where, f"{q.scale.size} scales for dimension "
                                           f"{q.quantized_dimension} of size "
                                           f"{shape[q.quantized_dimension]}"))


def _check_options(code: int, options: object, options_2: object, where: str,
                   problems: list[Problem]) -> None:
    expected = OPERATOR_OPTIONS.get(code)  # type: ignore[call-overload]
    for union, value in (("BuiltinOptions", options), ("BuiltinOptions2", options_2)):
        if value is None:
            continue
        if expected is None or expected[0] != union or not isinstance(value, expected[1]):
            want = "no options" if expected is None else expected[1].__name__
            problems.append(Problem(where, f"{type(value).__name__} given where the operator "
                                           f"takes {want}"))

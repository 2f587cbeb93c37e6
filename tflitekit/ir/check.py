"""Structural validation of a Model: :func:`check` finds the problems, :func:`unchecked` says
which operators it could not judge."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..options import OPERATOR_OPTIONS, BuiltinOperator, TensorType
from . import dtypes
from .check_operands import has_rule, operand_problems

if TYPE_CHECKING:
    from .graph import Operator, Subgraph
    from .model import Model
    from .tensor import Tensor

__all__ = ["KINDS", "Problem", "Unchecked", "check", "unchecked"]

KINDS: Mapping[str, str] = {
    "format": "the bytes are not a well-formed TFLite file (from validate)",
    "duplicate-tensor": "a tensor is listed more than once in its subgraph",
    "negative-dimension": "a tensor's shape has a negative dimension",
    "shape-signature": ("a tensor's shape_signature differs from its shape in rank or in a "
                        "dimension it does not mark -1 (resizable)"),
    "buffer-size": "a constant's buffer does not hold shape x dtype bytes",
    "zero-point-count": "a quantization has a different number of zero points than scales",
    "bad-scale": "a quantization scale is not finite and positive",
    "bad-zero-point": ("a zero point is outside its tensor type's range, or is not 0 on an INT16 "
                       "tensor a builtin operator other than QUANTIZE uses"),
    "quantized-dimension": "per-channel scales do not match the quantized dimension",
    "foreign-tensor": "an operator or a subgraph's interface uses another subgraph's tensor",
    "read-before-produced": "an operator reads a tensor a later operator writes",
    "no-producer": "an operator reads a tensor with no producer, no data, not an input",
    "multiple-producers": "two operators write one tensor",
    "writes-input": "an operator writes a subgraph input",
    "never-produced": "a subgraph output is never written",
    "options-type": "an operator's options are not the class its operator takes",
    "operand-count": "an operator has too few or too many operands, or lacks a required one",
    "operand-type": "an operator's operand types do not fit together",
    "operand-shape": "an operator's operand shapes do not fit together",
    "signature-subgraph": "a signature def names a subgraph that is not in the model",
    "signature-tensor": "a signature def names a tensor that is not of its subgraph",
    "metadata-buffer": "a metadata entry has no buffer",
}
"""Every :attr:`Problem.kind` that :func:`check` and ``validate`` produce, with its meaning."""


@dataclass(frozen=True)
class Problem:
    """One structural problem: where it is and what is wrong.

    ``where`` and ``message`` are for people; ``kind`` (one of :data:`KINDS`), ``subject`` (the
    tensor, operator, subgraph, buffer, signature def or metadata entry at fault) and
    ``related`` (what else identifies it: an operand slot, the tensor written twice, ...) are
    for programs. Positions (``tensors[2]``) appear only in ``where``, and :attr:`key` reads
    neither text, so a problem keeps its identity across an edit: a pass that removes
    ``tensors[1]``, or renames tensors, is not blamed for a problem that was already there.
    """

    where: str
    message: str
    kind: str = "structure"
    subject: object = field(default=None, compare=False, repr=False)
    related: tuple[object, ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> tuple[object, ...]:
        """Identity of the problem that survives renumbering and renaming: kind, subject and
        related objects (the texts when the problem names no subject)."""
        if self.subject is None:
            return self.kind, self.where, self.message
        return (self.kind, id(self.subject),
                *(r if isinstance(r, (str, int)) else id(r) for r in self.related))

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Unchecked:
    """Operators :func:`check` could not judge: ``count`` of ``operator``, for ``reason``."""

    operator: str
    reason: str
    count: int

    def __str__(self) -> str:
        return f"{self.operator} x{self.count}: {self.reason}"


def check(model: Model) -> list[Problem]:
    """Every structural problem of ``model``; an empty list when it is sound.

    Beyond the links between objects, each operator's operands must meet its rule in
    :mod:`tflitekit.ir.opfacts` (counts, types, shapes). Operators without a rule are listed by
    :func:`unchecked`; an operator with a faulty operand (a bad buffer size, say, but not a
    shape_signature or zero point problem) or faulty options is not judged further. A custom
    operator may write any of its inputs (scratch or state tensors), so such an input needs no
    producer. Shapes are checked as they are (``shape``, what the runtimes allocate); a -1 in
    ``shape_signature`` marks a resizable dimension, not a wildcard."""
    problems: list[Problem] = []
    for index, graph in enumerate(model.subgraphs):
        _check_graph(graph, f"subgraphs[{index}]", problems)
    for index, sig in enumerate(model.signature_defs):
        where = f"signature_defs[{index}] ({sig.key!r})"
        if not any(sig.subgraph is g for g in model.subgraphs):
            problems.append(Problem(where, "its subgraph is not in the model",
                                    "signature-subgraph", sig))
            continue
        for side, mapping in (("input", sig.inputs), ("output", sig.outputs)):
            for name, tensor in mapping.items():
                if tensor is None or tensor.graph is not sig.subgraph:
                    problems.append(Problem(where, f"{side} {name!r} is not a tensor of its "
                                                   "subgraph", "signature-tensor", sig,
                                            (side, name)))
    for index, entry in enumerate(model.metadata):
        if entry.buffer is None:
            problems.append(Problem(f"metadata[{index}] ({entry.name!r})", "has no buffer",
                                    "metadata-buffer", entry))
    return problems


def unchecked(model: Model) -> list[Unchecked]:
    """The operators whose operands :func:`check` did not check, grouped by name: custom
    operators, builtin codes newer than tflitekit's schema (kept as plain ints) and builtins
    without an operand rule; most frequent first."""
    counts: Counter[tuple[str, str]] = Counter()
    for op in model.operators():
        if not has_rule(op):
            code = op.opcode.builtin_code
            reason = ("custom" if op.opcode.custom_code is not None
                      else "no operand rule" if isinstance(code, BuiltinOperator)
                      else f"builtin code {int(code)} is newer than tflitekit's schema")
            counts[op.opcode.name, reason] += 1
    return [Unchecked(name, reason, n) for (name, reason), n in counts.most_common()]


_JUDGEABLE = frozenset({"shape-signature", "bad-zero-point"})
"""Tensor problems that leave what the operand rules read (dtype, static shape) sound: an
operator using such a tensor is still judged."""


def _check_graph(graph: Subgraph, where: str, problems: list[Problem]) -> None:
    listed: set[int] = set()
    faulty: set[int] = set()  # tensors with problems of their own
    for i, tensor in enumerate(graph.tensors):
        at = f"{where}.tensors[{i}] ({tensor.name!r})"
        if id(tensor) in listed:
            problems.append(Problem(at, "is listed more than once", "duplicate-tensor", tensor))
        listed.add(id(tensor))
        found = len(problems)
        _check_tensor(tensor, at, problems)
        if any(p.kind not in _JUDGEABLE for p in problems[found:]):
            faulty.add(id(tensor))
    for side in ("inputs", "outputs"):
        for i, tensor in enumerate(getattr(graph, side)):
            if tensor.graph is not graph:
                problems.append(Problem(f"{where}.{side}[{i}]",
                                        f"{tensor!r} is not a tensor of this subgraph",
                                        "foreign-tensor", tensor, (side,)))
    inputs = {id(t) for t in graph.inputs}
    available = set(inputs)
    available.update(id(t) for t in graph.tensors if t.is_constant or t.is_variable)
    produced_later = {id(t) for op in graph.operators for t in op.outputs}
    producers: dict[int, int] = {}
    for k, op in enumerate(graph.operators):
        at = f"{where}.operators[{k}] ({op.opcode.name})"
        _check_inputs(op, graph, at, available, produced_later, problems)
        for tensor in op.outputs:
            if id(tensor) in producers:
                problems.append(Problem(f"{at} and operators[{producers[id(tensor)]}]",
                                        f"both write output {tensor.name!r}",
                                        "multiple-producers", op, (tensor,)))
            producers[id(tensor)] = k
            if id(tensor) in inputs:
                problems.append(Problem(at, f"output {tensor.name!r} is also a subgraph input",
                                        "writes-input", op, (tensor,)))
            if tensor.graph is not graph:
                problems.append(Problem(at, f"output {tensor!r} is not a tensor of this "
                                            "subgraph", "foreign-tensor", op, (tensor,)))
            available.add(id(tensor))
        operands = {id(t) for t in (*op.inputs, *op.outputs) if t is not None}
        if _check_options(op, at, problems) and not operands & faulty:
            for kind, message in operand_problems(op):
                problems.append(Problem(at, message, kind, op))
    for i, tensor in enumerate(graph.outputs):
        if id(tensor) not in available:
            problems.append(Problem(f"{where}.outputs[{i}]", f"{tensor.name!r} is never produced",
                                    "never-produced", tensor))


def _check_inputs(op: Operator, graph: Subgraph, at: str, available: set[int],
                  produced_later: set[int], problems: list[Problem]) -> None:
    """Each input of ``op`` belongs to ``graph`` and is available when ``op`` runs. A custom
    operator may write its inputs (scratch, state): one nothing else produces becomes
    available."""
    for i, source in enumerate(op.inputs):
        if source is None:
            continue
        if source.graph is not graph:
            problems.append(Problem(at, f"input {i} {source!r} is not a tensor of this subgraph",
                                    "foreign-tensor", op, (i,)))
        elif id(source) in produced_later and id(source) not in available:
            problems.append(Problem(at, f"input {i} {source.name!r} is read before it is "
                                        "produced", "read-before-produced", op, (i,)))
        elif id(source) not in available and op.opcode.custom_code is not None:
            available.add(id(source))
        elif id(source) not in available:
            problems.append(Problem(at, f"input {i} {source.name!r} has no producer, no data and "
                                        "is not a subgraph input", "no-producer", op, (i,)))


def _check_tensor(tensor: Tensor, where: str, problems: list[Problem]) -> None:
    shape = tensor.shape
    if shape is not None and any(d < 0 for d in shape):
        problems.append(Problem(where, f"negative dimension in shape {shape}",
                                "negative-dimension", tensor))
        return
    sig = tensor.shape_signature
    if shape is not None and sig is not None and (
            len(sig) != len(shape)
            or any(s not in (-1, d) for d, s in zip(shape, sig, strict=True))):
        problems.append(Problem(where, f"shape {shape} does not fit shape_signature {sig} "
                                       "(each dimension must match unless the signature is -1)",
                                "shape-signature", tensor))
    count = None if shape is None else int(np.prod(shape, dtype=np.int64))
    if tensor.is_constant and count is not None and tensor.sparsity is None:
        size = dtypes.itemsize(tensor.dtype)
        expected = (count * size if size is not None
                    else (count + 1) // 2 if tensor.dtype == TensorType.INT4 else None)
        actual = tensor.buffer.nbytes  # type: ignore[union-attr]
        if expected is not None and actual != expected:
            problems.append(Problem(where, f"buffer holds {actual} bytes but shape {shape} of "
                                           f"{tensor.dtype.name} needs {expected}",
                                    "buffer-size", tensor))
    q = tensor.quantization
    if q is None or q.scale is None or not q.is_quantized:  # (scale is None: for mypy)
        return
    if q.zero_point is not None and q.zero_point.size not in (q.scale.size, 0):
        problems.append(Problem(where, f"{q.scale.size} scales but {q.zero_point.size} "
                                       "zero points", "zero-point-count", tensor))
    if not np.all(np.isfinite(q.scale)) or np.any(q.scale <= 0):
        problems.append(Problem(where, "quantization scales must be finite and positive",
                                "bad-scale", tensor))
    zero_point = _zero_point_problem(tensor)
    if zero_point is not None:
        problems.append(Problem(where, zero_point, "bad-zero-point", tensor))
    if q.scale.size > 1 and shape is not None:
        if not 0 <= q.quantized_dimension < len(shape):
            problems.append(Problem(where, f"quantized_dimension {q.quantized_dimension} is "
                                           f"outside the tensor's rank {len(shape)}",
                                    "quantized-dimension", tensor))
        elif shape[q.quantized_dimension] != q.scale.size:
            problems.append(Problem(where, f"{q.scale.size} scales for dimension "
                                           f"{q.quantized_dimension} of size "
                                           f"{shape[q.quantized_dimension]}",
                                    "quantized-dimension", tensor))


_ZERO_POINT_RANGE: dict[TensorType, tuple[int, int]] = {
    TensorType.INT4: (-8, 7), TensorType.INT8: (-128, 127), TensorType.UINT8: (0, 255),
    TensorType.INT16: (-32768, 32767), TensorType.UINT16: (0, 65535),
}


def _zero_point_problem(tensor: Tensor) -> str | None:
    """Why ``tensor``'s zero points are wrong for its type, or None. An INT16 zero point must
    also be 0 (LiteRT's and TFLite Micro's int16 kernels take symmetric quantization), unless
    only QUANTIZE operators (which both runtimes let requantize any int16 zero point) and
    custom operators use the tensor."""
    q = tensor.quantization
    bounds = _ZERO_POINT_RANGE.get(tensor.dtype)
    if q is None or q.zero_point is None or q.zero_point.size == 0 or bounds is None:
        return None
    low, high = bounds
    outside = q.zero_point[(q.zero_point < low) | (q.zero_point > high)]
    if outside.size:
        return (f"zero point {int(outside[0])} is outside {tensor.dtype.name}'s range "
                f"{low}..{high}")
    if tensor.dtype != TensorType.INT16 or not np.any(q.zero_point):
        return None
    users = [op for op in (tensor.producer, *tensor.consumers) if op is not None
             and op.opcode.custom_code is None and op.type != BuiltinOperator.QUANTIZE]
    if not users:
        return None
    nonzero = int(q.zero_point[np.flatnonzero(q.zero_point)[0]])
    return (f"INT16 zero point {nonzero} is not 0, which {users[0].opcode.name} requires "
            "(int16 quantization is symmetric)")


def _check_options(op: Operator, where: str, problems: list[Problem]) -> bool:
    """True when both option slots of ``op`` hold what its operator takes (or nothing)."""
    expected = OPERATOR_OPTIONS.get(op.opcode.builtin_code)
    sound = True
    for union, value in (("BuiltinOptions", op.options), ("BuiltinOptions2", op.options_2)):
        if value is None:
            continue
        if expected is None or expected[0] != union or not isinstance(value, expected[1]):
            want = "no options" if expected is None else expected[1].__name__
            problems.append(Problem(where, f"{type(value).__name__} given where the operator "
                                           f"takes {want}", "options-type", op, (union,)))
            sound = False
    return sound

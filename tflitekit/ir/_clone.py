"""Model.copy(): a structural clone, field by field, sharing read-only constant data."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from ..options import Table
from .graph import Operator, OperatorCode, Subgraph
from .model import Metadata, Model, SignatureDef
from .tensor import Buffer, Tensor, Usage

__all__ = ["clone"]

_T = TypeVar("_T")


def clone(model: Model) -> Model:
    """A copy of ``model`` that shares nothing mutable with it.

    Works on any state the object model can hold (dangling references, tensors outside their
    subgraph, stale links): every object reachable from the model is copied once and every
    reference is mapped to the copy. Buffers are new objects over the same read-only bytes.
    """
    return _Cloner().model(model)


def _deep(value: _T) -> _T:
    """A deep copy of a field value (typed options tables, lists of them, shapes, bytes)."""
    if value is None or isinstance(value, (int, float, str, bytes)):
        return value
    if isinstance(value, Table):
        return value.copy()
    if isinstance(value, list):
        return [_deep(v) for v in value]  # type: ignore[return-value]
    return copy.deepcopy(value)


class _Cloner:
    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}  # id(original) -> copy
        self.tensors: list[tuple[Tensor, Tensor]] = []

    def _seen(self, obj: Any) -> Any:
        return self.memo.get(id(obj))

    def model(self, m: Model) -> Model:
        new = Model._restore(
            m.version, m.description, m.data_alignment,
            [self.subgraph(g) for g in m.subgraphs], [self.buffer(b) for b in m.buffers],
            [self.opcode(c) for c in m.operator_codes],
            [Metadata(e.name, self.some_buffer(e.buffer)) for e in m.metadata],
            None if m.metadata_buffer is None else [self.some_buffer(b)
                                                    for b in m.metadata_buffer],
            [self.signature(s) for s in m.signature_defs], _deep(m.external_buffer_groups),
            _deep(m.external_buffers), m.source)
        self.links()
        return new

    def buffer(self, b: Buffer) -> Buffer:
        new = self._seen(b)
        if new is None:
            new = self.memo[id(b)] = b._clone()
        return new  # type: ignore[no-any-return]

    def some_buffer(self, b: Buffer | None) -> Buffer | None:
        return None if b is None else self.buffer(b)

    def opcode(self, c: OperatorCode) -> OperatorCode:
        new = self._seen(c)
        if new is None:
            new = self.memo[id(c)] = OperatorCode._restore(c.builtin_code, c.custom_code,
                                                           c.version, legacy=c.legacy)
        return new  # type: ignore[no-any-return]

    def tensor(self, t: Tensor | None) -> Tensor | None:
        if t is None:
            return None
        new = self._seen(t)
        if new is None:
            q = t.quantization
            new = self.memo[id(t)] = Tensor._restore(
                t.name, _deep(t.shape), t.dtype, self.some_buffer(t.buffer),
                None if q is None else q._clone(), t.is_variable, _deep(t.sparsity),
                _deep(t.shape_signature), t.has_rank, _deep(t.variant_tensors), t.external_buffer)
            self.tensors.append((t, new))
        return new  # type: ignore[no-any-return]

    def _tensors(self, ts: Any) -> list[Tensor]:
        return [self.tensor(t) for t in ts]  # type: ignore[misc]

    def operator(self, op: Operator) -> Operator:
        new = self._seen(op)
        if new is None:
            new = self.memo[id(op)] = Operator._restore(
                self.opcode(op.opcode), tuple(self._tensors(op.inputs)),
                tuple(self._tensors(op.outputs)), _deep(op.options), _deep(op.options_2),
                _deep(op.custom_options), op.custom_options_format,
                _deep(op.mutating_variable_inputs),
                None if op.intermediates is None else self._tensors(op.intermediates),
                op.debug_metadata_index)
        return new  # type: ignore[no-any-return]

    def subgraph(self, g: Subgraph) -> Subgraph:
        new = self._seen(g)
        if new is None:
            new = self.memo[id(g)] = Subgraph._restore(
                g.name, g.debug_metadata_index, self._tensors(g.tensors),
                self._tensors(g.inputs), self._tensors(g.outputs),
                [self.operator(op) for op in g.operators])
        return new  # type: ignore[no-any-return]

    def signature(self, s: SignatureDef) -> SignatureDef:
        return SignatureDef(s.key, None if s.subgraph is None else self.subgraph(s.subgraph),
                            {k: self.tensor(t) for k, t in s.inputs.items()},
                            {k: self.tensor(t) for k, t in s.outputs.items()})

    def links(self) -> None:
        """Give every copied tensor its original's subgraph, producer and uses (which a model
        in the middle of an edit may hold in any state)."""
        memo = self.memo
        for old, new in self.tensors:
            new._graph = None if old.graph is None else memo.get(id(old.graph))
            new._producer = None if old.producer is None else memo.get(id(old.producer))
            new._uses = {Usage(memo[id(u.operator)], u.index): None
                         for u in old.uses if id(u.operator) in memo}

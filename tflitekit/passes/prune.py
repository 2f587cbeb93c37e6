"""prune: remove what nothing needs — dead operators, unused tensors, operator codes and
buffers, and stale entries of the legacy ``metadata_buffer`` list."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Buffer, Model, Operator, Subgraph, Tensor
from ._graph import has_side_effects
from .base import Pass, Report

__all__ = ["Prune", "prune"]


@dataclass
class Prune(Pass):
    """Remove dead operators (none of their outputs reaches a subgraph output, and they have no
    side effects), tensors nothing refers to, operator codes no operator uses, buffers nothing
    refers to (buffer 0, the empty sentinel, is always written) and ``metadata_buffer`` entries
    whose buffer no tensor or metadata entry uses."""

    name = "prune"

    def run(self, model: Model, report: Report) -> None:
        for index, graph in enumerate(model.subgraphs):
            _prune_operators(graph, index, report)
            _prune_tensors(model, graph, index, report)
        _prune_operator_codes(model, report)
        _prune_buffers(model, report)


def _dead_operators(graph: Subgraph) -> list[Operator]:
    """Operators whose work nothing observes, found by walking back from the outputs."""
    effects = [op for op in graph.operators if has_side_effects(op)]
    live = {id(op) for op in effects}
    needed = list(graph.outputs)
    needed += [t for op in effects for t in op.inputs if t is not None]
    seen: set[int] = set()
    while needed:
        tensor = needed.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        op = tensor.producer
        if op is not None and id(op) not in live:
            live.add(id(op))
            needed.extend(t for t in op.inputs if t is not None)
    return [op for op in graph.operators if id(op) not in live]


def _prune_operators(graph: Subgraph, index: int, report: Report) -> None:
    for op in _dead_operators(graph):
        graph.remove_operator(op)
        report.change(f"subgraph {index}: removed dead operator {op.opcode.name} "
                      f"(outputs {', '.join(repr(t.name) for t in op.outputs)})")


def _referenced_tensors(model: Model, graph: Subgraph) -> set[int]:
    used = {id(t) for t in (*graph.inputs, *graph.outputs)}
    for op in graph.operators:
        used.update(id(t) for t in (*op.inputs, *op.outputs, *(op.intermediates or ()))
                    if t is not None)
    for sig in model.signature_defs:
        if sig.subgraph is graph:
            used.update(id(t) for t in (*sig.inputs.values(), *sig.outputs.values())
                        if t is not None)
    return used


def _prune_tensors(model: Model, graph: Subgraph, index: int, report: Report) -> None:
    used = _referenced_tensors(model, graph)
    unused: list[Tensor] = [t for t in graph.tensors if id(t) not in used]
    if unused:
        graph.tensors[:] = [t for t in graph.tensors if id(t) in used]
        names = ", ".join(repr(t.name) for t in unused[:5]) + (", ..." if len(unused) > 5 else "")
        report.change(f"subgraph {index}: removed {len(unused)} unused tensors ({names})")


def _prune_operator_codes(model: Model, report: Report) -> None:
    used = {op.opcode.key() for op in model.operators()}
    unused = [c for c in model.operator_codes if c.key() not in used]
    if unused:
        model.operator_codes = [c for c in model.operator_codes if c.key() in used]
        report.change(f"removed {len(unused)} unused operator codes "
                      f"({', '.join(c.name for c in unused)})")


def _prune_buffers(model: Model, report: Report) -> None:
    owned = {id(t.buffer) for t in model.tensors() if t.buffer is not None}
    owned.update(id(m.buffer) for m in model.metadata if m.buffer is not None)
    if model.metadata_buffer is not None:
        stale = [b for b in model.metadata_buffer if b is None or id(b) not in owned]
        if stale:
            kept: list[Buffer | None] = [b for b in model.metadata_buffer
                                         if b is not None and id(b) in owned]
            model.metadata_buffer = kept or None
            report.change(f"removed {len(stale)} metadata_buffer entries that point at buffers "
                          "no tensor or metadata entry uses")
    unused: list[Buffer] = [b for b in model.buffers if id(b) not in owned]
    if unused:
        model.buffers = [b for b in model.buffers if id(b) in owned]
        size = sum(b.nbytes for b in unused)
        report.change(f"removed {len(unused)} unused buffers ({size} bytes)")


def prune(model: Model) -> Model:
    """Remove dead operators and unused tensors, operator codes and buffers; returns ``model``."""
    Prune()(model)
    return model

"""Graph queries shared by several passes."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from ..errors import PassError
from ..ir import Model, Operator, OperatorCode, Subgraph, Tensor
from ..ir.opfacts import facts
from ..options import BuiltinOperator

__all__ = ["called_subgraphs", "describe", "ensure_ordered", "entry_subgraphs", "has_side_effects",
           "operator_code", "order_problem", "retarget_signatures", "sorted_operators"]

def has_side_effects(op: Operator) -> bool:
    """True when running ``op`` may matter even if nothing reads its outputs: custom, control
    flow and resource operators, and operators that have no outputs or touch variable tensors."""
    return (facts(op.type).side_effects or not op.outputs
            or any(t is not None and t.is_variable for t in (*op.inputs, *op.outputs)))


def entry_subgraphs(model: Model) -> list[Subgraph]:
    """Subgraphs whose inputs and outputs are the model's interface: the main subgraph and
    every subgraph a signature def names."""
    graphs = model.subgraphs[:1]
    for sig in model.signature_defs:
        if sig.subgraph is not None and not any(sig.subgraph is g for g in graphs):
            graphs.append(sig.subgraph)
    return graphs


def retarget_signatures(model: Model, old: Tensor, new: Tensor) -> None:
    """Make every signature def entry that names ``old`` name ``new`` instead."""
    for sig in model.signature_defs:
        for mapping in (sig.inputs, sig.outputs):
            for key, tensor in mapping.items():
                if tensor is old:
                    mapping[key] = new


def operator_code(model: Model, builtin: BuiltinOperator, version: int) -> OperatorCode:
    """The model's operator code for ``builtin`` at ``version``, or a new one."""
    for code in (*model.operator_codes, *(op.opcode for op in model.operators())):
        if code.builtin_code == builtin and code.custom_code is None and code.version == version:
            return code
    return OperatorCode(builtin, version=version)


def called_subgraphs(model: Model) -> dict[Subgraph, str]:
    """Subgraphs that operators run (control flow, CALL_ONCE, StableHLO regions, ...), each
    with a description of the first operator found running it."""
    called: dict[Subgraph, str] = {}
    for caller in model.subgraphs:
        for k, op in enumerate(caller.operators):
            for options in (op.options, op.options_2):
                for field in getattr(options, "FIELDS", ()):
                    if "subgraph" not in field.name:
                        continue
                    value = getattr(options, field.name)
                    for index in value if isinstance(value, Iterable) else (value,):
                        if isinstance(index, int) and 0 <= index < len(model.subgraphs):
                            called.setdefault(model.subgraphs[index],
                                              f"{op.opcode.name} ({describe(model, caller)}, "
                                              f"operator {k})")
    return called


def describe(model: Model, graph: Subgraph) -> str:
    return f"subgraph {next(i for i, g in enumerate(model.subgraphs) if g is graph)}"


def sorted_operators(graph: Subgraph) -> list[Operator]:
    """``graph.operators`` in stable topological order: among the operators ready to run, the
    one that comes first in ``graph.operators`` goes first. A cycle raises :class:`PassError`."""
    ops = list(graph.operators)
    position = {id(op): k for k, op in enumerate(ops)}
    waiting = [0] * len(ops)  # inputs of each operator still to be produced
    readers: dict[int, list[int]] = {}
    for k, op in enumerate(ops):
        for tensor in {id(t): t for t in op.inputs if t is not None}.values():
            producer = tensor.producer
            if producer is not None and producer is not op and id(producer) in position:
                waiting[k] += 1
                readers.setdefault(position[id(producer)], []).append(k)
    ready = [k for k in range(len(ops)) if waiting[k] == 0]
    heapq.heapify(ready)
    order: list[Operator] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(ops[k])
        for reader in readers.get(k, ()):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) != len(ops):
        stuck = [repr(ops[k]) for k in range(len(ops)) if waiting[k]]
        raise PassError(f"subgraph {graph.name!r} has a cycle through {', '.join(stuck[:3])}")
    return order


def order_problem(graph: Subgraph) -> str | None:
    """The first place where ``graph.operators`` is not in topological order (an operator that
    reads a tensor before the operator producing it has run), or None when it is."""
    position = {id(op): k for k, op in enumerate(graph.operators)}
    for k, op in enumerate(graph.operators):
        for tensor in filter(None, op.inputs):
            producer = tensor.producer
            if producer is not None and position.get(id(producer), -1) > k:
                return (f"operator {k} ({op.opcode.name}) reads {tensor.name!r} before operator "
                        f"{position[id(producer)]} ({producer.opcode.name}) produces it")
    return None


def ensure_ordered(model: Model) -> None:
    """:class:`PassError` naming the subgraph and operator unless every subgraph of ``model``
    runs its operators in topological order (the ``ensures`` of the passes that reorder)."""
    for index, graph in enumerate(model.subgraphs):
        problem = order_problem(graph)
        if problem is not None:
            raise PassError(f"subgraph {index}: {problem}")

"""strip_float_io: remove the QUANTIZE and DEQUANTIZE operators that give an integer model a
float32 interface, so that it takes and returns integers.

A converter that quantizes a model but keeps float inputs and outputs puts a QUANTIZE right after
each float input and a DEQUANTIZE right before each float output::

    x (float32) -> QUANTIZE -> x_int8 -> ... -> y_int8 -> DEQUANTIZE -> y (float32)

The pass removes them: ``x_int8`` and ``y_int8`` take the places (and the names) of ``x`` and
``y`` among the subgraph's inputs and outputs and in the signature defs, so the interface keeps
its order and its names; only the types change. :mod:`.add_float_io` is the inverse.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from ..ir import Model, Operator, Subgraph, Tensor
from ..options import BuiltinOperator, TensorType
from ._graph import called_subgraphs, describe, entry_subgraphs, retarget_signatures
from ._interface import (
    called_note,
    count_of,
    describe_quantized,
    interface_problem,
    name_set,
    require_names,
    side_tensors,
)
from .base import Pass, Report
from .rule import Rule, Skip, apply_rules

__all__ = ["StripFloatIO", "strip_float_io"]


@dataclass
class StripFloatIO(Pass):
    """Remove the QUANTIZE after each float32 input and the DEQUANTIZE before each float32
    output of every entry subgraph (the main one and those signature defs name).

    ``inputs`` / ``outputs`` choose the sides; ``names`` restricts the pass to interface tensors
    with those (float) names, and a name that is not a float32 interface tensor of a chosen side
    raises :class:`PassError` (the pass's :meth:`requires`). Interface tensors that cannot be
    stripped are left alone and the reason recorded among the result's ``skipped`` messages: the
    float tensor also feeds other operators or is also an output, per-channel or missing
    quantization, an integer tensor that would become both input and output or be listed twice,
    a subgraph other operators call. Operator codes left unused stay in the model (the ``prune``
    pass removes them).
    """

    inputs: bool = True
    outputs: bool = True
    names: Collection[str] | None = None

    name = "strip_float_io"

    def requires(self, model: Model) -> None:
        require_names(self.names, entry_subgraphs(model), self.inputs, self.outputs,
                      _is_float, "float32")

    def run(self, model: Model, report: Report) -> None:
        apply_rules(model, [Rule(self._match, _rewrite)], report)

    def _match(self, model: Model) -> Iterator[_Strip | Skip]:
        """A plan for each interface tensor to strip, a skip for each one left float32."""
        wanted = name_set(self.names)
        called = called_subgraphs(model)
        for graph in entry_subgraphs(model):
            where = describe(model, graph)
            if graph in called:
                if _float_interface(graph, self.inputs, self.outputs, wanted):
                    yield Skip(called_note(where, called[graph]))
                continue
            yield from _match_graph(graph, where, self.inputs, self.outputs, wanted)


def strip_float_io(model: Model, *, inputs: bool = True, outputs: bool = True,
                   names: Collection[str] | None = None) -> Model:
    """Give ``model`` an integer interface (see :class:`StripFloatIO`); returns ``model``."""
    StripFloatIO(inputs, outputs, names)(model)
    return model


# ------------------------------------------------------------------------------------------------
# planning: what would be removed, or why not
# ------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Strip:
    """One QUANTIZE / DEQUANTIZE to remove: ``inner`` replaces ``outer`` at ``position``."""

    graph: Subgraph
    where: str  # "subgraph 0"
    side: str  # "input" or "output"
    position: int
    outer: Tensor  # the float tensor that leaves
    inner: Tensor  # the integer tensor that takes its place
    op: Operator

    def describe(self) -> str:
        return f"{self.side} {self.position} {self.outer.name!r}"


def _match_graph(graph: Subgraph, where: str, inputs: bool, outputs: bool,
                 wanted: set[str] | None) -> Iterator[_Strip | Skip]:
    plans: list[_Strip] = []
    for side, enabled, planner in (("input", inputs, _plan_input),
                                   ("output", outputs, _plan_output)):
        if not enabled:
            continue
        for position, tensor in enumerate(side_tensors(graph, side)):
            if not _is_float(tensor) or (wanted is not None and tensor.name not in wanted):
                continue
            plan = planner(graph, where, position, tensor)
            if isinstance(plan, str):
                yield Skip(f"{where}: {side} {position} {tensor.name!r} left float32: {plan}")
            else:
                plans.append(plan)
    conflicts = _conflicts(plans)
    for plan, reason in conflicts.items():
        yield Skip(f"{where}: {plan.describe()} left float32: {reason}")
    yield from (plan for plan in plans if plan not in conflicts)


def _plan_input(graph: Subgraph, where: str, position: int,
                tensor: Tensor) -> _Strip | str:
    readers = tensor.consumers
    if not readers:
        return "no operator reads it"
    if not any(op.type == BuiltinOperator.QUANTIZE for op in readers):
        return f"it is read by {_names(readers)}, not by a QUANTIZE"
    if len(tensor.uses) > 1:
        op = next(op for op in readers if op.type == BuiltinOperator.QUANTIZE)
        others = [user for user, _ in tensor.uses]
        others.remove(op)
        return f"besides its QUANTIZE, {_names(others)} also read{'s' * (len(others) == 1)} it"
    op = readers[0]
    if count_of(graph.inputs, tensor) > 1:
        return "it is listed more than once among the inputs"
    if count_of(graph.outputs, tensor):
        return "it is also a subgraph output"
    if len(op.outputs) != 1 or len(op.inputs) != 1:
        return f"its QUANTIZE has {len(op.inputs)} inputs and {len(op.outputs)} outputs"
    inner = op.outputs[0]
    problem = interface_problem(inner)
    if problem is not None:
        return f"its QUANTIZE produces {inner.name!r}, which {problem}"
    if count_of(graph.outputs, inner):
        return (f"the integer tensor {inner.name!r} is also a subgraph output: it would be both "
                "input and output")
    return _Strip(graph, where, "input", position, tensor, inner, op)


def _plan_output(graph: Subgraph, where: str, position: int,
                 tensor: Tensor) -> _Strip | str:
    op = tensor.producer
    if op is None:
        return "no operator produces it"
    if op.type != BuiltinOperator.DEQUANTIZE:
        return f"it is produced by {op.opcode.name}, not by a DEQUANTIZE"
    if tensor.uses:
        return f"it is also read by {_names(tensor.consumers)}"
    if count_of(graph.outputs, tensor) > 1:
        return "it is listed more than once among the outputs"
    if len(op.outputs) != 1 or len(op.inputs) != 1 or op.inputs[0] is None:
        return f"its DEQUANTIZE has {len(op.inputs)} inputs and {len(op.outputs)} outputs"
    inner = op.inputs[0]
    problem = interface_problem(inner)
    if problem is not None:
        return f"its DEQUANTIZE reads {inner.name!r}, which {problem}"
    if inner.is_constant:
        return f"its DEQUANTIZE reads the constant {inner.name!r}"
    if count_of(graph.inputs, inner):
        return (f"the integer tensor {inner.name!r} is a subgraph input: it would be both input "
                "and output")
    if count_of(graph.outputs, inner):
        return (f"the integer tensor {inner.name!r} is already a subgraph output: it would be "
                "listed twice")
    return _Strip(graph, where, "output", position, tensor, inner, op)


def _conflicts(plans: list[_Strip]) -> dict[_Strip, str]:
    """Plans that would together list an integer tensor twice, or make one both an input and
    an output; all of them are dropped (none is preferred over another)."""
    by_inner: dict[int, list[_Strip]] = {}
    for plan in plans:
        by_inner.setdefault(id(plan.inner), []).append(plan)
    reasons: dict[_Strip, str] = {}
    for group in by_inner.values():
        if len(group) < 2:
            continue
        inner = group[0].inner.name
        sides = {plan.side for plan in group}
        others = ", ".join(plan.describe() for plan in group)
        why = ("would be both input and output" if sides == {"input", "output"}
               else "would be listed twice among the outputs")
        for plan in group:
            reasons[plan] = f"the integer tensor {inner!r} {why} ({others})"
    return reasons


def _rewrite(model: Model, plan: _Strip) -> str:
    graph = plan.graph
    graph.remove_operator(plan.op)
    side_tensors(graph, plan.side)[plan.position] = plan.inner
    graph.tensors.remove(plan.outer)
    plan.inner.name = plan.outer.name
    retarget_signatures(model, plan.outer, plan.inner)
    kind = "QUANTIZE" if plan.side == "input" else "DEQUANTIZE"
    return (f"{plan.where}: {plan.describe()}: removed its {kind}; it is now "
            f"{describe_quantized(plan.inner)}")


def _is_float(tensor: Tensor) -> bool:
    return tensor.dtype == TensorType.FLOAT32


def _float_interface(graph: Subgraph, inputs: bool, outputs: bool,
                     wanted: set[str] | None) -> bool:
    tensors = (*(graph.inputs if inputs else ()), *(graph.outputs if outputs else ()))
    return any(_is_float(t) and (wanted is None or t.name in wanted) for t in tensors)


def _names(ops: Iterable[Operator]) -> str:
    return " and ".join(op.opcode.name for op in ops)

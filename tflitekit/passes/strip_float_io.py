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

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from ..ir import Model, Operator, Subgraph, Tensor, dtypes
from ..options import BuiltinOperator, TensorType
from ._graph import called_subgraphs, describe, entry_subgraphs, retarget_signatures
from .base import Pass, PassError, Report

__all__ = ["StripFloatIO", "strip_float_io"]

INTEGER_TYPES = (TensorType.INT8, TensorType.INT16, TensorType.UINT8)
"""Integer types a float interface is quantized to (and dequantized from)."""


@dataclass
class StripFloatIO(Pass):
    """Remove the QUANTIZE after each float32 input and the DEQUANTIZE before each float32
    output of every entry subgraph (the main one and those signature defs name).

    ``inputs`` / ``outputs`` choose the sides; ``names`` restricts the pass to interface tensors
    with those (float) names, and a name that is not a float32 interface tensor of a chosen side
    raises :class:`PassError`. Interface tensors that cannot be stripped are left alone and the
    reason recorded among the result's ``skipped`` messages: the float tensor also feeds other
    operators or is also an output, per-channel or missing quantization, an integer tensor that
    would become both input and output or be listed twice, a subgraph other operators call.
    Operator codes left unused stay in the model (the ``prune`` pass removes them).
    """

    inputs: bool = True
    outputs: bool = True
    names: Collection[str] | None = None

    name = "strip_float_io"

    def run(self, model: Model, report: Report) -> None:
        graphs = entry_subgraphs(model)
        wanted = wanted_names(self.names, graphs, self.inputs, self.outputs,
                              lambda t: t.dtype == TensorType.FLOAT32, "float32",
                              self.name)
        called = called_subgraphs(model)
        for graph in graphs:
            where = describe(model, graph)
            if graph in called:
                if _float_interface(graph, self.inputs, self.outputs, wanted):
                    report.skip(f"{where}: left alone: it is also run by {called[graph]}, "
                                "whose tensors fix its interface types")
                continue
            _strip_graph(model, graph, where, self.inputs, self.outputs, wanted, report)


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

    side: str  # "input" or "output"
    position: int
    outer: Tensor  # the float tensor that leaves
    inner: Tensor  # the integer tensor that takes its place
    op: Operator

    def describe(self) -> str:
        return f"{self.side} {self.position} {self.outer.name!r}"


def _strip_graph(model: Model, graph: Subgraph, where: str, inputs: bool, outputs: bool,
                 wanted: set[str] | None, report: Report) -> None:
    plans: list[_Strip] = []
    for side, enabled, planner in (("input", inputs, _plan_input),
                                   ("output", outputs, _plan_output)):
        if not enabled:
            continue
        for position, tensor in enumerate(side_tensors(graph, side)):
            if tensor.dtype != TensorType.FLOAT32 or (wanted is not None
                                                     and tensor.name not in wanted):
                continue
            plan = planner(graph, position, tensor)
            if isinstance(plan, str):
                report.skip(f"{where}: {side} {position} {tensor.name!r} left float32: {plan}")
            else:
                plans.append(plan)
    for plan, reason in _conflicts(plans).items():
        report.skip(f"{where}: {plan.describe()} left float32: {reason}")
        plans.remove(plan)
    for plan in plans:
        _apply(model, graph, plan)
        kind = "QUANTIZE" if plan.side == "input" else "DEQUANTIZE"
        report.change(f"{where}: {plan.describe()}: removed its {kind}; it is now "
                      f"{describe_quantized(plan.inner)}")


def _plan_input(graph: Subgraph, position: int, tensor: Tensor) -> _Strip | str:
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
    return _Strip("input", position, tensor, inner, op)


def _plan_output(graph: Subgraph, position: int, tensor: Tensor) -> _Strip | str:
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
    return _Strip("output", position, tensor, inner, op)


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


def _apply(model: Model, graph: Subgraph, plan: _Strip) -> None:
    graph.remove_operator(plan.op)
    side_tensors(graph, plan.side)[plan.position] = plan.inner
    graph.tensors.remove(plan.outer)
    plan.inner.name = plan.outer.name
    retarget_signatures(model, plan.outer, plan.inner)


# ------------------------------------------------------------------------------------------------
# helpers shared with add_float_io
# ------------------------------------------------------------------------------------------------


def interface_problem(tensor: Tensor) -> str | None:
    """Why ``tensor`` cannot be an integer interface tensor, as a predicate ("has no
    quantization parameters"), or None when it can: it must be INT8, INT16 or UINT8 and
    quantized per tensor."""
    if tensor.dtype not in INTEGER_TYPES:
        return f"is {dtypes.name(tensor.dtype)}, not INT8, INT16 or UINT8"
    q = tensor.quantization
    if q is None or q.scale is None or q.scale.size == 0:
        return "has no quantization parameters"
    if q.scale.size > 1 or (q.zero_point is not None and q.zero_point.size > 1):
        return (f"is quantized per channel ({q.scale.size} scales along dimension "
                f"{q.quantized_dimension})")
    return None


def describe_quantized(tensor: Tensor) -> str:
    """``INT8 (scale 0.05, zero point -3)`` for a per-tensor quantized tensor."""
    q = tensor.quantization
    assert q is not None and q.scale is not None
    return (f"{dtypes.name(tensor.dtype)} (scale {float(q.scale[0]):.9g}, "
            f"zero point {zero_point(tensor)})")


def zero_point(tensor: Tensor) -> int:
    """The zero point of a per-tensor quantized tensor (0 when the file gives none)."""
    q = tensor.quantization
    zp = None if q is None else q.zero_point
    return 0 if zp is None or zp.size == 0 else int(zp[0])


def wanted_names(names: Collection[str] | None, graphs: Sequence[Subgraph], inputs: bool,
                 outputs: bool, eligible: Callable[[Tensor], bool], kind: str,
                 pass_name: str) -> set[str] | None:
    """``names`` as a set, after checking that each names an interface tensor of a chosen side
    for which ``eligible(tensor)`` holds; otherwise :class:`PassError`."""
    if names is None:
        return None
    wanted = {names} if isinstance(names, str) else set(names)
    sides = [side for side, enabled in (("input", inputs), ("output", outputs)) if enabled]
    found = {t.name for graph in graphs for side in sides for t in side_tensors(graph, side)
             if eligible(t)}
    missing = sorted(wanted - found, key=str)
    if missing:
        where = " or ".join(sides) or "interface tensor (neither side chosen)"
        raise PassError(f"{pass_name}: no {kind} {where} named "
                        f"{', '.join(map(repr, missing))} in an entry subgraph; there are "
                        f"{sorted(n for n in found if n is not None)}")
    return wanted


def _float_interface(graph: Subgraph, inputs: bool, outputs: bool,
                     wanted: set[str] | None) -> bool:
    tensors = (*(graph.inputs if inputs else ()), *(graph.outputs if outputs else ()))
    return any(t.dtype == TensorType.FLOAT32 and (wanted is None or t.name in wanted)
               for t in tensors)


def side_tensors(graph: Subgraph, side: str) -> list[Tensor]:
    """The subgraph's ``"input"`` or ``"output"`` tensors."""
    return graph.inputs if side == "input" else graph.outputs


def count_of(tensors: Iterable[Tensor], tensor: Tensor) -> int:
    """How many times ``tensor`` itself is in ``tensors``."""
    return sum(t is tensor for t in tensors)


def _names(ops: Iterable[Operator]) -> str:
    return " and ".join(op.opcode.name for op in ops)

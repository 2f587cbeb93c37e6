"""add_float_io: give an integer model a float32 interface, the inverse of strip_float_io.

Each quantized integer input gets a QUANTIZE in front of it and each quantized integer output a
DEQUANTIZE after it::

    x (float32) -> QUANTIZE -> x_int8 -> ... -> y_int8 -> DEQUANTIZE -> y (float32)

The new float tensors take the names and the places of the integer ones among the subgraph's
inputs and outputs and in the signature defs; the integer tensors get derived names
(``<name>_int8``, ``<name>_int16``, ``<name>_uint8``, made unique in the subgraph).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ..ir import Model, Operator, Subgraph, Tensor, dtypes
from ..ir.opfacts import facts
from ..options import BuiltinOperator, TensorType
from ._graph import (
    called_subgraphs,
    describe,
    entry_subgraphs,
    operator_code,
    retarget_signatures,
)
from ._interface import (
    INTEGER_TYPES,
    called_note,
    count_of,
    describe_quantized,
    interface_problem,
    name_set,
    require_names,
    side_tensors,
    zero_point,
)
from .base import Pass, Report

__all__ = ["AddFloatIO", "add_float_io"]



@dataclass
class AddFloatIO(Pass):
    """Put a QUANTIZE (float32 -> integer) in front of every INT8, INT16 or UINT8 input and a
    DEQUANTIZE (integer -> float32) after every such output of each entry subgraph, when the
    tensor is quantized per tensor.

    ``inputs`` / ``outputs`` choose the sides; ``names`` restricts the pass to interface tensors
    with those names, and a name that is not an INT8 / INT16 / UINT8 interface tensor of a chosen
    side raises :class:`PassError` (the pass's :meth:`requires`). Left alone, with the reason
    among the result's ``skipped`` messages: per-channel or missing quantization, a tensor that
    is both an input and an output or listed twice, a subgraph other operators call, an INT16
    output whose zero point is not 0 (LiteRT's DEQUANTIZE refuses it). The operators get the
    versions TFLite assigns (:attr:`tflitekit.ir.opfacts.OpFacts.versions`), reusing
    the model's operator codes when it has them.

    TFLite Micro has no float32 -> UINT8 QUANTIZE kernel: a model given a float input in front
    of a UINT8 one runs in LiteRT only.
    """

    inputs: bool = True
    outputs: bool = True
    names: Collection[str] | None = None

    name = "add_float_io"

    def requires(self, model: Model) -> None:
        require_names(self.names, entry_subgraphs(model), self.inputs, self.outputs,
                      lambda t: t.dtype in INTEGER_TYPES, "INT8, INT16 or UINT8")

    def run(self, model: Model, report: Report) -> None:
        wanted = name_set(self.names)
        called = called_subgraphs(model)
        for graph in entry_subgraphs(model):
            where = describe(model, graph)
            tensors = [t for side, enabled in (("input", self.inputs), ("output", self.outputs))
                       if enabled for t in side_tensors(graph, side)]
            if not any(_chosen(t, wanted) for t in tensors):
                continue
            if graph in called:
                report.skip(called_note(where, called[graph]))
                continue
            if self.inputs:
                _add_inputs(model, graph, where, wanted, report)
            if self.outputs:
                _add_outputs(model, graph, where, wanted, report)


def add_float_io(model: Model, *, inputs: bool = True, outputs: bool = True,
                 names: Collection[str] | None = None) -> Model:
    """Give ``model`` a float32 interface (see :class:`AddFloatIO`); returns ``model``."""
    AddFloatIO(inputs, outputs, names)(model)
    return model


def _chosen(tensor: Tensor, wanted: set[str] | None) -> bool:
    return tensor.dtype in INTEGER_TYPES and (wanted is None or tensor.name in wanted)


def _problem(graph: Subgraph, tensor: Tensor, side: str) -> str | None:
    problem = interface_problem(tensor)
    if problem is not None:
        return f"it {problem}"
    other = "output" if side == "input" else "input"
    if count_of(side_tensors(graph, side), tensor) > 1:
        return f"it is listed more than once among the {side}s"
    if count_of(side_tensors(graph, other), tensor):
        return "it is both a subgraph input and a subgraph output"
    if side == "output" and tensor.dtype == TensorType.INT16 and zero_point(tensor) != 0:
        return (f"it is INT16 with zero point {zero_point(tensor)}, and LiteRT's DEQUANTIZE "
                "takes INT16 only with zero point 0")
    return None


def _add_inputs(model: Model, graph: Subgraph, where: str, wanted: set[str] | None,
                report: Report) -> None:
    front = 0  # QUANTIZE operators go first, in input order
    for position, tensor in enumerate(list(graph.inputs)):
        if not _chosen(tensor, wanted):
            continue
        problem = _problem(graph, tensor, "input")
        if problem is not None:
            report.skip(f"{where}: input {position} {tensor.name!r} left integer: {problem}")
            continue
        outer = _float_twin(graph, tensor)
        code = operator_code(model, BuiltinOperator.QUANTIZE,
                             facts(BuiltinOperator.QUANTIZE).versions[tensor.dtype])
        before = graph.operators[front] if front < len(graph.operators) else None
        graph.add_operator(Operator(code, [outer], [tensor]), before=before)
        front += 1
        graph.inputs[position] = outer
        retarget_signatures(model, tensor, outer)
        report.change(f"{where}: input {position} {outer.name!r}: added a QUANTIZE (version "
                      f"{code.version}) from float32 to {tensor.name!r}, "
                      f"{describe_quantized(tensor)}")


def _add_outputs(model: Model, graph: Subgraph, where: str, wanted: set[str] | None,
                 report: Report) -> None:
    for position, tensor in enumerate(list(graph.outputs)):
        if not _chosen(tensor, wanted):
            continue
        problem = _problem(graph, tensor, "output")
        if problem is not None:
            report.skip(f"{where}: output {position} {tensor.name!r} left integer: {problem}")
            continue
        outer = _float_twin(graph, tensor)
        code = operator_code(model, BuiltinOperator.DEQUANTIZE,
                             facts(BuiltinOperator.DEQUANTIZE).versions[tensor.dtype])
        graph.add_operator(Operator(code, [tensor], [outer]))
        graph.outputs[position] = outer
        retarget_signatures(model, tensor, outer)
        report.change(f"{where}: output {position} {outer.name!r}: added a DEQUANTIZE (version "
                      f"{code.version}) to float32 from {tensor.name!r}, "
                      f"{describe_quantized(tensor)}")


def _float_twin(graph: Subgraph, tensor: Tensor) -> Tensor:
    """A new float32 tensor of ``graph`` with ``tensor``'s name, shape and shape signature;
    ``tensor`` is renamed ``<name>_<type>`` (made unique)."""
    name = tensor.name
    if name is not None:
        taken = {t.name for t in graph.tensors}
        base = f"{name}_{dtypes.name(tensor.dtype).lower()}"
        derived, n = base, 0
        while derived in taken:
            n += 1
            derived = f"{base}_{n}"
        tensor.name = derived
    return graph.add_tensor(Tensor(name, tensor.shape, TensorType.FLOAT32,
                                   shape_signature=tensor.shape_signature,
                                   has_rank=tensor.has_rank))

"""expose_intermediates: make every tensor the main subgraph computes one of its outputs, so
that a runtime that only returns outputs (TFLite Micro without tensor preservation, xmos' host
interpreter, a converter that renames inner tensors) shows them all."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Model, Tensor
from .base import Pass, Report

__all__ = ["ExposeIntermediates", "expose_intermediates"]


@dataclass
class ExposeIntermediates(Pass):
    """Append to the main subgraph's outputs, in execution order, every operator output that
    holds no constant data, has a shape and is not an output yet; signature defs of the main
    subgraph list them too (by tensor name), as converters expect outputs and signatures to
    agree. Converters keep the names of outputs, so the exposed tensors can be matched by name
    after a conversion. A tensor without a shape (a scalar some converters cannot return) is
    left alone and reported."""

    name = "expose_intermediates"

    def run(self, model: Model, report: Report) -> None:
        graph = model.main
        present = {id(t) for t in graph.outputs}
        added: list[Tensor] = []
        shapeless: list[Tensor] = []
        for op in graph.operators:
            for t in op.outputs:
                if t is None or t.is_constant or id(t) in present:
                    continue
                present.add(id(t))
                (added if t.shape is not None else shapeless).append(t)
        if shapeless:
            report.skip(f"left {len(shapeless)} tensors without a shape alone: "
                        + ", ".join(repr(t.name) for t in shapeless))
        if not added:
            return
        graph.outputs = [*graph.outputs, *added]
        report.change(f"made {len(added)} intermediate tensors outputs")
        for signature in model.signature_defs:
            if signature.subgraph is graph:
                for t in added:
                    key = t.name or f"tensor_{graph.tensors.index(t)}"
                    while key in signature.outputs:
                        key += "_"
                    signature.outputs[key] = t


def expose_intermediates(model: Model) -> Model:
    """Make every computed tensor of the main subgraph an output; returns ``model``."""
    ExposeIntermediates()(model)
    return model

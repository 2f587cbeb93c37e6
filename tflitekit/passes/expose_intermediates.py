"""expose_intermediates: make every tensor the main subgraph computes one of its outputs, so
that a runtime that only returns outputs (TFLite Micro without tensor preservation, xmos' host
interpreter, a converter that renames inner tensors) shows them all."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Model
from .base import Pass, Report

__all__ = ["ExposeIntermediates", "expose_intermediates"]


@dataclass
class ExposeIntermediates(Pass):
    """Append to the main subgraph's outputs, in execution order, every operator output that
    holds no constant data and is not an output yet. Converters keep the names of outputs, so
    the exposed tensors can be matched by name after a conversion."""

    name = "expose_intermediates"

    def run(self, model: Model, report: Report) -> None:
        graph = model.main
        present = {id(t) for t in graph.outputs}
        added = []
        for op in graph.operators:
            for t in op.outputs:
                if t is not None and not t.is_constant and id(t) not in present:
                    present.add(id(t))
                    added.append(t)
        if added:
            graph.outputs = [*graph.outputs, *added]
            report.change(f"made {len(added)} intermediate tensors outputs")


def expose_intermediates(model: Model) -> Model:
    """Make every computed tensor of the main subgraph an output; returns ``model``."""
    ExposeIntermediates()(model)
    return model

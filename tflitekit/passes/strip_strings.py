"""strip_strings: drop the model description and subgraph and tensor names, as TensorFlow's
``flatbuffer_utils.strip_strings`` does, to save flash on a device."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Model
from .base import Pass, Report

__all__ = ["StripStrings", "strip_strings"]


@dataclass
class StripStrings(Pass):
    """Remove the model description, subgraph names and tensor names.

    Unlike TensorFlow's version, signature defs are kept: they refer to tensors by reference
    (an index in the file), not by name, so they stay valid and runtimes can still call
    signatures by their names. With ``keep_io_names`` the names of subgraph inputs
    and outputs are kept too. Operator custom codes and metadata names are never touched.
    """

    name = "strip_strings"
    keep_io_names: bool = False

    def run(self, model: Model, report: Report) -> None:
        if model.description is not None:
            model.description = None
            report.change("removed the model description")
        for index, graph in enumerate(model.subgraphs):
            if graph.name is not None:
                graph.name = None
                report.change(f"subgraph {index}: removed its name")
            kept = {id(t) for t in (*graph.inputs, *graph.outputs)} if self.keep_io_names else set()
            named = [t for t in graph.tensors if t.name is not None and id(t) not in kept]
            for tensor in named:
                tensor.name = None
            if named:
                report.change(f"subgraph {index}: removed the names of {len(named)} tensors")


def strip_strings(model: Model, *, keep_io_names: bool = False) -> Model:
    """Remove the description and subgraph and tensor names; returns ``model``."""
    StripStrings(keep_io_names)(model)
    return model

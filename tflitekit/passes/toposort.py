"""topological_sort: order each subgraph's operators so that every tensor is produced before
it is read, moving as little as possible."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Model
from ._graph import ensure_ordered, sorted_operators
from .base import Pass, Report

__all__ = ["TopologicalSort", "topological_sort"]


@dataclass
class TopologicalSort(Pass):
    """Stable topological order: among the operators ready to run, the one that came first in
    the old order goes first, so an already sorted subgraph is left exactly as it was.
    A cycle raises :class:`PassError`. Ensures that every operator comes after the producers
    of its inputs."""

    name = "topological_sort"

    def ensures(self, model: Model) -> None:
        ensure_ordered(model)

    def run(self, model: Model, report: Report) -> None:
        for index, graph in enumerate(model.subgraphs):
            order = sorted_operators(graph)
            moved = sum(a is not b for a, b in zip(order, graph.operators, strict=True))
            if moved:
                graph.operators[:] = order
                report.change(f"subgraph {index}: reordered {moved} operators")


def topological_sort(model: Model) -> Model:
    """Sort every subgraph's operators topologically (stable); returns ``model``."""
    TopologicalSort()(model)
    return model

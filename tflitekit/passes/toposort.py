"""topological_sort: order each subgraph's operators so that every tensor is produced before
it is read, moving as little as possible."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from ..ir import Model, Operator, Subgraph
from .base import Pass, PassError, Report

__all__ = ["TopologicalSort", "topological_sort"]


@dataclass
class TopologicalSort(Pass):
    """Stable topological order: among the operators ready to run, the one that came first in
    the old order goes first, so an already sorted subgraph is left exactly as it was.
    A cycle raises :class:`PassError`."""

    name = "topological_sort"

    def run(self, model: Model, report: Report) -> None:
        for index, graph in enumerate(model.subgraphs):
            order = sorted_operators(graph)
            moved = sum(a is not b for a, b in zip(order, graph.operators, strict=True))
            if moved:
                graph.operators[:] = order
                report.change(f"subgraph {index}: reordered {moved} operators")


def sorted_operators(graph: Subgraph) -> list[Operator]:
    """``graph.operators`` in stable topological order."""
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


def topological_sort(model: Model) -> Model:
    """Sort every subgraph's operators topologically (stable); returns ``model``."""
    TopologicalSort()(model)
    return model

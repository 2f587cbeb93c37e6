"""reorder_for_memory: run each subgraph's operators in the order that needs the smallest
TFLite Micro arena head (:func:`tflitekit.analysis.reorder.best_order`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.memory import OFFLINE_METADATA
from ..analysis.reorder import best_order
from ..ir import Model
from ._graph import ensure_ordered
from .base import Pass, PassError, Report

__all__ = ["ReorderForMemory", "reorder_for_memory"]


@dataclass
class ReorderForMemory(Pass):
    """Reorder the operators of every subgraph, in turn, when a valid order lowers the arena
    head TFLite Micro's GreedyMemoryPlanner allocates; outputs stay the same (only the order of
    independent operators changes; operators with side effects keep theirs). ``max_states``
    and ``time_limit`` bound each search (see :func:`~tflitekit.analysis.reorder.best_order`).
    Refuses models with an offline memory plan, whose offsets hold for their own order only."""

    max_states: int = 2000
    time_limit: float | None = 10.0
    name = "reorder_for_memory"

    def requires(self, model: Model) -> None:
        if model.get_metadata(OFFLINE_METADATA) is not None:
            raise PassError(f"the model carries an offline memory plan ({OFFLINE_METADATA}) "
                            "for its own operator order")

    def ensures(self, model: Model) -> None:
        ensure_ordered(model)

    def run(self, model: Model, report: Report) -> None:
        for index, graph in enumerate(model.subgraphs):
            if len(graph.operators) < 2:
                continue
            found = best_order(model, subgraph=index, max_states=self.max_states,
                               time_limit=self.time_limit)
            how = "the lowest" if found.exact else "the lowest found"
            if not found.changed:
                report.skip(f"subgraph {index}: its order already has {how} arena head "
                            f"({found.head_before} bytes)")
                continue
            ops = list(graph.operators)
            graph.operators[:] = [ops[k] for k in found.order]
            moved = sum(k != position for position, k in enumerate(found.order))
            report.change(f"subgraph {index}: reordered {moved} operators; arena head "
                          f"{found.head_before} -> {found.head_after} bytes "
                          f"(peak live {found.peak_before} -> {found.peak_after} bytes)")


def reorder_for_memory(model: Model) -> Model:
    """Reorder every subgraph's operators for the smallest TFLite Micro arena head; returns
    ``model``."""
    ReorderForMemory()(model)
    return model

"""A memory-minimising operator order (the idea of eliberis/tflite-tools, arXiv 1910.05110).

Any topological order of a subgraph computes the same outputs, but tensors live for different
spans, so the arena needed differs. The search runs over sets of executed operators: every
valid order is a path from the empty set to the full one, adding one ready operator at a time,
and the bytes alive while an operator runs depend only on the set executed before it. Dynamic
programming, layer by layer (sets of equal size), keeps for each set the order reaching it with
the lowest peak so far; sets whose peak already exceeds the model's own order are dropped.
That is exact. When a layer holds more than ``max_states`` sets, only the best of them are kept
(a beam search), and past ``time_limit`` seconds one (a greedy order): the result is then a
heuristic, and says so.

The objective is the peak of the live set with TFLite Micro's sizes (each buffer rounded up to
16 bytes, scratch buffers included) over the scopes of the subgraph: a lower bound of the head
of any plan for that order. The order returned is the one among the search's best and the
model's own with the lowest head of TFLite Micro's GreedyMemoryPlanner (:func:`.memory`), so
it never raises the head; :attr:`Reordering.exact` says whether its live-set peak is proven the
lowest of all valid orders.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..ir import Model, Operator, Subgraph, Tensor
from ..ir.opfacts import facts
from ..serde.numbering import Numbering
from .memory import OFFLINE_METADATA, Memory, memory, subgraphs_run_by

__all__ = ["Reordering", "best_order"]


@dataclass(frozen=True)
class Reordering:
    """The best order found for ``subgraph``: ``order`` lists its operator indices in the new
    execution order. Heads are TFLite Micro's (GreedyMemoryPlanner), peaks the most bytes alive
    at once (unaligned, as :attr:`Memory.peak_live_bytes`), before and after. ``exact``: the
    aligned live-set peak of ``order`` is proven minimal over all valid orders. ``states``:
    sets of executed operators the search visited."""

    subgraph: int
    order: tuple[int, ...]
    head_before: int
    head_after: int
    peak_before: int
    peak_after: int
    exact: bool
    states: int

    @property
    def saving(self) -> int:
        """Bytes of arena head the order saves."""
        return self.head_before - self.head_after

    @property
    def changed(self) -> bool:
        return self.order != tuple(range(len(self.order)))

    def to_json(self) -> dict[str, Any]:
        return {"subgraph": self.subgraph, "order": list(self.order),
                "head_before": self.head_before, "head_after": self.head_after,
                "saving": self.saving, "peak_before": self.peak_before,
                "peak_after": self.peak_after, "exact": self.exact, "states": self.states}


class _Problem:
    """A subgraph as bit masks over its operators, with the aligned bytes of each planned
    tensor and each operator's scratch buffers (from :func:`memory`)."""

    def __init__(self, model: Model, subgraph: int, baseline: Memory) -> None:
        graph = model.subgraphs[subgraph]
        ops = list(graph.operators)
        self.n = len(ops)
        position = {id(op): k for k, op in enumerate(ops)}
        files = Numbering(model).tensors(graph)
        sizes: dict[int, int] = {}
        self.scratch = [0] * self.n
        for a in baseline.allocations:
            if a.subgraph != subgraph:
                continue
            if a.operator is not None:
                self.scratch[a.operator] += a.aligned_bytes
            elif a.tensor is not None:
                sizes[id(files[a.tensor])] = a.aligned_bytes
        outputs = {id(t) for t in graph.outputs}
        self.size: list[int] = []
        self.kept: list[bool] = []  # graph outputs: alive to the end
        self.consumers: list[int] = []
        tensor_ids: dict[int, int] = {}
        for t in self._planned(graph, sizes):
            tensor_ids[id(t)] = len(self.size)
            self.size.append(sizes[id(t)])
            self.kept.append(id(t) in outputs)
            self.consumers.append(sum(1 << position[id(op)] for op in t.consumers
                                      if id(op) in position))
        self.inputs = [sorted({tensor_ids[id(t)] for t in op.inputs
                               if t is not None and id(t) in tensor_ids}) for op in ops]
        self.outputs = [sorted({tensor_ids[id(t)] for t in op.outputs if id(t) in tensor_ids})
                        for op in ops]
        self.after = self._dependencies(ops, position)
        self.successors = [sum(1 << j for j in range(self.n) if self.after[j] >> k & 1)
                           for k in range(self.n)]
        self.ready0 = sum(1 << k for k in range(self.n) if not self.after[k])
        self.nested = any(subgraphs_run_by(model, op) for op in ops)
        produced = {t for out in self.outputs for t in out}
        unproduced = [t for t in range(len(self.size)) if t not in produced]
        self.resident0 = sum(self.size[t] for t in unproduced
                             if self.kept[t] or self.consumers[t])
        self.scope0 = sum(self.size[tensor_ids[id(t)]] for t in graph.inputs
                          if id(t) in tensor_ids)

    @staticmethod
    def _planned(graph: Subgraph, sizes: dict[int, int]) -> Iterator[Tensor]:
        seen: set[int] = set()
        for t in (*graph.inputs, *(u for op in graph.operators
                                   for u in (*op.inputs, *op.outputs))):
            if t is not None and id(t) in sizes and id(t) not in seen:
                seen.add(id(t))
                yield t

    @staticmethod
    def _dependencies(ops: list[Operator], position: dict[int, int]) -> list[int]:
        """Per operator, the mask of operators that must run before it: the producers of its
        inputs, and the previous operator with side effects (their order stays)."""
        after = [0] * len(ops)
        previous = -1
        for k, op in enumerate(ops):
            for t in filter(None, op.inputs):
                producer = t.producer
                if producer is not None and producer is not op and id(producer) in position:
                    after[k] |= 1 << position[id(producer)]
            if (facts(op.type).side_effects or not op.outputs
                    or any(t is not None and t.is_variable for t in (*op.inputs, *op.outputs))):
                if previous >= 0:
                    after[k] |= 1 << previous
                previous = k
        return after

    def running(self, resident: int, k: int) -> int:
        """Bytes alive while operator ``k`` runs, ``resident`` being alive before it."""
        return resident + sum(self.size[t] for t in self.outputs[k]) + self.scratch[k]

    def resident_after(self, done: int, resident: int, k: int) -> int:
        """Bytes alive after operator ``k`` ran, ``done`` (which includes ``k``) having run."""
        for t in self.outputs[k]:
            if self.kept[t] or self.consumers[t]:
                resident += self.size[t]
        for t in self.inputs[k]:
            if not self.kept[t] and not self.consumers[t] & ~done:
                resident -= self.size[t]
        return resident

    def ready_after(self, done: int, ready: int, k: int) -> int:
        """Operators ready once ``done`` (which includes ``k``, ready before) has run."""
        ready &= ~(1 << k)
        for j in _bits(self.successors[k]):
            if not self.after[j] & ~done:
                ready |= 1 << j
        return ready

    def peak(self, order: list[int]) -> int:
        """The aligned live-set peak of ``order``."""
        peak, resident, done = self.scope0, self.resident0, 0
        for k in order:
            peak = max(peak, self.running(resident, k))
            done |= 1 << k
            resident = self.resident_after(done, resident, k)
        return peak

    def lower_bound(self) -> int:
        """No order runs an operator with less than its own operands and scratch alive."""
        own = (sum(self.size[t] for t in {*self.inputs[k], *self.outputs[k]}) + self.scratch[k]
               for k in range(self.n))
        return max(self.scope0, *own)


def _bits(mask: int) -> Iterator[int]:
    """Indices of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class _Search:
    """Layered dynamic programming over executed sets (see the module)."""

    def __init__(self, problem: _Problem, bound: int, max_states: int,
                 time_limit: float | None) -> None:
        self.p, self.bound, self.max_states = problem, bound, max_states
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        self.exact = True
        self.states = 0

    def run(self) -> tuple[int, list[int]] | None:
        """The lowest peak and an order reaching it; None when every state kept exceeded the
        bound (possible only once the search is inexact)."""
        p = self.p
        # state -> (peak so far, resident bytes, mask of ready operators)
        layer: dict[int, tuple[int, int, int]] = {0: (p.scope0, p.resident0, p.ready0)}
        parents: list[dict[int, tuple[int, int]]] = []  # per layer: state -> (parent, operator)
        for _ in range(p.n):
            following: dict[int, tuple[int, int, int]] = {}
            links: dict[int, tuple[int, int]] = {}
            for done, (peak, resident, ready) in layer.items():
                for k in _bits(ready):
                    cost = max(peak, p.running(resident, k))
                    state = done | 1 << k
                    known = following.get(state)
                    if cost > self.bound or (known is not None and known[0] <= cost):
                        continue
                    following[state] = (cost, p.resident_after(state, resident, k),
                                        p.ready_after(state, ready, k))
                    links[state] = (done, k)
            self.states += len(following)
            if not following:
                return None
            layer = self._trimmed(following)
            parents.append(links)
        ((final, (peak, _, _)),) = layer.items()
        order: list[int] = []
        for links in reversed(parents):
            final, k = links[final]
            order.append(k)
        return peak, order[::-1]

    def _trimmed(self, layer: dict[int, tuple[int, int, int]]
                 ) -> dict[int, tuple[int, int, int]]:
        """The layer, or its best states when it is too large or time is up (inexact)."""
        width = self.max_states
        if self.deadline is not None and time.monotonic() > self.deadline:
            width = 1
        if len(layer) <= width:
            return layer
        self.exact = False
        best = sorted(layer.items(), key=lambda item: item[1])[:width]
        return dict(best)


def best_order(model: Model, *, subgraph: int = 0, max_states: int = 2000,
               time_limit: float | None = 10.0, target: str = "host") -> Reordering:
    """The operator order of ``subgraph`` with the lowest arena head found (see the module).

    ``max_states`` bounds the executed sets kept per layer of the search (beyond it the
    search is a beam search, inexact); past ``time_limit`` seconds it finishes greedily.
    Models with an ``OfflineMemoryAllocation`` plan are refused (:class:`UsageError`): its
    offsets hold for the model's own order only.
    """
    if model.get_metadata(OFFLINE_METADATA) is not None:
        raise UsageError(f"the model carries an offline memory plan ({OFFLINE_METADATA}) made "
                         "for its own operator order; reordering would invalidate it")
    if max_states < 1:
        raise UsageError("max_states must be at least 1")
    before = memory(model, subgraph=subgraph, target=target)
    problem = _Problem(model, subgraph, before)
    own = list(range(problem.n))
    bound = problem.peak(own)
    search = _Search(problem, bound, max_states, time_limit)
    found = None if bound == problem.lower_bound() else search.run()
    best, after = own, before
    if found is not None and found[1] != own:
        candidate = memory(model, found[1], subgraph=subgraph, target=target)
        if (candidate.arena_head_bytes, found[0]) < (before.arena_head_bytes, bound):
            best, after = found[1], candidate
    exact = search.exact and not problem.nested
    if found is not None and best is own and found[0] < bound:
        exact = False  # the proven best peak is not the order kept (its head was no lower)
    return Reordering(subgraph, tuple(best), before.arena_head_bytes, after.arena_head_bytes,
                      before.peak_live_bytes, after.peak_live_bytes, exact, search.states)

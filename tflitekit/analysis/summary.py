"""Does it fit, and how fast will it run: a model's layers with their MACs and OPs, its ROM,
and its RAM under TensorFlow Lite Micro, in one result (``tflitekit summary``).

RAM comes as a best and a worst case for the chosen build, both the whole arena (planned head
plus persistent tail): the best case is what TFLite Micro allocates, its GreedyMemoryPlanner
reusing memory between activations of the model's own operator order; the worst case gives
every planned buffer its own space, as its LinearMemoryPlanner would (the sum of the buffers'
16-byte aligned sizes), with the same tail. An application that picks the LinearMemoryPlanner
also keeps that planner object (about 8 KiB, a fixed table of offsets) in the tail instead of
the greedy one. The arena of the operator order :func:`.reorder.best_order` finds is given too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..ir import Model
from .arena import Arena, arena
from .layers import Layer, layers
from .memory import OFFLINE_METADATA, TARGETS, Memory, Target, check_target, memory
from .reorder import Reordering, best_order
from .rom import Rom, rom

__all__ = ["Summary", "summary"]


@dataclass(frozen=True)
class Summary:
    """Per-layer rows of the main subgraph, totals, ROM and RAM.

    ``memory`` is the activation memory of the model's own operator order (no reuse, peak live
    set, TFLite Micro's planned arena head); ``arenas`` the whole arena (head plus persistent
    tail) for each build :mod:`.arena` models: the 64-bit host build of the ``tflite-micro``
    Python runtime (``"host"``, checked against it) and a 32-bit microcontroller build
    (``"target32"``, a model). ``target`` names the one the headline ``arena_total_bytes``
    figure is for, and the best and worst cases (see the module). ``no_reuse_head_bytes``: the
    head with every planned buffer in its own space, on ``target``. ``reordering``: the best
    operator order of the main subgraph on ``target`` and ``best_order_arena`` the whole arena
    with it; both None for a model with an offline memory plan, which fixes its order.
    """

    file: str | None
    layers: tuple[Layer, ...]
    rom: Rom
    memory: Memory
    arenas: tuple[Arena, ...]
    target: Target
    no_reuse_head_bytes: int
    reordering: Reordering | None
    best_order_arena: Arena | None

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_ops(self) -> int:
        return sum(layer.ops for layer in self.layers)

    @property
    def arena(self) -> Arena:
        """The arena of :attr:`target`."""
        return next(a for a in self.arenas if a.target == self.target)

    @property
    def ram_best_bytes(self) -> int:
        """The arena TFLite Micro allocates on :attr:`target` (greedy plan, this order)."""
        return self.arena.total_bytes

    @property
    def ram_worst_bytes(self) -> int:
        """The arena on :attr:`target` with no reuse: every planned buffer in its own space."""
        return self.no_reuse_head_bytes + self.arena.tail_bytes

    def to_json(self) -> dict[str, Any]:
        m = self.memory
        best = self.best_order_arena
        return {
            "file": self.file, "total_macs": self.total_macs, "total_ops": self.total_ops,
            "rom": self.rom.to_json(),
            "ram": {"no_reuse_bytes": m.no_reuse_bytes, "peak_live_bytes": m.peak_live_bytes,
                    "arena_head_bytes": m.arena_head_bytes,
                    "arena_total_bytes": self.arena.total_bytes, "arena_target": self.target,
                    "arenas": {a.target: {"head_bytes": a.head_bytes, "tail_bytes": a.tail_bytes,
                                          "total_bytes": a.total_bytes} for a in self.arenas},
                    "best_case_bytes": self.ram_best_bytes,
                    "worst_case_bytes": self.ram_worst_bytes,
                    "no_reuse_head_bytes": self.no_reuse_head_bytes,
                    "best_order": None if self.reordering is None or best is None else {
                        **self.reordering.to_json(), "arena_total_bytes": best.total_bytes}},
            "layers": [layer.to_json() for layer in self.layers],
        }


def summary(model: Model, path: str | os.PathLike[str] | None = None, *,
            target: Target = "host") -> Summary:
    """Summarise ``model`` (``path``: the file it was loaded from, for its size). ``target``
    chooses the build whose arena total is the headline figure and whose best and worst cases
    are given; both arenas are computed. The order search has :func:`.reorder.best_order`'s
    bounds (milliseconds on the corpus, at most its time limit)."""
    check_target(target)
    plans = {t: memory(model, target=t) for t in TARGETS}  # each build's plan, once
    arenas = tuple(arena(model, t, head=plans[t].arena_head_bytes) for t in TARGETS)
    own = next(a for a in arenas if a.target == target)
    reordering, best_arena = None, None
    if model.get_metadata(OFFLINE_METADATA) is None:  # an offline plan fixes the order
        reordering = best_order(model, target=target)
        best_arena = _reordered_arena(model, reordering, target) if reordering.changed else own
    return Summary(
        file=None if path is None else os.fspath(path),
        layers=layers(model),
        rom=rom(model, path),
        memory=plans["host"],
        arenas=arenas,
        target=target,
        no_reuse_head_bytes=sum(a.aligned_bytes for a in plans[target].allocations),
        reordering=reordering,
        best_order_arena=best_arena,
    )


def _reordered_arena(model: Model, found: Reordering, target: Target) -> Arena:
    """The arena on ``target`` of ``model`` with its subgraph run in ``found.order``."""
    reordered = model.copy()
    graph = reordered.subgraphs[found.subgraph]
    ops = list(graph.operators)
    graph.operators[:] = [ops[k] for k in found.order]
    return arena(reordered, target)

"""Does it fit, and how fast will it run: a model's layers with their MACs and OPs, its ROM,
and its RAM under TensorFlow Lite Micro, in one result (``tflitekit summary``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..ir import Model
from .arena import Arena, arena
from .layers import Layer, layers
from .memory import TARGETS, Memory, Target, check_target, memory
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
    figure is for.
    """

    file: str | None
    layers: tuple[Layer, ...]
    rom: Rom
    memory: Memory
    arenas: tuple[Arena, ...]
    target: Target

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

    def to_json(self) -> dict[str, Any]:
        m = self.memory
        return {
            "file": self.file, "total_macs": self.total_macs, "total_ops": self.total_ops,
            "rom": self.rom.to_json(),
            "ram": {"no_reuse_bytes": m.no_reuse_bytes, "peak_live_bytes": m.peak_live_bytes,
                    "arena_head_bytes": m.arena_head_bytes,
                    "arena_total_bytes": self.arena.total_bytes, "arena_target": self.target,
                    "arenas": {a.target: {"head_bytes": a.head_bytes, "tail_bytes": a.tail_bytes,
                                          "total_bytes": a.total_bytes} for a in self.arenas}},
            "layers": [layer.to_json() for layer in self.layers],
        }


def summary(model: Model, path: str | os.PathLike[str] | None = None, *,
            target: Target = "host") -> Summary:
    """Summarise ``model`` (``path``: the file it was loaded from, for its size). ``target``
    chooses the build whose arena total is the headline figure; both are computed."""
    check_target(target)
    planned = memory(model)
    return Summary(
        file=None if path is None else os.fspath(path),
        layers=layers(model),
        rom=rom(model, path),
        memory=planned,
        arenas=tuple(arena(model, t) for t in TARGETS),
        target=target,
    )

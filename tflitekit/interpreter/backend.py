"""Backends and placement: which backend runs each operator, and why the others declined.

A :class:`Backend` offers a prepared kernel for a node or declines with a reason (by raising
:class:`~tflitekit.UnsupportedOperatorError`). The interpreter asks its backends in order and
takes the first offer; the :class:`Plan` records every decision, so a user can print it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnsupportedOperatorError
from .kernel import Kernel
from .node import Array, Node

__all__ = ["Backend", "Placement", "Plan", "Prepared", "ReferenceBackend"]


@dataclass(frozen=True)
class Prepared:
    """A kernel with the parameters its ``prepare`` computed for one node."""

    kernel: Kernel
    params: Any

    def __call__(self, arrays: Sequence[Array | None]) -> list[Array]:
        return self.kernel.run(self.params, arrays)


class Backend(ABC):
    """Something that can run some operators."""

    name: str

    @abstractmethod
    def prepare(self, node: Node) -> Prepared:
        """A prepared kernel for ``node``; raises UnsupportedOperatorError saying why not."""


class ReferenceBackend(Backend):
    """TFLite Micro's reference kernels, transcribed to vectorised numpy
    (:data:`tflitekit.interpreter.kernels.KERNELS`), and its custom operators' kernels by custom
    code (:data:`~tflitekit.interpreter.kernels.CUSTOM_KERNELS`)."""

    name = "reference"

    def __init__(self, kernels: Mapping[Any, Kernel] | None = None,
                 custom: Mapping[str, Kernel] | None = None) -> None:
        self._default = kernels is None and custom is None
        from .kernels import CUSTOM_KERNELS, KERNELS
        self.kernels = KERNELS if kernels is None else kernels
        self.custom = CUSTOM_KERNELS if custom is None else custom

    def __reduce__(self) -> tuple[Any, ...]:
        """The default kernels pickle by name (for process-based executors)."""
        return (ReferenceBackend, () if self._default else (dict(self.kernels),
                                                            dict(self.custom)))

    def prepare(self, node: Node) -> Prepared:
        kernel = (self.kernels.get(node.opcode) if node.custom_code is None
                  else self.custom.get(node.custom_code))
        if kernel is None:
            raise UnsupportedOperatorError(f"{node.where or node.name}: no kernel for "
                                           f"{node.name}")
        return Prepared(kernel, kernel.prepare(node))


@dataclass(frozen=True)
class Placement:
    """Where one operator runs: ``backend`` is None when every backend declined."""

    index: int
    operator: str
    backend: str | None
    declined: tuple[tuple[str, str], ...] = ()
    """(backend, reason) for each backend asked before the one that took it (or all of them)."""

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "operator": self.operator, "backend": self.backend,
                "declined": [{"backend": b, "reason": r} for b, r in self.declined]}


@dataclass(frozen=True)
class Plan:
    """The placement of every operator of the interpreted subgraph, in execution order."""

    placements: tuple[Placement, ...]
    backends: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        """How many operators each backend runs."""
        counts = dict.fromkeys(self.backends, 0)
        for p in self.placements:
            if p.backend is not None:
                counts[p.backend] = counts.get(p.backend, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"backends": list(self.backends), "counts": self.counts(),
                "placements": [p.to_json() for p in self.placements]}

    def __str__(self) -> str:
        width = max((len(p.operator) for p in self.placements), default=8)
        lines = []
        for p in self.placements:
            line = f"{p.index:>4}  {p.operator:<{width}}  {p.backend or 'UNSUPPORTED'}"
            for backend, reason in p.declined:
                line += f"\n{'':>6}{'':<{width}}  {backend} declined: {reason}"
            lines.append(line)
        totals = ", ".join(f"{n} on {b}" for b, n in self.counts().items())
        return "\n".join([*lines, f"{len(self.placements)} operators: {totals}"])

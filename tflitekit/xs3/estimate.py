"""Cycles and time from instruction counts, under a stated model of the xcore.ai pipeline.

**The model.** An xcore.ai tile runs up to 8 hardware threads (logical cores) round-robin
through a 5-stage pipeline, so each active thread issues at most one instruction every
``max(5, active threads)`` core clocks: a *thread cycle*. The estimate assumes

- one instruction per thread cycle for every instruction, vector (VPU) and scalar alike: the
  engines' ``counts`` (upper-case mnemonics, with the scalar, branch and address instructions a
  kernel reports under ``"other"``) are summed;
- no stalls (memory, channel or resource waits) and **no dual issue**: XS3 can pair some
  instructions in one thread cycle, which this model ignores, so it over-estimates code the
  compiler dual-issues;
- the kernel runs on one thread while ``threads`` threads are active on its tile (the others
  slow it down only once there are more than 5).

Core clock: xmos quotes 800 MHz for xcore.ai (:data:`XCORE_AI_MHZ`), i.e. 160 MHz per thread
with up to 5 threads; slower speed grades exist, pass their clock. So one instruction costs
6.25 ns with 1 to 5 active threads and 10 ns with 8, at 800 MHz.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

__all__ = ["PIPELINE_STAGES", "XCORE_AI_MHZ", "XCORE_AI_THREADS", "CycleModel", "Estimate",
           "estimate"]

PIPELINE_STAGES = 5
"""Stages of the XS3 pipeline: a thread issues at most once per this many core clocks."""
XCORE_AI_MHZ = 800.0
"""Core clock of xcore.ai, MHz (xmos' figure; slower speed grades exist)."""
XCORE_AI_THREADS = 8
"""Hardware threads (logical cores) per tile."""
OTHER = "other"
"""The counts key of non-VPU instructions (scalar, branch, address arithmetic)."""


@dataclass(frozen=True)
class CycleModel:
    """The timing assumptions of :func:`estimate` (module docstring): core clock in MHz and the
    number of threads active on the tile."""

    clock_mhz: float = XCORE_AI_MHZ
    threads: int = 1

    def __post_init__(self) -> None:
        if not self.clock_mhz > 0:
            raise UsageError(f"clock_mhz must be positive, not {self.clock_mhz}")
        if not 1 <= self.threads <= XCORE_AI_THREADS:
            raise UsageError(f"threads must be 1..{XCORE_AI_THREADS}, not {self.threads}")

    @property
    def clocks_per_thread_cycle(self) -> int:
        """Core clocks between two instructions of one thread: 5, or the active threads when
        more than 5."""
        return max(PIPELINE_STAGES, self.threads)

    def to_json(self) -> dict[str, Any]:
        return {"clock_mhz": self.clock_mhz, "threads": self.threads,
                "clocks_per_thread_cycle": self.clocks_per_thread_cycle}


@dataclass(frozen=True)
class Estimate:
    """What a kernel costs under ``model``: its ``instructions`` (``vpu`` vector, ``other``
    scalar), as thread cycles, core clocks and seconds."""

    instructions: int
    vpu: int
    other: int
    thread_cycles: int
    core_clocks: int
    seconds: float
    model: CycleModel

    @property
    def microseconds(self) -> float:
        return self.seconds * 1e6

    def to_json(self) -> dict[str, Any]:
        return {"instructions": self.instructions, "vpu": self.vpu, "other": self.other,
                "thread_cycles": self.thread_cycles, "core_clocks": self.core_clocks,
                "seconds": self.seconds, "model": self.model.to_json()}


def estimate(counts: Mapping[str, int], model: CycleModel | None = None) -> Estimate:
    """The cost of the instructions in ``counts`` (mnemonic -> executed count, as an engine's
    ``counts``; ``"other"`` holds the scalar ones) under ``model`` (default: 800 MHz, one
    active thread)."""
    model = CycleModel() if model is None else model
    negative = {name: n for name, n in counts.items() if n < 0}
    if negative:
        raise UsageError(f"instruction counts must not be negative: {negative}")
    total = sum(counts.values())
    other = counts.get(OTHER, 0)
    clocks = total * model.clocks_per_thread_cycle
    return Estimate(instructions=total, vpu=total - other, other=other, thread_cycles=total,
                    core_clocks=clocks, seconds=clocks / (model.clock_mhz * 1e6), model=model)

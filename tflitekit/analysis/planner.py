"""TFLite Micro's GreedyMemoryPlanner, reproduced exactly: where each buffer of the arena's
non-persistent "head" goes, and how large the head becomes.

A buffer is a size (already aligned by the caller, as TFLite Micro aligns every size to
:data:`ALIGNMENT` before planning) and a lifetime: the first and last allocation scopes in which
it is used, both inclusive. Two buffers whose lifetimes share a scope must not overlap in memory.

The placement, as in TFLite Micro:

1. Buffers with an offline offset keep it and are placed first, in the order given.
2. The others are placed largest first. TFLite Micro lays them out in reverse order of
   addition before a stable descending sort, so among equal sizes the buffer added last goes
   first.
3. Each buffer goes into the first gap, scanning placed buffers by ascending offset, that is
   large enough between the buffers alive at the same time (first fit); past the last of them
   when no gap fits.

The head is the largest end (offset + size) of any placed buffer.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ALIGNMENT", "Plan", "Request", "align", "greedy_plan"]

ALIGNMENT = 16
"""TFLite Micro's ``MicroArenaBufferAlignment()``: every planned size is rounded up to it."""


def align(size: int, alignment: int = ALIGNMENT) -> int:
    """``size`` rounded up to a multiple of ``alignment`` (TFLite Micro's ``AlignSizeUp``)."""
    return -(-size // alignment) * alignment


@dataclass(frozen=True)
class Request:
    """One buffer to place: its size in bytes and the scopes it lives in (inclusive);
    ``offline_offset`` fixes its offset (an ``OfflineMemoryAllocation`` entry)."""

    size: int
    first: int
    last: int
    offline_offset: int | None = None

    def overlaps(self, first: int, last: int) -> bool:
        """Whether this buffer is alive in some scope of ``first..last``."""
        return self.first <= last and first <= self.last


@dataclass(frozen=True)
class Plan:
    """Offsets of the requests, in request order, and the head: the bytes they span."""

    offsets: tuple[int, ...]
    head: int


def _placement_order(requests: Sequence[Request]) -> list[int]:
    offline = [i for i, r in enumerate(requests) if r.offline_offset is not None]
    online = [i for i, r in enumerate(requests) if r.offline_offset is None]
    online.sort(key=lambda i: (-requests[i].size, -i))
    return offline + online


def _first_fit(requests: Sequence[Request], placed: list[tuple[int, int]], wanted: Request) -> int:
    """The lowest offset past which ``wanted`` fits, scanning ``placed`` (offset, request
    index) pairs by offset and skipping buffers that are never alive together with it."""
    candidate = 0
    for offset, index in placed:
        other = requests[index]
        if not other.overlaps(wanted.first, wanted.last):
            continue
        if offset - candidate >= wanted.size:
            break
        candidate = max(candidate, offset + other.size)
    return candidate


def greedy_plan(requests: Sequence[Request]) -> Plan:
    """Place ``requests`` as TFLite Micro's GreedyMemoryPlanner does (see the module)."""
    if not requests:
        return Plan((), 0)
    offsets = [-1] * len(requests)
    placed: list[tuple[int, int]] = []  # (offset, request index), ascending offset
    for index in _placement_order(requests):
        wanted = requests[index]
        if wanted.offline_offset is not None:
            offset = wanted.offline_offset
        else:
            offset = _first_fit(requests, placed, wanted)
        offsets[index] = offset
        # After every placed buffer at the same offset, as TFLite Micro's list insertion does.
        placed.insert(bisect.bisect_right(placed, offset, key=lambda p: p[0]), (offset, index))
    head = max(offset + requests[index].size for offset, index in placed)
    return Plan(tuple(offsets), head)

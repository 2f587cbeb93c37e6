"""TFLite Micro's own account of its arena: the recording allocator's report, parsed.

``print_allocations()`` writes from C++ (``MicroPrintf``) to standard error, so the report is
taken from file descriptor 2 itself (redirected to a temporary file, C stdio flushed), not from
``sys.stderr``. Shared by the arena tests (head and tail).
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

ARENA_START = 16 << 20
ARENA_LIMIT = 1 << 30

_TOTALS = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_ITEM = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead "
                   r"\(requested (\d+) bytes for (\d+) ")
_TOO_SMALL = re.compile(r"Failed to resize buffer|Failed to allocate")


class Item(NamedTuple):
    """One line of the report: a kind of allocation of the tail."""

    used: int  # bytes, alignment included
    requested: int
    count: int


class MeasuredArena(NamedTuple):
    """The arena as TFLite Micro's recording allocator reports it after AllocateTensors."""

    head: int
    tail: int
    total: int
    items: dict[str, Item]
    report: str


def _stderr_of(action: Callable[[], Any]) -> tuple[Any, str]:
    """``action()``'s result (or the exception it raised) and what it wrote to file descriptor
    2, C stdio buffers included."""
    libc = ctypes.CDLL(None)
    sys.stderr.flush()
    libc.fflush(None)
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            result = action()
        except Exception as exc:  # handed back with the messages TFLM wrote about it
            result = exc
        finally:
            libc.fflush(None)
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return result, sink.read().decode(errors="replace")


def _interpreter(model_bytes: bytes) -> Any:
    """A recording TFLM interpreter. The arena grows while TFLM says it is too small; other
    refusals raise RuntimeError carrying TFLM's messages."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    size = max(ARENA_START, 4 * len(model_bytes))
    while True:
        made, log = _stderr_of(lambda size=size: tflm.Interpreter.from_bytes(
            bytes(model_bytes), arena_size=size,
            intrepreter_config=tflm.InterpreterConfig.kAllocationRecording))
        if not isinstance(made, Exception):
            return made
        if _TOO_SMALL.search(log) is None or size >= ARENA_LIMIT:
            raise RuntimeError(f"TFLite Micro refuses the model: {made}: {log.strip()}")
        size *= 4


def parse_report(report: str) -> MeasuredArena:
    """The totals and per-kind lines of a ``print_allocations()`` report."""
    totals = {kind: int(value) for kind, value in _TOTALS.findall(report)}
    if set(totals) != {"total", "head", "tail"}:
        raise ValueError(f"not a recording allocator report: {report!r:.200}")
    items = {name: Item(int(used), int(requested), int(count))
             for name, used, requested, count in _ITEM.findall(report)}
    return MeasuredArena(totals["head"], totals["tail"], totals["total"], items, report)


def measured_arena(model_bytes: bytes) -> MeasuredArena:
    """TFLite Micro's arena head, tail and total for ``model_bytes`` (needs tflite-micro);
    RuntimeError when TFLite Micro refuses the model."""
    interpreter = _interpreter(model_bytes)
    _, report = _stderr_of(interpreter.print_allocations)
    return parse_report(report)

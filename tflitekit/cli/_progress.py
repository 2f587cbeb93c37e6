"""A progress bar on stderr for long runs (shown only when stderr is a terminal)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["progress_bar"]

_WIDTH = 30


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback drawing ``label [####----] done/total rate``."""
    start = time.perf_counter()
    tty = sys.stderr.isatty()

    def show(done: int, total: int) -> None:
        if not tty:
            return
        filled = _WIDTH * done // max(total, 1)
        rate = done / max(time.perf_counter() - start, 1e-9)
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label} [{'#' * filled}{'-' * (_WIDTH - filled)}] {done}/{total} "
                         f"{rate:,.0f}/s{end}")
        sys.stderr.flush()

    return show

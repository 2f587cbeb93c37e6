"""TensorFlow, imported on demand, and a guard that keeps its chatter off the terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

from ..errors import RuntimeUnavailable

__all__ = ["captured", "tensorflow"]


def tensorflow() -> Any:
    """The ``tensorflow`` module; :class:`RuntimeUnavailable` naming the ``train`` extra when it
    does not import."""
    try:
        with captured():  # importing it logs its CPU features and plugins
            import tensorflow as tf
    except ImportError as exc:
        raise RuntimeUnavailable(
            f"TensorFlow is unavailable ({exc}); install it with "
            '`pip install "tflitekit[train]"`', name="tensorflow") from exc
    return tf


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()


@contextlib.contextmanager
def captured() -> Iterator[list[str]]:
    """Send what the block writes to file descriptors 1 and 2 (Python's and C++'s output
    alike) and its Python warnings to a temporary file; when the block ends, the yielded list
    holds that text, one string per line."""
    lines: list[str] = []
    _flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile("w+b") as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(sys.__stdout__ or sys.stdout), \
                    contextlib.redirect_stderr(sys.__stderr__ or sys.stderr):
                yield lines
        finally:
            _flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            lines += sink.read().decode(errors="replace").splitlines()
            lines += [str(w.message) for w in caught]

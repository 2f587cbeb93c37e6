"""Helpers shared by the command-line modules: errors, loading, JSON and number formatting."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

from ..errors import UsageError
from ..ir import Model
from ..serde import load

PROG = "tflitekit"

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace], int]


def add_command(sub: Subparsers, name: str, handler: Handler, summary: str,
                description: str) -> argparse.ArgumentParser:
    """Add the command ``name``, run by ``handler(args)`` (which returns the exit status)."""
    parser = sub.add_parser(name, help=summary, description=description)
    parser.set_defaults(handler=handler)
    return parser


def error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def message(exc: BaseException) -> str:
    """The one-line text of an error; a system error names its path as the user gave it."""
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename is None:
            return exc.strerror
        name = exc.filename
        path = os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else str(name)
        return f"{shown(path)}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def shown(path: str) -> str:
    """``path`` as messages show it: as given, but an empty path as ``''``."""
    return path if path else "''"


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def check_file(path: str) -> None:
    """Raise OSError unless ``path`` is an existing regular-ish file (not a directory)."""
    os.stat(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)


def load_model(path: str) -> Model:
    check_file(path)
    return load(path)  # its FormatError names the path as given


def print_json(value: Any) -> None:
    print(dumps(value))


def dumps(value: Any, indent: str = "") -> str:
    """Strict JSON indented by two spaces, with lists of plain values kept on one line."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [inner + dumps(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value, allow_nan=False)


def num(n: int) -> str:
    return f"{n:,}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def read_inputs(path: str, model: Model) -> list[np.ndarray]:
    """The arrays of a .npy or .npz (see :func:`read_arrays`) for the main subgraph's inputs of
    ``model``."""
    return read_arrays(path, [str(t.name) for t in model.main.inputs])


def read_arrays(path: str, names: list[str]) -> list[np.ndarray]:
    """One array per input ``names``: a .npy (one input), or an .npz keyed by input name, or
    ``arr_0, arr_1, ...`` in input order, or (one input) its ``x`` or its only array."""
    check_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UsageError(f"{path}: not a .npy or .npz file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        if len(names) != 1:
            raise UsageError(f"{path}: one array for a model with {len(names)} inputs; give a "
                             ".npz keyed by input name")
        return [loaded]
    with loaded:
        keys = list(loaded.keys())
        if set(names) <= set(keys):
            return [loaded[name] for name in names]
        positional = [f"arr_{i}" for i in range(len(names))]
        if set(positional) <= set(keys):
            return [loaded[key] for key in positional]
        if len(names) == 1 and (len(keys) == 1 or "x" in keys):
            return [loaded["x" if "x" in keys else keys[0]]]
    raise UsageError(f"{path}: holds {keys}; expected the input names {names} "
                     "(or arr_0, arr_1, ..., or x for one input)")

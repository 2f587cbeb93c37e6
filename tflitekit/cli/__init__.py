"""The ``tflitekit`` command line.

The whole product on a bundled model: ``demo``. Inspection: ``info``, ``dump``, ``validate``.
Analysis: ``summary``, ``memory``, ``quant-error``. Execution: ``run``, ``compare``,
``evaluate``. Training: ``convert`` (a Keras model). Surgery: ``strip-float-io``, ``prune``,
``optimize`` and ``passes`` (any passes in order). Compression: ``compress``, ``decompress``.
Export: ``export-c``. Reports: ``plot``, ``report``. xcore.ai: ``xs3 run``, ``xs3 compare``,
``xs3 profile``. Each command module has a ``register(subparsers)`` that adds its commands,
each with a handler.
Exit codes: 0 success, 1 a problem was found (validation problems, unreadable or missing model,
a pass that cannot do what was asked), 2 bad usage (argparse's own errors, and
:class:`~tflitekit.errors.UsageError` from an option value: an option without the pass that reads
it, a missing or malformed value, a value out of range). Errors go to stderr as one line,
``tflitekit: error: <message>``; a command given ``--json`` also prints ``{"error": "<message>"}``
on stdout, so that its output is JSON whatever happens.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import __version__
from ..errors import TFLiteKitError, UsageError
from . import (
    analyze,
    compress,
    convert,
    demo,
    evaluate,
    execute,
    export,
    inspect,
    report,
    surgery,
    xs3,
)
from ._common import PROG, Handler, error, message, print_json, silence_stdout

__all__ = ["main"]

#: The command modules, in the order their commands are listed by ``--help``.
COMMAND_MODULES = (demo, inspect, analyze, execute, convert, evaluate, surgery, compress, export,
                   report, xs3)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or bad usage (code 2)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    handler: Handler = args.handler
    try:
        return handler(args)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        silence_stdout()
        return 1
    except KeyboardInterrupt:
        return 130
    except (TFLiteKitError, OSError) as exc:
        text = message(exc)
        error(text)
        if getattr(args, "json", False):
            print_json({"error": text})
        return 2 if isinstance(exc, UsageError) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Inspect, validate and edit TensorFlow Lite (.tflite) models.",
        epilog="exit status: 0 success, 1 problem found or unreadable model, 2 bad usage. "
               "Errors are one line on stderr; with --json, also {\"error\": ...} on stdout.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser

"""Surgery commands: ``strip-float-io``, ``prune`` and ``optimize``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..passes import PassManager, PipelineResult, Prune, StripFloatIO, optimize_pipeline
from ._common import load_model, num, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``strip-float-io``, ``prune`` and ``optimize`` commands."""
    strip = _command(sub, "strip-float-io", _cmd_strip_float_io,
                     "remove the float QUANTIZE/DEQUANTIZE interface",
                     "Remove a QUANTIZE that turns a float32 input into an integer one and a "
                     "DEQUANTIZE that turns an integer output into float32, so that the device "
                     "feeds integers straight in. Order and names of inputs and outputs are kept; "
                     "operator codes and tensors left unused are pruned.")
    side = strip.add_mutually_exclusive_group()
    side.add_argument("--inputs-only", action="store_true", help="strip inputs only")
    side.add_argument("--outputs-only", action="store_true", help="strip outputs only")
    strip.add_argument("--name", action="append", metavar="TENSOR",
                       help="strip only this float input or output (repeatable)")

    _command(sub, "prune", _cmd_prune, "remove dead operators and unused tensors, operator "
             "codes and buffers",
             "Remove operators whose outputs reach no subgraph output, and tensors, operator "
             "codes and buffers that nothing refers to.")

    optimize = _command(sub, "optimize", _cmd_optimize, "fold constants, dedupe buffers, prune",
                        "The standard pipeline, run to a fixed point: fold operators whose "
                        "inputs are constant (never growing the file), store identical buffers "
                        "once, prune what is unused.")
    optimize.add_argument("--strip-float-io", action="store_true",
                          help="also remove the float QUANTIZE/DEQUANTIZE interface first")
    optimize.add_argument("--keep-dynamic-shapes", action="store_true",
                          help="do not fold SHAPE operators (folding them fixes dynamic "
                               "dimensions such as the batch to their static sizes)")


def _command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             command: Any, summary: str, description: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=description)
    parser.add_argument("model", metavar="IN", help="path of the .tflite file to read")
    parser.add_argument("output", metavar="OUT", help="path of the .tflite file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow OUT to be the same file as IN")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(command=command)
    return parser


def _cmd_strip_float_io(args: argparse.Namespace) -> int:
    strip = StripFloatIO(inputs=not args.outputs_only, outputs=not args.inputs_only,
                         names=args.name)
    return _run(args, PassManager([strip, Prune()]))


def _cmd_prune(args: argparse.Namespace) -> int:
    return _run(args, PassManager([Prune()]))


def _cmd_optimize(args: argparse.Namespace) -> int:
    return _run(args, optimize_pipeline(strip_float_io=args.strip_float_io,
                                        fold_shapes=not args.keep_dynamic_shapes))


def _run(args: argparse.Namespace, pipeline: PassManager) -> int:
    model = load_model(args.model)
    before = os.path.getsize(args.model)
    result = pipeline(model)
    model.save(args.output, overwrite=args.overwrite)
    after = os.path.getsize(args.output)
    summary = _summary(args.model, args.output, before, after, result)
    if args.json:
        print_json(summary)
    else:
        print(_text(summary))
    return 0


def _summary(source: str, output: str, before: int, after: int,
             result: PipelineResult) -> dict[str, Any]:
    """The JSON report: sizes, and per pass (merged over fixed-point rounds) its changes and
    the distinct things it left alone."""
    passes: dict[str, dict[str, list[str]]] = {}
    for r in result.results:
        entry = passes.setdefault(r.name, {"changes": [], "skipped": []})
        entry["changes"] += r.changes
        entry["skipped"] += [s for s in r.skipped if s not in entry["skipped"]]
    return {
        "input": source, "output": output, "bytes_before": before, "bytes_after": after,
        "bytes_saved": before - after, "modified": result.modified,
        "passes": [{"name": name, **entry} for name, entry in passes.items()
                   if entry["changes"] or entry["skipped"]],
    }


def _text(summary: dict[str, Any]) -> str:
    lines = []
    for step in summary["passes"]:
        lines += [f"{step['name']}: {change}" for change in step["changes"]]
        lines += [f"{step['name']}: note: {why}" for why in step["skipped"]]
    if not summary["modified"]:
        lines.append("nothing to change")
    before, after = summary["bytes_before"], summary["bytes_after"]
    percent = 100.0 * (after - before) / before if before else 0.0
    lines.append(f"{summary['input']} ({num(before)} bytes) -> {summary['output']} "
                 f"({num(after)} bytes, {after - before:+,} bytes, {percent:+.1f}%)")
    return "\n".join(lines)

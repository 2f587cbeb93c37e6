"""Surgery commands: ``strip-float-io``, ``prune``, ``optimize`` and ``passes`` (any passes,
in order). Every one reads IN and writes OUT; when no pass changes anything, OUT is a copy of IN
byte for byte, and otherwise the report splits the size difference between re-encoding and the
changes."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ..analysis.size import SizeChange, encoded_size
from ..errors import PassError, TFLiteKitError, UsageError
from ..passes import (
    AddFloatIO,
    DedupeBuffers,
    ExposeIntermediates,
    FoldConstants,
    Pass,
    PassManager,
    PassResult,
    PipelineResult,
    Prune,
    RandomizeWeights,
    RenameTensors,
    ReorderForMemory,
    SetBatchSize,
    StripFloatIO,
    StripStrings,
    TopologicalSort,
    optimize_pipeline,
)
from ..serde.files import refuse_overwrite
from ._common import (
    Handler,
    Subparsers,
    add_command,
    load_model,
    num,
    print_json,
    shown,
)

__all__ = ["PASSES", "register"]


@dataclass(frozen=True)
class PassEntry:
    """A pass as the command line offers it: a one-line summary, the options it reads and how
    to build it from the parsed arguments."""

    summary: str
    options: tuple[str, ...]
    build: Callable[[argparse.Namespace], Pass]


def _sides(args: argparse.Namespace) -> dict[str, Any]:
    return {"inputs": not args.outputs_only, "outputs": not args.inputs_only, "names": args.name}


def _renaming(args: argparse.Namespace) -> Pass:
    mapping = {}
    for item in args.rename or ():
        old, sep, new = item.partition("=")
        if not sep or not old:
            raise UsageError(f"--rename {item!r}: expected OLD=NEW")
        mapping[old] = new
    if not mapping:
        raise UsageError("rename-tensors needs at least one --rename OLD=NEW")
    return RenameTensors(mapping)


def _batch(args: argparse.Namespace) -> Pass:
    if args.batch_size is None:
        raise UsageError("set-batch-size needs --batch-size N")
    return SetBatchSize(args.batch_size)


def _randomizing(args: argparse.Namespace) -> Pass:
    seed = 0 if args.seed is None else args.seed
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, not {seed}")
    return RandomizeWeights(seed=seed)


#: Every pass the ``passes`` command runs, by its command-line name.
PASSES: dict[str, PassEntry] = {
    "add-float-io": PassEntry(
        "give integer inputs/outputs a float32 QUANTIZE/DEQUANTIZE interface",
        ("inputs_only", "outputs_only", "name"), lambda a: AddFloatIO(**_sides(a))),
    "dedupe-buffers": PassEntry("store constant buffers with identical bytes once", (),
                                lambda a: DedupeBuffers()),
    "expose-intermediates": PassEntry(
        "make every computed tensor an output (to read them from any runtime)", (),
        lambda a: ExposeIntermediates()),
    "fold-constants": PassEntry(
        "replace operators whose inputs are all constant by their results",
        ("allow_growth", "keep_dynamic_shapes"),
        lambda a: FoldConstants(allow_growth=a.allow_growth,
                                fold_shapes=not a.keep_dynamic_shapes)),
    "optimize": PassEntry(
        "fold constants, prune and dedupe buffers, to a fixed point", ("keep_dynamic_shapes",),
        lambda a: optimize_pipeline(fold_shapes=not a.keep_dynamic_shapes)),
    "prune": PassEntry("remove dead operators and unused tensors, operator codes and buffers",
                       (), lambda a: Prune()),
    "randomize-weights": PassEntry("replace every weight with seeded random values", ("seed",),
                                   _randomizing),
    "rename-tensors": PassEntry("rename tensors (--rename OLD=NEW, repeatable)", ("rename",),
                                _renaming),
    "reorder-for-memory": PassEntry(
        "order operators for the smallest TFLite Micro arena head (--time-limit S)",
        ("time_limit",),
        lambda a: ReorderForMemory() if a.time_limit is None
        else ReorderForMemory(time_limit=a.time_limit)),
    "set-batch-size": PassEntry("set the batch dimension of the inputs (--batch-size N)",
                                ("batch_size",), _batch),
    "strip-float-io": PassEntry(
        "remove the float32 QUANTIZE/DEQUANTIZE interface of an integer model",
        ("inputs_only", "outputs_only", "name"), lambda a: StripFloatIO(**_sides(a))),
    "strip-strings": PassEntry("remove the description, subgraph names and tensor names",
                               ("keep_io_names",),
                               lambda a: StripStrings(keep_io_names=a.keep_io_names)),
    "topological-sort": PassEntry("order operators so that each runs after its producers", (),
                                  lambda a: TopologicalSort()),
}


def register(sub: Subparsers) -> None:
    """Add the ``strip-float-io``, ``prune``, ``optimize`` and ``passes`` commands."""
    strip = _command(sub, "strip-float-io", _cmd_strip_float_io,
                     "remove the float QUANTIZE/DEQUANTIZE interface",
                     "Remove a QUANTIZE that turns a float32 input into an integer one and a "
                     "DEQUANTIZE that turns an integer output into float32, so that the device "
                     "feeds integers straight in. Order and names of inputs and outputs are kept; "
                     "operator codes and tensors left unused are pruned.")
    _interface_options(strip)

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
    _shapes_option(optimize)

    listing = "\n".join(f"  {name:<18} {entry.summary}" for name, entry in PASSES.items())
    run = _command(sub, "passes", _cmd_passes, "run any passes in order",
                   "Run the named passes in the order given (each name once or more).\n\n"
                   f"passes:\n{listing}")
    run.formatter_class = argparse.RawDescriptionHelpFormatter
    run.add_argument("passes", nargs="+", metavar="PASS", type=_pass_name,
                     help="a pass to run (see --list); '_' may stand for '-'")
    run.add_argument("--list", action=_ListPasses, help="list the passes and exit")
    run.add_argument("--fixed-point", action="store_true",
                     help="repeat the passes until a round changes nothing")
    _interface_options(run, "strip-float-io, add-float-io: ")
    _shapes_option(run, "fold-constants, optimize: ")
    run.add_argument("--allow-growth", action="store_true",
                     help="fold-constants: fold even where the result is larger than its inputs")
    run.add_argument("--batch-size", type=_positive, metavar="N",
                     help="set-batch-size: the new batch size")
    run.add_argument("--seed", type=int, help="randomize-weights: the seed (default 0)")
    run.add_argument("--time-limit", type=float, metavar="SECONDS",
                     help="reorder-for-memory: time bound of the order search (default 10)")
    run.add_argument("--rename", action="append", metavar="OLD=NEW",
                     help="rename-tensors: rename tensor OLD to NEW (repeatable)")
    run.add_argument("--keep-io-names", action="store_true",
                     help="strip-strings: keep the names of subgraph inputs and outputs")


def _command(sub: Subparsers, name: str, handler: Handler, summary: str,
             description: str) -> argparse.ArgumentParser:
    parser = add_command(sub, name, handler, summary, description)
    parser.add_argument("model", metavar="IN", help="path of the .tflite file to read")
    parser.add_argument("output", metavar="OUT", help="path of the .tflite file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow OUT to be the same file as IN")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _interface_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--inputs-only", action="store_true", help=f"{prefix}inputs only")
    side.add_argument("--outputs-only", action="store_true", help=f"{prefix}outputs only")
    parser.add_argument("--name", action="append", metavar="TENSOR",
                        help=f"{prefix}only this input or output (repeatable)")


def _shapes_option(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument("--keep-dynamic-shapes", action="store_true",
                        help=f"{prefix}do not fold SHAPE operators (folding them fixes dynamic "
                             "dimensions such as the batch to their static sizes)")


def _pass_name(text: str) -> str:
    name = text.replace("_", "-")
    if name not in PASSES:
        raise argparse.ArgumentTypeError(f"unknown pass {text!r} (known: {', '.join(PASSES)})")
    return name


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


class _ListPasses(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> NoReturn:
        width = max(map(len, PASSES))
        for name, entry in PASSES.items():
            print(f"{name:<{width}}  {entry.summary}")
        parser.exit()


def _cmd_strip_float_io(args: argparse.Namespace) -> int:
    return _run(args, PassManager([StripFloatIO(**_sides(args)), Prune()]), steps_shown=False)


def _cmd_prune(args: argparse.Namespace) -> int:
    return _run(args, PassManager([Prune()]), steps_shown=False)


def _cmd_optimize(args: argparse.Namespace) -> int:
    return _run(args, optimize_pipeline(strip_float_io=args.strip_float_io,
                                        fold_shapes=not args.keep_dynamic_shapes))


def _cmd_passes(args: argparse.Namespace) -> int:
    chosen = set(args.passes)
    for option, value in vars(args).items():
        users = [n for n, e in PASSES.items() if option in e.options]
        if users and value is not None and value is not False and not chosen & set(users):
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} applies to {' and '.join(users)}, which is not among "
                             "the passes given")
    steps = [PASSES[name].build(args) for name in args.passes]
    return _run(args, PassManager(steps, name="passes", fixed_point=args.fixed_point))


def _run(args: argparse.Namespace, pipeline: PassManager, *, steps_shown: bool = True) -> int:
    """Run ``pipeline`` on IN, write OUT and report. A pass's error names IN; with
    ``steps_shown`` False (a command that is one pass to the user) it names the pass but not
    the pipeline's step numbers."""
    if not args.overwrite:
        refuse_overwrite(args.model, args.output, advice="pass --overwrite to replace it")
    model = load_model(args.model)
    before = os.path.getsize(args.model)
    reencoded = encoded_size(model)
    try:
        result = pipeline(model)
    except PassError as exc:
        raise _on_input(args.model, exc, steps_shown) from exc
    # an unchanged model is written as the input's own bytes (tflitekit.serde.verbatim)
    model.save(args.output, overwrite=True)
    size = SizeChange(before, os.path.getsize(args.output),
                      reencoded if result.modified else None)
    summary = _summary(args.model, args.output, size, result)
    if args.json:
        print_json(summary)
    else:
        print(_text(summary, size))
    return 0


def _on_input(path: str, exc: PassError, steps_shown: bool) -> TFLiteKitError:
    """``exc`` as one line naming the input ``path``; a :class:`UsageError` (an option value
    a pass rejected) stays one, so that it exits as bad usage."""
    chain: list[BaseException] = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 16:
        chain.append(chain[-1].__cause__)
    text = str(exc)
    cause, names = exc.__cause__, getattr(exc, "names", None)
    if not steps_shown and isinstance(cause, TFLiteKitError) and names:
        # the step's own error, named by the pass (once) instead of by the pipeline's step
        text = str(cause)
        if not text.startswith(f"{names[-1]}:"):
            text = f"{names[-1]}: {text}"
    kind = UsageError if any(isinstance(e, UsageError) for e in chain) else PassError
    return kind(f"{shown(path)}: {text}")


def _leaves(result: PassResult) -> Iterator[PassResult]:
    """The results of the passes themselves, through nested pipelines."""
    if isinstance(result, PipelineResult):
        for step in result.results:
            yield from _leaves(step)
    else:
        yield result


def _summary(source: str, output: str, size: SizeChange,
             result: PipelineResult) -> dict[str, Any]:
    """The JSON report: sizes, and per pass (merged over fixed-point rounds) its changes and
    the distinct things it left alone."""
    passes: dict[str, dict[str, list[str]]] = {}
    for r in _leaves(result):
        entry = passes.setdefault(r.name, {"changes": [], "skipped": []})
        entry["changes"] += r.changes
        entry["skipped"] += [s for s in r.skipped if s not in entry["skipped"]]
    return {
        "input": source, "output": output, **size.to_json(), "modified": result.modified,
        "written": "copied" if size.copied else "re-encoded",
        "passes": [{"name": name, **entry} for name, entry in passes.items()
                   if entry["changes"] or entry["skipped"]],
    }


def _text(summary: dict[str, Any], size: SizeChange) -> str:
    lines = []
    for step in summary["passes"]:
        lines += [f"{step['name']}: {change}" for change in step["changes"]]
        lines += [f"{step['name']}: note: {why}" for why in step["skipped"]]
    source, output = summary["input"], summary["output"]
    if size.copied:
        lines.append("nothing to change")
        lines.append(f"{source} ({num(size.before)} bytes) -> {output}: copied unchanged")
        return "\n".join(lines)
    lines.append(f"{source} ({num(size.before)} bytes) -> {output} ({num(size.after)} bytes): "
                 + _difference(size))
    return "\n".join(lines)


def _difference(size: SizeChange) -> str:
    """The size difference of a re-encoded file and where it comes from: ``-1,234 bytes
    (-2.3%): -1,200 from the changes, -34 from re-encoding``. The percentage is left out
    when it would round to 0.0."""
    total = size.after - size.before
    if total == 0 and size.changes == 0:
        return "the same size"
    text = f"{total:+,} byte" if abs(total) == 1 else f"{total:+,} bytes"
    if size.before and abs(1000 * total) >= size.before:  # at least 0.1 %
        text += f" ({100 * total / size.before:+.1f}%)"
    if size.encoding == 0:
        return f"{text}, all from the changes"
    if size.changes == 0:
        return f"{text}, all from re-encoding (the changes themselves: +0)"
    return f"{text}: {size.changes:+,} from the changes, {size.encoding:+,} from re-encoding"

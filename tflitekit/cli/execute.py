"""Execution commands: ``run`` (the interpreter on given or random inputs) and ``compare``
(the interpreter against a reference runtime, tensor by tensor)."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any

import numpy as np

from ..crosscheck import Agreement, crosscheck
from ..errors import UsageError
from ..interpreter import Interpreter
from ..ir import Tensor, dtypes
from ..runtimes import random_samples
from ..serde.files import refuse_overwrite, write_atomically
from ._common import Subparsers, add_command, load_model, print_json, read_inputs
from ._progress import progress_bar
from ._table import Column, abbreviations, table

__all__ = ["describe_tensor", "named_arrays", "print_run", "producer_name", "register"]

Array = np.ndarray
_CHUNK = 256  # samples per interpreter call when a progress bar is shown
_SHOWN_VALUES = 16  # outputs up to this many elements per sample are printed in full
_OTHER_COLUMNS = 64  # room the columns beside a tensor's name take, at most


def register(sub: Subparsers) -> None:
    """Add the ``run`` and ``compare`` commands."""
    run = add_command(sub, "run", _cmd_run, "run a model on tflitekit's interpreter",
                      "Run the model's main subgraph on tflitekit's integer reference "
                      "interpreter (bit-exact with TensorFlow Lite Micro), on the inputs of "
                      "--input or on random ones (integers over their type's full range), and "
                      "print its outputs; --keep prints every intermediate tensor too.")
    run.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    run.add_argument("--input", metavar="PATH",
                     help="inputs: a .npy (one-input models) or a .npz keyed by input name (or "
                          "arr_0, arr_1, ... in input order); each may carry a leading batch")
    run.add_argument("--samples", type=int, default=1, metavar="N",
                     help="random samples to run when no --input is given (default 1)")
    run.add_argument("--seed", type=int, default=0,
                     help="seed of the first random sample; sample i uses seed+i (default 0)")
    run.add_argument("--output", metavar="PATH",
                     help="write the outputs (with --keep, every tensor) to this .npz, keyed "
                          "by tensor name")
    run.add_argument("--keep", action="store_true",
                     help="keep and report every intermediate tensor")
    run.add_argument("--rounding", choices=("double", "single"), default="double",
                     help="fixed-point rounding: TFLite's default 'double' or 'single' "
                          "(TFLITE_SINGLE_ROUNDING)")
    run.add_argument("--plan", action="store_true",
                     help="also print which backend runs each operator")
    run.add_argument("--json", action="store_true", help="print JSON instead of text")

    compare = add_command(sub, "compare", _cmd_compare,
                          "compare every tensor with TFLite Micro or LiteRT",
                          "Run the model on tflitekit's interpreter and on a reference runtime "
                          "with the same random inputs, and print for every tensor computed, "
                          "operator by operator, the largest absolute difference and the share "
                          "of bit-identical elements: the first row that is not 100% is where "
                          "the two part. Exit status 1 when any tensor differs.")
    compare.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    compare.add_argument("--against", choices=("tflm", "litert"), default="tflm",
                         help="the reference: TFLite Micro (default) or LiteRT's reference "
                              "kernels (for models TFLite Micro cannot run)")
    compare.add_argument("--samples", type=int, default=20, metavar="N",
                         help="random samples (default 20); sample i uses seed+i")
    compare.add_argument("--seed", type=int, default=0, help="seed of the first sample")
    compare.add_argument("--rounding", choices=("double", "single"), default="double",
                         help="tflitekit's fixed-point rounding (default double)")
    compare.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_run(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, not {args.samples}")
    if args.output is not None:
        refuse_overwrite(args.model, args.output, advice="choose another output")
    model = load_model(args.model)
    interpreter = Interpreter(model, rounding=args.rounding)
    inputs = (read_inputs(args.input, model) if args.input is not None
              else random_samples(model, args.samples, args.seed))
    n = _samples(interpreter, inputs)
    outputs = interpreter.run(inputs, keep=args.keep, batch_size=_CHUNK,
                              progress=progress_bar("running") if n > _CHUNK else None)
    tensors = list(interpreter.tensors()) if args.keep else []
    if args.output is not None:
        saved = (dict(named_arrays((t, a) for t, a in tensors)) if args.keep else
                 dict(named_arrays(zip(model.main.outputs, outputs, strict=True))))
        write_atomically(args.output, lambda f: np.savez(f, **saved))  # type: ignore[arg-type]
    report: dict[str, Any] = {
        "model": args.model, "samples": n, "rounding": args.rounding,
        "input": args.input or f"random, seeds {args.seed}..{args.seed + n - 1}",
        "outputs": [describe_tensor(t, a, n) for t, a in zip(model.main.outputs, outputs,
                                                       strict=True)],
    }
    if args.keep:
        report["tensors"] = [describe_tensor(t, a, n, producer=producer_name(interpreter, t))
                             for t, a in tensors]
    if args.plan:
        report["plan"] = interpreter.plan.to_json()
    if args.output is not None:
        report["output"] = args.output
    if args.json:
        print_json(report)
    else:
        print_run(report, interpreter if args.plan else None)
    return 0


def _samples(interpreter: Interpreter, inputs: list[Array]) -> int:
    first = inputs[0] if inputs else None
    if first is None:
        return 1
    shape = tuple(interpreter.inputs[0].shape or ())
    return 1 if first.shape == shape else int(first.shape[0])


def named_arrays(pairs: Any) -> list[tuple[str, Array]]:
    """(name, array) with names made unique (``name#2`` for a second tensor of one name)."""
    seen: dict[str, int] = {}
    out = []
    for tensor, array in pairs:
        name = tensor.name or "tensor"
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", array))
    return out


def producer_name(interpreter: Interpreter, tensor: Tensor) -> str:
    for i, op in enumerate(interpreter.operators):
        if any(t is tensor for t in op.outputs):
            return f"{i} {op.opcode.name}"
    return "input"


def describe_tensor(tensor: Tensor, array: Array, n: int, producer: str | None = None
                    ) -> dict[str, Any]:
    """A tensor's values over ``n`` samples for a run report: name, type, shape, range, mean,
    and the values themselves when a sample holds few."""
    values = np.asarray(array)
    item: dict[str, Any] = {"name": tensor.name, "dtype": dtypes.name(tensor.dtype),
                            "shape": list(values.shape)}
    if producer is not None:
        item["producer"] = producer
    if values.size:
        as_float = values.astype(np.float64)
        item.update(min=_number(as_float.min()), max=_number(as_float.max()),
                    mean=float(as_float.mean()))
    per_sample = values.size // max(n, 1)
    if 0 < per_sample <= _SHOWN_VALUES and values.dtype.kind in "iufb":
        item["values"] = values.reshape(n, per_sample).tolist() if n > 1 else \
            values.reshape(-1).tolist()
    return item


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def print_run(report: dict[str, Any], interpreter: Interpreter | None) -> None:
    """Print a run report (``run``, ``xs3 run``) as text."""
    print(f"{report['model']}: {report['samples']} sample(s) ({report['input']}), "
          f"{report['rounding']} rounding")
    items = report.get("tensors", report["outputs"])
    short = _short_names([item["name"] for item in items])
    rows = []
    for item in items:
        rows.append([item.get("producer", ""), short[item["name"]], item["dtype"],
                     "x".join(map(str, item["shape"])), str(item.get("min", "")),
                     str(item.get("max", "")), f"{item['mean']:.4g}" if "mean" in item else ""])
    columns = [Column("operator"), Column("tensor"), Column("type"), Column("shape"),
               Column("min", right=True), Column("max", right=True), Column("mean", right=True)]
    if "tensors" not in report:
        columns, rows = columns[1:], [r[1:] for r in rows]
        print("outputs:")
    print("\n".join(table(columns, rows)))
    for item in report["outputs"]:
        if "values" in item:
            print(f"{item['name']}: {item['values']}")
    if interpreter is not None:
        print("placement:")
        print(str(interpreter.plan))
    if "output" in report:
        print(f"wrote {report['output']} ({os.path.getsize(report['output']):,} bytes)")


def _cmd_compare(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    agreement = crosscheck(model, against=args.against, samples=args.samples, seed=args.seed,
                           rounding=args.rounding,
                           progress=progress_bar("running") if args.samples > _CHUNK else None)
    if args.json:
        print_json({"model": args.model, **agreement.to_json()})
    else:
        _print_agreement(args.model, agreement)
    return 0 if agreement.exact else 1


def _print_agreement(path: str, agreement: Agreement) -> None:
    against = {"tflm": "TFLite Micro", "litert": "LiteRT (reference kernels)"}[agreement.against]
    print(f"{path}: tflitekit vs {against}, {agreement.samples} sample(s)")
    short = _short_names([t.tensor for t in agreement.tensors])
    rows = [["" if t.operator is None else str(t.operator), t.opcode, short[t.tensor], t.dtype,
             f"{t.max_abs_diff:.6g}", f"{100 * t.identical_share:.2f}%"]
            for t in agreement.tensors]
    print("\n".join(table([Column("#", right=True), Column("operator"), Column("tensor"),
                           Column("type"), Column("max |diff|", right=True),
                           Column("identical", right=True)], rows)))
    first = agreement.first_difference
    if first is None:
        print(f"all {len(agreement.tensors)} tensors are bit-identical")
    else:
        where = "input" if first.operator is None else f"operator {first.operator}"
        print(f"first difference: {where} ({first.opcode}) -> {first.tensor!r}: "
              f"{first.elements - first.identical} of {first.elements} elements differ, "
              f"by at most {first.max_abs_diff:.6g}")


def _short_names(names: list[str]) -> dict[str, str]:
    """Tensor names shortened to fit the terminal beside the other columns (different names
    stay different)."""
    room = max(24, shutil.get_terminal_size().columns - _OTHER_COLUMNS)
    return abbreviations(names, room)

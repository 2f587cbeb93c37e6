"""The ``xs3`` command: ``xs3 run`` (a model on the emulated xcore.ai vector unit), ``xs3
compare`` (per-layer differences from TFLite Micro, ours and xcore-opt's side by side) and ``xs3
profile`` (instructions and estimated cycles per layer)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

import numpy as np

from .. import runtimes
from ..errors import TFLiteKitError, UsageError
from ..interpreter import Interpreter, Plan
from ..ir import Model
from ..runtimes import random_samples
from ..serde.files import refuse_overwrite, write_atomically
from ..xs3.backend import xs3_interpreter
from ..xs3.compare import Oracle, compare
from ..xs3.estimate import XCORE_AI_MHZ, CycleModel
from ..xs3.profile import profile
from ._common import Subparsers, add_command, check_file, load_model, print_json, read_inputs
from ._progress import progress_bar
from .execute import describe_tensor, named_arrays, print_run, producer_name

__all__ = ["register"]

Array = np.ndarray
_CHUNK = 256  # samples per interpreter call when a progress bar is shown
_XS3_OPERATORS = ("int8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D or an XC_ "
                  "operator of xcore-opt")


def register(sub: Subparsers) -> None:
    """Add the ``xs3`` command and its ``run``, ``compare`` and ``profile`` subcommands."""
    xs3 = add_command(sub, "xs3", _cmd_help, "run, compare and profile models on xcore.ai's "
                      "vector unit (emulated)",
                      "Run a model as xcore.ai would: its int8 convolutions and fully "
                      "connected layers on tflitekit's lowering to the XS3 vector unit "
                      "(emulated), an xcore-opt model's XC operators on xmos' kernels, the rest "
                      "on the reference kernels.")
    commands = xs3.add_subparsers(title="commands", metavar="COMMAND")
    _add_run(commands)
    _add_compare(commands)
    _add_profile(commands)


def _add_run(sub: Subparsers) -> None:
    run = add_command(sub, "run", _cmd_run, "run a model on the XS3 kernels",
                      "Run the model on the XS3 backend (the reference kernels for what it does "
                      "not take) on the inputs of --input or on random ones, and print the "
                      "placement (which operators run on the XS3 kernels) and the outputs.")
    run.add_argument("model", metavar="MODEL", help="path of the .tflite file (plain or "
                     "converted by xcore-opt)")
    run.add_argument("--input", metavar="PATH", action="append",
                     help="inputs: one .npz keyed by input name (or arr_0, arr_1, ...), or one "
                          ".npy per model input, in order (repeat the option); each may carry a "
                          "leading batch")
    _add_samples(run, default=1)
    run.add_argument("--output", metavar="PATH",
                     help="write the outputs (with --keep, every tensor) to this .npz, keyed "
                          "by tensor name")
    run.add_argument("--keep", action="store_true",
                     help="keep and report every intermediate tensor (which xmos' host "
                          "interpreter does not return)")
    run.add_argument("--json", action="store_true", help="print JSON instead of text")


def _add_compare(sub: Subparsers) -> None:
    cmp = add_command(sub, "compare", _cmd_compare, "per-layer differences from TFLite Micro",
                      "Run the model on our XS3 lowering and on the reference (tflitekit's "
                      "interpreter, bit-exact with TFLite Micro, or TFLite Micro itself) with "
                      "the same random inputs, and print for every tensor an operator computes "
                      "the share of elements that differ and the largest difference. With "
                      "--xcore, also the model's xcore-opt conversion (made after "
                      "expose_intermediates, so that tensors match by name), side by side. "
                      "Differences are end to end: each layer sees what the earlier layers "
                      "computed, as on the device.")
    cmp.add_argument("model", metavar="MODEL", help="path of the plain .tflite file")
    cmp.add_argument("--xcore", metavar="CONVERTED",
                     help="the model converted by xcore-opt, compared tensor by tensor (by name)")
    cmp.add_argument("--against", choices=("reference", "tflm"), default="reference",
                     help="the reference: tflitekit's interpreter (default) or TFLite Micro "
                          "(needs tflite-micro)")
    _add_samples(cmp, default=20)
    cmp.add_argument("--json", action="store_true", help="print JSON instead of text")


def _add_profile(sub: Subparsers) -> None:
    prof = add_command(sub, "profile", _cmd_profile, "instructions and cycles per layer",
                       "Count the XS3 instructions each layer executes per sample and estimate "
                       "cycles and time (one instruction per thread cycle, no stalls, no dual "
                       "issue); layers on the reference kernels are listed but not estimated. "
                       "Works on plain models (our lowering) and xcore-opt ones (XC operators).")
    prof.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    prof.add_argument("--clock-mhz", type=float, default=XCORE_AI_MHZ, metavar="MHZ",
                      help=f"core clock (default {XCORE_AI_MHZ:g})")
    prof.add_argument("--threads", type=int, default=1, metavar="N",
                      help="threads active on the tile, 1-8 (default 1); more than 5 slow each")
    prof.add_argument("--json", action="store_true", help="print JSON instead of text")


def _add_samples(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("--samples", type=int, default=default, metavar="N",
                        help=f"random samples (default {default}); sample i uses seed+i")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first random sample")


def _cmd_help(args: argparse.Namespace) -> int:
    raise UsageError("xs3: give a command: run, compare or profile")


# -- run ------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    _check_samples(args.samples)
    if args.output is not None:
        refuse_overwrite(args.model, args.output, advice="choose another output")
    model = load_model(args.model)
    interpreter = _interpreter(args.model, model)
    inputs = _inputs(args, model)
    n = _batch(interpreter, inputs)
    outputs = interpreter.run(inputs, keep=args.keep, batch_size=_CHUNK,
                              progress=progress_bar("running") if n > _CHUNK else None)
    tensors = list(interpreter.tensors()) if args.keep else []
    if args.output is not None:
        saved = dict(named_arrays(tensors if args.keep else
                                  zip(model.main.outputs, outputs, strict=True)))
        write_atomically(args.output, lambda f: np.savez(f, **saved))  # type: ignore[arg-type]
    report: dict[str, Any] = {
        "model": args.model, "samples": n, "rounding": "double",
        "input": ", ".join(args.input) if args.input
        else f"random, seeds {args.seed}..{args.seed + n - 1}",
        "placement": _placement(interpreter.plan),
        "outputs": [describe_tensor(t, a, n) for t, a in zip(model.main.outputs, outputs,
                                                       strict=True)],
        "plan": interpreter.plan.to_json()}
    if args.keep:
        report["tensors"] = [describe_tensor(t, a, n, producer=producer_name(interpreter, t))
                             for t, a in tensors]
    if args.output is not None:
        report["output"] = args.output
    if args.json:
        print_json(report)
        return 0
    print(f"placement: {report['placement']['summary']}")
    for line in report["placement"]["reference"]:
        print(f"  {line}")
    print_run({k: v for k, v in report.items() if k != "plan"}, None)
    return 0


def _inputs(args: argparse.Namespace, model: Model) -> list[Array]:
    if not args.input:
        return random_samples(model, args.samples, args.seed)
    if len(args.input) == 1:
        return read_inputs(args.input[0], model)
    count = len(model.main.inputs)
    if len(args.input) != count:
        raise UsageError(f"{len(args.input)} --input files for a model with {count} input(s)")
    arrays = []
    for path in args.input:
        check_file(path)
        try:
            loaded = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise UsageError(f"{path}: not a .npy file ({exc})") from None
        if not isinstance(loaded, np.ndarray):
            loaded.close()
            raise UsageError(f"{path}: give one .npy per input, or a single .npz")
        arrays.append(loaded)
    return arrays


def _batch(interpreter: Interpreter, inputs: list[Array]) -> int:
    if not inputs:
        return 1
    shape = tuple(interpreter.inputs[0].shape or ())
    return 1 if inputs[0].shape == shape else int(inputs[0].shape[0])


def _placement(plan: Plan) -> dict[str, Any]:
    """The plan in brief: the count per backend, and each operator kind left to the reference
    kernels with why the XS3 backend declined it (the first reason of its kind)."""
    counts = plan.counts()
    summary = f"{len(plan.placements)} operators: " + ", ".join(
        f"{n} on {b}" for b, n in counts.items())
    kinds: Counter[tuple[str, str]] = Counter()
    why: dict[str, str] = {}
    for p in plan.placements:
        if p.backend != "xs3":
            kinds[p.operator, p.backend or ""] += 1
            why.setdefault(p.operator, "; ".join(r for b, r in p.declined if b == "xs3"))
    lines = [f"{n} {op} on {backend}: {why[op]}" for (op, backend), n in kinds.items()]
    return {"summary": summary, "counts": counts, "reference": lines}


# -- compare ----------------------------------------------------------------------------------


def _cmd_compare(args: argparse.Namespace) -> int:
    _check_samples(args.samples)
    oracle = None
    if args.against == "tflm":
        runtimes.require("tflm")  # names the pip package when missing
        oracle = Oracle("tflm", _tflm_tensors)
    model = load_model(args.model)
    xcore = load_model(args.xcore) if args.xcore is not None else None
    inputs = random_samples(model, args.samples, args.seed)
    comparison = compare(model, inputs, xcore=xcore, against=oracle)
    if not any(layer.backend == "xs3" for layer in comparison.layers):
        raise _nothing_on_xs3(args.model)
    if args.json:
        print_json({"model": args.model, "xcore": args.xcore, **comparison.to_json()})
    else:
        print(f"{args.model}" + (f" and {args.xcore}" if args.xcore else ""))
        print(comparison)
    return 0


def _tflm_tensors(model: bytes, inputs: Any) -> dict[int, Array]:
    try:
        return runtimes.tflm_tensors(model, inputs)
    except (RuntimeError, ValueError) as exc:  # the runtime refuses the model
        raise TFLiteKitError(f"TFLite Micro cannot run the model: {str(exc).strip()}") from exc


# -- profile ----------------------------------------------------------------------------------


def _cmd_profile(args: argparse.Namespace) -> int:
    timing = CycleModel(args.clock_mhz, args.threads)
    result = profile(load_model(args.model), cycle_model=timing,
                     progress=progress_bar("counting instructions"))
    if not any(layer.backend == "xs3" for layer in result.layers):
        raise _nothing_on_xs3(args.model)
    if args.json:
        print_json({"model": args.model, **result.to_json()})
    else:
        print(f"{args.model}: per sample, estimated")
        print(result)
    return 0


# -- shared -----------------------------------------------------------------------------------


def _check_samples(samples: int) -> None:
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, not {samples}")


def _interpreter(path: str, model: Model) -> Interpreter:
    """The model on the XS3 backend; refuses a model none of whose operators it takes."""
    interpreter = xs3_interpreter(model)
    if not interpreter.plan.counts().get("xs3"):
        raise _nothing_on_xs3(path)
    return interpreter


def _nothing_on_xs3(path: str) -> TFLiteKitError:
    return TFLiteKitError(f"{path}: no operator runs on the XS3 kernels (no {_XS3_OPERATORS})")

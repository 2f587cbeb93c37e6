"""The ``evaluate`` command: a classifier's accuracy, per-class scores and confusion matrix on
labelled data, and its top-1 agreement with a reference model."""

from __future__ import annotations

import argparse
from concurrent.futures import Executor, ProcessPoolExecutor

import numpy as np

from ..codecs.metrics import load_labelled
from ..errors import UsageError
from ..training.evaluate import BATCH_SIZE, evaluate
from ._common import Subparsers, add_command, check_file, load_model, print_json
from ._progress import progress_bar

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add the ``evaluate`` command."""
    cmd = add_command(
        sub, "evaluate", _cmd_evaluate, "score a classifier on labelled data",
        "Run the model on tflitekit's interpreter over the samples x of --data and score its "
        "top-1 class (the arg-max of its first output) against the labels y: accuracy, "
        "precision, recall and F1 per class (0 where undefined) with their macro averages, "
        "and the confusion matrix; with --reference, the percentage of samples on which both "
        "models give the same top-1 class. Float samples are quantized for an integer input.")
    cmd.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    cmd.add_argument("--data", metavar="NPZ", required=True,
                     help="labelled data: an .npz with x (samples, leading axis) and y (integer "
                          "class indices)")
    cmd.add_argument("--reference", metavar="MODEL2",
                     help="a second .tflite file to measure top-1 agreement with")
    cmd.add_argument("--classes", nargs="+", metavar="NAME",
                     help="class names, in the order of the model's scores (default: the "
                          "array classes of --data, if it has one)")
    cmd.add_argument("--batch-size", type=int, default=BATCH_SIZE, metavar="N",
                     help=f"samples per interpreter call (default {BATCH_SIZE})")
    cmd.add_argument("--workers", type=int, default=1, metavar="N",
                     help="worker processes the batches run on (default 1: this process)")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    for flag, value in (("--batch-size", args.batch_size), ("--workers", args.workers)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, not {value}")
    model = load_model(args.model)
    reference = None if args.reference is None else load_model(args.reference)
    check_file(args.data)
    x, y = load_labelled(args.data)
    classes = args.classes if args.classes is not None else _classes(args.data)
    executor: Executor | None = (ProcessPoolExecutor(args.workers) if args.workers > 1
                                 else None)
    try:
        result = evaluate(model, x, y, reference=reference, executor=executor,
                          batch_size=args.batch_size, classes=classes,
                          progress=progress_bar("evaluating"))
    finally:
        if executor is not None:
            executor.shutdown()
    if args.json:
        print_json({"model": args.model, "data": args.data, "reference": args.reference,
                    **result.to_json()})
    else:
        print(result)
    return 0


def _classes(path: str) -> list[str] | None:
    """The class names an .npz holds as ``classes``, if any."""
    with np.load(path) as data:
        return [str(c) for c in data["classes"]] if "classes" in data.files else None

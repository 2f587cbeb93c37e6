"""Evaluating a model on a labelled data set: ``tflitekit.training.evaluate`` against the loop a
notebook writes around TensorFlow Lite Micro's and LiteRT's Python runtimes, side by side.

Usage::

    python benchmarks/evaluate.py [--corpus DIR] [--data NPZ] [--workers 2] [--json]

The model is the corpus' ``tflite_micro_speech`` (``DIR/models``; ``DIR`` defaults to
``$TFLITEKIT_CORPUS``, else ``~/.cache/tflitekit/corpus``), the data its labelled dev set
``kws_espeak_dev.npz`` (1,960 samples; default ``$TFLITEKIT_DATA``, else ``../shared/data``).

Contestants, each timed once from the labelled arrays to the confusion matrix (interpreters
are created inside the timing, as a notebook creates them):

- ``evaluate`` in process; with its chunks on a ``ProcessPoolExecutor`` and on a
  ``ThreadPoolExecutor`` of ``--workers`` workers (the pool started before timing);
- a per-sample loop over TFLite Micro's runtime (``set_input``, ``invoke``, ``get_output``)
  and over LiteRT's (its default optimized kernels), then numpy's confusion matrix.

Every contestant's predictions must equal TFLite Micro's (LiteRT's optimized kernels may differ
on a few samples, which is reported); exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from interpreter import litert_loop, tflm_loop

import tflitekit
from tflitekit.codecs.metrics import load_labelled, model_inputs
from tflitekit.testing import corpus_dir, data_dir
from tflitekit.training import evaluate

Array = np.ndarray


def confusion(predictions: Array, labels: Array, classes: int) -> Array:
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def loop(make: Callable[[bytes, list[Array], int], Callable[[], list[Array]]], data: bytes,
         x: Array, labels: Array) -> Callable[[], Array]:
    """A notebook's evaluation: the runtime created, every sample run, predictions counted."""
    def run() -> Array:
        scores = make(data, [x], len(x))()[0]
        predictions = scores.reshape(len(x), -1).argmax(axis=1)
        confusion(predictions, labels, scores.shape[-1])
        return predictions
    return run


def ours(model: tflitekit.Model, x: Array, labels: Array,
         executor: Executor | None) -> Callable[[], Array]:
    def run() -> Array:
        return np.asarray(evaluate(model, x, labels, executor=executor).predictions)
    return run


def timed(fn: Callable[[], Array]) -> tuple[float, Array]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=corpus_dir())
    parser.add_argument("--data", type=Path, default=data_dir() / "kws_espeak_dev.npz")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    path = args.corpus / "models" / "tflite_micro_speech.tflite"
    for needed in (path, args.data):
        if not needed.is_file():
            sys.exit(f"evaluate benchmark: no {needed} (python scripts/fetch_corpus.py; "
                     "TFLITEKIT_DATA for the dev set)")
    data = path.read_bytes()
    model = tflitekit.load(data)
    x, y = load_labelled(args.data)
    inputs = model_inputs(model, x)[0]
    labels = np.asarray(y).reshape(-1)
    contestants: dict[str, Callable[[], Array]] = {
        "TFLite Micro loop": loop(tflm_loop, data, inputs, labels),
        "LiteRT loop": loop(litert_loop, data, inputs, labels),
        "evaluate": ours(model, x, labels, None)}
    with ProcessPoolExecutor(args.workers) as processes, \
            ThreadPoolExecutor(args.workers) as threads:
        list(processes.map(abs, range(args.workers)))  # the workers started before timing
        contestants[f"evaluate, {args.workers} processes"] = ours(model, x, labels, processes)
        contestants[f"evaluate, {args.workers} threads"] = ours(model, x, labels, threads)
        results = {name: timed(fn) for name, fn in contestants.items()}
    reference_time, reference = results["TFLite Micro loop"]
    rows: list[dict[str, Any]] = []
    ok = True
    for name, (seconds, predictions) in results.items():
        differing = int(np.count_nonzero(predictions != reference))
        ok &= differing == 0 or name == "LiteRT loop"
        rows.append({"contestant": name, "seconds": seconds,
                     "speed-up vs TFLite Micro loop": reference_time / seconds,
                     "accuracy %": 100 * float(np.mean(predictions == labels)),
                     "predictions differing from TFLite Micro": differing})
    if args.json:
        print(json.dumps({"model": path.name, "samples": len(labels), "rows": rows}, indent=2))
    else:
        print(f"{path.name} on {args.data.name}: {len(labels):,} labelled samples")
        for row in rows:
            print(f"  {row['contestant']:24s} {row['seconds']:7.3f} s  "
                  f"{row['speed-up vs TFLite Micro loop']:6.1f}x  accuracy "
                  f"{row['accuracy %']:.2f} %  differing "
                  f"{row['predictions differing from TFLite Micro']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

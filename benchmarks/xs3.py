"""Whole models as xcore.ai runs them: tflitekit's XS3 backend against xmos' host interpreter.

Usage::

    python benchmarks/xs3.py [--batch 1000] [--host-samples 200] [--repeat 3] [MODEL ...]

For each corpus model (``TFLITEKIT_CORPUS``, default ``~/.cache/tflitekit/corpus``; default
models ``tflite_micro_speech`` and ``keyword_spotting_on_off_v3``), converted here by xmos'
``xcore-opt`` (PyPI ``xmos-ai-tools``, installed ``--no-deps`` with ``tflite``; the peer, never a
dependency of tflitekit), on ``--batch`` random int8 inputs (seed 0):

- **xmos host**: xmos' host interpreter (TFLite Micro with xmos' XC kernels, compiled C) invoked
  once per sample, over the first ``--host-samples`` inputs (the time per sample is their mean);
- **tflitekit xcore-opt**: the same converted file on ``tflitekit.xs3.xs3_interpreter(model,
  lower=False)`` (XC operators on the XS3 kernels, the rest on the reference kernels), one
  batched run over all ``--batch`` inputs; its outputs are checked bit-identical to the host's
  on the samples both ran;
- **tflitekit lowering**: the original model on ``xs3_interpreter(model)`` (our own lowering),
  and the plain reference interpreter, for scale.

Every time is the best of ``--repeat`` runs (the machine's other load only slows a run down).
The ratio is the host's time per sample over tflitekit's (xcore-opt file); the target is ≥ 10.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tflitekit
from tflitekit.interpreter import Interpreter
from tflitekit.testing import corpus_dir
from tflitekit.xs3 import xs3_interpreter

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "tests" / "xs3")]
import convert_xcore  # noqa: E402
from _xmos_host import HostInterpreter  # noqa: E402

MODELS = ("tflite_micro_speech", "keyword_spotting_on_off_v3")


def _per_sample(seconds: float, n: int) -> str:
    return f"{1e6 * seconds / n:,.0f}"


def _timed(repeat, fn, *args):  # type: ignore[no-untyped-def]
    """``fn(*args)`` and its best time over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return out, best


def measure(name: str, corpus: Path, work: Path, batch: int, host_samples: int, repeat: int
            ) -> list[str]:
    source = corpus / "models" / f"{name}.tflite"
    converted = work / f"{name}.xcore.tflite"
    converter, _ = convert_xcore.find_converter()
    convert_xcore.convert(source, converted, converter)
    model, xcore = tflitekit.load(source), tflitekit.load(converted)
    spec = xcore.main.inputs[0]
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (batch, *spec.shape[1:]), dtype=np.int8)
    host = HostInterpreter(converted.read_bytes())
    theirs, host_s = _timed(repeat, host.run, [x[:host_samples, None]])
    host.close()
    ours_ip = xs3_interpreter(xcore, lower=False)
    ours, ours_s = _timed(repeat, ours_ip.run, [x])
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if not np.array_equal(a[:host_samples].reshape(b.shape), b):
            sys.exit(f"benchmarks/xs3.py: {name}: output {i} differs from xmos' host "
                     "interpreter")
    original_input = model.main.inputs[0]
    if original_input.dtype == xcore.main.inputs[0].dtype:
        lowered_ip = xs3_interpreter(model)
        _, lowered_s = _timed(repeat, lowered_ip.run, [x])
        _, reference_s = _timed(repeat, Interpreter(model).run, [x])
        lowered, reference = _per_sample(lowered_s, batch), _per_sample(reference_s, batch)
    else:
        lowered = reference = "-"
    return [name, f"{len(xcore.main.operators)}", _per_sample(host_s, host_samples),
            _per_sample(ours_s, batch), lowered, reference,
            f"{(host_s / host_samples) / (ours_s / batch):.1f}x"]


HEADER = ["model", "ops", "xmos host us/sample", "tflitekit xcore-opt us/sample",
          "tflitekit lowering us/sample", "reference us/sample", "ratio"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(MODELS), metavar="MODEL")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--host-samples", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = corpus_dir()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models:
            rows.append(measure(name, corpus, Path(work), args.batch,
                                min(args.host_samples, args.batch), max(1, args.repeat)))
            print("  ".join(rows[-1]), flush=True)
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    print()
    for r in [HEADER, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))


if __name__ == "__main__":
    main()

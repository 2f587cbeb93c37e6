"""Speed and memory of tflitekit's interpreter against TFLite Micro and LiteRT, side by side.

Usage::

    python benchmarks/interpreter.py [--corpus DIR] [--samples 1000] [--single-runs 30] [--json]
                                     [--models micro_speech,keyword_spotting_on_off_v3,...]

For each model (default: ``tflite_micro_speech``, ``keyword_spotting_on_off_v3`` and
``visual_wake_words`` from ``DIR/models``; ``DIR`` defaults to ``$TFLITEKIT_CORPUS``, else
``~/.cache/tflitekit/corpus``), with ``--samples`` seeded random inputs over the full integer
range:

a. **Batch.** tflitekit runs the whole batch in one ``Interpreter.run`` call (``batch_size``
   chunks of 250 samples, as a user evaluating a data set would), once on the calling thread
   and once with the chunks (of 125) on a ``ThreadPoolExecutor`` of ``--threads`` workers (2;
   numpy releases the GIL); TFLite Micro's Python runtime
   and LiteRT (its default optimized kernels, XNNPACK) run a per-sample loop: ``set_input`` /
   ``set_tensor``, ``invoke``, copy the outputs. Interpreters are created before timing. Each
   contestant runs once; the outputs of all three are compared (tflitekit must equal TFLite Micro
   bit for bit; LiteRT's optimized kernels may differ by ±1, which is reported).
b. **Single sample.** The best of ``--single-runs`` timed runs of one sample, for each.

Peak memory of tflitekit's batch run is measured with ``tracemalloc`` (numpy reports its
allocations there) in a run of its own, after the timed one, and compared with the batch's live
set: the largest, over the operators, of the bytes of the tensors alive across that operator
(inputs read, outputs written, values kept for later operators) times the chunk size, and
with what keeping every tensor of every sample would take.

Targets: batch at least 5x faster than the TFLite Micro loop on every model (single-threaded),
single sample at most 3x TFLite Micro's time, peak at most 3x the live set.
Exits 0 whether targets are met or missed (the report says which); exits 1 when tflitekit's
outputs differ from TFLite Micro's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import tflitekit
from tflitekit import Interpreter, Model
from tflitekit.testing import corpus_dir

DEFAULT_MODELS = ("tflite_micro_speech", "keyword_spotting_on_off_v3", "visual_wake_words")
CHUNK = 250
TARGET_BATCH = 5.0  # TFLM loop time / tflitekit batch time, at least
TARGET_SINGLE = 3.0  # tflitekit single sample / TFLM single sample, at most
TARGET_MEMORY = 3.0  # peak / live set, at most

Array = np.ndarray


def batch_inputs(model: Model, samples: int, seed: int) -> list[Array]:
    """``samples`` random inputs per model input, stacked on a leading axis (full integer range;
    standard normal for floats)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.main.inputs:
        shape = (samples, *(t.shape or ())[1:])
        dtype = t.numpy_dtype
        if dtype is not None and dtype.kind in "iu":
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def live_set_bytes(interpreter: Interpreter) -> int:
    """Bytes of one sample's largest live set: at each operator, every non-constant tensor
    already computed and still needed later, plus the operator's outputs."""
    graph = interpreter.graph
    ops = interpreter.operators
    last: dict[int, int] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t is not None and not t.is_constant:
                last[id(t)] = i
    for t in graph.outputs:
        last[id(t)] = len(ops)
    live = {id(t): t for t in graph.inputs}
    worst = 0
    for i, op in enumerate(ops):
        for t in op.outputs:
            live[id(t)] = t
        worst = max(worst, sum(_nbytes(t) for t in live.values()))
        for key in [k for k in live if last.get(k, -1) <= i]:
            del live[key]
    return worst


def _nbytes(tensor: tflitekit.Tensor) -> int:
    dtype = tensor.numpy_dtype
    return int(np.prod(tensor.shape or ())) * (dtype.itemsize if dtype is not None else 1)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def tflm_loop(data: bytes, arrays: list[Array], n: int) -> Callable[[], list[Array]]:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data, arena_size=16 << 20)

    def loop() -> list[Array]:
        outs: list[list[Array]] = []
        for s in range(n):
            for i, a in enumerate(arrays):
                interp.set_input(a[s:s + 1], i)
            interp.invoke()
            outs.append([np.array(interp.get_output(0))])
        return [np.concatenate([o[0] for o in outs])]
    return loop


def litert_loop(data: bytes, arrays: list[Array], n: int) -> Callable[[], list[Array]]:
    from ai_edge_litert.interpreter import Interpreter as LiteRT

    interp = LiteRT(model_content=data)
    interp.allocate_tensors()
    ins = interp.get_input_details()
    out = interp.get_output_details()[0]["index"]

    def loop() -> list[Array]:
        outs = []
        for s in range(n):
            for d, a in zip(ins, arrays, strict=True):
                interp.set_tensor(d["index"], a[s:s + 1])
            interp.invoke()
            outs.append(interp.get_tensor(out).copy())
        return [np.concatenate(outs)]
    return loop


def bench_model(path: Path, samples: int, single_runs: int, threads: int,
                log: Callable[[str], None]) -> dict[str, Any]:
    data = path.read_bytes()
    model = tflitekit.load(data)
    interp = Interpreter(model)
    arrays = batch_inputs(model, samples, seed=0)
    one = [a[:1] for a in arrays]

    def ours() -> list[Array]:
        return interp.run(arrays, batch_size=CHUNK)

    ours()  # warm-up (first-touch of the weights, BLAS threads)
    ours_time, ours_out = timed(ours)
    tracemalloc.start()  # a separate run: tracing slows every allocation down
    ours()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    live = live_set_bytes(interp) * min(CHUNK, samples)
    everything = sum(_nbytes(t) for t in interp.graph.tensors if not t.is_constant) * samples

    with ThreadPoolExecutor(threads) as pool:
        threaded_time, threaded_out = timed(
            lambda: interp.run(arrays, batch_size=CHUNK // 2, executor=pool))
    assert np.array_equal(threaded_out[0], ours_out[0])

    peers = {"tflm": tflm_loop(data, arrays, samples), "litert": litert_loop(data, arrays, samples)}
    times = {"tflitekit": ours_time, "tflitekit_threads": threaded_time}
    outs = {"tflitekit": ours_out[0].reshape(samples, -1)}
    for name, loop in peers.items():
        times[name], out = timed(loop)
        outs[name] = out[0].reshape(samples, -1)
    exact = bool(np.array_equal(outs["tflitekit"], outs["tflm"]))
    litert_diff = int(np.abs(outs["tflitekit"].astype(np.int64)
                             - outs["litert"].astype(np.int64)).max())

    single = {}
    single_fns = {"tflitekit": lambda: interp.run(one),
                  "tflm": tflm_loop(data, one, 1), "litert": litert_loop(data, one, 1)}
    for name, fn in single_fns.items():
        fn()
        single[name] = min(timed(fn)[0] for _ in range(single_runs))

    result = {
        "model": path.stem, "samples": samples,
        "batch_seconds": times, "batch_speedup_vs_tflm": times["tflm"] / times["tflitekit"],
        "batch_speedup_vs_litert": times["litert"] / times["tflitekit"],
        "threads": threads,
        "batch_speedup_vs_tflm_threads": times["tflm"] / times["tflitekit_threads"],
        "single_seconds": single, "single_ratio_vs_tflm": single["tflitekit"] / single["tflm"],
        "peak_bytes": peak, "live_set_bytes": live, "peak_over_live_set": peak / live,
        "all_tensors_of_all_samples_bytes": everything,
        "bit_exact_with_tflm": exact, "max_abs_diff_vs_litert_optimized": litert_diff,
    }
    log(f"{path.stem}: batch of {samples}: tflitekit {times['tflitekit']:.2f} s, "
        f"TFLM loop {times['tflm']:.2f} s ({result['batch_speedup_vs_tflm']:.1f}x), "
        f"LiteRT loop {times['litert']:.2f} s ({result['batch_speedup_vs_litert']:.1f}x)")
    log(f"  with {threads} threads: tflitekit {times['tflitekit_threads']:.2f} s "
        f"({result['batch_speedup_vs_tflm_threads']:.1f}x the TFLM loop)")
    log(f"  single sample: tflitekit {single['tflitekit'] * 1e3:.2f} ms, "
        f"TFLM {single['tflm'] * 1e3:.2f} ms ({result['single_ratio_vs_tflm']:.2f}x), "
        f"LiteRT {single['litert'] * 1e3:.2f} ms")
    log(f"  peak memory {peak / 2**20:.1f} MiB; live set of a {min(CHUNK, samples)}-sample "
        f"chunk {live / 2**20:.1f} MiB ({result['peak_over_live_set']:.2f}x); every tensor of "
        f"every sample would be {everything / 2**20:.0f} MiB")
    log(f"  outputs: {'bit-exact with' if exact else 'DIFFERENT from'} TFLM; LiteRT optimized "
        f"kernels differ by at most {litert_diff}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=corpus_dir())
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--single-runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = sys.stderr if args.json else sys.stdout

    def log(text: str) -> None:
        print(text, file=out, flush=True)

    results = [bench_model(args.corpus / "models" / f"{name}.tflite", args.samples,
                           args.single_runs, args.threads, log)
               for name in args.models.split(",")]
    met = {
        "batch >= 5x TFLM loop": all(r["batch_speedup_vs_tflm"] >= TARGET_BATCH for r in results),
        "single <= 3x TFLM": all(r["single_ratio_vs_tflm"] <= TARGET_SINGLE for r in results),
        "peak <= 3x live set": all(r["peak_over_live_set"] <= TARGET_MEMORY for r in results),
    }
    for target, ok in met.items():
        log(f"target {target}: {'met' if ok else 'MISSED'}")
    if args.json:
        print(json.dumps({"results": results, "targets": met}, indent=2))
    return 0 if all(r["bit_exact_with_tflm"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

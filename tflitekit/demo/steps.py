"""The demo's steps on the bundled model, and its result (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..analysis.graph import operator_graph
from ..analysis.report import html_report
from ..analysis.summary import Summary, summary
from ..analysis.weights import weights
from ..codecs.metrics import Metric, accuracy, agreement
from ..codecs.search import Allocation
from ..errors import RuntimeUnavailable
from ..interpreter import Interpreter, Progress
from ..ir import Model
from ..passes import DecompressWeights, optimize
from ..passes.compress_plan import compress_plan, search_bits
from ..passes.compress_weights import CompressedTensor, compressed_tensors
from ..runtimes import run_tflm
from ..serde import load
from ..xs3 import Comparison, Profile, compare, profile
from .tables import report_tables

__all__ = ["MAX_DROP", "MODEL", "OUTPUT", "SAMPLES", "STEPS", "BitExact", "Demo", "Figures",
           "run"]

Array = npt.NDArray[Any]
DATA = Path(__file__).resolve().parent
MODEL = DATA / "digits_dscnn.tflite"
"""The bundled model (made by ``scripts/make_demo_model.py``; see ``README.md`` here)."""
SAMPLES = DATA / "samples.npz"
"""Its sample inputs: the digits test split, ``x`` (float32, shaped as the input) and ``y``."""
OUTPUT = "tflitekit-demo"
"""Where :func:`run` writes by default (relative to the working directory)."""
MAX_DROP = 1.0
"""The compression's tolerance: the agreement may drop by at most this many points."""
STEPS = ("summary", "optimize", "compress", "bit-exactness", "xs3", "report")
"""The steps :func:`run` reports progress over, in order."""


@dataclass(frozen=True)
class Figures:
    """One model's headline figures: its file (``path``, ``file_bytes``), constant data
    (``weight_bytes``), TFLite Micro's whole arena for the host build (``arena_bytes``),
    ``macs`` per sample, ``accuracy`` on the samples' labels and top-1 ``agreement`` with the
    optimized model (percent), and the XS3 estimate per sample at 800 MHz (operators the profile
    does not estimate, such as QUANTIZE or TFLM_DECODE, are not counted)."""

    name: str
    path: str
    file_bytes: int
    weight_bytes: int
    arena_bytes: int
    macs: int
    accuracy: float
    agreement: float
    xs3_microseconds: float
    xs3_instructions: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BitExact:
    """The compressed model's outputs on every sample (``elements`` values) against the same
    model decompressed, both in tflitekit's interpreter, and against TFLite Micro running the
    compressed file (``tflm_differing`` None when it is not installed: ``tflm_note`` says
    why)."""

    samples: int
    elements: int
    decompressed_differing: int
    tflm_differing: int | None
    tflm_note: str = ""

    @property
    def exact(self) -> bool:
        """No element differs from either reference."""
        return self.decompressed_differing == 0 and not self.tflm_differing

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"exact": self.exact}


@dataclass(frozen=True)
class Demo:
    """What :func:`run` did: the ``models`` (bundled, optimized, compressed), the compression
    search, the bit-exactness check, the compressed model's XS3 ``profile`` and per-layer
    ``comparison`` with TFLite, the files written into ``directory`` and how long it took."""

    directory: str
    report: str
    models: tuple[Figures, ...]
    allocation: Allocation
    bit_exact: BitExact
    profile: Profile
    comparison: Comparison
    tensors: tuple[CompressedTensor, ...]
    seconds: float

    def model(self, name: str) -> Figures:
        """The figures of ``"bundled"``, ``"optimized"`` or ``"compressed"``."""
        return next(f for f in self.models if f.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "report": self.report,
                "models": [f.to_json() for f in self.models],
                "compression": self.allocation.to_json(),
                "compressed_tensors": [t.to_json() for t in self.tensors],
                "bit_exact": self.bit_exact.to_json(),
                "xs3": {"profile": self.profile.to_json(),
                        "comparison": self.comparison.to_json()},
                "seconds": self.seconds}


def run(directory: str | Path = OUTPUT, *, max_drop: float = MAX_DROP,
        executor: Executor | None = None, progress: Progress | None = None) -> Demo:
    """Run the demo on the bundled model, writing the optimized and the compressed model and
    ``report.html`` into ``directory`` (created when missing). ``executor`` runs the
    compression search's evaluations (None: a process pool, one worker per core);
    ``progress(done, total)`` is called after each of :data:`STEPS`."""
    start = time.perf_counter()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    step = _stepper(progress)
    bundled = load(MODEL.read_bytes())
    with np.load(SAMPLES) as data:
        x, y = data["x"], data["y"]
    step()
    optimized = bundled.copy()
    optimize(optimized, strip_float_io=True)
    paths = {"bundled": MODEL, "optimized": out / f"{MODEL.stem}_optimized.tflite",
             "compressed": out / f"{MODEL.stem}_compressed.tflite"}
    optimized.save(paths["optimized"], overwrite=True)
    agree = agreement(optimized, x)
    step()
    allocation = search_bits(optimized, agree, max_drop=max_drop, executor=executor)
    compressed = optimized.copy()
    compress_plan(compressed, allocation.params)
    compressed.save(paths["compressed"], overwrite=True)
    stored = compressed_tensors(compressed)
    step()
    decompressed = DecompressWeights()(compressed.copy()).model
    exact = _bit_exact(compressed, decompressed, agree.inputs)
    step()
    models = {"bundled": bundled, "optimized": optimized, "compressed": compressed}
    profiles = {name: profile(m) for name, m in models.items()}
    comparison = compare(compressed, list(agree.inputs))
    step()
    summaries = {name: summary(m, paths[name]) for name, m in models.items()}
    figures = tuple(_figures(name, summaries[name], m, x, y, agree, profiles[name])
                    for name, m in models.items())
    page = out / "report.html"
    final = summaries["compressed"]
    page.write_text(html_report(
        f"tflitekit demo: {MODEL.name}", subtitle="the bundled model optimized, compressed, "
        "checked bit for bit and run as xcore.ai would", layers=final.layers, rom=final.rom,
        memory=final.memory, arenas=final.arenas, weights=weights(decompressed),
        graph=operator_graph(compressed),
        tables=report_tables(figures, allocation, exact, profiles["compressed"],
                             comparison)),
        encoding="utf-8")
    step()
    return Demo(str(out), str(page), figures, allocation, exact, profiles["compressed"],
                comparison, stored, time.perf_counter() - start)


def _stepper(progress: Progress | None) -> Callable[[], None]:
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(STEPS))

    return step


def _differing(a: list[Array], b: list[Array]) -> int:
    return sum(int(np.count_nonzero(p != q)) for p, q in zip(a, b, strict=True))


def _bit_exact(compressed: Model, decompressed: Model, inputs: tuple[Array, ...]) -> BitExact:
    ours = Interpreter(compressed).run(list(inputs))
    reference = Interpreter(decompressed).run(list(inputs))
    try:
        tflm: int | None = _differing(ours, run_tflm(compressed.to_bytes(), list(inputs)))
        note = ""
    except RuntimeUnavailable:
        tflm, note = None, "TFLite Micro is not installed (pip install tflite-micro)"
    return BitExact(int(inputs[0].shape[0]), sum(int(o.size) for o in ours),
                    _differing(ours, reference), tflm, note)


def _figures(name: str, result: Summary, model: Model, x: Array, y: Array, agree: Metric,
             xs3: Profile) -> Figures:
    correct = accuracy(model, x, y)
    outputs = Interpreter(model).run(list(correct.inputs))  # this model's inputs, both scores
    total = xs3.total
    return Figures(name, str(result.file), result.rom.file_bytes, result.rom.weights_bytes,
                   result.arena.total_bytes, result.total_macs, correct.score(outputs),
                   agree.score(outputs), total.microseconds, total.instructions)

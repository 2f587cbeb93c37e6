"""The demo's results as the report's tables (:class:`~tflitekit.analysis.report.Table`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..analysis.report import Cell, Table
from ..codecs.search import Allocation
from ..xs3 import Comparison, Profile
from ..xs3.compare import Difference

if TYPE_CHECKING:
    from .steps import BitExact, Figures

__all__ = ["FIGURES", "figure_rows", "points", "report_tables"]

#: The rows of the before / after table: (label, :class:`Figures` field).
FIGURES = (("file bytes", "file_bytes"), ("weight bytes", "weight_bytes"),
           ("arena bytes (TFLite Micro, host)", "arena_bytes"), ("MACs", "macs"),
           ("accuracy %", "accuracy"), ("agreement %", "agreement"),
           ("XS3 µs per sample", "xs3_microseconds"),
           ("XS3 instructions per sample", "xs3_instructions"))


def figure_rows(models: Sequence[Figures]) -> tuple[tuple[Cell, ...], ...]:
    """One row per :data:`FIGURES` entry: its label, then each model's value."""
    return tuple((label, *(getattr(m, field) for m in models)) for label, field in FIGURES)


def report_tables(models: Sequence[Figures], allocation: Allocation, exact: BitExact,
                  xs3: Profile, comparison: Comparison) -> tuple[Table, ...]:
    """Before and after, the compression's choices, bit-exactness and the XS3 layers."""
    return (Table("Before and after", ("", *(m.name for m in models)), figure_rows(models),
                  "agreement: top-1 agreement with the optimized model on the samples; the "
                  "compressed model's arena holds its decoded weights; XS3: estimated at 800 "
                  "MHz, one thread, operators on the reference kernels (QUANTIZE, TFLM_DECODE, "
                  "SOFTMAX, ...) not counted"),
            _choices(allocation), _exactness(exact), _layers(xs3, comparison))


def _choices(allocation: Allocation) -> Table:
    rows = tuple((c.tensor, c.elements, None if c.params is None else c.params.k,
                  c.bytes_before, c.bytes_after, c.bits_per_weight) for c in allocation.choices)
    return Table("Compression", ("tensor", "weights", "values per channel", "bytes before",
                                 "bytes after", "bits per weight"), rows,
                 f"per tensor, the smallest k-means clustering (2 to 7 bits per index, stored "
                 f"as TFLite Micro's TFLM_DECODE lookup tables) keeping {allocation.metric_name}"
                 f" within {points(allocation.max_drop)}: {allocation.baseline:.2f} % -> "
                 f"{allocation.metric:.2f} % ({allocation.evaluations} evaluations)")


def points(drop: float) -> str:
    """``1 point``, ``0.5 points``: a metric drop in percentage points."""
    return f"{drop:g} point" + ("" if drop == 1 else "s")


def _exactness(exact: BitExact) -> Table:
    rows: tuple[tuple[Cell, ...], ...] = (
        ("the compressed model vs the same model decompressed (tflitekit)", exact.elements,
         exact.decompressed_differing),
        ("TFLite Micro vs tflitekit on the compressed model",
         exact.elements if exact.tflm_differing is not None else None,
         exact.tflm_differing if exact.tflm_differing is not None else exact.tflm_note))
    return Table("Bit-exactness", ("outputs on every sample", "elements", "differing"), rows)


def _layers(xs3: Profile, comparison: Comparison) -> Table:
    differences: dict[int, Difference] = {}
    for computed in comparison.layers:
        seen = differences.get(computed.operator)
        differences[computed.operator] = computed.ours if seen is None else seen + computed.ours
    rows = []
    for layer in xs3.layers:
        cost, diff = layer.cost, differences.get(layer.index)
        rows.append((layer.index, layer.opcode, layer.backend, layer.macs,
                     None if cost is None else cost.instructions,
                     None if cost is None else cost.microseconds,
                     None if cost is None else 100 * xs3.share(layer),
                     None if diff is None else 100 * diff.share,
                     None if diff is None else diff.max_diff))
    return Table("XS3 per layer", ("#", "operator", "backend", "MACs", "instructions", "µs",
                                   "share %", "outputs differing from TFLite %", "max difference"),
                 tuple(rows), f"the compressed model, per sample, run as xcore.ai would "
                 f"(tflitekit's XS3 lowering) against tflitekit's reference interpreter "
                 f"(bit-exact with TFLite Micro) on {comparison.samples} samples, end to end")

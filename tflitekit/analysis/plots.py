"""Plots of analysis results with matplotlib (the optional ``plots`` extra, imported when a plot
is drawn): weight histograms per tensor and per channel, weight images of dense layers,
quantization error, the memory timeline and per-layer MACs and memory.

Every function takes results (or arrays), never a model, and returns a
``matplotlib.figure.Figure`` made without pyplot (no global state, no display needed);
:func:`save` writes one as PNG or SVG (by the file's suffix), :func:`png_bytes` as PNG bytes.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import RuntimeUnavailable, UsageError
from ..serde.files import write_chunks
from .weights import WeightTensor

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .layers import Layer
    from .memory import Memory, Step
    from .quant_error import LayerError, QuantizationError, TensorError

__all__ = ["FORMATS", "channel_histograms", "dense_images", "layer_bars", "memory_timeline",
           "png_bytes",
           "quant_error_plot", "require_matplotlib", "save", "weight_histograms"]

FORMATS = ("png", "svg")
"""The file types :func:`save` writes, by suffix."""

INSTALL = "pip install 'tflitekit[plots]'"

_BINS = 64
_COLUMNS = 4
_PANEL = (3.4, 2.4)  # inches per small plot of a grid
_ERROR_ROLES = ("weight", "bias", "activation")


def require_matplotlib() -> None:
    """Raise :class:`~tflitekit.RuntimeUnavailable` naming the ``plots`` extra unless
    matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise RuntimeUnavailable(f"plots need matplotlib, which is not installed ({INSTALL})") \
            from exc


def _figure(width: float, height: float) -> Figure:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 110) -> str:
    """Write ``fig`` to ``path`` (atomically) as PNG or SVG, from the suffix; returns the
    format."""
    kind = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if kind not in FORMATS:
        raise UsageError(f"{os.fspath(path)}: plots are written as .png or .svg")
    out = io.BytesIO()
    fig.savefig(out, format=kind, dpi=dpi)
    write_chunks(path, [out.getvalue()])
    return kind


def png_bytes(fig: Figure, *, dpi: int = 90) -> bytes:
    """``fig`` as PNG bytes (what the HTML report inlines)."""
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


def _grid(fig: Figure, count: int, columns: int) -> list[Axes]:
    """``count`` axes in rows of ``columns`` (the figure sized to fit them)."""
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    fig.set_size_inches(_PANEL[0] * columns, _PANEL[1] * rows)
    return [fig.add_subplot(rows, columns, k + 1) for k in range(count)]


def _small(ax: Axes) -> None:
    """Small ticks, few enough on x not to overlap in a grid panel."""
    ax.tick_params(labelsize=7)
    ax.locator_params(axis="x", nbins=5)


def _title(t: WeightTensor) -> str:
    name = t.name or "(unnamed)"
    if len(name) > 36:
        name = "…" + name[-35:]
    return f"op {t.operator} {t.opcode} {t.role}\n{name} {'x'.join(map(str, t.shape))}"


def _none(fig: Figure, what: str) -> Figure:
    fig.text(0.5, 0.5, f"no {what}", ha="center", va="center")
    return fig


def weight_histograms(tensors: Sequence[WeightTensor], *, bins: int = _BINS,
                      columns: int = _COLUMNS) -> Figure:
    """A histogram of each tensor's real values, in a grid."""
    fig = _figure(*_PANEL)
    if not tensors:
        return _none(fig, "weights")
    for ax, t in zip(_grid(fig, len(tensors), columns), tensors, strict=True):
        counts, edges = np.histogram(t.values, bins=bins)
        ax.stairs(counts, edges, fill=True, color="#4a6fb5")
        ax.set_title(_title(t), fontsize=8)
        ax.set_yscale("symlog", linthresh=1)
        _small(ax)
    return fig


def channel_histograms(tensors: Sequence[WeightTensor], *, bins: int = _BINS,
                       columns: int = _COLUMNS) -> Figure:
    """Per channel: each tensor's histograms of values (x) by output channel (y) as an image
    (brightness: log count), with each channel's minimum and maximum marked."""
    fig = _figure(*_PANEL)
    if not tensors:
        return _none(fig, "weights")
    for ax, t in zip(_grid(fig, len(tensors), columns), tensors, strict=True):
        rows = t.channels
        low, high = float(rows.min()), float(rows.max())
        edges = np.linspace(low, high if high > low else low + 1, bins + 1)
        counts = np.stack([np.histogram(r, bins=edges)[0] for r in rows])
        ax.imshow(np.log1p(counts), aspect="auto", origin="lower", cmap="viridis",
                  extent=(edges[0], edges[-1], -0.5, len(rows) - 0.5), interpolation="nearest")
        channel = np.arange(len(rows))
        ax.plot(rows.min(axis=1), channel, "|", color="#ff7f0e", markersize=3)
        ax.plot(rows.max(axis=1), channel, "|", color="#ff7f0e", markersize=3)
        ax.set_title(_title(t), fontsize=8)
        ax.set_ylabel("channel" if t.channel_axis is not None else "(one tensor)", fontsize=7)
        _small(ax)
    return fig


def dense_images(matrices: Sequence[WeightTensor | npt.ArrayLike], *,
                 columns: int = 2) -> Figure:
    """Each weight matrix as an image (rows: output units, columns: inputs), coloured around
    zero; a tensor of rank above 2 is flattened after its first dimension."""
    fig = _figure(*_PANEL)
    if not matrices:
        return _none(fig, "dense layers")
    for ax, m in zip(_grid(fig, len(matrices), columns), matrices, strict=True):
        values = np.asarray(m.values if isinstance(m, WeightTensor) else m, np.float64)
        image = values.reshape(values.shape[0], -1) if values.ndim > 1 else values[None]
        limit = float(np.abs(image).max()) or 1.0
        shown = ax.imshow(image, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                          interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
        ax.set_title(_title(m) if isinstance(m, WeightTensor)
                     else "x".join(map(str, values.shape)), fontsize=8)
        ax.set_xlabel("input", fontsize=7)
        ax.set_ylabel("output unit", fontsize=7)
        _small(ax)
    return fig


def quant_error_plot(result: QuantizationError, *, columns: int = _COLUMNS) -> Figure:
    """The quantization error of each layer: relative error of its weights, biases and
    activations (bars, log scale), then the distribution of each activation's error."""
    fig = _figure(*_PANEL)
    if not result.layers:
        return _none(fig, "matched layers")
    layers = result.layers
    tensors: list[tuple[str, TensorError]] = [
        (f"op {layer.quantized_index} {layer.opcode}", a)
        for layer in layers for a in layer.activations]
    columns = max(1, min(columns, len(tensors)))
    rows = math.ceil(len(tensors) / columns)
    fig.set_size_inches(max(8.0, 0.35 * len(layers) + 2, _PANEL[0] * columns),
                        3.6 + _PANEL[1] * rows)
    grid = fig.add_gridspec(1 + rows, columns, height_ratios=[1.5] + [1] * rows)
    ax = fig.add_subplot(grid[0, :])
    x = np.arange(len(layers))
    for k, role in enumerate(_ERROR_ROLES):
        values = [_worst(layer, role) for layer in layers]
        ax.bar(x + (k - 1) * 0.27, [v if v is not None else 0.0 for v in values], 0.27,
               label=role)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{layer.quantized_index} {layer.opcode}" for layer in layers],
                  rotation=90, fontsize=7)
    ax.set_ylabel("relative error  ||q - f|| / ||f||", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_title(f"quantization error per layer ({result.samples} samples)", fontsize=9)
    for k, (title, t) in enumerate(tensors):
        panel = fig.add_subplot(grid[1 + k // columns, k % columns])
        panel.stairs(t.histogram.counts, t.histogram.edges, fill=True, color="#c44e52")
        panel.set_title(f"{title}\nerror, SQNR {t.sqnr_db:.1f} dB", fontsize=8)
        panel.set_yscale("symlog", linthresh=1)
        _small(panel)
    return fig


def _worst(layer: LayerError, role: str) -> float | None:
    """The largest relative error of a layer's tensors of ``role`` (None: it has none)."""
    group = {"weight": layer.weights, "bias": layer.biases, "activation": layer.activations}
    errors = [t.rel_error for t in group[role] if math.isfinite(t.rel_error)]
    return max(errors) if errors else None


def memory_timeline(memory: Memory) -> Figure:
    """The arena head over time: each planned buffer as a rectangle from its first to its last
    allocation scope (x) at its offset in the head (y), the bytes alive in each scope (line)
    and the head's size (dashed)."""
    steps = memory.timeline
    fig = _figure(min(14.0, max(6.0, 0.2 * len(steps) + 2.5)), 4.8)
    ax = fig.add_subplot()
    colours = [f"C{k % 10}" for k in range(len(memory.allocations))]
    for a, colour in zip(memory.allocations, colours, strict=True):
        scratch = a.kind == "scratch"
        ax.add_patch(_rectangle((a.first - 0.42, a.offset), a.last - a.first + 0.84,
                                a.aligned_bytes, colour="#999999" if scratch else colour,
                                hatch="//" if scratch else None))
    times = [s.time for s in steps]
    ax.step(times, [s.live_bytes for s in steps], where="mid", color="black", linewidth=1.2,
            label="live bytes")
    ax.axhline(memory.arena_head_bytes, color="#c44e52", linestyle="--", linewidth=1,
               label=f"arena head {memory.arena_head_bytes:,} B")
    ax.set_xlim(min(times, default=0) - 0.6, max(times, default=0) + 0.6)
    ax.set_ylim(0, max(memory.arena_head_bytes, memory.peak_live_bytes, 1) * 1.05)
    ax.set_xticks(times, [_step_label(s) for s in steps], rotation=90, fontsize=7)
    ax.set_ylabel("offset in the arena head (bytes)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"memory timeline: {len(memory.allocations)} buffers, peak live "
                 f"{memory.peak_live_bytes:,} B, no reuse {memory.no_reuse_bytes:,} B",
                 fontsize=9)
    return fig


def _rectangle(corner: tuple[float, float], width: float, height: float, *, colour: str,
               hatch: str | None) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle(corner, width, height, facecolor=colour, edgecolor="black",
                     linewidth=0.5, alpha=0.75, hatch=hatch)


def _step_label(step: Step) -> str:
    if step.operator is not None:
        return f"{step.time} {step.opcode}"
    return f"{step.time} untouched" if step.subgraph is None else f"{step.time} inputs"


def layer_bars(layers: Sequence[Layer]) -> Figure:
    """Per layer: MACs (top) and weight and activation bytes (bottom), as bars."""
    fig = _figure(min(14.0, max(6.0, 0.22 * len(layers) + 2.5)), 5.6)
    if not layers:
        return _none(fig, "layers")
    macs, memory = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(layers))
    macs.bar(x, [row.macs for row in layers], color="#4a6fb5")
    macs.set_ylabel("MACs", fontsize=8)
    macs.set_title(f"{len(layers)} layers, {sum(row.macs for row in layers):,} MACs, "
                   f"{sum(row.ops for row in layers):,} OPs", fontsize=9)
    memory.bar(x - 0.2, [row.weight_bytes for row in layers], 0.4, label="weight bytes",
               color="#dd8452")
    memory.bar(x + 0.2, [row.activation_bytes for row in layers], 0.4,
               label="activation bytes", color="#55a868")
    memory.set_ylabel("bytes", fontsize=8)
    memory.legend(fontsize=7)
    memory.set_xticks(x, [f"{row.index} {row.opcode}" for row in layers], rotation=90,
                      fontsize=7)
    for ax in (macs, memory):
        ax.tick_params(axis="y", labelsize=7)
    return fig

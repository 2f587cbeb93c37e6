"""analysis.plots: each plot draws what its result holds; PNG and SVG files; matplotlib missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tflitekit.analysis import plots
from tflitekit.analysis.memory import memory
from tflitekit.analysis.quant_error import Histogram, LayerError, QuantizationError, TensorError
from tflitekit.analysis.weights import weights
from tflitekit.errors import RuntimeUnavailable, UsageError
from tflitekit.testing import build_runnable_model

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="needs matplotlib, the plots extra (pip install 'tflitekit[plots]')")

PNG = b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_plots_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(RuntimeUnavailable, match=r"pip install 'tflitekit\[plots\]'"):
        plots.weight_histograms(weights(build_runnable_model()).tensors)
    with pytest.raises(ImportError):  # RuntimeUnavailable is an ImportError too
        plots.require_matplotlib()


def _titles(fig: object) -> list[str]:
    return [ax.get_title() for ax in fig.axes]  # type: ignore[attr-defined]


@needs_matplotlib
def test_weight_histograms_one_panel_per_tensor(tmp_path: Path) -> None:
    found = weights(build_runnable_model())
    fig = plots.weight_histograms(found.tensors, bins=8)
    assert len(fig.axes) == 5
    assert _titles(fig)[0] == "op 0 CONV_2D weights\nconv/w 3x2x2x2"
    # the bars are the histogram of the real values
    conv_w = found.tensors[0].values
    (bars,) = fig.axes[0].patches
    counts, _ = np.histogram(conv_w, bins=8)
    assert bars.get_path().vertices[:, 1].max() == counts.max()
    assert plots.save(fig, tmp_path / "w.png") == "png"
    assert (tmp_path / "w.png").read_bytes().startswith(PNG)
    assert plots.save(fig, tmp_path / "w.SVG") == "svg"
    assert b"<svg" in (tmp_path / "w.SVG").read_bytes()[:400]
    assert plots.png_bytes(fig).startswith(PNG)


@needs_matplotlib
def test_channel_histograms_rows_are_channels() -> None:
    conv_w = weights(build_runnable_model()).tensors[0]
    fig = plots.channel_histograms([conv_w], bins=4)
    (ax,) = fig.axes[:1]
    (image,) = ax.images
    counts = np.expm1(image.get_array())
    assert counts.shape == (3, 4)  # 3 output channels, 4 bins
    np.testing.assert_allclose(counts.sum(axis=1), [8, 8, 8])  # 2x2x2 values per channel


@needs_matplotlib
def test_dense_images_show_the_matrix() -> None:
    fc_w = weights(build_runnable_model()).of_role("weights")[1]
    fig = plots.dense_images([fc_w, np.eye(3)])
    shown = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(shown) == 2
    np.testing.assert_array_equal(shown[0].get_array(), fc_w.values)
    low, high = shown[0].get_clim()
    assert low == -high == -np.abs(fc_w.values).max()  # coloured around zero
    assert _titles(fig)[1] == "3x3"


@needs_matplotlib
def test_memory_timeline_draws_every_buffer() -> None:
    mem = memory(build_runnable_model())
    fig = plots.memory_timeline(mem)
    (ax,) = fig.axes
    boxes = [(p.get_x(), p.get_y(), p.get_height()) for p in ax.patches]
    assert len(boxes) == len(mem.allocations)
    for (x, y, height), a in zip(boxes, mem.allocations, strict=True):
        assert (x, y, height) == (pytest.approx(a.first - 0.42), a.offset, a.aligned_bytes)
    (live,) = ax.lines[:1]
    assert list(live.get_ydata()) == [s.live_bytes for s in mem.timeline]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "0 inputs", "1 CONV_2D", "2 RESHAPE", "3 FULLY_CONNECTED", "4 ADD"]


def _error(role: str, rel: float) -> TensorError:
    return TensorError(role, "f", "q", "int8", (1, 4), rel, 0.1, 0.0, 20.0,  # type: ignore[arg-type]
                       Histogram((-1.0, 0.0, 1.0), (3, 5)))


@needs_matplotlib
def test_quant_error_plot_bars_and_histograms() -> None:
    result = QuantizationError(
        samples=2, inputs=(), outputs=(), unmatched=(), inserted=(),
        layers=(LayerError("CONV_2D", 0, 1, "name", (), (_error("weight", 0.01),),
                           (_error("bias", 0.001),), (_error("activation", 0.05),)),
                LayerError("SOFTMAX", 1, 2, "structure", (), (), (),
                           (_error("activation", 0.2),))))
    fig = plots.quant_error_plot(result)
    bars = fig.axes[0]
    heights = [p.get_height() for p in bars.patches]
    assert heights == [0.01, 0.0, 0.001, 0.0, 0.05, 0.2]  # weights, biases, activations
    assert [t.get_text() for t in bars.get_xticklabels()] == ["1 CONV_2D", "2 SOFTMAX"]
    assert len(fig.axes) == 3  # the bars, then one histogram per activation
    assert _titles(fig)[1] == "op 1 CONV_2D\nerror, SQNR 20.0 dB"


@needs_matplotlib
def test_empty_inputs_give_a_figure_saying_so() -> None:
    fig = plots.weight_histograms([])
    assert [t.get_text() for t in fig.texts] == ["no weights"]


@needs_matplotlib
def test_save_refuses_other_formats(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"plots are written as \.png or \.svg"):
        plots.save(plots.weight_histograms([]), tmp_path / "w.jpg")

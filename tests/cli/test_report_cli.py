"""``tflitekit plot`` and ``tflitekit report``: files written, JSON printed, one-line errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from _cli import run, run_json

from tflitekit.analysis.graph import operator_graph
from tflitekit.analysis.graph_layout import layered_svg
from tflitekit.analysis.report import CSP
from tflitekit.testing import build_runnable_model

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="needs matplotlib, the plots extra (pip install 'tflitekit[plots]')")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "runnable.tflite"
    build_runnable_model().save(path)
    return path


def test_plot_graph_svg_and_dot(capsys: pytest.CaptureFixture[str], model_path: Path,
                                tmp_path: Path) -> None:
    out = tmp_path / "g.svg"
    assert run_json(capsys, "plot", model_path, "graph", "-o", out, "--engine", "builtin") == {
        "model": str(model_path), "kind": "graph", "output": str(out), "format": "svg",
        "engine": "builtin"}
    graph = operator_graph(build_runnable_model())
    assert out.read_text() == layered_svg(graph)
    dot = tmp_path / "g.dot"
    code, text, err = run(capsys, "plot", model_path, "graph", "-o", dot)
    assert (code, err) == (0, "")
    assert text == f"{model_path}: graph -> {dot} (dot)\n"
    assert dot.read_text() == graph.to_dot()


@pytest.mark.parametrize(("kind", "name", "message"), [
    ("weights", "w.jpg", "w.jpg: weights is written as .png or .svg"),
    ("graph", "g.png", "g.png: graph is written as .svg or .dot"),
    ("quant-error", "q.png", "quant-error needs --float MODEL, the float model to compare with"),
])
def test_plot_usage_errors(capsys: pytest.CaptureFixture[str], model_path: Path, tmp_path: Path,
                           kind: str, name: str, message: str) -> None:
    code, out, err = run(capsys, "plot", model_path, kind, "-o", tmp_path / name)
    assert code == 2 and out == ""
    assert err.endswith(f"{message}\n") and err.startswith("tflitekit: error: ")
    assert err.count("\n") == 1
    assert not (tmp_path / name).exists()


def test_plot_refuses_to_overwrite_the_model(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    path = tmp_path / "m.svg"  # a model file that happens to end in .svg
    build_runnable_model().save(path)
    code, _, err = run(capsys, "plot", path, "graph", "-o", path)
    assert code == 1 and "refusing to overwrite" in err


def test_plot_without_matplotlib_names_the_extra(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 model_path: Path, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run(capsys, "plot", model_path, "weights", "-o", tmp_path / "w.png",
                         "--json")
    message = ("plots need matplotlib, which is not installed "
               "(pip install 'tflitekit[plots]')")
    assert code == 1
    assert err == f"tflitekit: error: {message}\n"
    assert out == f'{{\n  "error": "{message}"\n}}\n'


@needs_matplotlib
@pytest.mark.parametrize(("kind", "panels"), [
    ("weights", 2), ("channels", 2), ("dense-image", 1), ("memory", 5), ("macs", 4)])
def test_plot_charts(capsys: pytest.CaptureFixture[str], model_path: Path, tmp_path: Path,
                     kind: str, panels: int) -> None:
    png, svg = tmp_path / f"{kind}.png", tmp_path / f"{kind}.svg"
    report = run_json(capsys, "plot", model_path, kind, "-o", png)
    assert report["panels"] == panels and report["format"] == "png"
    assert png.read_bytes().startswith(PNG)
    assert run_json(capsys, "plot", model_path, kind, "-o", svg)["format"] == "svg"
    assert b"<svg" in svg.read_bytes()[:500]


@needs_matplotlib
def test_plot_chosen_tensors(capsys: pytest.CaptureFixture[str], model_path: Path,
                             tmp_path: Path) -> None:
    out = tmp_path / "w.png"
    report = run_json(capsys, "plot", model_path, "weights", "-o", out, "--tensor", "fc/b",
                      "--tensor", "add/c")
    assert report["panels"] == 2
    code, _, err = run(capsys, "plot", model_path, "channels", "-o", out, "--tensor", "nope")
    assert code == 2 and err.endswith("no constant operand named 'nope' (see tflitekit info)\n")


def test_report_without_charts(capsys: pytest.CaptureFixture[str], model_path: Path,
                               tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    report = run_json(capsys, "report", model_path, "-o", out, "--no-charts", "--engine",
                      "builtin")
    page = out.read_text()
    assert report == {"model": str(model_path), "output": str(out),
                      "bytes": len(page.encode()), "charts": False, "graph_engine": "builtin"}
    assert page.startswith("<!DOCTYPE html>") and CSP in page
    assert "<script" not in page and "<img" not in page
    assert "FULLY_CONNECTED v" in page and "<svg" in page


def test_report_text_says_when_charts_are_left_out(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   model_path: Path, tmp_path: Path) -> None:
    monkeypatch.setattr("tflitekit.cli.report.matplotlib_available", lambda: False)
    monkeypatch.setattr("tflitekit.analysis.report.matplotlib_available", lambda: False)
    out = tmp_path / "r.html"
    code, text, err = run(capsys, "report", model_path, "-o", out)
    assert (code, err) == (0, "")
    size = out.stat().st_size
    assert text == (f"{model_path} -> {out} ({size:,} bytes; charts left out: matplotlib is "
                    "not installed (pip install 'tflitekit[plots]'))\n")


def test_report_refuses_to_overwrite_the_model(capsys: pytest.CaptureFixture[str],
                                               model_path: Path) -> None:
    code, _, err = run(capsys, "report", model_path, "-o", model_path)
    assert code == 1 and "refusing to overwrite" in err


@needs_matplotlib
def test_report_with_charts(capsys: pytest.CaptureFixture[str], model_path: Path,
                            tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert run_json(capsys, "report", model_path, "-o", out)["charts"] is True
    assert out.read_text().count('src="data:image/png;base64,') == 3


@pytest.mark.corpus
@needs_matplotlib
def test_plot_quant_error_of_corpus_twins(capsys: pytest.CaptureFixture[str],
                                          corpus_paths: list[Path], tmp_path: Path) -> None:
    by_name = {p.name: p for p in corpus_paths}
    quantized, floating = by_name["image_example1.tflite"], by_name["image_example1.float32.tflite"]
    out = tmp_path / "q.png"
    report = run_json(capsys, "plot", quantized, "quant-error", "--float", floating, "-o", out,
                      "--samples", "2")
    assert report["panels"] == 8  # layers matched (QUANTIZE/DEQUANTIZE apart)
    assert out.read_bytes().startswith(PNG)

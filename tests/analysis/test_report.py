"""analysis.report: one self-contained HTML page (nothing fetched, everything inline) holding
the numbers of the results it is given."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass

import pytest
from _html import Page, assert_self_contained

from tflitekit.analysis import report as report_module
from tflitekit.analysis.arena import Arena, arena
from tflitekit.analysis.graph import operator_graph
from tflitekit.analysis.layers import Layer, layers
from tflitekit.analysis.memory import Memory, memory
from tflitekit.analysis.report import Table, html_report
from tflitekit.analysis.rom import Rom, rom
from tflitekit.analysis.weights import weights
from tflitekit.errors import RuntimeUnavailable
from tflitekit.testing import build_runnable_model

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="needs matplotlib, the plots extra (pip install 'tflitekit[plots]')")

@dataclass(frozen=True)
class _Parts:
    layers: tuple[Layer, ...]
    rom: Rom
    memory: Memory
    arenas: tuple[Arena, ...]


def _full(charts: bool | None = False) -> tuple[str, _Parts]:
    m = build_runnable_model()
    parts = _Parts(layers(m), rom(m), memory(m), (arena(m, "host"), arena(m, "target32")))
    text = html_report("runnable <model>", layers=parts.layers, rom=parts.rom,
                       memory=parts.memory, arenas=parts.arenas, weights=weights(m),
                       graph=operator_graph(m), charts=charts, graph_engine="builtin")
    return text, parts


def test_the_page_is_self_contained_and_holds_the_numbers() -> None:
    text, parts = _full()
    page = assert_self_contained(text)
    rows = parts.layers
    cells = page.cells
    # per-layer rows: operator with version, MACs, OPs, weight and activation bytes
    for row in rows:
        assert f"{row.opcode} v{row.version}" in cells
        assert row.options in cells
    total = cells.index("total")
    assert cells[total + 4:total + 8] == [
        f"{sum(r.macs for r in rows):,}", f"{sum(r.ops for r in rows):,}",
        f"{sum(r.weight_bytes for r in rows):,}", f"{sum(r.activation_bytes for r in rows):,}"]
    assert cells[total + 4] == "624"  # 4x4x3 outputs of a 2x2x2 filter (384), 48 x 5 units
    i = cells.index("file")
    assert cells[i + 1] == f"{parts.rom.file_bytes:,}"
    i = cells.index("arena head (TFLite Micro's greedy planner)")
    assert cells[i + 1] == f"{parts.memory.arena_head_bytes:,}"
    for a in parts.arenas:
        i = cells.index(a.target)
        assert cells[i + 1:i + 4] == [f"{a.head_bytes:,}", f"{a.tail_bytes:,}",
                                      f"{a.total_bytes:,}"]
    # the graph, inline
    assert sum(1 for tag, _ in page.tags if tag == "svg") == 1
    assert "FULLY_CONNECTED" in text
    # no charts were asked for: no images, no note
    assert not page.all("img") and "matplotlib" not in text
    # the title is escaped
    assert "runnable &lt;model&gt;" in text and "<model>" not in text


def test_sections_follow_the_results_given() -> None:
    page = Page(html_report("bare", charts=False))
    assert not page.all("table") and not page.all("svg") and not page.all("h2")


def test_without_matplotlib_the_page_says_how_to_get_charts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "matplotlib_available", lambda: False)
    text, _ = _full(charts=None)
    assert "pip install &#x27;tflitekit[plots]&#x27;" in text or \
        "pip install 'tflitekit[plots]'" in text
    assert not Page(text).all("img")


def test_charts_required_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(RuntimeUnavailable, match="matplotlib"):
        _full(charts=True)


@needs_matplotlib
def test_charts_are_inline_png() -> None:
    text, _ = _full(charts=True)
    page = assert_self_contained(text)
    assert [img["alt"] for img in page.all("img")] == [
        "MACs and memory per layer", "memory timeline", "weight histograms"]


def test_tables_are_sections_of_the_callers_figures() -> None:
    table = Table("Before & after", ("", "before", "after"),
                  (("bytes", 1234, 567), ("accuracy %", 97.5, None), ("<b>", "x", 1)),
                  note="sizes <estimated>")
    text = html_report("t", tables=[table], subtitle="a <demo>", charts=False)
    page = assert_self_contained(text)
    assert page.cells == ["", "before", "after", "bytes", "1,234", "567", "accuracy %", "97.50",
                          "-", "<b>", "x", "1"]
    assert "Before &amp; after" in text and "sizes &lt;estimated&gt;" in text
    assert "a &lt;demo&gt;" in text and "<b>" not in text
    # a column of numbers only is right-aligned; one holding text is not
    assert re.search(r'<th class="n">after</th>', text) and "<th>before</th>" in text

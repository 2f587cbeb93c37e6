"""analysis.report: one self-contained HTML page (nothing fetched, everything inline) holding
the numbers of the results it is given."""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from tflitekit.analysis import report as report_module
from tflitekit.analysis.arena import Arena, arena
from tflitekit.analysis.graph import operator_graph
from tflitekit.analysis.layers import Layer, layers
from tflitekit.analysis.memory import Memory, memory
from tflitekit.analysis.report import CSP, html_report
from tflitekit.analysis.rom import Rom, rom
from tflitekit.analysis.weights import weights
from tflitekit.errors import RuntimeUnavailable
from tflitekit.testing import build_runnable_model

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="needs matplotlib, the plots extra (pip install 'tflitekit[plots]')")

PNG = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Every start tag with its attributes, and the text of each table cell."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def all(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]


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


def assert_self_contained(text: str) -> _Page:
    """Nothing in the page can make a browser fetch: no scripts, no linked styles or frames,
    no remote URL in any attribute, images only as data: URLs, and a policy forbidding the
    rest."""
    page = _Page(text)
    assert text.startswith("<!DOCTYPE html>")
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "base", "audio", "video"}
    for tag, attrs in page.tags:
        for key, value in attrs.items():
            if key in ("src", "href", "xlink:href", "action", "poster", "srcset"):
                assert value is not None and value.startswith(("data:", "#")), (tag, key, value)
    for img in page.all("img"):
        src = img["src"]
        assert src is not None and src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert not re.search(r"url\(\s*['\"]?(?!data:|#)", text)  # no CSS fetches either
    (policy,) = [m for m in page.all("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert policy["content"] == CSP
    assert CSP == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return page


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
    page = _Page(html_report("bare", charts=False))
    assert not page.all("table") and not page.all("svg") and not page.all("h2")


def test_without_matplotlib_the_page_says_how_to_get_charts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "matplotlib_available", lambda: False)
    text, _ = _full(charts=None)
    assert "pip install &#x27;tflitekit[plots]&#x27;" in text or \
        "pip install 'tflitekit[plots]'" in text
    assert not _Page(text).all("img")


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

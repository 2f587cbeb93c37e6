"""The browser tier: reports open in headless Chromium with no console error, no failed or
refused load and no request beyond the file itself; a screenshot of each is saved (in
``$TFLITEKIT_SCREENSHOTS`` when set, else the test's temporary directory)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from _chromium import Rendered, find_browser, render

from tflitekit.cli import main
from tflitekit.testing import build_kws_model, build_runnable_model

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n"


def _browser() -> str:
    browser = find_browser()
    assert browser is not None  # the browser marker skips the test without one
    return browser


def _screenshot(rendered: Rendered, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TFLITEKIT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    path.write_bytes(rendered.screenshot)
    return path


def _check(page: Path, tmp_path: Path) -> Rendered:
    rendered = render(_browser(), page)
    assert rendered.errors == ()
    assert rendered.requests == ()
    assert rendered.title == f"{page.stem}.tflite · tflitekit report"
    assert rendered.screenshot.startswith(PNG)
    assert _screenshot(rendered, page.stem, tmp_path).stat().st_size > 0
    return rendered


def _report(model_path: Path, out: Path) -> Path:
    page = out / f"{model_path.stem}.html"
    assert main(["report", str(model_path), "-o", str(page)]) == 0
    return page


def test_the_harness_sees_errors_and_fetches(tmp_path: Path) -> None:
    """A negative control: a page with a console error, an uncaught exception and a remote
    image is reported as such."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><title>bad</title></head><body>"
                    '<img src="https://example.invalid/x.png">'
                    "<script>console.error('boom'); undefinedFunction();</script></body></html>")
    rendered = render(_browser(), page)
    assert rendered.title == "bad"
    assert "console: boom" in rendered.errors
    assert any("undefinedFunction is not defined" in e for e in rendered.errors)
    assert rendered.requests == ("https://example.invalid/x.png",)


@pytest.mark.parametrize("build", [build_runnable_model, build_kws_model])
def test_builder_model_reports_render_cleanly(build: object, tmp_path: Path) -> None:
    model_path = tmp_path / f"{build.__name__}.tflite"  # type: ignore[attr-defined]
    build().save(model_path)  # type: ignore[operator]
    rendered = _check(_report(model_path, tmp_path), tmp_path)
    # the screenshot is of the whole page: taller than the 900-pixel window
    height = int.from_bytes(rendered.screenshot[20:24], "big")
    charts = importlib.util.find_spec("matplotlib") is not None
    assert height > (1500 if charts else 900)


@pytest.mark.corpus
def test_corpus_reports_render_cleanly(corpus_model: Path, tmp_path: Path) -> None:
    _check(_report(corpus_model, tmp_path), tmp_path)

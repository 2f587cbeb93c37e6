"""Checks of HTML pages the tests read: their start tags and table cells, and that nothing in
them can make a browser fetch anything."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

from tflitekit.analysis.report import CSP

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
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


def assert_self_contained(text: str) -> Page:
    """Nothing in the page can make a browser fetch: no scripts, no linked styles or frames,
    no remote URL in any attribute, images only as data: URLs, and a policy forbidding the
    rest."""
    page = Page(text)
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

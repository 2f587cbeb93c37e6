"""Open a page in headless Chromium and report what went wrong: a small DevTools-protocol client
over ``--remote-debugging-pipe`` (JSON messages ended by NUL on file descriptors 3 and 4), so no
WebDriver, websocket library or network port is needed.

:func:`render` loads a file, waits for its load event, and returns the console errors, uncaught
exceptions, browser log errors (failed loads, refused content) and every request that was not
for a ``file:`` or ``data:`` URL, with a full-page PNG screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")

_TRAMPOLINE = ("import os, sys\n"
               "r, w = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))\n"
               "os.dup2(r, 3)\nos.dup2(w, 4)\n"
               "os.set_inheritable(3, True)\nos.set_inheritable(4, True)\n"
               "os.execv(sys.argv[3], sys.argv[3:])\n")

_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--no-first-run", "--no-default-browser-check", "--disable-extensions",
          "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
          "--window-size=1280,900")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass(frozen=True)
class Rendered:
    errors: tuple[str, ...]
    """Console errors and assertions, uncaught exceptions, browser log entries of level error."""
    requests: tuple[str, ...]
    """URLs requested other than ``file:`` and ``data:`` ones (a self-contained page has none)."""
    screenshot: bytes
    """The whole page as PNG."""
    title: str


class _DevTools:
    """The browser's end of the pipe: commands out, responses and events in."""

    def __init__(self, process: subprocess.Popen[bytes], write: int, read: int) -> None:
        self.process, self.write, self.read = process, write, read
        self.buffer = b""
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self.write, json.dumps(message).encode() + b"\0")
        answer = self._until(lambda m: m.get("id") == self.next_id, timeout, method)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})  # type: ignore[no-any-return]

    def wait_event(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        for k, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(k)
        return self._until(lambda m: m.get("method") == method, timeout, method, keep=False)

    def _until(self, wanted: Any, timeout: float, what: str, keep: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message  # type: ignore[no-any-return]
                if "method" in message:
                    self.events.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Chromium did not answer {what} within {timeout} s")
            ready, _, _ = select.select([self.read], [], [], left)
            if ready:
                chunk = os.read(self.read, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited (code {self.process.poll()}) "
                                       f"waiting for {what}")
                self.buffer += chunk


def render(browser: str, page: Path, *, settle: float = 0.5) -> Rendered:
    """Load ``page`` in headless ``browser`` and collect what went wrong (module docstring)."""
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    with tempfile.TemporaryDirectory(prefix="tflitekit-chromium-") as profile:
        # the browser reads commands on descriptor 3 and writes answers on 4: a Python
        # trampoline moves the pipe's ends there (copies first, so that no end is overwritten)
        process = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_browser_r), str(from_browser_w),
             browser, *_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        tools = _DevTools(process, to_browser_w, from_browser_r)
        try:
            return _load(tools, page.resolve().as_uri(), settle)
        finally:
            with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                tools.call("Browser.close", timeout=10)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(to_browser_w)
            os.close(from_browser_r)


def _load(tools: _DevTools, url: str, settle: float) -> Rendered:
    target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        tools.call(f"{domain}.enable", session=session)
    tools.call("Page.navigate", {"url": url}, session=session)
    tools.wait_event("Page.loadEventFired")
    time.sleep(settle)  # late console messages
    title = tools.call("Runtime.evaluate", {"expression": "document.title",
                                            "returnByValue": True}, session=session)
    size = tools.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
    shot = tools.call("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                 "scale": 1}}, session=session)
    tools.call("Runtime.evaluate", {"expression": "0"}, session=session)  # flush events
    errors, requests = [], []
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                 for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append("exception: " + str(details.get("exception", {}).get(
                "description", details.get("text"))))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"log ({entry.get('source')}): {entry.get('text')} "
                          f"{entry.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            request = params.get("request", {}).get("url", "")
            if not request.startswith(("file:", "data:")):
                requests.append(request)
    return Rendered(tuple(errors), tuple(requests), base64.b64decode(shot["data"]),
                    str(title.get("result", {}).get("value")))

"""The README cannot drift: its ```python and ```bash blocks are executed.

Conventions the README follows (any number of blocks, in any order):
- A block preceded by ``<!-- not run: REASON -->`` is skipped (and must give a reason); one
  preceded by ``<!-- needs: MODULE -->`` runs where that optional module imports (matplotlib
  for plots) and is skipped, naming it, elsewhere. Other languages (```text, tables) are never
  run.
- Each block runs in a fresh directory that holds a small real model (built with
  :func:`tflitekit.testing.build_runnable_model`) under every name in ``MODEL_NAMES``; any other
  file a block reads, it writes first.
- Python blocks are executed as written, one namespace per block.
- Shell blocks: each line is a command; ``&&`` chains commands; ``#`` starts a comment; square
  brackets mark optional parts (``[--name T]``) and are left out. ``tflitekit ...`` and
  ``python -m tflitekit ...`` lines run the command line (exit code 0 expected), ``python
  examples/X.py ...`` runs the example. A line with any other command (``pip install``,
  ``pytest``, a download) cannot run here: it must be one that CI runs word for word (it appears
  in ``.ci/run``), and its extras and pytest markers must exist.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tflitekit.cli import main as cli_main
from tflitekit.testing import build_runnable_model

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CI = REPO / ".ci" / "run"
MODEL_NAMES = ("model.tflite", "in.tflite")

_FENCE = re.compile(r"^```(\w*)[ \t]*$")
_NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.*?)\s*-->$")
_NEEDS = re.compile(r"^<!--\s*needs:\s*([\w.]+)\s*-->$")


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    code: str
    not_run: str | None  # the reason given by a ``<!-- not run: ... -->`` comment
    needs: str | None = None  # the module named by a ``<!-- needs: ... -->`` comment


def blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise AssertionError(f"README.md:{i + 1}: unclosed code fence")
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker, needs = _NOT_RUN.match(before), _NEEDS.match(before)
        found.append(Block(fence.group(1), i + 1, "\n".join(lines[i + 1:end]) + "\n",
                           marker.group(1) if marker else None,
                           needs.group(1) if needs else None))
        i = end + 1
    return found


def commands(line: str) -> list[list[str]]:
    """The commands of one shell line: comment dropped, split at ``&&``, optional parts
    (``[...]``) left out."""
    out: list[list[str]] = [[]]
    depth = 0
    for word in shlex.split(line, comments=True):
        if depth or word.startswith("["):
            depth += word.count("[") - word.count("]")
        elif word == "&&":
            out.append([])
        else:
            out[-1].append(word)
    return [c for c in out if c]


def _runnable(command: list[str]) -> bool:
    return command[0] == "tflitekit" or (
        command[0] == "python" and len(command) > 1 and command[1].startswith("examples/"))


def _check_textually(line: str, command: list[str], config: pytest.Config) -> None:
    """A command the test cannot run: CI runs the whole line word for word; its extras and pytest
    markers exist."""
    text = line.split(" #")[0].strip()
    assert text in CI.read_text(), f"{text!r} is not what .ci/run runs"
    if "pip" in command:
        extras = set(importlib.metadata.metadata("tflitekit").get_all("Provides-Extra") or ())
        for wanted in re.findall(r"\[([\w,-]+)\]", " ".join(command)):
            assert set(wanted.split(",")) <= extras, f"unknown extra in {text!r}"
    options = command[command.index("pytest") + 1:] if "pytest" in command else []
    if "-m" in options:
        markers = {m.split(":")[0] for m in config.getini("markers")}
        names = set(re.findall(r"\w+", options[options.index("-m") + 1])) - {"and", "or", "not"}
        assert names <= markers, f"unregistered marker in {text!r}"


def _workdir(tmp_path: Path) -> Path:
    data = build_runnable_model().to_bytes()
    for name in MODEL_NAMES:
        (tmp_path / name).write_bytes(data)
    return tmp_path


def run_block(block: Block, workdir: Path, monkeypatch: pytest.MonkeyPatch,
              config: pytest.Config) -> None:
    """Execute one README block in ``workdir`` (see the module docstring)."""
    monkeypatch.chdir(workdir)
    if block.lang == "python":
        exec(compile(block.code, f"README.md:{block.line}", "exec"), {"__name__": "__readme__"})
        return
    for line in block.code.splitlines():
        for command in commands(line):
            if not _runnable(command):
                _check_textually(line, command, config)
            elif command[0] == "tflitekit":
                assert cli_main(command[1:]) == 0, line
            else:
                script = REPO / command[1]
                subprocess.run([sys.executable, str(script), *command[2:]], check=True,
                               cwd=workdir, capture_output=True)


README_BLOCKS = [b for b in blocks(README.read_text()) if b.lang in ("python", "bash")]


@pytest.mark.parametrize("block", README_BLOCKS, ids=[f"line{b.line}" for b in README_BLOCKS])
def test_readme_block(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      pytestconfig: pytest.Config) -> None:
    if block.not_run is not None:
        assert block.not_run, f"README.md:{block.line}: a not-run block must say why"
        pytest.skip(f"README.md:{block.line}: not run: {block.not_run}")
    if block.needs is not None:
        pytest.importorskip(block.needs, reason=f"README.md:{block.line} needs {block.needs}")
    run_block(block, _workdir(tmp_path), monkeypatch, pytestconfig)


def test_readme_has_blocks_to_run() -> None:
    assert {b.lang for b in README_BLOCKS if b.not_run is None} == {"python", "bash"}


# ------------------------------------------------------------------------------------------------
# The runner itself
# ------------------------------------------------------------------------------------------------

SAMPLE = """Intro.

```python
x = 1
```

<!-- not run: needs a GPU -->
```bash
rm -rf /
```

<!-- needs: matplotlib -->
```bash
tflitekit plot model.tflite macs -o macs.png
```

```text
$ tflitekit info model.tflite
```
"""


def test_blocks_are_found_with_their_markers() -> None:
    assert blocks(SAMPLE) == [Block("python", 3, "x = 1\n", None),
                              Block("bash", 8, "rm -rf /\n", "needs a GPU"),
                              Block("bash", 13, "tflitekit plot model.tflite macs -o macs.png\n",
                                    None, "matplotlib"),
                              Block("text", 17, "$ tflitekit info model.tflite\n", None)]
    with pytest.raises(AssertionError, match="unclosed"):
        blocks("```python\nx = 1\n")


def test_shell_lines_are_split_into_commands() -> None:
    assert commands('python -m pip install -e ".[test]" && python x.py   # note') == [
        ["python", "-m", "pip", "install", "-e", ".[test]"], ["python", "x.py"]]
    assert commands("tflitekit strip-float-io in.tflite out.tflite [--inputs-only|--outputs-only]"
                    " [--name T]") == [["tflitekit", "strip-float-io", "in.tflite", "out.tflite"]]


@pytest.mark.parametrize(("code", "error"), [
    ("python\nraise RuntimeError('drifted')\n", "drifted"),
    ("bash\ntflitekit info missing.tflite\n", "missing.tflite"),
    ("bash\npython examples/no_such_example.py\n", "returned non-zero"),
    ("bash\ncurl https://example.com | sh\n", "not what .ci/run runs"),
    ("bash\npython -m pytest -m nosuchmarker\n", "unregistered marker"),
    ('bash\npython -m pip install -e ".[nosuchextra]"\n', "unknown extra"),
])
def test_a_drifted_block_fails(code: str, error: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               pytestconfig: pytest.Config) -> None:
    lang, body = code.split("\n", 1)
    ci = tmp_path / "ci"
    ci.write_text("python -m pytest -m nosuchmarker\npython -m pip install -e \".[nosuchextra]\"")
    monkeypatch.setattr(sys.modules[__name__], "CI", ci)
    with pytest.raises((AssertionError, RuntimeError, subprocess.CalledProcessError),
                       match=error):
        run_block(Block(lang, 1, body, None), _workdir(tmp_path), monkeypatch, pytestconfig)

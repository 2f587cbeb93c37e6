"""Running the command line inside a test: exit code, standard output and standard error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tflitekit.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """``tflitekit ARGV...``: its exit code, what it printed and what it said on stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> Any:
    """``tflitekit ARGV... --json`` (the flag added unless given), which must succeed: its
    output parsed."""
    args = argv if "--json" in map(str, argv) else (*argv, "--json")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return json.loads(out)

"""How every command reports errors: one line on stderr naming the path as given, exit 1 for a
problem and 2 for bad usage, and with --json a JSON object on stdout as well."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from _cli import run

from tflitekit import Model
from tflitekit.cli import _parser

#: Each command's arguments around its input MODEL (and output OUT, in ``tmp_path``).
ARGV: dict[str, list[str]] = {
    "info": ["MODEL"],
    "dump": ["MODEL"],
    "validate": ["MODEL"],
    "summary": ["MODEL"],
    "memory": ["MODEL", "--reorder", "OUT"],
    "quant-error": ["MODEL", "MODEL"],
    "plot": ["MODEL", "graph", "-o", "OUT.svg"],
    "report": ["MODEL", "-o", "OUT"],
    "compress": ["MODEL", "OUT"],
    "decompress": ["MODEL", "OUT"],
    "run": ["MODEL"],
    "compare": ["MODEL"],
    "evaluate": ["MODEL", "--data", "data.npz"],
    "convert": ["MODEL", "OUT"],
    "strip-float-io": ["MODEL", "OUT"],
    "prune": ["MODEL", "OUT"],
    "optimize": ["MODEL", "OUT"],
    "passes": ["MODEL", "OUT", "prune"],
    "export-c": ["MODEL", "-o", "OUT"],
}
#: Commands that read no model, and where their errors are tested.
NO_MODEL = {"demo": "tests/test_demo.py"}


def _argv(command: str, model: str | Path, out: Path) -> list[str]:
    parts = {"MODEL": str(model), "OUT": str(out), "OUT.svg": f"{out}.svg"}
    return [command, *(parts.get(a, a) for a in ARGV[command])]


def _commands_with_json() -> list[str]:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [name for name, parser in sub.choices.items()
            if any("--json" in a.option_strings for a in parser._actions)]


def test_every_command_is_covered() -> None:
    assert sorted(_commands_with_json()) == sorted([*ARGV, *NO_MODEL])


@pytest.mark.parametrize("command", list(ARGV))
def test_an_empty_path_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                command: str) -> None:
    """A file error names the path as given; an empty one is shown as '' (it was left out)."""
    code, out, err = run(capsys, *_argv(command, "", tmp_path / "o"))
    assert (code, out, err) == (1, "", "tflitekit: error: '': No such file or directory\n")


@pytest.mark.parametrize("command", list(ARGV))
def test_json_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    """With --json every error is also a JSON object on stdout (info and dump printed nothing);
    without it stdout stays empty."""
    missing = tmp_path / "missing.tflite"
    expected = f"{missing}: No such file or directory"
    code, out, err = run(capsys, *_argv(command, missing, tmp_path / "o"), "--json")
    assert code == 1 and err == f"tflitekit: error: {expected}\n"
    assert json.loads(out) == {"error": expected}
    code, out, err = run(capsys, *_argv(command, missing, tmp_path / "o"))
    assert code == 1 and out == "" and err == f"tflitekit: error: {expected}\n"


def test_json_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                          runnable_model: Callable[[], Model]) -> None:
    model = tmp_path / "m.tflite"
    runnable_model().save(model)
    code, out, err = run(capsys, "passes", model, tmp_path / "o", "prune", "--seed", "1",
                         "--json")
    assert code == 2 and len(err.splitlines()) == 1
    assert json.loads(out) == {"error": err.removeprefix("tflitekit: error: ").rstrip("\n")}


def test_validate_findings_and_errors(capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    """A file that is not a valid model is a finding (listed, exit 1, a JSON report); a path
    that cannot be read is an error (exit 1, stderr, {"error": ...}); the help says which."""
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model" * 8)
    code, out, err = run(capsys, "validate", garbage)
    assert code == 1 and out.startswith("file: ") and err == "1 problem found\n"
    code, out, _ = run(capsys, "validate", garbage, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["problems"][0]["where"] == "file"
    code, out, err = run(capsys, "validate", tmp_path, "--json")
    assert code == 1 and json.loads(out) == {"error": f"{tmp_path}: Is a directory"}
    assert err == f"tflitekit: error: {tmp_path}: Is a directory\n"
    code, out, _ = run(capsys, "validate", "--help")
    text = " ".join(out.split())
    assert code == 0 and "is a finding" in text and "is an error" in text

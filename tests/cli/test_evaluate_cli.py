"""The ``evaluate`` command on a builder model and labelled samples in an .npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json

from tflitekit.testing import build_runnable_model
from tflitekit.training.evaluate import evaluate


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The model, a copy with other weights, and 120 float samples labelled 0 to 4."""
    model, other = tmp_path / "m.tflite", tmp_path / "o.tflite"
    build_runnable_model().save(model)
    build_runnable_model(seed=1).save(other)
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, x=rng.normal(0, 2, (120, 4, 4, 2)).astype(np.float32),
             y=rng.integers(0, 5, 120))
    return model, other, data


def _library(model: Path, data: Path, **kwargs: object) -> dict[str, object]:
    with np.load(data) as d:
        return evaluate(model, d["x"], d["y"], **kwargs).to_json()  # type: ignore[arg-type]


def test_json_is_the_library_result(capsys: pytest.CaptureFixture[str],
                                    files: tuple[Path, Path, Path]) -> None:
    model, other, data = files
    report = run_json(capsys, "evaluate", model, "--data", data, "--reference", other)
    assert report.pop("model") == str(model) and report.pop("data") == str(data)
    assert report.pop("reference") == str(other)
    assert report == _library(model, data, reference=other)
    assert report["samples"] == 120 and report["agreement"] is not None


def test_workers_and_batches_do_not_change_the_result(capsys: pytest.CaptureFixture[str],
                                                      files: tuple[Path, Path, Path]) -> None:
    model, _, data = files
    report = run_json(capsys, "evaluate", model, "--data", data, "--workers", "2",
                      "--batch-size", "25")
    assert report["predictions"] == _library(model, data)["predictions"]


def test_text(capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]) -> None:
    model, _, data = files
    code, out, err = run(capsys, "evaluate", model, "--data", data, "--classes", *"abcde")
    want = _library(model, data)
    assert code == 0 and err == ""
    assert out.startswith(f"120 samples, 5 classes: accuracy {want['accuracy']:.2f}%")
    rows = [line.split() for line in out.splitlines()[3:8]]  # after the totals and header
    assert [r[:2] for r in rows] == [[str(i), c] for i, c in enumerate("abcde")]
    assert [[int(c) for c in r[-5:]] for r in rows] == want["confusion"]


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--workers", "0"], 2, "--workers must be at least 1, not 0"),
    (["--batch-size", "0"], 2, "--batch-size must be at least 1, not 0"),
    (["--classes", "a", "b"], 2, "2 class names for the 5 classes"),
    (["--reference", "missing.tflite"], 1, "missing.tflite: No such file or directory"),
])
def test_errors(capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path],
                argv: list[str], code: int, message: str) -> None:
    model, _, data = files
    got, out, err = run(capsys, "evaluate", model, "--data", data, *argv, "--json")
    assert got == code and message in err and len(err.splitlines()) == 1
    assert message in json.loads(out)["error"]


def test_bad_labels(capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path],
                    tmp_path: Path) -> None:
    model, _, _ = files
    x = np.zeros((4, 4, 4, 2), np.float32)
    for name, y, message in (("count", np.zeros(3, np.int64), "4 samples but 3 labels"),
                             ("range", np.full(4, 7), "label 7 is out of range"),
                             ("float", np.zeros(4), "labels must be integer class indices")):
        path = tmp_path / f"{name}.npz"
        np.savez(path, x=x, y=y)
        code, _, err = run(capsys, "evaluate", model, "--data", path)
        assert code == 2 and message in err and len(err.splitlines()) == 1
    unlabelled = tmp_path / "x.npz"
    np.savez(unlabelled, x=x)
    code, _, err = run(capsys, "evaluate", model, "--data", unlabelled)
    assert code == 2 and "no array named y" in err


def test_class_names_from_the_data(capsys: pytest.CaptureFixture[str],
                                   files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, _, data = files
    named = tmp_path / "named.npz"
    with np.load(data) as d:
        np.savez(named, x=d["x"], y=d["y"], classes=np.array(list("vwxyz")))
    assert run_json(capsys, "evaluate", model, "--data", named)["classes"] == list("vwxyz")
    given = run_json(capsys, "evaluate", model, "--data", named, "--classes", *"abcde")
    assert given["classes"] == list("abcde")

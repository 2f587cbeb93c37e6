"""The run and compare commands: outputs, kept tensors, .npy/.npz inputs and outputs, JSON, the
placement plan and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json

import tflitekit
from tflitekit import Interpreter, Model
from tflitekit.runtimes import random_samples


@pytest.fixture
def model_path(tmp_path: Path, runnable_model: Callable[[], Model]) -> Path:
    path = tmp_path / "model.tflite"
    runnable_model().save(path)
    return path


def test_run_on_random_samples_equals_the_library(capsys: pytest.CaptureFixture[str],
                                                  model_path: Path) -> None:
    report = run_json(capsys, "run", model_path, "--samples", "3", "--seed", "5")
    model = tflitekit.load(model_path)
    want = Interpreter(model).run(random_samples(model, 3, seed=5))[0]
    (out,) = report["outputs"]
    assert report["samples"] == 3 and out["name"] == "y" and out["shape"] == [3, 1, 5]
    assert out["values"] == want.reshape(3, 5).tolist()
    assert out["min"] == int(want.min()) and out["max"] == int(want.max())


def test_run_reads_npy_and_writes_npz(capsys: pytest.CaptureFixture[str], model_path: Path,
                                      tmp_path: Path) -> None:
    x = np.random.default_rng(1).integers(-128, 128, (4, 4, 4, 2), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run(capsys, "run", model_path, "--input", tmp_path / "x.npy", "--output",
                         tmp_path / "y.npz")
    assert code == 0, err
    assert "4 sample(s)" in out and "wrote" in out
    with np.load(tmp_path / "y.npz") as saved:
        want = Interpreter(tflitekit.load(model_path)).run([x])[0]
        np.testing.assert_array_equal(saved["y"], want)


def test_run_keep_reports_and_saves_every_tensor(capsys: pytest.CaptureFixture[str],
                                                 model_path: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 4, 4, 2), np.int8))
    report = run_json(capsys, "run", model_path, "--input", tmp_path / "x.npz", "--keep",
                      "--plan", "--output", tmp_path / "all.npz")
    assert [(t["producer"], t["name"]) for t in report["tensors"]] == [
        ("input", "x"), ("0 CONV_2D", "conv/y"), ("1 RESHAPE", "flat"),
        ("2 FULLY_CONNECTED", "fc/y"), ("3 ADD", "y")]
    assert report["plan"]["counts"] == {"reference": 4}
    with np.load(tmp_path / "all.npz") as saved:
        assert sorted(saved.keys()) == ["conv/y", "fc/y", "flat", "x", "y"]
        assert saved["conv/y"].shape == (1, 1, 4, 4, 3)


def test_run_text_shows_a_table_and_the_plan(capsys: pytest.CaptureFixture[str],
                                             model_path: Path) -> None:
    code, out, _ = run(capsys, "run", model_path, "--keep", "--plan")
    assert code == 0
    assert "2 FULLY_CONNECTED" in out and "placement:" in out
    assert out.rstrip().endswith("4 operators: 4 on reference")
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["operator", "tensor"])
    assert lines[header + 2].split()[:5] == ["0", "CONV_2D", "conv/y", "INT8", "1x1x4x4x3"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--samples", "0"], "--samples must be at least 1, not 0"),
    (["--input", "missing.npy"], "missing.npy: No such file or directory"),
])
def test_run_errors_are_one_line(capsys: pytest.CaptureFixture[str], model_path: Path,
                                 tmp_path: Path, argv: list[str], message: str) -> None:
    code, _, err = run(capsys, "run", model_path, *[a.replace("missing", str(tmp_path / "m"))
                                                     for a in argv])
    assert code in (1, 2)
    assert err.count("\n") == 1 and message.replace("missing", "m") in err


def test_run_names_a_wrong_input(capsys: pytest.CaptureFixture[str], model_path: Path,
                                 tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 4, 2), np.float32))
    code, _, err = run(capsys, "run", model_path, "--input", tmp_path / "x.npy")
    assert code == 2
    assert "input 'x' must be INT8 (int8), not float32" in err


def test_run_refuses_to_overwrite_the_model(capsys: pytest.CaptureFixture[str],
                                            model_path: Path) -> None:
    before = model_path.read_bytes()
    code, _, err = run(capsys, "run", model_path, "--output", model_path)
    assert code == 1 and "choose another output" in err
    assert model_path.read_bytes() == before


@pytest.mark.tflm
def test_compare_with_tflm_is_exact(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    report = run_json(capsys, "compare", model_path, "--samples", "4")
    assert report["exact"] and report["first_difference"] is None and report["samples"] == 4
    assert [t["tensor"] for t in report["tensors"]] == ["x", "conv/y", "flat", "fc/y", "y"]
    assert all(t["identical_share"] == 1.0 for t in report["tensors"])


@pytest.mark.tflm
def test_compare_shows_where_the_runtimes_part(capsys: pytest.CaptureFixture[str],
                                               model_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import tflitekit.crosscheck as crosscheck

    real = crosscheck.tflm_tensors

    def one_off(model: bytes, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
        tensors = real(model, inputs)
        fc = [t.name for t in tflitekit.load(model).main.tensors].index("fc/y")
        tensors[fc] = tensors[fc].copy()
        tensors[fc].reshape(-1)[7] ^= 1  # one element of the FULLY_CONNECTED output
        return tensors

    monkeypatch.setattr(crosscheck, "tflm_tensors", one_off)
    code, out, _ = run(capsys, "compare", model_path, "--samples", "3")
    assert code == 1
    assert "tflitekit vs TFLite Micro, 3 sample(s)" in out
    assert ("first difference: operator 2 (FULLY_CONNECTED) -> 'fc/y': 1 of 15 elements "
            "differ, by at most 1") in out
    assert "93.33%" in out  # 14 of 15 identical
    fc_row = next(line for line in out.splitlines() if "fc/y" in line)
    assert fc_row.split() == ["2", "FULLY_CONNECTED", "fc/y", "INT8", "1", "93.33%"]

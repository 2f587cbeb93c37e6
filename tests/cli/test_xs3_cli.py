"""The xs3 command: run, compare and profile, their JSON equal to the library's results, and
their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json

import tflitekit
from tflitekit import Model, runtimes
from tflitekit.ir import Tensor
from tflitekit.options import AddOptions, BuiltinOperator
from tflitekit.passes import expose_intermediates
from tflitekit.runtimes import random_samples
from tflitekit.testing import build_kws_model, single_op
from tflitekit.xs3.backend import xs3_interpreter
from tflitekit.xs3.compare import compare
from tflitekit.xs3.estimate import CycleModel
from tflitekit.xs3.profile import profile


@pytest.fixture
def kws(tmp_path: Path) -> Path:
    path = tmp_path / "kws.tflite"
    build_kws_model().save(path)
    return path


def _float_add() -> Model:
    return single_op(BuiltinOperator.ADD, [Tensor("a", (1, 4), "float32"),
                                           Tensor("b", (1, 4), "float32")],
                     [Tensor("y", (1, 4), "float32")], AddOptions())


# -- run --------------------------------------------------------------------------------------


def test_run_prints_the_placement_and_the_outputs_of_the_xs3_interpreter(
        capsys: pytest.CaptureFixture[str], kws: Path) -> None:
    report = run_json(capsys, "xs3", "run", kws, "--samples", "3", "--seed", "2")
    model = tflitekit.load(kws)
    interpreter = xs3_interpreter(model)
    want = interpreter.run(random_samples(model, 3, seed=2))[0]
    (out,) = report["outputs"]
    assert out["name"] == "probs" and out["values"] == want.reshape(3, -1).tolist()
    assert report["plan"] == interpreter.plan.to_json()
    assert report["placement"]["counts"] == interpreter.plan.counts()
    code, text, err = run(capsys, "xs3", "run", kws)
    assert code == 0, err
    assert text.startswith("placement: 6 operators: ") and "on xs3" in text


def test_run_keeps_every_intermediate_tensor(capsys: pytest.CaptureFixture[str], kws: Path,
                                             tmp_path: Path) -> None:
    out = tmp_path / "all.npz"
    report = run_json(capsys, "xs3", "run", kws, "--samples", "2", "--keep", "--output", out)
    model = tflitekit.load(kws)
    interpreter = xs3_interpreter(model)
    interpreter.run(random_samples(model, 2), keep=True)
    kept = list(interpreter.tensors())
    assert [t["name"] for t in report["tensors"]] == [t.name for t, _ in kept]
    assert [t["producer"] for t in report["tensors"]][1:] == [
        f"{i} {op.opcode.name}" for i, op in enumerate(model.main.operators)]
    saved = np.load(out)
    for tensor, value in kept:
        np.testing.assert_array_equal(saved[tensor.name], value)


def test_run_reads_npy_per_input_and_writes_npz(capsys: pytest.CaptureFixture[str], kws: Path,
                                               tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(-128, 128, (4, 1, 10, 8, 1), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    report = run_json(capsys, "xs3", "run", kws, "--input", tmp_path / "x.npy", "--output",
                      tmp_path / "y.npz")
    assert report["samples"] == 4
    with np.load(tmp_path / "y.npz") as saved:
        np.testing.assert_array_equal(saved["probs"],
                                      xs3_interpreter(tflitekit.load(kws)).run([x])[0])


# -- compare and profile ---------------------------------------------------------------------


def test_compare_json_is_the_librarys(capsys: pytest.CaptureFixture[str], kws: Path,
                                      tmp_path: Path) -> None:
    model = tflitekit.load(kws)
    converted = tmp_path / "stand_in.tflite"  # an "xcore-opt model" of reference operators
    expose_intermediates(model.copy()).save(converted)
    report = run_json(capsys, "xs3", "compare", kws, "--xcore", converted, "--samples", "4")
    want = compare(model, random_samples(model, 4), xcore=tflitekit.load(converted))
    assert report == json.loads(json.dumps({"model": str(kws), "xcore": str(converted),
                                            **want.to_json()}))
    code, text, _ = run(capsys, "xs3", "compare", kws, "--samples", "2")
    assert code == 0 and "end to end" in text and "FULLY_CONNECTED" in text


@pytest.mark.tflm
def test_compare_against_tflite_micro(capsys: pytest.CaptureFixture[str], kws: Path) -> None:
    report = run_json(capsys, "xs3", "compare", kws, "--against", "tflm", "--samples", "3")
    assert report["against"] == "tflm"
    reference = run_json(capsys, "xs3", "compare", kws, "--samples", "3")
    assert report["layers"] == reference["layers"]


def test_profile_json_is_the_librarys(capsys: pytest.CaptureFixture[str], kws: Path) -> None:
    report = run_json(capsys, "xs3", "profile", kws, "--clock-mhz", "600", "--threads", "6")
    want = profile(tflitekit.load(kws), cycle_model=CycleModel(600.0, 6))
    assert report == json.loads(json.dumps({"model": str(kws), **want.to_json()}))
    code, text, _ = run(capsys, "xs3", "profile", kws)
    assert code == 0 and "total:" in text and "800 MHz" in text


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "compare", "profile"])
def test_a_missing_file_is_one_line_naming_it(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, command: str) -> None:
    missing = tmp_path / "missing.tflite"
    code, out, err = run(capsys, "xs3", command, missing, "--json")
    assert code == 1 and err.count("\n") == 1 and str(missing) in err
    assert json.loads(out)["error"] in err


@pytest.mark.parametrize("command", ["run", "compare", "profile"])
def test_not_a_model_is_one_line_naming_it(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           command: str) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    code, _, err = run(capsys, "xs3", command, junk)
    assert code == 1 and err.count("\n") == 1 and str(junk) in err


@pytest.mark.parametrize("command", ["run", "compare", "profile"])
def test_a_model_without_an_int8_layer_is_refused(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path, command: str) -> None:
    path = tmp_path / "float.tflite"
    _float_add().save(path)
    code, _, err = run(capsys, "xs3", command, path)
    assert code == 1 and err.count("\n") == 1
    assert str(path) in err and "no operator runs on the XS3 kernels" in err


def test_tflite_micro_missing_names_the_package(capsys: pytest.CaptureFixture[str], kws: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runtimes._RUNTIMES, "tflm", ("no_such_module_here", "tflite-micro"))
    code, _, err = run(capsys, "xs3", "compare", kws, "--against", "tflm")
    assert code == 1 and err.count("\n") == 1 and "pip install tflite-micro" in err


@pytest.mark.parametrize("argv", [["xs3"], ["xs3", "profile", "{kws}", "--threads", "9"],
                                  ["xs3", "compare", "{kws}", "--samples", "0"]])
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], kws: Path,
                           argv: list[str]) -> None:
    code, _, err = run(capsys, *[a.format(kws=kws) for a in argv])
    assert code == 2 and err.startswith("tflitekit: error: ")

"""The ``compress`` and ``decompress`` commands on a builder model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json

import tflitekit
from tflitekit import Interpreter
from tflitekit.codecs import KMeans, decode, encode
from tflitekit.passes.compress_weights import following_quantization
from tflitekit.runtimes import random_samples
from tflitekit.testing import assert_models_equal, build_runnable_model


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "m.tflite"
    build_runnable_model().save(path)
    return path


def _clustered(path: Path, bits: int, names: tuple[str, ...]) -> tflitekit.Model:
    """The model with ``names`` clustered as compress does: k-means to 2**bits values per
    channel when the tensor is quantized per channel."""
    model = tflitekit.load(path)
    for name in names:
        t = model.main.tensor(name)
        assert t is not None and t.data is not None
        params = following_quantization(KMeans(k=2 ** bits), t)
        values = decode(encode(t.data, params)).astype(t.data.dtype)
        assert t.buffer is not None  # new bytes in the same buffer: its place in the file stays
        t.buffer.data = np.ascontiguousarray(values).view(np.uint8).reshape(-1)
    return model


def test_tflm_form_runs_and_decompresses_to_the_clustered_model(
        capsys: pytest.CaptureFixture[str], model_path: Path, tmp_path: Path) -> None:
    out, back = tmp_path / "c.tflite", tmp_path / "d.tflite"
    report = run_json(capsys, "compress", model_path, out, "--bits", "2",
                      "--tensors", "fc/w", "conv/w")
    assert report["format"] == "tflm"
    assert {t["name"]: t["codec"] for t in report["tensors"]} == {"fc/w": "lut", "conv/w": "lut"}
    fc = next(t for t in report["tensors"] if t["name"] == "fc/w")
    assert fc["bytes_before"] == 240 and fc["bytes_after"] < 240
    clustered = _clustered(model_path, 2, ("fc/w", "conv/w"))
    x = random_samples(clustered, 8)
    want = Interpreter(clustered).run(x)[0]
    got = Interpreter(tflitekit.load(out)).run(x)[0]  # the compressed file as it is
    np.testing.assert_array_equal(got, want)
    run_json(capsys, "decompress", out, back)
    assert_models_equal(clustered, tflitekit.load(back))


def test_container_form(capsys: pytest.CaptureFixture[str], model_path: Path,
                        tmp_path: Path) -> None:
    out, back = tmp_path / "c.tflite", tmp_path / "d.tflite"
    report = run_json(capsys, "compress", model_path, out, "--codec", "cluster", "--bits", "3",
                      "--tensors", "fc/w")
    assert report["format"] == "container" and report["tensors"][0]["codec"] == "kmeans"
    decoded = run_json(capsys, "decompress", out, back)
    assert [t["name"] for t in decoded["tensors"]] == ["fc/w"]
    clustered = _clustered(model_path, 3, ("fc/w",))
    assert_models_equal(clustered, tflitekit.load(back))


def test_search_keeps_the_metric(capsys: pytest.CaptureFixture[str], model_path: Path,
                                 tmp_path: Path) -> None:
    model = tflitekit.load(model_path)
    x = random_samples(model, 64, seed=3)[0]
    y = Interpreter(model).run([x])[0].reshape(len(x), -1).argmax(axis=1)
    data = tmp_path / "data.npz"
    np.savez(data, x=x, y=y)
    report = run_json(capsys, "compress", model_path, tmp_path / "c.tflite", "--search",
                      "--data", data, "--max-drop", "5")
    metric = report["metric"]
    assert metric["name"] == "accuracy" and metric["before"] == 100.0
    assert metric["after"] >= 95.0
    assert report["search"]["kind"] == "bits"


@pytest.mark.parametrize(("argv", "message"), [
    (["--search"], "--search needs --data"),
    (["--format", "container"], "lut is TFLite Micro's form"),
    (["--codec", "cluster"], "--codec cluster needs --bits"),
    (["--bits", "9"], "--bits must be 1 to 7"),
    (["--search", "--bits", "3", "--data", "d.npz"], "--search chooses each tensor's bit width"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], model_path: Path, tmp_path: Path,
                      argv: list[str], message: str) -> None:
    code, _, err = run(capsys, "compress", model_path, tmp_path / "c.tflite", *argv)
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.tflite").exists()

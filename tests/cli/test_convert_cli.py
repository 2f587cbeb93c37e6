"""``tflitekit convert``: a saved Keras model through from_keras, with the result's costs; its
errors are one line, with or without TensorFlow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _cli import run, run_json

import tflitekit
from tflitekit.analysis import summary
from tflitekit.training import from_keras
from tflitekit.training.convert import load_keras


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A small saved Keras model (conv + dense) and the model loaded back."""
    tf = pytest.importorskip("tensorflow",
                             reason='needs TensorFlow (pip install "tflitekit[train]")')
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([tf.keras.Input((6, 6, 1)),
                                 tf.keras.layers.Conv2D(4, 3, activation="relu"),
                                 tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(3)])
    path = tmp_path_factory.mktemp("keras") / "small.keras"
    model.save(path)
    return path, load_keras(path)


DATA = np.random.default_rng(0).random((12, 6, 6, 1), dtype=np.float32)


@pytest.mark.train
def test_convert_writes_what_from_keras_makes(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path,
                                              keras_file: tuple[Path, Any]) -> None:
    path, model = keras_file
    np.savez(tmp_path / "data.npz", x=DATA, y=np.zeros(12))  # labelled data: x is used
    out = tmp_path / "small.tflite"
    code, text, err = run(capsys, "convert", path, out, "--data", tmp_path / "data.npz",
                          "--io", "int8")
    assert code == 0, err
    expected = from_keras(model, representative_data=DATA, io="int8")
    assert out.read_bytes() == expected.to_bytes()
    result = summary(expected, out)
    assert "interface INT8 -> INT8" in text
    assert f"MACs {result.total_macs:,}; ROM {out.stat().st_size:,} bytes" in text
    assert f"best case {result.ram_best_bytes:,} bytes" in text
    assert f"worst case {result.ram_worst_bytes:,} (no reuse)" in text

    np.save(tmp_path / "data.npy", DATA[:4])
    report = run_json(capsys, "convert", path, tmp_path / "four.tflite", "--data",
                      tmp_path / "data.npy", "--strip-float-io")
    four = from_keras(model, representative_data=DATA[:4], strip_float_io=True)
    assert (tmp_path / "four.tflite").read_bytes() == four.to_bytes()
    assert report["interface"] == {"inputs": ["INT8"], "outputs": ["INT8"]}
    assert report["summary"]["total_macs"] == summary(four).total_macs

    float_model = tflitekit.load(run_json(capsys, "convert", path, tmp_path / "f.tflite",
                                          "--mode", "float")["output"])
    assert float_model.main.inputs[0].dtype.name == "FLOAT32"


@pytest.mark.train
def test_convert_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     keras_file: tuple[Path, Any]) -> None:
    path, _ = keras_file
    code, _, err = run(capsys, "convert", path, tmp_path / "o.tflite")
    assert code == 2 and err == ("tflitekit: error: mode 'int8' calibrates its activations: "
                                 "pass representative_data (inputs the model will see, e.g. "
                                 "some training samples)\n")
    np.savez(tmp_path / "bad.npz", a=DATA, b=DATA)
    code, out, err = run(capsys, "convert", path, tmp_path / "o.tflite", "--data",
                         tmp_path / "bad.npz", "--json")
    assert code == 2 and len(err.splitlines()) == 1 and "holds ['a', 'b']" in err
    assert "error" in json.loads(out)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a keras file")
    code, _, err = run(capsys, "convert", garbage, tmp_path / "o.tflite", "--mode", "float")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"tflitekit: error: {garbage}: not a Keras model Keras can load (")
    assert not (tmp_path / "o.tflite").exists()


def test_without_tensorflow_convert_names_the_extra(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    keras = tmp_path / "m.keras"
    keras.write_bytes(b"")
    code, out, err = run(capsys, "convert", keras, tmp_path / "o.tflite", "--mode", "float")
    assert (code, out) == (1, "")
    assert err.startswith("tflitekit: error: TensorFlow is unavailable")
    assert err.endswith('install it with `pip install "tflitekit[train]"`\n')

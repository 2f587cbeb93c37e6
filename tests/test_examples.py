"""Every example script runs and does what it says."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit.runtimes import run_litert, run_tflm

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.litert
@pytest.mark.tflm
def test_quickstart_builds_saves_and_reloads(tmp_path: Path) -> None:
    out = tmp_path / "quickstart.tflite"
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(out)],
                            capture_output=True, text=True, check=True)
    assert "loaded it back: identical" in result.stdout
    assert "FULLY_CONNECTED" in result.stdout
    assert "validate: 0 problems, every operator checked" in result.stdout
    assert "re-saved unchanged: byte-identical" in result.stdout
    assert "copy with cut weights: [operand-shape]" in result.stdout
    model = tflitekit.load(out)
    assert [op.opcode.name for op in model.main.operators] == ["FULLY_CONNECTED"] * 2
    assert model.check() == []
    # The saved model is a real model: both reference runtimes agree on it.
    data = out.read_bytes()
    x = [np.arange(-8, 8, dtype=np.int8).reshape(1, 16)]
    litert, tflm = run_litert(data, x), run_tflm(data, x)
    assert litert[0].shape == (1, 4)
    np.testing.assert_array_equal(litert[0], tflm[0])
    # What the example runs on the interpreter is what TFLite Micro computes.
    assert "interpreter: 1000 samples -> logits (1000, 4)" in result.stdout
    assert "  hidden   int8 (1, 1, 8)" in result.stdout
    batch = np.random.default_rng(1).integers(-128, 128, (1000, 16), dtype=np.int8)
    np.testing.assert_array_equal(tflitekit.Interpreter(model).run([batch])[0],
                                  run_tflm(data, [batch])[0])
    # Each layer on the XS3 kernels: a full group of 16 VLMACCR (one 32-input chunk); the first
    # layer is at most one step from TFLite (the second inherits the first's differences).
    for name, worst in (("hidden", "[01]"), ("logits", r"\d+")):
        assert re.search(rf"xcore.ai: {name}: \d+ instructions \(16 VLMACCR\), [\d.]+ us; "
                         rf"[\d.]+% \(max {worst}\) of outputs differ from TFLite's\n",
                         result.stdout), result.stdout


def test_quickstart_leaves_nothing_behind(tmp_path: Path) -> None:
    """Without an output path the model goes to a temporary directory that is removed again."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], env=env,
                            capture_output=True, text=True, check=True)
    assert f"saved {temp}" in result.stdout  # it did write there
    assert list(temp.iterdir()) == []


def _surgery(*args: str | Path) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / "surgery.py"), *map(str, args)],
                            capture_output=True, text=True, check=True)
    return result.stdout


@pytest.mark.tflm
def test_surgery_strips_folds_and_proves(tmp_path: Path) -> None:
    out = tmp_path / "surgery.tflite"
    lines = _surgery("-o", out).splitlines()
    assert lines[0].startswith("strip_float_io: subgraph 0: input 0 'image': removed its QUANTIZE")
    assert sum(line.startswith("fold_constants: subgraph 0: folded ") for line in lines) == 3
    assert lines[-3:] == [
        "operators: CONV_2D RESHAPE FULLY_CONNECTED",
        "interface: image INT8, scores INT8",
        "TFLite Micro: the new model matches the old one bit for bit on 16 inputs",
    ]
    model = tflitekit.load(out)
    assert model.check() == []
    assert [t.dtype.name for t in (*model.main.inputs, *model.main.outputs)] == ["INT8", "INT8"]
    reshape = model.main.operators[1]
    assert reshape.inputs[1] is not None and reshape.inputs[1].data.tolist() == [1, 64]


@pytest.mark.tflm
def test_surgery_on_a_given_model(tmp_path: Path) -> None:
    """The example takes any model: here the one it printed, run through again (nothing left)."""
    first, second = tmp_path / "first.tflite", tmp_path / "second.tflite"
    _surgery("-o", first)
    lines = _surgery(first, "-o", second).splitlines()
    assert not any(line.startswith(("strip_float_io: subgraph", "fold_constants"))
                   for line in lines)
    assert second.read_bytes() == first.read_bytes()


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="needs scikit-learn (pip install scikit-learn), the digits data")
def test_xs3_digits_compares_rebuilds_and_emulates_the_layer() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "xs3_digits.py")],
                            capture_output=True, text=True, check=True)
    out = result.stdout
    accuracy = dict(re.findall(r"(float|int8) (\d+\.\d+) %", out.splitlines()[0]))
    assert float(accuracy["float"]) > 90 and float(accuracy["int8"]) > 90
    errors = dict(re.findall(r"^  (\S+(?: \S+)?) +\S+ +relative error +(\d+\.\d+) %", out, re.M))
    assert list(errors) == ["input", "weights", "bias", "pre-activation", "output"]
    assert all(0 < float(e) < 5 for e in errors.values())
    assert "integer pre-activation rebuilt with numpy: equal to the interpreter's on all 3600" \
        in out
    # One image instruction by instruction: 2 chunks of 32 inputs x 16 VLMACCR for 10 outputs,
    # 5 core clocks per instruction at 800 MHz.
    one = re.search(r"one image instruction by instruction: (\d+) instructions \((\d+) vector, "
                    r"(\d+) of them VLMACCR; (\d+) scalar\), (\d+\.\d+) us at 800 MHz", out)
    assert one is not None
    total, vector, vlmaccr, scalar = map(int, one.groups()[:4])
    assert (total, vlmaccr) == (vector + scalar, 32)
    assert float(one[5]) == pytest.approx(total * 5 / 800, abs=0.005)
    # The whole set at once: as accurate as int8 TFLite within one image, outputs within ±1.
    batch = re.search(r"all 360 images at once: accuracy (\d+\.\d+) %; (\d+) of 3600 "
                      r"pre-activations \(\d+\.\d+ %\) differ from TFLite's, by at most (\d+)", out)
    assert batch is not None
    assert abs(float(batch[1]) - float(accuracy["int8"])) <= 100 / 360 + 1e-9
    assert int(batch[2]) < 0.15 * 3600 and int(batch[3]) <= 1
    assert "interface INT8[1, 64], INT8[1, 10]" in out
    assert "returns the int8 outputs of the original: True" in out

"""examples/dnn_clustering.py: one run (train tier), its printed accuracies, distinct values and
sizes recomputed from the models it keeps; the LUT-compressed model decompresses to the int8
model's weights and, when TFLite Micro is installed, runs there with the int8 model's outputs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

import tflitekit
from tflitekit.codecs.metrics import model_inputs
from tflitekit.passes import decompress_weights
from tflitekit.runtimes import available, run_tflm

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dnn_clustering.py"
CLUSTERS = 32


def most_per_channel(tensor: tflitekit.Tensor) -> int:
    q, values = tensor.quantization, tensor.data
    axis = q.quantized_dimension if q is not None and q.scale is not None and q.scale.size > 1 \
        else None
    rows = values.reshape(1, -1) if axis is None else np.moveaxis(values, axis, 0).reshape(
        values.shape[axis], -1)
    return max(len(np.unique(row)) for row in rows)


@pytest.mark.train
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="needs scikit-learn (pip install scikit-learn), the digits data")
def test_dnn_clustering_trains_clusters_quantizes_and_compresses(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE), "-o", str(tmp_path)],
                            capture_output=True, text=True, check=True)
    out = result.stdout
    _, x_test, _, y_test = load_script("make_digits_model").digits_split()

    accuracy = {name: float(value) for name, value in
                re.findall(r"(float|clustered|fine-tuned|int8) (\d+\.\d+) %", out)}
    assert list(accuracy) == ["float", "clustered", "fine-tuned", "int8"], out
    assert all(value > 90 for value in accuracy.values()), accuracy
    assert abs(accuracy["int8"] - accuracy["float"]) <= 2, accuracy
    int8_path, lut_path = tmp_path / "dnn_int8.tflite", tmp_path / "dnn_int8_lut.tflite"
    int8, lut = tflitekit.load(int8_path), tflitekit.load(lut_path)
    inputs = list(model_inputs(int8, x_test))
    ours = tflitekit.Interpreter(int8).run(inputs)[0]
    assert f"int8 {100 * np.mean(ours.argmax(-1) == y_test):.2f} %" in out

    # Every kernel: float has more than 32 values, clustered and fine-tuned at most 32; the
    # int8 counts are the kept model's, at most 32 in a channel.
    rows = re.findall(r"^  (\w+) +(\d+)x(\d+) +(\d+) +(\d+) +(\d+) +(\d+) / (\d+)$", out, re.M)
    weights = [op.inputs[1] for op in int8.operators() if op.opcode.name == "FULLY_CONNECTED"]
    assert [row[0] for row in rows] == ["fc1", "fc2", "fc3", "scores"], out
    for row, tensor in zip(rows, weights, strict=True):
        inputs_, units, float_, clustered, tuned, per_tensor, per_channel = map(int, row[1:])
        assert tensor.data.shape == (units, inputs_)
        assert float_ > CLUSTERS and clustered <= CLUSTERS and tuned <= CLUSTERS
        assert per_tensor == len(np.unique(tensor.data))
        assert per_channel == most_per_channel(tensor) <= CLUSTERS

    sizes = re.search(r"\((\d[\d,]*) bytes\) -> LUT-compressed, 5-bit indices \(TFLM_DECODE\): "
                      r"\S+ \((\d[\d,]*) bytes\); (\d) weight tensors", out)
    assert sizes is not None, out
    before, after = (int(sizes[i].replace(",", "")) for i in (1, 2))
    assert (before, after) == (int8_path.stat().st_size, lut_path.stat().st_size)
    assert after < before
    # quantized per tensor, every kernel fits one table of 32: all four are compressed
    assert sum(op.opcode.name == "TFLM_DECODE" for op in lut.operators()) == int(sizes[3]) == 4
    restored = {t.name: t.data for t in decompress_weights(lut).tensors() if t.is_constant}
    for tensor in weights:
        np.testing.assert_array_equal(restored[tensor.name], tensor.data)
    assert f"tflitekit, compressed model: {ours.size} of {ours.size} output elements equal" in out

    if available()["tflm"]:
        assert f"TFLite Micro, compressed model: {ours.size} of {ours.size} output elements " \
               f"equal to tflitekit's" in out
        tflm = run_tflm(lut_path.read_bytes(), inputs)[0]
        np.testing.assert_array_equal(tflm.reshape(ours.shape), ours)
    else:
        assert "TFLite Micro: not installed" in out

"""examples/kws_training.py: trains, converts, checks against TFLite Micro, evaluates and costs
a keyword spotter, and prints only what can be recomputed from the models it keeps."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import tflitekit
from tflitekit import runtimes
from tflitekit.analysis.summary import summary
from tflitekit.codecs.metrics import model_inputs

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "kws_training.py"
OPERATORS = ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "AVERAGE_POOL_2D", "RESHAPE",
             "FULLY_CONNECTED", "SOFTMAX"]


def _example() -> ModuleType:
    """The example as a module (importing it runs nothing; TensorFlow is imported by main)."""
    if "kws_training" not in sys.modules:
        spec = importlib.util.spec_from_file_location("kws_training", EXAMPLE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["kws_training"] = module
        spec.loader.exec_module(module)
    return sys.modules["kws_training"]


def _number(text: str) -> int:
    return int(text.replace(",", ""))


class Run:
    """One run of the example with ``-o``: what it printed and the models it kept."""

    def __init__(self, out: Path) -> None:
        result = subprocess.run([sys.executable, str(EXAMPLE), "-o", str(out)],
                                capture_output=True, text=True, check=True)
        self.stdout = result.stdout
        self.models = {name: out / f"kws_{name}.tflite" for name in ("float", "int8")}
        self.data = _example().load_data("auto")

    def find(self, pattern: str) -> re.Match[str]:
        match = re.search(pattern, self.stdout, re.M)
        assert match is not None, f"no {pattern!r} in:\n{self.stdout}"
        return match


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run(tmp_path_factory.mktemp("kws"))


# ------------------------------------------------------------------------------------------------
# The data (numpy only: the default tier)
# ------------------------------------------------------------------------------------------------


def test_synthetic_data_is_seeded_balanced_and_split_by_class() -> None:
    kws = _example()
    data = kws.synthetic_data(per_class=40)
    again = kws.synthetic_data(per_class=40)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    assert not np.array_equal(data.x_train, kws.synthetic_data(per_class=40, seed=1).x_train)
    assert data.x_train.shape == (120, 49, 40, 1) and data.x_test.shape == (40, 49, 40, 1)
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() >= -1 and data.x_train.max() < 1
    assert np.bincount(data.y_test).tolist() == [10] * 4  # a quarter of every class
    # The classes differ where the example says they do: silence is the noise floor alone,
    # the low band's energy sits below the high band's.
    energy = {name: data.x_train[data.y_train == k].mean(axis=(0, 1, 3))
              for k, name in enumerate(data.classes)}
    assert energy["_silence_"].max() < -0.75
    assert energy["low"][:16].mean() > energy["high"][:16].mean()
    assert energy["high"][24:].mean() > energy["low"][24:].mean()


def test_the_split_keeps_every_sample_once_and_every_class_in_proportion() -> None:
    y = np.repeat(np.arange(4), [480, 480, 900, 100])
    train, test = _example().stratified_split(y, 0.25, 0)
    assert sorted([*train, *test]) == list(range(len(y)))
    assert np.bincount(y[test]).tolist() == [120, 120, 225, 25]


def test_espeak_without_the_file_says_where_it_looked(tmp_path: Path) -> None:
    env = {**os.environ, "TFLITEKIT_DATA": str(tmp_path)}
    result = subprocess.run([sys.executable, str(EXAMPLE), "--data", "espeak"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"kws_training: no {tmp_path / 'kws_espeak_dev.npz'} "
                                     "(set TFLITEKIT_DATA, or use --data synthetic)")


# ------------------------------------------------------------------------------------------------
# One run of the example (the train tier)
# ------------------------------------------------------------------------------------------------


@pytest.mark.train
def test_it_trains_a_keyword_spotter_and_quantizes_it_without_losing_accuracy(run: Run) -> None:
    data = run.data
    line = run.find(r"^data: .*; (\d[\d,]*) training and (\d[\d,]*) test clips$")
    assert (_number(line[1]), _number(line[2])) == (len(data.y_train), len(data.y_test))
    keras = float(run.find(r"^Keras test accuracy: (\d+\.\d+)%$")[1])
    printed = {name: float(run.find(rf"^{name} model: .* test accuracy (\d+\.\d+)%")[1])
               for name in run.models}
    one_clip = 100 / len(data.y_test)
    assert keras > 80
    assert abs(printed["float"] - keras) <= one_clip  # TFLite float computes what Keras does
    assert abs(printed["int8"] - printed["float"]) <= 3
    for name, path in run.models.items():
        model = tflitekit.load(path)
        assert [op.opcode.name for op in model.main.operators] == OPERATORS
        dtype = "FLOAT32" if name == "float" else "INT8"
        assert [t.dtype.name for t in (*model.main.inputs, *model.main.outputs)] == [dtype] * 2
        scores = tflitekit.Interpreter(model).run(list(model_inputs(model, data.x_test)))[0]
        assert 100 * np.mean(scores.argmax(-1) == data.y_test) == pytest.approx(printed[name],
                                                                               abs=0.005)


@pytest.mark.train
def test_the_evaluation_is_the_saved_int8_models(run: Run) -> None:
    data = run.data
    top1 = {name: tflitekit.Interpreter(tflitekit.load(path)).run(
        list(model_inputs(tflitekit.load(path), data.x_test)))[0].argmax(-1)
        for name, path in run.models.items()}
    agreement = 100 * np.mean(top1["int8"] == top1["float"])
    assert float(run.find(r"top-1 agreement with the reference (\d+\.\d+)%")[1]) == \
        pytest.approx(agreement, abs=0.005)
    count = len(data.classes)
    confusion = np.zeros((count, count), int)
    np.add.at(confusion, (data.y_test, top1["int8"]), 1)
    for k, name in enumerate(data.classes):
        row = run.find(rf"^{k}\s+{re.escape(name)}\s+(\d\.\d+)\s+(\d\.\d+)\s+(\d\.\d+)\s+"
                       r"([\d,]+)((?:\s+[\d,]+)+)$")
        assert [_number(c) for c in row[5].split()] == confusion[k].tolist()
        assert _number(row[4]) == confusion[k].sum()
        recall = confusion[k, k] / confusion[k].sum()
        assert float(row[2]) == pytest.approx(recall, abs=0.0005)


@pytest.mark.train
def test_the_printed_costs_are_the_saved_models(run: Run) -> None:
    summaries = {name: summary(tflitekit.load(path), path, target="target32")
                 for name, path in run.models.items()}
    rows = re.findall(r"^ +(\d+)  (\S+) +(\S+) +([\d,]+)$", run.stdout, re.M)
    assert [(int(i), op, _number(macs)) for i, op, _, macs in rows] == \
        [(layer.index, layer.opcode, layer.macs) for layer in summaries["int8"].layers]
    assert [layer.macs for layer in summaries["float"].layers] == \
        [layer.macs for layer in summaries["int8"].layers]

    def totals(label: str) -> list[int]:
        match = run.find(rf"^{re.escape(label)} +([\d,]+) +([\d,]+)$")
        return [_number(match[1]), _number(match[2])]

    float_, int8 = summaries["float"], summaries["int8"]
    assert totals("MACs") == [float_.total_macs, int8.total_macs]
    assert int8.total_macs == 25 * 20 * 8 * (10 * 4 + 9) + 25 * 20 * 8 * 16 + 16 * 4
    assert totals("ROM (the file)") == [p.stat().st_size for p in run.models.values()]
    assert totals("  weights") == [float_.rom.weights_bytes, int8.rom.weights_bytes]
    assert totals("RAM best case (TFLM arena)") == [float_.ram_best_bytes, int8.ram_best_bytes]
    assert totals("RAM worst case (no reuse)") == [float_.ram_worst_bytes, int8.ram_worst_bytes]
    peak = totals("activations' peak live set")
    assert peak == [float_.memory.peak_live_bytes, int8.memory.peak_live_bytes]
    # at the peak the pointwise CONV_2D reads the depthwise output (25x20x8) and writes its own
    # (25x20x16); float32 activations take four bytes each
    assert peak == [4 * 25 * 20 * (8 + 16), 25 * 20 * (8 + 16)]


@pytest.mark.train
@pytest.mark.tflm
def test_tflite_micro_computes_what_the_interpreter_does(run: Run) -> None:
    n = len(run.data.y_test)
    assert f"TFLite Micro, int8: {4 * n} of {4 * n} output elements equal to tflitekit's " \
        f"({n} clips)" in run.stdout
    assert f"TFLite Micro, float: the same predictions on {n} of {n} clips" in run.stdout
    # and so it is, on the model kept
    model = tflitekit.load(run.models["int8"])
    x = list(model_inputs(model, run.data.x_test[:64]))
    np.testing.assert_array_equal(runtimes.run_tflm(model.to_bytes(), x)[0].reshape(64, -1),
                                  tflitekit.Interpreter(model).run(x)[0].reshape(64, -1))


@pytest.mark.train
def test_without_tflite_micro_it_says_so(run: Run) -> None:
    missing = "TFLite Micro: not installed (pip install tflite-micro)"
    assert (missing in run.stdout) != runtimes.available()["tflm"]

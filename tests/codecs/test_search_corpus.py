"""The search's proof on micro_speech (corpus model, dev set): the B&Q search on the FC weights
ends within 0.2 pp of the baseline accuracy in under 30 s, and the example reproduces the flow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

import tflitekit
from tflitekit.codecs import decode, encode
from tflitekit.codecs.bq import BQ
from tflitekit.codecs.metrics import accuracy
from tflitekit.codecs.search import allocate_bits, bq_search
from tflitekit.testing import corpus_dir, data_dir

FC = "tflite_micro_speech/dense/MatMul"


@pytest.fixture(scope="module")
def micro_speech() -> tuple[Path, Path]:
    model, dev = (corpus_dir() / "models" / "tflite_micro_speech.tflite",
                  data_dir() / "kws_espeak_dev.npz")
    for path in (model, dev):
        if not path.is_file():
            pytest.skip(f"needs {path} (the corpus model and the micro_speech dev set)")
    return model, dev


@pytest.mark.corpus
def test_bq_search_on_micro_speech_is_within_0_2_pp(micro_speech: tuple[Path, Path]) -> None:
    path, dev = micro_speech
    model = tflitekit.load(path)
    metric = accuracy(model, dev)
    result = bq_search(model, FC, metric, max_drop=0.2)
    assert round(result.baseline, 1) == 93.6  # the documented score of the corpus model
    assert result.stopped == "tolerance"
    assert result.final.metric >= result.baseline - 0.2
    assert result.seconds < 30
    # the final bins, applied by the codec, give the final accuracy
    fc = next(t for t in model.main.tensors if t.name == FC)
    fc.data = decode(encode(np.array(fc.data), BQ(edges=result.final.edges)))
    assert metric(model) == result.final.metric


@pytest.mark.corpus
def test_bit_allocation_on_micro_speech(micro_speech: tuple[Path, Path]) -> None:
    path, dev = micro_speech
    model = tflitekit.load(path)
    result = allocate_bits(model, accuracy(model, dev), max_drop=0.2)
    assert result.metric >= result.baseline - 0.2
    assert result.bytes_after < result.bytes_before / 2


@pytest.mark.corpus
def test_example_reproduces_the_flow(micro_speech: tuple[Path, Path], tmp_path: Path) -> None:
    path, dev = micro_speech
    env = {**os.environ, "TFLITEKIT_CORPUS": str(path.parent.parent),
           "TFLITEKIT_DATA": str(dev.parent)}
    out = subprocess.run([sys.executable, str(REPO / "examples" / "bq_micro_speech.py"),
                          "-o", str(tmp_path)], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert "baseline accuracy 93.62 % on 1960 samples" in out
    assert "stopped at tolerance" in out
    for form in ("container", "tflm"):
        saved = tmp_path / f"micro_speech_bq_{form}.tflite"
        assert saved.stat().st_size < (tmp_path / "micro_speech.tflite").stat().st_size
        line = next(line for line in out.splitlines() if line.startswith(f"{form}:"))
        assert f"{saved.stat().st_size} bytes" in line
        drop = float(line.split("(")[1].split(" pp")[0])
        assert drop >= -0.2


def test_example_names_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "TFLITEKIT_CORPUS": str(tmp_path), "TFLITEKIT_DATA": str(tmp_path)}
    result = subprocess.run([sys.executable, str(REPO / "examples" / "bq_micro_speech.py")],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "missing" in result.stderr and "tflite_micro_speech.tflite" in result.stderr

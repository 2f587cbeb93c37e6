"""scripts/make_digits_model.py writes the committed example models (train tier, slow: it
trains for about a minute)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from _scripts import load_script

import tflitekit

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
MADE_WITH = "2.21.0"
"""The TensorFlow version examples/data/README.md says made the committed files."""


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="needs scikit-learn (pip install scikit-learn), the digits data")
def test_the_script_remakes_the_committed_models(tmp_path: Path) -> None:
    import tensorflow as tf

    assert load_script("make_digits_model").main(["--out", str(tmp_path)]) == 0
    for name, opcodes in (("digits_float", ["FULLY_CONNECTED", "SOFTMAX"]),
                          ("digits_int8", ["QUANTIZE", "FULLY_CONNECTED", "SOFTMAX",
                                           "DEQUANTIZE"])):
        made = (tmp_path / f"{name}.tflite").read_bytes()
        model = tflitekit.load(made)
        assert [op.opcode.name for op in model.main.operators] == opcodes
        assert [t.dtype.name for t in (*model.main.inputs, *model.main.outputs)] == \
            ["FLOAT32", "FLOAT32"]
        if tf.__version__ == MADE_WITH:  # deterministic training and conversion
            assert made == (DATA / f"{name}.tflite").read_bytes()

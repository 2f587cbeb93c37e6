"""scripts/make_demo_model.py writes the model and samples the demo ships (train tier, slow: it
trains for about a minute)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

import tflitekit
from tflitekit import demo

MADE_WITH = "2.21.0"
"""The TensorFlow version tflitekit/demo/README.md says made the committed files."""


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="needs scikit-learn (pip install scikit-learn), the digits data")
def test_the_script_remakes_the_bundled_model_and_samples(tmp_path: Path) -> None:
    import tensorflow as tf

    assert load_script("make_demo_model").main(["--out", str(tmp_path)]) == 0
    made = (tmp_path / demo.MODEL.name).read_bytes()
    model = tflitekit.load(made)
    opcodes = [op.opcode.name for op in model.main.operators]
    assert opcodes[0] == "QUANTIZE" and opcodes[-1] == "DEQUANTIZE"
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"} <= set(opcodes)
    with np.load(tmp_path / demo.SAMPLES.name) as samples:
        x, y = samples["x"], samples["y"]
    assert x.dtype == np.float32 and x.shape == (360, 8, 8, 1) and 0 <= x.min() < x.max() <= 1
    assert y.shape == (360,) and set(y.tolist()) == set(range(10))
    if tf.__version__ == MADE_WITH:  # deterministic training and conversion
        assert made == demo.MODEL.read_bytes()
        assert (tmp_path / demo.SAMPLES.name).read_bytes() == demo.SAMPLES.read_bytes()

"""The TFLite Micro-runnable form on the real-model corpus: every int8 model, its weights
clustered to 2, 3 and 4 bits, compressed with LUT and with Huffman, runs in TFLite Micro with
outputs bit-identical to the uncompressed clustered model, and in tflitekit's interpreter (its
TFLM_DECODE kernel) with the same outputs; decompressing gives that model back field by field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _clustering import cluster

import tflitekit
from tflitekit import Interpreter
from tflitekit.passes import CompressWeights, DecompressWeights
from tflitekit.runtimes import random_samples, run_tflm
from tflitekit.testing import assert_models_equal

pytestmark = [pytest.mark.corpus, pytest.mark.tflm]


def _clustered(path: Path, bits: int) -> tflitekit.Model:
    model = tflitekit.load(path)
    if not cluster(model, bits):
        pytest.skip(f"{path.name} has no int8 weights")
    return tflitekit.load(model.to_bytes())


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("codec", ["lut", "huffman"])
def test_compressed_corpus_models_run_in_tflite_micro(corpus_model: Path, codec: str,
                                                      bits: int) -> None:
    base = _clustered(corpus_model, bits)
    x = random_samples(base, 2)
    try:
        want = run_tflm(base.to_bytes(), x)
    except Exception as exc:
        pytest.skip(f"TFLite Micro refuses the clustered model: {exc}")
    compressed = base.copy()
    result = CompressWeights(codec=codec, bits=bits if codec == "lut" else None)(compressed)
    assert result.changes, result.skipped
    data = compressed.to_bytes()
    got = run_tflm(data, x)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)
    ours = Interpreter(tflitekit.load(data)).run(x)  # the compressed model as it is
    for w, o in zip(want, ours, strict=True):
        np.testing.assert_array_equal(o.reshape(w.shape), w)
    back = DecompressWeights()(tflitekit.load(data)).model
    assert_models_equal(base, back)
    print(f"{corpus_model.name} {codec} {bits} bits: {len(base.to_bytes())} -> {len(data)} bytes")

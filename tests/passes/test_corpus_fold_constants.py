"""fold_constants on the real-model corpus: TFLM outputs stay bit-identical, and exactly the
known foldable operators fold (only anomaly_detection has any: its dynamic-batch SHAPE chain).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit.passes import Prune
from tflitekit.passes.fold_constants import FoldConstants, fold_constants
from tflitekit.runtimes import random_inputs, run_litert, run_tflm

pytestmark = pytest.mark.corpus

SEEDS = (0, 1)
EXPECTED_FOLDS = {"anomaly_detection.tflite": ["SHAPE", "STRIDED_SLICE", "PACK"]}
"""The operators each corpus model folds, in order; every other model folds nothing."""


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("allow_growth", [True, False], ids=["growth", "no-growth"])
def test_fold_keeps_tflm_outputs(corpus_model: Path, allow_growth: bool) -> None:
    original = corpus_model.read_bytes()
    model = tflitekit.load(original)
    result = FoldConstants(allow_growth=allow_growth)(model)
    assert [c.split()[3] for c in result.changes] == EXPECTED_FOLDS.get(corpus_model.name, [])
    assert result.skipped == []
    assert model.check() == []
    folded = model.to_bytes()
    for seed in SEEDS:
        inputs = random_inputs(original, seed)
        assert _same(run_tflm(folded, inputs), run_tflm(original, inputs)), seed


def test_anomaly_detection_loses_its_shape_chain(corpus_paths: list[Path]) -> None:
    path = next(p for p in corpus_paths if p.name == "anomaly_detection.tflite")
    original = path.read_bytes()
    model = fold_constants(tflitekit.load(original))
    assert [op.opcode.name for op in model.main.operators] == [
        "QUANTIZE", "RESHAPE", *["FULLY_CONNECTED"] * 10, "RESHAPE", "DEQUANTIZE"]
    reshape = model.main.operators[-2]
    assert reshape.inputs[1] is not None and reshape.inputs[1].data.tolist() == [1, 5, 128, 1]
    Prune()(model)
    smaller = model.to_bytes()
    assert len(smaller) < len(original)
    for seed in SEEDS:
        inputs = random_inputs(original, seed)
        assert _same(run_tflm(smaller, inputs), run_tflm(original, inputs))
        assert _same(run_litert(smaller, inputs), run_litert(original, inputs))


def test_folding_shape_fixes_the_dynamic_batch(corpus_paths: list[Path]) -> None:
    """The documented price of folding SHAPE: LiteRT can no longer resize the batch."""
    path = next(p for p in corpus_paths if p.name == "anomaly_detection.tflite")
    original = path.read_bytes()
    batch_of_two = [np.concatenate([random_inputs(original, 0)[0], random_inputs(original, 1)[0]])]
    assert run_litert(original, batch_of_two)[0].shape == (2, 5, 128, 1)
    folded = fold_constants(tflitekit.load(original)).to_bytes()
    with pytest.raises(RuntimeError, match="RESHAPE"):
        run_litert(folded, batch_of_two)

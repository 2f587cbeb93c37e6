"""Corpus tier for set_batch_size and randomize_weights on the real models.

set_batch_size(model, 2) either succeeds, and then every row of the batch-2 model's outputs on
LiteRT and TFLM equals the batch-1 model's on that row (and LiteRT infers the shapes the pass
wrote), or raises PassError naming an operator; the models that fail are the measured ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit.passes.base import PassError
from tflitekit.passes.fold_constants import fold_constants
from tflitekit.passes.randomize_weights import RandomizeWeights
from tflitekit.passes.set_batch_size import SetBatchSize
from tflitekit.runtimes import random_inputs, run_litert, run_tflm

pytestmark = pytest.mark.corpus

BATCH = 2

# Measured: without fold_constants only anomaly_detection fails (its output RESHAPE takes a
# shape computed by SHAPE -> STRIDED_SLICE -> PACK); after fold_constants every model passes.
FAILURES = {
    False: {"anomaly_detection.tflite": r"operator 12 \(SHAPE\) of subgraph 0 reads the batched "
                                        r"tensor '.+': SHAPE is not known to keep the batch in "
                                        r"dimension 0; run fold_constants first"},
    True: {},
}


def _batch_inputs(data: bytes) -> list[np.ndarray]:
    rows = [random_inputs(data, seed) for seed in range(BATCH)]
    return [np.concatenate(parts) for parts in zip(*rows, strict=True)]


def _litert_shapes(model: tflitekit.Model) -> list[tuple[int, ...]]:
    """The shape LiteRT gives each tensor of the main subgraph once allocated; a tensor without
    shape (fold_constants leaves some unused) is () to LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model.to_bytes())
    interpreter.allocate_tensors()
    details = sorted(interpreter.get_tensor_details(), key=lambda d: d["index"])
    return [tuple(int(n) for n in d["shape"]) for d in details[:len(model.main.tensors)]]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return [(x.dtype, x.shape, x.tobytes()) for x in a] == [(y.dtype, y.shape, y.tobytes())
                                                            for y in b]


@pytest.mark.parametrize("folded", [False, True], ids=["as_is", "folded"])
def test_set_batch_size(corpus_model: Path, folded: bool) -> None:
    data = corpus_model.read_bytes()
    model = tflitekit.load(data)
    if folded:
        fold_constants(model)
    expected_failure = FAILURES[folded].get(corpus_model.name)
    try:
        SetBatchSize(BATCH)(model)
    except PassError as exc:
        assert expected_failure is not None, f"unexpected failure: {exc}"
        assert re.match(f"set_batch_size: {expected_failure}", str(exc)), str(exc)
        return
    assert expected_failure is None, "expected a PassError"
    assert model.check() == []
    batched = model.to_bytes()
    assert _litert_shapes(model) == [t.shape or () for t in model.main.tensors]
    inputs = _batch_inputs(data)
    litert = run_litert(batched, inputs)
    assert all(out.shape[0] == BATCH for out in litert)
    per_row = [run_litert(data, [x[i:i + 1] for x in inputs]) for i in range(BATCH)]
    assert _same(litert, [np.concatenate(outs) for outs in zip(*per_row, strict=True)])
    assert _same(run_tflm(batched, inputs), run_tflm(data, inputs))  # data: one row at a time


def test_randomize_weights(corpus_model: Path) -> None:
    data = corpus_model.read_bytes()
    original = tflitekit.load(data)
    model = tflitekit.load(data)
    result = RandomizeWeights(seed=1)(model)
    assert result.skipped == []
    assert model.check() == []
    changed = [t.name for t, o in zip(model.tensors(), original.tensors(), strict=True)
               if t.data is not None and o.data is not None
               and t.data.tobytes() != o.data.tobytes()]
    assert len(changed) == len(result.changes) > 0
    assert [d for d in tflitekit.diff(original, model) if "contents differ" not in d] == []
    randomized = model.to_bytes()
    inputs = random_inputs(data, seed=0)
    before, after = run_tflm(data, inputs), run_tflm(randomized, inputs)
    assert [(o.dtype, o.shape) for o in after] == [(o.dtype, o.shape) for o in before]
    assert all(np.isfinite(o).all() for o in after if o.dtype.kind == "f")

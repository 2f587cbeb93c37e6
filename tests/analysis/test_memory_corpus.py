"""Corpus tier: the arena head against TFLite Micro's own, and reordering proven in TFLite Micro.

For every corpus model and every Keras model of ``scripts/make_keras_models.py`` that TFLite
Micro runs (as is, or with its constant chains folded, as the conformance tier does), the head
:func:`memory` predicts equals the head TFLite Micro's recording allocator reports, to the byte.
Where :func:`best_order` lowers the predicted head, the reordered model (written by the
``reorder_for_memory`` pass) has exactly the predicted head in TFLite Micro, lower by the
predicted saving, and computes bit-identical outputs on random inputs.

Run with ``pytest -m corpus -s tests/analysis/test_memory_corpus.py`` to see the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _scripts import load_script
from _tflm_arena import measured_arena

import tflitekit
from tflitekit.analysis.memory import memory
from tflitekit.analysis.reorder import best_order
from tflitekit.passes import ReorderForMemory, fold_constants
from tflitekit.testing import assert_same_outputs

pytestmark = [pytest.mark.corpus, pytest.mark.tflm]

keras_script = load_script("make_keras_models")


def _runnable(data: bytes) -> bytes:
    """``data``, or the model with its constant chains folded when TFLite Micro refuses it
    (the converter's dynamic-batch shape chains); skips when TFLite Micro refuses both."""
    try:
        measured_arena(data)
        return data
    except RuntimeError:
        folded = fold_constants(tflitekit.load(data)).to_bytes()
    try:
        measured_arena(folded)
    except RuntimeError as exc:
        pytest.skip(str(exc)[:240])
    return folded


def _keras_file(name: str) -> Path:
    directory: Path = keras_script.default_dir()
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        pytest.skip(f"no Keras models in {directory} (scripts/make_keras_models.py makes them)")
    files = {m["name"]: m["file"] for m in json.loads(manifest.read_text())["models"]}
    if name not in files:
        pytest.skip(f"the TFLite converter refused {name}")
    return directory / files[name]


def assert_head_is_tflm_head(data: bytes, label: str) -> None:
    predicted = memory(tflitekit.load(data))
    measured = measured_arena(data)
    print(f"\n{label:48s} head predicted {predicted.arena_head_bytes:8d} measured "
          f"{measured.head:8d}  (peak live {predicted.peak_live_bytes}, no reuse "
          f"{predicted.no_reuse_bytes})")
    assert predicted.arena_head_bytes == measured.head, label


def assert_reordering_holds(data: bytes, label: str) -> None:
    model = tflitekit.load(data)
    found = best_order(model)
    result = ReorderForMemory()(model)
    if not found.saving:
        assert not result.modified, result.changes
        return
    reordered = model.to_bytes()
    before, after = measured_arena(data).head, measured_arena(reordered).head
    print(f"\n{label:48s} reordered: head {before} -> {after} (predicted {found.head_before} -> "
          f"{found.head_after}, exact search: {found.exact})")
    assert after == found.head_after, label
    assert before - after == found.saving > 0, label
    assert_same_outputs(data, reordered, seeds=(0, 1, 2))


def test_head_is_tflm_head(corpus_model: Path) -> None:
    assert_head_is_tflm_head(corpus_model.read_bytes(), corpus_model.name)


def test_reordering_lowers_tflm_head(corpus_model: Path) -> None:
    assert_reordering_holds(corpus_model.read_bytes(), corpus_model.name)


@pytest.mark.parametrize("name", keras_script.model_names())
def test_keras_head_is_tflm_head(name: str) -> None:
    assert_head_is_tflm_head(_runnable(_keras_file(name).read_bytes()), name)


@pytest.mark.parametrize("name", keras_script.model_names())
def test_keras_reordering_lowers_tflm_head(name: str) -> None:
    assert_reordering_holds(_runnable(_keras_file(name).read_bytes()), name)

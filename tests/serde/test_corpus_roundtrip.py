"""The corpus tier: the 22 real third-party models of scripts/fetch_corpus.py.

Run with ``pytest -m corpus`` (the directory comes from $TFLITEKIT_CORPUS, else
~/.cache/tflitekit/corpus; a missing corpus fails, it is never skipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tflitekit

pytestmark = pytest.mark.corpus

EXPECTED_CORPUS_MODELS = 22  # scripts/fetch_corpus.py: EXPECTED_MODELS

SEEDS = (0, 1)


def _reference() -> Any:
    from tflitekit import runtimes as reference

    missing = [name for name, ok in reference.available().items() if not ok]
    if missing:
        pytest.fail(f"the corpus tier needs the reference runtimes; missing: {missing} "
                    "(pip install ai-edge-litert tflite-micro)", pytrace=False)
    return reference


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(a, b, strict=True))


def test_corpus_has_every_model(corpus_paths: list[Path]) -> None:
    assert len(corpus_paths) == EXPECTED_CORPUS_MODELS, [p.name for p in corpus_paths]
    assert len({p.stem for p in corpus_paths}) == EXPECTED_CORPUS_MODELS


def test_plain_round_trip_reproduces_the_file(corpus_model: Path, tmp_path: Path) -> None:
    saved = tmp_path / corpus_model.name
    tflitekit.load(corpus_model).save(saved)
    assert saved.read_bytes() == corpus_model.read_bytes()
    assert tflitekit.load(corpus_model).to_bytes() == corpus_model.read_bytes()


def test_round_trip(corpus_model: Path, tmp_path: Path) -> None:
    original = tflitekit.load(corpus_model)
    saved = tmp_path / corpus_model.name
    original.save(saved, reencode=True)
    assert saved.read_bytes() != corpus_model.read_bytes()  # our own layout, not a copy
    again = tflitekit.load(saved)
    assert tflitekit.diff(original, again) == []
    assert tflitekit.diff(again, original) == []
    # from bytes too
    assert tflitekit.diff(tflitekit.load(corpus_model.read_bytes()), again) == []


def test_check_is_clean(corpus_model: Path) -> None:
    assert tflitekit.load(corpus_model).check() == []
    assert tflitekit.validate(corpus_model) == []


def test_save_is_idempotent(corpus_model: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first.tflite", tmp_path / "second.tflite"
    tflitekit.load(corpus_model).save(first, reencode=True)
    tflitekit.load(first).save(second, reencode=True)
    assert first.read_bytes() == second.read_bytes()
    assert tflitekit.load(first).to_bytes(reencode=True) == first.read_bytes()


@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_saved_model_runs_bit_identically(corpus_model: Path, runtime: str) -> None:
    reference = _reference()
    original = corpus_model.read_bytes()
    saved = tflitekit.load(original).to_bytes(reencode=True)
    run = (reference.run_litert if runtime == "litert" else reference.run_tflm)
    for seed in SEEDS:
        inputs = reference.random_inputs(original, seed)
        want = run(original, inputs)
        got = run(saved, inputs)
        assert _same(want, got), f"{runtime} outputs differ for seed {seed}"

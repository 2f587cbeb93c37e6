"""Corpus tier: the optimize pipeline on every real model keeps TFLite Micro's outputs bit for bit
and never makes the file larger."""

from __future__ import annotations

from pathlib import Path

import pytest

import tflitekit
from tflitekit.passes import optimize_pipeline
from tflitekit.testing import assert_same_outputs

pytestmark = pytest.mark.corpus


def test_optimize_keeps_outputs_and_never_grows(corpus_model: Path, tmp_path: Path) -> None:
    original = corpus_model.read_bytes()
    model = tflitekit.load(corpus_model)
    result = optimize_pipeline(check=True)(model)
    out = tmp_path / "optimized.tflite"
    model.save(out)
    optimized = out.read_bytes()
    assert len(optimized) <= len(original), [r.changes for r in result.results]
    assert tflitekit.load(optimized).check() == []
    assert_same_outputs(original, optimized, seeds=(0, 1))
    assert not optimize_pipeline(check=True)(model).modified  # a fixed point

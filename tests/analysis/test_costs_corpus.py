"""MAC/OP counts on real models (corpus tier), operator by operator against MLTK's own counting.

MLTK's metrics code runs from the ``silabs-mltk`` wheel of the corpus (see ``_mltk``); the tests
that need it skip, naming silabs-mltk, without it. Operators whose convention is MLTK's
(``source == "mltk"``) must count exactly as MLTK does; for the others MLTK's ``.tflite`` summary
counts nothing, which is checked too, so the table's claims about MLTK are tested both ways.

Run with ``pytest -m corpus tests/analysis/test_costs_corpus.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _mltk import Mltk, load
from _scripts import load_script

import tflitekit
from tflitekit.analysis.costs import CONVENTIONS, Cost, operator_cost
from tflitekit.testing import corpus_dir

pytestmark = pytest.mark.corpus

keras_script = load_script("make_keras_models")


@pytest.fixture(scope="module")
def mltk() -> Mltk:
    return load(corpus_dir())


def _total(path: Path) -> Cost:
    model = tflitekit.load(path)
    return sum((operator_cost(op) for op in model.main.operators), Cost(0, 0))


def test_micro_speech_totals(corpus_paths: list[Path]) -> None:
    """The issue's anchor: MLTK prints "Total MACs: 336.000 k", "Total OPs: 680.012 k"."""
    path = next(p for p in corpus_paths if p.name == "tflite_micro_speech.tflite")
    assert _total(path) == Cost(336_000, 680_012)


def _assert_counts_as_mltk(path: Path, mltk: Mltk) -> None:
    model = tflitekit.load(path)
    theirs = mltk.layers(path)
    assert len(theirs) == len(model.main.operators)
    for index, (op, layer) in enumerate(zip(model.main.operators, theirs, strict=True)):
        ours = operator_cost(op)
        convention = CONVENTIONS.get(op.opcode.builtin_code)
        where = f"{path.name} op {index} {layer.opcode}"
        if convention is not None and convention.source == "mltk":
            assert (ours.macs, ours.ops) == (layer.macs, layer.ops), where
        else:
            assert (layer.macs, layer.ops) == (0, 0), f"{where}: MLTK counts it"
    if all(CONVENTIONS[op.opcode.builtin_code].source == "mltk" for op in model.main.operators
           if op.opcode.builtin_code in CONVENTIONS):
        assert mltk.totals(path) == (_total(path).macs, _total(path).ops)


def test_corpus_model_counts_as_mltk(corpus_model: Path, mltk: Mltk) -> None:
    _assert_counts_as_mltk(corpus_model, mltk)


@pytest.mark.parametrize("name", keras_script.model_names())
def test_keras_model_counts_as_mltk(name: str, mltk: Mltk) -> None:
    path = keras_script.default_dir() / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} is missing: make it with scripts/make_keras_models.py")
    _assert_counts_as_mltk(path, mltk)

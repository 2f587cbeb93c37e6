"""xs3.compare: per-layer differences of our XS3 lowering (and of an xcore-opt model) from the
reference, checked against the two interpreters run directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tflitekit
from tflitekit import Interpreter, Model
from tflitekit.passes import expose_intermediates
from tflitekit.runtimes import random_samples, tflm_tensors
from tflitekit.testing import build_kws_model, build_runnable_model, corpus_dir
from tflitekit.xs3.backend import xs3_interpreter
from tflitekit.xs3.compare import Comparison, Difference, Oracle, compare

Array = np.ndarray


def _direct(model: Model, inputs: list[Array]) -> list[tuple[str, str, int, int, float]]:
    """(opcode, backend, elements, differing, max |diff|) of every computed tensor, from the
    two interpreters run directly."""
    ours, ref = xs3_interpreter(model), Interpreter(model)
    ours.run(inputs, keep=True)
    ref.run(inputs, keep=True)
    rows = []
    for op, placement in zip(ours.operators, ours.plan.placements, strict=True):
        for t in op.outputs:
            a, b = ours.tensor(t).astype(np.int64), ref.tensor(t).astype(np.int64)
            rows.append((op.opcode.name, placement.backend or "", a.size,
                         int((a != b).sum()), float(np.abs(a - b).max())))
    return rows


@pytest.mark.parametrize("build", [build_runnable_model, build_kws_model])
def test_every_computed_tensor_is_compared_as_the_interpreters_say(build: Any) -> None:
    model = build()
    inputs = random_samples(model, 7, seed=3)
    result = compare(model, inputs)
    assert result.against == "reference" and result.samples == 7 and not result.with_xcore
    assert [(x.opcode, x.backend, x.ours.elements, x.ours.differing, x.ours.max_abs_diff)
            for x in result.layers] == _direct(model, inputs)
    assert [x.tensor for x in result.layers] == [
        t.name for op in model.main.operators for t in op.outputs]
    assert {x.backend for x in result.layers} >= {"xs3"}
    assert all(x.xcore is None and x.xcore_opcode is None for x in result.layers)
    assert result.xcore is None and result.unmatched == ()


def test_totals_are_weighted_over_elements_and_the_worst_layer_has_the_largest_share() -> None:
    model = build_kws_model()
    result = compare(model, random_samples(model, 20))
    elements = sum(x.ours.elements for x in result.layers)
    differing = sum(x.ours.differing for x in result.layers)
    assert result.ours == Difference(elements, differing,
                                     max(x.ours.max_abs_diff for x in result.layers))
    assert result.ours.share == differing / elements
    worst = result.worst()
    if differing:
        assert worst is not None and worst.ours.share == max(x.ours.share for x in result.layers)
    else:
        assert worst is None


def test_an_xcore_model_is_matched_by_name_shape_and_type() -> None:
    """A stand-in for an xcore-opt model: the same model with every intermediate exposed, one
    tensor renamed. On the reference kernels (no XC operator, lower=False) it is exact."""
    model = build_kws_model()
    stand_in = expose_intermediates(model.copy())
    renamed = next(t for t in stand_in.main.outputs if t.name == "dw/out")
    renamed.name = "elsewhere"
    inputs = random_samples(model, 5)
    result = compare(model, inputs, xcore=stand_in)
    assert result.with_xcore and result.unmatched == ("dw/out",)
    for x in result.layers:
        if x.tensor == "dw/out":
            assert x.xcore is None and x.xcore_opcode is None
        else:
            assert x.xcore == Difference(x.ours.elements, 0, 0.0) and x.xcore_opcode == x.opcode
    assert result.xcore == Difference(sum(x.ours.elements for x in result.matched), 0, 0.0)
    assert result.ours_on_matched == sum((x.ours for x in result.matched),
                                         Difference(0, 0, 0.0))
    assert "not matched" in str(result) and "not in the xcore-opt model: dw/out" in str(result)


def test_json_and_text() -> None:
    model = build_runnable_model()
    result = compare(model, random_samples(model, 3), xcore=expose_intermediates(model.copy()))
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert [x["tensor"] for x in data["layers"]] == [x.tensor for x in result.layers]
    assert data["totals"]["ours"]["elements"] == result.ours.elements
    assert data["totals"]["xcore"]["differing"] == 0 and data["unmatched"] == []
    text = str(result)
    assert text.splitlines()[0].split()[:4] == ["#", "operator", "backend", "tensor"]
    assert "end to end" in text and "xcore-opt vs reference" in text


@pytest.mark.tflm
def test_tflite_micro_as_the_reference_gives_the_same_statistics() -> None:
    model = build_kws_model()
    inputs = random_samples(model, 4)
    ours = compare(model, inputs)
    theirs = compare(model, inputs, against=Oracle("tflm", tflm_tensors))
    assert theirs.against == "tflm"
    assert theirs.layers == ours.layers


@pytest.mark.corpus
@pytest.mark.tflm
def test_micro_speech_against_tflite_micro() -> None:
    path = corpus_dir() / "models" / "tflite_micro_speech.tflite"
    if not path.is_file():
        pytest.fail(f"the corpus has no {path.name}", pytrace=False)
    model = tflitekit.load(Path(path))
    inputs = random_samples(model, 10)
    result = compare(model, inputs, against=Oracle("tflm", tflm_tensors))
    assert isinstance(result, Comparison)
    assert result.layers == compare(model, inputs).layers  # the reference is TFLite Micro's
    assert [x.opcode for x in result.layers] == [
        "CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert [x.backend for x in result.layers] == ["xs3", "reference", "xs3", "reference"]
    print(result)

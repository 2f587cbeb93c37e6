"""xs3.profile: per-layer instructions and cycle estimates, checked against the backend's own
counts, the cost model and the MAC counts of tflitekit.analysis (MLTK's conventions)."""

from __future__ import annotations

import json

import pytest

import tflitekit
from tflitekit.analysis.costs import operator_cost
from tflitekit.testing import build_kws_model, build_runnable_model, corpus_dir
from tflitekit.xs3.backend import instruction_counts, xs3_interpreter
from tflitekit.xs3.estimate import CycleModel, estimate
from tflitekit.xs3.profile import NOT_ESTIMATED, profile


@pytest.mark.parametrize("build", [build_runnable_model, build_kws_model])
def test_layers_follow_the_plan_and_the_backends_counts(build: object) -> None:
    model = build()  # type: ignore[operator]
    result = profile(model)
    interpreter = xs3_interpreter(model)
    assert [(x.index, x.opcode, x.backend) for x in result.layers] == [
        (p.index, p.operator, p.backend) for p in interpreter.plan.placements]
    for layer, node in zip(result.layers, interpreter.nodes, strict=True):
        counting = instruction_counts(node)
        if counting is None:
            assert layer.cost is None and layer.counts is None
            assert layer.reason is not None and layer.reason.startswith(NOT_ESTIMATED)
        else:
            assert layer.backend == "xs3" and layer.counts == dict(counting.counts)
            assert layer.cost == estimate(counting.counts, CycleModel())
    assert result.counted, "no layer runs on the XS3 kernels"


def test_totals_shares_and_the_dominant_layers() -> None:
    result = profile(build_kws_model())
    total = result.total
    assert total.instructions == sum(x.cost.instructions for x in result.counted if x.cost)
    assert total.other == sum(x.cost.other for x in result.counted if x.cost)
    assert sum(result.share(x) for x in result.layers) == pytest.approx(1.0)
    top = result.top(2)
    assert [result.share(x) for x in top] == sorted(
        (result.share(x) for x in result.counted), reverse=True)[:2]
    assert all(result.share(x) == 0 for x in result.not_counted)


def test_the_cycle_model_scales_time_not_instructions() -> None:
    model = build_kws_model()
    base = profile(model).total
    slow = profile(model, cycle_model=CycleModel(clock_mhz=400.0, threads=8)).total
    assert slow.instructions == base.instructions
    assert slow.core_clocks == base.instructions * 8 and slow.seconds == pytest.approx(
        base.seconds * 2 * 8 / 5)


def test_macs_follow_mltk_for_weighted_layers() -> None:
    model = build_kws_model()
    result = profile(model)
    for layer, op in zip(result.layers, model.main.operators, strict=True):
        if layer.backend != "xs3":
            assert layer.macs is None
        elif op.opcode.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            assert layer.macs == operator_cost(op).macs, op.opcode.name
        elif op.opcode.name == "AVERAGE_POOL_2D":
            assert layer.macs == 4 * 5 * 4  # outputs x window, as a convolution computes it
    assert {x.opcode for x in result.layers if x.macs} >= {"CONV_2D", "FULLY_CONNECTED"}


def test_json_and_text() -> None:
    result = profile(build_runnable_model())
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert [x["opcode"] for x in data["layers"]] == [x.opcode for x in result.layers]
    assert data["total"]["instructions"] == result.total.instructions
    assert data["not_estimated"] == [x.index for x in result.not_counted]
    text = str(result)
    assert "total:" in text and "dominant:" in text
    if result.not_counted:
        assert "not estimated:" in text


@pytest.mark.corpus
def test_micro_speech_macs_are_mltks_published_figure() -> None:
    """MLTK's summary of the TFLM micro_speech model: "Total MACs: 336.000 k"."""
    path = corpus_dir() / "models" / "tflite_micro_speech.tflite"
    if not path.is_file():
        pytest.fail(f"the corpus has no {path.name}", pytrace=False)
    result = profile(tflitekit.load(path))
    assert result.macs == 336_000
    assert {x.opcode for x in result.counted} >= {"CONV_2D", "FULLY_CONNECTED"}
    print(result)


def test_progress_is_reported_per_operator() -> None:
    model = build_runnable_model()
    calls: list[tuple[int, int]] = []
    profile(model, progress=lambda done, total: calls.append((done, total)))
    n = len(model.main.operators)
    assert calls == [(i, n) for i in range(1, n + 1)]

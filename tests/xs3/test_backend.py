"""The XS3 interpreter backend: placement with reasons, outputs near the reference interpreter's,
instruction counts of the programs, and (corpus) every lowered layer within one step of TFLite."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tflitekit import Interpreter, load
from tflitekit.ir import Model, Operator, OperatorCode, Quantization, Tensor
from tflitekit.options import ActivationFunctionType, BuiltinOperator, FullyConnectedOptions
from tflitekit.testing import single_op
from tflitekit.xs3 import VPU, Memory, instruction_counts, lower_node, xs3_interpreter
from tflitekit.xs3.backend import is_xcore_model
from tflitekit.xs3.compare import lowered_mismatch


def _inputs(n: int = 30) -> list[np.ndarray]:
    return [np.random.default_rng(1).integers(-128, 128, (n, 4, 4, 2), dtype=np.int8)]


def test_plan_says_where_and_why(runnable_model: Callable[..., Model]) -> None:
    interpreter = xs3_interpreter(runnable_model())
    placed = [(p.operator, p.backend) for p in interpreter.plan.placements]
    assert placed == [("CONV_2D", "xs3"), ("RESHAPE", "reference"),
                      ("FULLY_CONNECTED", "xs3"), ("ADD", "reference")]
    reshape = interpreter.plan.placements[1]
    assert reshape.declined == (("xs3", "RESHAPE has no XS3 kernel (lowered: CONV_2D, "
                                        "DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D)"),)
    (got,) = interpreter.run(_inputs())
    (want,) = Interpreter(runnable_model()).run(_inputs())
    assert np.abs(got.astype(np.int32) - want).max() <= 2


def test_without_lowering_everything_runs_on_the_reference(
        runnable_model: Callable[..., Model]) -> None:
    interpreter = xs3_interpreter(runnable_model(), lower=False)
    assert interpreter.plan.counts() == {"xs3": 0, "reference": 4}
    assert "lowering is off" in str(interpreter.plan)
    np.testing.assert_array_equal(interpreter.run(_inputs())[0],
                                  Interpreter(runnable_model()).run(_inputs())[0])
    assert all(instruction_counts(node, lower=False) is None for node in interpreter.nodes)


def test_an_unknown_custom_operator_is_declined() -> None:
    x, y = Tensor("x", (1, 4), "int8"), Tensor("y", (1, 4), "int8")
    with pytest.raises(Exception, match="no XS3 kernel for the custom operator XC_unknown"):
        xs3_interpreter(single_op("XC_unknown", [x], [y]))


def test_instruction_counts_are_the_programs(runnable_model: Callable[..., Model]) -> None:
    interpreter = xs3_interpreter(runnable_model())
    conv, reshape = interpreter.nodes[:2]
    counts = instruction_counts(conv)
    assert counts is not None and instruction_counts(reshape) is None
    vpu = VPU(Memory(1))
    lower_node(conv).run(vpu, _inputs(1)[0])
    assert counts.counts == vpu.counts
    counts.other(1000)  # a copy: the cache is untouched
    again = instruction_counts(conv)
    assert again is not None and again.counts == vpu.counts


def test_the_interpreter_pickles(runnable_model: Callable[..., Model]) -> None:
    interpreter = xs3_interpreter(runnable_model())
    clone = pickle.loads(pickle.dumps(interpreter))
    np.testing.assert_array_equal(clone.run(_inputs())[0], interpreter.run(_inputs())[0])


@pytest.mark.corpus
def test_lowered_layers_of_the_corpus_are_within_one_step(corpus_paths: list[Path]) -> None:
    """Every layer our lowering takes in every int8 corpus model, on its reference input:
    within one step of TFLite Micro (our reference interpreter), on few of the outputs."""
    rng = np.random.default_rng(0)
    for path in corpus_paths:
        if path.stem.endswith(".float32"):
            continue
        model = load(path)
        sources = Interpreter(model).inputs
        if any(t.numpy_dtype != np.int8 for t in sources):
            continue
        inputs = [rng.integers(-128, 128, (40, *(t.shape or ())[1:]), dtype=np.int8)
                  for t in sources]
        for row in lowered_mismatch(model, inputs):
            assert row.difference.max_abs_diff <= 1 and row.difference.share < 0.15, \
                (path.stem, row)


def test_an_xcore_opt_model_is_not_lowered_by_default(runnable_model: Callable[..., Model]
                                                      ) -> None:
    # what xcore-opt leaves as a builtin, xmos' runtime runs on TFLite's reference kernels
    model = runnable_model()
    assert not is_xcore_model(model)
    assert "xs3" in xs3_interpreter(model).plan.counts()
    y = model.main.outputs[0]
    copy = Tensor("copy", y.shape, "int8", quantization=y.quantization)
    model.main.add_operator(Operator(OperatorCode(BuiltinOperator.CUSTOM, "XC_no_op"), [y],
                                     [copy]))
    model.main.outputs = [copy]
    assert is_xcore_model(model)
    plan = xs3_interpreter(model).plan
    assert [p.backend for p in plan.placements][-1] == "xs3"
    assert plan.counts()["xs3"] == 1
    assert xs3_interpreter(model, lower=True).plan.counts()["xs3"] > 1


def _relu_fc(output_zero: int) -> Model:
    rng = np.random.default_rng(0)
    x = Tensor("x", (1, 40), "int8", quantization=Quantization(0.05, 3))
    w = Tensor.constant("w", rng.integers(-127, 128, (20, 40), dtype=np.int8),
                        quantization=Quantization(0.01, 0))
    b = Tensor.constant("b", rng.integers(-500, 500, 20, dtype=np.int32),
                        quantization=Quantization(0.0005, 0))
    y = Tensor("y", (1, 20), "int8", quantization=Quantization(0.1, output_zero))
    return single_op(BuiltinOperator.FULLY_CONNECTED, [x, w, b], [y],
                     FullyConnectedOptions(fused_activation_function=ActivationFunctionType.RELU))


def test_counts_follow_what_the_program_branches_on_not_only_the_geometry() -> None:
    # a ReLU clamp from 50 needs a second constant per clamp step, one from -20 does not: the
    # same geometry executes different programs, and each layer gets its own program's counts
    for zero in (-20, 50, -20):
        (node,) = xs3_interpreter(_relu_fc(zero)).nodes
        layer = lower_node(node)
        vpu = VPU(Memory(1))
        layer.run(vpu, np.zeros((1, 1, 40), np.int8))
        counts = instruction_counts(node)
        assert counts is not None and counts.counts == vpu.counts, zero

"""expose_intermediates: every computed tensor becomes an output, the results do not change."""

from __future__ import annotations

import numpy as np

from tflitekit import SignatureDef
from tflitekit.interpreter import Interpreter
from tflitekit.passes import ExposeIntermediates, expose_intermediates
from tflitekit.runtimes import random_samples
from tflitekit.testing import build_runnable_model


def test_every_computed_tensor_becomes_an_output_after_the_old_ones() -> None:
    model = build_runnable_model(0)
    before = list(model.main.outputs)
    computed = [t for op in model.main.operators for t in op.outputs if not t.is_constant]
    expose_intermediates(model)
    outputs = list(model.main.outputs)
    assert outputs[:len(before)] == before
    assert {id(t) for t in outputs} == {id(t) for t in (*before, *computed)}
    assert len(outputs) == len({id(t) for t in outputs})
    assert len(outputs) > len(before)


def test_outputs_keep_their_values_and_a_second_run_changes_nothing() -> None:
    model = build_runnable_model(1)
    inputs = random_samples(model, 4, seed=2)
    want = Interpreter(model).run(inputs)
    exposed = expose_intermediates(model.copy())
    got = Interpreter(exposed).run(inputs)
    for w, g in zip(want, got, strict=False):
        np.testing.assert_array_equal(w, g)
    result = ExposeIntermediates()(exposed)
    assert not result.changes


def test_signatures_list_the_exposed_tensors_and_shapeless_ones_are_left_alone() -> None:
    model = build_runnable_model(0)
    graph = model.main
    model.signature_defs.append(SignatureDef("serving_default", graph,
                                             {"x": graph.inputs[0]}, {"y": graph.outputs[0]}))
    graph.operators[0].outputs[0].shape = None
    shapeless = graph.operators[0].outputs[0]
    result = ExposeIntermediates()(model)
    assert id(shapeless) not in {id(t) for t in graph.outputs}
    assert any("without a shape" in m for m in result.skipped)
    signature = model.signature_defs[0]
    assert [id(t) for t in signature.outputs.values()] == [id(t) for t in graph.outputs]
    assert next(iter(signature.outputs)) == "y"

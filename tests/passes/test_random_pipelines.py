"""Properties of random pass sequences on random models.

Every pass runs with checking on (conftest sets TFLITEKIT_CHECK_PASSES), so a pass that breaks
``check()`` fails here. Passes that must not change what a model computes are also compared
against TFLite Micro, bit for bit.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tflitekit
from tflitekit import Buffer, Model, OperatorCode, Quantization, Tensor
from tflitekit.options import AddOptions, BuiltinOperator, FullyConnectedOptions, MulOptions
from tflitekit.passes import (
    AddFloatIO,
    DedupeBuffers,
    FoldConstants,
    Pass,
    PassManager,
    Prune,
    RandomizeWeights,
    RenameTensors,
    SetBatchSize,
    StripFloatIO,
    StripStrings,
    TopologicalSort,
)
from tflitekit.runtimes import random_inputs, run_litert
from tflitekit.testing import assert_same_outputs

WIDTH = 8


def random_model(seed: int) -> Model:
    """An int8 graph of ADD/MUL/RELU/FULLY_CONNECTED over (1, WIDTH) tensors with branches,
    dead operators, duplicated constants, unused tensors, buffers and operator codes, and
    sometimes a float interface."""
    rng = np.random.default_rng(seed)
    model = Model(f"random {seed}")
    g = model.add_subgraph("main")
    q = Quantization(0.05, int(rng.integers(-20, 20)))
    x = g.add_input(Tensor("x", (1, WIDTH), "int8", quantization=q))
    available = [x]
    consts = [rng.integers(-127, 128, (1, WIDTH), np.int8) for _ in range(2)]
    for k in range(int(rng.integers(1, 7))):
        a = available[int(rng.integers(len(available)))]
        out = Tensor(f"t{k}", (1, WIDTH), "int8",
                     quantization=Quantization(float(rng.uniform(0.02, 0.2)),
                                               int(rng.integers(-10, 10))))
        kind = rng.integers(4)
        if kind == 0:  # elementwise with another tensor or a (possibly duplicated) constant
            if rng.integers(2):
                b = available[int(rng.integers(len(available)))]
            else:
                b = Tensor.constant(f"c{k}", consts[int(rng.integers(2))],
                                    quantization=Quantization(0.1, 0))
            g.add_operator(BuiltinOperator.ADD, [a, b], [out], AddOptions())
        elif kind == 1:
            b = Tensor.constant(f"m{k}", consts[int(rng.integers(2))],
                                quantization=Quantization(0.1, 0))
            g.add_operator(BuiltinOperator.MUL, [a, b], [out], MulOptions())
        elif kind == 2:
            g.add_operator(BuiltinOperator.RELU, [a], [out])
        else:
            w = Tensor.constant(f"w{k}", rng.integers(-127, 128, (WIDTH, WIDTH), np.int8),
                                quantization=Quantization(0.01, 0))
            g.add_operator(BuiltinOperator.FULLY_CONNECTED, [a, w, None], [out],
                           FullyConnectedOptions())
        available.append(out)
    produced = available[1:]
    for index in sorted({int(i) for i in rng.integers(len(produced), size=2)}):
        g.add_output(produced[index])
    if rng.integers(2):
        g.add_tensor(Tensor.constant("unused", consts[0]))
        model.buffers.append(Buffer(b"orphan"))
        model.operator_codes.append(OperatorCode(BuiltinOperator.TANH))
    if rng.integers(2):
        g.operators[:] = list(reversed(g.operators))  # out of order: toposort must fix it
        TopologicalSort()(model, check=False)
    if rng.integers(2):
        AddFloatIO()(model)
    return model


PRESERVING: list[Pass] = [Prune(), DedupeBuffers(), TopologicalSort(), StripStrings(),
                          FoldConstants(),  # unnamed tensors stay unnamed (no 'r/None' clash)
                          RenameTensors(lambda t: None if t.name is None else f"r/{t.name}")]
ANY: list[Pass] = [*PRESERVING, StripFloatIO(), AddFloatIO(), SetBatchSize(2),
                   SetBatchSize(1), RandomizeWeights(seed=3)]

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.tflm
@FAST
@given(seed=st.integers(0, 10_000), steps=st.lists(st.sampled_from(PRESERVING), max_size=6))
def test_preserving_passes_keep_outputs_bit_identical(seed: int, steps: list[Pass]) -> None:
    model = random_model(seed)
    assert model.check() == []
    before = model.to_bytes()
    PassManager(steps, check=True)(model)
    after = model.to_bytes()
    assert tflitekit.diff(tflitekit.load(after), model) == []
    assert_same_outputs(before, after, seeds=[seed])


@pytest.mark.litert
@FAST
@given(seed=st.integers(0, 10_000), steps=st.lists(st.sampled_from(ANY), max_size=6))
def test_any_pass_sequence_keeps_the_model_sound(seed: int, steps: list[Pass]) -> None:
    model = random_model(seed)
    PassManager(steps, check=True)(model)
    data = model.to_bytes()
    assert tflitekit.load(data).check() == []
    run_litert(data, random_inputs(data, seed))  # loads, allocates and runs


@pytest.mark.tflm
@FAST
@given(seed=st.integers(0, 10_000))
def test_optimize_pipeline_reaches_a_fixed_point(seed: int) -> None:
    from tflitekit.passes import optimize_pipeline

    model = random_model(seed)
    before = model.to_bytes()
    result = optimize_pipeline(check=True)(model)
    assert result.iterations <= 3
    after = model.to_bytes()
    assert len(after) <= len(before)
    assert_same_outputs(before, after, seeds=[seed])
    assert not optimize_pipeline()(model).modified


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1,
                      max_size=3))
def test_passes_on_damaged_models_fail_cleanly(tiny_bytes: bytes,
                                               edits: list[tuple[int, int]]) -> None:
    """Whatever a lenient load makes of damaged bytes, a pass either works or raises a
    TFLiteKitError; nothing else escapes."""
    data = bytearray(tiny_bytes)
    for at, value in edits:
        data[at % len(data)] = value
    try:
        model = tflitekit.load(bytes(data), strict=False, problems=[])
    except tflitekit.TFLiteKitError:
        return
    for step in ANY:
        with contextlib.suppress(tflitekit.TFLiteKitError):
            step(model, check=False)

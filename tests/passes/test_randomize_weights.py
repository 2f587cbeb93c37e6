"""randomize_weights: only weights change, keeping dtype and shape; seeded; finite; full
integer ranges; the model still runs on TFLM."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tflitekit
from tflitekit import Buffer, Model, Quantization, Tensor
from tflitekit.options import BuiltinOperator, TensorType
from tflitekit.passes.randomize_weights import RandomizeWeights, randomize_weights
from tflitekit.runtimes import random_inputs, run_tflm

WEIGHTS = ("conv/w", "conv/b", "fc/w", "fc/b", "add/c")


def _data(model: Model, name: str) -> np.ndarray:
    data = model.main.tensor(name).data
    assert data is not None
    return data


def _holder(*tensors: Tensor) -> Model:
    """A model whose only subgraph lists ``tensors`` (no operators)."""
    model = Model()
    g = model.add_subgraph("main")
    for tensor in tensors:
        g.add_tensor(tensor)
    return model


def test_runnable_model_golden(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    original = runnable_model()
    result = RandomizeWeights(seed=3)(model)
    assert result.changes == [
        "subgraph 0: tensor 'conv/w' (INT8 (3, 2, 2, 2)) randomized",
        "subgraph 0: tensor 'conv/b' (INT32 (3,)) randomized",
        "subgraph 0: tensor 'fc/w' (INT8 (5, 48)) randomized",
        "subgraph 0: tensor 'fc/b' (INT32 (5,)) randomized",
        "subgraph 0: tensor 'add/c' (INT8 (1, 5)) randomized",
    ]
    assert result.skipped == []
    for name in WEIGHTS:
        new, old = _data(model, name), _data(original, name)
        assert (new.dtype, new.shape) == (old.dtype, old.shape)
        assert not np.array_equal(new, old), name
    assert np.array_equal(_data(model, "reshape/shape"), [1, 48])  # a shape is not a weight
    # Nothing but the weights' bytes differs (each seen as a model buffer and a tensor's).
    differences = tflitekit.diff(original, model)
    assert len(differences) == 2 * len(WEIGHTS)
    assert all("contents differ" in d for d in differences)
    assert model.check() == []


@pytest.mark.tflm
def test_model_still_runs(runnable_model: Callable[[], Model]) -> None:
    data = randomize_weights(runnable_model(), seed=11).to_bytes()
    inputs = random_inputs(data, seed=2)
    tflm = run_tflm(data, inputs)
    assert tflm[0].shape == (1, 5) and tflm[0].dtype == np.int8
    assert tflitekit.load(data).check() == []


def test_same_seed_same_model(runnable_model: Callable[[], Model]) -> None:
    a = randomize_weights(runnable_model(), seed=5).to_bytes()
    b = randomize_weights(runnable_model(), seed=5).to_bytes()
    c = randomize_weights(runnable_model(), seed=6).to_bytes()
    assert a == b
    assert a != c


def test_tensor_order_decides_the_draws(runnable_model: Callable[[], Model]) -> None:
    """The first weight of a model gets the generator's first draw for its dtype and shape."""
    model = randomize_weights(runnable_model(), seed=9)
    expected = np.random.default_rng(9).integers(-128, 127, (3, 2, 2, 2), np.int8,
                                                 endpoint=True)
    assert np.array_equal(_data(model, "conv/w"), expected)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_integer_extremes_are_reached(dtype: str) -> None:
    info = np.iinfo(dtype)
    weight = Tensor.constant("w", np.zeros(1 << 18, dtype), quantization=Quantization(0.1, 0))
    randomize_weights(_holder(weight), seed=1)
    assert weight.data is not None
    assert (int(weight.data.min()), int(weight.data.max())) == (info.min, info.max)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint32"])
def test_wide_integers_use_their_whole_range(dtype: str) -> None:
    info = np.iinfo(dtype)
    weight = Tensor.constant("w", np.zeros(4096, dtype), quantization=Quantization(0.1, 0))
    randomize_weights(_holder(weight), seed=1)
    values = weight.data.astype(np.float64)  # type: ignore[union-attr]
    span = float(info.max) - float(info.min)
    assert values.min() < float(info.min) + span / 100
    assert values.max() > float(info.max) - span / 100


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_floats_are_uniform_in_range(dtype: str) -> None:
    weight = Tensor.constant("w", np.zeros(20000, dtype))
    randomize_weights(_holder(weight), seed=4, low=-0.5, high=0.25)
    values = weight.data
    assert values is not None and values.dtype == np.dtype(dtype)
    assert values.min() >= -0.5 and values.max() <= 0.25
    assert values.min() < -0.49 and values.max() > 0.24
    assert abs(float(values.astype(np.float64).mean()) + 0.125) < 0.01


def test_float16_never_overflows() -> None:
    weight = Tensor.constant("w", np.zeros(10000, np.float16))
    randomize_weights(_holder(weight), low=-1e9, high=1e9)
    values = weight.data
    assert values is not None and np.isfinite(values).all()
    assert np.abs(values).max() > 60000  # the range is clipped to float16's finite range


@pytest.mark.parametrize(("low", "high"), [(1.0, 0.0), (0.0, float("inf")),
                                           (float("nan"), 1.0), (-1e308, 1e308)])
def test_bad_range_is_an_error(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="need finite low <= high"):
        RandomizeWeights(low=low, high=high)


def test_non_weights_are_untouched() -> None:
    kept = [
        Tensor.constant("shape", np.array([1, 48], np.int32)),
        Tensor.constant("paddings", np.array([[0, 0], [1, 1]], np.int64)),
        Tensor.constant("mask", np.array([True, False])),
        Tensor.constant("complex", np.array([1 + 2j], np.complex64)),
        Tensor("activation", (1, 4), "float32"),
        Tensor("empty", (0,), "float32", buffer=Buffer(b"")),
    ]
    model = _holder(*kept)
    before = model.to_bytes()
    result = RandomizeWeights()(model)
    assert (result.changes, result.skipped) == ([], [])
    assert model.to_bytes() == before


def test_left_alone_with_a_reason() -> None:
    q = Quantization(0.5, 0)
    variable = Tensor.constant("state", np.ones((1, 4), np.float32))
    variable.is_variable = True
    packed = Tensor("int4", (4,), TensorType.INT4, buffer=Buffer(b"\x12\x34"), quantization=q)
    external = Tensor("far", (4,), "int8", quantization=q, external_buffer=2)
    mismatched = Tensor("short", (4,), "float32", buffer=Buffer(b"\x00" * 8))
    model = _holder(variable, packed, external, mismatched)
    before = model.to_bytes()
    result = RandomizeWeights()(model)
    assert result.changes == []
    assert result.skipped == [
        "subgraph 0: tensor 'state' left alone: variable tensor",
        "subgraph 0: tensor 'int4' left alone: INT4 elements have no numpy type (packed or "
        "non-standard)",
        "subgraph 0: tensor 'far' left alone: its data lives in external buffer 2",
        "subgraph 0: tensor 'short' left alone: its buffer does not match its shape (4,)",
    ]
    assert model.to_bytes() == before


def test_tiny_model_golden(tiny_model: Callable[[], Model]) -> None:
    """Every subgraph is visited; sparse and variable-without-data tensors are not touched."""
    model = tiny_model()
    result = RandomizeWeights(seed=1)(model)
    assert result.changes == [
        "subgraph 0: tensor 'conv/w' (INT8 (3, 2, 2, 2)) randomized",
        "subgraph 0: tensor 'conv/b' (INT32 (3,)) randomized",
        "subgraph 0: tensor 'fc/w' (INT8 (5, 48)) randomized",
        "subgraph 0: tensor 'fc/b' (INT32 (5,)) randomized",
        "subgraph 0: tensor 'add/c' (INT8 (1, 5)) randomized",
        "subgraph 1: tensor 'init/b' (FLOAT32 (1, 4)) randomized",
        "subgraph 1: tensor 'init/f16' (FLOAT16 (2,)) randomized",
    ]
    assert result.skipped == [
        "subgraph 1: tensor 'init/sparse' left alone: sparse tensor (its buffer holds only the "
        "stored values)",
    ]
    init = model.subgraphs[1]
    assert init.tensor("init/i64").data.tolist() == [[1, -2], [3, 2**40]]  # type: ignore[union-attr]
    assert init.tensor("init/sparse").buffer.data.tobytes() == np.arange(  # type: ignore[union-attr]
        6, dtype=np.float32).tobytes()
    assert model.check() == []


def test_shared_buffers_stay_shared() -> None:
    shared = Buffer(np.arange(6, dtype=np.float32))
    a = Tensor("a", (2, 3), "float32", buffer=shared)
    b = Tensor("b", (2, 3), "float32", buffer=shared)
    c = Tensor("c", (6,), "float32", buffer=shared)  # same bytes, another shape
    model = _holder(a, b, c)
    result = RandomizeWeights()(model)
    assert result.changes == [
        "subgraph 0: tensor 'a' (FLOAT32 (2, 3)) randomized",
        "subgraph 0: tensor 'b' shares the new data of 'a'",
        "subgraph 0: tensor 'c' (FLOAT32 (6,)) randomized",
    ]
    assert a.buffer is b.buffer and a.buffer is not shared and c.buffer is not shared
    assert a.buffer.data.tobytes() != c.buffer.data.tobytes()  # type: ignore[union-attr]
    assert shared not in tflitekit.load(model.to_bytes()).all_buffers()  # old bytes are gone
    assert len(model.all_buffers()) == 2


@pytest.mark.tflm
def test_float_model_runs_on_tflm() -> None:
    model = Model()
    g = model.add_subgraph("main")
    x = g.add_input(Tensor("x", (2, 8), "float32"))
    w = Tensor.constant("w", np.zeros((3, 8), np.float32))
    b = Tensor.constant("b", np.zeros(3, np.float32))
    y = Tensor("y", (2, 3), "float32")
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, [x, w, b], [y])
    g.add_output(y)
    randomize_weights(model, seed=2, low=-2.0, high=2.0)
    inputs = [np.random.default_rng(0).uniform(-1, 1, (2, 8)).astype(np.float32)]
    out = run_tflm(model.to_bytes(), inputs)[0]
    assert w.data is not None and b.data is not None
    expected = inputs[0].astype(np.float64) @ w.data.T.astype(np.float64) + b.data
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

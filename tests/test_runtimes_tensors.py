"""Every tensor from the reference runtimes: ``tflm_tensors``, ``litert_tensors`` and
``computed_tensors`` (tflitekit.runtimes), on the runnable model (conv → reshape → fc → add)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tflitekit import Model, TFLiteKitError, runtimes

N = 4


def _inputs(model: Model, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = model.main.inputs[0]
    return [rng.integers(-128, 128, (n, *x.shape[1:]), dtype=np.int8)]


def test_computed_tensors_are_the_input_and_every_operator_output(
        runnable_model: Callable[..., Model]) -> None:
    model = runnable_model()
    graph = model.main
    names = [graph.tensors[i].name for i in runtimes.computed_tensors(model)]
    assert sorted(names) == sorted(["x", "conv/y", "flat", "fc/y", "y"])
    assert runtimes.computed_tensors(model.to_bytes()) == runtimes.computed_tensors(model)


@pytest.mark.tflm
def test_tflm_tensors_stack_every_computed_tensor_over_the_samples(
        runnable_model: Callable[..., Model]) -> None:
    model = runnable_model()
    data = model.to_bytes()
    x = _inputs(model, N)
    tensors = runtimes.tflm_tensors(data, x)
    assert sorted(tensors) == runtimes.computed_tensors(model)
    for i, value in tensors.items():
        t = model.main.tensors[i]
        assert value.shape == (N, *t.shape) and value.dtype == t.numpy_dtype, t.name
    index = {t.name: i for i, t in enumerate(model.main.tensors)}
    assert np.array_equal(tensors[index["x"]].reshape(x[0].shape), x[0])
    out = runtimes.run_tflm(data, x)[0]
    assert np.array_equal(tensors[index["y"]].reshape(out.shape), out)
    # N samples at once == N single runs; a single sample of the model's shape gets N = 1.
    for k in range(N):
        single = runtimes.tflm_tensors(data, [x[0][k : k + 1]])
        assert all(np.array_equal(single[i][0], v[k]) for i, v in tensors.items())
        assert all(v.shape[0] == 1 for v in single.values())
    # The samples stacked on a new axis, (N, *shape), are the same N samples.
    stacked = runtimes.tflm_tensors(data, [x[0][:, None]])
    assert all(np.array_equal(stacked[i], v) for i, v in tensors.items())
    assert np.array_equal(runtimes.run_tflm(data, [x[0][:, None]])[0], out)


@pytest.mark.tflm
@pytest.mark.litert
def test_litert_tensors_agree_with_tflm_except_fully_connected(
        runnable_model: Callable[..., Model]) -> None:
    model = runnable_model()
    data = model.to_bytes()
    x = _inputs(model, N, seed=1)
    tflm = runtimes.tflm_tensors(data, x)
    litert = runtimes.litert_tensors(data, x)
    assert sorted(litert) == sorted(tflm)
    index = {t.name: i for i, t in enumerate(model.main.tensors)}
    # LiteRT's reference FULLY_CONNECTED requantizes in float (REFERENCE.md): compare up to it.
    for name in ("x", "conv/y", "flat"):
        assert np.array_equal(litert[index[name]], tflm[index[name]]), name
    assert np.abs(litert[index["y"]].astype(int) - tflm[index["y"]]).max() <= 1


@pytest.mark.tflm
@pytest.mark.litert
def test_tensors_refuse_a_wrong_number_of_inputs(runnable_model: Callable[..., Model]) -> None:
    data = runnable_model().to_bytes()
    x = _inputs(runnable_model(), 2)
    with pytest.raises(TFLiteKitError, match="1 inputs, got 2"):
        runtimes.tflm_tensors(data, [*x, *x])
    with pytest.raises(TFLiteKitError, match="1 inputs, got 2"):
        runtimes.litert_tensors(data, [*x, *x])
    with pytest.raises(TFLiteKitError, match="do not match"):
        runtimes.tflm_tensors(data, [x[0][:, :3]])

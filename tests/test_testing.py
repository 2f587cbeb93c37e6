"""tflitekit.testing: deterministic builders, assertions that say what differs, and a missing
runtime that skips inside pytest and raises outside it; tflitekit.runtimes.random_inputs needs no
runtime."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest

import tflitekit
from tflitekit import Model, RuntimeUnavailable, runtimes
from tflitekit.options import BuiltinOperator
from tflitekit.testing import (
    _mismatch,  # the comparison behind assert_same_outputs
    assert_models_equal,
    assert_same_outputs,
    build_kws_model,
    build_runnable_model,
    build_tiny_model,
    build_while_model,
    require_runtime,
)

BUILDERS: list[Callable[..., Model]] = [build_runnable_model, build_tiny_model, build_kws_model,
                                        build_while_model]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_builders_are_deterministic_and_sound(build: Callable[..., Model]) -> None:
    a, b = build(), build()
    assert a is not b and a.to_bytes() == b.to_bytes()
    assert_models_equal(a, b)
    assert_models_equal(a.to_bytes(), b)
    assert a.check() == []


def test_seeds_change_the_weights() -> None:
    with pytest.raises(AssertionError, match=r"models differ in \d+ places:\n  .*buffers"):
        assert_models_equal(build_runnable_model(0), build_runnable_model(1))
    with pytest.raises(AssertionError, match=r"\n  \.\.\. and \d+ more$"):
        assert_models_equal(build_kws_model(1), build_kws_model(2), limit=2)


def _without(monkeypatch: pytest.MonkeyPatch, runtime: str) -> None:
    """Make ``runtime`` unimportable for the rest of the test."""
    real = runtimes._import

    def fake(name: str) -> object:
        if name == runtime:
            raise RuntimeUnavailable(f"the {name} reference runtime is unavailable (test); "
                                     f"install it with `pip install {runtimes.package(name)}`")
        return real(name)

    monkeypatch.setattr(runtimes, "_import", fake)


@pytest.mark.parametrize("runtime", ["tflm", "litert"])
def test_missing_runtime_skips_inside_pytest_and_raises_outside(
        runtime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, runtime)
    model = build_runnable_model()
    package = runtimes.package(runtime)
    for check in (lambda: assert_same_outputs(model, model, runtime=runtime),  # type: ignore[arg-type]
                  lambda: require_runtime(runtime)):  # type: ignore[arg-type]
        with pytest.raises(pytest.skip.Exception, match=f"pip install {package}"):
            check()
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    with pytest.raises(RuntimeUnavailable, match=f"pip install {package}"):
        assert_same_outputs(model, model, runtime=runtime)  # type: ignore[arg-type]


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("runtime", ["tflm", "litert"])
def test_same_outputs_passes_and_fails(runtime: str) -> None:
    model = build_runnable_model()
    assert_same_outputs(model, model.to_bytes(), runtime=runtime, seeds=(0, 1, 2))  # type: ignore[arg-type]
    changed = build_runnable_model()
    bias = changed.main.tensor("add/c")
    bias.data = np.full((1, 5), 127, np.int8)
    with pytest.raises(AssertionError, match=f"{runtime}, random inputs of seed 0: output 0: "
                                             r"\d of 5 values differ, the first at flat index"):
        assert_same_outputs(model, changed, runtime=runtime)  # type: ignore[arg-type]
    x = [np.zeros((1, 4, 4, 2), np.int8)]
    with pytest.raises(AssertionError, match="the given inputs"):
        assert_same_outputs(model, changed, runtime=runtime, inputs=x)  # type: ignore[arg-type]


def test_mismatch_sees_dtype_shape_and_bits() -> None:
    zeros = np.zeros(3, np.float32)
    assert _mismatch(zeros, zeros.copy()) is None
    assert _mismatch(zeros, zeros.astype(np.float16)) == "float16[3] instead of float32[3]"
    assert _mismatch(zeros, zeros.reshape(1, 3)) == "float32[1, 3] instead of float32[3]"
    assert _mismatch(zeros, -zeros) is not None  # -0.0 == 0.0, but not bit for bit
    assert _mismatch(np.array([np.nan]), np.array([np.nan])) is None
    assert _mismatch(np.zeros((0, 2)), np.zeros((0, 2))) is None
    assert _mismatch(np.array(1, np.int8), np.array(2, np.int8)) == (
        "1 of 1 values differ, the first at flat index 0: 2 instead of 1")
    assert _mismatch(np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 5]])) == (
        "1 of 4 values differ, the first at flat index 3: 5 instead of 4")


def test_random_inputs_need_no_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    for runtime in ("tflm", "litert"):
        _without(monkeypatch, runtime)
    model = build_kws_model()
    x = runtimes.random_inputs(model, seed=3)
    assert [(a.dtype, a.shape) for a in x] == [(np.dtype(np.int8), (1, 10, 8, 1))]
    assert runtimes.random_inputs(model.to_bytes(), seed=3)[0].tobytes() == x[0].tobytes()
    assert runtimes.input_specs(build_while_model()) == [(np.dtype(np.int32), ()),
                                                        (np.dtype(np.float32), (-1, 4))]


def test_float_inputs_cover_what_their_quantize_represents() -> None:
    model = build_runnable_model()
    g = model.main
    x = g.inputs[0]
    real = g.add_input(tflitekit.Tensor("x_float", x.shape, "float32"))
    g.remove_input(x)
    g.add_operator(BuiltinOperator.QUANTIZE, [real], [x], before=g.operators[0])
    assert model.check() == []
    (values,) = runtimes.random_inputs(model)
    scale, zero = x.quantization.per_tensor()  # type: ignore[union-attr]
    assert values.dtype == np.float32
    assert scale * (-128 - zero) <= values.min() < values.max() <= scale * (127 - zero)
    assert values.max() - values.min() > 0.8 * scale * 255


def test_unknown_runtime_is_an_error() -> None:
    with pytest.raises(tflitekit.TFLiteKitError, match="unknown runtime 'gpu'"):
        runtimes.require("gpu")


def test_testing_does_not_import_pytest() -> None:
    code = "import sys, tflitekit.testing; sys.exit('pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("runtime", ["bogus", "TFLM", None])
def test_assert_same_outputs_refuses_an_unknown_runtime(runtime: object) -> None:
    model = build_runnable_model()
    with pytest.raises(tflitekit.UsageError, match="runtime must be 'tflm' or 'litert'"):
        assert_same_outputs(model, model, runtime=runtime)  # type: ignore[arg-type]


def test_assert_same_outputs_refuses_to_compare_nothing() -> None:
    model = build_runnable_model()
    with pytest.raises(tflitekit.UsageError, match="seeds is empty"):
        assert_same_outputs(model, model, seeds=())

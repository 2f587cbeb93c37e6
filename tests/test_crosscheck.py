"""crosscheck: every tensor of tflitekit's interpreter against a reference runtime."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tflitekit import Model, TFLiteKitError, UsageError
from tflitekit.crosscheck import Agreement, TensorAgreement, _agreement, crosscheck


@pytest.mark.tflm
def test_the_runnable_model_agrees_with_tflm_everywhere(
        runnable_model: Callable[[], Model]) -> None:
    agreement = crosscheck(runnable_model(), samples=5, seed=3)
    assert agreement.exact and agreement.first_difference is None
    assert agreement.samples == 5
    assert [(t.operator, t.opcode, t.tensor) for t in agreement.tensors] == [
        (None, "input", "x"), (0, "CONV_2D", "conv/y"), (1, "RESHAPE", "flat"),
        (2, "FULLY_CONNECTED", "fc/y"), (3, "ADD", "y")]
    assert agreement.tensors[1].elements == 5 * 4 * 4 * 3


def test_agreement_counts_identical_elements_and_the_largest_difference() -> None:
    ours = np.array([[1, 2, 3, 4]], np.int8)
    theirs = np.array([[1, 5, 3, 3]], np.int8)
    t = _agreement(2, "ADD", "y", "INT8", ours, theirs)
    assert (t.elements, t.identical, t.max_abs_diff) == (4, 2, 3.0)
    assert t.identical_share == 0.5 and not t.exact
    floats = _agreement(None, "input", "x", "FLOAT32", np.array([0.0, -0.0], np.float32),
                        np.array([0.0, 0.0], np.float32))
    assert floats.identical == 1 and floats.max_abs_diff == 0.0  # -0.0 is not bit-identical


def test_the_first_difference_is_the_first_inexact_tensor_in_execution_order() -> None:
    exact = TensorAgreement(0, "CONV_2D", "a", "INT8", 10, 10, 0.0)
    off = TensorAgreement(1, "ADD", "b", "INT8", 10, 9, 1.0)
    later = TensorAgreement(2, "MUL", "c", "INT8", 10, 1, 7.0)
    agreement = Agreement("tflm", 1, (exact, off, later))
    assert agreement.first_difference is off and not agreement.exact
    assert agreement.to_json()["first_difference"]["tensor"] == "b"


def test_an_unknown_oracle_is_refused(runnable_model: Callable[[], Model]) -> None:
    with pytest.raises(UsageError, match="against must be 'tflm' or 'litert'"):
        crosscheck(runnable_model(), against="tflite")  # type: ignore[arg-type]


def test_a_refusing_oracle_is_a_tflitekit_error_with_a_hint(
        runnable_model: Callable[[], Model], monkeypatch: pytest.MonkeyPatch) -> None:
    import tflitekit.crosscheck as module

    def refuse(model: bytes, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
        raise RuntimeError("TFLM failed to allocate tensors")

    monkeypatch.setattr(module, "tflm_tensors", refuse)
    with pytest.raises(TFLiteKitError, match="TFLite Micro cannot run the model: TFLM failed to "
                                             "allocate tensors \\(LiteRT's reference kernels"):
        crosscheck(runnable_model(), samples=2)

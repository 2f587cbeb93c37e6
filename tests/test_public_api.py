"""The top-level namespace and the error family: what ``import tflitekit`` offers."""

from __future__ import annotations

import enum

import pytest

import tflitekit
import tflitekit.errors
from tflitekit import Tensor, UsageError
from tflitekit.passes import PassManager, RandomizeWeights, SetBatchSize


def test_all_is_sorted_and_resolves() -> None:
    assert tflitekit.__all__ == sorted(tflitekit.__all__)
    for name in tflitekit.__all__:
        assert getattr(tflitekit, name) is not None, name
    for name in ("SaveError", "OverwriteError", "Usage", "UsageError", "ValidationReport",
                 "validate_report"):
        assert name in tflitekit.__all__, name


def test_every_error_is_exported_under_its_public_path() -> None:
    for name in tflitekit.errors.__all__:
        cls = getattr(tflitekit.errors, name)
        assert getattr(tflitekit, name) is cls, name
        assert issubclass(cls, tflitekit.TFLiteKitError), name
        assert cls.__module__ == "tflitekit", name


def test_exported_classes_report_the_public_path() -> None:
    classes = [getattr(tflitekit, n) for n in tflitekit.__all__]
    for cls in classes:
        if isinstance(cls, type) and not issubclass(cls, enum.Enum):  # schema enums aside
            assert cls.__module__ == "tflitekit", cls


@pytest.mark.parametrize("call, message", [
    (lambda: PassManager([], max_iterations=0), "max_iterations must be at least 1"),
    (lambda: SetBatchSize(0), "the batch must be at least 1, got 0"),
    (lambda: RandomizeWeights(low=1.0, high=0.0), "need finite low <= high"),
    (lambda: Tensor("x", (2,), "datetime64"), "no TFLite tensor type for numpy dtype"),
    (lambda: Tensor("x", (2,), "no-such-type"), "no TFLite tensor type for numpy dtype"),
])
def test_invalid_arguments_raise_usage_error(call: object, message: str) -> None:
    """Bad argument values raise UsageError: a TFLiteKitError that is also a ValueError."""
    with pytest.raises(UsageError, match=message) as caught:
        call()  # type: ignore[operator]
    assert isinstance(caught.value, tflitekit.TFLiteKitError)
    assert isinstance(caught.value, ValueError)

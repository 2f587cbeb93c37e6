"""Misusing the object model raises UsageError (or a clear TypeError/FormatError), never a bare
error and never a silent edit of another model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit import FormatError, Model, Quantization, Tensor, UsageError
from tflitekit.options import TensorType
from tflitekit.testing import build_runnable_model


def test_replace_all_uses_refuses_a_tensor_of_another_model() -> None:
    original = tflitekit.load(build_runnable_model().to_bytes())
    clone = original.copy()
    before = original.to_bytes()
    old, new = original.main.tensors[0], original.main.tensors[1]
    with pytest.raises(UsageError, match=rf"tensor {old.name!r} is not in subgraph"):
        clone.main.replace_all_uses(old, new)
    with pytest.raises(UsageError, match=r"replacement tensor .* is not in subgraph"):
        clone.main.replace_all_uses(clone.main.tensors[0], new)
    assert original.to_bytes() == before and tflitekit.diff(clone, original) == []
    fresh = Tensor("fresh", old.shape, old.dtype)  # a tensor of no subgraph joins this one
    clone.main.replace_all_uses(clone.main.tensors[0], fresh)
    assert fresh.graph is clone.main


def test_remove_operator_of_another_subgraph_is_a_usage_error() -> None:
    model = build_runnable_model()
    other = model.copy()
    with pytest.raises(UsageError, match="is not an operator of subgraph"):
        model.main.remove_operator(other.main.operators[0])
    assert len(other.main.operators) == len(model.main.operators)


def test_tensor_dtype_assignment_converts_like_the_constructor() -> None:
    t = Tensor("x", (2,), "int8")
    t.dtype = "float32"  # type: ignore[assignment]
    assert t.dtype is TensorType.FLOAT32
    t.dtype = np.int16  # type: ignore[assignment]
    assert t.dtype is TensorType.INT16
    for bad in ("float33", None, True):
        with pytest.raises(UsageError, match="no TFLite tensor type"):
            t.dtype = bad  # type: ignore[assignment]
    assert t.dtype is TensorType.INT16
    model = Model()
    model.add_subgraph().add_input(t)
    tflitekit.load(model.to_bytes())


@pytest.mark.parametrize("shape", ["abc", "12", 3, [1.5], [1, "2"], [True]])
def test_a_shape_must_be_a_sequence_of_ints(shape: object) -> None:
    with pytest.raises(UsageError, match="shape"):
        Tensor("x", shape, "int8")  # type: ignore[arg-type]
    assert Tensor("x", np.array([1, 2]), "int8").shape == (1, 2)  # numpy ints are fine


@pytest.mark.parametrize("kwargs", [
    {"scale": "a", "zero_point": 0}, {"scale": 0.5, "zero_point": "z"},
    {"scale": [0.5], "zero_point": [0.5]}, {"scale": object()},
    {"scale": 1.0, "quantized_dimension": 1.5}])
def test_bad_quantization_values_are_usage_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError, match=r"Quantization|quantized_dimension"):
        Quantization(**kwargs)  # type: ignore[arg-type]


def test_copies_keep_the_read_only_quantization_of_loaded_models() -> None:
    loaded = tflitekit.load(build_runnable_model().to_bytes())
    copied = loaded.copy()
    for model in (loaded, copied):
        q = next(t.quantization for t in model.tensors() if t.quantization is not None
                 and t.quantization.scale is not None)
        assert not q.scale.flags.writeable  # type: ignore[union-attr]
    q = next(t.quantization for t in copied.tensors() if t.quantization is not None)
    assert q.copy().scale is None or q.copy().scale.flags.writeable  # type: ignore[union-attr]
    built = build_runnable_model()  # a model built in Python keeps writeable arrays in copies
    q = next(t.quantization for t in built.copy().tensors() if t.quantization is not None)
    assert q.scale.flags.writeable  # type: ignore[union-attr]


def test_load_refuses_a_path_with_a_null_byte() -> None:
    with pytest.raises(UsageError, match=r"cannot open 'a\\x00b': a path cannot contain a null"):
        tflitekit.load("a\x00b")


def test_load_of_a_closed_or_text_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(build_runnable_model().to_bytes())
    with path.open("rb") as file:
        pass
    with pytest.raises(UsageError, match=r"cannot read the file object '.*m\.tflite': it is "
                                         "closed"):
        tflitekit.load(file)
    with pytest.raises(UsageError, match=r"returned str, not bytes \(open it in binary mode"):
        tflitekit.load(io.StringIO("TFL3"))
    with path.open("rb") as file:
        assert tflitekit.load(file).main.operators


@pytest.mark.parametrize("source", [None, 3, 2.5])
def test_load_of_a_wrong_type_says_what_is_accepted(source: object) -> None:
    with pytest.raises(TypeError, match=r"expected a path \(str or os.PathLike\), a bytes-like "
                                        "object or a binary file object"):
        tflitekit.load(source)
    assert not issubclass(FormatError, TypeError)

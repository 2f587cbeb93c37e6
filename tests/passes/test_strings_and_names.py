"""strip_strings and rename_tensors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tflitekit
from tflitekit import Model, SignatureDef
from tflitekit.passes import PassError, RenameTensors, rename_tensors, strip_strings
from tflitekit.passes.strip_strings import StripStrings
from tflitekit.runtimes import random_inputs


def _with_signature(model: Model) -> Model:
    g = model.main
    model.signature_defs.append(SignatureDef("serving_default", g, inputs={"image": g.inputs[0]},
                                             outputs={"scores": g.outputs[0]}))
    return model


def _signature_run(data: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=data).get_signature_runner("serving_default")
    return np.asarray(runner(image=x)["scores"])


@pytest.mark.litert
def test_strip_strings_removes_names_and_keeps_signatures(
        runnable_model: Callable[[], Model]) -> None:
    model = _with_signature(runnable_model())
    data = model.to_bytes()
    result = StripStrings()(model)
    assert result.changes == ["removed the model description", "subgraph 0: removed its name",
                              "subgraph 0: removed the names of 11 tensors"]
    assert model.description is None and model.main.name is None
    assert all(t.name is None for t in model.tensors())
    stripped = model.to_bytes()
    assert len(stripped) < len(data) - 60
    loaded = tflitekit.load(stripped)
    assert loaded.check() == []
    sig = loaded.signature_defs[0]
    assert sig.inputs["image"] is loaded.main.inputs[0]
    assert sig.outputs["scores"] is loaded.main.outputs[0]
    x = random_inputs(data)[0]
    np.testing.assert_array_equal(_signature_run(stripped, x), _signature_run(data, x))
    assert not StripStrings()(model).modified


def test_strip_strings_can_keep_interface_names(runnable_model: Callable[[], Model]) -> None:
    model = strip_strings(runnable_model(), keep_io_names=True)
    assert [t.name for t in model.main.inputs] == ["x"]
    assert [t.name for t in model.main.outputs] == ["y"]
    assert sum(t.name is not None for t in model.main.tensors) == 2


def test_rename_by_mapping(runnable_model: Callable[[], Model]) -> None:
    model = _with_signature(runnable_model())
    rename_tensors(model, {"x": "input", "y": "logits"})
    assert model.main.inputs[0].name == "input" and model.main.outputs[0].name == "logits"
    assert list(model.signature_defs[0].inputs) == ["image"]  # signature names are separate
    loaded = tflitekit.load(model.to_bytes())
    assert loaded.main.tensor("logits") is loaded.main.outputs[0]


def test_rename_report_counts_in_words(runnable_model: Callable[[], Model]) -> None:
    assert RenameTensors({"x": "input"})(runnable_model()).changes == ["renamed 1 tensor"]
    assert RenameTensors({"x": "a", "y": "b"})(runnable_model()).changes == ["renamed 2 tensors"]


def test_rename_by_function(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    rename_tensors(model, lambda t: None if t.name is None else t.name.replace("/", "."))
    assert model.main.tensor("conv.w").is_constant
    assert not any("/" in (t.name or "") for t in model.tensors())


def test_rename_of_a_missing_name_is_an_error(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    with pytest.raises(PassError, match="no tensor is named 'nope'"):
        rename_tensors(model, {"x": "input", "nope": "other"})
    assert model.main.inputs[0].name == "x"  # nothing renamed

"""Passes validate their arguments when built, and what they are called on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import tflitekit
from tflitekit import Model, UsageError
from tflitekit.passes import (
    PassError,
    PassManager,
    Prune,
    RandomizeWeights,
    RenameTensors,
    SetBatchSize,
    StripFloatIO,
    optimize,
    prune,
    randomize_weights,
    rename_tensors,
    set_batch_size,
)


@pytest.mark.parametrize("batch", [2.5, 2**40, "4", True, None])
def test_set_batch_size_refuses_what_is_not_an_int32_batch(
        batch: object, runnable_model: Callable[[], Model]) -> None:
    with pytest.raises(UsageError, match="the batch must be"):
        SetBatchSize(batch)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="the batch must be"):
        set_batch_size(runnable_model(), batch)  # type: ignore[arg-type]
    assert SetBatchSize(2**31 - 1).batch == 2**31 - 1


@pytest.mark.parametrize("seed", [-1, "a", 1.5, None, True])
def test_randomize_weights_needs_a_non_negative_int_seed(
        seed: object, runnable_model: Callable[[], Model]) -> None:
    with pytest.raises(UsageError, match="the seed must be a non-negative int"):
        randomize_weights(runnable_model(), seed=seed)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="low and high must be numbers"):
        RandomizeWeights(0, "a", 1.0)  # type: ignore[arg-type]


def test_rename_that_creates_a_duplicate_name_is_refused(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    before = model.to_bytes()
    n0, n1 = (t.name for t in model.main.tensors[:2])
    with pytest.raises(PassError, match=rf"tensors {n0!r} and {n1!r} of subgraph 0 the same "
                                        rf"name {n1!r}|tensors {n1!r} and {n0!r}"):
        rename_tensors(model, {n0: n1})
    with pytest.raises(PassError, match="the same name 'same'"):
        RenameTensors(lambda t: "same")(model)
    assert model.to_bytes() == before  # nothing renamed
    rename_tensors(model, {n0: n1, n1: n0})  # a swap creates no duplicate
    assert [t.name for t in model.main.tensors[:2]] == [n1, n0]


def test_rename_keeps_duplicates_the_model_already_had(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    a, b, c = model.main.tensors[:3]
    a.name = b.name = "dup"
    rename_tensors(model, {"dup": "twin"})  # both renamed together: no new clash
    assert a.name == b.name == "twin"
    RenameTensors(lambda t: t.name)(model)  # unchanged duplicates are fine
    with pytest.raises(PassError, match="the same name 'twin'"):
        rename_tensors(model, {c.name: "twin"})  # type: ignore[dict-item]


@pytest.mark.parametrize("new", [3, "", b"x"])
def test_rename_to_a_non_string_or_empty_name_is_a_usage_error(
        new: object, runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    name = model.main.tensors[0].name
    with pytest.raises(UsageError, match="must be a non-empty str"):
        rename_tensors(model, {name: new})  # type: ignore[dict-item]
    with pytest.raises(UsageError, match="must be a non-empty str"):
        rename_tensors(model, lambda t: new)  # type: ignore[arg-type,return-value]
    assert model.main.tensors[0].name == name
    tflitekit.load(model.to_bytes())


@pytest.mark.parametrize(("passes", "message"), [
    (None, "passes must be a sequence of Pass instances, got NoneType"),
    (["prune"], "passes must be Pass instances; got the string 'prune' — use Prune()"),
    ([prune], "passes must be Pass instances; got the function prune — use Prune()"),
    ([Prune], "passes must be Pass instances; got the class Prune — use Prune()"),
    ([Prune(), 3], "passes must be Pass instances; got int 3"),
    (Prune(), "passes must be a sequence of Pass instances, got Prune"),
])
def test_pass_manager_checks_its_passes(passes: object, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        PassManager(passes)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("thing", [None, b"TFL3", "model.tflite"])
def test_a_pass_called_on_something_else_than_a_model(thing: object) -> None:
    name = type(thing).__name__
    with pytest.raises(UsageError, match=rf"^prune: expected a tflitekit.Model, got {name}"):
        prune(thing)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=rf"^optimize: expected a tflitekit.Model, got {name}"):
        optimize(thing)  # type: ignore[arg-type]


def test_a_step_error_names_the_step_once(runnable_model: Callable[[], Model]) -> None:
    with pytest.raises(PassError) as caught:
        PassManager([StripFloatIO(names=["nope"])], name="passes")(runnable_model())
    message = str(caught.value)
    assert message.startswith("pipeline passes, step 1 (strip_float_io): no float32")
    assert message.count("strip_float_io") == 1
    assert str(caught.value.__cause__).startswith("strip_float_io: no float32")

"""The pass contract and the PassManager."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

import tflitekit
from tflitekit import Model, Tensor
from tflitekit.ir import Problem
from tflitekit.passes import (
    CHECK_ENV,
    AddFloatIO,
    Pass,
    PassError,
    PassManager,
    PassResult,
    PipelineResult,
    Prune,
    Report,
    StripFloatIO,
    TopologicalSort,
    optimize_pipeline,
)


@dataclass
class Rename(Pass):
    """Renames the input, once (a pass that converges)."""

    name = "rename_input"
    new: str = "renamed"

    def run(self, model: Model, report: Report) -> None:
        tensor = model.main.inputs[0]
        if tensor.name != self.new:
            tensor.name = self.new
            report.change(f"renamed the input to {self.new!r}")


@dataclass
class Toggle(Pass):
    """Flips a name back and forth: never converges."""

    name = "toggle"

    def run(self, model: Model, report: Report) -> None:
        tensor = model.main.inputs[0]
        tensor.name = "b" if tensor.name == "a" else "a"
        report.change("toggled")


@dataclass
class Breaker(Pass):
    """Removes the first operator, leaving its readers without a producer."""

    name = "breaker"

    def run(self, model: Model, report: Report) -> None:
        model.main.remove_operator(model.main.operators[0])
        report.change("removed the first operator")


def test_result_reports_changes(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    result = Rename()(model)
    assert result.name == "rename_input"
    assert result.model is model
    assert result.modified
    assert result.changes == ["renamed the input to 'renamed'"]
    assert model.main.inputs[0].name == "renamed"
    again = Rename()(model)
    assert not again.modified and again.changes == [] and again.skipped == []


def test_check_catches_a_pass_that_breaks_the_model(runnable_model: Callable[[], Model]) -> None:
    with pytest.raises(PassError, match=r"pass breaker left the model broken:\n.*conv/y"):
        Breaker()(runnable_model(), check=True)
    Breaker()(runnable_model(), check=False)  # asked not to check: no error


def test_check_follows_the_environment(runnable_model: Callable[[], Model],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHECK_ENV, "1")
    with pytest.raises(PassError):
        Breaker()(runnable_model())
    monkeypatch.setenv(CHECK_ENV, "0")
    assert Breaker()(runnable_model()).modified


def test_check_blames_only_new_problems(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    model.main.add_tensor(Tensor("bad", (-1,), "int8"))  # a problem the pass did not cause
    assert model.check()
    assert Rename()(model, check=True).modified


def test_manager_runs_in_order_and_keeps_intermediates(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    manager = PassManager([Rename("first"), Rename("second"), Prune()], keep_intermediates=True)
    result = manager(model)
    assert [r.name for r in result.results] == ["rename_input", "rename_input", "prune"]
    assert [r.modified for r in result.results] == [True, True, False]
    assert result.modified and result.iterations == 1
    assert [m.main.inputs[0].name for m in result.intermediates] == ["first", "second", "second"]
    assert all(m is not model for m in result.intermediates)


def test_manager_fixed_point(runnable_model: Callable[[], Model]) -> None:
    result = PassManager([Rename(), TopologicalSort()], fixed_point=True)(runnable_model())
    assert result.iterations == 2  # the second round changes nothing
    assert [r.modified for r in result.results] == [True, False, False, False]


def test_manager_refuses_to_loop_forever(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    model.main.inputs[0].name = "a"
    with pytest.raises(PassError, match="still changed the model after 4 rounds"):
        PassManager([Toggle()], fixed_point=True, max_iterations=4)(model)
    with pytest.raises(ValueError, match="max_iterations"):
        PassManager([Toggle()], max_iterations=0)


def test_manager_checks_after_each_pass(runnable_model: Callable[[], Model]) -> None:
    with pytest.raises(PassError, match="breaker"):
        PassManager([Rename(), Breaker(), Rename("x")], check=True)(runnable_model())


# ------------------------------------------------------------------------------------------------
# PassManager is a pass: names, nesting, results
# ------------------------------------------------------------------------------------------------


def test_manager_is_a_pass_and_its_result_a_pass_result(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    manager = PassManager([Rename("first"), Prune()])
    assert isinstance(manager, Pass) and manager.name == "pipeline"
    result = manager(model)
    assert isinstance(result, PassResult) and isinstance(result, PipelineResult)
    assert result.name == "pipeline" and result.model is model and result.modified
    assert result.changes == ["rename_input: renamed the input to 'first'"]
    assert result.skipped == []
    assert not manager(model).modified
    assert PassManager([], name="mine").name == "mine"
    assert "name='mine'" in repr(PassManager([], name="mine"))


def test_optimize_pipeline_is_a_named_pass() -> None:
    pipeline = optimize_pipeline()
    assert isinstance(pipeline, Pass) and pipeline.name == "optimize"


def test_pipelines_nest(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    inner = PassManager([Rename("second"), Prune()], name="inner", keep_intermediates=True)
    outer = PassManager([Rename("first"), inner, Skipper()], name="outer",
                        keep_intermediates=True)
    result = outer(model)
    assert [r.name for r in result.results] == ["rename_input", "inner", "skipper"]
    nested = result.results[1]
    assert isinstance(nested, PipelineResult)  # results nest ...
    assert [r.name for r in nested.results] == ["rename_input", "prune"]
    assert len(nested.intermediates) == 2 and len(result.intermediates) == 3
    # ... and changes / skips flatten, each prefixed with the path of the pass that made it
    assert result.changes == ["rename_input: renamed the input to 'first'",
                              "inner > rename_input: renamed the input to 'second'"]
    assert result.skipped == ["skipper: left something alone"]
    assert model.main.inputs[0].name == "second"


def test_nested_fixed_point(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    model.main.inputs[0].name = "x0"
    inner = PassManager([CountUp(limit=3)], name="inner", fixed_point=True)
    outer = PassManager([inner, CountUp(limit=5)], fixed_point=True)
    result = outer(model)
    # round 1: inner counts x0 -> x3 in 4 rounds, then x4; round 2: x5; round 3: nothing
    assert model.main.inputs[0].name == "x5"
    assert result.iterations == 3
    first = result.results[0]
    assert isinstance(first, PipelineResult) and first.iterations == 4
    assert [r.modified for r in result.results] == [True, True, False, True, False, False]
    assert len(result.changes) == 5
    # the same reason given in every round is listed once
    assert result.skipped == ["inner > count_up: stopped at the limit",
                              "count_up: stopped at the limit"]


def test_manager_run_records_into_a_report(runnable_model: Callable[[], Model]) -> None:
    report = Report()
    PassManager([Rename("first"), Skipper()], name="p").run(runnable_model(), report)
    assert report.changes == ["rename_input: renamed the input to 'first'"]
    assert report.skipped == ["skipper: left something alone"]


def test_check_given_to_the_call_overrides_and_reaches_nested_pipelines(
        runnable_model: Callable[[], Model]) -> None:
    unchecked = PassManager([PassManager([Breaker()], name="inner")], check=False)
    assert unchecked(runnable_model()).modified
    with pytest.raises(PassError, match=r"pipeline, step 1\.1 \(inner > breaker\): pass breaker "
                                        "left the model broken"):
        unchecked(runnable_model(), check=True)


# ------------------------------------------------------------------------------------------------
# errors name the step
# ------------------------------------------------------------------------------------------------


def test_error_names_the_step_and_keeps_the_cause(runnable_model: Callable[[], Model]) -> None:
    boom = Boom(PassError("no can do"))
    with pytest.raises(PassError) as caught:
        PassManager([Rename(), boom], name="optimize")(runnable_model())
    assert str(caught.value) == "pipeline optimize, step 2 (boom): no can do"
    assert caught.value.__cause__ is boom.error


def test_unexpected_exceptions_are_wrapped_too(runnable_model: Callable[[], Model]) -> None:
    boom = Boom(KeyError("x"))
    with pytest.raises(PassError) as caught:
        PassManager([boom])(runnable_model())
    assert str(caught.value) == "pipeline, step 1 (boom): KeyError: 'x'"
    assert caught.value.__cause__ is boom.error


def test_step_errors_print_as_pass_errors(runnable_model: Callable[[], Model]) -> None:
    with pytest.raises(PassError) as caught:
        PassManager([Boom()])(runnable_model())
    line = traceback.format_exception_only(type(caught.value), caught.value)[-1]
    assert line == "tflitekit.PassError: pipeline, step 1 (boom): boom\n"


def test_nested_errors_give_the_full_path(runnable_model: Callable[[], Model]) -> None:
    boom = Boom(ValueError("bad value"))
    inner = PassManager([Rename(), Prune(), boom], name="optimize")
    with pytest.raises(PassError) as caught:
        PassManager([Rename("first"), inner], name="outer")(runnable_model())
    assert str(caught.value) == ("pipeline outer, step 2.3 (optimize > boom): ValueError: "
                                 "bad value")
    assert caught.value.__cause__ is boom.error


def test_a_nested_pipeline_that_does_not_converge_is_named(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    model.main.inputs[0].name = "a"
    inner = PassManager([Toggle()], name="flip", fixed_point=True, max_iterations=2)
    with pytest.raises(PassError, match=r"^pipeline outer, step 1 \(flip\): pipeline flip: "
                                        r"passes \['toggle'\] still changed the model after 2 "
                                        "rounds$"):
        PassManager([inner], name="outer")(model)


# ------------------------------------------------------------------------------------------------
# requires / ensures
# ------------------------------------------------------------------------------------------------


def test_requires_is_checked_before_the_pass_runs(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    before = model.copy()
    with pytest.raises(PassError, match=r"^needs_two_inputs: the model has 1 input$") as caught:
        NeedsTwoInputs()(model)
    assert isinstance(caught.value.__cause__, PassError)
    assert tflitekit.diff(model, before) == []  # run never started
    # the step's own message names it already: the path does not repeat it (the cause keeps it)
    with pytest.raises(PassError, match=r"^pipeline, step 2 \(needs_two_inputs\): "
                                        "the model has 1 input$") as caught:
        PassManager([Rename(), NeedsTwoInputs()])(model)
    assert str(caught.value.__cause__) == "needs_two_inputs: the model has 1 input"


def test_float_io_passes_require_the_names_they_are_given(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    with pytest.raises(PassError, match=r"^no float32 input or output named 'x'"):
        StripFloatIO(names=["x"]).requires(model)
    AddFloatIO(names=["x"]).requires(model)  # x is an INT8 input
    with pytest.raises(PassError, match=r"^add_float_io: no INT8, INT16 or UINT8 output named "
                                        r"'x' in an entry subgraph; there are \['y'\]$"):
        AddFloatIO(names=["x"], inputs=False)(model)


def test_ensures_is_checked_after_the_pass_runs(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    model.main.operators[:] = list(reversed(model.main.operators))
    with pytest.raises(PassError, match=r"^topological_sort broke its postcondition: subgraph 0: "
                                        r"operator 0 \(ADD\) reads 'fc/y' before operator 1 "
                                        r"\(FULLY_CONNECTED\) produces it$"):
        LazySort()(model, check=False)
    assert TopologicalSort()(model, check=False).modified  # the real pass keeps its promise


# ------------------------------------------------------------------------------------------------
# a pass is blamed only for problems it caused
# ------------------------------------------------------------------------------------------------


def _positional_check(model: Model) -> list[Problem]:
    """A check whose text names positions: every tensor called ``bad`` is at fault."""
    return [Problem(f"subgraphs[0].tensors[{i}]", "bad scale", "bad-scale", t)
            for i, t in enumerate(model.main.tensors) if t.name == "bad"]


def test_problems_are_compared_by_key_not_by_position(
        runnable_model: Callable[[], Model], monkeypatch: pytest.MonkeyPatch) -> None:
    model = runnable_model()
    g = model.main
    g.inputs[0].name = "bad"  # a problem before any pass runs
    g.tensors.insert(0, Tensor("unused", (1,), "int8"))
    monkeypatch.setattr(Model, "check", _positional_check)
    where = f"subgraphs[0].tensors[{g.tensors.index(g.inputs[0])}]"
    assert [str(p) for p in model.check()] == [f"{where}: bad scale"]
    result = Prune()(model, check=True)  # removes tensors[0]: the problem moves one place up
    assert result.modified and model.check()[0].where != where
    with pytest.raises(PassError, match=r"pass add_bad left the model broken:\n  "
                                        r"subgraphs\[0\]\.tensors\[\d+\]: bad scale$"):
        AddBad()(model, check=True)  # a second, new bad tensor is blamed


# ------------------------------------------------------------------------------------------------
# helper passes
# ------------------------------------------------------------------------------------------------


@dataclass
class Skipper(Pass):
    """Changes nothing, and says so."""

    name = "skipper"

    def run(self, model: Model, report: Report) -> None:
        report.skip("left something alone")


@dataclass
class CountUp(Pass):
    """Renames the input x<n> to x<n+1> until n reaches ``limit``."""

    name = "count_up"
    limit: int = 3

    def run(self, model: Model, report: Report) -> None:
        tensor = model.main.inputs[0]
        n = int((tensor.name or "x0")[1:])
        if n < self.limit:
            tensor.name = f"x{n + 1}"
            report.change(f"renamed to x{n + 1}")
        else:
            report.skip("stopped at the limit")


@dataclass
class Boom(Pass):
    """Raises ``error``."""

    name = "boom"
    error: Exception = field(default_factory=lambda: PassError("boom"))

    def run(self, model: Model, report: Report) -> None:
        raise self.error


@dataclass
class NeedsTwoInputs(Rename):
    """Requires two subgraph inputs."""

    name = "needs_two_inputs"

    def requires(self, model: Model) -> None:
        if len(model.main.inputs) != 2:
            raise PassError(f"the model has {len(model.main.inputs)} input")


class LazySort(TopologicalSort):
    """Promises what TopologicalSort promises, without sorting."""

    def run(self, model: Model, report: Report) -> None:
        return None


@dataclass
class AddBad(Pass):
    """Adds a tensor named ``bad``."""

    name = "add_bad"

    def run(self, model: Model, report: Report) -> None:
        model.main.add_tensor(Tensor("bad", (1,), "int8"))
        report.change("added a bad tensor")

"""The pass contract and the PassManager."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tflitekit import Model, Tensor
from tflitekit.passes import (
    CHECK_ENV,
    Pass,
    PassError,
    PassManager,
    Prune,
    Report,
    TopologicalSort,
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

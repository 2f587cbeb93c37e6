"""Rule and apply_rules: plans first, then rewrites, with changes and skips in the report."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tflitekit import Model, Operator
from tflitekit.options import BuiltinOperator
from tflitekit.passes import Report, Rule, Skip, apply_rules


def _rename_match(model: Model) -> Iterator[Operator | Skip]:
    """Plans to rename the output of every operator that reads the subgraph input."""
    for op in model.main.operators:
        if model.main.inputs[0] in op.inputs:
            yield op
        else:
            yield Skip(f"{op.opcode.name}: does not read the input")


def _rename(model: Model, op: Operator) -> str:
    op.outputs[0].name = "renamed"
    return f"{op.opcode.name}: renamed its output"


def _spy_match(seen: list[str]) -> Callable[[Model], Iterator[Operator | Skip]]:
    def match(model: Model) -> Iterator[Operator | Skip]:
        seen.extend(t.name or "" for op in model.main.operators for t in op.outputs)
        return iter(())
    return match


def test_apply_rules_records_changes_and_skips(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    report = Report()
    assert apply_rules(model, [Rule(_rename_match, _rename)], report) == 1
    assert report.changes == ["CONV_2D: renamed its output"]
    assert report.skipped == [f"{name}: does not read the input"
                              for name in ("RESHAPE", "FULLY_CONNECTED", "ADD")]
    assert model.main.operators[0].outputs[0].name == "renamed"


def test_every_rule_matches_before_any_rewrite(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    seen: list[str] = []
    spy = Rule(_spy_match(seen), _rename)
    apply_rules(model, [Rule(_rename_match, _rename), spy], Report())
    assert seen == ["conv/y", "flat", "fc/y", "y"]  # the spy saw the model before the rename
    assert model.main.operators[0].outputs[0].name == "renamed"


def test_a_rule_that_matches_nothing_changes_nothing(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    data = model.to_bytes()
    report = Report()
    relu = Rule(lambda m: (op for op in m.main.operators if op.type == BuiltinOperator.RELU),
                _rename)
    assert apply_rules(model, [relu], report) == 0
    assert report.changes == report.skipped == []
    assert model.to_bytes() == data

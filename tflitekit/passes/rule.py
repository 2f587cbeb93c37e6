"""Local rewrites in two steps: a rule's ``match`` plans without editing, its ``rewrite`` edits.

Splitting the two keeps every decision on one consistent view of the model: :func:`apply_rules`
asks every rule for its plans first, and only then applies them, so no plan is made on a graph
that an earlier rewrite has half changed. Reasons for leaving something alone are part of the
plan (:class:`Skip`) and end up in the pass's report, next to the changes::

    def match(model):
        for graph in model.subgraphs:
            for op in graph.operators:
                if op.type == BuiltinOperator.RELU:
                    yield op if op.outputs[0].uses else Skip(f"{op!r}: output unused")

    def rewrite(model, op):
        ...  # edit the model
        return f"replaced {op!r}"

    apply_rules(model, [Rule(match, rewrite)], report)

Plans of different rules (or of one rule) must not overlap: each rewrite may assume that the
parts of the model its plan names are as ``match`` saw them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..ir import Model
from .base import Report

__all__ = ["Rule", "Skip", "apply_rules"]

PlanT = TypeVar("PlanT")


@dataclass(frozen=True)
class Skip:
    """A match declined, with the reason (recorded among the report's ``skipped``)."""

    reason: str


@dataclass(frozen=True)
class Rule(Generic[PlanT]):
    """A rewrite as two functions.

    ``match(model)`` inspects the model without editing it and yields a plan for each place the
    rule applies, or a :class:`Skip` for each place it deliberately leaves alone.
    ``rewrite(model, plan)`` carries one plan out and returns the change it made, as the one-line
    message the report records.
    """

    match: Callable[[Model], Iterable[PlanT | Skip]]
    rewrite: Callable[[Model, PlanT], str]


def apply_rules(model: Model, rules: Sequence[Rule[Any]], report: Report) -> int:
    """Match every rule on ``model``, then apply every plan in the order found, recording each
    change and each skip in ``report``; returns the number of plans applied."""
    planned: list[tuple[Rule[Any], Any]] = []
    for rule in rules:
        for found in rule.match(model):
            if isinstance(found, Skip):
                report.skip(found.reason)
            else:
                planned.append((rule, found))
    for rule, plan in planned:
        report.change(rule.rewrite(model, plan))
    return len(planned)

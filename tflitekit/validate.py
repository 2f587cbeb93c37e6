"""Validate a model file: everything the loader and :meth:`Model.check` can find, and what
they could not check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import FormatError
from .ir import Problem
from .ir.check import Unchecked, unchecked
from .serde import load

__all__ = ["ValidationReport", "validate", "validate_report"]


@dataclass(frozen=True)
class ValidationReport:
    """The problems of a model file and the operators :func:`~tflitekit.ir.check.check` did
    not check (custom operators, builtins without an operand rule)."""

    problems: list[Problem]
    unchecked: list[Unchecked] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def unchecked_line(self) -> str | None:
        """``not checked: 3 operators (XC_conv2d_v2 x2: custom, MyOp x1: custom)``, or None
        when every operator was checked."""
        if not self.unchecked:
            return None
        total = sum(u.count for u in self.unchecked)
        listing = ", ".join(map(str, self.unchecked))
        return f"not checked: {total} operator{'s' * (total != 1)} ({listing})"


ValidationReport.__module__ = "tflitekit"


def validate_report(source: Any) -> ValidationReport:
    """The :class:`ValidationReport` of the model at ``source`` (path, bytes or file object).

    Malformed references (indices out of range) are reported instead of raised; bytes that are
    not a flatbuffer at all give one problem carrying the :class:`FormatError` message.
    """
    problems: list[str] = []
    try:
        model = load(source, strict=False, problems=problems)
    except FormatError as exc:
        return ValidationReport([Problem("file", str(exc), "format")])
    with model:  # release the file now, not when the garbage collector runs
        found = [Problem("file", message, "format") for message in problems] + model.check()
        return ValidationReport(found, unchecked(model))


def validate(source: Any) -> list[Problem]:
    """Every problem of the model at ``source`` (see :func:`validate_report`)."""
    return validate_report(source).problems

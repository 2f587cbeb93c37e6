"""The pass contract: a pass edits a Model in place and reports what it changed.

A pass is a callable object: ``result = Prune()(model)``. Its ``run`` method does the work and
records every change (and everything it deliberately left alone, with the reason) in a
:class:`Report`; the result's ``modified`` flag is true exactly when a change was recorded.
A :class:`PassManager` runs passes in order, optionally to a fixed point.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import PassError
from ..ir import Model, Problem

__all__ = ["CHECK_ENV", "Pass", "PassError", "PassManager", "PassResult", "PipelineResult",
           "Report"]

CHECK_ENV = "TFLITEKIT_CHECK_PASSES"
"""When this environment variable is ``1``, every pass checks the model after it runs."""


class Report:
    """What a pass did: ``changes`` it made and things it ``skipped`` (with the reason)."""

    __slots__ = ("changes", "skipped")

    def __init__(self) -> None:
        self.changes: list[str] = []
        self.skipped: list[str] = []

    def change(self, message: str) -> None:
        self.changes.append(message)

    def skip(self, message: str) -> None:
        self.skipped.append(message)


@dataclass
class PassResult:
    """The outcome of one pass on one model."""

    name: str
    model: Model
    changes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def modified(self) -> bool:
        return bool(self.changes)


def _checking(check: bool | None) -> bool:
    return os.environ.get(CHECK_ENV) == "1" if check is None else check


def _new_problems(before: list[Problem], after: list[Problem]) -> list[Problem]:
    known = set(before)
    return [p for p in after if p not in known]


class Pass(abc.ABC):
    """A model transformation. Subclasses set ``name`` and implement :meth:`run`."""

    name: ClassVar[str]

    @abc.abstractmethod
    def run(self, model: Model, report: Report) -> None:
        """Edit ``model`` in place, recording each change in ``report``."""

    def __call__(self, model: Model, *, check: bool | None = None) -> PassResult:
        """Run the pass. With ``check`` (default: the ``TFLITEKIT_CHECK_PASSES`` environment
        variable) :meth:`Model.check` runs before and after, and a problem the pass introduced
        raises :class:`PassError`."""
        checking = _checking(check)
        before = model.check() if checking else []
        report = Report()
        self.run(model, report)
        if checking:
            new = _new_problems(before, model.check())
            if new:
                listing = "\n  ".join(map(str, new))
                raise PassError(f"pass {self.name} left the model broken:\n  {listing}")
        return PassResult(self.name, model, report.changes, report.skipped)


@dataclass
class PipelineResult:
    """The outcome of a :class:`PassManager` run: every pass result, in order."""

    model: Model
    results: list[PassResult]
    intermediates: list[Model] = field(default_factory=list)
    iterations: int = 1

    @property
    def modified(self) -> bool:
        return any(r.modified for r in self.results)


class PassManager:
    """Runs ``passes`` in order on a model, in place.

    With ``fixed_point`` the sequence repeats until a round changes nothing (at most
    ``max_iterations`` rounds; not converging raises :class:`PassError`). ``check`` checks the
    model after every pass (see :meth:`Pass.__call__`). With ``keep_intermediates`` a copy of the
    model after each pass is kept in the result, for inspection.
    """

    def __init__(self, passes: Sequence[Pass], *, fixed_point: bool = False,
                 max_iterations: int = 10, check: bool | None = None,
                 keep_intermediates: bool = False) -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self.passes = list(passes)
        self.fixed_point = fixed_point
        self.max_iterations = max_iterations
        self.check = check
        self.keep_intermediates = keep_intermediates

    def __call__(self, model: Model) -> PipelineResult:
        result = PipelineResult(model, [], iterations=0)
        rounds = self.max_iterations if self.fixed_point else 1
        for _ in range(rounds):
            result.iterations += 1
            changed = False
            for step in self.passes:
                outcome = step(model, check=self.check)
                result.results.append(outcome)
                changed |= outcome.modified
                if self.keep_intermediates:
                    result.intermediates.append(model.copy())
            if not changed or not self.fixed_point:
                return result
        raise PassError(f"passes {[p.name for p in self.passes]} still changed the model after "
                        f"{self.max_iterations} rounds")

    def __repr__(self) -> str:
        return f"PassManager({self.passes!r}, fixed_point={self.fixed_point})"

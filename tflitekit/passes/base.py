"""The pass contract: a pass edits a Model in place and reports what it changed.

A pass is a callable object: ``result = Prune()(model)``. Its ``run`` method does the work and
records every change (and everything it deliberately left alone, with the reason) in a
:class:`Report`; the result's ``modified`` flag is true exactly when a change was recorded.
A pass may state what it needs of the model (:meth:`Pass.requires`) and what it guarantees
afterwards (:meth:`Pass.ensures`); calling the pass checks both.

A :class:`PassManager` runs passes in order, optionally to a fixed point, and is itself a pass:
pipelines nest, and an error inside one names the step that raised it.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import PassError, TFLiteKitError, UsageError
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
    """Problems of ``after`` that ``before`` lacks, compared by :attr:`Problem.key` (kind,
    subject, related object), so that a problem which only moved to another index or whose
    tensor was renamed is not new."""
    known = {p.key for p in before}
    return [p for p in after if p.key not in known]


class Pass(abc.ABC):
    """A model transformation. Subclasses set ``name`` and implement :meth:`run`; they may
    override :meth:`requires` and :meth:`ensures`."""

    name: str

    @abc.abstractmethod
    def run(self, model: Model, report: Report) -> None:
        """Edit ``model`` in place, recording each change in ``report``."""

    def requires(self, model: Model) -> None:
        """Raise :class:`PassError` when ``model`` does not meet what the pass needs (checked
        before :meth:`run`, so a refused model is left untouched). By default: nothing."""
        return None

    def ensures(self, model: Model) -> None:
        """Raise :class:`PassError` when ``model`` lacks what the pass promises (checked after
        :meth:`run`). By default: nothing."""
        return None

    def __call__(self, model: Model, *, check: bool | None = None) -> PassResult:
        """Run the pass: :meth:`requires`, :meth:`run`, :meth:`ensures`. With ``check``
        (default: the ``TFLITEKIT_CHECK_PASSES`` environment variable) :meth:`Model.check`
        runs before and after, and a problem the pass introduced raises :class:`PassError`."""
        if not isinstance(model, Model):
            raise UsageError(f"{self.name}: expected a tflitekit.Model, got "
                             f"{type(model).__name__} (load a file with tflitekit.load first)")
        try:
            self.requires(model)
        except PassError as exc:
            raise PassError(f"{self.name}: {exc}") from exc
        result = self._execute(model, check)
        try:
            self.ensures(model)
        except PassError as exc:
            raise PassError(f"{self.name} broke its postcondition: {exc}") from exc
        return result

    def _execute(self, model: Model, check: bool | None) -> PassResult:
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
class PipelineResult(PassResult):
    """The outcome of a :class:`PassManager` run; a :class:`PassResult` of the whole pipeline.

    ``results`` holds each step's own result in the order run, over every round: a nested
    pipeline's is a :class:`PipelineResult` in turn (results nest). ``changes`` and ``skipped``
    flatten them, each message prefixed with the path of the step that recorded it
    (``"prune: ..."``, ``"optimize > prune: ..."``); ``skipped`` lists each message once.
    ``intermediates`` are copies of the model after each step (with ``keep_intermediates``),
    ``iterations`` the number of rounds run.
    """

    results: list[PassResult] = field(default_factory=list)
    intermediates: list[Model] = field(default_factory=list)
    iterations: int = 0

    def _record(self, step: PassResult) -> None:
        self.results.append(step)
        joint = " > " if isinstance(step, PipelineResult) else ": "
        self.changes += [f"{step.name}{joint}{m}" for m in step.changes]
        for message in (f"{step.name}{joint}{m}" for m in step.skipped):
            if message not in self.skipped:
                self.skipped.append(message)


def _label(pipeline: str) -> str:
    """How messages name a pipeline: ``pipeline optimize`` (or ``pipeline`` for the default)."""
    return "pipeline" if pipeline == "pipeline" else f"pipeline {pipeline}"


class _StepError(PassError):
    """A step of a pipeline raised: remembers the step path for enclosing pipelines."""

    def __init__(self, pipeline: str, numbers: list[int], names: list[str], detail: str) -> None:
        super().__init__(f"{_label(pipeline)}, step {'.'.join(map(str, numbers))} "
                         f"({' > '.join(names)}): {detail}")
        self.numbers, self.names, self.detail = numbers, names, detail


_StepError.__module__, _StepError.__qualname__ = "tflitekit", "PassError"  # as tracebacks show it


def _checked_passes(passes: object) -> list[Pass]:
    """``passes`` as a list of Pass instances; UsageError naming the first item that is not."""
    if isinstance(passes, (str, bytes, Pass)) or not isinstance(passes, Iterable):
        raise UsageError(f"passes must be a sequence of Pass instances, got "
                         f"{type(passes).__name__} {passes!r:.60}")
    steps = list(passes)
    for item in steps:
        if not isinstance(item, Pass):
            raise UsageError(f"passes must be Pass instances; got {_misfit(item)}")
    return steps


def _misfit(item: object) -> str:
    """How a UsageError names a non-pass given as a step, with the fix when there is one."""
    if isinstance(item, type):
        what, name = f"the class {item.__name__}", getattr(item, "name", None)
    elif callable(item):
        what, name = f"the function {getattr(item, '__name__', repr(item))}", getattr(
            item, "__name__", None)
    elif isinstance(item, str):
        what, name = f"the string {item!r}", item
    else:
        what, name = f"{type(item).__name__} {item!r:.40}", None
    cls = _pass_class(name) if isinstance(name, str) else None
    return f"{what} — use {cls.__name__}()" if cls is not None else what


def _pass_class(name: str) -> type[Pass] | None:
    """The concrete Pass class whose ``name`` is ``name`` (a pass's function has that name)."""
    todo: list[type[Pass]] = list(Pass.__subclasses__())
    while todo:
        cls = todo.pop()
        if getattr(cls, "name", None) == name:
            return cls
        todo += cls.__subclasses__()
    return None


class PassManager(Pass):
    """Runs ``passes`` in order on a model, in place; a pass itself, so pipelines nest.

    With ``fixed_point`` the sequence repeats until a round changes nothing (at most
    ``max_iterations`` rounds; not converging raises :class:`PassError`). ``check`` checks the
    model after every step (see :meth:`Pass.__call__`); a ``check`` given to the call overrides
    the one given here and is handed on to nested pipelines. With ``keep_intermediates`` a copy
    of the model after each step is kept in the result, for inspection.

    An exception raised by a step becomes a :class:`PassError` naming the pipeline and the step
    (``pipeline optimize, step 2 (prune): ...``; through nested pipelines the path, as in
    ``pipeline outer, step 1.2 (optimize > prune): ...``), with the original as its cause.
    """

    def __init__(self, passes: Sequence[Pass], *, name: str = "pipeline",
                 fixed_point: bool = False, max_iterations: int = 10,
                 check: bool | None = None, keep_intermediates: bool = False) -> None:
        if max_iterations < 1:
            raise UsageError("max_iterations must be at least 1")
        self.passes = _checked_passes(passes)
        self.name = name
        self.fixed_point = fixed_point
        self.max_iterations = max_iterations
        self.check = check
        self.keep_intermediates = keep_intermediates

    def __call__(self, model: Model, *, check: bool | None = None) -> PipelineResult:
        result = super().__call__(model, check=check)
        assert isinstance(result, PipelineResult)
        return result

    def run(self, model: Model, report: Report) -> None:
        """Run the pipeline, recording its flattened changes and skips in ``report``."""
        result = self._execute(model, None)
        report.changes += result.changes
        report.skipped += result.skipped

    def _execute(self, model: Model, check: bool | None) -> PipelineResult:
        check = self.check if check is None else check
        result = PipelineResult(self.name, model)
        rounds = self.max_iterations if self.fixed_point else 1
        for _ in range(rounds):
            result.iterations += 1
            changed = False
            for number, step in enumerate(self.passes, 1):
                outcome = self._step(number, step, model, check)
                result._record(outcome)
                changed |= outcome.modified
                if self.keep_intermediates:
                    result.intermediates.append(model.copy())
            if not changed or not self.fixed_point:
                return result
        raise PassError(f"{_label(self.name)}: passes {[p.name for p in self.passes]} still "
                        f"changed the model after {self.max_iterations} rounds")

    def _step(self, number: int, step: Pass, model: Model, check: bool | None) -> PassResult:
        try:
            return step(model, check=check)
        except _StepError as exc:
            raise _StepError(self.name, [number, *exc.numbers], [step.name, *exc.names],
                             exc.detail) from exc.__cause__
        except TFLiteKitError as exc:
            detail = str(exc)
            own = f"{step.name}: "  # the step named itself already: the path names it once
            raise _StepError(self.name, [number], [step.name],
                             detail[len(own):] if detail.startswith(own) else detail) from exc
        except Exception as exc:
            raise _StepError(self.name, [number], [step.name],
                             f"{type(exc).__name__}: {exc}") from exc

    def __repr__(self) -> str:
        return (f"PassManager({self.passes!r}, name={self.name!r}, "
                f"fixed_point={self.fixed_point})")

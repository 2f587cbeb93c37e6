"""rename_tensors: give tensors new names, from a mapping or a function."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from ..errors import UsageError
from ..ir import Model, Tensor
from .base import Pass, PassError, Report

__all__ = ["RenameTensors", "rename_tensors"]

Renaming = Mapping[str, str] | Callable[[Tensor], str | None]


@dataclass
class RenameTensors(Pass):
    """Rename tensors in every subgraph.

    ``names`` maps old names to new ones (every old name must exist, else :class:`PassError`),
    or is a function from a tensor to its new name (``None`` removes the name). A new name must
    be a non-empty string (else :class:`UsageError`), and a renaming that would give two tensors
    of a subgraph the same name raises :class:`PassError` before anything is renamed (tensors
    that already shared a name may keep sharing one).
    """

    name = "rename_tensors"
    names: Renaming

    def __post_init__(self) -> None:
        if isinstance(self.names, Mapping):
            for old, new in self.names.items():
                _check_name(new, f"the new name of {old!r}")
        elif not callable(self.names):
            raise UsageError(f"names must be a mapping (old name -> new name) or a function of "
                             f"a tensor, got {type(self.names).__name__}")

    def run(self, model: Model, report: Report) -> None:
        rename = self.names
        if isinstance(rename, Mapping):
            found = {t.name for t in model.tensors()}
            missing = sorted(set(rename) - found)
            if missing:
                raise PassError(f"no tensor is named {', '.join(map(repr, missing))}")
            mapping = rename

            def rename(tensor: Tensor) -> str | None:
                name = tensor.name
                return mapping.get(name, name) if name is not None else None

        plans: list[list[tuple[Tensor, str | None]]] = []
        for index, graph in enumerate(model.subgraphs):
            plan = []
            for tensor in graph.tensors:
                new = rename(tensor)
                if new != tensor.name:
                    _check_name(new, f"the new name of tensor {tensor.name!r}")
                plan.append((tensor, new))
            _refuse_clashes(plan, index)
            plans.append(plan)
        count = 0
        for plan in plans:
            for tensor, new in plan:
                if new != tensor.name:
                    tensor.name = new
                    count += 1
        if count:
            report.change(f"renamed {count} tensor{'' if count == 1 else 's'}")


def _check_name(new: object, what: str) -> None:
    if new is not None and not (isinstance(new, str) and new):
        raise UsageError(f"{what} must be a non-empty str (or None), got "
                         f"{type(new).__name__} {new!r:.40}")


def _refuse_clashes(plan: list[tuple[Tensor, str | None]], index: int) -> None:
    """PassError when two tensors that did not share a name would share their new one."""
    before: dict[str, Hashable] = {}  # new name -> the old name (or tensor) first given it
    olds: dict[str, str | None] = {}
    for tensor, new in plan:
        if new is None:
            continue
        key: Hashable = tensor.name if tensor.name is not None else ("unnamed", id(tensor))
        first = before.setdefault(new, key)
        if first != key:
            other = olds[new]
            raise PassError(f"renaming would give tensors {other!r} and {tensor.name!r} of "
                            f"subgraph {index} the same name {new!r}")
        olds.setdefault(new, tensor.name)


def rename_tensors(model: Model, names: Renaming) -> Model:
    """Rename tensors by mapping (old name -> new name) or function; returns ``model``."""
    RenameTensors(names)(model)
    return model

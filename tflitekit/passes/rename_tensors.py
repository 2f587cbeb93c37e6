"""rename_tensors: give tensors new names, from a mapping or a function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..ir import Model, Tensor
from .base import Pass, PassError, Report

__all__ = ["RenameTensors", "rename_tensors"]

Renaming = Mapping[str, str] | Callable[[Tensor], str | None]


@dataclass
class RenameTensors(Pass):
    """Rename tensors in every subgraph.

    ``names`` maps old names to new ones (every old name must exist, else :class:`PassError`),
    or is a function from a tensor to its new name (``None`` removes the name).
    """

    name = "rename_tensors"
    names: Renaming

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

        count = 0
        for tensor in model.tensors():
            new = rename(tensor)
            if new != tensor.name:
                tensor.name = new
                count += 1
        if count:
            report.change(f"renamed {count} tensors")


def rename_tensors(model: Model, names: Renaming) -> Model:
    """Rename tensors by mapping (old name -> new name) or function; returns ``model``."""
    RenameTensors(names)(model)
    return model

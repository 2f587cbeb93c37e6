"""Graph surgery: passes that edit a Model in place and report what they changed.

Every pass exists twice: as a class (``Prune()``) that returns a :class:`PassResult` when called
on a model, for pipelines and inspection, and as a plain function (``prune(model)``) that returns
the edited model. Passes edit in place; call ``model.copy()`` first to keep the original.
"""

from __future__ import annotations

from .base import CHECK_ENV, Pass, PassError, PassManager, PassResult, PipelineResult, Report
from .dedupe_buffers import DedupeBuffers, dedupe_buffers
from .prune import Prune, prune
from .rename_tensors import RenameTensors, rename_tensors
from .strip_strings import StripStrings, strip_strings
from .toposort import TopologicalSort, topological_sort

__all__ = [
    "CHECK_ENV",
    "DedupeBuffers",
    "Pass",
    "PassError",
    "PassManager",
    "PassResult",
    "PipelineResult",
    "Prune",
    "RenameTensors",
    "Report",
    "StripStrings",
    "TopologicalSort",
    "dedupe_buffers",
    "prune",
    "rename_tensors",
    "strip_strings",
    "topological_sort",
]

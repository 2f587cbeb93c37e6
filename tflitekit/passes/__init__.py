"""Graph surgery: passes that edit a Model in place and report what they changed.

Every pass exists twice: as a class (``Prune()``) that returns a :class:`PassResult` when called
on a model, for pipelines and inspection, and as a plain function (``prune(model)``) that returns
the edited model. Passes edit in place; call ``model.copy()`` first to keep the original.
A :class:`PassManager` is a pass made of passes; :class:`Rule` and :func:`apply_rules` write
local rewrites as a plan (``match``) and its application (``rewrite``).
"""

from __future__ import annotations

from .add_float_io import AddFloatIO, add_float_io
from .base import CHECK_ENV, Pass, PassError, PassManager, PassResult, PipelineResult, Report
from .compress_weights import CompressWeights, compress_weights
from .decompress_weights import DecompressWeights, decompress_weights
from .dedupe_buffers import DedupeBuffers, dedupe_buffers
from .expose_intermediates import ExposeIntermediates, expose_intermediates
from .fold_constants import FoldConstants, fold_constants
from .pipelines import optimize, optimize_pipeline
from .prune import Prune, prune
from .randomize_weights import RandomizeWeights, randomize_weights
from .rename_tensors import RenameTensors, rename_tensors
from .reorder_for_memory import ReorderForMemory, reorder_for_memory
from .rule import Rule, Skip, apply_rules
from .set_batch_size import SetBatchSize, set_batch_size
from .strip_float_io import StripFloatIO, strip_float_io
from .strip_strings import StripStrings, strip_strings
from .toposort import TopologicalSort, topological_sort

__all__ = [
    "CHECK_ENV",
    "AddFloatIO",
    "CompressWeights",
    "DecompressWeights",
    "DedupeBuffers",
    "ExposeIntermediates",
    "FoldConstants",
    "Pass",
    "PassError",
    "PassManager",
    "PassResult",
    "PipelineResult",
    "Prune",
    "RandomizeWeights",
    "RenameTensors",
    "ReorderForMemory",
    "Report",
    "Rule",
    "SetBatchSize",
    "Skip",
    "StripFloatIO",
    "StripStrings",
    "TopologicalSort",
    "add_float_io",
    "apply_rules",
    "compress_weights",
    "decompress_weights",
    "dedupe_buffers",
    "expose_intermediates",
    "fold_constants",
    "optimize",
    "optimize_pipeline",
    "prune",
    "randomize_weights",
    "rename_tensors",
    "reorder_for_memory",
    "set_batch_size",
    "strip_float_io",
    "strip_strings",
    "topological_sort",
]

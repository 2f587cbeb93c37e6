"""Standard pass pipelines."""

from __future__ import annotations

from ..ir import Model
from .base import Pass, PassManager, PipelineResult
from .dedupe_buffers import DedupeBuffers
from .fold_constants import FoldConstants
from .prune import Prune
from .strip_float_io import StripFloatIO

__all__ = ["optimize", "optimize_pipeline"]


def optimize_pipeline(*, strip_float_io: bool = False, fold_shapes: bool = True,
                      check: bool | None = None) -> PassManager:
    """The ``optimize`` pipeline: fold constants (never growing the file), prune what became
    unused and store identical buffers once, to a fixed point; with ``strip_float_io`` the float
    QUANTIZE/DEQUANTIZE interface is removed first. Folding SHAPE operators fixes dynamic
    dimensions (such as a dynamic batch) to their static sizes; ``fold_shapes=False`` keeps
    them. The pipeline is named ``"optimize"``."""
    passes: list[Pass] = [StripFloatIO()] if strip_float_io else []
    passes += [FoldConstants(allow_growth=False, fold_shapes=fold_shapes), Prune(), DedupeBuffers()]
    return PassManager(passes, name="optimize", fixed_point=True, check=check)


def optimize(model: Model, *, strip_float_io: bool = False,
             fold_shapes: bool = True) -> PipelineResult:
    """Run the ``optimize`` pipeline on ``model`` in place."""
    return optimize_pipeline(strip_float_io=strip_float_io, fold_shapes=fold_shapes)(model)

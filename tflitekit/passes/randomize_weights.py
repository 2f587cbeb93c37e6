"""randomize_weights: replace every weight constant with seeded random values of the same dtype
and shape (for benchmarks, fuzzing and sharing a model's structure without its weights)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..ir import Model, Tensor, dtypes
from ..options import TensorType
from .base import Pass, Report

__all__ = ["RandomizeWeights", "randomize_weights"]

_FLOATS = frozenset({TensorType.FLOAT16, TensorType.FLOAT32, TensorType.FLOAT64,
                     TensorType.BFLOAT16, TensorType.FLOAT8_E4M3FN, TensorType.FLOAT8_E5M2})


@dataclass
class RandomizeWeights(Pass):
    """Give every weight new random data: floats uniform in [``low``, ``high``] (clipped to the
    dtype's finite range), integers uniform over their dtype's full range.

    A weight is a constant that is floating point or quantized (has scales); shape, axis and
    index operands are neither. Variable, sparse and external weights, and those whose elements
    have no numpy type (INT4, BFLOAT16...), are left alone with the reason. Tensors are visited
    subgraph by subgraph in tensor order, so the same seed gives the same model; tensors that
    shared a buffer (with the same dtype and shape) still share one.
    """

    seed: int = 0
    low: float = -1.0
    high: float = 1.0
    name = "randomize_weights"

    def __post_init__(self) -> None:
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"the seed must be a non-negative int, got {type(seed).__name__} "
                             f"{seed!r:.40}")
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, (int, float, np.number)):
                raise UsageError(f"low and high must be numbers, got {type(bound).__name__} "
                                 f"{bound!r:.40}")
        if not (math.isfinite(self.high - self.low) and self.low <= self.high):
            raise UsageError(f"need finite low <= high, got low={self.low}, high={self.high}")

    def run(self, model: Model, report: Report) -> None:
        rng = np.random.default_rng(self.seed)
        fresh: dict[int, Tensor] = {}  # id of an old buffer -> first tensor given new data
        for index, graph in enumerate(model.subgraphs):
            for tensor in graph.tensors:
                if not _is_weight(tensor):
                    continue
                where = f"subgraph {index}: tensor {tensor.name!r}"
                reason = _left_alone(tensor)
                if reason is not None:
                    report.skip(f"{where} left alone: {reason}")
                    continue
                first = fresh.setdefault(id(tensor.buffer), tensor)
                if first is not tensor and _same_layout(first, tensor):
                    tensor.buffer = first.buffer
                    report.change(f"{where} shares the new data of {first.name!r}")
                    continue
                tensor.data = self._values(rng, tensor)
                report.change(f"{where} ({dtypes.name(tensor.dtype)} {tensor.shape}) randomized")

    def _values(self, rng: np.random.Generator, tensor: Tensor) -> np.ndarray:
        dtype = tensor.numpy_dtype
        shape = tensor.shape
        assert dtype is not None and shape is not None
        if dtype.kind == "f":
            info = np.finfo(dtype)
            low, high = max(self.low, float(info.min)), min(self.high, float(info.max))
            return rng.uniform(low, high, shape).astype(dtype)
        limits = np.iinfo(dtype)
        return rng.integers(limits.min, limits.max, shape, dtype=dtype, endpoint=True)


def _is_weight(tensor: Tensor) -> bool:
    """A constant (possibly stored outside the model) that is floating point or quantized."""
    q = tensor.quantization
    quantized = q is not None and q.is_quantized
    kind = None if tensor.numpy_dtype is None else tensor.numpy_dtype.kind
    numeric = tensor.dtype in _FLOATS or (quantized and kind in (None, "i", "u"))
    return numeric and (tensor.is_constant or tensor.external_buffer != 0)


def _left_alone(tensor: Tensor) -> str | None:
    """Why a weight keeps its data, or None."""
    if tensor.is_variable:
        return "variable tensor"
    if tensor.sparsity is not None:
        return "sparse tensor (its buffer holds only the stored values)"
    if not tensor.is_constant:
        return f"its data lives in external buffer {tensor.external_buffer}"
    if tensor.numpy_dtype is None:
        kind = dtypes.name(tensor.dtype)
        return f"{kind} elements have no numpy type (packed or non-standard)"
    data = tensor.data
    if data is None or data.shape != tensor.shape or data.dtype != tensor.numpy_dtype:
        return f"its buffer does not match its shape {tensor.shape}"
    return None


def _same_layout(a: Tensor, b: Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape


def randomize_weights(model: Model, *, seed: int = 0, low: float = -1.0,
                      high: float = 1.0) -> Model:
    """Randomize every weight of ``model`` (see :class:`RandomizeWeights`); returns ``model``."""
    RandomizeWeights(seed, low, high)(model)
    return model

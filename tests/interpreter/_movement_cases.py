"""Shared by the data-movement kernel tests (shapes, movement, slicing): random values of any
type, and the check every case makes (the oracle, then N samples at once == N single runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from _harness import assert_batch_equals_single_runs, assert_matches, run

from tflitekit import Model, Quantization, Tensor

Array = np.ndarray

TYPES = ["float32", "int8", "int16", "int32", "int64", "uint8", "bool"]


def values(rng: np.random.Generator, shape: Sequence[int], dtype: Any) -> Array:
    """Random values over a type's whole range (standard normal for floats)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(tuple(shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, tuple(shape)).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, tuple(shape), endpoint=True, dtype=dtype)


def tensor(name: str, shape: Sequence[int], dtype: Any, zero_point: int | None = None) -> Tensor:
    """A tensor; int8/uint8/int16 ones are quantized (scale 0.5, the zero point given or 0)."""
    quantized = np.dtype(dtype).name in ("int8", "uint8", "int16")
    q = Quantization(0.5, zero_point or 0) if quantized else None
    return Tensor(name, tuple(shape), np.dtype(dtype).name, quantization=q)


def ints(name: str, value: Any, dtype: Any = np.int32) -> Tensor:
    return Tensor.constant(name, np.asarray(value, dtype))


def inputs_of(model: Model, rng: np.random.Generator) -> list[Array]:
    return [values(rng, t.shape or (), t.numpy_dtype) for t in model.main.inputs]


def check(model: Model, runtime: str | None = "tflm", seed: int = 0) -> list[Array]:
    """Random inputs through the interpreter: equal to ``runtime`` (skipped when None) and, in
    a batch of 3, to three single runs. Returns the single run's outputs."""
    rng = np.random.default_rng(seed)
    inputs = inputs_of(model, rng)
    ours = (run(model, inputs) if runtime is None
            else assert_matches(model, inputs, runtime))
    assert_batched(model, rng)
    return ours


def assert_batched(model: Model, rng: np.random.Generator, n: int = 3) -> None:
    samples = [inputs_of(model, rng) for _ in range(n)]
    assert_batch_equals_single_runs(model, [np.stack(column)
                                            for column in zip(*samples, strict=True)])

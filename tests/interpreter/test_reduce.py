"""MEAN, SUM, ARG_MAX, ARG_MIN: against scalar transcriptions of TFLite Micro's reference reduce
code (its element loop, plain Python ints) and against TFLite Micro (LiteRT's reference kernels
for the argument types TFLite Micro lacks)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from _harness import assert_batch_equals_single_runs, assert_matches, random_int, run, single_op
from _scalar import i32, mbqm, quantize_multiplier

from tflitekit import Interpreter, Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.options import ArgMaxOptions, ArgMinOptions, ReducerOptions, TensorType
from tflitekit.options import BuiltinOperator as Op

Array = np.ndarray

# -- scalar transcriptions (Python ints) -------------------------------------------------------


def resolve(axes: Sequence[int], rank: int) -> list[int]:
    out: list[int] = []
    for a in axes:
        if a % rank not in out:
            out.append(a % rank)
    return out


def scalar_reduce(x: Array, axes: Sequence[int], keep: bool, mean: bool,
                  quant: tuple[float, int, float, int] | None, rounding: str = "double") -> Array:
    """TFLite's Reduce loop over the input in row-major order, then QuantizedMeanOrSum's (or the
    float Mean's) finishing step for every output."""
    rank = x.ndim
    resolved = resolve(axes, rank)
    count = math.prod(x.shape[a] for a in resolved)
    floating = x.dtype == np.float32
    sums: dict[tuple[int, ...], Any] = {}
    for index in itertools.product(*(range(d) for d in x.shape)):
        key = tuple(0 if a in resolved else i for a, i in enumerate(index))
        if floating:
            sums[key] = np.float32(sums.get(key, np.float32(0)) + x[index])
        else:
            sums[key] = i32(sums.get(key, 0) + int(x[index]))
    kept_shape = tuple(1 if a in resolved else d for a, d in enumerate(x.shape))
    out = np.zeros(kept_shape, x.dtype)
    if not floating:
        assert quant is not None
        s_in, z_in, s_out, z_out = quant
        single = rounding == "single"
        m, shift = quantize_multiplier(float(np.float32(s_in)) / float(np.float32(s_out)),
                                       single)
        if mean:
            k = min(count.bit_length() - 1, 32, 31 + shift)
            m, shift = (m << k) // count, shift - k
        info = np.iinfo(x.dtype)
    for key, total in sums.items():
        if floating:
            out[key] = np.float32(total / np.float32(count)) if mean else total
        else:
            value = mbqm(i32(total - z_in * count), m, shift, single) + z_out
            out[key] = min(max(value, int(info.min)), int(info.max))
    if keep:
        return out
    return out.reshape(tuple(d for a, d in enumerate(x.shape) if a not in resolved))


def scalar_arg(x: Array, axis: int, largest: bool) -> Array:
    """TFLite Micro's ArgMinMax: the first element, replaced whenever ``cmp(value, best)``."""
    axis %= x.ndim
    moved = np.moveaxis(x, axis, -1)
    out = np.zeros(moved.shape[:-1], np.int64)
    for index in itertools.product(*(range(d) for d in moved.shape[:-1])):
        row = moved[index]
        best, where = row[0], 0
        for i in range(1, row.shape[0]):
            if (row[i] > best) if largest else (row[i] < best):
                best, where = row[i], i
        out[index] = where
    return out


# -- models ------------------------------------------------------------------------------------

QUANTS = [(0.05, 3, 0.05, 3), (0.05, -7, 0.02, 11), (0.1, 0, 0.5, -2), (0.003, 100, 0.2, 0),
          (0.5, -128, 0.001, 5)]
AXES: list[tuple[Sequence[int], tuple[int, ...]]] = [
    ([1, 2], (1, 5, 6, 4)), ([2, 1], (1, 5, 6, 4)), ([3], (1, 5, 6, 4)), ([-1], (1, 5, 6, 4)),
    ([0], (1, 5, 6, 4)), ([0, 1, 2, 3], (1, 5, 6, 4)), ([1, 1], (1, 5, 6, 4)),
    ([-3, 2], (1, 5, 6, 4)), ([1, 3], (1, 5, 6, 4)), ([1], (1, 40, 3)),
    ([2, 0], (1, 40, 3)), ([1], (1, 33)), ([1, 2], (1, 49, 40, 1))]


def quantization(dtype: str, scale: float, zero: int) -> Quantization | None:
    if dtype == "float32":
        return None
    return Quantization(np.array([scale], np.float32), np.array([0 if dtype == "int16" else zero]))


def reduce_model(op: Op, dtype: str, shape: tuple[int, ...], axes: Sequence[int], keep: bool,
                 quant: tuple[float, int, float, int]) -> Model:
    resolved = resolve(axes, len(shape))
    out = tuple(1 if a in resolved else d for a, d in enumerate(shape)) if keep else tuple(
        d for a, d in enumerate(shape) if a not in resolved)
    s_in, z_in, s_out, z_out = quant
    return single_op(op, [Tensor("x", shape, dtype, quantization=quantization(dtype, s_in, z_in)),
                          Tensor.constant("axes", np.array(axes, np.int32).reshape(len(axes)))],
                     [Tensor("y", out, dtype, quantization=quantization(dtype, s_out, z_out))],
                     ReducerOptions(keep_dims=keep))


def effective(dtype: str, quant: tuple[float, int, float, int]) -> tuple[float, int, float, int]:
    """The quantization the model carries: int16 tensors get zero points of 0."""
    return (quant[0], 0, quant[2], 0) if dtype == "int16" else quant


def sample(rng: np.random.Generator, dtype: str, shape: Sequence[int]) -> Array:
    if dtype == "float32":
        return (rng.standard_normal(tuple(shape)) * 3).astype(np.float32)
    return random_int(rng, shape, dtype)


REDUCE_CASES = list(itertools.product([Op.MEAN, Op.SUM], ["float32", "int8", "int16"],
                                      range(len(AXES)), [True, False]))


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize(("op", "dtype", "which", "keep"), REDUCE_CASES)
def test_reduce_matches_scalar_transcription(op: Op, dtype: str, which: int, keep: bool,
                                             rounding: str) -> None:
    axes, shape = AXES[which]
    rng = np.random.default_rng(which)
    for quant in QUANTS[:1] if dtype == "float32" else QUANTS:
        model = reduce_model(op, dtype, shape, axes, keep, quant)
        x = sample(rng, dtype, shape)
        got = run(model, [x], rounding=rounding)[0]
        want = scalar_reduce(x, axes, keep, op == Op.MEAN, effective(dtype, quant), rounding)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=str(quant))


@pytest.mark.tflm
@pytest.mark.parametrize(("op", "dtype", "which", "keep"), REDUCE_CASES)
def test_reduce_matches_tflm(op: Op, dtype: str, which: int, keep: bool) -> None:
    axes, shape = AXES[which]
    rng = np.random.default_rng(100 + which)
    for quant in QUANTS[:1] if dtype == "float32" else QUANTS:
        model = reduce_model(op, dtype, shape, axes, keep, quant)
        for _ in range(2):
            assert_matches(model, [sample(rng, dtype, shape)])


@pytest.mark.parametrize("dtype", ["float32", "int8", "int16"])
@pytest.mark.parametrize("axes", [[0], [1, 2], [0, 3]])
def test_reduce_batch_equals_single_runs(dtype: str, axes: list[int]) -> None:
    rng = np.random.default_rng(7)
    model = reduce_model(Op.MEAN, dtype, (1, 5, 6, 4), axes, False, QUANTS[1])
    batch = np.stack([sample(rng, dtype, (1, 5, 6, 4)) for _ in range(4)])
    assert_batch_equals_single_runs(model, [batch])


def test_reduce_refuses_a_computed_axis() -> None:
    model = single_op(Op.MEAN, [Tensor("x", (1, 4, 4, 2), "float32"), Tensor("a", (2,), "int32")],
                      [Tensor("y", (1, 2), "float32")], ReducerOptions(keep_dims=False))
    with pytest.raises(UnsupportedOperatorError, match="not a constant"):
        Interpreter(model)


def test_reduce_refuses_axis_out_of_range() -> None:
    model = reduce_model(Op.SUM, "float32", (1, 4, 2), [1], False, QUANTS[0])
    model.subgraphs[0].operators[0].inputs[1].data = np.array([3], np.int32)
    with pytest.raises(UnsupportedOperatorError, match="out of range"):
        Interpreter(model)


# -- ARG_MAX / ARG_MIN -------------------------------------------------------------------------

ARG_SHAPE = (1, 5, 6, 4)


def arg_model(largest: bool, dtype: str, axis: int, out: str = "int32",
              axis_type: str = "int32", shape: tuple[int, ...] = ARG_SHAPE) -> Model:
    kind = ArgMaxOptions if largest else ArgMinOptions
    out_shape = tuple(d for a, d in enumerate(shape) if a != axis % len(shape))
    return single_op(Op.ARG_MAX if largest else Op.ARG_MIN,
                     [Tensor("x", shape, dtype), Tensor.constant("axis", np.array([axis],
                                                                                  axis_type))],
                     [Tensor("y", out_shape, out)],
                     kind(output_type=TensorType.INT32 if out == "int32" else TensorType.INT64))


def arg_sample(rng: np.random.Generator, dtype: str, shape: tuple[int, ...] = ARG_SHAPE,
               ties: bool = True) -> Array:
    if dtype == "float32":
        values = rng.integers(-3, 3, shape) if ties else rng.standard_normal(shape)
        return values.astype(np.float32)
    if ties:
        lo = 0 if dtype == "uint8" else -3
        return rng.integers(lo, lo + 5, shape).astype(dtype)
    return random_int(rng, shape, dtype)


ARG_CASES = list(itertools.product([True, False], ["float32", "int8", "uint8", "int32"],
                                   [0, 1, 2, 3, -1, -3]))


@pytest.mark.parametrize(("largest", "dtype", "axis"), ARG_CASES)
def test_arg_matches_scalar_transcription(largest: bool, dtype: str, axis: int) -> None:
    rng = np.random.default_rng(8)
    for out, ties in itertools.product(["int32", "int64"], [True, False]):
        x = arg_sample(rng, dtype, ties=ties)
        got = run(arg_model(largest, dtype, axis, out), [x])[0]
        assert got.dtype == np.dtype(out)
        np.testing.assert_array_equal(got, scalar_arg(x, axis, largest))


@pytest.mark.tflm
@pytest.mark.parametrize(("largest", "dtype", "axis"),
                         [c for c in ARG_CASES if c[1] in ("float32", "int8")])
def test_arg_matches_tflm(largest: bool, dtype: str, axis: int) -> None:
    rng = np.random.default_rng(9)
    model = arg_model(largest, dtype, axis)
    for ties in (True, False):
        assert_matches(model, [arg_sample(rng, dtype, ties=ties)])


@pytest.mark.litert
@pytest.mark.parametrize(("largest", "dtype", "axis"), ARG_CASES)
def test_arg_types_tflm_lacks_match_litert(largest: bool, dtype: str, axis: int) -> None:
    # TFLite Micro takes float32 / int8 with int32 axis and output only.
    rng = np.random.default_rng(10)
    for out, axis_type in [("int64", "int32"), ("int32", "int64"), ("int64", "int64")]:
        model = arg_model(largest, dtype, axis, out, axis_type)
        assert_matches(model, [arg_sample(rng, dtype)], runtime="litert")


@pytest.mark.tflm
@pytest.mark.parametrize("largest", [True, False])
def test_arg_of_floats_with_nan_matches_tflm(largest: bool) -> None:
    rng = np.random.default_rng(11)
    x = arg_sample(rng, "float32", ties=False)
    x[rng.random(ARG_SHAPE) < 0.3] = np.nan
    x[:, 0, 0, :] = np.nan  # NaN first along axis 1 and 2
    ours = assert_matches(arg_model(largest, "float32", 1), [x])[0]
    np.testing.assert_array_equal(ours, scalar_arg(x, 1, largest))
    assert_matches(arg_model(largest, "float32", 2), [x])


@pytest.mark.parametrize("largest", [True, False])
def test_arg_batch_equals_single_runs(largest: bool) -> None:
    rng = np.random.default_rng(12)
    for axis in (0, 2, -1):
        model = arg_model(largest, "int8", axis)
        batch = np.stack([arg_sample(rng, "int8") for _ in range(4)])
        assert_batch_equals_single_runs(model, [batch])


def test_arg_refuses_int16() -> None:
    # Neither TFLite Micro nor LiteRT runs ARG_MAX on int16.
    with pytest.raises(UnsupportedOperatorError, match="INT16"):
        Interpreter(arg_model(True, "int16", 1))

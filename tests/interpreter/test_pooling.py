"""AVERAGE_POOL_2D, MAX_POOL_2D: against a scalar transcription of TFLite Micro's reference
pooling (one output at a time, plain Python ints / float32 scalars) and against TFLite Micro."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from _harness import assert_batch_equals_single_runs, assert_matches, random_int, run, single_op
from _scalar import activation_range, c_div, float_activation_range

from tflitekit import Interpreter, Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.options import ActivationFunctionType as Act
from tflitekit.options import BuiltinOperator as Op
from tflitekit.options import Padding, Pool2DOptions

Array = np.ndarray
DTYPES = ["float32", "int8", "int16"]
OPS = [Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D]
# (filter_h, filter_w, stride_h, stride_w)
GEOMETRIES = [(3, 3, 2, 2), (2, 3, 1, 2), (5, 4, 3, 1), (1, 1, 1, 1), (4, 4, 4, 4), (9, 8, 1, 1)]
ACTS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]
SHAPE = (1, 9, 8, 3)
SCALE = {"int8": 0.05, "int16": 0.001}
ZERO = {"int8": 3, "int16": 0}

# -- scalar transcription ----------------------------------------------------------------------


def out_size(size: int, f: int, s: int, padding: Padding) -> int:
    return (size + s - 1) // s if padding == Padding.SAME else (size + s - f) // s


def act_range(dtype: str, act: Act) -> tuple[Any, Any]:
    """CalculateActivationRange(Quantized) of the tests' output quantization."""
    if dtype == "float32":
        return float_activation_range(act)
    return activation_range(act, SCALE[dtype], ZERO[dtype], dtype)


def scalar_pool(x: Array, op: Op, fh: int, fw: int, sh: int, sw: int, padding: Padding,
                act: Act) -> Array:
    """TFLite Micro's reference AveragePool / MaxPool, one output element at a time."""
    _, h, w, c = x.shape
    oh, ow = out_size(h, fh, sh, padding), out_size(w, fw, sw, padding)
    pad_h = max((oh - 1) * sh + fh - h, 0) // 2
    pad_w = max((ow - 1) * sw + fw - w, 0) // 2
    lo, hi = act_range(str(x.dtype), act)
    floating = x.dtype == np.float32
    out = np.zeros((1, oh, ow, c), x.dtype)
    for oy, ox, ch in itertools.product(range(oh), range(ow), range(c)):
        y0, x0 = oy * sh - pad_h, ox * sw - pad_w
        values = [x[0, y0 + fy, x0 + fx, ch]
                  for fy in range(max(0, -y0), min(fh, h - y0))
                  for fx in range(max(0, -x0), min(fw, w - x0))]
        if op == Op.MAX_POOL_2D:
            best = np.finfo(np.float32).min if floating else int(np.iinfo(x.dtype).min)
            for v in values:
                best = max(best, v if floating else int(v))
            value: Any = best
        elif floating:
            total = np.float32(0)
            for v in values:
                total = np.float32(total + v)
            value = np.float32(total / np.float32(len(values)))
        else:
            acc, n = sum(int(v) for v in values), len(values)
            value = c_div(acc + n // 2, n) if acc > 0 else c_div(acc - n // 2, n)
        out[0, oy, ox, ch] = min(max(value, lo), hi)
    return out


# -- models ------------------------------------------------------------------------------------


def pool_model(op: Op, dtype: str, geometry: tuple[int, int, int, int], padding: Padding,
               act: Act, shape: tuple[int, ...] = SHAPE) -> Model:
    fh, fw, sh, sw = geometry
    q = None if dtype == "float32" else Quantization(
        np.array([SCALE[dtype]], np.float32), np.array([ZERO[dtype]]))
    out = (1, out_size(shape[1], fh, sh, padding), out_size(shape[2], fw, sw, padding), shape[3])
    return single_op(op, [Tensor("x", shape, dtype, quantization=q)],
                     [Tensor("y", out, dtype, quantization=q)],
                     Pool2DOptions(padding=padding, stride_w=sw, stride_h=sh, filter_width=fw,
                                   filter_height=fh, fused_activation_function=act))


def sample(rng: np.random.Generator, dtype: str, shape: tuple[int, ...] = SHAPE) -> Array:
    if dtype == "float32":
        return (rng.standard_normal(shape) * 3).astype(np.float32)
    return random_int(rng, shape, dtype)


CASES = list(itertools.product(OPS, DTYPES, GEOMETRIES, [Padding.SAME, Padding.VALID]))


@pytest.mark.parametrize("act", ACTS, ids=lambda a: a.name)
@pytest.mark.parametrize(("op", "dtype", "geometry", "padding"), CASES)
def test_pool_matches_scalar_transcription(op: Op, dtype: str, geometry: tuple[int, int, int, int],
                                           padding: Padding, act: Act) -> None:
    rng = np.random.default_rng(1)
    x = sample(rng, dtype)
    got = run(pool_model(op, dtype, geometry, padding, act), [x])[0]
    want = scalar_pool(x, op, *geometry, padding, act)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.tflm
@pytest.mark.parametrize("act", ACTS, ids=lambda a: a.name)
@pytest.mark.parametrize(("op", "dtype", "geometry", "padding"), CASES)
def test_pool_matches_tflm(op: Op, dtype: str, geometry: tuple[int, int, int, int],
                           padding: Padding, act: Act) -> None:
    rng = np.random.default_rng(2)
    model = pool_model(op, dtype, geometry, padding, act)
    for _ in range(3):
        assert_matches(model, [sample(rng, dtype)])


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", DTYPES)
def test_global_average_pool_of_a_large_image_matches_tflm(dtype: str) -> None:
    shape = (1, 24, 20, 16)
    model = pool_model(Op.AVERAGE_POOL_2D, dtype, (24, 20, 1, 1), Padding.VALID, Act.NONE, shape)
    assert_matches(model, [sample(np.random.default_rng(3), dtype, shape)])


def test_average_pool_rounds_half_away_from_zero() -> None:
    # 2x1 windows: sums +-1, +-3 over 2 taps are exact halves.
    model = pool_model(Op.AVERAGE_POOL_2D, "int8", (2, 1, 2, 1), Padding.VALID, Act.NONE,
                       (1, 2, 4, 1))
    x = np.array([0, 1, -1, 2, 1, 2, -2, -5], np.int8).reshape(1, 2, 4, 1)
    got = run(model, [x])[0]
    np.testing.assert_array_equal(got.reshape(-1), [1, 2, -2, -2])  # .5, 1.5, -1.5, -1.5


def test_max_pool_float_ignores_nan_and_floors_at_lowest() -> None:
    model = pool_model(Op.MAX_POOL_2D, "float32", (2, 2, 2, 2), Padding.VALID, Act.NONE,
                       (1, 2, 4, 1))
    x = np.array([np.nan, 1, -np.inf, -np.inf, 2, np.nan, -np.inf, -np.inf],
                 np.float32).reshape(1, 2, 4, 1)
    got = run(model, [x])[0].reshape(-1)
    np.testing.assert_array_equal(got, [2, np.finfo(np.float32).min])


@pytest.mark.tflm
def test_max_pool_float_with_nan_and_inf_matches_tflm() -> None:
    rng = np.random.default_rng(5)
    x = sample(rng, "float32")
    x[rng.random(SHAPE) < 0.2] = np.nan
    x[rng.random(SHAPE) < 0.2] = -np.inf
    assert_matches(pool_model(Op.MAX_POOL_2D, "float32", (3, 3, 2, 2), Padding.SAME, Act.NONE),
                   [x])


@pytest.mark.parametrize(("op", "dtype"), list(itertools.product(OPS, DTYPES)))
def test_batch_equals_single_runs(op: Op, dtype: str) -> None:
    rng = np.random.default_rng(4)
    model = pool_model(op, dtype, (3, 3, 2, 2), Padding.SAME, Act.RELU6)
    batch = np.stack([sample(rng, dtype) for _ in range(5)])  # (5, 1, 9, 8, 3)
    assert_batch_equals_single_runs(model, [batch])


def test_refuses_output_with_another_scale() -> None:
    x = Tensor("x", SHAPE, "int8", quantization=Quantization(np.array([0.1], np.float32),
                                                               np.array([0])))
    y = Tensor("y", (1, 5, 4, 3), "int8", quantization=Quantization(np.array([0.2], np.float32),
                                                                     np.array([0])))
    model = single_op(Op.AVERAGE_POOL_2D, [x], [y],
                      Pool2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2, filter_width=2,
                                    filter_height=2))
    with pytest.raises(UnsupportedOperatorError, match="scale"):
        Interpreter(model)


def test_refuses_wrong_output_shape() -> None:
    model = single_op(Op.MAX_POOL_2D, [Tensor("x", SHAPE, "float32")],
                      [Tensor("y", (1, 4, 4, 3), "float32")],
                      Pool2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2, filter_width=2,
                                    filter_height=2))
    with pytest.raises(UnsupportedOperatorError, match="output shape"):
        Interpreter(model)

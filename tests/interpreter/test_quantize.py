"""QUANTIZE, DEQUANTIZE, CAST: scalar transcriptions, TFLite Micro / LiteRT, batching."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from _harness import (
    assert_batch_equals_single_runs,
    assert_matches,
    oracle,
    random_int,
    run,
    single_op,
)
from _scalar import f32, mbqm, quantize_multiplier, round_away, wrap

from tflitekit import Interpreter, Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.options import BuiltinOperator

B = BuiltinOperator
SHAPE = (1, 4, 6, 3)


def quantized(name: str, dtype: str, scale: Any, zero: Any, axis: int = 0,
              shape: tuple[int, ...] = SHAPE) -> Tensor:
    return Tensor(name, shape, dtype, quantization=Quantization(scale, zero,
                                                                quantized_dimension=axis))


def assert_equal_with_nans(m: Model, inputs: list[np.ndarray], runtime: str) -> None:
    """assert_matches for float outputs that hold NaN (a NaN equals a NaN here)."""
    for ours, theirs in zip(run(m, inputs), oracle(m, inputs, runtime), strict=True):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


def clamp(value: int, dtype: str) -> int:
    info = np.iinfo(dtype)
    return min(max(value, int(info.min)), int(info.max))


# ------------------------------------------------------------------------------------------------
# QUANTIZE of float32
# ------------------------------------------------------------------------------------------------


def affine_scalar(x: float, scale: float, zero: int, dtype: str) -> int:
    """AffineQuantize: int32(round(x / float(scale))) + zero_point, clamped; a quotient that
    leaves int32 converts to INT32_MIN (x86), the addition wraps in int32."""
    quotient = f32(f32(x) / f32(scale)) if math.isfinite(x) else math.nan
    rounded = round_away(quotient) if math.isfinite(quotient) else None
    as_int = rounded if rounded is not None and abs(rounded) < 2**31 else -(2**31)
    return clamp(wrap(as_int + zero, 32), dtype)


FLOAT_CASES = [("int8", 0.1, 0), ("int8", 0.0173, -128), ("int8", 1 / 255, 127),
               ("int16", 3e-4, 0), ("int16", 0.5, 0), ("int16", 1e-3, 17), ("uint8", 0.02, 128),
               ("uint8", 3.0, 0)]


def float_inputs(rng: np.random.Generator, scale: float, dtype: str) -> np.ndarray:
    """Values across the type's range, exact halves of the scale, and a few extremes."""
    info = np.iinfo(dtype)
    span = (int(info.max) - int(info.min)) * scale
    values = rng.uniform(-span, span, 56).astype(np.float32)
    halves = (rng.integers(-40000, 40000, 12) + 0.5) * np.float32(scale)
    extremes = [1e30, -1e30, 3e9 * scale, -3e9 * scale, 0.0, -0.0]
    return np.concatenate([values, halves, extremes]).astype(np.float32).reshape(1, 74)


@pytest.mark.parametrize(("dtype", "scale", "zero"), FLOAT_CASES)
def test_quantize_float_matches_the_transcription(dtype: str, scale: float, zero: int) -> None:
    x = float_inputs(np.random.default_rng(1), scale, dtype)
    x[0, :2] = np.nan
    m = single_op(B.QUANTIZE, [Tensor("x", x.shape, "float32")],
                  [quantized("y", dtype, scale, zero, shape=x.shape)])
    got = run(m, [x])[0]
    expected = [affine_scalar(float(v), scale, zero, dtype) for v in x.reshape(-1)]
    assert got.dtype == np.dtype(dtype)
    assert got.reshape(-1).tolist() == expected


def per_channel_case(dtype: str, axis: int) -> tuple[Model, np.ndarray, list[float], list[int]]:
    rng = np.random.default_rng(2 + axis)
    channels = SHAPE[axis]
    scales = [float(s) for s in 10.0 ** rng.uniform(-3, 0, channels)]
    info = np.iinfo(dtype)
    zeros = [0 if dtype == "int16" else int(z) for z in rng.integers(info.min, info.max,
                                                                     channels)]
    x = rng.normal(0, 20, SHAPE).astype(np.float32)
    m = single_op(B.QUANTIZE, [Tensor("x", SHAPE, "float32")],
                  [quantized("y", dtype, scales, zeros, axis)])
    return m, x, scales, zeros


@pytest.mark.parametrize("axis", [1, 3])
@pytest.mark.parametrize("dtype", ["int8", "int16", "uint8"])
def test_quantize_per_channel_matches_the_transcription(dtype: str, axis: int) -> None:
    m, x, scales, zeros = per_channel_case(dtype, axis)
    got = run(m, [x])[0]
    for index in np.ndindex(*SHAPE):
        c = index[axis]
        assert got[index] == affine_scalar(float(x[index]), scales[c], zeros[c], dtype)


@pytest.mark.tflm
@pytest.mark.parametrize(("dtype", "scale", "zero"),
                         [c for c in FLOAT_CASES if c[0] != "uint8"])
def test_quantize_float_matches_tflm(dtype: str, scale: float, zero: int) -> None:
    x = float_inputs(np.random.default_rng(3), scale, dtype)
    m = single_op(B.QUANTIZE, [Tensor("x", x.shape, "float32")],
                  [quantized("y", dtype, scale, zero, shape=x.shape)])
    assert_matches(m, [x])


@pytest.mark.litert
@pytest.mark.parametrize(("dtype", "scale", "zero"),
                         [c for c in FLOAT_CASES if c[0] != "int16" or c[2] == 0])
def test_quantize_float_matches_litert(dtype: str, scale: float, zero: int) -> None:
    """TFLite Micro has no float32 -> uint8; LiteRT needs int16 zero points of 0."""
    x = float_inputs(np.random.default_rng(4), scale, dtype)
    m = single_op(B.QUANTIZE, [Tensor("x", x.shape, "float32")],
                  [quantized("y", dtype, scale, zero, shape=x.shape)])
    assert_matches(m, [x], runtime="litert")


@pytest.mark.litert
@pytest.mark.parametrize("axis", [1, 3])
@pytest.mark.parametrize("dtype", ["int8", "int16", "uint8"])
def test_quantize_per_channel_matches_litert(dtype: str, axis: int) -> None:
    """TFLite Micro refuses per-channel QUANTIZE."""
    m, x, _, _ = per_channel_case(dtype, axis)
    assert_matches(m, [x], runtime="litert")


# ------------------------------------------------------------------------------------------------
# QUANTIZE of integers: requantization
# ------------------------------------------------------------------------------------------------

TFLM_PAIRS = [("int8", "int8"), ("int8", "uint8"), ("int8", "int16"), ("int8", "int32"),
              ("uint8", "int8"), ("int16", "int8"), ("int16", "int16"), ("int16", "int32"),
              ("int32", "int8"), ("int32", "int16")]
RATIOS = [(0.1, 0.1), (0.1, 0.05), (0.013, 0.7), (1.0, 1 / 3), (0.5, 0.5 / 300),
          (2.0**-10, 1.0)]


def zero_for(dtype: str, rng: np.random.Generator) -> int:
    if dtype in ("int16", "int32"):
        return 0
    info = np.iinfo(dtype)
    return int(rng.integers(info.min, info.max, endpoint=True))


def requantize_case(source: str, target: str, ratio: tuple[float, float], seed: int
                    ) -> tuple[Model, np.ndarray, tuple[float, int, float, int]]:
    rng = np.random.default_rng(seed)
    params = (ratio[0], zero_for(source, rng), ratio[1], zero_for(target, rng))
    if (source, target) in (("int8", "uint8"), ("uint8", "int8")) and seed % 2:
        params = (ratio[0], params[1], ratio[0], params[1] + (128 if target == "uint8" else -128))
    m = single_op(B.QUANTIZE, [quantized("x", source, params[0], params[1])],
                  [quantized("y", target, params[2], params[3])])
    return m, random_int(rng, SHAPE, source), params


def requantize_scalar(q: int, params: tuple[float, int, float, int], target: str,
                      single: bool) -> int:
    s_in, z_in, s_out, z_out = params
    multiplier, shift = quantize_multiplier(f32(s_in) / f32(s_out), single)
    return clamp(wrap(mbqm(wrap(q - z_in, 32), multiplier, shift, single) + z_out, 32), target)


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize(("source", "target"), [*TFLM_PAIRS, ("uint8", "uint8")])
def test_requantize_matches_the_transcription(source: str, target: str, ratio: Any,
                                              rounding: str) -> None:
    for seed in (5, 6):
        m, x, params = requantize_case(source, target, ratio, seed)
        got = run(m, [x], rounding=rounding)[0]
        expected = [requantize_scalar(int(v), params, target, rounding == "single")
                    for v in x.reshape(-1)]
        assert got.dtype == np.dtype(target)
        assert got.reshape(-1).tolist() == expected


@pytest.mark.tflm
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize(("source", "target"), TFLM_PAIRS)
def test_requantize_matches_tflm(source: str, target: str, ratio: Any) -> None:
    for seed in (7, 8):
        m, x, _ = requantize_case(source, target, ratio, seed)
        assert_matches(m, [x])


@pytest.mark.litert
@pytest.mark.parametrize("ratio", RATIOS)
def test_requantize_uint8_matches_litert(ratio: Any) -> None:
    """TFLite Micro has no uint8 -> uint8."""
    m, x, _ = requantize_case("uint8", "uint8", ratio, 9)
    assert_matches(m, [x], runtime="litert")


# ------------------------------------------------------------------------------------------------
# DEQUANTIZE
# ------------------------------------------------------------------------------------------------


def dequantize_scalar(q: int, scale: float, zero: int) -> float:
    return f32(f32(scale) * (q - zero))  # the product is exact in double


@pytest.mark.parametrize(("dtype", "scale", "zero"), [
    ("int8", 0.1, -3), ("int8", 1e-5, 127), ("int16", 3e-4, 0), ("int16", 7.5, 100),
    ("uint8", 0.02, 128), ("uint8", 1 / 3, 0)])
def test_dequantize_matches_the_transcription_and_tflm(dtype: str, scale: float,
                                                       zero: int) -> None:
    x = random_int(np.random.default_rng(10), SHAPE, dtype)
    m = single_op(B.DEQUANTIZE, [quantized("x", dtype, scale, zero)],
                  [Tensor("y", SHAPE, "float32")])
    got = run(m, [x])[0]
    assert got.dtype == np.float32
    assert got.reshape(-1).tolist() == [dequantize_scalar(int(v), scale, zero)
                                        for v in x.reshape(-1)]


@pytest.mark.tflm
@pytest.mark.parametrize(("dtype", "zero"), [("int8", -3), ("int16", 0), ("int16", 9),
                                             ("uint8", 128)])
def test_dequantize_matches_tflm(dtype: str, zero: int) -> None:
    x = random_int(np.random.default_rng(11), SHAPE, dtype)
    m = single_op(B.DEQUANTIZE, [quantized("x", dtype, 0.0123, zero)],
                  [Tensor("y", SHAPE, "float32")])
    assert_matches(m, [x])


def per_channel_weights(dtype: str, axis: int) -> tuple[Tensor, list[float], list[int]]:
    rng = np.random.default_rng(12 + axis)
    shape = (4, 3, 3, 5)
    scales = [float(s) for s in 10.0 ** rng.uniform(-4, 0, shape[axis])]
    zeros = [zero_for(dtype, rng) for _ in scales]
    data = random_int(rng, shape, dtype)
    return (Tensor.constant("w", data, quantization=Quantization(scales, zeros,
                                                                 quantized_dimension=axis)),
            scales, zeros)


@pytest.mark.parametrize("axis", [0, 3])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_dequantize_per_channel_matches_the_transcription(dtype: str, axis: int) -> None:
    w, scales, zeros = per_channel_weights(dtype, axis)
    got = run(single_op(B.DEQUANTIZE, [w], [Tensor("y", w.shape, "float32")]), [])[0]
    assert w.data is not None and got.shape == w.shape
    for index in np.ndindex(*w.shape):
        c = index[axis]
        assert got[index] == dequantize_scalar(int(w.data[index]), scales[c], zeros[c])


@pytest.mark.litert
@pytest.mark.parametrize("axis", [0, 3])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_dequantize_per_channel_matches_litert(dtype: str, axis: int) -> None:
    """TFLite Micro applies the first scale to every channel; LiteRT honours them. The data is
    a graph input here, so that LiteRT computes it."""
    w, _, _ = per_channel_weights(dtype, axis)
    x = Tensor("x", w.shape, dtype, quantization=w.quantization)
    m = single_op(B.DEQUANTIZE, [x], [Tensor("y", w.shape, "float32")])
    assert w.data is not None
    assert_matches(m, [np.asarray(w.data)], runtime="litert")


FLOAT16 = np.concatenate([np.array([np.inf, -np.inf, np.nan, 65504, -0.0, 6e-8], np.float16),
                          np.random.default_rng(14).normal(0, 100, 66).astype(np.float16)])


def test_dequantize_float16_widens() -> None:
    m = single_op(B.DEQUANTIZE, [Tensor("x", (72,), "float16")], [Tensor("y", (72,), "float32")])
    got = run(m, [FLOAT16])[0]
    expected = [float(v) for v in FLOAT16]  # every float16 is exactly a float32
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array(expected, np.float32))


@pytest.mark.litert
def test_dequantize_float16_matches_litert() -> None:
    """The converter's float16 weights: DEQUANTIZE of a float16 constant; TFLite Micro has no
    float16."""
    m = single_op(B.DEQUANTIZE, [Tensor("x", (72,), "float16")], [Tensor("y", (72,), "float32")])
    assert_equal_with_nans(m, [FLOAT16], "litert")


# ------------------------------------------------------------------------------------------------
# CAST
# ------------------------------------------------------------------------------------------------

TFLM_CAST = ["bool", "int8", "int16", "int32", "uint32", "float32"]
LITERT_CAST = [*TFLM_CAST, "int64", "uint8", "float16"]


def int_to_float32(v: int) -> float:
    """An integer rounded to float32 (to nearest, ties to even) in one step."""
    magnitude = abs(v)
    extra = max(magnitude.bit_length() - 24, 0)
    mantissa, rest = magnitude >> extra, magnitude & ((1 << extra) - 1)
    half = 1 << extra >> 1
    if extra and (rest > half or (rest == half and mantissa & 1)):
        mantissa += 1
    return math.copysign(float(mantissa * 2**extra), v)


def cast_scalar(v: Any, source: str, target: str) -> Any:
    """static_cast, with floats converted to integers by truncation, saturation and NaN -> 0
    (TFLite Micro on this machine)."""
    if target == "bool":
        return bool(v != 0)
    value = int(v) if source == "bool" or np.dtype(source).kind in "iu" else float(v)
    if np.dtype(target).kind == "f":
        if isinstance(value, int):
            value = int_to_float32(value)
        with np.errstate(over="ignore"):
            return float(np.float32(value) if target == "float32" else np.float16(value))
    if isinstance(value, float):
        if math.isnan(value):
            return 0
        info = np.iinfo(target)
        return int(min(max(math.trunc(value) if math.isfinite(value) else value, info.min),
                       info.max))
    bits = np.dtype(target).itemsize * 8
    return wrap(value, bits) if np.dtype(target).kind == "i" else value % 2**bits


def cast_inputs(dtype: str, rng: np.random.Generator, fit: str | None = None) -> np.ndarray:
    """Full-range values; floats within ``fit``'s range (all of them beyond it when None)."""
    if dtype == "bool":
        return rng.integers(0, 2, 40).astype(bool)
    if np.dtype(dtype).kind in "iu":
        return random_int(rng, (40,), dtype)
    if fit is None or fit == "bool" or np.dtype(fit).kind == "f":
        values = np.concatenate([rng.normal(0, 300, 30), rng.uniform(-2.0**32, 2.0**32, 4),
                                 [np.inf, -np.inf, np.nan, -0.0, 0.5, -0.99]])
    else:
        info = np.iinfo(fit)
        values = np.concatenate([rng.uniform(float(info.min), float(info.max) * 0.99, 36),
                                 [-0.99, 0.99, -0.0, 0.5]])
    with np.errstate(over="ignore"):
        return values.astype(dtype)


def cast_model(source: str, target: str, n: int = 40) -> Model:
    return single_op(B.CAST, [Tensor("x", (n,), source)], [Tensor("y", (n,), target)])


@pytest.mark.parametrize("target", LITERT_CAST)
@pytest.mark.parametrize("source", LITERT_CAST)
def test_cast_matches_the_transcription(source: str, target: str) -> None:
    x = cast_inputs(source, np.random.default_rng(15))
    with np.errstate(all="ignore"):
        got = run(cast_model(source, target), [x])[0]
    assert got.dtype == np.dtype(target)
    expected = [cast_scalar(v, source, target) for v in x.tolist()]
    if np.dtype(target).kind == "f":
        np.testing.assert_array_equal(got, np.array(expected, target))
    else:
        assert got.tolist() == expected


@pytest.mark.tflm
@pytest.mark.parametrize("target", TFLM_CAST)
@pytest.mark.parametrize("source", TFLM_CAST)
def test_cast_matches_tflm(source: str, target: str) -> None:
    """Including floats that do not fit the integer type: TFLite Micro saturates them."""
    x = cast_inputs(source, np.random.default_rng(16))
    assert_equal_with_nans(cast_model(source, target), [x], "tflm")


@pytest.mark.litert
@pytest.mark.parametrize("target", LITERT_CAST)
@pytest.mark.parametrize("source", LITERT_CAST)
def test_cast_matches_litert(source: str, target: str) -> None:
    """Floats that do not fit an integer type are left out: C++ leaves them undefined and
    LiteRT sends NaN elsewhere."""
    x = cast_inputs(source, np.random.default_rng(17), fit=target)
    assert_equal_with_nans(cast_model(source, target), [x], "litert")


# ------------------------------------------------------------------------------------------------
# Batching and refusals
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [
    single_op(B.QUANTIZE, [Tensor("x", SHAPE, "float32")], [quantized("y", "int8", 0.05, 3)]),
    single_op(B.QUANTIZE, [Tensor("x", SHAPE, "float32")],
              [quantized("y", "int8", [0.1, 0.2, 0.3], [0, 1, 2], axis=3)]),
    single_op(B.QUANTIZE, [quantized("x", "int8", 0.05, 3)], [quantized("y", "int16", 0.01, 0)]),
    single_op(B.DEQUANTIZE, [quantized("x", "int8", [0.1, 0.2, 0.3], [0, 1, 2], axis=3)],
              [Tensor("y", SHAPE, "float32")]),
    single_op(B.CAST, [Tensor("x", SHAPE, "float32")], [Tensor("y", SHAPE, "int16")]),
], ids=["quantize", "quantize-per-channel", "requantize", "dequantize-per-channel", "cast"])
def test_a_batch_equals_single_runs(m: Model) -> None:
    rng = np.random.default_rng(18)
    source = m.subgraphs[0].inputs[0]
    batch = (rng.normal(0, 5, (5, *SHAPE[1:])).astype(np.float32)
             if source.numpy_dtype == np.float32 else random_int(rng, (5, *SHAPE[1:]), "int8"))
    (together,) = assert_batch_equals_single_runs(m, [batch])
    assert together.shape == batch.shape


def const(value: Any, dtype: str, quantization: Quantization | None = None) -> Tensor:
    return Tensor.constant("c", np.asarray(value, dtype), quantization=quantization)


@pytest.mark.parametrize(("m", "message"), [
    (single_op(B.CAST, [const([300.0], "float32")], [Tensor("y", (1,), "int8")]),
     "does not fit int8"),
    (single_op(B.CAST, [const([np.nan], "float32")], [Tensor("y", (1,), "int32")]),
     "does not fit int32"),
    (single_op(B.CAST, [const([1.0], "float32")], [Tensor("y", (1,), "string")]),
     "has type STRING"),
    (single_op(B.QUANTIZE, [const([1e30], "float32")],
               [quantized("y", "int8", 0.1, 0, shape=(1,))]), "outside int32"),
    (single_op(B.QUANTIZE, [Tensor("x", (2,), "float32")], [Tensor("y", (2,), "int8")]),
     "not quantized"),
    (single_op(B.QUANTIZE, [Tensor("x", (2,), "float32")],
               [quantized("y", "int32", 0.1, 0, shape=(2,))]), "float32 quantizes to"),
    (single_op(B.QUANTIZE, [quantized("x", "uint8", 0.1, 0, shape=(2,))],
               [quantized("y", "int16", 0.1, 0, shape=(2,))]), "not a requantization"),
    (single_op(B.QUANTIZE, [quantized("x", "int8", 0.1, 0, shape=(2,))],
               [quantized("y", "int8", [0.1, 0.2], [0, 0], shape=(2,))]),
     "per-channel requantization"),
    (single_op(B.QUANTIZE, [quantized("x", "int8", 2.0**40, 0, shape=(2,))],
               [quantized("y", "int8", 1.0, 0, shape=(2,))]), "too large"),
    (single_op(B.DEQUANTIZE, [quantized("x", "int8", 0.1, 0, shape=(2,))],
               [Tensor("y", (2,), "float16")]), "only float32"),
    (single_op(B.DEQUANTIZE, [Tensor("x", (2,), "int8")], [Tensor("y", (2,), "float32")]),
     "INT8 without quantization"),
    (single_op(B.DEQUANTIZE, [quantized("x", "int16", [0.5, 2.0], [0, 0], shape=(2, 3))],
               [Tensor("y", (2, 3), "float32")]), "int16 per channel"),
    (single_op(B.DEQUANTIZE, [quantized("x", "int8", [1.0, 2.0], [0, 0], shape=(1, 2))],
               [Tensor("y", (1, 2), "float32")]),
     "per-channel quantization on dimension 0 of shape"),
], ids=lambda v: "" if isinstance(v, Model) else v)
def test_refusals(m: Model, message: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)

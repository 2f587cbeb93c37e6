"""ADD, SUB, MUL, MAXIMUM, MINIMUM, PRELU: against scalar transcriptions of TFLite Micro's
reference code (plain Python ints, one element at a time) and against TFLite Micro itself."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from _harness import assert_batch_equals_single_runs, assert_matches, random_int, run, single_op
from _scalar import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    float_activation_range,
    i32,
    mbqm,
    quantize_multiplier,
)

from tflitekit import Interpreter, Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.options import ActivationFunctionType as Act
from tflitekit.options import AddOptions, MulOptions, SubOptions, Table
from tflitekit.options import BuiltinOperator as Op

Array = np.ndarray
OPTIONS = {Op.ADD: AddOptions, Op.SUB: SubOptions, Op.MUL: MulOptions}

# -- broadcasting, one element at a time ------------------------------------------------------


def clamp(x: int, lo: int, hi: int) -> int:
    return min(hi, max(lo, x))


def pairs(a: Array, b: Array) -> Iterator[tuple[tuple[int, ...], Any, Any]]:
    """Every output index with the two input elements broadcasting sends to it."""
    rank = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (rank - a.ndim) + a.shape)
    b = b.reshape((1,) * (rank - b.ndim) + b.shape)
    shape = tuple(max(x, y) for x, y in zip(a.shape, b.shape, strict=True))
    for index in itertools.product(*(range(n) for n in shape)):
        ia = tuple(i if n > 1 else 0 for i, n in zip(index, a.shape, strict=True))
        ib = tuple(i if n > 1 else 0 for i, n in zip(index, b.shape, strict=True))
        yield index, a[ia].item(), b[ib].item()


def elementwise(a: Array, b: Array, dtype: Any, f: Callable[[Any, Any], Any]) -> Array:
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = np.zeros(shape, dtype)
    for index, x, y in pairs(a, b):
        out[index] = f(x, y)
    return out


# -- the reference formulas, one element at a time -------------------------------------------

Q = tuple[float, int]  # (scale, zero point)


def ref_add_sub(op: Op, a: Array, b: Array, qa: Q, qb: Q, qo: Q, act: Act, rounding: str,
                precision: str = "double") -> Array:
    """``precision``: the multipliers' arithmetic (add_common.cc: double; sub_common.cc of
    August 2026: float32, which the released runtime does not do)."""
    dtype = a.dtype
    left = 15 if dtype == np.int16 else 20
    s1, s2, so = float(np.float32(qa[0])), float(np.float32(qb[0])), float(np.float32(qo[0]))
    if precision == "double":
        twice = 2 * max(s1, s2)
        reals = [s1 / twice, s2 / twice, twice / ((1 << left) * so)]
    else:
        t = np.float32(2) * np.float32(max(s1, s2))
        reals = [float(np.float32(s1) / t), float(np.float32(s2) / t),
                 float(t / (np.float32(1 << left) * np.float32(so)))]
    single = rounding == "single"
    (m1, e1), (m2, e2), (mo, eo) = (quantize_multiplier(r, single) for r in reals)
    assert e1 <= 0 and e2 <= 0 and eo <= 0
    lo, hi = activation_range(act, so, qo[1], dtype)

    def f(x: int, y: int) -> int:
        v1 = mbqm((x - qa[1]) * (1 << left), m1, e1, single)
        v2 = mbqm((y - qb[1]) * (1 << left), m2, e2, single)
        raw = v1 + v2 if op == Op.ADD else v1 - v2
        return clamp(mbqm(raw, mo, eo, single) + qo[1], lo, hi)

    return elementwise(a, b, dtype, f)


def ref_mul(a: Array, b: Array, qa: Q, qb: Q, qo: Q, act: Act, rounding: str) -> Array:
    s1, s2, so = (float(np.float32(q[0])) for q in (qa, qb, qo))
    single = rounding == "single"
    m, e = quantize_multiplier(s1 * s2 / so, single)
    lo, hi = activation_range(act, so, qo[1], a.dtype)

    def f(x: int, y: int) -> int:
        return clamp(mbqm((x - qa[1]) * (y - qb[1]), m, e, single) + qo[1], lo, hi)

    return elementwise(a, b, a.dtype, f)


INT32_ACT = {Act.NONE: (INT32_MIN, INT32_MAX), Act.RELU: (0, INT32_MAX), Act.RELU6: (0, 6),
             Act.RELU_N1_TO_1: (-1, 1)}


def ref_int32(op: Op, a: Array, b: Array, act: Act) -> Array:
    lo, hi = INT32_ACT[act]
    math_op = {Op.ADD: lambda x, y: x + y, Op.SUB: lambda x, y: x - y,
               Op.MUL: lambda x, y: x * y}[op]
    return elementwise(a, b, np.int32, lambda x, y: clamp(i32(math_op(x, y)), lo, hi))


def ref_prelu(x: Array, alpha: Array, qx: Q, qa: Q, qo: Q, rounding: str) -> Array:
    sx, sa, so = (float(np.float32(q[0])) for q in (qx, qa, qo))
    single = rounding == "single"
    m1, e1 = quantize_multiplier(sx / so, single)
    m2, e2 = quantize_multiplier(sx * sa / so, single)
    info = np.iinfo(x.dtype)

    def f(v: int, w: int) -> int:
        value = v - qx[1]
        if value >= 0:
            out = mbqm(value, m1, e1, single)
        else:
            out = mbqm(value * (w - qa[1]), m2, e2, single)
        return clamp(out + qo[1], int(info.min), int(info.max))

    return elementwise(x, alpha, x.dtype, f)


# -- model builders ---------------------------------------------------------------------------


def operand(name: str, shape: tuple[int, ...], dtype: str, q: Q | None, value: Array | None
            ) -> Tensor:
    quant = None if q is None else Quantization([q[0]], [q[1]])
    if value is not None:
        return Tensor.constant(name, value.astype(dtype).reshape(shape), quantization=quant)
    return Tensor(name, shape, dtype, quantization=quant)


def binary(op: Op, shapes: tuple[tuple[int, ...], tuple[int, ...]], dtype: str,
           quant: Sequence[Q | None] = (None, None, None), options: Table | None = None,
           constant: Array | None = None, alpha_dtype: str | None = None) -> Model:
    """``op`` of two inputs (the second a constant when ``constant`` is given)."""
    a = operand("a", shapes[0], dtype, quant[0], None)
    b = operand("b", shapes[1], alpha_dtype or dtype, quant[1], constant)
    out = operand("out", np.broadcast_shapes(*shapes), dtype, quant[2], None)
    return single_op(op, [a, b], [out], options)


def fused(op: Op, act: Act) -> Table | None:
    return OPTIONS[op](fused_activation_function=act) if op in OPTIONS else None


# Scales: equal, one input 4x / 1000x the other, output much finer or coarser than the inputs.
SCALES = [(0.05, 0.05, 0.05), (0.02, 0.08, 0.1), (0.5, 0.0005, 0.01), (1e-4, 0.3, 0.7),
          (0.01, 0.013, 0.0021), (0.0625, 0.125, 0.25)]
SHAPES = [((1, 4, 4, 3), (1, 4, 4, 3)), ((1, 4, 4, 3), (1, 1, 1, 3)), ((1, 5), (5,)),
          ((2, 1, 3), (1, 4, 1)), ((1, 3, 2), ())]
ACTS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]


def zero_points(rng: np.random.Generator, dtype: str) -> list[int]:
    if dtype == "int16":
        return [0, 0, 0]
    return [int(z) for z in rng.integers(-128, 128, 3)]


def case(rng: np.random.Generator, dtype: str, scales: tuple[float, ...]
         ) -> list[Q]:
    return list(zip(scales, zero_points(rng, dtype), strict=True))


def inputs(rng: np.random.Generator, shapes: Sequence[tuple[int, ...]], dtype: Any
           ) -> list[Array]:
    return [random_int(rng, s, dtype) for s in shapes]


# -- ADD and SUB ------------------------------------------------------------------------------


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB])
def test_quantized_add_sub_equals_the_scalar_formula(op: Op, dtype: str, rounding: str) -> None:
    rng = np.random.default_rng(1)
    for i, (scales, shapes) in enumerate(itertools.product(SCALES, SHAPES)):
        act = ACTS[i % len(ACTS)]
        q = case(rng, dtype, scales)
        a, b = inputs(rng, shapes, dtype)
        model = binary(op, shapes, dtype, q, fused(op, act))
        (got,) = run(model, [a, b], rounding=rounding)
        want = ref_add_sub(op, a, b, q[0], q[1], q[2], act, rounding)
        np.testing.assert_array_equal(got, want, err_msg=f"{scales} {shapes} {act.name}")


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL])
def test_quantized_arithmetic_matches_tflm(op: Op, dtype: str) -> None:
    rng = np.random.default_rng(2)
    for i, (scales, shapes) in enumerate(itertools.product(SCALES, SHAPES)):
        act = ACTS[i % len(ACTS)]
        model = binary(op, shapes, dtype, case(rng, dtype, scales), fused(op, act))
        assert_matches(model, inputs(rng, shapes, dtype))


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL])
def test_random_scales_match_tflm(op: Op, dtype: str) -> None:
    """Log-uniform scales: ratios between the inputs and the output far above and below 1."""
    rng = np.random.default_rng(3)
    shapes = ((1, 3, 4, 5), (1, 1, 4, 1))
    for trial in range(30):
        s1, s2, so = (float(np.float32(s)) for s in np.exp(rng.uniform(-9, 1, 3)))
        if op != Op.MUL:  # keep the output multiplier below one
            so = max(so, 4 * max(s1, s2) / 2 ** (15 if dtype == "int16" else 20))
        q = case(rng, dtype, (s1, s2, so))
        act = ACTS[trial % len(ACTS)]
        assert_matches(binary(op, shapes, dtype, q, fused(op, act)), inputs(rng, shapes, dtype))


@pytest.mark.tflm
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB])
def test_int16_with_zero_points_matches_tflm(op: Op) -> None:
    """TFLite Micro's int16 ADD / SUB take the general path, zero points included."""
    rng = np.random.default_rng(4)
    shapes = ((1, 6, 7), (1, 6, 7))
    for scales in SCALES:
        q = list(zip(scales, (int(z) for z in rng.integers(-300, 300, 3)), strict=True))
        assert_matches(binary(op, shapes, "int16", q), inputs(rng, shapes, np.int16))


@pytest.mark.parametrize("op", [Op.ADD, Op.SUB])
def test_add_sub_with_a_constant_operand(op: Op) -> None:
    rng = np.random.default_rng(5)
    q = [(0.1, 3), (0.02, -7), (0.11, 1)]
    for shapes in SHAPES:
        a = random_int(rng, shapes[0], np.int8)
        c = random_int(rng, shapes[1], np.int8)
        model = binary(op, shapes, "int8", q, constant=c)
        (got,) = run(model, [a])
        np.testing.assert_array_equal(got, ref_add_sub(op, a, c, *q, Act.NONE, "double"))


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32"])
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL])
def test_constant_operands_match_tflm(op: Op, dtype: str) -> None:
    rng = np.random.default_rng(16)
    quant: list[Q | None] = [None] * 3
    if dtype in ("int8", "int16"):
        quant = [(0.1, 0), (0.02, 0), (0.11, 0)]
    for shapes in SHAPES:
        a, c = ((rng.standard_normal(s) * 3).astype(np.float32) if dtype == "float32"
                else random_int(rng, s, dtype) for s in shapes)
        assert_matches(binary(op, shapes, dtype, quant, constant=c), [a])


# -- MUL --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_quantized_mul_equals_the_scalar_formula(dtype: str, rounding: str) -> None:
    rng = np.random.default_rng(6)
    for i, (scales, shapes) in enumerate(itertools.product(SCALES, SHAPES)):
        act = ACTS[i % len(ACTS)]
        q = case(rng, dtype, scales)
        a, b = inputs(rng, shapes, dtype)
        (got,) = run(binary(Op.MUL, shapes, dtype, q, fused(Op.MUL, act)), [a, b],
                     rounding=rounding)
        want = ref_mul(a, b, q[0], q[1], q[2], act, rounding)
        np.testing.assert_array_equal(got, want, err_msg=f"{scales} {shapes} {act.name}")


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("zeros", [(0,), (1,), (0, 1)])
def test_mul_by_a_zero_scale_gives_the_zero_point(dtype: str, zeros: tuple[int, ...]) -> None:
    """The converter gives an all-zero tensor (an LSTM's initial state) the scale 0: the
    multiplier is 0, so every result is the output's zero point, in TFLite Micro as in the
    formula."""
    rng = np.random.default_rng(17)
    for i, shapes in enumerate(SHAPES):
        act = ACTS[i % len(ACTS)]
        q = case(rng, dtype, tuple(0.0 if k in zeros else s
                                   for k, s in enumerate((0.05, 0.02, 0.07))))
        a, b = inputs(rng, shapes, dtype)
        model = binary(Op.MUL, shapes, dtype, q, fused(Op.MUL, act))
        (got,) = assert_matches(model, [a, b])
        np.testing.assert_array_equal(got, ref_mul(a, b, q[0], q[1], q[2], act, "double"))
        assert (got == q[2][1]).all()


# -- int32 and float32 ------------------------------------------------------------------------

INT32_CASES = [(Op.ADD, Act.NONE), (Op.SUB, Act.NONE), (Op.SUB, Act.RELU6), (Op.MUL, Act.NONE),
               (Op.MUL, Act.RELU), (Op.MUL, Act.RELU_N1_TO_1)]


def int32_values(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Full-range values (which overflow), with small ones mixed in."""
    full = random_int(rng, shape, np.int32)
    small = rng.integers(-9, 10, shape).astype(np.int32)
    return np.where(rng.random(shape) < 0.5, full, small)


@pytest.mark.parametrize(("op", "act"), INT32_CASES)
def test_int32_wraps_like_cpp(op: Op, act: Act) -> None:
    rng = np.random.default_rng(7)
    for shapes in SHAPES:
        a, b = (int32_values(rng, s) for s in shapes)
        (got,) = run(binary(op, shapes, "int32", options=fused(op, act)), [a, b])
        np.testing.assert_array_equal(got, ref_int32(op, a, b, act))


@pytest.mark.tflm
@pytest.mark.parametrize(("op", "act"), INT32_CASES)
def test_int32_matches_tflm(op: Op, act: Act) -> None:
    rng = np.random.default_rng(8)
    for shapes in SHAPES:
        values = [int32_values(rng, s) for s in shapes]
        assert_matches(binary(op, shapes, "int32", options=fused(op, act)), values)


FLOAT_OPS = [Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM]


@pytest.mark.tflm
@pytest.mark.parametrize("op", FLOAT_OPS)
def test_float_matches_tflm(op: Op) -> None:
    rng = np.random.default_rng(9)
    for i, shapes in enumerate(SHAPES):
        act = ACTS[i % len(ACTS)]
        values = [(rng.standard_normal(s) * 4).astype(np.float32) for s in shapes]
        assert_matches(binary(op, shapes, "float32", options=fused(op, act)), values)


@pytest.mark.parametrize("op", FLOAT_OPS)
def test_float_equals_the_scalar_formula(op: Op) -> None:
    rng = np.random.default_rng(10)
    f = {Op.ADD: lambda x, y: x + y, Op.SUB: lambda x, y: x - y, Op.MUL: lambda x, y: x * y,
         Op.MAXIMUM: lambda x, y: x if x > y else y, Op.MINIMUM: lambda x, y: x if x < y else y}
    for i, shapes in enumerate(SHAPES):
        act = ACTS[i % len(ACTS)] if op in OPTIONS else Act.NONE
        lo, hi = float_activation_range(act)
        a, b = ((rng.standard_normal(s) * 4).astype(np.float32) for s in shapes)
        (got,) = run(binary(op, shapes, "float32", options=fused(op, act)), [a, b])
        want = elementwise(a, b, np.float32, lambda x, y, lo=lo, hi=hi: min(
            max(np.float32(f[op](np.float32(x), np.float32(y))), lo), hi))
        np.testing.assert_array_equal(got, want)


# -- MAXIMUM and MINIMUM ----------------------------------------------------------------------

INT_TYPES = ["int8", "int16", "int32", "int64"]


@pytest.mark.parametrize("dtype", INT_TYPES)
@pytest.mark.parametrize("op", [Op.MAXIMUM, Op.MINIMUM])
def test_maximum_minimum_compare_raw_values(op: Op, dtype: str) -> None:
    rng = np.random.default_rng(11)
    pick = (lambda x, y: x if x > y else y) if op == Op.MAXIMUM else (
        lambda x, y: x if x < y else y)
    quant = [(0.1, 2)] * 3 if dtype in ("int8", "int16") else [None] * 3
    for shapes in SHAPES:
        a, b = inputs(rng, shapes, dtype)
        (got,) = run(binary(op, shapes, dtype, quant), [a, b])
        np.testing.assert_array_equal(got, elementwise(a, b, dtype, pick))


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
@pytest.mark.parametrize("op", [Op.MAXIMUM, Op.MINIMUM])
def test_maximum_minimum_match_tflm(op: Op, dtype: str) -> None:
    rng = np.random.default_rng(12)
    quant = [(0.1, 2)] * 3 if dtype != "int32" else [None] * 3
    for shapes in SHAPES:
        assert_matches(binary(op, shapes, dtype, quant), inputs(rng, shapes, dtype))


def test_maximum_minimum_keep_cpp_nan_rules() -> None:
    """``a > b ? a : b``: a NaN in the second input is chosen, one in the first is not."""
    nan = np.float32(np.nan)
    a = np.array([[nan, 1.0, 2.0]], np.float32)
    b = np.array([[0.5, nan, 1.0]], np.float32)
    (high,) = run(binary(Op.MAXIMUM, ((1, 3), (1, 3)), "float32"), [a, b])
    (low,) = run(binary(Op.MINIMUM, ((1, 3), (1, 3)), "float32"), [a, b])
    np.testing.assert_array_equal(high, [[0.5, nan, 2.0]])
    np.testing.assert_array_equal(low, [[0.5, nan, 1.0]])


# -- PRELU ------------------------------------------------------------------------------------

PRELU_SHAPES = [((1, 4, 4, 3), (1, 1, 3)), ((1, 4, 4, 3), (3,)), ((1, 6), (1, 6)),
                ((1, 2, 3, 4), (1, 2, 3, 4))]
PRELU_SCALES = [(0.05, 0.01, 0.05), (0.1, 0.004, 0.02), (0.01, 0.02, 0.3), (0.5, 0.5, 0.1)]


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_quantized_prelu_equals_the_scalar_formula(dtype: str, rounding: str) -> None:
    rng = np.random.default_rng(13)
    for scales, shapes in itertools.product(PRELU_SCALES, PRELU_SHAPES):
        zx, za, zo = (int(z) for z in rng.integers(-128, 128, 3))
        q = [(scales[0], zx if dtype == "int8" else 0), (scales[1], za),
             (scales[2], zo if dtype == "int8" else 0)]
        x = random_int(rng, shapes[0], dtype)
        alpha = random_int(rng, shapes[1], np.int8)
        model = binary(Op.PRELU, shapes, dtype, q, constant=alpha, alpha_dtype="int8")
        (got,) = run(model, [x], rounding=rounding)
        np.testing.assert_array_equal(got, ref_prelu(x, alpha, *q, rounding))


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["float32", "int8", "int16"])
def test_prelu_matches_tflm(dtype: str) -> None:
    rng = np.random.default_rng(14)
    for scales, shapes in itertools.product(PRELU_SCALES, PRELU_SHAPES):
        if dtype == "float32":
            q: list[Q | None] = [None] * 3
            x = rng.standard_normal(shapes[0]).astype(np.float32)
            alpha = rng.standard_normal(shapes[1]).astype(np.float32)
        else:
            zx, za, zo = (int(z) for z in rng.integers(-128, 128, 3))
            q = [(scales[0], zx if dtype == "int8" else 0), (scales[1], za),
                 (scales[2], zo if dtype == "int8" else 0)]
            x = random_int(rng, shapes[0], dtype)
            alpha = random_int(rng, shapes[1], np.int8)
        alpha_dtype = "float32" if dtype == "float32" else "int8"
        model = binary(Op.PRELU, shapes, dtype, q, constant=alpha, alpha_dtype=alpha_dtype)
        assert_matches(model, [x])


def test_float_prelu() -> None:
    x = np.array([[-2.0, -0.0, 0.5, -1.0]], np.float32)
    alpha = np.array([0.25, 2.0, 3.0, -1.0], np.float32)
    (got,) = run(binary(Op.PRELU, ((1, 4), (4,)), "float32", constant=alpha), [x])
    np.testing.assert_array_equal(got, [[-0.5, 0.0, 0.5, 1.0]])


# -- batching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "shapes", "constant"), [
    (Op.ADD, ((1, 4, 4, 3), (1, 1, 1, 3)), False),
    (Op.SUB, ((1, 5), (5,)), True),
    (Op.MUL, ((1, 2, 3), ()), True),
    (Op.MUL, ((1, 3, 1), (1, 1, 4)), False),
    (Op.MAXIMUM, ((3,), (1, 2, 3)), True),
    (Op.PRELU, ((1, 4, 4, 3), (3,)), True),
])
def test_a_batch_equals_single_runs(op: Op, shapes: tuple[tuple[int, ...], tuple[int, ...]],
                                    constant: bool) -> None:
    """Batched inputs meet an unbatched constant (or each other) as their per-sample shapes
    do, whatever their ranks."""
    rng = np.random.default_rng(15)
    q = [(0.05, 3), (0.02, -5), (0.07, 1)]
    n = 6
    second = random_int(rng, shapes[1], np.int8)
    model = binary(op, shapes, "int8", q, constant=second if constant else None)
    xs = [random_int(rng, (n, *shapes[0]), np.int8)]
    if not constant:
        xs.append(random_int(rng, (n, *shapes[1]), np.int8))
    (batch,) = assert_batch_equals_single_runs(model, xs)
    assert batch.shape == (n, *np.broadcast_shapes(*shapes))


# -- refusals ---------------------------------------------------------------------------------


def refused(model: Model, why: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=why):
        Interpreter(model)


def test_refuses_what_tflm_refuses_or_aborts_on() -> None:
    q8 = [(0.1, 0), (0.1, 0), (0.1, 0)]
    shapes = ((1, 4), (1, 4))
    refused(binary(Op.ADD, shapes, "int32", q8), "quantized INT32")
    refused(binary(Op.SUB, shapes, "int32", [None, None, (0.5, 0)]), "quantized INT32")
    refused(binary(Op.ADD, shapes, "int32", options=AddOptions(fused_activation_function=Act.RELU)),
            "TFLite Micro ignores it")
    refused(binary(Op.ADD, shapes, "int8", [(0.1, 0), (0.1, 0), (1e-9, 0)]),
            "output multiplier")
    refused(binary(Op.SUB, shapes, "int16", [(0.1, 0), (0.1, 0), (0.2 / 2**15, 0)]),
            "output multiplier")
    refused(binary(Op.MUL, shapes, "int16", [(0.1, 1), (0.1, 0), (0.1, 0)]), "zero point")
    refused(binary(Op.MUL, shapes, "int8", [(0.1, 0), (0.0, 0), (0.0, 0)]), "'out' has scale 0.0")
    refused(binary(Op.MUL, shapes, "int8", [(-0.1, 0), (0.1, 0), (0.1, 0)]), "'a' has scale -0.1")
    refused(binary(Op.ADD, shapes, "int8"), "not quantized per tensor")
    channels = Quantization([0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0], quantized_dimension=1)
    refused(single_op(Op.MUL, [Tensor("a", (1, 4), "int8", quantization=channels),
                               Tensor("b", (1, 4), "int8", quantization=channels)],
                      [Tensor("o", (1, 4), "int8", quantization=Quantization([0.1], [0]))]),
            "not quantized per tensor")
    refused(binary(Op.ADD, shapes, "int64"), "expected FLOAT32")
    refused(binary(Op.ADD, shapes, "float32", options=AddOptions(
        fused_activation_function=Act.TANH)), "TANH")
    refused(binary(Op.PRELU, ((1, 2, 3, 4, 5), (5,)), "float32"), "rank 5")
    refused(binary(Op.PRELU, ((1, 4), (4,)), "int16", [(0.1, 0)] * 3), "expected INT8")


def test_refuses_shapes_that_do_not_broadcast_to_the_output() -> None:
    model = binary(Op.ADD, ((1, 4), (1, 4)), "float32")
    model.main.outputs[0].shape = (1, 5)
    refused(model, "output is")
    refused(binary(Op.MUL, ((1, 1, 1, 1, 1, 1, 1, 1, 2), (2,)), "float32"), "rank 9")
    mixed = single_op(Op.ADD, [Tensor("a", (1, 2), "int8", quantization=Quantization([0.1], [0])),
                               Tensor("b", (1, 2), "int16", quantization=Quantization([0.1], [0]))],
                      [Tensor("o", (1, 2), "int8", quantization=Quantization([0.1], [0]))])
    refused(mixed, "expected one type")


# Scales and zero points where computing ADD / SUB's multipliers in double or in float32 changes
# one or two int8 results (found by search over every pair; PRECISION_SECOND holds the second
# inputs of those pairs).
PRECISION_CASES = [
    [(0.0031607821583747864, 0), (0.20029523968696594, -121), (0.09888868033885956, 109)],
    [(0.0682668536901474, -34), (0.0874704048037529, 113), (0.4024224877357483, -91)],
    [(0.025992397218942642, -85), (0.22725102305412292, 29), (0.034574929624795914, 22)],
    [(0.01862412318587303, 101), (0.00610697828233242, 75), (0.03695834428071976, 52)],
    [(0.6469693183898926, -98), (0.8249414563179016, 93), (0.0027074117679148912, -107)],
]
PRECISION_SECOND = np.array([[-82, -16, -2, 23, 35, 84]], np.int8)


@pytest.mark.tflm
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB])
def test_multipliers_are_computed_in_double(op: Op) -> None:
    """On scales where the multipliers' precision matters, TFLite Micro computes them in
    double for SUB too (not in float32 as its August 2026 source does)."""
    a, b = np.arange(-128, 128, dtype=np.int8)[:, None], PRECISION_SECOND
    differs = False
    for q in PRECISION_CASES:
        (ours,) = assert_matches(binary(op, (a.shape, b.shape), "int8", q), [a, b])
        np.testing.assert_array_equal(ours, ref_add_sub(op, a, b, *q, Act.NONE, "double"))
        single = ref_add_sub(op, a, b, *q, Act.NONE, "double", precision="float32")
        differs |= bool((single != ours).any())
    assert differs

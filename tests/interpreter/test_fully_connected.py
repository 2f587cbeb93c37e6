"""FULLY_CONNECTED and BATCH_MATMUL: against scalar transcriptions of TFLite Micro's reference
loops (and of LiteRT's hybrid kernel), one element at a time in plain Python numbers, and against
TFLite Micro (LiteRT for hybrid operators) on random full-range inputs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from _harness import assert_matches, oracle, random_int, run, single_op
from _scalar import (
    activation_range,
    float_activation_range,
    i32,
    mbqm,
    mbqm_64,
    quantize_multiplier,
    round_away,
)

from tflitekit import Interpreter, Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.interpreter.kernels import fully_connected as fc_module
from tflitekit.options import ActivationFunctionType as Act
from tflitekit.options import BatchMatMulOptions, FullyConnectedOptions, TensorType
from tflitekit.options import BuiltinOperator as Op
from tflitekit.options import FullyConnectedOptionsWeightsFormat as Format

Array = np.ndarray
f32 = np.float32
ACTS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]

# -- scalar transcriptions of the kernels ----------------------------------------------------


def parts(model: Model) -> tuple[Any, list[Any], Any]:
    op = model.main.operators[0]
    return op, list(op.inputs) + [None] * (3 - len(op.inputs)), op.outputs[0]


def scale_zero(t: Tensor) -> tuple[float, int]:
    q = t.quantization
    return float(q.scale[0]), int(q.zero_point[0])


def scalar_fc_float(model: Model, x: Array, w: Array | None = None) -> Array:
    """reference_ops::FullyConnected (float): float32 products summed in order, plus bias."""
    op, (_, wt, bt), yt = parts(model)
    w = wt.data if w is None else w
    units, depth = w.shape
    rows = x.reshape(-1, depth)
    lo, hi = float_activation_range(op.options.fused_activation_function)
    out = []
    for r in range(rows.shape[0]):
        for c in range(units):
            total = f32(0)
            for k in range(depth):
                total = f32(total + f32(rows[r, k] * w[c, k]))
            if bt is not None:
                total = f32(total + bt.data[c])
            out.append(min(max(total, f32(lo)), f32(hi)))
    return np.array(out, f32).reshape(yt.shape)


def scalar_fc_int(model: Model, x: Array, rounding: str = "double",
                  w: Array | None = None) -> Array:
    """reference_integer_ops::FullyConnected(PerChannel) with TFLite Micro's multipliers."""
    op, (xt, wt, bt), yt = parts(model)
    w = wt.data if w is None else w
    units, depth = w.shape
    sx, zx = scale_zero(xt)
    so, zo = scale_zero(yt)
    sw = wt.quantization.scale  # double(s_x) * double(s_w[c]) / double(s_out)
    single = rounding == "single"
    mults = [quantize_multiplier(sx * float(s) / so, single) for s in sw] * (units // sw.size)
    opts = op.options
    if xt.dtype == TensorType.INT16:
        wide = (bt.dtype == TensorType.INT64 if bt is not None
                else opts.quantized_bias_type != TensorType.INT32)
    else:
        wide = False
    lo, hi = activation_range(opts.fused_activation_function, so, zo, yt.numpy_dtype)
    rows = x.reshape(-1, depth)
    out = []
    for r in range(rows.shape[0]):
        for c in range(units):
            acc = 0
            for k in range(depth):
                acc += int(w[c, k]) * (int(rows[r, k]) - zx)
            if bt is not None:
                acc += int(bt.data[c])
            m, s = mults[c]
            v = mbqm_64(acc, m, s) if wide else mbqm(i32(acc), m, s, single)
            out.append(min(max(v + zo, lo), hi))
    return np.array(out).astype(yt.numpy_dtype).reshape(yt.shape)


def hybrid_round(v: np.floating[Any], vectorised: bool) -> int:
    """LiteRT's x86 rounding: NEON lanes add ±0.5 in float32 and truncate; the tail rounds."""
    if vectorised:
        return int(f32(v + (f32(-0.5) if v < 0 else f32(0.5))))
    return round_away(float(v))


def hybrid_quantize(row: Array, asymmetric: bool) -> tuple[list[int], np.floating[Any], int]:
    """(Neon)SymmetricQuantizeFloats / (Neon)AsymmetricQuantizeFloats of one row."""
    depth = len(row)
    vector = depth // 8 * 8
    if not asymmetric:
        largest = max(abs(min(row)), abs(max(row)))
        if largest == 0:
            return [0] * depth, f32(1), 0
        inverse = f32(f32(127) / largest)
        q = [min(127, max(-127, hybrid_round(f32(v * inverse), k < vector)))
             for k, v in enumerate(row)]
        return q, f32(largest / f32(127)), 0
    rmin, rmax = min(f32(0), min(row)), max(f32(0), max(row))
    if rmin == rmax:
        return [0] * depth, f32(1), 0
    scale = float(f32(rmax - rmin)) / 255.0
    from_min, from_max = -128.0 - float(rmin) / scale, 127.0 - float(rmax) / scale
    err_min, err_max = 128.0 + abs(float(rmin) / scale), 127.0 + abs(float(rmax) / scale)
    zero = from_min if err_min < err_max else from_max
    offset = -128 if zero <= -128 else 127 if zero >= 127 else round_away(zero)
    factor = f32(scale)
    inverse = f32(1.0 / float(factor))
    q = [min(127, max(-128, offset + hybrid_round(f32(v * inverse), k < vector)))
         for k, v in enumerate(row)]
    return q, factor, offset


def scalar_fc_hybrid(model: Model, x: Array) -> Array:
    """LiteRT's EvalHybridDense: rows quantized one by one, int dot products scaled in
    float32 and added to the bias."""
    op, (_, wt, bt), yt = parts(model)
    w = wt.data.astype(np.int64)
    units, depth = w.shape
    sw = wt.quantization.scale
    lo, hi = float_activation_range(op.options.fused_activation_function)
    out = []
    for row in x.reshape(-1, depth):
        q, factor, offset = hybrid_quantize(list(row), op.options.asymmetric_quantize_inputs)
        for c in range(units):
            dot = sum(int(w[c, k]) * q[k] for k in range(depth)) - int(w[c].sum()) * offset
            scale = f32(factor * sw[c if sw.size > 1 else 0])
            y = f32(f32(dot) * scale)
            if bt is not None:
                y = f32(bt.data[c] + y)
            out.append(min(max(y, f32(lo)), f32(hi)))
    return np.array(out, f32).reshape(yt.shape)


def scalar_bmm(model: Model, a: Array, b: Array) -> Array:
    """reference_ops::BatchMatMul (float, int8 with int32 sums, int16 with int64 sums)."""
    op, (at, bt, _), yt = parts(model)
    adj_x, adj_y = op.options.adj_x, op.options.adj_y
    rank = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (rank - a.ndim) + a.shape)
    b = b.reshape((1,) * (rank - b.ndim) + b.shape)
    rows = a.shape[-1] if adj_x else a.shape[-2]
    depth = a.shape[-2] if adj_x else a.shape[-1]
    cols = b.shape[-2] if adj_y else b.shape[-1]
    batch = [max(p, q) for p, q in zip(a.shape[:-2], b.shape[:-2], strict=True)]
    integer = yt.dtype != TensorType.FLOAT32
    if integer:
        (sa, za), (sb, zb), (so, zo) = scale_zero(at), scale_zero(bt), scale_zero(yt)
        m, s = quantize_multiplier(sa * sb / so)
        info = np.iinfo(yt.numpy_dtype)
    out = []
    for idx in itertools.product(*(range(n) for n in batch)):
        ia = tuple(i if d > 1 else 0 for i, d in zip(idx, a.shape[:-2], strict=True))
        ib = tuple(i if d > 1 else 0 for i, d in zip(idx, b.shape[:-2], strict=True))
        for i in range(rows):
            for j in range(cols):
                acc: Any = 0 if integer else f32(0)
                for k in range(depth):
                    av = a[ia + ((k, i) if adj_x else (i, k))]
                    bv = b[ib + ((j, k) if adj_y else (k, j))]
                    if integer:
                        acc += (int(av) - za) * (int(bv) - zb)
                    else:
                        acc = f32(acc + f32(av * bv))
                if integer:
                    v = (mbqm_64(acc, m, s) if yt.dtype == TensorType.INT16
                         else mbqm(i32(acc), m, s))
                    acc = min(max(v + zo, int(info.min)), int(info.max))
                out.append(acc)
    return np.array(out).astype(yt.numpy_dtype).reshape(yt.shape)


def per_sample(scalar: Any, model: Model, *inputs: Array, **kwargs: Any) -> Array:
    """A scalar transcription applied to each sample of batched inputs."""
    return np.stack([scalar(model, *sample, **kwargs) for sample in zip(*inputs, strict=True)])


# -- model builders --------------------------------------------------------------------------

# (input shape, weights' depth, output shape given units, keep_num_dims)
SHAPES = {
    "2d": ((1, 20), 20, lambda u: (1, u), False),
    "3d-keep": ((1, 3, 20), 20, lambda u: (1, 3, u), True),
    "3d-flat": ((2, 3, 20), 20, lambda u: (6, u), False),
    "rows-of-depth": ((1, 4, 6), 8, lambda u: (3, u), False),
}


def fc_float(shape: str = "2d", *, units: int = 5, bias: bool = True, act: int = Act.NONE,
             seed: int = 0, const_weights: bool = True) -> Model:
    rng = np.random.default_rng(seed)
    x_shape, depth, out, keep = SHAPES[shape]
    x = Tensor("x", x_shape, "float32")
    data = rng.standard_normal((units, depth)).astype(f32)
    w = Tensor.constant("w", data) if const_weights else Tensor("w", (units, depth), "float32")
    b = Tensor.constant("b", rng.standard_normal(units).astype(f32)) if bias else None
    y = Tensor("y", out(units), "float32")
    opts = FullyConnectedOptions(fused_activation_function=act, keep_num_dims=keep)
    return single_op(Op.FULLY_CONNECTED, [x, w, b], [y], opts)


def fc_int(shape: str = "2d", dtype: str = "int8", *, units: int = 5, per_channel: bool = False,
           bias: str | None = "int32", act: int = Act.NONE, seed: int = 0,
           bias_type: TensorType = TensorType.FLOAT32, full_bias: bool = False,
           out_scale: float | None = None, const_weights: bool = True) -> Model:
    """Quantized FULLY_CONNECTED with outputs spread over the output type's range."""
    rng = np.random.default_rng(seed)
    x_shape, depth, out, keep = SHAPES[shape]
    int8 = dtype == "int8"
    sx = f32(rng.uniform(0.01, 0.1))
    zx = int(rng.integers(-20, 21)) if int8 else 0
    sw = rng.uniform(0.002, 0.02, units if per_channel else 1).astype(f32)
    spread = math.sqrt(depth) * 74 * (74 if int8 else 18900)
    so = f32(out_scale if out_scale is not None
             else sx * float(sw.mean()) * spread / (40 if int8 else 10000))
    zo = int(rng.integers(-10, 11)) if int8 else 0
    x = Tensor("x", x_shape, dtype, quantization=Quantization(sx, zx))
    wq = Quantization(sw, np.zeros(sw.size, np.int64))
    data = rng.integers(-127, 128, (units, depth)).astype(np.int8)
    w = (Tensor.constant("w", data, quantization=wq) if const_weights
         else Tensor("w", (units, depth), "int8", quantization=wq))
    b = None
    if bias is not None:
        values = rng.integers(-int(spread), int(spread), units)
        if full_bias:  # near the ends of the int32 range, so that about half the sums wrap
            values = np.where(values < 0, -(2**31), 2**31 - 1) - values
        values = values.astype(bias)
        b = Tensor.constant("b", values, quantization=Quantization(
            (sx * sw).astype(f32), np.zeros(sw.size, np.int64)))
    y = Tensor("y", out(units), dtype, quantization=Quantization(so, zo))
    opts = FullyConnectedOptions(fused_activation_function=act, keep_num_dims=keep,
                                 quantized_bias_type=bias_type)
    return single_op(Op.FULLY_CONNECTED, [x, w, b], [y], opts)


def fc_hybrid(shape: str = "3d-keep", *, units: int = 5, per_channel: bool = False,
              asymmetric: bool = False, bias: bool = True, act: int = Act.NONE,
              seed: int = 0, depth: int = 21) -> Model:
    """Float input, int8 weights in [-127, 127] (as the converter makes them; LiteRT's x86
    kernel mishandles -128), float bias."""
    rng = np.random.default_rng(seed)
    x_shape, _, out, keep = SHAPES[shape]
    x_shape = (*x_shape[:-1], depth)
    x = Tensor("x", x_shape, "float32")
    sw = rng.uniform(0.002, 0.02, units if per_channel else 1).astype(f32)
    w = Tensor.constant("w", rng.integers(-127, 128, (units, depth)).astype(np.int8),
                        quantization=Quantization(sw, np.zeros(sw.size, np.int64)))
    b = Tensor.constant("b", rng.standard_normal(units).astype(f32)) if bias else None
    y = Tensor("y", out(units), "float32")
    opts = FullyConnectedOptions(fused_activation_function=act, keep_num_dims=keep,
                                 asymmetric_quantize_inputs=asymmetric)
    return single_op(Op.FULLY_CONNECTED, [x, w, b], [y], opts)


def bmm(a_shape: Sequence[int], b_shape: Sequence[int], out_shape: Sequence[int],
        dtype: str = "int8", *, adj_x: bool = False, adj_y: bool = False, seed: int = 0,
        const_b: bool = False) -> tuple[Model, Array]:
    """BATCH_MATMUL and a value for its right operand (the constant when ``const_b``)."""
    rng = np.random.default_rng(seed)
    qa = qb = qo = None
    if dtype != "float32":
        int8 = dtype == "int8"
        depth = a_shape[-2] if adj_x else a_shape[-1]
        spread = math.sqrt(depth) * 74 * 74 if int8 else math.sqrt(depth) * 18900**2
        sa, sb = f32(rng.uniform(0.01, 0.1)), f32(rng.uniform(0.01, 0.1))
        qa = Quantization(sa, int(rng.integers(-20, 21)) if int8 else 0)
        qb = Quantization(sb, int(rng.integers(-20, 21)) if int8 else 0)
        qo = Quantization(f32(sa * sb * spread / (40 if int8 else 10000)),
                          int(rng.integers(-10, 11)) if int8 else 0)
        value = random_int(rng, b_shape, np.dtype(dtype))
    else:
        value = rng.standard_normal(b_shape).astype(f32)
    a = Tensor("a", tuple(a_shape), dtype, quantization=qa)
    b = (Tensor.constant("b", value, quantization=qb) if const_b
         else Tensor("b", tuple(b_shape), dtype, quantization=qb))
    y = Tensor("y", tuple(out_shape), dtype, quantization=qo)
    model = single_op(Op.BATCH_MATMUL, [a, b], [y], BatchMatMulOptions(adj_x=adj_x, adj_y=adj_y))
    return model, value


def inputs_for(model: Model, n: int, seed: int = 1, index: int = 0) -> Array:
    """``n`` samples for the model's input ``index``: full integer range, or standard normal."""
    rng = np.random.default_rng(seed)
    t = model.main.inputs[index]
    if t.numpy_dtype == np.float32:
        return rng.standard_normal((n, *t.shape)).astype(f32)
    return random_int(rng, (n, *t.shape), t.numpy_dtype)


def batch_run(model: Model, *inputs: Array, **kwargs: Any) -> Array:
    """The model on batched inputs ``(N, *shape)``, as ``(N, *output shape)``."""
    return Interpreter(model, **kwargs).run([np.asarray(x) for x in inputs])[0]


# -- FULLY_CONNECTED, float32 ------------------------------------------------------------------


ORACLES = [pytest.param("tflm", marks=pytest.mark.tflm),
           pytest.param("litert", marks=pytest.mark.litert)]


def spread_floats(rng: np.random.Generator, shape: Sequence[int]) -> Array:
    """Normal values scaled by powers of two from 2^-12 to 2^12: float32 sums of them depend
    on the order they are taken in."""
    scale = np.exp2(rng.integers(-12, 13, shape)).astype(f32)
    return (rng.standard_normal(shape).astype(f32) * scale).astype(f32)


def fc_float_deep(rows: int, units: int, depth: int, *, bias: bool = True, act: int = Act.NONE,
                  seed: int = 0) -> Model:
    """A float FULLY_CONNECTED over ``rows`` rows of ``depth``, with spread weights and bias."""
    rng = np.random.default_rng(seed)
    w = Tensor.constant("w", spread_floats(rng, (units, depth)))
    b = Tensor.constant("b", spread_floats(rng, (units,))) if bias else None
    x, y = Tensor("x", (1, rows, depth), "float32"), Tensor("y", (1, rows, units), "float32")
    opts = FullyConnectedOptions(fused_activation_function=act, keep_num_dims=True)
    return single_op(Op.FULLY_CONNECTED, [x, w, b], [y], opts)


DEEP = {"rows": (3, 7, 300), "one-sum": (1, 1, 300), "one-unit": (4, 1, 257)}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False])
def test_fc_float_scalar(shape: str, act: int, bias: bool) -> None:
    model = fc_float(shape, bias=bias, act=act)
    x = inputs_for(model, 3)
    np.testing.assert_array_equal(batch_run(model, x), per_sample(scalar_fc_float, model, x))


@pytest.mark.parametrize("runtime", ORACLES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False])
def test_fc_float_oracle(runtime: str, shape: str, act: int, bias: bool) -> None:
    model = fc_float(shape, bias=bias, act=act, seed=2)
    for x in inputs_for(model, 4, seed=3):
        assert_matches(model, [x], runtime)


@pytest.mark.parametrize("block", [5, 64, None], ids=["block-5", "block-64", "block-default"])
@pytest.mark.parametrize("case", DEEP)
@pytest.mark.parametrize("bias", [True, False])
def test_fc_float_order_scalar(block: int | None, case: str, bias: bool,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Long sums of values of many magnitudes, summed in blocks of depths or all at once."""
    if block is not None:
        monkeypatch.setattr(fc_module, "_FLOAT_BLOCK", block)
    model = fc_float_deep(*DEEP[case], bias=bias)
    x = spread_floats(np.random.default_rng(4), (3, 1, DEEP[case][0], DEEP[case][2]))
    np.testing.assert_array_equal(batch_run(model, x), per_sample(scalar_fc_float, model, x))


@pytest.mark.parametrize("runtime", ORACLES)
@pytest.mark.parametrize("case", DEEP)
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU])
def test_fc_float_order_oracle(runtime: str, case: str, act: int) -> None:
    model = fc_float_deep(*DEEP[case], act=act, seed=5)
    for x in spread_floats(np.random.default_rng(6), (3, 1, DEEP[case][0], DEEP[case][2])):
        assert_matches(model, [x], runtime)


def special_floats(act: int) -> tuple[Model, Array]:
    """A float FULLY_CONNECTED whose inputs hold NaN, ±inf, ±0 and huge values (inf * 0, inf -
    inf, overflow to inf), with a bias of -0.0 on one unit, and 5 samples for it."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 6)).astype(f32)
    w[1, 2] = np.inf
    w[2, 0] = 0.0
    w[3] = 3e38
    b = rng.standard_normal(4).astype(f32)
    b[0] = -0.0
    x, y = Tensor("x", (1, 2, 6), "float32"), Tensor("y", (1, 2, 4), "float32")
    opts = FullyConnectedOptions(fused_activation_function=act, keep_num_dims=True)
    model = single_op(Op.FULLY_CONNECTED, [x, Tensor.constant("w", w), Tensor.constant("b", b)],
                      [y], opts)
    xs = rng.standard_normal((5, 1, 2, 6)).astype(f32)
    xs[0] = 0.0
    xs[1, 0, 0, 0] = np.nan
    xs[2, 0, 0, 0] = np.inf
    xs[2, 0, 1, 2] = -np.inf
    xs[3, 0, 1, 2] = 0.0
    xs[4, 0, 0] = 1e38
    return model, xs


@pytest.mark.parametrize("act", ACTS)
def test_fc_float_specials_scalar(act: int) -> None:
    model, x = special_floats(act)
    with np.errstate(all="ignore"):
        expected = per_sample(scalar_fc_float, model, x)
    ours = batch_run(model, x)
    assert np.isnan(ours).any()
    np.testing.assert_array_equal(ours, expected)
    assert np.array_equal(np.signbit(ours), np.signbit(expected))


@pytest.mark.parametrize("runtime", ORACLES)
@pytest.mark.parametrize("act", ACTS)
def test_fc_float_specials_oracle(runtime: str, act: int) -> None:
    model, x = special_floats(act)
    for sample in x:
        ours = assert_matches(model, [sample], runtime)[0]
        theirs = oracle(model, [sample], runtime)[0]
        assert np.array_equal(np.signbit(ours), np.signbit(theirs))


# -- FULLY_CONNECTED, int8 and 16x8 ----------------------------------------------------------

INT_CASES = [  # (dtype, bias type, quantized_bias_type when there is no bias)
    ("int8", "int32", TensorType.FLOAT32),
    ("int8", None, TensorType.FLOAT32),
    ("int16", "int64", TensorType.FLOAT32),
    ("int16", "int32", TensorType.FLOAT32),
    ("int16", None, TensorType.INT32),
    ("int16", None, TensorType.FLOAT32),
]


@pytest.mark.parametrize("case", INT_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2].name}")
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
@pytest.mark.parametrize("act", ACTS)
def test_fc_int_scalar(case: tuple[str, str | None, TensorType], per_channel: bool,
                       act: int) -> None:
    dtype, bias, bias_type = case
    model = fc_int("3d-keep", dtype, per_channel=per_channel, bias=bias, act=act,
                   bias_type=bias_type)
    x = inputs_for(model, 3)
    assert np.array_equal(batch_run(model, x), per_sample(scalar_fc_int, model, x))


@pytest.mark.parametrize("shape", SHAPES)
def test_fc_int_shapes_scalar(shape: str) -> None:
    model = fc_int(shape, per_channel=True)
    x = inputs_for(model, 2)
    assert np.array_equal(batch_run(model, x), per_sample(scalar_fc_int, model, x))


@pytest.mark.tflm
@pytest.mark.parametrize("case", INT_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2].name}")
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
@pytest.mark.parametrize("act", ACTS)
def test_fc_int_tflm(case: tuple[str, str | None, TensorType], per_channel: bool,
                     act: int) -> None:
    dtype, bias, bias_type = case
    model = fc_int("3d-keep", dtype, per_channel=per_channel, bias=bias, act=act,
                   bias_type=bias_type, seed=4)
    for x in inputs_for(model, 3, seed=5):
        assert_matches(model, [x])


@pytest.mark.tflm
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_fc_int_shapes_tflm(shape: str, dtype: str) -> None:
    model = fc_int(shape, dtype, bias="int32" if dtype == "int8" else "int64", seed=6)
    for x in inputs_for(model, 3, seed=7):
        assert_matches(model, [x])


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_fc_int_wrapping_bias_scalar(dtype: str) -> None:
    """Biases near the ends of the int32 range: the int32 sum wraps, as in TFLite Micro."""
    model = fc_int("2d", dtype, bias="int32", full_bias=True, units=64)
    x = inputs_for(model, 4)
    assert np.array_equal(batch_run(model, x), per_sample(scalar_fc_int, model, x))


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_fc_int_wrapping_bias_tflm(dtype: str) -> None:
    model = fc_int("2d", dtype, bias="int32", full_bias=True, units=64, seed=8)
    for x in inputs_for(model, 4, seed=9):
        assert_matches(model, [x])


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("out_scale", [None, 1e-5], ids=["below-one", "above-one"])
def test_fc_int8_rounding_scalar(rounding: str, out_scale: float | None) -> None:
    """Both roundings, with multipliers below and above one, on sums over the whole int32 range
    (TFLite's ``x * 2^shift`` wraps in int32)."""
    model = fc_int("2d", bias="int32", out_scale=out_scale, per_channel=out_scale is None, units=64,
                   full_bias=True)
    x = inputs_for(model, 4)
    ours = batch_run(model, x, rounding=rounding)
    assert np.array_equal(ours, per_sample(scalar_fc_int, model, x, rounding=rounding))


@pytest.mark.tflm
def test_fc_int8_multiplier_above_one_tflm() -> None:
    model = fc_int("2d", bias="int32", out_scale=1e-5, seed=10, full_bias=True, units=64)
    for x in inputs_for(model, 4, seed=11):
        assert_matches(model, [x])


def multiplier_model(per_channel: bool, units: int = 4096) -> tuple[Model, Array]:
    """16x8 with int32 biases (so full 31-bit multipliers) and depth 1: the biases set the
    sums, and a few thousand outputs near ±30000 show which multiplier was used."""
    rng = np.random.default_rng(22)
    sx, so = f32(0.0123457), f32(0.0123457 * 0.00312347 * 2**30 / 30000)
    sw = (rng.uniform(0.003, 0.0033, units) if per_channel else np.array([0.00312347])
          ).astype(f32)
    x = Tensor("x", (1, 1), "int16", quantization=Quantization(sx, 0))
    w = Tensor.constant("w", np.ones((units, 1), np.int8),
                        quantization=Quantization(sw, np.zeros(sw.size, np.int64)))
    b = Tensor.constant("b", rng.integers(-2**30, 2**30, units).astype(np.int32),
                        quantization=Quantization((sx * sw).astype(f32),
                                                  np.zeros(sw.size, np.int64)))
    y = Tensor("y", (1, units), "int16", quantization=Quantization(so, 0))
    model = single_op(Op.FULLY_CONNECTED, [x, w, b], [y], FullyConnectedOptions())
    return model, np.zeros((1, 1), np.int16)


@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
def test_fc_multiplier_formula_scalar(per_channel: bool) -> None:
    """double(s_x) * double(s_w) / double(s_out), per tensor and per channel, as TFLite Micro
    computes it; a float32 product of the scales would change some outputs of this model."""
    model, x = multiplier_model(per_channel)
    ours = run(model, [x])[0]
    assert np.array_equal(ours, scalar_fc_int(model, x))
    _, (_, wt, bt), yt = parts(model)
    sx, sw, so = float(scale_zero(model.main.inputs[0])[0]), wt.quantization.scale, float(
        scale_zero(yt)[0])
    other = [quantize_multiplier(float(f32(sx) * s) / so) for s in sw]
    flipped = [mbqm(int(bias), *other[c % len(other)]) for c, bias in enumerate(bt.data)]
    assert np.count_nonzero(ours[0] != np.array(flipped)) > 0


@pytest.mark.tflm
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
def test_fc_multiplier_formula_tflm(per_channel: bool) -> None:
    model, x = multiplier_model(per_channel)
    assert_matches(model, [x])


# -- hybrid FULLY_CONNECTED (LiteRT) -----------------------------------------------------------


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU6])
def test_fc_hybrid_scalar(asymmetric: bool, per_channel: bool, bias: bool, act: int) -> None:
    model = fc_hybrid(asymmetric=asymmetric, per_channel=per_channel, bias=bias, act=act)
    x = inputs_for(model, 3)
    assert np.array_equal(batch_run(model, x), per_sample(scalar_fc_hybrid, model, x))


@pytest.mark.litert
@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", ["2d", "3d-keep", "3d-flat"])
def test_fc_hybrid_litert(asymmetric: bool, per_channel: bool, bias: bool, act: int,
                          shape: str) -> None:
    model = fc_hybrid(shape, asymmetric=asymmetric, per_channel=per_channel, bias=bias,
                      act=act, seed=12)
    for x in inputs_for(model, 3, seed=13):
        assert_matches(model, [x], runtime="litert")


def awkward_rows(depth: int = 21) -> Array:
    """Rows whose quantized values land a float32 ulp below halves (in the vectorised lanes
    and in the tail), with ranges set so the scales are exact, and an all-zero row."""
    near = [1.5 - 2**-23, 0.5 - 2**-25, -(0.5 - 2**-25), 3.5 - 2**-22, 2.5, -2.5, 0.0]
    row = ([127.0] + near * 3)[:depth]
    skewed = [v * 0.37 - 11.0 for v in row]
    return np.array([row, skewed, [0.0] * depth], f32)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
def test_fc_hybrid_rounding_scalar(asymmetric: bool) -> None:
    model = fc_hybrid(asymmetric=asymmetric)
    x = awkward_rows().reshape(1, 3, 21)
    assert np.array_equal(batch_run(model, x), scalar_fc_hybrid(model, x))


@pytest.mark.litert
@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
def test_fc_hybrid_rounding_litert(asymmetric: bool) -> None:
    model = fc_hybrid(asymmetric=asymmetric, seed=14)
    assert_matches(model, [awkward_rows().reshape(1, 3, 21)], runtime="litert")


@pytest.mark.litert
@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
def test_fc_hybrid_many_rows_litert(asymmetric: bool) -> None:
    """Thousands of rows of various ranges and offsets, as one LiteRT invocation."""
    rng = np.random.default_rng(15)
    n, depth = 3000, 21
    model = fc_hybrid(asymmetric=asymmetric, per_channel=True, seed=15)
    _, (_, wt, bt), _ = parts(model)
    w = Tensor.constant("w", wt.data, quantization=wt.quantization.copy())
    b = Tensor.constant("b", bt.data)
    x, y = Tensor("rows", (n, depth), "float32"), Tensor("out", (n, 5), "float32")
    wide = single_op(Op.FULLY_CONNECTED, [x, w, b], [y],
                     FullyConnectedOptions(asymmetric_quantize_inputs=asymmetric))
    rows = (rng.standard_normal((n, depth)) * rng.uniform(0.01, 100, (n, 1))
            + rng.uniform(-3, 3, (n, 1))).astype(f32)
    assert_matches(wide, [rows], runtime="litert")
    ours = batch_run(model, rows.reshape(-1, 1, 3, depth))
    assert np.array_equal(ours.reshape(n, 5), run(wide, [rows])[0])


# -- batches, constant or computed weights -----------------------------------------------------

BATCH_MODELS = {
    "float": lambda: fc_float("3d-keep"),
    "int8-tensor": lambda: fc_int("3d-flat"),
    "int8-channel": lambda: fc_int("3d-keep", per_channel=True, act=Act.RELU),
    "int16-int64": lambda: fc_int("rows-of-depth", "int16", bias="int64"),
    "hybrid-asymmetric": lambda: fc_hybrid(asymmetric=True, per_channel=True),
    "hybrid-symmetric": lambda: fc_hybrid("3d-flat"),
}


@pytest.mark.parametrize("name", BATCH_MODELS)
def test_fc_batch_equals_single_runs(name: str) -> None:
    model = BATCH_MODELS[name]()
    x = inputs_for(model, 16, seed=16)
    batched = batch_run(model, x)
    assert batched.dtype == model.main.outputs[0].numpy_dtype
    singles = np.stack([run(model, [sample])[0] for sample in x])
    assert np.array_equal(batched, singles)


def test_fc_computed_weights_scalar() -> None:
    """Weights that are a graph input (so one matrix per sample)."""
    rng = np.random.default_rng(17)
    model = fc_int("3d-keep", per_channel=True, const_weights=False)
    x = inputs_for(model, 3)
    w = random_int(rng, (3, 5, 20), np.int8)
    expected = per_sample(lambda m, xs, ws: scalar_fc_int(m, xs, w=ws), model, x, w)
    assert np.array_equal(batch_run(model, x, w), expected)
    fmodel = fc_float("2d", const_weights=False)
    xf, wf = inputs_for(fmodel, 3), rng.standard_normal((3, 5, 20)).astype(f32)
    expected = per_sample(lambda m, xs, ws: scalar_fc_float(m, xs, w=ws), fmodel, xf, wf)
    np.testing.assert_array_equal(batch_run(fmodel, xf, wf), expected)


@pytest.mark.tflm
@pytest.mark.parametrize("kind", ["int8", "float"])
def test_fc_computed_weights_tflm(kind: str) -> None:
    rng = np.random.default_rng(18)
    if kind == "int8":
        model = fc_int("2d", const_weights=False, seed=18)
        w = random_int(rng, (3, 5, 20), np.int8)
    else:
        model = fc_float("2d", const_weights=False, seed=18)
        w = rng.standard_normal((3, 5, 20)).astype(f32)
    for x, ws in zip(inputs_for(model, 3), w, strict=True):
        assert_matches(model, [x, ws])


# -- BATCH_MATMUL ------------------------------------------------------------------------------

BMM_SHAPES = {  # (a, b, out) with adj_x = adj_y = False; the adjoints swap the last two axes
    "plain": ((2, 3, 6), (2, 6, 4), (2, 3, 4)),
    "b-2d": ((2, 3, 6), (6, 4), (2, 3, 4)),
    "a-2d": ((3, 6), (2, 6, 4), (2, 3, 4)),
    "broadcast": ((2, 1, 3, 6), (1, 2, 6, 4), (2, 2, 3, 4)),
    "rank-5": ((1, 2, 1, 3, 6), (2, 1, 2, 6, 4), (2, 2, 2, 3, 4)),
}


def bmm_case(shape: str, dtype: str, adj_x: bool, adj_y: bool, const_b: bool,
             seed: int = 0) -> tuple[Model, Array]:
    a, b, out = BMM_SHAPES[shape]
    if adj_x:
        a = (*a[:-2], a[-1], a[-2])
    if adj_y:
        b = (*b[:-2], b[-1], b[-2])
    return bmm(a, b, out, dtype, adj_x=adj_x, adj_y=adj_y, seed=seed, const_b=const_b)


ADJ = [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize("dtype", ["float32", "int8", "int16"])
@pytest.mark.parametrize("shape", BMM_SHAPES)
@pytest.mark.parametrize("adj", ADJ, ids=lambda a: f"x{int(a[0])}y{int(a[1])}")
@pytest.mark.parametrize("const_b", [False, True], ids=["b-input", "b-const"])
def test_bmm_scalar(dtype: str, shape: str, adj: tuple[bool, bool], const_b: bool) -> None:
    model, b = bmm_case(shape, dtype, *adj, const_b)
    a = inputs_for(model, 2)
    if const_b:
        ours = batch_run(model, a)
        expected = per_sample(scalar_bmm, model, a, np.stack([b, b]))
    else:
        bs = inputs_for(model, 2, seed=2, index=1)
        ours = batch_run(model, a, bs)
        expected = per_sample(scalar_bmm, model, a, bs)
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["float32", "int8", "int16"])
@pytest.mark.parametrize("shape", BMM_SHAPES)
@pytest.mark.parametrize("adj", ADJ, ids=lambda a: f"x{int(a[0])}y{int(a[1])}")
@pytest.mark.parametrize("const_b", [False, True], ids=["b-input", "b-const"])
def test_bmm_tflm(dtype: str, shape: str, adj: tuple[bool, bool], const_b: bool) -> None:
    model, _ = bmm_case(shape, dtype, *adj, const_b, seed=19)
    a = inputs_for(model, 2, seed=20)
    bs = None if const_b else inputs_for(model, 2, seed=21, index=1)
    for i in range(2):
        assert_matches(model, [a[i]] if bs is None else [a[i], bs[i]])


@pytest.mark.parametrize("dtype", ["float32", "int8", "int16"])
@pytest.mark.parametrize("const_b", [False, True], ids=["b-input", "b-const"])
def test_bmm_batch_equals_single_runs(dtype: str, const_b: bool) -> None:
    model, _ = bmm_case("broadcast", dtype, True, False, const_b)
    a = inputs_for(model, 8)
    inputs = [a] if const_b else [a, inputs_for(model, 8, seed=2, index=1)]
    batched = batch_run(model, *inputs)
    singles = np.stack([run(model, list(sample))[0] for sample in zip(*inputs, strict=True)])
    assert np.array_equal(batched, singles)


# -- refusals ----------------------------------------------------------------------------------


def refused(model: Model, reason: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=reason):
        Interpreter(model)


def test_fc_refusals() -> None:
    model = fc_int()
    model.main.operators[0].inputs[1].quantization = Quantization(0.01, 3)
    refused(model, "zero point other than 0")
    model = fc_int(bias="int64")
    refused(model, "expected INT32")
    model = fc_int()
    model.main.operators[0].inputs[2].quantization = Quantization(1.0, 0)
    refused(model, "bias scale")
    model = fc_int(per_channel=True)
    w = model.main.operators[0].inputs[1]
    w.quantization = Quantization(w.quantization.scale, np.zeros(5, np.int64),
                                  quantized_dimension=1)
    refused(model, "along dimension 1")
    model = fc_hybrid(act=Act.TANH)
    refused(model, "TANH")
    model = fc_int(act=Act.TANH)
    refused(model, "TANH")
    model = fc_float()
    model.main.operators[0].options = FullyConnectedOptions(
        weights_format=Format.SHUFFLED4x16INT8)
    refused(model, "weights format")


def test_bmm_refusals() -> None:
    model, _ = bmm((2, 3, 6), (6, 4), (2, 3, 4), "int16")
    model.main.operators[0].inputs[0].quantization = Quantization(0.1, 3)
    refused(model, "zero points of 0")
    model, _ = bmm((3, 6), (6, 4), (3, 4), "int8")
    model.main.operators[0].inputs[1].quantization = Quantization(
        np.array([0.1, 0.2, 0.3, 0.4], f32), np.zeros(4, np.int64), quantized_dimension=1)
    refused(model, "per channel")
    model, _ = bmm((1, 1, 1, 1, 2, 3, 6), (6, 4), (1, 1, 1, 1, 2, 3, 4), "float32")
    refused(model, "rank 7")
    model, _ = bmm((2, 3, 6), (3, 6, 4), (6, 3, 4), "float32")
    refused(model, "do not broadcast")

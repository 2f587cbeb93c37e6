"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV: bit-exact (floats too) with literal scalar
transcriptions of TFLite Micro's reference kernels (and of LiteRT's hybrid kernels), with TFLite
Micro itself and with LiteRT's reference kernels (float and hybrid kinds); batched runs equal
single runs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
from _scalar import activation_range, mbqm, mbqm_64, quantize_multiplier, round_away, wrap

from tflitekit import Model, Quantization, Tensor, UnsupportedOperatorError, load
from tflitekit.interpreter import Interpreter
from tflitekit.interpreter.fixedpoint import multiply_by_quantized_multiplier, quantize_multipliers
from tflitekit.interpreter.kernels._conv_stages import Fused, Real, Scaling, Scratch
from tflitekit.options import (
    ActivationFunctionType,
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    Padding,
    TensorType,
    TransposeConvOptions,
)

Array = np.ndarray
Act = ActivationFunctionType
CONV, DEPTHWISE, TRANSPOSE = (BuiltinOperator.CONV_2D, BuiltinOperator.DEPTHWISE_CONV_2D,
                              BuiltinOperator.TRANSPOSE_CONV)
QMIN = {"int8": -128, "int16": -32768}
QMAX = {"int8": 127, "int16": 32767}


# ------------------------------------------------------------------------------------------------
# Cases and their models
# ------------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One convolution: its operator, shapes, options and quantization."""

    op: BuiltinOperator
    x_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    cout: int
    dtype: str = "int8"  # the activations' type; "hybrid" = float32 activations, int8 weights
    padding: Padding = Padding.SAME
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    act: int = Act.NONE
    per_channel: bool = True
    bias: str | None = "int32"  # the bias type, or None for no bias
    multiplier: int = 1  # depthwise
    groups: int = 1  # conv
    quantized_bias_type: int = TensorType.FLOAT32
    in_q: tuple[float, int] = (0.05, 3)
    out_q: tuple[float, int] = (0.11, -7)
    seed: int = 0
    w: Array = field(init=False)
    b: Array | None = field(init=False)
    w_scales: Array = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        kh, kw = self.kernel
        cin = self.x_shape[3]
        if self.op == DEPTHWISE:
            self.cout = cin * self.multiplier
            shape: tuple[int, ...] = (1, kh, kw, self.cout)
        else:
            shape = (self.cout, kh, kw, cin // self.groups)
        floating = self.dtype == "float32"
        self.w = (rng.standard_normal(shape).astype(np.float32) if floating
                  else random_int(rng, shape, np.int8))
        if self.dtype == "hybrid":  # the converter's symmetric weights: LiteRT's x86 SIMD dot
            self.w = np.maximum(self.w, -127)  # product mishandles -128 times a negative input
        channels = self.cout if self.per_channel else 1
        self.w_scales = rng.uniform(0.002, 0.02, channels).astype(np.float32)
        big = {"int32": 40000, "int64": 1 << 40, "int16": 30000}
        if self.bias is None:
            self.b = None
        elif floating or self.dtype == "hybrid":
            self.b = rng.standard_normal(self.cout).astype(np.float32)
        else:
            self.b = rng.integers(-big[self.bias], big[self.bias], self.cout).astype(self.bias)

    @property
    def axis(self) -> int:
        return 3 if self.op == DEPTHWISE else 0

    @property
    def out_hw(self) -> tuple[int, int]:
        sizes = []
        for i in range(2):
            n, k, s, d = self.x_shape[1 + i], self.kernel[i], self.stride[i], self.dilation[i]
            if self.op == TRANSPOSE:  # TFLite's converter: the input's size times the stride
                sizes.append(n * s if self.padding == Padding.SAME else (n - 1) * s + k)
            elif self.padding == Padding.SAME:
                sizes.append(math.ceil(n / s))
            else:
                sizes.append((n - (k - 1) * d - 1) // s + 1)
        return sizes[0], sizes[1]

    @property
    def act_type(self) -> str:
        return "float32" if self.dtype in ("float32", "hybrid") else self.dtype

    def model(self) -> Model:
        floating = self.act_type == "float32"
        zero = 0 if self.dtype == "int16" else None
        x_q = None if floating else Quantization(self.in_q[0], self.in_q[1] if zero is None else 0)
        y_q = None if floating else Quantization(self.out_q[0],
                                                 self.out_q[1] if zero is None else 0)
        x = Tensor("x", self.x_shape, self.act_type, quantization=x_q)
        y = Tensor("y", (self.x_shape[0], *self.out_hw, self.cout), self.act_type, quantization=y_q)
        w_q = None
        if self.dtype != "float32":
            w_q = Quantization(self.w_scales, np.zeros(self.w_scales.size, np.int64),
                               quantized_dimension=self.axis)
        w = Tensor.constant("w", self.w, quantization=w_q)
        b = None
        if self.b is not None:
            b_q = None
            if not floating:
                scales = np.float32(self.in_q[0]) * self.w_scales
                b_q = Quantization(scales, np.zeros(scales.size, np.int64))
            b = Tensor.constant("b", self.b, quantization=b_q)
        common = dict(padding=self.padding, stride_h=self.stride[0], stride_w=self.stride[1],
                      fused_activation_function=self.act)
        if self.op == CONV:
            opts: Any = Conv2DOptions(**common, dilation_h_factor=self.dilation[0],
                                      dilation_w_factor=self.dilation[1],
                                      quantized_bias_type=self.quantized_bias_type)
            return single_op(CONV, [x, w] if b is None else [x, w, b], [y], opts)
        if self.op == DEPTHWISE:
            opts = DepthwiseConv2DOptions(**common, depth_multiplier=self.multiplier,
                                          dilation_h_factor=self.dilation[0],
                                          dilation_w_factor=self.dilation[1])
            return single_op(DEPTHWISE, [x, w] if b is None else [x, w, b], [y], opts)
        shape = Tensor.constant("shape", np.array(y.shape, np.int32))
        return single_op(TRANSPOSE, [shape, w, x, b], [y], TransposeConvOptions(**common))

    def inputs(self, rng: np.random.Generator, n: int | None = None) -> Array:
        shape = self.x_shape if n is None else (n, *self.x_shape)
        if self.act_type == "float32":
            return (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
        return random_int(rng, shape, self.dtype)


# ------------------------------------------------------------------------------------------------
# Scalar transcriptions
# ------------------------------------------------------------------------------------------------


def taps(case: Case, oy: int, ox: int) -> list[tuple[int, int, int, int]]:
    """(filter y, filter x, input y, input x) of every tap inside the image, in TFLite's order."""
    _, h, w, _ = case.x_shape
    pads = []
    for i, size in enumerate((h, w)):
        k, s, d = case.kernel[i], case.stride[i], case.dilation[i]
        out = case.out_hw[i]
        pads.append(max((out - 1) * s + (k - 1) * d + 1 - size, 0) // 2)
    found = []
    for fy in range(case.kernel[0]):
        for fx in range(case.kernel[1]):
            iy = oy * case.stride[0] - pads[0] + case.dilation[0] * fy
            ix = ox * case.stride[1] - pads[1] + case.dilation[1] * fx
            if 0 <= iy < h and 0 <= ix < w:
                found.append((fy, fx, iy, ix))
    return found


def accumulate(case: Case, x: Array, offset: Any, wrap32: bool,
               term: Callable[[int, int], Any] | None = None) -> dict[tuple[int, ...], Any]:
    """Σ filter * (input + offset) of every output element (batch, y, x, channel), as TFLite's
    loops add them (wrapping at 32 bits when ``wrap32``); floats in float32, in TFLite's order.
    ``term(channel, integer product)``: the float32 value added for each product instead."""
    floating = case.dtype == "float32"
    float_sums = floating or term is not None
    acc: dict[tuple[int, ...], Any] = {}

    def add(key: tuple[int, ...], value: Any) -> None:
        if term is not None:
            value = term(key[3], value)
        old = acc.get(key, np.float32(0) if float_sums else 0)
        acc[key] = (old + value if float_sums
                    else wrap(old + value, 32) if wrap32 else old + value)

    def xv(b: int, iy: int, ix: int, c: int) -> Any:
        value = x[b, iy, ix, c]
        return np.float32(value) if floating else int(value) + offset

    def wv(*index: int) -> Any:
        return np.float32(case.w[index]) if floating else int(case.w[index])

    batches, cin = case.x_shape[0], case.x_shape[3]
    oh, ow = case.out_hw
    if case.op == TRANSPOSE:  # every output starts at zero, reached or not
        acc.update(dict.fromkeys(itertools.product(range(batches), range(oh), range(ow),
                                                   range(case.cout)),
                                 np.float32(0) if float_sums else 0))
        pads = [max((math.ceil(o / s) - 1) * s + k - o, 0) // 2 if case.padding == Padding.SAME
                else max(((o - k + s) // s - 1) * s + k - o, 0) // 2
                for o, k, s in zip(case.out_hw, case.kernel, case.stride, strict=True)]
        for b, iy, ix, ic in itertools.product(range(batches), range(case.x_shape[1]),
                                               range(case.x_shape[2]), range(cin)):
            for fy, fx, oc in itertools.product(range(case.kernel[0]), range(case.kernel[1]),
                                                range(case.cout)):
                oy, ox = iy * case.stride[0] - pads[0] + fy, ix * case.stride[1] - pads[1] + fx
                if 0 <= oy < oh and 0 <= ox < ow:
                    add((b, oy, ox, oc), xv(b, iy, ix, ic) * wv(oc, fy, fx, ic))
        return acc
    for b, oy, ox in itertools.product(range(batches), range(oh), range(ow)):
        for oc in range(case.cout):
            acc[(b, oy, ox, oc)] = np.float32(0) if floating else 0
            for fy, fx, iy, ix in taps(case, oy, ox):
                if case.op == DEPTHWISE:
                    add((b, oy, ox, oc), xv(b, iy, ix, oc // case.multiplier) * wv(0, fy, fx, oc))
                    continue
                per = cin // case.groups
                group = oc // (case.cout // case.groups)
                for ic in range(per):
                    add((b, oy, ox, oc), xv(b, iy, ix, group * per + ic) * wv(oc, fy, fx, ic))
    return acc


def act_range(case: Case) -> tuple[Any, Any]:
    """CalculateActivationRange(Quantized)."""
    if case.act_type == "float32":  # float's finite range (infinities clamp to it)
        top = float(np.finfo(np.float32).max)
        return {Act.NONE: (-top, top), Act.RELU: (0.0, top),
                Act.RELU6: (0.0, 6.0), Act.RELU_N1_TO_1: (-1.0, 1.0)}[case.act]
    zero = case.out_q[1] if case.dtype == "int8" else 0
    return activation_range(case.act, case.out_q[0], zero, np.dtype(case.dtype))


def scalar(case: Case, x: Array, single: bool = False) -> Array:
    """The operator's output, one element at a time, as TFLite Micro's reference kernels (float
    and integer) or LiteRT's hybrid kernels compute it."""
    if case.dtype == "hybrid":
        return scalar_hybrid(case, x)
    y = np.zeros((case.x_shape[0], *case.out_hw, case.cout),
                 np.float32 if case.dtype == "float32" else case.dtype)
    lo, hi = act_range(case)
    if case.dtype == "float32":
        for key, total in accumulate(case, x, 0, False).items():
            value = total + (np.float32(case.b[key[3]]) if case.b is not None else np.float32(0))
            y[key] = min(max(value, np.float32(lo)), np.float32(hi))
        return y
    int8 = case.dtype == "int8"
    wide = not int8 and (case.bias in ("int64", "int16") or (
        case.bias is None and (case.op != CONV or case.quantized_bias_type != TensorType.INT32)))
    for key, acc in accumulate(case, x, -case.in_q[1] if int8 else 0, not wide).items():
        oc = key[3]
        if case.b is not None:
            acc = acc + int(case.b[oc]) if wide else wrap(acc + int(case.b[oc]), 32)
        scale = float(case.w_scales[oc if case.per_channel else 0])
        real = float(np.float32(case.in_q[0])) * scale / float(np.float32(case.out_q[0]))
        m, shift = quantize_multiplier(real, single)
        if wide:
            out = mbqm_64(acc, m, shift)
        else:
            out = mbqm(acc, m, shift, single) + (case.out_q[1] if int8 else 0)
        y[key] = min(max(out, lo), hi)
    return y


def x86_round(values: Array) -> list[int]:
    """LiteRT's quantizers' rounding on x86 (their NEON code through NEON_2_SSE), one value at
    a time: lanes of whole groups of 8 add ±0.5 in float32 and truncate (a value a float32 ulp
    below a half rounds up), the remaining values round halves away from zero."""
    flat = values.reshape(-1)
    vector = flat.size // 8 * 8
    return [int(np.trunc(v + (np.float32(-0.5) if v < 0 else np.float32(0.5)))) if i < vector
            else round_away(float(v)) for i, v in enumerate(flat)]


def asymmetric(values: Array) -> tuple[Array, float, int]:
    """LiteRT's AsymmetricQuantizeFloats of one sample as the ai-edge-litert 2.3 wheel runs it
    on x86: the range subtracted in float32, the scale and zero point in double, each value
    rounded (:func:`x86_round`), then offset by the zero point."""
    low, high = min(np.float32(0), values.min()), max(np.float32(0), values.max())
    rmin, rmax = float(low), float(high)
    if rmin == rmax:
        return np.zeros(values.shape, np.int64), 1.0, 0
    scale = float(np.float32(high - low)) / 255.0
    from_min, from_max = -128.0 - rmin / scale, 127.0 - rmax / scale
    zero_real = from_min if 128.0 + abs(rmin / scale) < 127.0 + abs(rmax / scale) else from_max
    zero = -128 if zero_real <= -128 else 127 if zero_real >= 127 else round_away(zero_real)
    factor = np.float32(scale)
    inverse = np.float32(1) / factor
    q = [min(127, max(-128, zero + r)) for r in x86_round(values * inverse)]
    return np.array(q).reshape(values.shape), float(factor), zero


def symmetric(values: Array) -> tuple[Array, float]:
    """LiteRT's SymmetricQuantizeFloats of one sample (on x86, see :func:`x86_round`)."""
    top = max(abs(values.min()), abs(values.max()))
    if top == 0:
        return np.zeros(values.shape, np.int64), 1.0
    factor, inverse = top / np.float32(127), np.float32(127) / top
    q = [min(127, max(-127, r)) for r in x86_round(values * inverse)]
    return np.array(q).reshape(values.shape), float(factor)


def scalar_hybrid(case: Case, x: Array) -> Array:
    """LiteRT's HybridConvPerChannel / HybridConv / DepthwiseConvHybridPerChannel /
    HybridTransposeConv (which scales and adds every product on its own)."""
    y = np.zeros((case.x_shape[0], *case.out_hw, case.cout), np.float32)
    lo, hi = act_range(case)
    per_channel = case.op != CONV or (case.per_channel and len(set(case.w_scales)) > 1)
    for b in range(case.x_shape[0]):
        if per_channel:
            q, factor, zero = asymmetric(x[b])
        else:
            q, factor = symmetric(x[b])
            zero = 0
        one = Case(case.op, (1, *case.x_shape[1:]), case.kernel, case.cout, "int8",
                   case.padding, case.stride, case.dilation, multiplier=case.multiplier)
        one.w = case.w

        def scale(oc: int) -> np.float32:
            return np.float32(case.w_scales[oc if case.per_channel else 0])

        def term(oc: int, product: int, factor: float = factor) -> np.float32:
            return np.float32(product) * scale(oc) * np.float32(factor)

        scatter = term if case.op == TRANSPOSE else None
        for (_, oy, ox, oc), acc in accumulate(one, q[None], -zero, False, scatter).items():
            if case.op == TRANSPOSE:
                value = acc
            elif case.op == DEPTHWISE or not per_channel:
                value = np.float32(acc) * (scale(oc) * np.float32(factor))
            else:
                value = np.float32(acc) * scale(oc) * np.float32(factor)
            if case.b is not None:
                value = value + case.b[oc]
            y[b, oy, ox, oc] = min(max(value, np.float32(lo)), np.float32(hi))
    return y


def check_scalar(case: Case, seed: int = 1, **kwargs: Any) -> None:
    x = case.inputs(np.random.default_rng(seed))
    (ours,) = run(case.model(), [x], **kwargs)
    expected = scalar(case, x, single=kwargs.get("rounding") == "single")
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    np.testing.assert_array_equal(ours, expected)  # floats too: bit-exact


# ------------------------------------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------------------------------------

GEOMETRY = [  # (padding, stride, dilation, kernel)
    (Padding.SAME, (1, 1), (1, 1), (3, 3)),
    (Padding.VALID, (1, 1), (1, 1), (3, 2)),
    (Padding.SAME, (2, 2), (1, 1), (3, 3)),
    (Padding.VALID, (2, 1), (1, 1), (2, 3)),
    (Padding.SAME, (1, 1), (2, 2), (3, 3)),
    (Padding.VALID, (1, 2), (2, 1), (2, 2)),
    (Padding.SAME, (1, 1), (1, 1), (1, 1)),
    (Padding.SAME, (2, 2), (1, 1), (1, 1)),
]


def geometry_cases(op: BuiltinOperator, dtype: str, **kw: Any) -> list[Case]:
    return [Case(op, (1, 7, 6, 4), k, 5, dtype, padding=p, stride=s, dilation=d, seed=i, **kw)
            for i, (p, s, d, k) in enumerate(GEOMETRY)]


def option_cases(op: BuiltinOperator, dtype: str) -> list[Case]:
    bias = {"int8": "int32", "int16": "int64"}.get(dtype, "float32")
    cases = [Case(op, (1, 6, 5, 3), (3, 3), 4, dtype, act=a, bias=bias, seed=10 + i)
             for i, a in enumerate((Act.RELU, Act.RELU6))]
    cases.append(Case(op, (1, 5, 5, 3), (2, 2), 4, dtype, bias=None, seed=20))
    if dtype != "float32":
        cases.append(Case(op, (1, 5, 6, 3), (3, 3), 4, dtype, per_channel=False, bias=bias,
                          seed=21))
    if op == DEPTHWISE:
        cases.append(Case(op, (1, 6, 6, 3), (3, 3), 0, dtype, multiplier=3, stride=(2, 2),
                          bias=bias, seed=22))
    if op == CONV:
        cases.append(Case(op, (1, 5, 5, 6), (3, 3), 4, dtype, groups=2, bias=bias, seed=23))
    return cases


def transpose_cases(dtype: str) -> list[Case]:
    bias = {"int8": "int32", "int16": "int64"}.get(dtype, "float32")
    # (LiteRT's hybrid kernel takes one filter scale for all channels, as "per-tensor")
    return [Case(TRANSPOSE, (1, 4, 3, 3), k, 4, dtype, padding=p, stride=s, act=a, bias=b,
                 per_channel=pc, seed=30 + i)
            for i, (p, s, k, a, b, pc) in enumerate([
                (Padding.SAME, (1, 1), (3, 3), Act.NONE, bias, True),
                (Padding.SAME, (2, 2), (3, 3), Act.RELU, bias, True),
                (Padding.VALID, (2, 2), (3, 2), Act.NONE, None, False),
                (Padding.VALID, (1, 2), (2, 2), Act.RELU6, bias, True),
                (Padding.SAME, (2, 1), (4, 4), Act.NONE, bias, False),
            ])]


INT16_CONV = [  # int16 conv: int64 / int32 / no bias (its accumulator from quantized_bias_type)
    Case(CONV, (1, 6, 5, 4), (3, 3), 4, "int16", bias="int64", seed=40),
    Case(CONV, (1, 6, 5, 4), (3, 3), 4, "int16", bias="int32", seed=41),
    Case(CONV, (1, 6, 5, 4), (3, 3), 4, "int16", bias=None, seed=42),
    Case(CONV, (1, 6, 5, 4), (3, 3), 4, "int16", bias=None, seed=43,
         quantized_bias_type=TensorType.INT32),
    # 3 * 3 * 64 taps of full-range int16 x int8 products overflow the int32 accumulator
    Case(CONV, (1, 4, 4, 64), (3, 3), 3, "int16", bias="int32", seed=44),
]

INT8_CASES = (geometry_cases(CONV, "int8") + option_cases(CONV, "int8")
              + geometry_cases(DEPTHWISE, "int8") + option_cases(DEPTHWISE, "int8")
              + transpose_cases("int8"))
INT16_CASES = (geometry_cases(CONV, "int16", bias="int64") + INT16_CONV
               + geometry_cases(DEPTHWISE, "int16", bias="int64") + option_cases(DEPTHWISE, "int16")
               + transpose_cases("int16")
               + [Case(TRANSPOSE, (1, 3, 3, 2), (3, 3), 3, "int16", bias="int16", seed=45)])
FLOAT_CASES = (geometry_cases(CONV, "float32", bias="float32")
               + option_cases(CONV, "float32")
               + geometry_cases(DEPTHWISE, "float32", bias="float32")
               + option_cases(DEPTHWISE, "float32") + transpose_cases("float32"))
HYBRID_CASES = (geometry_cases(CONV, "hybrid", bias="float32")
                + geometry_cases(DEPTHWISE, "hybrid", bias="float32")
                + [Case(CONV, (1, 5, 5, 3), (3, 3), 4, "hybrid", per_channel=False, bias="float32",
                        seed=50),
                   Case(CONV, (1, 5, 5, 3), (3, 3), 4, "hybrid", act=Act.RELU6,
                        bias="float32", seed=51),
                   Case(DEPTHWISE, (1, 5, 5, 3), (3, 3), 0, "hybrid", bias=None, seed=53),
                   Case(DEPTHWISE, (1, 5, 5, 2), (3, 3), 0, "hybrid", multiplier=2,
                        act=Act.RELU, bias="float32", seed=52)]
                + transpose_cases("hybrid"))
ALL_CASES = INT8_CASES + INT16_CASES + FLOAT_CASES + HYBRID_CASES


def name(case: Case) -> str:
    parts = [case.op.name.split("_")[0].lower(), case.dtype, case.padding.name.lower(),
             "s{}{}".format(*case.stride), "k{}{}".format(*case.kernel)]
    if case.dilation != (1, 1):
        parts.append("d{}{}".format(*case.dilation))
    if case.act != Act.NONE:
        parts.append(Act(case.act).name.lower())
    parts.append(f"bias-{case.bias}")
    if not case.per_channel:
        parts.append("per-tensor")
    if case.multiplier > 1:
        parts.append(f"dm{case.multiplier}")
    if case.groups > 1:
        parts.append(f"g{case.groups}")
    return "-".join(parts) + f"-{case.seed}"


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=name)
def test_matches_scalar_transcription(case: Case) -> None:
    check_scalar(case)


@pytest.mark.parametrize("case", [c for c in INT8_CASES if c.seed in (0, 2, 10, 21, 22, 31)],
                         ids=name)
def test_single_rounding_matches_scalar_transcription(case: Case) -> None:
    check_scalar(case, rounding="single")


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_fast_output_stages_equal_fixedpoint(rounding: str) -> None:
    """The kernels' restated output stages give fixedpoint's values: the in-place per-channel
    scaling (at the int32 edges, over random values, and for multipliers above one, whose left
    shifts wrap), and the fused stage (offset, scaling and zero point in one shift)."""
    rng = np.random.default_rng(12)
    reals = np.concatenate([rng.uniform(1e-6, 1, 20), [2.0**-31, 2.0**-40, 0.0, 0.5, 1 - 1e-9],
                            rng.uniform(1, 300, 6)])
    multiplier, shift = quantize_multipliers(reals, rounding)
    values = np.concatenate([[-(2**31), 2**31 - 1, -1, 0, 1, 2**30, -(2**30)],
                             rng.integers(-(2**31), 2**31, 3000),
                             rng.integers(-5000, 5000, 3000)])
    width = 2 * reals.size
    x = np.resize(values, (values.size // width + 1) * width).reshape(-1, width)
    tiled_m, tiled_s = np.tile(multiplier, 2), np.tile(shift, 2)
    expected = multiply_by_quantized_multiplier(x, tiled_m, tiled_s, rounding)
    got = Scaling.of(multiplier, shift, rounding, 2)(x.astype(np.int64).copy())
    np.testing.assert_array_equal(got, expected)

    # the fused stage takes channels that shift right (any distance), and no others
    assert Fused.of(np.zeros(1, np.int64), *quantize_multipliers([3.0], rounding), 0,
                    rounding, 1) is None
    small = reals < 1
    offset = rng.integers(-(2**20), 2**20, int(small.sum()))
    raw = np.resize(values // 2, (values.size // 10, int(small.sum()) * 2)) - np.tile(offset, 2)
    for zero in (0, -128, 127, 5):
        fused = Fused.of(offset, multiplier[small], shift[small], zero, rounding, 2)
        assert fused is not None
        expected = multiply_by_quantized_multiplier(
            raw + np.tile(offset, 2), np.tile(multiplier[small], 2), np.tile(shift[small], 2),
            rounding) + zero
        np.testing.assert_array_equal(fused(raw.astype(np.int64), Scratch()), expected)


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_float64_output_stage_equals_fixedpoint(rounding: str) -> None:
    """The float64 output stage of int8 outputs gives fixedpoint's values (+ zero point, clamped)
    for every sum up to the bound: per-channel multipliers whose integers stay below 2^53 (the
    direct form), small ones whose results step once over the bound (the step form), zero points
    folded or not (a channel shifting past 2^-22), clamps below the zero point (double
    rounding's sign fix-up) and at it; refused where a channel steps more than once."""
    rng = np.random.default_rng(21)
    bound = 1 << 16
    reals = np.concatenate([rng.uniform(2.0**-12, 1, 3), rng.uniform(1, 2, 4) * 2.0**-18,
                            [2.0**-10, 2.0**-18, 2.0**-30]])
    multiplier, shift = quantize_multipliers(reals, rounding)
    channels = reals.size
    offset = rng.integers(-(2**20), 2**20, channels)
    edges = np.array([-bound, -bound + 1, -1, 0, 1, bound - 1, bound])
    for dtype in (np.int32, np.float32, np.float64):
        sums = np.arange(-bound, bound + 1)[:, None] + np.zeros(2 * channels, np.int64)
        if dtype != np.int32:  # beyond float32's integers in the direct form: edges and random
            sums = np.concatenate([sums[::97], np.repeat(edges, 2 * channels).reshape(-1, 2 *
                                                                                  channels)])
        for zero, low in ((-128, -128), (-19, -128), (5, 5), (127, -128), (0, -128)):
            fused = Fused.of(offset, multiplier, shift, zero, rounding, 2, low)
            assert fused is not None
            real = Real.of(fused, np.full(channels, bound))
            assert real is not None
            expected = multiply_by_quantized_multiplier(
                sums + np.tile(offset, 2), np.tile(multiplier, 2), np.tile(shift, 2),
                rounding) + zero
            got = real(sums.astype(dtype), Scratch())
            np.testing.assert_array_equal(np.clip(got, low, 127), np.clip(expected, low, 127))
    # large sums in the direct form (up to 2^21 against multipliers near 2^31)
    wide = rng.integers(-(2**21), 2**21, (2000, 2 * 3))
    wide[:2] = [[-(2**21)] * 6, [2**21] * 6]
    fused = Fused.of(offset[:3], multiplier[:3], shift[:3], -128, rounding, 2, -128)
    assert fused is not None
    real = Real.of(fused, np.full(3, 2**21))
    assert real is not None
    expected = multiply_by_quantized_multiplier(wide + np.tile(offset[:3], 2),
                                                np.tile(multiplier[:3], 2), np.tile(shift[:3], 2),
                                                rounding) - 128
    np.testing.assert_array_equal(real(wide.astype(np.float64), Scratch()), expected)
    # refused: a channel past 2^53 whose result takes more than two values over the bound
    fused = Fused.of(offset[3:4], multiplier[3:4], shift[3:4], -128, rounding, 1, -128)
    assert fused is not None
    assert Real.of(fused, np.array([1 << 20])) is None


def test_zero_and_constant_hybrid_inputs() -> None:
    """Samples of zeros (LiteRT's scale 1, zero point 0) and all-positive samples."""
    for op in (CONV, DEPTHWISE):
        case = Case(op, (1, 4, 4, 2), (3, 3), 2, "hybrid", bias="float32")
        (ours,) = run(case.model(), [np.stack([np.zeros(case.x_shape, np.float32),
                                               np.full(case.x_shape, 3.5, np.float32)])])
        for i, x in enumerate((np.zeros(case.x_shape, np.float32),
                               np.full(case.x_shape, 3.5, np.float32))):
            np.testing.assert_array_equal(ours[i], scalar(case, x))


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.seed in (0, 2, 10, 22, 23, 30, 44)],
                         ids=name)
def test_batched_equals_single_runs(case: Case) -> None:
    x = case.inputs(np.random.default_rng(5), 4)
    (batched,) = assert_batch_equals_single_runs(case.model(), [x])
    assert batched.shape == (4, case.x_shape[0], *case.out_hw, case.cout)


CHUNKED = [Case(CONV, (1, 32, 32, 8), (3, 3), 16, "int8", seed=3),
           Case(CONV, (1, 32, 32, 8), (3, 3), 16, "float32", bias="float32", seed=3),
           Case(DEPTHWISE, (1, 32, 32, 8), (3, 3), 0, "float32", bias="float32", seed=3),
           Case(TRANSPOSE, (1, 16, 16, 8), (3, 3), 8, "float32", bias="float32", stride=(2, 2),
                seed=3),
           Case(TRANSPOSE, (1, 16, 16, 8), (3, 3), 8, "hybrid", bias="float32", seed=3)]


@pytest.mark.parametrize("case", CHUNKED, ids=name)
def test_chunked_batches_equal_single_runs(case: Case) -> None:
    """A batch large enough to run in several chunks gives what single runs give."""
    x = case.inputs(np.random.default_rng(6), 64)
    (batched,) = run(case.model(), [x])
    for i in (0, 31, 63):
        np.testing.assert_array_equal(batched[i], run(case.model(), [x[i]])[0])


@pytest.mark.tflm
@pytest.mark.parametrize("case", INT8_CASES + INT16_CASES + FLOAT_CASES, ids=name)
def test_matches_tflm(case: Case) -> None:
    rng = np.random.default_rng(7)
    for _ in range(3):
        assert_matches(case.model(), [case.inputs(rng)], "tflm")


@pytest.mark.litert
@pytest.mark.parametrize("case", [c for c in FLOAT_CASES if c.b is not None or c.op != CONV],
                         ids=name)  # LiteRT's CONV_2D requires a bias
def test_float_matches_litert(case: Case) -> None:
    """LiteRT's reference kernels: the same float loops as TFLite Micro's, bit for bit."""
    rng = np.random.default_rng(17)
    for _ in range(3):
        assert_matches(case.model(), [case.inputs(rng)], "litert")


def special_cases() -> list[Case]:
    """Float cases whose filters hold an infinity, a NaN and negative zeros, in taps that fall
    on the padding for some outputs (the reference kernels skip those taps, so no NaN)."""
    cases = [Case(CONV, (1, 5, 4, 2), (3, 3), 3, "float32", bias=None, seed=60),
             Case(DEPTHWISE, (1, 5, 4, 2), (3, 3), 0, "float32", bias="float32", multiplier=2,
                  seed=61),
             Case(TRANSPOSE, (1, 3, 3, 2), (3, 3), 2, "float32", bias=None, stride=(2, 2),
                  seed=62)]
    for case in cases:
        case.w[0, 0, 0, 0] = np.inf
        case.w[-1, -1, -1, -1] = np.nan
        case.w[:, 1] = -0.0
    return cases


def special_inputs(case: Case) -> Array:
    """Ordinary values, an infinite one, and zeros of both signs (whole rows)."""
    x = case.inputs(np.random.default_rng(18), 4)
    x[1, 0, 1, 1, 0] = -np.inf
    x[2] = -0.0
    x[3, :, :2] = 0.0
    x[3, :, 2:] = -0.0
    return x


@pytest.mark.filterwarnings("ignore:invalid value")
@pytest.mark.parametrize("case", special_cases(), ids=name)
def test_special_values_match_scalar_transcription(case: Case) -> None:
    """Infinities, NaNs and signed zeros come out as the reference's loops make them (the
    sign of zero too)."""
    x = special_inputs(case)
    (ours,) = run(case.model(), [x])
    for i in range(x.shape[0]):
        expected = scalar(case, x[i])
        np.testing.assert_array_equal(ours[i], expected)
        numbers = ~np.isnan(expected)  # (a NaN's sign is the machine's)
        np.testing.assert_array_equal(np.signbit(ours[i][numbers]), np.signbit(expected[numbers]))


@pytest.mark.tflm
@pytest.mark.parametrize("case", special_cases(), ids=name)
def test_special_values_match_tflm(case: Case) -> None:
    x = special_inputs(case)
    for i in range(x.shape[0]):
        assert_matches(case.model(), [x[i]], "tflm")


@pytest.mark.litert
@pytest.mark.parametrize("case", HYBRID_CASES, ids=name)
def test_hybrid_matches_litert(case: Case) -> None:
    rng = np.random.default_rng(8)
    for _ in range(3):
        assert_matches(case.model(), [case.inputs(rng)], "litert")


TIE_CASES = [Case(DEPTHWISE, (1, 3, 5, 2), (1, 1), 0, "hybrid", bias="float32", seed=70),
             Case(CONV, (1, 3, 5, 2), (1, 1), 3, "hybrid", per_channel=False, bias="float32",
                  seed=71),
             Case(CONV, (1, 3, 5, 2), (3, 3), 3, "hybrid", bias="float32", seed=72),
             Case(TRANSPOSE, (1, 3, 5, 2), (3, 3), 3, "hybrid", bias=None, seed=73)]


def tie_inputs(case: Case) -> Array:
    """Samples whose values land on halves, and a float32 ulp below them, once scaled by the
    quantizer (scales of 1/64, so the products are exact): in the lanes of whole groups of 8
    and in the remaining 6 of the 30 values. Symmetric samples take negative values too."""
    signed = case.op == CONV and not case.per_channel
    halves = np.array([(m + 0.5) / 64 for m in range(4)], np.float32)
    below = np.nextafter(halves, np.float32(0))
    samples = []
    for order in range(3):
        values = np.resize(np.roll(np.concatenate([below, halves]), order), 30)
        if signed:
            values[1::3] *= -1
            values[0] = 127 / 64  # the largest magnitude: scale 1/64
        else:
            values[0] = 255 / 64  # the range [0, 255/64]: scale 1/64, zero point -128
        samples.append(values.reshape(case.x_shape))
    return np.stack(samples).astype(np.float32)


@pytest.mark.parametrize("case", TIE_CASES, ids=name)
def test_hybrid_rounding_ties_match_scalar_transcription(case: Case) -> None:
    x = tie_inputs(case)
    (ours,) = run(case.model(), [x])
    for i in range(x.shape[0]):
        np.testing.assert_array_equal(ours[i], scalar(case, x[i]))


@pytest.mark.litert
@pytest.mark.parametrize("case", TIE_CASES, ids=name)
def test_hybrid_rounding_ties_match_litert(case: Case) -> None:
    """LiteRT rounds ``x * inverse`` first, then adds the zero point, and its vector lanes
    round a value a ulp below a half up."""
    for x in tie_inputs(case):
        assert_matches(case.model(), [x], "litert")


@pytest.mark.litert
def test_hybrid_batch_of_the_model_is_quantized_per_sample() -> None:
    """A model batch of 3: LiteRT quantizes each of its rows on its own, as we do."""
    for op in (CONV, DEPTHWISE):
        case = Case(op, (3, 5, 4, 2), (3, 3), 3, "hybrid", bias="float32", seed=9)
        x = case.inputs(np.random.default_rng(9))
        x[1] *= 20
        assert_matches(case.model(), [x], "litert")


def float16_model(case: Case) -> Model:
    """``case`` (float32) with its filter and bias stored as float16 and widened by DEQUANTIZE
    operators: filters that arrive with each run rather than as constants."""
    model = case.model()
    graph = model.main
    op = graph.operators[0]
    for index in (1, 2, 3):
        t = op.inputs[index] if index < len(op.inputs) else None
        if t is None or not t.is_constant or t.dtype != TensorType.FLOAT32 or t.name == "shape":
            continue
        half = Tensor.constant(f"{t.name}/f16", t.data.reshape(t.shape).astype(np.float16))
        wide = Tensor(f"{t.name}/f32", t.shape, "float32")
        graph.add_operator(BuiltinOperator.DEQUANTIZE, [half], [wide], before=op)
        op.set_input(index, wide)
    return model


FLOAT16_CASES = [c for c in FLOAT_CASES if c.seed in (0, 2, 10, 20, 22, 31)]


@pytest.mark.parametrize("case", FLOAT16_CASES, ids=name)
def test_float16_filters_through_dequantize(case: Case) -> None:
    case.w = case.w.astype(np.float16).astype(np.float32)
    if case.b is not None:
        case.b = case.b.astype(np.float16).astype(np.float32)
    x = case.inputs(np.random.default_rng(13), 3)
    (ours,) = run(float16_model(case), [x])
    for i in range(3):
        np.testing.assert_array_equal(ours[i], scalar(case, x[i]))


@pytest.mark.litert
@pytest.mark.parametrize("case", [c for c in FLOAT16_CASES if c.b is not None or c.op != CONV],
                         ids=name)  # LiteRT's CONV_2D requires a bias
def test_float16_filters_match_litert(case: Case) -> None:
    assert_matches(float16_model(case), [case.inputs(np.random.default_rng(14))], "litert")


def refuses(case: Case, why: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=why):
        Interpreter(case.model())


def test_refusals() -> None:
    depthwise = Case(DEPTHWISE, (1, 4, 4, 2), (3, 3), 0, "int16", bias="int32")
    refuses(depthwise, "INT32, expected INT64")
    transpose = Case(TRANSPOSE, (1, 3, 3, 2), (3, 3), 2, "int16", bias="int32")
    refuses(transpose, "expected INT16, INT64")
    refuses(Case(CONV, (1, 3, 3, 2), (3, 3), 2, "hybrid", bias=None), "needs a bias")
    refuses(Case(DEPTHWISE, (1, 3, 3, 2), (3, 3), 0, "hybrid", per_channel=False),
            "one filter scale per output channel")
    refuses(Case(CONV, (1, 3, 3, 4), (3, 3), 2, "hybrid", groups=2, per_channel=False),
            "one filter scale per output channel")
    wrong = Case(DEPTHWISE, (1, 4, 4, 2), (3, 3), 0, "int8", multiplier=2)
    model = wrong.model()
    model.main.operators[0].options.depth_multiplier = 3
    with pytest.raises(UnsupportedOperatorError, match="depth multiplier 3"):
        Interpreter(model)
    strided = Case(CONV, (1, 4, 4, 2), (3, 3), 2)
    model = strided.model()
    model.main.operators[0].options.stride_w = 0
    with pytest.raises(UnsupportedOperatorError, match="must be positive"):
        Interpreter(model)


# ------------------------------------------------------------------------------------------------
# Real layers
# ------------------------------------------------------------------------------------------------

CORPUS = Path.home() / ".cache" / "tflitekit" / "corpus" / "models"
CORPUS_MODELS = ["visual_wake_words", "keyword_spotting_on_off_v3",
                 "keyword_spotting_on_off_v3.float32", "tflite_micro_speech",
                 "keyword_spotting_mobilenetv2"]


def corpus_layers(stem: str) -> list[Model]:
    """Every convolution of a corpus model as a model of its own (same tensors and options)."""
    path = CORPUS / f"{stem}.tflite"
    if not path.exists():
        pytest.skip(f"{path} is missing (scripts/fetch_corpus.py)")
    source = load(path)
    layers = []
    for op in source.main.operators:
        if op.type not in (CONV, DEPTHWISE, TRANSPOSE):
            continue

        def copy(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            if t.is_constant:
                return Tensor.constant(t.name, t.data.reshape(t.shape),
                                       quantization=t.quantization)
            return Tensor(t.name, t.shape, t.dtype, quantization=t.quantization)

        layers.append(single_op(op.type, [copy(t) for t in op.inputs],
                                [copy(t) for t in op.outputs], op.options))
    return layers


@pytest.mark.corpus
@pytest.mark.tflm
@pytest.mark.parametrize("stem", CORPUS_MODELS)
def test_corpus_layers_match_tflm(stem: str) -> None:
    rng = np.random.default_rng(11)
    for model in corpus_layers(stem):
        x = model.main.inputs[0]
        shape = (4, *x.shape)
        inputs = (rng.standard_normal(shape).astype(np.float32) if x.numpy_dtype == np.float32
                  else random_int(rng, shape, x.numpy_dtype))
        (ours,) = run(model, [inputs])
        for i in range(shape[0]):
            (theirs,) = oracle(model, [inputs[i]], "tflm")
            np.testing.assert_array_equal(ours[i], theirs)

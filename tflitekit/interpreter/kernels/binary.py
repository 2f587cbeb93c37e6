"""Element-wise binary operators: ADD, SUB, MUL, MAXIMUM, MINIMUM, PRELU.

TFLite Micro's reference kernels (``add.cc``, ``sub.cc``, ``mul.cc``, ``maximum_minimum.cc``,
``prelu.cc``), with numpy broadcasting over the per-sample shapes: ``prepare`` checks that the
two shapes broadcast to the output's, and ``run`` aligns their ranks by inserting size-1 axes
right after the batch axis, so a batched ``(N, *s1)`` meets an unbatched ``(1, *s2)`` exactly as
``s1`` meets ``s2``.

Quantized ADD / SUB (int8, int16) rescale both inputs to a common scale, ``(x - zp) << 20``
(``<< 15`` for int16) times ``s / (2 max(s1, s2))``, add, and rescale the sum to the output:
three multipliers below one, computed in double, which TFLite Micro aborts on otherwise
(refused here). (tflite-micro's ``sub_common.cc`` of August 2026 computes SUB's in float32;
the released runtime, our oracle, computes them in double as for ADD.) Quantized MUL
multiplies the offset inputs and rescales by ``s1 s2 / s_out`` (an input scale of 0, which
the converter gives an all-zero tensor, makes the multiplier 0 and every result the output's
zero point, clamped); PRELU rescales ``x - zp`` by ``s_in / s_out`` where it is
non-negative and ``(x - zp)(alpha - zp_alpha)`` by ``s_in s_alpha / s_out`` elsewhere.
Plain int32 arithmetic wraps as two's complement, as TFLite Micro's code does in practice
(its ADD and SUB overflow is undefined behaviour in C++, its MUL wraps by definition).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from ...options import (
    ActivationFunctionType,
    AddOptions,
    BuiltinOperator,
    MulOptions,
    SubOptions,
    TensorType,
)
from .. import fixedpoint as fp
from ..kernel import (
    Kernel,
    Registry,
    activation_range,
    expect_arity,
    expect_types,
    float_activation,
    options,
    unsupported,
)
from ..node import Array, Node, Operand, Rounding

__all__ = ["KERNELS"]

Op = BuiltinOperator
T = TensorType

MAX_RANK = 8
"""The largest rank TFLite Micro's broadcasting loop handles (``BroadcastBinaryOpSimple``)."""

Apply = Callable[[Array, Array], Array]


@dataclass(frozen=True)
class _Params:
    """What ``run`` needs: the per-sample rank both inputs are aligned to, the output dtype and
    the element-wise function of the two aligned arrays; for two int8 inputs, its table of all
    65,536 results instead, indexed by ``(a as uint8) << 8 | (b as uint8)``."""

    rank: int
    dtype: np.dtype[np.generic]
    apply: Apply
    table: Array | None


def _run(params: _Params, arrays: Sequence[Array | None]) -> list[Array]:
    a, b = arrays
    assert a is not None and b is not None
    a, b = _align(a, params.rank), _align(b, params.rank)
    if params.table is not None:
        return [params.table[(a.view(np.uint8).astype(np.uint16) << 8) | b.view(np.uint8)]]
    return [params.apply(a, b).astype(params.dtype, copy=False)]


def _align(x: Array, rank: int) -> Array:
    """``(B, *s)`` as ``(B, 1, ..., 1, *s)`` with ``rank`` axes after the batch axis."""
    missing = rank - (x.ndim - 1)
    return x.reshape(x.shape[0], *(1,) * missing, *x.shape[1:]) if missing else x


# -- checks shared by every operator ----------------------------------------------------------


def _operands(node: Node) -> tuple[Operand, Operand, Operand, int]:
    """The two inputs and the output, after checking their count and that the inputs' shapes
    broadcast to the output's; also the rank to align the inputs to."""
    expect_arity(node, 2)
    a, b, out = node.input(0), node.input(1), node.outputs[0]
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        unsupported(node, f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
    if shape != out.shape:
        unsupported(node, f"shapes {list(a.shape)} and {list(b.shape)} broadcast to "
                          f"{list(shape)}, but the output is {list(out.shape)}")
    if len(shape) > MAX_RANK:
        unsupported(node, f"rank {len(shape)} (at most {MAX_RANK})")
    return a, b, out, len(shape)


def _same_types(node: Node, *operands: Operand) -> TensorType:
    """The type all ``operands`` share (refused when they differ)."""
    types = {o.type for o in operands}
    if len(types) != 1:
        unsupported(node, "operands of types " + ", ".join(o.type_name for o in operands)
                    + " (expected one type)")
    return operands[0].type


def _per_tensor(node: Node, *operands: Operand, zero_scale: bool = False) -> None:
    """Refuse unless every operand is quantized with one scale and zero point, the scale
    positive (or zero, when ``zero_scale``)."""
    for o in operands:
        if o.scale is None or o.scale.size != 1:
            unsupported(node, f"{o.name!r} is not quantized per tensor")
        if not (o.scale_value > 0.0 or (zero_scale and o.scale_value == 0.0)):
            unsupported(node, f"{o.name!r} has scale {o.scale_value}")


def _not_quantized(node: Node, *operands: Operand) -> None:
    for o in operands:
        if o.quantized:
            unsupported(node, f"{o.name!r} is a quantized {o.type_name} (TFLite Micro "
                              "implements only plain arithmetic for this type)")


def _int32_bounds(node: Node, activation: int) -> tuple[int, int]:
    """CalculateActivationRange for int32: the activation's interval within int32."""
    lo, hi = float_activation(node, activation)
    return (fp.INT32_MIN if lo == -np.inf else int(lo)), (fp.INT32_MAX if hi == np.inf else int(hi))


def _params(node: Node, rank: int, apply: Apply) -> _Params:
    a, b, out = node.input(0), node.input(1), node.outputs[0]
    assert out.dtype is not None
    table = None
    if a.type == b.type == T.INT8:
        byte = np.arange(256, dtype=np.uint8).view(np.int8)
        table = apply(byte[:, None], byte[None, :]).astype(out.dtype).reshape(-1)
    return _Params(rank, out.dtype, apply, table)


# -- ADD and SUB ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rescale:
    """Quantized ADD / SUB: every value of each input's type rescaled to the common scale
    (``scaled[i][x - low]``), the output's multiplier, shift and zero point, its clamp range
    and the rounding."""

    scaled: tuple[Array, Array]
    low: int
    out_multiplier: int
    out_shift: int
    out_zero: int
    lo: int
    hi: int
    rounding: Rounding


def _smaller_than_one(node: Node, real: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp, which aborts outside (0, 1) or on a positive
    shift."""
    if not 0.0 < real < 1.0:
        unsupported(node, f"the {what} multiplier {real!r} is not in (0, 1)")
    multiplier, shift = fp.quantize_multiplier(real, node.rounding)
    if shift > 0:
        unsupported(node, f"the {what} multiplier {real!r} rounds up to 1")
    return multiplier, shift


def _rescale(node: Node, a: Operand, b: Operand, out: Operand, activation: int) -> _Rescale:
    left_shift = 15 if out.type == T.INT16 else 20
    s1, s2, so = a.scale_value, b.scale_value, out.scale_value
    twice = 2.0 * max(s1, s2)
    m1, m2, mo = (_smaller_than_one(node, real, what) for real, what in (
        (s1 / twice, "first input"), (s2 / twice, "second input"),
        (twice / ((1 << left_shift) * so), "output")))
    info = np.iinfo(out.dtype)
    values = np.arange(int(info.min), int(info.max) + 1, dtype=np.int64)
    scaled = tuple(fp.multiply_by_quantized_multiplier((values - o.zero_value) << left_shift,
                                                       *m, node.rounding)
                   for o, m in ((a, m1), (b, m2)))
    lo, hi = activation_range(node, activation, out)
    return _Rescale((scaled[0], scaled[1]), int(info.min), *mo, out.zero_value, lo, hi,
                    node.rounding)


def _quantized_add_sub(p: _Rescale, sign: int, a: Array, b: Array) -> Array:
    raw = p.scaled[0][a.astype(np.intp) - p.low] + sign * p.scaled[1][b.astype(np.intp) - p.low]
    out = fp.multiply_by_quantized_multiplier(raw, p.out_multiplier, p.out_shift, p.rounding)
    return np.clip(out + p.out_zero, p.lo, p.hi)


def _float(function: Apply, lo: float, hi: float, a: Array, b: Array) -> Array:
    return np.clip(function(a, b), np.float32(lo), np.float32(hi))


def _int32(function: Apply, lo: int, hi: int, a: Array, b: Array) -> Array:
    with np.errstate(over="ignore"):
        result = function(a, b)  # int32 arithmetic wraps
    return result if (lo, hi) == (fp.INT32_MIN, fp.INT32_MAX) else np.clip(result, lo, hi)


def _prepare_add_sub(node: Node) -> _Params:
    a, b, out, rank = _operands(node)
    activation = (options(node, AddOptions).fused_activation_function if node.opcode == Op.ADD
                  else options(node, SubOptions).fused_activation_function)
    expect_types(node, out, T.FLOAT32, T.INT8, T.INT16, T.INT32)
    dtype = _same_types(node, a, b, out)
    sign = 1 if node.opcode == Op.ADD else -1
    function: Apply = np.add if sign > 0 else np.subtract
    if dtype == T.FLOAT32:
        return _params(node, rank, partial(_float, function,
                                                *float_activation(node, activation)))
    if dtype == T.INT32:
        _not_quantized(node, a, b, *(() if node.opcode == Op.ADD else (out,)))  # as TFLM
        if node.opcode == Op.ADD and activation != ActivationFunctionType.NONE:
            unsupported(node, f"fused {ActivationFunctionType(activation).name} on int32 ADD "
                              "(TFLite Micro ignores it, LiteRT applies it)")
        return _params(node, rank, partial(_int32, function,
                                                *_int32_bounds(node, activation)))
    _per_tensor(node, a, b, out)
    return _params(node, rank, partial(_quantized_add_sub,
                                            _rescale(node, a, b, out, activation), sign))


# -- MUL --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MulRescale:
    offsets: tuple[int, int]
    multiplier: int
    shift: int
    out_zero: int
    lo: int
    hi: int
    rounding: Rounding


def _quantized_mul(p: _MulRescale, a: Array, b: Array) -> Array:
    product = (a.astype(np.int64) + p.offsets[0]) * (b.astype(np.int64) + p.offsets[1])
    out = fp.multiply_by_quantized_multiplier(product, p.multiplier, p.shift, p.rounding)
    return np.clip(out + p.out_zero, p.lo, p.hi)


def _prepare_mul(node: Node) -> _Params:
    a, b, out, rank = _operands(node)
    activation = options(node, MulOptions).fused_activation_function
    expect_types(node, out, T.FLOAT32, T.INT8, T.INT16, T.INT32)
    dtype = _same_types(node, a, b, out)
    if dtype == T.FLOAT32:
        return _params(node, rank, partial(_float, np.multiply,
                                                *float_activation(node, activation)))
    if dtype == T.INT32:  # TFLite Micro ignores an int32 MUL's quantization: so do we
        return _params(node, rank, partial(_int32, np.multiply,
                                                *_int32_bounds(node, activation)))
    _per_tensor(node, a, b, zero_scale=True)  # multiplier 0: every result is the zero point
    _per_tensor(node, out)
    if dtype == T.INT16 and any(o.zero_value for o in (a, b, out)):
        unsupported(node, "int16 MUL with a nonzero zero point")
    multiplier, shift = fp.quantize_multiplier(
        float(a.scale_value) * float(b.scale_value) / float(out.scale_value), node.rounding)
    lo, hi = activation_range(node, activation, out)
    p = _MulRescale((-a.zero_value, -b.zero_value), multiplier, shift, out.zero_value, lo, hi,
                    node.rounding)
    return _params(node, rank, partial(_quantized_mul, p))


# -- MAXIMUM and MINIMUM ----------------------------------------------------------------------


def _maximum(a: Array, b: Array) -> Array:
    return np.where(a > b, a, b)  # ``a > b ? a : b``: a NaN in b wins, a NaN in a loses


def _minimum(a: Array, b: Array) -> Array:
    return np.where(a < b, a, b)


def _prepare_max_min(node: Node) -> _Params:
    a, b, out, rank = _operands(node)
    expect_types(node, out, T.FLOAT32, T.INT8, T.INT16, T.INT32, T.INT64)
    _same_types(node, a, b, out)  # raw values are compared: no requantization
    return _params(node, rank, _maximum if node.opcode == Op.MAXIMUM else _minimum)


# -- PRELU ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PreluRescale:
    input_offset: int
    alpha_offset: int
    positive: tuple[int, int]
    negative: tuple[int, int]
    out_zero: int
    lo: int
    hi: int
    rounding: Rounding


def _quantized_prelu(p: _PreluRescale, x: Array, alpha: Array) -> Array:
    value = x.astype(np.int64) + p.input_offset
    positive = fp.multiply_by_quantized_multiplier(value, *p.positive, p.rounding)
    negative = fp.multiply_by_quantized_multiplier(
        value * (alpha.astype(np.int64) + p.alpha_offset), *p.negative, p.rounding)
    result: Array = np.clip(np.where(value >= 0, positive, negative) + p.out_zero, p.lo, p.hi)
    return result


def _float_prelu(x: Array, alpha: Array) -> Array:
    return np.where(x >= 0, x, x * alpha)


def _prepare_prelu(node: Node) -> _Params:
    x, alpha, out, rank = _operands(node)
    expect_types(node, out, T.FLOAT32, T.INT8, T.INT16)
    if out.type == T.FLOAT32 and rank > 4:
        unsupported(node, f"float32 PRELU of rank {rank} (at most 4)")
    _same_types(node, x, out)
    expect_types(node, alpha, T.INT8 if out.type == T.INT16 else out.type)
    if out.type == T.FLOAT32:
        return _params(node, rank, _float_prelu)
    _per_tensor(node, x, alpha, out)
    sx, sa, so = float(x.scale_value), float(alpha.scale_value), float(out.scale_value)
    info = np.iinfo(out.dtype)
    p = _PreluRescale(-x.zero_value, -alpha.zero_value,
                      fp.quantize_multiplier(sx / so, node.rounding),
                      fp.quantize_multiplier(sx * sa / so, node.rounding),
                      out.zero_value, int(info.min), int(info.max), node.rounding)
    return _params(node, rank, partial(_quantized_prelu, p))


KERNELS: Registry = {
    Op.ADD: Kernel(_prepare_add_sub, _run),
    Op.SUB: Kernel(_prepare_add_sub, _run),
    Op.MUL: Kernel(_prepare_mul, _run),
    Op.MAXIMUM: Kernel(_prepare_max_min, _run),
    Op.MINIMUM: Kernel(_prepare_max_min, _run),
    Op.PRELU: Kernel(_prepare_prelu, _run),
}

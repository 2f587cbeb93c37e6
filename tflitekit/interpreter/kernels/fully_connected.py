"""FULLY_CONNECTED and BATCH_MATMUL.

TFLite Micro's reference kernels (``fully_connected.cc``, ``batch_matmul.cc`` and the
``reference/fully_connected.h``, ``reference/batch_matmul.h`` loops they call):

- float32: for every output, ``total = 0`` plus each product in turn along the depth, in
  float32 (two roundings a step: x86 builds do not fuse them), then ``total + bias`` (0 without
  one), clamped to the fused activation's range (``min(max(v, lo), hi)``, NaN passing through).
  BATCH_MATMUL sums the same way, with no bias or activation. Taken as TFLite takes them, the
  sums are bit-exact, and the same whatever the batch.
- int8, and int16 activations with int8 weights ("16x8"): ``acc = Σ w (x - zp_x) + bias`` in
  the bias type's width (int32 wraps as two's complement, as TFLite Micro's code does in
  practice; 16x8 with an int64 bias, or none and ``quantized_bias_type`` not INT32, sums in
  64 bits), then ``MultiplyByQuantizedMultiplier`` (its 64-bit form for a 64-bit sum), the
  output zero point and the activation's clamp. The multiplier is ``double(s_x) * double(s_w)
  / double(s_out)``, per output unit for per-channel weights: TFLite Micro's build computes the
  product of the scales in double (the tflite-micro 0.dev20261023 runtime's
  ``GetQuantizedConvolutionMultipler`` multiplies two widened floats; sources of mid-2026 still
  showed a float32 product, which does change some outputs).
  FULLY_CONNECTED weights must be symmetric (TFLite Micro asserts it); BATCH_MATMUL offsets both
  int8 operands by their zero points and has no activation.
- Hybrid FULLY_CONNECTED (float32 input, int8 weights, float32 bias), which only LiteRT runs
  (``EvalHybridDense``): each row of the input is quantized on its own, symmetrically to
  [-127, 127] (or asymmetrically to [-128, 127] with ``asymmetric_quantize_inputs``), the int
  dot products are scaled by ``float(row_scale * s_w)`` in float32 and added to the bias. The
  row quantizers are transcribed as LiteRT's x86 build runs them: its NEON code compiled
  through NEON_2_SSE (see :mod:`._hybrid`).

FULLY_CONNECTED flattens its input to ``[-1, K]`` (``K`` = the weights' last dimension); the
output's shape (``keep_num_dims`` or not) is the file's. Integer sums are computed as one BLAS
matrix product in floating point, exactly: in float32 when every partial sum provably stays
below 2^24 in magnitude, in float64 otherwise (below 2^53); input zero points are folded into
the bias through the weights' column sums, computed once in ``prepare`` for constant weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ...options import (
    BatchMatMulOptions,
    BuiltinOperator,
    FullyConnectedOptions,
    FullyConnectedOptionsWeightsFormat,
    TensorType,
)
from .. import fixedpoint as fp
from ..kernel import (
    Kernel,
    Registry,
    activation_range,
    expect_types,
    float_activation,
    options,
    unsupported,
)
from ..node import Array, Node, Operand, Rounding
from ._hybrid import quantize_asymmetric, quantize_symmetric

__all__ = ["KERNELS"]

T = TensorType
FloatType = type[np.float32] | type[np.float64]

_EXACT32 = 2**24
"""Integers up to this magnitude (and every partial sum below it) are exact in float32."""
_EXACT64 = 2**53


# -- shared pieces ------------------------------------------------------------------------


def _largest(dtype: np.dtype[Any] | None, zero_point: int = 0) -> int:
    """The largest ``|q - zero_point|`` of an integer type."""
    info = np.iinfo(dtype)
    return max(abs(int(info.min) - zero_point), abs(int(info.max) - zero_point))


def _exact_float(node: Node, bound: int) -> FloatType:
    """The float type in which sums of integer products bounded by ``bound`` are exact."""
    if bound >= _EXACT64:
        unsupported(node, f"sums of up to {bound} are not exact in float64")
    return np.float32 if bound < _EXACT32 else np.float64


@dataclass(frozen=True)
class _Requantize:
    """Accumulator to output: MultiplyByQuantizedMultiplier (per unit when per channel) of the
    sum wrapped to int32, or its 64-bit form when ``wide``; the zero point; the clamp."""

    multiplier: Array
    shift: Array
    wide: bool
    rounding: Rounding
    zero: int
    lo: int
    hi: int
    dtype: np.dtype[Any]

    def __call__(self, acc: Array) -> Array:
        if self.wide:
            scaled = fp.multiply_by_quantized_multiplier_64(acc, self.multiplier, self.shift)
        else:
            scaled = fp.multiply_by_quantized_multiplier(fp.wrap_int32(acc), self.multiplier,
                                                         self.shift, self.rounding)
        out: Array = np.clip(scaled + self.zero, self.lo, self.hi)
        return out.astype(self.dtype)


def _requantize(node: Node, real: Array, wide: bool, lo: int, hi: int) -> _Requantize:
    out = node.outputs[0]
    multiplier, shift = fp.quantize_multipliers(real, node.rounding)
    assert out.dtype is not None
    return _Requantize(multiplier, shift, wide, node.rounding, out.zero_value, lo, hi, out.dtype)


_FLOAT_BLOCK = 1 << 18
"""How many float32 products ``_float_matmul`` forms at once."""
_FEW_SUMS = 128
"""Below this many sums, ``_float_matmul`` adds a block's products with one accumulate."""


def _float_matmul(a: Array, b: Array) -> Array:
    """``a @ b`` over stacks ``(.., M, K) @ (.., K, P)`` in float32, each sum taken as TFLite's
    reference loops take it: from 0, adding the products one depth after another. (numpy's
    ``add.reduce`` may sum pairwise, so rows of products are added one by one, or for few
    sums, where that would be slow, with ``add.accumulate``, sequential by definition.)"""
    lhs = np.ascontiguousarray(np.moveaxis(a.astype(np.float32, copy=False), -1, 0))[..., None]
    rhs = np.moveaxis(b.astype(np.float32, copy=False), -2, 0)[..., None, :]
    acc = np.zeros(np.broadcast_shapes(lhs.shape[1:], rhs.shape[1:]), np.float32)
    step = max(1, _FLOAT_BLOCK // max(acc.size, 1))
    with np.errstate(all="ignore"):
        for k in range(0, lhs.shape[0], step):
            products = lhs[k:k + step] * rhs[k:k + step]
            if acc.size < _FEW_SUMS:
                products[0] += acc
                acc = np.add.accumulate(products, axis=0)[-1]
            else:
                for row in products:
                    acc += row
    return acc


def _matmul(a: Array, b: Array) -> Array:
    """``a @ b`` over stacks ``(.., M, K) @ (.., K, P)``; one BLAS call when ``b`` is the same
    matrix for every stacked ``a``."""
    if all(d == 1 for d in b.shape[:-2]):
        k, p = b.shape[-2:]
        flat: Array = a.reshape(-1, k) @ b.reshape(k, p)
        return flat.reshape(*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], p)
    stacked: Array = np.matmul(a, b)
    return stacked


# -- FULLY_CONNECTED -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Weights:
    """Weights prepared for ``x @ weights``: ``(m, K, O)`` in the product's float type (``m``
    is 1, or the batch when the weights are computed per sample), and their sums over K
    ``(m, 1, O)`` as int64 (integer weights only)."""

    matrix: Array
    sums: Array | None


def _fc_weights(w: Array, dtype: FloatType, integer: bool) -> _Weights:
    """From the weights operand's array ``(m, O, K)``."""
    matrix = np.swapaxes(w.astype(dtype), 1, 2)
    sums = w.astype(np.int64).sum(axis=2)[:, None, :] if integer else None
    return _Weights(matrix, sums)


@dataclass(frozen=True)
class _Layout:
    """The input as ``rows`` of ``depth``; the output's per-sample shape."""

    rows: int
    depth: int
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class _FC:
    """What every FULLY_CONNECTED ``run`` needs."""

    kind: Literal["float", "integer", "hybrid"]
    layout: _Layout
    dtype: FloatType
    weights: _Weights | None
    """Prepared once when the weights are constant."""
    bias: Array | None
    """``(1, 1, O)``: float32, or for integers the int64 bias minus ``zp_x`` times the weight
    sums, when both are constant (and the bias is present)."""
    input_zero: int = 0
    requantize: _Requantize | None = None
    scales: Array | None = None
    """Hybrid: the weights' float32 scales, ``(1,)`` or ``(O,)``."""
    asymmetric: bool = False
    lo: float = -np.inf
    hi: float = np.inf


def _prepare_fc(node: Node) -> _FC:
    opts = options(node, FullyConnectedOptions)
    if opts.weights_format != FullyConnectedOptionsWeightsFormat.DEFAULT:
        unsupported(node, f"weights format {opts.weights_format.name}")
    x, w, out = node.input(0), node.input(1), node.outputs[0]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if len(w.shape) != 2:
        unsupported(node, f"weights of shape {list(w.shape)}, expected [units, depth]")
    units, depth = w.shape
    size = int(np.prod(x.shape, dtype=np.int64))
    if depth == 0 or size % depth:
        unsupported(node, f"input of shape {list(x.shape)} is not rows of {depth}")
    rows = size // depth
    if (int(np.prod(out.shape, dtype=np.int64)) != rows * units
            or (out.shape and out.shape[-1] != units)):
        unsupported(node, f"output of shape {list(out.shape)} for {rows} rows of {units} units")
    if b is not None and int(np.prod(b.shape, dtype=np.int64)) != units:
        unsupported(node, f"bias of shape {list(b.shape)} for {units} units")
    expect_types(node, x, T.FLOAT32, T.INT8, T.INT16)
    expect_types(node, out, x.type)
    act = opts.fused_activation_function
    layout = _Layout(rows, depth, tuple(out.shape))
    if x.type == T.FLOAT32 and w.type == T.FLOAT32:
        expect_types(node, b, T.FLOAT32)
        lo, hi = float_activation(node, act)
        return _FC("float", layout, np.float32, _const_weights(w, np.float32, False),
                   _const_float_bias(b), lo=lo, hi=hi)
    expect_types(node, w, T.INT8)
    scales = _weight_scales(node, w, units)
    if x.type == T.FLOAT32:
        return _prepare_hybrid(node, opts, layout, w, b, scales)
    return _prepare_integer(node, opts, layout, x, w, b, scales)


def _weight_scales(node: Node, w: Operand, units: int) -> Array:
    if w.scale is None or w.zero_point is None:
        unsupported(node, f"weights {w.name!r} are not quantized")
    if np.any(w.zero_point != 0):
        unsupported(node, "weights with a zero point other than 0 (TFLite asserts symmetric "
                          "weights)")
    if w.per_channel and (w.scale.size != units or w.quantized_dimension != 0):
        unsupported(node, f"{w.scale.size} weight scales along dimension "
                          f"{w.quantized_dimension}, expected {units} along dimension 0")
    return w.scale


def _const_weights(w: Operand, dtype: FloatType, integer: bool) -> _Weights | None:
    return None if w.data is None else _fc_weights(w.data[None], dtype, integer)


def _const_float_bias(b: Operand | None) -> Array | None:
    return None if b is None or b.data is None else b.data.reshape(1, 1, -1)


def _prepare_integer(node: Node, opts: FullyConnectedOptions, layout: _Layout,
                     x: Operand, w: Operand, b: Operand | None, scales: Array) -> _FC:
    out = node.outputs[0]
    if x.scale is None or out.scale is None:
        unsupported(node, "input and output must be quantized")
    if x.type == T.INT8:
        expect_types(node, b, T.INT32)
        wide = False
    else:
        expect_types(node, b, T.INT32, T.INT64)
        wide = (b.type == T.INT64 if b is not None
                else opts.quantized_bias_type != T.INT32)
    s_x, s_out = x.scale_value, out.scale_value
    products = s_x * scales.astype(np.float64)
    if b is not None and not w.per_channel:  # TFLite's check of a per-tensor bias scale
        s_b = float(b.scale[0]) if b.scale is not None else 0.0
        if abs(float(products[0]) - s_b) / s_out > 0.02:
            unsupported(node, f"bias scale {s_b} is not input scale * weight scale")
    real = products / s_out
    lo, hi = activation_range(node, opts.fused_activation_function, out)
    requantize = _requantize(node, real, wide, lo, hi)
    zero = x.zero_value
    bound = layout.depth * _largest(x.dtype) * 128
    if w.data is not None:
        bound = _largest(x.dtype) * int(np.abs(w.data.astype(np.int64)).sum(axis=1).max())
    dtype = _exact_float(node, bound)
    weights = _const_weights(w, dtype, True)
    bias = None
    if weights is not None and b is None:
        bias = _integer_bias(None, weights, zero)
    elif weights is not None and b is not None and b.data is not None:
        bias = _integer_bias(b.data[None], weights, zero)
    return _FC("integer", layout, dtype, weights, bias, input_zero=zero, requantize=requantize)


def _integer_bias(b: Array | None, weights: _Weights, zero: int) -> Array:
    """``bias - zp_x Σ_k w`` as int64 ``(m, 1, O)``, from the bias array ``(m, O)``."""
    assert weights.sums is not None
    folded = -zero * weights.sums
    return folded if b is None else folded + b.astype(np.int64).reshape(b.shape[0], 1, -1)


def _prepare_hybrid(node: Node, opts: FullyConnectedOptions, layout: _Layout,
                    w: Operand, b: Operand | None, scales: Array) -> _FC:
    expect_types(node, b, T.FLOAT32)
    lo, hi = float_activation(node, opts.fused_activation_function)
    dtype = _exact_float(node, layout.depth * 128 * 128)
    return _FC("hybrid", layout, dtype, _const_weights(w, dtype, True), _const_float_bias(b),
               scales=scales.astype(np.float32), asymmetric=opts.asymmetric_quantize_inputs,
               lo=lo, hi=hi)


def _run_fc(params: _FC, arrays: Sequence[Array | None]) -> list[Array]:
    x, w, b = (*arrays, None)[:3]
    assert x is not None
    n = x.shape[0]
    x = x.reshape(n, params.layout.rows, params.layout.depth)
    weights = params.weights
    if weights is None:
        assert w is not None
        weights = _fc_weights(w, params.dtype, params.kind != "float")
    bias = params.bias
    if params.kind == "float":
        out = _float_output(params, _float_matmul(x, weights.matrix), b)
    elif params.kind == "integer":
        assert params.requantize is not None
        if bias is None:
            bias = _integer_bias(b, weights, params.input_zero)
        acc = _matmul(x.astype(params.dtype), weights.matrix).astype(np.int64) + bias
        out = params.requantize(acc)
    else:
        out = _hybrid(params, x, weights, b)
    return [out.reshape(out.shape[0], *params.layout.out_shape)]


def _hybrid(params: _FC, x: Array, weights: _Weights, b: Array | None) -> Array:
    assert params.scales is not None and weights.sums is not None
    quantize = quantize_asymmetric if params.asymmetric else quantize_symmetric
    q, factor, offset = quantize(x)
    dot = _matmul(q.astype(params.dtype), weights.matrix).astype(np.int64)
    dot -= offset[..., None] * weights.sums
    return _float_output(params, dot.astype(np.float32) * (factor[..., None] * params.scales), b)


def _float_output(params: _FC, y: Array, b: Array | None) -> Array:
    """``bias + y`` in float32 (a bias of 0 when there is none, as TFLite adds it: -0.0 sums
    become 0.0), clamped to the activation's range."""
    bias = params.bias
    if bias is None:
        bias = np.float32(0) if b is None else b.reshape(b.shape[0], 1, -1)
    out: Array = np.clip(bias + y, np.float32(params.lo), np.float32(params.hi))
    return out


# -- BATCH_MATMUL --------------------------------------------------------------------------


@dataclass(frozen=True)
class _BMM:
    """What BATCH_MATMUL's ``run`` needs: the rank both operands are aligned to, the adjoint
    flags, the zero points, the product's float type, the constant right operand prepared
    (aligned, offset, transposed as needed) and the requantization (None for float32)."""

    rank: int
    adj_x: bool
    adj_y: bool
    zeros: tuple[int, int]
    dtype: FloatType
    rhs: Array | None
    out_shape: tuple[int, ...]
    requantize: _Requantize | None


def _prepare_bmm(node: Node) -> _BMM:
    opts = options(node, BatchMatMulOptions)
    lhs, rhs, out = node.input(0), node.input(1), node.outputs[0]
    expect_types(node, lhs, T.FLOAT32, T.INT8, T.INT16)
    expect_types(node, rhs, lhs.type)
    expect_types(node, out, lhs.type)
    for o in (lhs, rhs):
        if not 2 <= len(o.shape) <= 5:
            unsupported(node, f"{o.name!r} has rank {len(o.shape)}, expected 2 to 5")
    rank = max(len(lhs.shape), len(rhs.shape))
    a = (1,) * (rank - len(lhs.shape)) + lhs.shape
    c = (1,) * (rank - len(rhs.shape)) + rhs.shape
    if any(p != q and 1 not in (p, q) for p, q in zip(a[:-2], c[:-2], strict=True)):
        unsupported(node, f"batch dimensions {list(lhs.shape)} and {list(rhs.shape)} do not "
                          "broadcast")
    rows, depth = a[-2:][::-1] if opts.adj_x else a[-2:]
    depth_r, cols = c[-2:][::-1] if opts.adj_y else c[-2:]
    if depth != depth_r:
        unsupported(node, f"depths {depth} and {depth_r} differ")
    batch = tuple(max(p, q) for p, q in zip(a[:-2], c[:-2], strict=True))
    size = int(np.prod((*batch, rows, cols), dtype=np.int64))
    if size != int(np.prod(out.shape, dtype=np.int64)):
        unsupported(node, f"output of shape {list(out.shape)} for a product of shape "
                          f"{[*batch, rows, cols]}")
    requantize = None
    zeros = (0, 0)
    dtype: FloatType = np.float32
    if lhs.type != T.FLOAT32:
        for o in (lhs, rhs, out):
            if o.scale is None:
                unsupported(node, f"{o.name!r} is not quantized")
            if o.per_channel:
                unsupported(node, f"{o.name!r} is quantized per channel")
        zeros = (lhs.zero_value, rhs.zero_value)
        if lhs.type == T.INT16 and (lhs.zero_value or rhs.zero_value or out.zero_value):
            unsupported(node, "int16 operands need zero points of 0")
        info = np.iinfo(out.dtype)
        real = lhs.scale_value * rhs.scale_value / out.scale_value
        requantize = _requantize(node, np.array([real]),
                                 lhs.type == T.INT16, int(info.min), int(info.max))
        right = _largest(rhs.dtype, zeros[1])
        if rhs.data is not None:
            right = int(np.abs(rhs.data.astype(np.int64) - zeros[1]).max(initial=0))
        dtype = _exact_float(node, depth * _largest(lhs.dtype, zeros[0]) * right)
    prepared = None
    if rhs.data is not None:
        prepared = _operand(rhs.data[None], rank, opts.adj_y, zeros[1], dtype)
    return _BMM(rank, opts.adj_x, opts.adj_y, zeros, dtype, prepared, tuple(out.shape),
                requantize)


def _operand(x: Array, rank: int, adjoint: bool, zero: int, dtype: FloatType) -> Array:
    """A batched operand ``(B, *shape)`` aligned to ``rank`` dimensions after the batch axis,
    less its zero point, in ``dtype``, its last two axes swapped when ``adjoint``."""
    x = x.reshape(x.shape[0], *(1,) * (rank + 1 - x.ndim), *x.shape[1:])
    x = x.astype(dtype) - dtype(zero) if zero else x.astype(dtype)
    return np.swapaxes(x, -1, -2) if adjoint else x


def _run_bmm(params: _BMM, arrays: Sequence[Array | None]) -> list[Array]:
    lhs, rhs = arrays
    assert lhs is not None and rhs is not None
    a = _operand(lhs, params.rank, params.adj_x, params.zeros[0], params.dtype)
    b = params.rhs
    if b is None:
        b = _operand(rhs, params.rank, params.adj_y, params.zeros[1], params.dtype)
    if params.requantize is None:
        out = _float_matmul(a, b)
    else:
        out = params.requantize(_matmul(a, b).astype(np.int64))
    return [out.reshape(out.shape[0], *params.out_shape)]


KERNELS: Registry = {
    BuiltinOperator.FULLY_CONNECTED: Kernel(_prepare_fc, _run_fc),
    BuiltinOperator.BATCH_MATMUL: Kernel(_prepare_bmm, _run_bmm),
}

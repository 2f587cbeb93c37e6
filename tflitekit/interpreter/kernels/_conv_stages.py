"""The convolutions' output stages: what turns the integer (or float) sums of CONV_2D,
DEPTHWISE_CONV_2D and TRANSPOSE_CONV into their outputs, and the checks and constants behind
them (TFLite Micro's PopulateConvolutionQuantizationParams; LiteRT's hybrid arithmetic).

Per-channel constants are tiled over whole output rows (width * channels), so numpy's inner
loops run over rows rather than single pixels; the int32 output stage is restated in a few
in-place passes (:class:`Scaling`, :class:`Fused`, and for int8 outputs, :class:`Real` in
float64 where it is provably exact), which the tests hold equal to
:mod:`~tflitekit.interpreter.fixedpoint`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ...options import BuiltinOperator, TensorType
from ..fixedpoint import multiply_by_quantized_multiplier_64, quantize_multipliers
from ..kernel import activation_range, expect_types, float_activation, unsupported
from ..node import Array, Node, Operand, Rounding
from ._hybrid import quantize_asymmetric, quantize_symmetric

__all__ = ["INT32", "Finish", "Fused", "Real", "Scaling", "Scratch", "Spec", "abs_sum",
           "output_stage"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
INT32 = 1 << 31
EXACT64 = 1 << 53  # integers below this are exact in float64


class Scratch:
    """Buffers reused by the chunks of one run: a fresh large array per pass costs page faults
    that took longer than the arithmetic."""

    def __init__(self) -> None:
        self._buffers: dict[str, Array] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype: Any) -> Array:
        """An uninitialised array of ``shape``, the same memory for the same ``name``."""
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != np.dtype(dtype):
            buffer = self._buffers[name] = np.empty(size, dtype)
        return buffer[:size].reshape(shape)


@dataclass(frozen=True)
class Scaling:
    """MultiplyByQuantizedMultiplier of int32 values by a multiplier and shift per output
    channel (the last axis), in place and in few passes: the same values as
    :func:`~tflitekit.interpreter.fixedpoint.multiply_by_quantized_multiplier` (the tests hold
    them equal), restated for speed. With multipliers in [0, 2^31), the rounding doubling high
    multiply is ``(x * M + 2^30) >> 31`` and the rounding right shift by ``e`` is
    ``(v + 2^(e-1) - (v < 0)) >> e``."""

    multiplier: IntArray
    shift: IntArray  # QuantizeMultiplier's exponent
    left: IntArray | None  # left shifts (double rounding), None when every shift is <= 0
    right: IntArray
    half: IntArray  # the rounding term of the final right shift
    negative: IntArray  # -1 where negative halves round away (double rounding), else 0
    single: bool
    wraps: bool  # a channel shifts left, so results may leave int32's range and wrap

    @staticmethod
    def of(multiplier: IntArray, shift: IntArray, rounding: Rounding, tile: int) -> Scaling:
        """The scaling of channel ``c`` at position ``i * channels + c``, for ``tile`` rows of
        channels (so numpy's inner loops run over whole output rows, not single pixels)."""
        single = rounding == "single"
        wraps = bool((shift > 0).any())
        right = 31 - shift if single else np.maximum(-shift, 0)
        half = np.int64(1) << (right - 1) if single else (np.int64(1) << right) >> 1
        negative = np.zeros_like(shift) if single else -(right > 0).astype(np.int64)
        left = np.tile(np.maximum(shift, 0), tile) if wraps and not single else None
        return Scaling(np.tile(multiplier, tile), np.tile(shift, tile), left,
                       np.tile(right, tile), np.tile(half, tile), np.tile(negative, tile),
                       single, wraps)

    def __call__(self, acc: IntArray) -> IntArray:
        """``acc`` (int64 holding int32 values) scaled; ``acc`` is overwritten."""
        if self.left is not None:
            acc <<= self.left
            acc = _wrap32(acc)
        acc *= self.multiplier
        if self.single:
            acc += self.half
            acc >>= self.right
            return _wrap32(acc) if self.wraps else acc
        acc += 1 << 30
        acc >>= 31
        sign = acc >> 63
        sign &= self.negative
        acc += sign
        acc += self.half
        acc >>= self.right
        return acc


def _wrap32(x: IntArray) -> IntArray:
    """C's conversion to int32 (two's-complement wrap), back in int64."""
    return x.astype(np.int32).astype(np.int64)


@dataclass(frozen=True)
class Fused:
    """The whole int32 output stage, ``MBQM(x + offset) + zero`` (before the clamp), in one
    multiply, one add and one shift (plus a sign fix-up for double rounding), for channels that
    shift right only: the offset, the rounding terms and the zero point are folded into one
    constant ahead of the final shift, since ``floor((floor(a / 2^31) + c) / 2^e) =
    floor((a + c * 2^31) / 2^(31 + e))``. Everything stays below 2^63: ``(x + offset) * M`` is
    below 2^62 (an int32 times a multiplier below 2^31), the rounding terms below 2^62, and the
    zero point is folded only while ``|zero| * 2^shift`` stays below 2^61 (else it is added after
    the shift). The tests hold it equal to fixedpoint's functions."""

    multiplier: IntArray
    constant: IntArray
    threshold: IntArray | None  # double rounding: acc - threshold < 0 where SRDHM's result is
    carry: IntArray | None  # 2^31 where the final shift rounds negative halves away, else 0
    total: IntArray  # the combined right shift
    zero: int  # the zero point when it is not folded, else 0

    @staticmethod
    def of(offset: IntArray, multiplier: IntArray, shift: IntArray, zero: int,
           rounding: Rounding, tile: int, low: int | None = None) -> Fused | None:
        """The fused stage, or None when a channel shifts left (then the step-by-step path
        runs). The sign fix-up of double rounding is left out when the clamp starts at the zero
        point or above (ReLU): it only lowers results that are at most 0 before the zero point is
        added, which the clamp raises to ``low`` with or without it."""
        if (shift > 0).any():
            return None
        single = rounding == "single"
        right = [-int(v) for v in shift]
        total = [31 - int(v) for v in shift] if single else [31 + e for e in right]
        folded = zero if max(total) <= 53 else 0
        if single:
            rounder = [(1 << (t - 1)) + (folded << t) for t in total]
            threshold = carry = None
        else:
            rounder = [(((1 << e) >> 1) << 31) + (folded << (31 + e)) for e in right]
            threshold, carry = rounder, [(1 << 31) if e > 0 else 0 for e in right]
            if low is not None and low >= zero:
                threshold = carry = None
            rounder = [r + (1 << 30) for r in rounder]
        constant = [int(o) * int(m) + r for o, m, r in zip(offset, multiplier, rounder,
                                                            strict=True)]

        def tiled(values: Sequence[int] | None) -> IntArray | None:
            return None if values is None else np.tile(np.array(values, np.int64), tile)

        parts = (tiled(multiplier.tolist()), tiled(constant), tiled(threshold), tiled(carry),
                 tiled(total))
        return Fused(*parts, zero - folded)  # type: ignore[arg-type]

    def __call__(self, sums: Array, scratch: Scratch) -> IntArray:
        """The output values (before the clamp) of the raw sums (rows of whole output rows)."""
        acc: IntArray = scratch.take("acc", sums.shape, np.int64)
        np.multiply(sums, self.multiplier, out=acc, dtype=np.int64, casting="unsafe")
        acc += self.constant
        if self.threshold is not None and self.carry is not None:
            sign = scratch.take("sign", sums.shape, np.int64)
            np.subtract(acc, self.threshold, out=sign)
            sign >>= 63
            sign &= self.carry
            acc -= sign
        acc >>= self.total
        if self.zero:
            acc += self.zero
        return acc


@dataclass(frozen=True)
class Real:
    """:class:`Fused` (and its zero point) in float64, which vectorises better than int64:
    ``floor(sums * m + c)``, less ``carry`` where ``sums * m + c < threshold``. Exact per channel
    in one of two forms (:meth:`of` proves which, else the layer keeps :class:`Fused`):

    - *direct*: Fused's integers times ``2^-total``, when every integer it forms for sums up to
      the bound stays below 2^53: then every product, sum and comparison is exact, so is the
      scaling by a power of two and the floor;
    - *steps*: Fused's result is non-decreasing in the sum (the sign fix-up only lowers values
      below its threshold); where it takes at most two values over the bound (channels with
      large shifts), ``floor(sums * 2^-u + c)`` with ``2^u`` above the range of the sums and
      ``c`` putting the step where Fused's is, every value exact below 2^53.
    """

    multiplier: FloatArray
    constant: FloatArray
    threshold: FloatArray | None
    carry: FloatArray | None

    @staticmethod
    def of(fused: Fused, bound: IntArray) -> Real | None:
        """The float64 form of ``fused`` for sums at most ``bound[c]`` in magnitude in channel
        ``c`` (``fused``'s constants are tiled over rows of ``bound.size`` channels), or None
        when some channel has no exact form."""
        n = bound.size
        fix = None
        if fused.threshold is not None and fused.carry is not None:
            fix = fused.threshold, fused.carry
        rows = []
        for c in range(n):
            row = _real_channel(int(bound[c]), int(fused.multiplier[c]), int(fused.constant[c]),
                                None if fix is None else int(fix[0][c]),
                                0 if fix is None else int(fix[1][c]), int(fused.total[c]),
                                fused.zero)
            if row is None:
                return None
            rows.append(row)
        columns = np.array(rows, np.float64).T
        tiled = [np.tile(v, fused.multiplier.size // n) for v in columns]
        if fix is None:
            return Real(tiled[0], tiled[1], None, None)
        return Real(*tiled)

    def __call__(self, sums: Array, scratch: Scratch) -> FloatArray:
        """The output values (before the clamp) of the raw sums, whole integers in float64."""
        acc: FloatArray = scratch.take("real", sums.shape, np.float64)
        np.multiply(sums, self.multiplier, out=acc, dtype=np.float64)
        acc += self.constant
        if self.threshold is not None and self.carry is not None:
            below = scratch.take("below", sums.shape, np.bool_)
            fix = scratch.take("fix", sums.shape, np.float64)
            np.less(acc, self.threshold, out=below)
            np.multiply(below, self.carry, out=fix)
            acc -= fix
        return np.floor(acc, out=acc)


def _real_channel(bound: int, multiplier: int, constant: int, threshold: int | None,
                  carry: int, total: int, zero: int
                  ) -> tuple[float, float, float, float] | None:
    """One channel of :class:`Real`: ``(m, c, threshold, carry)``, or None."""
    constant += zero << total
    if threshold is not None:
        threshold += zero << total
    if (bound * multiplier + abs(constant) + carry < EXACT64
            and (threshold is None or abs(threshold) < EXACT64)):
        return (math.ldexp(multiplier, -total), math.ldexp(constant, -total),
                math.ldexp(threshold or 0, -total), math.ldexp(carry, -total))

    def fused(s: int) -> int:
        acc = s * multiplier + constant
        if threshold is not None and acc < threshold:
            acc -= carry
        return acc >> total

    low, high = fused(-bound), fused(bound)
    if low == high:
        return 0.0, float(high), -math.inf, 0.0
    if high - low > 1:
        return None
    first, last = -bound, bound  # fused(first) == low, fused(last) == high
    while last - first > 1:
        middle = (first + last) // 2
        first, last = (middle, last) if fused(middle) == low else (first, middle)
    u = (2 * bound).bit_length() + 1  # 2^u > 2 * bound >= the distance of any sum to the step
    if abs(high << u) + abs(last) + bound >= EXACT64:
        return None
    return math.ldexp(1, -u), math.ldexp((high << u) - last, -u), -math.inf, 0.0


@dataclass(frozen=True)
class Output:
    """The integer output stage: raw sums (+ per-channel offset) -> output values."""

    offset: IntArray  # per channel: the bias minus the folded input zero point
    scaling: Scaling
    fused: Fused | None  # when the int32 accumulator cannot wrap
    real: Real | None  # int8 outputs, when float64 is provably exact
    wide: bool  # a 64-bit accumulator and MultiplyByQuantizedMultiplier
    wrap: bool  # the int32 accumulator may wrap
    zero: int
    low: int
    high: int
    dtype: np.dtype[Any]

    def __call__(self, sums: Array, out: Array, scratch: Scratch) -> None:
        """Write the outputs of ``sums`` to ``out`` (both shaped (..., width, channels): the
        per-channel constants are tiled over whole output rows)."""
        rows = sums.reshape(-1, self.offset.size)
        acc: Array
        if self.real is not None:
            acc = self.real(rows, scratch)
        elif self.fused is not None:
            acc = self.fused(rows, scratch)
        else:
            acc = rows.astype(np.int64)
            acc += self.offset
            if self.wide:
                acc = multiply_by_quantized_multiplier_64(acc, self.scaling.multiplier,
                                                          self.scaling.shift)
            else:
                acc = self.scaling(_wrap32(acc) if self.wrap else acc)
                if self.zero:
                    acc += self.zero
        np.clip(acc.reshape(out.shape), self.low, self.high, out=out, casting="unsafe")


@dataclass(frozen=True)
class Hybrid:
    """LiteRT's dynamic-range arithmetic: each sample quantized to int8 on its own, the integer
    sums scaled back in float32. The sums are exact: LiteRT's symmetric (per-tensor) CONV_2D
    runs an optimized dot product even among its reference kernels, whose x86 SIMD form gets a
    -128 weight times a negative input wrong; the converter's weights stop at -127."""

    asymmetric: bool  # AsymmetricQuantizeFloats (with a zero point), else symmetric
    product_first: bool  # acc * (scale * factor), else (acc * scale) * factor
    sums: npt.NDArray[np.float64]  # Σ w per output channel, to fold the zero point
    scales: npt.NDArray[np.float32]  # filter scale per output channel

    def quantize(self, x: Array) -> tuple[Array, Any, Array, Array]:
        """``(q int8, padding value, factor, zero point)`` of the float samples ``x``, each
        quantized as one row by LiteRT's x86 quantizers (shared with FULLY_CONNECTED)."""
        rows = x.reshape(x.shape[0], -1)
        if self.asymmetric:
            q, factor, zero = quantize_asymmetric(rows)
            return (q.astype(np.int8).reshape(x.shape), zero.astype(np.int8)[:, None, None, None],
                    factor, zero)
        q, factor, zero = quantize_symmetric(rows)
        return q.astype(np.int8).reshape(x.shape), 0, factor, zero

    def scale(self, sums: Array, factor: Array, zero: Array) -> Array:
        """The float values of the integer ``sums`` (n, ..., channels) of quantized samples."""
        shape = sums.shape
        acc = sums.reshape(shape[0], -1, shape[-1])
        if self.asymmetric:
            acc = acc.astype(np.float64) - zero[:, None, None] * self.sums
        acc = acc.astype(np.float32)
        per_sample = factor[:, None, None]
        if self.product_first:
            return (acc * (self.scales * per_sample)).reshape(shape)
        return (acc * self.scales * per_sample).reshape(shape)


@dataclass(frozen=True)
class Finish:
    """What turns a convolution's sums into its output, for its kind: ``output`` for integer
    kernels, ``hybrid`` for dynamic-range ones, float arithmetic otherwise."""

    output: Output | None
    hybrid: Hybrid | None
    bias: Array | None  # float and hybrid kernels: float32 per channel
    bias_at: int | None  # where a float bias computed at run time arrives
    low: np.float32
    high: np.float32
    fill: int  # the padding value of integer inputs (their zero point)

    def inputs(self, x: Array) -> tuple[Array, Any, Array | None, Array | None]:
        """``(values to sum, padding value, hybrid factor, hybrid zero point)`` of samples
        ``x``."""
        if self.hybrid is None:
            return x, self.fill, None, None
        return self.hybrid.quantize(x)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.output.dtype if self.output is not None else np.dtype(np.float32)

    def __call__(self, sums: Array, arrays: Sequence[Array | None], factor: Array | None,
                 zero: Array | None, out: Array, scratch: Scratch) -> None:
        """Write the outputs of ``sums`` (shaped as ``out``) to ``out``."""
        if self.output is not None:
            self.output(sums, out, scratch)
            return
        if self.hybrid is not None and factor is not None:  # (TRANSPOSE_CONV scales as it sums)
            assert zero is not None
            sums = self.hybrid.scale(sums, factor, zero)
        bias = self.bias
        if bias is None and self.bias_at is not None and len(arrays) > self.bias_at:
            given = arrays[self.bias_at]
            bias = None if given is None else given.reshape(-1).astype(np.float32)
        out[...] = sums
        if bias is not None:
            out += bias
        np.minimum(np.maximum(out, self.low, out=out), self.high, out=out)


def _bias(node: Node, index: int, channels: int, *allowed: TensorType) -> Array | None:
    """The constant bias (one value per output channel), or None when absent."""
    b = node.inputs[index] if index < len(node.inputs) else None
    if b is None:
        return None
    expect_types(node, b, *allowed)
    if b.data is None:
        unsupported(node, f"bias {b.name!r} is not constant")
    if b.data.size != channels:
        unsupported(node, f"bias has {b.data.size} values for {channels} output channels")
    return b.data.reshape(channels)


def _scales(node: Node, w: Operand, axis: int, channels: int) -> npt.NDArray[np.float32]:
    """The filter's scale of each output channel (a per-tensor scale broadcast)."""
    if w.scale is None:
        unsupported(node, f"filter {w.name!r} is not quantized")
    if w.scale.size != 1 and (w.scale.size != channels or w.quantized_dimension != axis):
        unsupported(node, f"filter has {w.scale.size} scales on axis {w.quantized_dimension}, "
                          f"expected 1 or {channels} on axis {axis}")
    scales: npt.NDArray[np.float32] = np.empty(channels, np.float32)
    scales[:] = w.scale
    return scales


def abs_sum(rows: Array) -> int:
    """The largest Σ |w| over the rows of ``rows`` (one row per output channel)."""
    return int(np.abs(rows.astype(np.int64)).sum(axis=1).max())


@dataclass(frozen=True)
class Spec:
    """Where a convolution keeps its operands and what its kernel accepts."""

    x: int  # input index
    w: int  # filter index
    b: int  # bias index
    axis: int  # the filter's output-channel axis
    hybrid: bool  # float inputs may come with int8 filters
    int16_biases: tuple[TensorType, ...]
    folds_zero: bool  # pads with the input zero point and folds it into the offset


def output_stage(node: Node, spec: Spec, activation: int, quantized_bias_type: int,
                 per_channel_hybrid: bool) -> Finish:
    """Check the types of a convolution and prepare its output stage."""
    x, w, y = node.input(spec.x), node.input(spec.w), node.outputs[0]
    expect_types(node, x, TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
    if y.type != x.type:
        unsupported(node, f"output is {y.type_name}, input {x.type_name}")
    if x.type != TensorType.FLOAT32:
        return _integer_stage(node, spec, activation, quantized_bias_type)
    expect_types(node, w, TensorType.FLOAT32, *((TensorType.INT8,) if spec.hybrid else ()))
    low, high = (np.float32(v) for v in float_activation(node, activation))
    if w.type == TensorType.INT8:
        return _hybrid_stage(node, spec, low, high, per_channel_hybrid)
    b = node.inputs[spec.b] if spec.b < len(node.inputs) else None
    expect_types(node, b, TensorType.FLOAT32)
    if any(o is not None and o.batched for o in (w, b)):
        unsupported(node, "the filter or bias depends on the input")
    bias = None if b is None or b.data is None else b.data.reshape(-1).astype(np.float32)
    return Finish(None, None, bias, spec.b, low, high, 0)


def _hybrid_stage(node: Node, spec: Spec, low: np.float32, high: np.float32,
                  per_channel: bool) -> Finish:
    """LiteRT's hybrid kernels: asymmetric inputs for depthwise, grouped and per-channel
    convolutions (filters with differing scales) and transposed ones, symmetric for the
    others."""
    w, channels = node.input(spec.w), node.outputs[0].shape[-1]
    rows = _filter_rows(node, spec)
    scales = _scales(node, w, spec.axis, channels)
    scatter = node.opcode == BuiltinOperator.TRANSPOSE_CONV  # scales each term: no int32 sums
    asymmetric = scatter or per_channel or bool((scales != scales[0]).any())
    if not scatter and asymmetric and w.scale is not None and w.scale.size != channels:
        unsupported(node, "LiteRT's per-channel hybrid kernels need one filter scale per "
                          "output channel")
    if not scatter and 255 * abs_sum(rows) >= INT32:
        unsupported(node, "the int32 accumulator could overflow")
    hybrid = Hybrid(asymmetric, spec.axis == 3 or not asymmetric,
                    rows.sum(axis=1).astype(np.float64), scales)
    bias = _bias(node, spec.b, channels, TensorType.FLOAT32)
    if bias is None and node.opcode == BuiltinOperator.CONV_2D:  # LiteRT requires one
        unsupported(node, "a hybrid CONV_2D needs a bias")
    return Finish(None, hybrid, None if bias is None else bias.astype(np.float32), None, low,
                  high, 0)


def _integer_stage(node: Node, spec: Spec, activation: int, quantized_bias_type: int
                   ) -> Finish:
    """PopulateConvolutionQuantizationParams, and the accumulator's width and offset."""
    x, w, y = node.input(spec.x), node.input(spec.w), node.outputs[0]
    expect_types(node, w, TensorType.INT8)
    if x.scale is None or y.scale is None:
        unsupported(node, "integer convolution needs quantized input and output")
    channels = y.shape[-1]
    rows = _filter_rows(node, spec)
    int8 = x.type == TensorType.INT8
    b = node.inputs[spec.b] if spec.b < len(node.inputs) else None
    found = _bias(node, spec.b, channels, *((TensorType.INT32,) if int8 else spec.int16_biases))
    bias: IntArray = np.zeros(channels, np.int64) if found is None else found.astype(np.int64)
    wide = not int8 and (quantized_bias_type if b is None else b.type) != TensorType.INT32
    fill = x.zero_value if int8 else 0
    offset: IntArray = bias - fill * rows.sum(axis=1) if spec.folds_zero else bias
    bound = (255 if int8 else 32768) * abs_sum(rows) + int(np.abs(bias).max())
    scales = _scales(node, w, spec.axis, channels).astype(np.float64)
    multiplier, shift = quantize_multipliers(
        float(x.scale_value) * scales / float(y.scale_value), node.rounding)
    low, high = activation_range(node, activation, y)
    assert y.dtype is not None
    width = y.shape[-2]
    scaling = Scaling.of(multiplier, shift, node.rounding, width)
    zero = y.zero_value if int8 else 0
    wraps = bound >= INT32
    fused = None if wide or wraps else Fused.of(offset, multiplier, shift, zero, node.rounding,
                                                width, low)
    # int8 sums: Σ w * x over inputs in [-128, 128) (padded with the zero point), or, where the
    # zero point is not folded (TRANSPOSE_CONV), Σ w * (x - zp) with |x - zp| <= 255
    largest = 128 if spec.folds_zero else 255
    real = None if fused is None or not int8 else Real.of(fused,
                                                          largest * np.abs(rows).sum(axis=1))
    output = Output(np.tile(offset, width), scaling, fused, real, wide, wraps, zero, low, high,
                    y.dtype)
    return Finish(output, None, None, None, np.float32(0), np.float32(0), fill)


def _filter_rows(node: Node, spec: Spec) -> Array:
    """A constant integer filter as one row per output channel."""
    w = node.input(spec.w)
    if w.data is None:
        unsupported(node, f"filter {w.name!r} is not constant")
    return np.moveaxis(w.data, spec.axis, 0).reshape(w.shape[spec.axis], -1).astype(np.int64)

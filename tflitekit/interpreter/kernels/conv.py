"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, as TFLite Micro's reference kernels compute
them (and, for the hybrid kinds TFLite Micro refuses, as LiteRT's reference kernels do).

- **Integer** (int8 or int16 activations, int8 weights per tensor or per output channel):
  ``acc = Σ w * (x - zp_in) + bias`` over the taps inside the image, in an int32 accumulator that
  wraps (int8; int16 with an int32 bias) or an int64 one (int16 with an int64 bias, which int16
  depthwise and transpose convolutions always use); then MultiplyByQuantizedMultiplier per
  channel (the 64-bit form for int64 accumulators), ``+ zp_out`` (int8 only: int16 kernels use no
  zero points) and the fused activation's range. Weight zero points are ignored, as TFLite Micro
  ignores them.
- **Float32**: the sums in float64 (TFLite Micro sums in float32, so results agree to rounding),
  ``+ bias`` in float32, then the activation's range.
- **Hybrid** (float32 activations, int8 weights, float bias: dynamic-range models): each sample is
  quantized to int8 on its own, asymmetrically (per-channel conv, depthwise) or symmetrically
  (per-tensor conv); the integer sums are scaled back in float32 in LiteRT's order.

The kernels pad the input with the value whose offset is zero (the input zero point), gather the
windows with stride tricks and sum them with BLAS in float32 or float64 wherever the sums are
provably exact there (|Σ| < 2^24, resp. 2^53); depthwise kernels loop over the filter taps. Large
batches run in chunks whose temporaries stay near the size of the operator's own data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ...options import (
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    Padding,
    TensorType,
    TransposeConvOptions,
)
from ..fixedpoint import (
    multiply_by_quantized_multiplier_64,
    quantize_multipliers,
    round_half_away,
)
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

__all__ = ["KERNELS"]

IntArray = npt.NDArray[np.int64]
_EXACT32 = 1 << 24  # integers below this are exact in float32 sums
_INT32 = 1 << 31
_BLAS_BLOCK = 1 << 18  # multiply-adds per BLAS call (below OpenBLAS's threading threshold)
_CHUNK_BYTES = 1 << 20  # temporaries per chunk: cache-sized, so that each pass is fast


# ------------------------------------------------------------------------------------------------
# Windows
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The sliding window of a convolution over (height, width)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    before: tuple[int, int]  # padding before (top, left)
    after: tuple[int, int]  # padding after (bottom, right), as far as the windows reach
    out: tuple[int, int]

    @property
    def taps(self) -> list[tuple[int, int]]:
        return [(ky, kx) for ky in range(self.kernel[0]) for kx in range(self.kernel[1])]

    @property
    def padded(self) -> bool:
        return any(self.before) or any(self.after)


def _window(node: Node, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int], padding: int) -> _Window:
    """TFLite's windowing (ComputePaddingHeightWidth) along height and width."""
    if min(*stride, *dilation) < 1:
        unsupported(node, f"strides {list(stride)} and dilations {list(dilation)} must be "
                          "positive")
    if padding not in (Padding.SAME, Padding.VALID):
        unsupported(node, f"padding {padding}")
    out, before, after = [], [], []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        reach = (k - 1) * d + 1
        o = (n + s - 1) // s if padding == Padding.SAME else (n + s - reach) // s
        if o < 1:
            unsupported(node, "the output would be empty")
        b = max((o - 1) * s + reach - n, 0) // 2
        out.append(o)
        before.append(b)
        after.append(max((o - 1) * s + reach - n - b, 0))
    return _Window((kernel[0], kernel[1]), (stride[0], stride[1]), (dilation[0], dilation[1]),
                   (before[0], before[1]), (after[0], after[1]), (out[0], out[1]))


def _pad(x: Array, win: _Window, fill: Any, dtype: Any) -> Array:
    """``x`` (n, h, w, c) as ``dtype``, padded with ``fill`` (a scalar or one value per
    sample, shaped (n, 1, 1, 1))."""
    if not win.padded:
        return x.astype(dtype, copy=False)
    (top, left), (bottom, right) = win.before, win.after
    n, h, w, c = x.shape
    out = np.empty((n, top + h + bottom, left + w + right, c), dtype)
    out[:, :top] = fill
    out[:, top + h:] = fill
    out[:, top:top + h, :left] = fill
    out[:, top:top + h, left + w:] = fill
    out[:, top:top + h, left:left + w] = x
    return out


def _tap(padded: Array, win: _Window, ky: int, kx: int) -> Array:
    """The input value under filter tap (ky, kx) for every output position: (n, oh, ow, c)."""
    (sy, sx), (dy, dx), (oh, ow) = win.stride, win.dilation, win.out
    return padded[:, ky * dy:ky * dy + (oh - 1) * sy + 1:sy,
                  kx * dx:kx * dx + (ow - 1) * sx + 1:sx]


def _im2col(padded: Array, win: _Window, dtype: Any) -> Array:
    """Every window of ``padded`` (n, H, W, c) as a row: (n * oh * ow, kh * kw * c)."""
    n, _, _, c = padded.shape
    (kh, kw), (oh, ow) = win.kernel, win.out
    if (kh, kw) == (1, 1):
        return np.ascontiguousarray(_tap(padded, win, 0, 0), dtype).reshape(-1, c)
    sn, sh, sw, sc = padded.strides
    (sy, sx), (dy, dx) = win.stride, win.dilation
    view = np.lib.stride_tricks.as_strided(
        padded, (n, oh, ow, kh, kw, c), (sn, sh * sy, sw * sx, sh * dy, sw * dx, sc),
        writeable=False)
    cols = np.empty(view.shape, dtype)
    np.copyto(cols, view, casting="unsafe")
    return cols.reshape(n * oh * ow, kh * kw * c)


def _chunks(n: int, temp_per_sample: int) -> Iterator[slice]:
    """Slices of the batch whose temporaries take about ``_CHUNK_BYTES``."""
    step = max(1, min(n, _CHUNK_BYTES // max(temp_per_sample, 1)))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _phases(padded: Array, win: _Window) -> dict[tuple[int, int], Array]:
    """``padded`` split by the stride's phases (space to depth), each contiguous, so that every
    filter tap reads a unit-stride window: phase ``(py, px)`` holds rows ``py::sy`` and columns
    ``px::sx``."""
    (sy, sx), (dy, dx) = win.stride, win.dilation
    needed = {(ky * dy % sy, kx * dx % sx) for ky, kx in win.taps}
    return {(py, px): np.ascontiguousarray(padded[:, py::sy, px::sx]) for py, px in needed}


def _unit_tap(phases: dict[tuple[int, int], Array], win: _Window, ky: int, kx: int) -> Array:
    """:func:`_tap` read from the stride's phases: (n, oh, ow, c), each output row contiguous."""
    (sy, sx), (dy, dx), (oh, ow) = win.stride, win.dilation, win.out
    y, x = ky * dy, kx * dx
    return phases[y % sy, x % sx][:, y // sy:y // sy + oh, x // sx:x // sx + ow]


# ------------------------------------------------------------------------------------------------
# From sums to outputs
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scaling:
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
    def of(multiplier: IntArray, shift: IntArray, rounding: Rounding, tile: int) -> _Scaling:
        """The scaling of channel ``c`` at position ``i * channels + c``, for ``tile`` rows of
        channels (so numpy's inner loops run over whole output rows, not single pixels)."""
        single = rounding == "single"
        wraps = bool((shift > 0).any())
        right = 31 - shift if single else np.maximum(-shift, 0)
        half = np.int64(1) << (right - 1) if single else (np.int64(1) << right) >> 1
        negative = np.zeros_like(shift) if single else -(right > 0).astype(np.int64)
        left = np.tile(np.maximum(shift, 0), tile) if wraps and not single else None
        return _Scaling(np.tile(multiplier, tile), np.tile(shift, tile), left,
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
class _Fused:
    """The whole int32 output stage, ``clamp(MBQM(x + offset) + zero)`` before the clamp, in
    one multiply, one add and one shift (plus a sign fix-up for double rounding), for channels
    that shift right only: the offset, the rounding terms and the zero point folded into one
    constant ahead of the final shift, since ``floor((floor(a / 2^31) + c) / 2^e) =
    floor((a + c * 2^31) / 2^(31 + e))``. The tests hold it equal to fixedpoint's functions."""

    multiplier: IntArray
    constant: IntArray
    threshold: IntArray | None  # double rounding: acc - threshold < 0 where SRDHM's result is
    carry: IntArray | None  # 2^31 where the final shift rounds negative halves away, else 0
    total: IntArray  # the combined right shift

    @staticmethod
    def of(offset: IntArray, multiplier: IntArray, shift: IntArray, zero: int,
           rounding: Rounding, tile: int) -> _Fused | None:
        """The fused stage, or None when a channel shifts left or the folded constants might
        leave int64's range (then the step-by-step path runs)."""
        if (shift > 0).any():
            return None
        m = [int(v) for v in multiplier]
        if rounding == "single":
            total = [31 - int(v) for v in shift]
            constant = [o * mm + (1 << (t - 1)) + (zero << t)
                        for o, mm, t in zip(offset.tolist(), m, total, strict=True)]
            threshold = carry = None
        else:
            right = [-int(v) for v in shift]
            total = [31 + e for e in right]
            fold = [(((1 << e) >> 1) << 31) + (zero << (31 + e)) for e in right]
            constant = [o * mm + (1 << 30) + f
                        for o, mm, f in zip(offset.tolist(), m, fold, strict=True)]
            threshold, carry = fold, [(1 << 31) if e > 0 else 0 for e in right]
        extra = max(abs(c - o * mm) for c, o, mm in zip(constant, offset.tolist(), m, strict=True))
        if extra >= 1 << 61:
            return None

        def tiled(values: list[int] | None) -> IntArray | None:
            return None if values is None else np.tile(np.array(values, np.int64), tile)

        fused = (tiled(m), tiled(constant), tiled(threshold), tiled(carry), tiled(total))
        return _Fused(*fused)  # type: ignore[arg-type]

    def __call__(self, sums: Array) -> IntArray:
        """The output values (before the clamp) of the raw sums (rows of whole output rows)."""
        if sums.dtype.kind == "f":
            acc: IntArray = sums.astype(np.int64)
            acc *= self.multiplier
        else:  # integer sums widen within the multiply
            acc = np.multiply(sums, self.multiplier, dtype=np.int64)
        acc += self.constant
        if self.threshold is not None and self.carry is not None:
            sign = acc - self.threshold
            sign >>= 63
            sign &= self.carry
            acc -= sign
        acc >>= self.total
        return acc


@dataclass(frozen=True)
class _Output:
    """The integer output stage: raw sums (+ per-channel offset) -> output values."""

    offset: IntArray  # per channel: the bias minus the folded input zero point
    scaling: _Scaling
    fused: _Fused | None  # when the int32 accumulator cannot wrap
    wide: bool  # a 64-bit accumulator and MultiplyByQuantizedMultiplier
    wrap: bool  # the int32 accumulator may wrap
    zero: int
    low: int
    high: int
    dtype: np.dtype[Any]

    def __call__(self, sums: Array, out: Array) -> None:
        """Write the outputs of ``sums`` to ``out`` (both shaped (..., width, channels): the
        per-channel constants are tiled over whole output rows)."""
        rows = sums.reshape(-1, self.offset.size)
        if self.fused is not None:
            acc = self.fused(rows)
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
class _Hybrid:
    """LiteRT's dynamic-range arithmetic: each sample quantized to int8 on its own, the integer
    sums scaled back in float32."""

    asymmetric: bool  # AsymmetricQuantizeFloats (with a zero point), else symmetric
    product_first: bool  # acc * (scale * factor), else (acc * scale) * factor
    sums: npt.NDArray[np.float64]  # Σ w per output channel, to fold the zero point
    scales: npt.NDArray[np.float32]  # filter scale per output channel

    def quantize(self, x: Array) -> tuple[Array, Any, Array, Array]:
        """``(q, padding value, factor, zero point)`` of the float samples ``x``."""
        if self.asymmetric:
            q, factor, zero = _quantize_asymmetric(x)
            return q, zero.astype(np.int8)[:, None, None, None], factor, zero
        q, factor = _quantize_symmetric(x)
        return q, 0, factor, np.zeros(x.shape[0])

    def scale(self, sums: Array, factor: Array, zero: Array) -> Array:
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
class _Finish:
    """What turns a convolution's sums into its output, for its kind: ``output`` for integer
    kernels, ``hybrid`` for dynamic-range ones, float arithmetic otherwise."""

    output: _Output | None
    hybrid: _Hybrid | None
    bias: Array | None  # float and hybrid kernels: float32 per channel
    bias_at: int | None  # where a float bias computed at run time arrives
    low: np.float32
    high: np.float32
    fill: int  # the padding value of integer inputs (their zero point)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.output.dtype if self.output is not None else np.dtype(np.float32)

    def __call__(self, sums: Array, arrays: Sequence[Array | None], factor: Array | None,
                 zero: Array | None, out: Array) -> None:
        """Write the outputs of ``sums`` (shaped as ``out``) to ``out``."""
        if self.output is not None:
            self.output(sums, out)
            return
        if self.hybrid is not None:
            assert factor is not None and zero is not None
            sums = self.hybrid.scale(sums, factor, zero)
        bias = self.bias
        if bias is None and self.bias_at is not None and len(arrays) > self.bias_at:
            given = arrays[self.bias_at]
            bias = None if given is None else given.reshape(-1).astype(np.float32)
        out[...] = sums
        if bias is not None:
            out += bias
        np.minimum(np.maximum(out, self.low, out=out), self.high, out=out)


def _quantize_asymmetric(x: Array) -> tuple[Array, Array, Array]:
    """LiteRT's AsymmetricQuantizeFloats of each sample: ``(q int8, scale float32, zp)``.

    The range ``max(x, 0) - min(x, 0)`` is subtracted in float32, as in the ai-edge-litert 2.3
    wheel (LiteRT's current source subtracts in double); the rest is in double, then q in
    float32."""
    flat = x.reshape(x.shape[0], -1)
    low = np.minimum(flat.min(axis=1), np.float32(0))
    high = np.maximum(flat.max(axis=1), np.float32(0))
    empty = low == high
    scale = np.where(empty, 1.0, (high - low).astype(np.float64) / 255.0)
    rmin, rmax = low.astype(np.float64) / scale, high.astype(np.float64) / scale
    zero = np.where(128.0 + np.abs(rmin) < 127.0 + np.abs(rmax), -128.0 - rmin, 127.0 - rmax)
    zero = np.where(empty, 0, np.clip(round_half_away(zero), -128, 127))
    factor = scale.astype(np.float32)
    inverse = np.float32(1) / factor
    q = round_half_away(zero.astype(np.float32)[:, None] + flat * inverse[:, None])
    return np.clip(q, -128, 127).astype(np.int8).reshape(x.shape), factor, zero


def _quantize_symmetric(x: Array) -> tuple[Array, Array]:
    """LiteRT's SymmetricQuantizeFloats of each sample: ``(q int8, scale float32)``."""
    flat = x.reshape(x.shape[0], -1)
    top = np.maximum(np.abs(flat.min(axis=1)), np.abs(flat.max(axis=1)))
    empty = top == 0
    safe = np.where(empty, np.float32(1), top)
    factor = np.where(empty, np.float32(1), safe / np.float32(127)).astype(np.float32)
    q = round_half_away(flat * (np.float32(127) / safe)[:, None])
    return np.clip(q, -127, 127).astype(np.int8).reshape(x.shape), factor


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


def _abs_sum(rows: Array) -> int:
    """The largest Σ |w| over the rows of ``rows`` (one row per output channel)."""
    return int(np.abs(rows.astype(np.int64)).sum(axis=1).max())


@dataclass(frozen=True)
class _Spec:
    """Where a convolution keeps its operands and what its kernel accepts."""

    x: int  # input index
    w: int  # filter index
    b: int  # bias index
    axis: int  # the filter's output-channel axis
    hybrid: bool  # float inputs may come with int8 filters
    int16_biases: tuple[TensorType, ...]
    folds_zero: bool  # pads with the input zero point and folds it into the offset

def _finish(node: Node, spec: _Spec, activation: int, quantized_bias_type: int,
            per_channel_hybrid: bool) -> _Finish:
    """Check the types of a convolution and prepare its output stage."""
    x, w, y = node.input(spec.x), node.input(spec.w), node.outputs[0]
    expect_types(node, x, TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
    if y.type != x.type:
        unsupported(node, f"output is {y.type_name}, input {x.type_name}")
    if x.type != TensorType.FLOAT32:
        return _integer_finish(node, spec, activation, quantized_bias_type)
    expect_types(node, w, TensorType.FLOAT32, *((TensorType.INT8,) if spec.hybrid else ()))
    low, high = (np.float32(v) for v in float_activation(node, activation))
    if w.type == TensorType.INT8:
        return _hybrid_finish(node, spec, low, high, per_channel_hybrid)
    b = node.inputs[spec.b] if spec.b < len(node.inputs) else None
    expect_types(node, b, TensorType.FLOAT32)
    if any(o is not None and o.batched for o in (w, b)):
        unsupported(node, "the filter or bias depends on the input")
    bias = None if b is None or b.data is None else b.data.reshape(-1).astype(np.float32)
    return _Finish(None, None, bias, spec.b, low, high, 0)


def _hybrid_finish(node: Node, spec: _Spec, low: np.float32, high: np.float32,
                   per_channel: bool) -> _Finish:
    """LiteRT's hybrid kernels: asymmetric inputs for depthwise, grouped and per-channel
    convolutions (filters with differing scales), symmetric for the others."""
    w, channels = node.input(spec.w), node.outputs[0].shape[-1]
    rows = _filter_rows(node, spec)
    scales = _scales(node, w, spec.axis, channels)
    asymmetric = per_channel or bool((scales != scales[0]).any())
    if asymmetric and w.scale is not None and w.scale.size != channels:
        unsupported(node, "LiteRT's per-channel hybrid kernels need one filter scale per "
                          "output channel")
    if 255 * _abs_sum(rows) >= _INT32:
        unsupported(node, "the int32 accumulator could overflow")
    hybrid = _Hybrid(asymmetric, spec.axis == 3 or not asymmetric,
                     rows.sum(axis=1).astype(np.float64), scales)
    bias = _bias(node, spec.b, channels, TensorType.FLOAT32)
    if bias is None and spec.axis == 0:  # LiteRT, the only oracle, requires one
        unsupported(node, "a hybrid CONV_2D needs a bias")
    return _Finish(None, hybrid, None if bias is None else bias.astype(np.float32), None, low,
                   high, 0)


def _integer_finish(node: Node, spec: _Spec, activation: int, quantized_bias_type: int
                    ) -> _Finish:
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
    bound = (255 if int8 else 32768) * _abs_sum(rows) + int(np.abs(bias).max())
    scales = _scales(node, w, spec.axis, channels).astype(np.float64)
    multiplier, shift = quantize_multipliers(
        float(x.scale_value) * scales / float(y.scale_value), node.rounding)
    low, high = activation_range(node, activation, y)
    assert y.dtype is not None
    width = y.shape[-2]
    scaling = _Scaling.of(multiplier, shift, node.rounding, width)
    zero = y.zero_value if int8 else 0
    fused = None if wide or bound >= _INT32 else _Fused.of(offset, multiplier, shift, zero,
                                                           node.rounding, width)
    output = _Output(np.tile(offset, width), scaling, fused, wide, bound >= _INT32, zero, low,
                     high, y.dtype)
    return _Finish(output, None, None, None, np.float32(0), np.float32(0), fill)


def _filter_rows(node: Node, spec: _Spec) -> Array:
    """A constant integer filter as one row per output channel."""
    w = node.input(spec.w)
    if w.data is None:
        unsupported(node, f"filter {w.name!r} is not constant")
    return np.moveaxis(w.data, spec.axis, 0).reshape(w.shape[spec.axis], -1).astype(np.int64)


def _check_output(node: Node, y: Operand, expected: Sequence[int]) -> None:
    if tuple(y.shape) != tuple(expected):
        unsupported(node, f"output shape {list(y.shape)}, expected {list(expected)}")


def _batch(x: Array | None) -> tuple[Array, tuple[int, ...]]:
    """The leading run batch and the model's batch merged, (n, h, w, c), and the leading axes
    to restore on the output."""
    assert x is not None
    return x.reshape(-1, *x.shape[-3:]), x.shape[:-3]


def _quantized_input(f: _Finish, x: Array) -> tuple[Array, Any, Array | None, Array | None]:
    """``(values to sum, padding value, hybrid factor, hybrid zero point)`` of samples ``x``."""
    if f.hybrid is None:
        return x, f.fill, None, None
    return f.hybrid.quantize(x)


# ------------------------------------------------------------------------------------------------
# CONV_2D
# ------------------------------------------------------------------------------------------------

_CONV = _Spec(0, 1, 2, 0, True, (TensorType.INT32, TensorType.INT64), True)


@dataclass(frozen=True)
class _Conv:
    win: _Window
    groups: int
    out_shape: tuple[int, ...]
    mats: tuple[Array, ...] | None  # per group (kh * kw * cin / groups, cout / groups)
    finish: _Finish


def _conv_matrices(w: Array, groups: int, dtype: Any) -> tuple[Array, ...]:
    per = w.shape[0] // groups
    return tuple(np.ascontiguousarray(w[g * per:(g + 1) * per].reshape(per, -1).T, dtype)
                 for g in range(groups))


def _prepare_conv(node: Node) -> _Conv:
    opts = options(node, Conv2DOptions)
    x, w, y = node.input(0), node.input(1), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4:
        unsupported(node, "input and filter must have rank 4")
    cout, kh, kw, cin = w.shape
    if cin < 1 or x.shape[3] % cin or cout % (x.shape[3] // cin):
        unsupported(node, f"filter depth {cin} does not split input depth {x.shape[3]} and "
                          f"{cout} output channels into groups")
    groups = x.shape[3] // cin
    win = _window(node, x.shape[1:3], (kh, kw), (opts.stride_h, opts.stride_w),
                  (opts.dilation_h_factor, opts.dilation_w_factor), opts.padding)
    _check_output(node, y, (x.shape[0], *win.out, cout))
    finish = _finish(node, _CONV, opts.fused_activation_function, opts.quantized_bias_type,
                     groups > 1)
    if w.data is None:
        return _Conv(win, groups, y.shape, None, finish)
    if w.type == TensorType.FLOAT32:
        dtype: Any = np.float64
    else:  # exact in float32 while every partial sum stays below 2^24
        largest = 32768 if x.type == TensorType.INT16 else 128
        exact = largest * _abs_sum(w.data.reshape(cout, -1)) < _EXACT32
        dtype = np.float32 if exact else np.float64
    return _Conv(win, groups, y.shape, _conv_matrices(w.data, groups, dtype), finish)


def _conv_sums(p: _Conv, mats: tuple[Array, ...], x: Array, fill: Any) -> Array:
    """Σ w * padded input for every output position and channel: (n * oh * ow, cout)."""
    padded = _pad(x, p.win, fill, x.dtype)
    if p.groups == 1:
        return _matmul(_im2col(padded, p.win, mats[0].dtype), mats[0])
    per = x.shape[3] // p.groups
    return np.concatenate([_matmul(_im2col(padded[..., g * per:(g + 1) * per], p.win, m.dtype),
                                   m) for g, m in enumerate(mats)], axis=1)


def _matmul(a: Array, b: Array) -> Array:
    """``a @ b`` as a stack of products of at most ``_BLAS_BLOCK`` multiply-adds each, which
    OpenBLAS runs on the calling thread: its worker threads, woken for every chunk and spinning
    in between, slowed whole models several times over on small machines."""
    rows = max(1, _BLAS_BLOCK // (b.shape[0] * b.shape[1]))
    if rows >= a.shape[0]:
        return a @ b
    whole = a.shape[0] // rows * rows
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    np.matmul(a[:whole].reshape(-1, rows, a.shape[1]), b,
              out=out[:whole].reshape(-1, rows, b.shape[1]))
    if whole < a.shape[0]:
        np.matmul(a[whole:], b, out=out[whole:])
    return out


def _run_conv(p: _Conv, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[0])
    mats = p.mats
    if mats is None:
        mats = _conv_matrices(np.asarray(arrays[1])[0], p.groups, np.float64)
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    k = sum(m.shape[0] for m in mats)
    temp = oh * ow * (k * mats[0].itemsize + cout * 40)
    for part in _chunks(x.shape[0], temp):
        q, fill, factor, zero = _quantized_input(p.finish, x[part])
        sums = _conv_sums(p, mats, q, fill).reshape(q.shape[0], oh, ow, cout)
        p.finish(sums, arrays, factor, zero, out[part])
    return [out.reshape(*lead, oh, ow, cout)]


# ------------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D
# ------------------------------------------------------------------------------------------------

_DEPTHWISE = _Spec(0, 1, 2, 3, True, (TensorType.INT64,), True)


@dataclass(frozen=True)
class _Depthwise:
    win: _Window
    multiplier: int
    out_shape: tuple[int, ...]
    taps: Array | None  # (kh * kw, 1, out width, channels) in the accumulator's type
    finish: _Finish


def _prepare_depthwise(node: Node) -> _Depthwise:
    opts = options(node, DepthwiseConv2DOptions)
    x, w, y = node.input(0), node.input(1), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or w.shape[0] != 1:
        unsupported(node, "input and filter must have rank 4, the filter shaped [1, h, w, c]")
    _, kh, kw, cout = w.shape
    cin = x.shape[3]
    if cout % cin or opts.depth_multiplier != cout // cin:
        unsupported(node, f"depth multiplier {opts.depth_multiplier} with {cin} input and "
                          f"{cout} output channels")
    win = _window(node, x.shape[1:3], (kh, kw), (opts.stride_h, opts.stride_w),
                  (opts.dilation_h_factor, opts.dilation_w_factor), opts.padding)
    _check_output(node, y, (x.shape[0], *win.out, cout))
    finish = _finish(node, _DEPTHWISE, opts.fused_activation_function, TensorType.INT64, True)
    if w.data is None:
        return _Depthwise(win, cout // cin, y.shape, None, finish)
    taps = w.data.reshape(kh * kw, cout)
    if w.type == TensorType.FLOAT32:
        dtype: Any = np.float64
    else:  # the raw sums (input values up to 2^15 in magnitude) in int32 when they fit
        largest = 32768 if x.type == TensorType.INT16 else 128
        dtype = np.int32 if largest * _abs_sum(taps.T) < _INT32 else np.int64
    return _Depthwise(win, cout // cin, y.shape, _tile_taps(taps, win, dtype), finish)


def _tile_taps(taps: Array, win: _Window, dtype: Any) -> Array:
    """(kh * kw, channels) repeated along the output width: numpy's inner loops then run over
    whole output rows rather than single pixels."""
    tiled = np.broadcast_to(taps[:, None, None, :], (taps.shape[0], 1, win.out[1], taps.shape[1]))
    return np.ascontiguousarray(tiled, dtype)


def _depthwise_sums(p: _Depthwise, taps: Array, x: Array, fill: Any) -> Array:
    """Σ w * padded input per output position and channel: (n, oh, ow, cout), taps' type."""
    if p.multiplier > 1:
        x = np.repeat(x, p.multiplier, axis=3)
    phases = _phases(_pad(x, p.win, fill, taps.dtype), p.win)
    acc: Array = _unit_tap(phases, p.win, 0, 0) * taps[0]
    scratch = np.empty_like(acc)
    for t, (ky, kx) in enumerate(p.win.taps[1:], start=1):
        np.multiply(_unit_tap(phases, p.win, ky, kx), taps[t], out=scratch)
        acc += scratch
    return acc


def _run_depthwise(p: _Depthwise, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[0])
    taps = p.taps
    if taps is None:
        taps = _tile_taps(np.asarray(arrays[1]).reshape(len(p.win.taps), -1), p.win, np.float64)
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    padded = (x.shape[1] + sum(p.win.before) + sum(p.win.after)) * (x.shape[2] + 8) * cout
    temp = (padded + 3 * oh * ow * cout) * taps.itemsize
    for part in _chunks(x.shape[0], temp):
        q, fill, factor, zero = _quantized_input(p.finish, x[part])
        p.finish(_depthwise_sums(p, taps, q, fill), arrays, factor, zero, out[part])
    return [out.reshape(*lead, oh, ow, cout)]


# ------------------------------------------------------------------------------------------------
# TRANSPOSE_CONV
# ------------------------------------------------------------------------------------------------

_TRANSPOSE = _Spec(2, 1, 3, 0, False, (TensorType.INT16, TensorType.INT64), False)


@dataclass(frozen=True)
class _Transpose:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    before: tuple[int, int]  # the output's cropping (top, left)
    out_shape: tuple[int, ...]
    mat: Array | None  # (cin, kh * kw * cout), float64
    zero: int  # the input zero point
    finish: _Finish


def _prepare_transpose(node: Node) -> _Transpose:
    opts = options(node, TransposeConvOptions)
    w, x, y = node.input(1), node.input(2), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        unsupported(node, "input, filter and output must have rank 4")
    cout, kh, kw, cin = w.shape
    if cin != x.shape[3] or y.shape[3] != cout or y.shape[0] != x.shape[0]:
        unsupported(node, f"filter {list(w.shape)} does not fit input {list(x.shape)} and "
                          f"output {list(y.shape)}")
    # TFLite Micro pads as it would pad a convolution over the output's size.
    win = _window(node, y.shape[1:3], (kh, kw), (opts.stride_h, opts.stride_w), (1, 1),
                  opts.padding)
    finish = _finish(node, _TRANSPOSE, opts.fused_activation_function, TensorType.INT64, False)
    mat = None if w.data is None else _transpose_matrix(w.data)
    return _Transpose((kh, kw), win.stride, win.before, y.shape, mat, finish.fill, finish)


def _transpose_matrix(w: Array) -> Array:
    """(cout, kh, kw, cin) -> (cin, kh * kw * cout)."""
    return np.ascontiguousarray(w.transpose(3, 1, 2, 0).reshape(w.shape[3], -1), np.float64)


def _transpose_sums(p: _Transpose, mat: Array, x: Array) -> Array:
    """Every input pixel's products scattered onto the output: (n, oh, ow, cout), float64."""
    n, h, w, cin = x.shape
    (kh, kw), (sy, sx), (top, left) = p.kernel, p.stride, p.before
    oh, ow, cout = p.out_shape[1:]
    centred = x.astype(np.float64).reshape(-1, cin)
    if p.zero:
        centred -= p.zero
    cols = (centred @ mat).reshape(n, h, w, kh, kw, cout)
    canvas = np.zeros((n, max((h - 1) * sy + kh, top + oh), max((w - 1) * sx + kw, left + ow),
                       cout))
    for ky in range(kh):
        for kx in range(kw):
            canvas[:, ky:ky + (h - 1) * sy + 1:sy, kx:kx + (w - 1) * sx + 1:sx] += (
                cols[:, :, :, ky, kx])
    return canvas[:, top:top + oh, left:left + ow]


def _run_transpose(p: _Transpose, arrays: Sequence[Array | None]) -> list[Array]:
    x, lead = _batch(arrays[2])
    mat = p.mat if p.mat is not None else _transpose_matrix(np.asarray(arrays[1])[0])
    oh, ow, cout = p.out_shape[1:]
    out = np.empty((x.shape[0], oh, ow, cout), p.finish.dtype)
    temp = 8 * (x[0].size * (1 + mat.shape[1] // x.shape[3]) + 4 * oh * ow * cout)
    for part in _chunks(x.shape[0], temp):
        p.finish(_transpose_sums(p, mat, x[part]), arrays, None, None, out[part])
    return [out.reshape(*lead, oh, ow, cout)]


KERNELS: Registry = {
    BuiltinOperator.CONV_2D: Kernel(_prepare_conv, _run_conv),
    BuiltinOperator.DEPTHWISE_CONV_2D: Kernel(_prepare_depthwise, _run_depthwise),
    BuiltinOperator.TRANSPOSE_CONV: Kernel(_prepare_transpose, _run_transpose),
}

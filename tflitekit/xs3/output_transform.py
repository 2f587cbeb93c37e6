"""The int8 output transform of today's xcore converter (``XC_conv2d_v2``), as a VPU program.

Facts from xmos lib_nn (``OutputTransformFn.hpp/.cpp``, ``output_transform_fn_int8.S``,
``output_transform_fn_int_channelwise.S``); the code is ours. 16 channels at a time, on raw
32-bit accumulators ``acc = Σ x·w`` (input zero point, bias and output zero point are all folded
into the int16 bias), in the 16-bit mode:

1. VLSAT by the initial shift (round half up, saturate to int16). The group form has one shift
   per layer; a negative one is VLSAT 0 then a saturating left VLASHR. The channelwise form
   reads one shift per channel (never negative: VLSAT shifts are unsigned).
2. VLMUL by the int16 multiplier: ``sat16((t·m + 2^13) >> 14)``.
3. VLADD the int16 bias (saturating).
4. VLASHR by the final shift (floor; negative: saturating left shift).
   Optionally (ours: xmos folds a fused activation's clamp into the conversion), the fused
   activation's clamp to ``[lo, hi]``, exact in this int16 domain because every later stage
   is monotone: ``t`` is clamped to ``[L, H] = [256·lo - 128, 256·hi + 127]`` (``L = -32767``
   for ``lo = -128``) by saturation, in two steps of the form ``v → -min(v, X)``, first
   ``X = H`` then ``X = -L``: VLADD D1, VLADD D2 (``w = min(v + D, 32767)``), VLSUB D1, VLADD D2
   (``D - w``), ``D = D1 + D2 = 32767 - X`` split into int16 parts, the D2 steps left out when
   ``D2 = 0`` (:func:`clamp_constants`).
5. The asymmetric VDEPTH8 ``clamp((t + 128) >> 8, -128, 127)``: lanes below -32640 (found with
   VLADD 0x7f80 and VDEPTH1) are stored as -128, the others through VDEPTH8 and a byte-masked
   VSTRPV.

The derivation (:func:`derive_transform`) from TFLite quantization is ours:
``out = round(acc·M + C)`` with ``M`` TFLite's quantized multiplier and
``C = M·(bias - zp_in·Σw) + zp_out`` is written as ``m·2^-(A'+14) = M·2^B``,
``b = round(C·2^B)``; the bias exponent ``B = 8 + final_shift`` is the
largest the int16 lanes allow, then the accumulator exponent ``A = -initial_shift`` minimises the
worst product error. Only accumulators whose output is not clamped matter (every stage is
monotone, so the clamped ones follow).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.interpreter import fixedpoint as fp
from tflitekit.xs3.isa import Mode, VectorUnit
from tflitekit.xs3.memory import Memory

__all__ = ["GROUP", "OutputTransform", "Placed", "clamp_constants", "derive_transform",
           "output_transform", "place", "tflite_multipliers", "transform_group"]

GROUP = 16
"""Channels per output-transform step (the 16 accumulators of the 8/16-bit modes)."""
_I16 = 32767
_VLMUL_SHIFT = 14
_NEG_LIMIT = 0x7F80
"""VLADD of this makes exactly the lanes below -32640 negative (they become -128)."""
OTHER_PER_GROUP = 14
"""Scalar issue slots per group in lib_nn's assembly besides those paired with a VPU
instruction (call, stack, parameter loads, branch, mask arithmetic, return)."""

IntArray = npt.NDArray[np.int64]


def _int16s(name: str, value: Any, channels: int) -> npt.NDArray[np.int16]:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(channels, arr)
    if arr.shape != (channels,):
        raise UsageError(f"{name} must be a scalar or {channels} values, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" or arr.min(initial=0) < -32768 or arr.max(initial=0) > _I16:
        raise UsageError(f"{name} must be int16 values")
    return arr.astype(np.int16)


@dataclass(frozen=True, eq=False)
class OutputTransform:
    """Per-channel int16 parameters of the transform (module docstring). ``initial_shift`` and
    ``final_shift`` may be given as scalars; they are stored as arrays of the channel count.
    ``final_shift`` is one value per layer; equal initial shifts are the group form (any sign),
    unequal ones the channelwise form (each ≥ 0)."""

    initial_shift: npt.NDArray[np.int16]
    multiplier: npt.NDArray[np.int16]
    bias: npt.NDArray[np.int16]
    final_shift: npt.NDArray[np.int16]

    def __post_init__(self) -> None:
        channels = int(np.asarray(self.multiplier).size)
        for name in ("multiplier", "bias", "initial_shift", "final_shift"):
            object.__setattr__(self, name, _int16s(name, getattr(self, name), channels))
        if len(set(self.final_shift.tolist())) > 1:
            raise UsageError("final_shift must be one value for every channel")
        if not self.grouped and self.initial_shift.min() < 0:
            raise UsageError("channelwise initial shifts must be non-negative (VLSAT's shifts "
                             "are unsigned); only the group form shifts left")

    @property
    def channels(self) -> int:
        return int(self.multiplier.size)

    @property
    def grouped(self) -> bool:
        """True for the group form: one initial shift for every channel."""
        return len(set(self.initial_shift.tolist())) <= 1

    def apply(self, accumulators: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """The transform of raw accumulators ``(..., channels)`` in whole-array numpy: the
        values :func:`output_transform` computes instruction by instruction, without the
        instructions (the batched backends' fast path, :meth:`compiled`)."""
        return self.compiled()(np.asarray(accumulators))

    def compiled(self, start: npt.ArrayLike | None = None, clamp: tuple[int, int] = (-128, 127),
                 bound: int | None = None, rows: int = 1) -> Compiled:
        """:meth:`apply` as a few in-place numpy passes, for accumulators that begin at
        ``start`` (per channel, added first), outputs clamped to ``clamp`` (the clamp stage);
        ``bound`` (|Σ + start| ≤ bound, when known) keeps the arithmetic in int32; ``rows``:
        the accumulators come in multiples of this many rows (:attr:`Compiled.rows`)."""
        return Compiled.of(self, start, clamp, bound, rows)


_I32 = 2**31


@dataclass(frozen=True, eq=False)
class Compiled:
    """The transform in closed form (:meth:`OutputTransform.compiled`). Every stage is
    monotone, so the saturations fold into a per-channel clamp of the output:

    1. ``t = clip(round_shift(acc + start), ±32767)`` (round half up; a negative group shift
       multiplies after the clip);
    2. ``out = clip(((t·m + R) >> E) << A, lo, hi)``, where ``R``, ``E``, ``A`` fold the
       VLMUL rounding, the bias, the final shift and VDEPTH8's rounding into one floor
       division (nested floors of integer quotients are one floor), and ``lo``, ``hi`` are
       the outputs at the ends of the range the multiply's and the bias' saturations leave.
    """

    wide: type[np.signedinteger[Any]]  # stage 1's integer type
    offset: PerChannel  # start + the rounding half
    shift: PerChannel  # right shift, or minus the left shift (group form)
    clip: bool  # whether stage 1 can leave ±32767
    narrow: type[np.signedinteger[Any]]  # stage 2's integer type
    multiplier: PerChannel
    rounding: PerChannel
    right: int
    left: int
    lo: PerChannel
    hi: PerChannel
    rows: int  # the arrays' rows (the channels repeated): numpy's loops then run longer

    @classmethod
    def of(cls, t: OutputTransform, start: npt.ArrayLike | None, clamp: tuple[int, int],
           bound: int | None, rows: int = 1) -> Compiled:
        s = t.initial_shift.astype(np.int64)
        half = np.where(s > 0, np.int64(1) << np.maximum(s - 1, 0), 0)
        offset = np.zeros(t.channels, np.int64) if start is None else np.asarray(start, np.int64)
        if not (t.grouped and s[0] < 0):
            offset = offset + half
        reach = None if bound is None else bound + int(half.max(initial=0))
        wide = np.int32 if reach is not None and reach < _I32 else np.int64
        clip = reach is None or int(s.min()) <= 0 or reach >> int(s.min()) >= _I16
        b, f = t.bias.astype(np.int64), int(t.final_shift[0])
        if f >= 0:
            add, right, left = 128 << f, 22 + f, 0
        else:
            k = -f
            add, right, left = (1 << (7 - k), 22 - k, 0) if k <= 7 else (0, 14, min(k - 8, 8))
        rounding = (1 << 13) + ((b + add) << 14)
        m = t.multiplier.astype(np.int64)
        narrow = np.int32 if (_I16 * int(np.abs(m).max(initial=0))
                              + int(np.abs(rounding).max(initial=0))) < _I32 else np.int64
        ends = [np.clip(_floor_shift(np.asarray(v) + add, right - 14, left), -128, 127)
                for v in (np.maximum(-_I16, b - _I16), np.minimum(_I16, b + _I16))]
        lo, hi = np.maximum(ends[0], clamp[0]), np.minimum(ends[1], clamp[1])

        def tiled(values: npt.NDArray[np.int64], dtype: Any) -> PerChannel:
            if (values == values[0]).all():
                return int(values[0])
            return np.ascontiguousarray(np.broadcast_to(values.astype(dtype), (rows, t.channels)))

        return cls(wide, tiled(offset, wide), tiled(s, np.int32), clip, narrow,
                   tiled(m, narrow), tiled(rounding, narrow), right, left,
                   tiled(lo, narrow), tiled(hi, narrow), rows)

    def __call__(self, accumulators: npt.NDArray[Any], out: npt.NDArray[np.int8] | None = None,
                 *, consume: bool = False) -> npt.NDArray[np.int8]:
        """The int8 outputs of ``accumulators`` ``(..., channels)`` (integers, or floats that
        hold integers exactly; a multiple of :attr:`rows` rows), written into ``out`` (of any
        shape of the same size) if given; ``consume``: the accumulators may be
        overwritten."""
        shape = accumulators.shape
        x = accumulators.reshape(-1, self.rows, shape[-1]).astype(self.wide, copy=not consume)
        if isinstance(self.shift, int) and self.shift < 0:
            x += self.offset
            np.clip(x, -_I16, _I16, out=x)
            x <<= min(-self.shift, 16)
            np.clip(x, -_I16, _I16, out=x)
        else:
            x += self.offset
            x >>= self.shift
            if self.clip:
                np.clip(x, -_I16, _I16, out=x)
        t = x.astype(self.narrow, copy=False)
        t *= self.multiplier
        t += self.rounding
        t >>= self.right
        if self.left:
            t <<= self.left
        if out is None:
            out = np.empty(shape, np.int8)
        if isinstance(self.lo, int) and isinstance(self.hi, int):
            np.clip(t.reshape(out.shape), self.lo, self.hi, out=out, casting="unsafe")
        else:
            np.maximum(t, self.lo, out=t)
            np.minimum(t, self.hi, out=t)
            np.copyto(out, t.reshape(out.shape), casting="unsafe")
        return out


PerChannel = int | npt.NDArray[np.signedinteger[Any]]
"""A value for every channel: one int when they are equal (numpy's scalar loops are faster),
else an array ``(rows, channels)``."""


def _floor_shift(v: npt.NDArray[np.int64], right: int, left: int) -> npt.NDArray[np.int64]:
    shifted: npt.NDArray[np.int64] = (v >> right) << left
    return shifted


def _le16(values: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    return np.asarray(values, "<i2").view(np.uint8)


def _pad(values: npt.NDArray[Any], length: int) -> npt.NDArray[Any]:
    return np.concatenate([values, np.zeros(length - values.size, values.dtype)])


@dataclass(frozen=True, eq=False)
class Placed:
    """A transform's constants placed in an engine's memory (:func:`place`)."""

    transform: OutputTransform
    table: int
    consts: int
    scratch: int
    clamp: tuple[int, int] | None = None
    """The clamp's ``(low, high)`` (module docstring), None when nothing is clamped."""
    bounds: int = 0
    """The clamp's D1, D2 vectors for ``X = H``, then for ``X = -L``."""


def clamp_constants(low: int, high: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(D1, D2)`` of each step of the int16 clamp that makes the outputs ``clamp(y, low,
    high)`` (module docstring), for ``-128 ≤ low ≤ high ≤ 127``."""
    if not -128 <= low <= high <= 127:
        raise UsageError(f"the clamp [{low}, {high}] is not an int8 range")
    bottom = 256 * low - 128 if low > -128 else -_I16
    steps = []
    for x in (256 * high + 127, -bottom):
        d = _I16 - x
        steps.append((min(d, _I16), d - min(d, _I16)))
    return steps[0], steps[1]


def place(memory: Memory, transform: OutputTransform,
          clamp: tuple[int, int] | None = None) -> Placed:
    """Allocate what :func:`transform_group` reads: per group of 16 channels the initial shifts
    (VLSAT's unsigned operand: a negative group shift reads as 0), multipliers and biases, a
    vector each; the 0x7f80, 0x80 and zero vectors; 64 bytes of scratch per sample; and with
    a ``clamp`` ``(low, high)`` narrower than int8, its D and E vectors."""
    groups = -(-transform.channels // GROUP)
    n = groups * GROUP
    fields = [_pad(np.maximum(transform.initial_shift, 0), n), _pad(transform.multiplier, n),
              _pad(transform.bias, n)]
    table = np.concatenate([_le16(f[g * GROUP:(g + 1) * GROUP])
                            for g in range(groups) for f in fields])
    consts = np.concatenate([_le16(np.full(GROUP, _NEG_LIMIT)), np.full(32, 0x80, np.uint8),
                             np.zeros(32, np.uint8)])
    placed = Placed(transform, memory.alloc(table), memory.alloc(consts),
                    memory.alloc(64, per_sample=True))
    if clamp is None or tuple(clamp) == (-128, 127):
        return placed
    bounds = np.repeat(np.ravel(clamp_constants(*clamp)), GROUP)
    return replace(placed, clamp=(int(clamp[0]), int(clamp[1])),
                   bounds=memory.alloc(_le16(bounds)))


def output_transform(vpu: VectorUnit, transform: OutputTransform,
                     accumulators: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Run the transform on ``vpu`` over ``accumulators`` (int32, ``(batch, C)``, batch = the
    engine memory's batch) and return the int8 outputs ``(batch, C)``. An instruction-level
    engine computes only its own sample's row."""
    acc = np.asarray(accumulators, np.int64)
    mem = vpu.memory
    if acc.ndim != 2 or acc.shape != (mem.batch, transform.channels):
        raise UsageError(f"accumulators must be (batch={mem.batch}, C={transform.channels}), "
                         f"got {acc.shape}")
    groups = -(-transform.channels // GROUP)
    padded = np.zeros((mem.batch, groups * GROUP), np.int64)
    padded[:, :transform.channels] = acc
    ring = np.stack([padded & 0xFFFF, padded >> 16], axis=1)  # (batch, 2, G*16): vR, vD
    ring = ring.reshape(mem.batch, 2, groups, GROUP).transpose(0, 2, 1, 3).astype("<u2")
    acc_addr = mem.alloc(ring.reshape(mem.batch, -1).view(np.uint8), per_sample=True)
    placed = place(mem, transform)
    out = mem.alloc(groups * GROUP + GROUP, per_sample=True)  # VSTRPV spans 32 bytes
    for g in range(groups):
        transform_group(vpu, placed, acc_addr + 64 * g, out + GROUP * g, g)
    result: npt.NDArray[np.int8] = mem.view(out, transform.channels, np.int8)
    return result


def transform_group(vpu: VectorUnit, placed: Placed, ring: int, out: int, group: int) -> None:
    """Group ``group``'s outputs (≤ 16 bytes at ``out``) from the accumulators at ``ring`` (16
    low halves, then 16 high halves: what VSTR and VSTD leave), as lib_nn's per-group sequence."""
    transform = placed.transform
    count = min(GROUP, transform.channels - group * GROUP)
    table = placed.table + 96 * group
    tmp, mask_word = placed.scratch, placed.scratch + 32
    neg_limit, int8_min, zero = placed.consts, placed.consts + 32, placed.consts + 64
    vpu.other(OTHER_PER_GROUP)
    vpu.vsetc(Mode.INT16)
    vpu.vldr(ring)
    vpu.vldd(ring + 32)
    initial = int(transform.initial_shift[0])
    if transform.grouped and initial < 0:
        vpu.vlsat(zero)
        vpu.vstr(tmp)
        vpu.vlashr(tmp, initial)
    else:
        vpu.vlsat(table)
    vpu.vlmul(table + 32)
    vpu.vladd(table + 64)
    vpu.vstr(tmp)
    vpu.vlashr(tmp, int(transform.final_shift[0]))
    if placed.clamp is not None:
        _clamp(vpu, placed)
    vpu.vstr(tmp)
    vpu.vladd(neg_limit)
    vpu.vdepth1()
    vpu.vstrpv(mask_word, 0b11)
    full = (1 << count) - 1
    vpu.vldr(int8_min)
    vpu.vstrpv(out, full)
    negative = vpu.memory.view(mask_word, 1, np.uint16)[:, 0].astype(np.int64)  # a scalar load
    vpu.vldr(tmp)
    vpu.vdepth8()
    vpu.vstrpv(out, full & ~negative)  # the mask the scalar core computed, per sample


def _clamp(vpu: VectorUnit, placed: Placed) -> None:
    """The clamp stage on vR (module docstring)."""
    assert placed.clamp is not None
    for step, (_, d2) in enumerate(clamp_constants(*placed.clamp)):
        d1_addr = placed.bounds + 64 * step
        vpu.vladd(d1_addr)
        if d2:
            vpu.vladd(d1_addr + 32)
        vpu.vlsub(d1_addr)
        if d2:
            vpu.vladd(d1_addr + 32)


# -- derivation from TFLite quantization --------------------------------------------------------


def tflite_multipliers(input_scale: float, weight_scales: npt.ArrayLike,
                       output_scale: float) -> npt.NDArray[np.float64]:
    """The effective multipliers TFLite applies, per channel: ``s_in·s_w / s_out`` in double,
    quantized as TFLite quantizes it (a 31-bit mantissa and a shift), returned as the exact
    value that quantized form represents."""
    real = float(input_scale) * np.asarray(weight_scales, np.float64).reshape(-1) \
        / float(output_scale)
    fixed, shift = fp.quantize_multipliers(real)
    return np.ldexp(fixed.astype(np.float64), (shift - 31).astype(np.int32))


def _ranges(weights: npt.NDArray[np.int64], mult: npt.NDArray[np.float64],
            const: npt.NDArray[np.float64], start: IntArray
            ) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
    """Per channel, the accumulators that matter: reachable with int8 inputs from ``start``
    and not clamped (with a margin of one output step); and whether any do."""
    hi = start + np.sum(np.maximum(127 * weights, -128 * weights), axis=1)
    lo = start + np.sum(np.minimum(127 * weights, -128 * weights), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        top = np.where(mult > 0, np.ceil((128.5 - const) / mult), hi)
        bottom = np.where(mult > 0, np.floor((-129.5 - const) / mult), lo)
    hi = np.minimum(hi, top.clip(-2**40, 2**40).astype(np.int64))
    lo = np.maximum(lo, bottom.clip(-2**40, 2**40).astype(np.int64))
    live = (hi >= lo) & (mult > 0)
    return np.where(live, lo, 0), np.where(live, hi, 0), live


def _fits(big: IntArray, exp: int) -> npt.NDArray[np.bool_]:
    """Whether ``round(big · 2^exp)`` fits in int16 (big ≥ 0)."""
    scaled = big << exp if exp >= 0 else (big + (1 << (-exp - 1))) >> -exp
    return scaled <= _I16


def derive_transform(weights: npt.ArrayLike, bias: npt.ArrayLike | None, input_zero: int,
                     multipliers: npt.ArrayLike, output_zero: float, *,
                     channelwise: bool = False, folded: bool = False) -> OutputTransform:
    """Transform parameters for a layer ``out = clamp(round(M·(Σ (x - zp_in)·w + bias)) +
    zp_out)``: ``weights`` int8 ``(C, ...)`` (each channel's weights, any layout), ``bias``
    int32 ``(C,)`` or None, ``multipliers`` ``M`` per channel (or one; see
    :func:`tflite_multipliers`); ``output_zero`` may carry a fraction (an offset in output
    steps). ``channelwise`` gives each channel its own initial shift. ``folded``: the kernel
    starts its accumulators at ``bias - zp_in·Σw`` (TFLite's own accumulator, so the int16 bias
    holds only ``zp_out`` and the bias exponent need not shrink for a large constant), else at
    0 (xmos' form: everything in the int16 bias)."""
    w = np.asarray(weights, np.int64)
    w = w.reshape(w.shape[0], -1)
    channels = w.shape[0]
    mult = np.broadcast_to(np.asarray(multipliers, np.float64).reshape(-1), (channels,)).copy()
    if (mult < 0).any():
        raise UsageError("multipliers must be non-negative")
    b32 = np.zeros(channels, np.int64) if bias is None else np.asarray(bias, np.int64)
    offset = b32 - input_zero * w.sum(axis=1)
    if folded:
        const = np.full(channels, float(output_zero))
        lo, hi, live = _ranges(w, mult, const, offset)
    else:
        const = mult * offset.astype(np.float64) + output_zero
        lo, hi, live = _ranges(w, mult, const, np.zeros(channels, np.int64))
    mult = np.where(live, mult, 0.0)
    const = np.where(live, const, np.clip(np.round(const), -128, 127))
    biggest = np.maximum(np.abs(lo), np.abs(hi))
    for b_exp in range(8, -24, -1):
        bias16 = np.round(np.ldexp(const, b_exp))
        if np.abs(bias16).max(initial=0) > _I16:
            continue
        product = np.ldexp(np.maximum(np.abs(lo * mult), np.abs(hi * mult)), b_exp)
        benign = (bias16 <= _I16 - np.ldexp(127.5, b_exp) - 1) \
            & (bias16 >= np.ldexp(126.5, b_exp) - _I16)
        if not ((product <= _I16 - 1) | benign).all():
            continue
        shifts = _accumulator_exponents(biggest, mult, b_exp, channelwise)
        if shifts is None:
            continue
        m16 = np.round(np.ldexp(mult, b_exp - shifts + _VLMUL_SHIFT)).astype(np.int64)
        return OutputTransform((-shifts).astype(np.int16), m16.astype(np.int16),
                               bias16.astype(np.int16), np.full(channels, b_exp - 8, np.int16))
    raise UsageError("no output transform represents these parameters in int16")


def _accumulator_exponents(biggest: IntArray, mult: npt.NDArray[np.float64], b_exp: int,
                           channelwise: bool) -> IntArray | None:
    """The accumulator exponent ``A`` (per channel, or one for all) with the smallest worst
    error ``½ + |acc·2^A|·|Δm| / 2^14`` (+ ``½·m / 2^14`` when VLSAT rounds), among those where
    the scaled accumulators and the multipliers fit in int16; None when none fits."""
    best_err = np.full(biggest.size, np.inf)
    best = np.zeros(biggest.size, np.int64)
    group_best: tuple[float, int] | None = None
    for a_exp in range(16, -33, -1):
        if channelwise and a_exp > 0:
            continue
        exact = np.ldexp(mult, b_exp - a_exp + _VLMUL_SHIFT)
        m16 = np.round(exact)
        ok = _fits(biggest, a_exp) & (m16 <= _I16)
        t1 = np.ldexp(biggest.astype(np.float64), a_exp)
        err = 0.5 + t1 * np.abs(m16 - exact) / 2**14 + (a_exp < 0) * 0.5 * m16 / 2**14
        err = np.where(ok, err, np.inf)
        if channelwise:
            better = err < best_err
            best_err = np.where(better, err, best_err)
            best = np.where(better, a_exp, best)
        elif np.isfinite(err).all() and (group_best is None or err.max() < group_best[0]):
            group_best = (float(err.max()), a_exp)
    if channelwise:
        return best if np.isfinite(best_err).all() else None
    return None if group_best is None else np.full(biggest.size, group_best[1], np.int64)

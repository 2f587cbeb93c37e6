"""The int8 fully connected layer of xmos' 2019-2020 work, with its "BSO" output stage.

Facts from xmos ai_tools (the 2019 ``fcc_quantization_int8`` notebook, lib_nn's
``fully_connected_8`` and ``nn_bso_block_t``, tflite2xcore's ``LegalizeXCWeightBiasPass``); the
code is ours.

**Accumulation.** 16 outputs at a time, in the 8-bit mode: the accumulators start at the 32-bit
bias (``bias_hi·2^16 + bias_lo``: VLDD the high halves, VLDR the low halves), then every
32-input chunk is one VLDC of the input and 16 VLMACCRs over the chunk's weight rows. VLMACCR
adds to the last accumulator and rotates it to the front, so each chunk's rows are stored in
reverse (15 first). Inputs are padded with zeros to a multiple of 32, outputs to 16.

**Output stage** (16-bit mode): VLSAT ``shift1`` (32 → 16 bits); VCLRDR and VLMACC by
``scale`` (a 15-bit ``scale`` times the 16-bit value, 32-bit again); VLMACC ``offset_scale ·
offset`` (the output zero point); then in the 8-bit mode VLSAT ``shift2`` straight to int8,
symmetric (-127..127: TFLite's -128 comes out as -127).

**Parameters** (:func:`bso_params`, tflite2xcore's rules): ``M = s_in·s_w / s_out``; ``rshift
= 1 - ceil(log2 M)``, ``scale = round(2^14·M·2^rshift)`` (halved, with ``rshift - 1``, when it
reaches 2^15), then ``rshift - 7`` (one bit of headroom for the offset); ``shift1 =
max(rshift, 0)``, ``shift2 = 21 + min(rshift, 0)``; the offset ``zp_out·2^shift2`` is split
into ``offset_scale = round(sqrt(|·|))`` and ``offset = round(·/offset_scale)``; the input zero
point is folded into the bias: ``bias - zp_in·Σw``. It rounds twice and truncates the
multiplier to 15 bits, so it is not bit-exact with TFLite (xmos' tests accept ±1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.xs3.isa import Mode, VectorUnit

__all__ = ["BSOParams", "bso_params", "fully_connected_bso"]

ROWS = 16
"""Outputs per group (the 16 accumulators of the 8-bit mode)."""
CHUNK = 32
"""Inputs per VLMACCR (the 32 int8 lanes)."""
_SHIFT_ADJUSTMENT = 7
_MAX_POST_SHIFT = 22 + _SHIFT_ADJUSTMENT - 8
OTHER_PER_CHUNK = 2
"""Scalar instructions per chunk (loop count and branch), as the notebook's cost model."""
OTHER_PER_GROUP = 13
"""Scalar instructions per group of 16 outputs (pointers, masks, loop), as the notebook's
cost model (``N_chunks·(17 + 2) + 5 + 8`` per band)."""


@dataclass(frozen=True, eq=False)
class BSOParams:
    """Per-output parameters of the BSO stage (module docstring), each ``(out,)``: the 32-bit
    bias (zero points folded in) and the int16 shifts, scale and offset factors."""

    bias: npt.NDArray[np.int32]
    shift1: npt.NDArray[np.int16]
    scale: npt.NDArray[np.int16]
    offset_scale: npt.NDArray[np.int16]
    offset: npt.NDArray[np.int16]
    shift2: npt.NDArray[np.int16]

    def __post_init__(self) -> None:
        n = np.asarray(self.bias).shape
        for name in ("shift1", "scale", "offset_scale", "offset", "shift2"):
            if np.asarray(getattr(self, name)).shape != n:
                raise UsageError(f"BSO {name} must have the bias' shape {n}")
        if (np.asarray(self.shift1) < 0).any() or (np.asarray(self.shift2) < 0).any():
            raise UsageError("BSO shifts must be non-negative")


def bso_params(weights: npt.ArrayLike, bias: npt.ArrayLike | None, input_zero: int,
               multipliers: npt.ArrayLike, output_zero: int) -> BSOParams:
    """BSO parameters of ``out = round(M·(Σ (x - zp_in)·w + bias)) + zp_out`` by tflite2xcore's
    rules (module docstring): ``weights`` int8 ``(out, in)``, ``bias`` int32 or None,
    ``multipliers`` ``M`` per output or one."""
    w = np.asarray(weights, np.int64)
    out = w.shape[0]
    mult = np.broadcast_to(np.asarray(multipliers, np.float64).reshape(-1), (out,))
    if not (mult > 0).all():
        raise UsageError("BSO multipliers must be positive")
    b = np.zeros(out, np.int64) if bias is None else np.asarray(bias, np.int64)
    unified = np.clip(b - input_zero * w.reshape(out, -1).sum(axis=1), -2**31, 2**31 - 1)
    rshift = 1 - np.ceil(np.log2(mult))
    scale = np.round(np.ldexp(mult, (rshift + 14).astype(np.int32)))
    top = scale == 2**15
    rshift = np.where(top, rshift - 1, rshift) - _SHIFT_ADJUSTMENT
    scale = np.where(top, scale / 2, scale)
    shift1 = np.maximum(rshift, 0)
    shift2 = _MAX_POST_SHIFT + np.minimum(rshift, 0)
    if (shift2 < 0).any():
        raise UsageError(f"multipliers up to {mult.max():g} need a negative shift2")
    raw = np.ldexp(float(output_zero), shift2.astype(np.int32))
    offset_scale = np.round(np.sqrt(np.abs(raw)))
    offset = np.round(np.divide(raw, offset_scale, out=np.zeros(out), where=offset_scale > 0))
    return BSOParams(unified.astype(np.int32), shift1.astype(np.int16), scale.astype(np.int16),
                     offset_scale.astype(np.int16), offset.astype(np.int16),
                     shift2.astype(np.int16))


def _vectors(*rows: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    return np.concatenate([np.asarray(r, "<i2").view(np.uint8) for r in rows])


def fully_connected_bso(vpu: VectorUnit, weights: npt.ArrayLike, params: BSOParams,
                        x: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """The layer on ``vpu``: ``weights`` int8 ``(out, in)``, ``x`` int8 ``(batch, in)`` (batch =
    the engine memory's batch; an instruction-level engine computes its own sample's row);
    returns int8 ``(batch, out)``."""
    w = np.asarray(weights, np.int8)
    xs = np.asarray(x, np.int8)
    mem = vpu.memory
    out, depth = w.shape
    if xs.shape != (mem.batch, depth) or params.bias.shape != (out,):
        raise UsageError(f"x must be (batch={mem.batch}, in={depth}) and the BSO parameters "
                         f"{out} long; got {xs.shape} and {params.bias.shape}")
    groups, chunks = -(-out // ROWS), -(-depth // CHUNK)
    wp = np.zeros((groups * ROWS, chunks * CHUNK), np.int8)
    wp[:out, :depth] = w
    # group, chunk, row reversed, lane
    layout = wp.reshape(groups, ROWS, chunks, CHUNK).transpose(0, 2, 1, 3)[:, :, ::-1]
    w_addr = mem.alloc(np.ascontiguousarray(layout))
    xp = np.zeros((mem.batch, chunks * CHUNK), np.int8)
    xp[:, :depth] = xs
    x_addr = mem.alloc(xp, per_sample=True)
    bso_addr = mem.alloc(_bso_blocks(params, groups))
    tmp = mem.alloc(32, per_sample=True)
    y_addr = mem.alloc(groups * ROWS + ROWS, per_sample=True)  # VSTRPV spans 32 bytes
    vpu.other(5)
    for g in range(groups):
        block = bso_addr + 7 * 32 * g
        vpu.other(OTHER_PER_GROUP)
        vpu.vsetc(Mode.INT8)
        vpu.vldd(block)
        vpu.vldr(block + 32)
        for k in range(chunks):
            vpu.other(OTHER_PER_CHUNK)
            vpu.vldc(x_addr + CHUNK * k)
            rows = w_addr + (g * chunks + k) * ROWS * CHUNK
            for r in range(ROWS):
                vpu.vlmaccr(rows + CHUNK * r)
        vpu.vsetc(Mode.INT16)
        vpu.vlsat(block + 64)
        vpu.vldc(block + 96)
        vpu.vstr(tmp)
        vpu.vclrdr()
        vpu.vlmacc(tmp)
        vpu.vldc(block + 128)
        vpu.vlmacc(block + 160)
        vpu.vsetc(Mode.INT8)
        vpu.vlsat(block + 192)
        vpu.vstrpv(y_addr + ROWS * g, (1 << min(ROWS, out - ROWS * g)) - 1)
    result: npt.NDArray[np.int8] = mem.view(y_addr, out, np.int8)
    return result


def _bso_blocks(p: BSOParams, groups: int) -> npt.NDArray[np.uint8]:
    """lib_nn's ``nn_bso_block_t`` per group: bias_hi, bias_lo, shift1, scale, offset_scale,
    offset, shift2, 16 int16 each (padding outputs are all zero)."""
    n = groups * ROWS

    def pad(a: npt.ArrayLike) -> npt.NDArray[np.int64]:
        flat = np.asarray(a, np.int64)
        return np.concatenate([flat, np.zeros(n - flat.size, np.int64)]).reshape(groups, ROWS)

    bias = pad(p.bias)
    hi, lo = bias >> 16, (bias & 0xFFFF).astype(np.uint16).view(np.int16)
    fields = [hi, lo.astype(np.int64), pad(p.shift1), pad(p.scale), pad(p.offset_scale),
              pad(p.offset), pad(p.shift2)]
    return np.concatenate([_vectors(*(f[g] for f in fields)) for g in range(groups)])

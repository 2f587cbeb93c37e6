"""The vectorised XS3 vector unit: :class:`~tflitekit.xs3.vpu.VPU`'s semantics over a batch.

Each register is a ``(batch, 32)`` uint8 array, one row per sample of the memory; every
instruction is a few numpy operations over the whole batch and all lanes, computed in int64 (the
widest intermediate, a 32-bit-mode product, is below 2**62). The semantics, their sources and
their divergences from xmos' C simulator are documented on :class:`~tflitekit.xs3.vpu.VPU`;
``tests/xs3/test_batch_vpu.py`` checks both engines agree bit for bit.

For speed, the multiply-accumulate instructions keep the accumulators unpacked, an int64
``(batch, n)`` ring that VLMACCR rotates by moving its start instead of its columns, and write
them back into vD and vR only when either register is next read or replaced, or the mode changes;
vC's lanes are unpacked once per vC and mode; an operand in shared memory is unpacked once, not
once per sample; and the 8/16-bit VLMACCR dot product is a float64 (exact) matrix-vector one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.xs3.engine import Engine
from tflitekit.xs3.isa import (
    VECTOR_BYTES,
    Mode,
    Scalar,
    counted,
)
from tflitekit.xs3.memory import Memory

__all__ = ["BatchVPU"]

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]

_SIGNED: dict[int, np.dtype[np.integer]] = {
    8: np.dtype("<i1"), 16: np.dtype("<i2"), 32: np.dtype("<i4")}
_UNSIGNED: dict[int, np.dtype[np.integer]] = {
    8: np.dtype("<u1"), 16: np.dtype("<u2"), 32: np.dtype("<u4")}
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.int64)
_BYTE_INDEX = np.arange(VECTOR_BYTES)


def _unpack(reg: Bytes, bits: int, *, signed: bool = True) -> Ints:
    """The lanes of ``reg`` (batch, 32) as int64 (batch, 256 / bits)."""
    return np.ascontiguousarray(reg).view((_SIGNED if signed else _UNSIGNED)[bits]).astype(np.int64)


def _pack(values: Ints, bits: int, *, signed: bool = True) -> Bytes:
    """``values`` (batch, k) as k little-endian lanes of ``bits``, the rest of 32 bytes zero."""
    raw = values.astype((_SIGNED if signed else _UNSIGNED)[bits]).view(np.uint8)
    out = np.zeros((values.shape[0], VECTOR_BYTES), np.uint8)
    out[:, :raw.shape[1]] = raw
    return out


def _round_shr(x: Ints, shift: int) -> Ints:
    return (x + (1 << (shift - 1))) >> shift


def _frozen(reg: Bytes) -> Bytes:
    """``reg`` made read-only: registers are replaced, never written in place."""
    reg.flags.writeable = False
    return reg


class BatchVPU(Engine[Bytes]):
    """XS3 vector units for every sample of ``memory`` (default: a fresh ``Memory()``), run in
    lock step. Registers are read-only ``(batch, 32)`` uint8 arrays (replace them with
    :meth:`set_registers`); the mode starts as int32 (VSETC 0)."""

    def __init__(self, memory: Memory | None = None) -> None:
        super().__init__(memory)
        self.batch = self.memory.batch
        self._acc: Ints | None = None  # the accumulators while newer than vD/vR (module doc)
        self._first = 0  # the ring's column of accumulator 0
        self._c_cache: dict[type, npt.NDArray[Any]] = {}  # vC's lanes by dtype (_c_lanes)
        self.vC, self.vD, self.vR = self._zero(), self._zero(), self._zero()

    # -- state ---------------------------------------------------------------------------------

    @property
    def vC(self) -> Bytes:
        return self._vC

    @vC.setter
    def vC(self, value: Bytes) -> None:
        self._vC = _frozen(value)
        self._c_cache.clear()

    @property
    def vD(self) -> Bytes:
        self._write_back()
        return self._vD

    @vD.setter
    def vD(self, value: Bytes) -> None:
        self._write_back()
        self._vD = _frozen(value)

    @property
    def vR(self) -> Bytes:
        self._write_back()
        return self._vR

    @vR.setter
    def vR(self, value: Bytes) -> None:
        self._write_back()
        self._vR = _frozen(value)

    def registers(self) -> dict[str, Bytes]:
        """``{"vC", "vD", "vR"}``: a copy of each register, ``(batch, 32)`` uint8."""
        return {"vC": self.vC.copy(), "vD": self.vD.copy(), "vR": self.vR.copy()}

    def set_registers(self, vC: npt.ArrayLike | None = None, vD: npt.ArrayLike | None = None,
                      vR: npt.ArrayLike | None = None) -> None:
        """Replace the given registers (``(batch, 32)`` or ``(32,)`` for every sample)."""
        for name, value in (("vC", vC), ("vD", vD), ("vR", vR)):
            if value is not None:
                arr = np.asarray(value, np.uint8)
                if arr.shape[-1:] != (VECTOR_BYTES,):
                    raise UsageError(f"{name} needs {VECTOR_BYTES} bytes a row, got {arr.shape}")
                setattr(self, name, np.broadcast_to(arr, (self.batch, VECTOR_BYTES)).copy())

    def accumulators(self) -> Ints:
        """The accumulators of the current mode, ``(batch, n)`` int64 (layout: ``VPU``)."""
        if self._acc is not None:
            return np.roll(self._acc, -self._first, axis=1)
        info = self._info
        low = _unpack(self._vR, info.vr_bits, signed=False)
        if info.acc_bits == 32:
            high = _unpack(self._vD, 16)
            return (high[:, :16] << 16) | low[:, :16]
        high = ((_unpack(self._vD, 32, signed=False) & 0xFF) ^ 0x80) - 0x80
        return (high << 32) | low

    def _hold(self, accs: Ints) -> Ints:
        """Hold ``accs`` (``(batch, n)``, within the mode's bounds) as the accumulators."""
        self._acc, self._first = accs, 0
        return accs

    def _write_back(self) -> None:
        """Pack the accumulators held (if any) into vD and vR."""
        if self._acc is not None:
            accs, self._acc = self.accumulators(), None
            bits = self._info.vr_bits
            self._vD = _frozen(_pack(accs >> bits, bits))
            self._vR = _frozen(_pack(accs & ((1 << bits) - 1), bits, signed=False))

    def vsetc(self, mode: int) -> None:
        """Set the mode (a :class:`Mode` or its VSETC value)."""
        self._write_back()  # in the layout of the mode the accumulators were computed in
        self._c_cache.clear()
        super().vsetc(mode)

    def _zero(self) -> Bytes:
        return np.zeros((self.batch, VECTOR_BYTES), np.uint8)

    def _load(self, addr: int) -> Bytes:
        loaded: Bytes = self.memory.read(addr, VECTOR_BYTES).copy()  # never a view of memory
        return loaded

    def _store(self, addr: int, reg: Bytes, mask: npt.ArrayLike | None = None) -> None:
        self.memory.write(addr, reg, mask)

    def _lanes(self, reg: Bytes) -> Ints:
        return _unpack(reg, self._info.bits)

    def _c_lanes(self, dtype: type = np.int64) -> npt.NDArray[Any]:
        """vC's lanes as ``dtype`` (kept until vC or the mode changes)."""
        if dtype not in self._c_cache:
            self._c_cache[dtype] = self._lanes(self._vC).astype(dtype, copy=False)
        return self._c_cache[dtype]

    def _operand(self, addr: int, bits: int = 0, *, signed: bool = True) -> Ints:
        """The lanes at ``addr`` (``bits`` wide, default the mode's): ``(batch, lanes)``, or
        ``(1, lanes)`` (broadcasting) from shared memory, the same for every sample."""
        return _unpack(self.memory.read_rows(addr, VECTOR_BYTES), bits or self._info.bits,
                       signed=signed)

    def _sat(self, x: Ints) -> Ints:
        bound = self._info.max
        return np.clip(x, -bound, bound)

    # -- masked store (the other moves: Engine) ------------------------------------------------

    @counted("VSTRPV")
    def vstrpv(self, addr: int, mask: Scalar) -> None:
        """Byte ``i`` at ``addr`` ← vR byte ``i`` where bit ``i`` of ``mask`` (one for every
        sample, or one per sample) is set."""
        bits = np.asarray(mask, np.int64)[..., None] >> _BYTE_INDEX
        self._store(addr, self.vR, bits & 1 == 1)

    # -- multiply-accumulate ---------------------------------------------------------------------

    def _products(self, addr: int, lanes: int) -> Ints:
        """vC·mem over the first ``lanes`` lanes; rounded ``>> 30`` in the 32-bit mode."""
        p = self._c_lanes()[:, :lanes] * self._operand(addr)[:, :lanes]
        return _round_shr(p, 30) if self._mode == Mode.INT32 else p

    def _dot(self, addr: int) -> Ints:
        """Σ over every lane of vC·mem (each product rounded in the 32-bit mode)."""
        if self._mode == Mode.INT32:
            total: Ints = np.einsum("ij->i", self._products(addr, self._info.lanes))
            return total
        # |Σ| < 2**35, exact in float64, where a shared operand (one row) is a BLAS matrix·vector
        c, m = self._c_lanes(np.float64), self._operand(addr)
        sums: npt.NDArray[np.float64] = c @ m[0] if len(m) == 1 else np.einsum("ij,ij->i", c, m)
        return sums.astype(np.int64)

    @counted("VLMACC")
    def vlmacc(self, addr: int) -> None:
        """acc[i] ← sat(acc[i] + vC[i]·mem[i]) for each accumulator."""
        info = self._info
        total = self.accumulators() + self._products(addr, info.accumulators)
        self._hold(np.clip(total, -info.acc_max, info.acc_max))

    @counted("VLMACCR")
    def vlmaccr(self, addr: int) -> None:
        """Rotate in sat(acc[last] + Σ vC·mem) (one saturation, on the total)."""
        self._rotate_in(self._dot(addr))

    @counted("VLMACCR1")
    def vlmaccr1(self, addr: int) -> None:
        """Rotate in sat(acc[last] + 128 - popcount(vC ^ mem)); 8/16-bit modes only."""
        if self._mode == Mode.INT32:
            raise UsageError("VLMACCR1 needs the 8- or 16-bit mode")
        diff = np.einsum("ij->i", _POPCOUNT[self._vC ^ self.memory.read_rows(addr, VECTOR_BYTES)])
        self._rotate_in(128 - diff)

    def _rotate_in(self, total: Ints) -> None:
        """acc[0] ← sat(acc[last] + total), the others move up one: the ring's start moves back
        one column, onto the last accumulator, which is updated in place."""
        ring = self._acc if self._acc is not None else self._hold(self.accumulators())
        self._first = (self._first - 1) % ring.shape[1]
        column = ring[:, self._first]
        bound = self._info.acc_max
        np.minimum(np.maximum(column + total, -bound, out=column), bound, out=column)

    @counted("VLSAT")
    def vlsat(self, addr: int) -> None:
        """vR ← sat(acc rounded-shifted by per-accumulator unsigned shifts from memory); vD ← 0."""
        info = self._info
        accs = self.accumulators()
        shifts = self._operand(addr, info.shift_bytes * 8, signed=False)
        capped = np.minimum(shifts, info.max_sat_shift - 1)
        rounded = np.where(capped > 0, ((accs >> np.maximum(capped - 1, 0)) + 1) >> 1, accs)
        out = np.where(shifts >= info.max_sat_shift, -(accs < 0).astype(np.int64),
                       self._sat(rounded))
        self.vR = _pack(out, info.bits)
        self.vD = self._zero()

    # -- element-wise ----------------------------------------------------------------------------

    @counted("VLASHR")
    def vlashr(self, addr: int, shr: int) -> None:
        """vR ← mem shifted right by ``shr`` (floor; negative: saturating left), saturated."""
        info = self._info
        x = self._lanes(self._load(addr))
        if shr >= info.bits:
            out = -(x < 0).astype(np.int64)
        elif shr <= -info.bits:
            out = np.sign(x) * info.max
        elif shr < 0:
            out = self._sat(x << -shr)
        else:
            out = self._sat(x >> shr)
        self.vR = _pack(out, info.bits)

    @counted("VLADD")
    def vladd(self, addr: int) -> None:
        """vR ← sat(vR + mem)."""
        self.vR = _pack(self._sat(self._lanes(self.vR) + self._operand(addr)),
                        self._info.bits)

    @counted("VLSUB")
    def vlsub(self, addr: int) -> None:
        """vR ← sat(mem - vR)."""
        self.vR = _pack(self._sat(self._operand(addr) - self._lanes(self.vR)),
                        self._info.bits)

    @counted("VLADDD")
    def vladdd(self, addr: int) -> None:
        """vD ← sat(vD + mem) (an assumption: see ``VPU.vladdd``)."""
        self.vD = _pack(self._sat(self._lanes(self.vD) + self._operand(addr)),
                        self._info.bits)

    @counted("VLMUL")
    def vlmul(self, addr: int) -> None:
        """vR ← sat((vR·mem + 2**(k-1)) >> k), k = 6, 14, 30."""
        info = self._info
        product = self._lanes(self.vR) * self._operand(addr)
        self.vR = _pack(self._sat(_round_shr(product, info.vlmul_shift)), info.bits)

    @counted("VPOS")
    def vpos(self) -> None:
        """vR ← max(vR, 0)."""
        self.vR = _pack(np.maximum(self._lanes(self.vR), 0), self._info.bits)

    @counted("VSIGN")
    def vsign(self) -> None:
        """vR lane ← ±one by the lane's sign (zero counts as positive)."""
        one = self._info.one
        self.vR = _pack(np.where(self._lanes(self.vR) >= 0, one, -one), self._info.bits)

    # -- depth conversion --------------------------------------------------------------------------

    @counted("VDEPTH1")
    def vdepth1(self) -> None:
        """vR word 0 ← the sign bits of vR's lanes (bit i = lane i < 0); the rest ← 0."""
        negative = self._lanes(self.vR) < 0
        weights = np.left_shift(1, np.arange(negative.shape[1], dtype=np.int64))
        self.vR = _pack((negative * weights).sum(axis=1, keepdims=True), 32, signed=False)

    @counted("VDEPTH8")
    def vdepth8(self) -> None:
        """vR int8 lanes ← sat8 of each lane rounded-shifted right by (bits - 8)."""
        info = self._info
        if info.bits == 8:
            raise UsageError("VDEPTH8 needs the 16- or 32-bit mode")
        self.vR = _pack(np.clip(_round_shr(self._lanes(self.vR), info.bits - 8), -127, 127), 8)

    @counted("VDEPTH16")
    def vdepth16(self) -> None:
        """vR int16 lanes ← sat16((x + 2**15) >> 16) of each int32 lane; 32-bit mode only."""
        if self._mode != Mode.INT32:
            raise UsageError("VDEPTH16 needs the 32-bit mode")
        self.vR = _pack(np.clip(_round_shr(self._lanes(self.vR), 16), -32767, 32767), 16)

"""The instruction-level XS3 vector unit: one instruction at a time, Python integers per lane.

The reference for :class:`~tflitekit.xs3.batch_vpu.BatchVPU`. Semantics follow xmos
lib_xcore_math's scalar model (``vpu_scalar_ops.c``) and the XS3 assembly and tests that run it
on hardware; where lib_nn's C simulator (``vpu_sim.c``) differs, each method says so. Facts that
neither source states (what a narrowing instruction leaves in the unused part of vR, how a 40-bit
accumulator reads a vD word it did not write) are choices, stated where they are made.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from tflitekit.errors import UsageError
from tflitekit.xs3.engine import Engine
from tflitekit.xs3.isa import (
    VECTOR_BYTES,
    Mode,
    Scalar,
    counted,
)
from tflitekit.xs3.memory import Memory

__all__ = ["VPU"]

_ZERO = bytes(VECTOR_BYTES)
_SIGNED = {8: "b", 16: "h", 32: "i"}
_UNSIGNED = {8: "B", 16: "H", 32: "I"}


def _unpack(reg: bytes, bits: int, *, signed: bool = True) -> list[int]:
    code = (_SIGNED if signed else _UNSIGNED)[bits]
    return list(struct.unpack(f"<{VECTOR_BYTES * 8 // bits}{code}", reg))


def _pack(values: Sequence[int], bits: int, *, signed: bool = True) -> bytes:
    """``values`` packed little-endian, the rest of the 32 bytes zero."""
    code = (_SIGNED if signed else _UNSIGNED)[bits]
    raw = struct.pack(f"<{len(values)}{code}", *values)
    return raw + bytes(VECTOR_BYTES - len(raw))


def _sat(x: int, bound: int) -> int:
    """Symmetric saturation to ``[-bound, bound]``."""
    return -bound if x < -bound else bound if x > bound else x


def _round_shr(x: int, shift: int) -> int:
    """``x / 2**shift`` rounded half up (the VPU's rounding shift); ``shift`` 0 is exact."""
    return (x + (1 << (shift - 1))) >> shift if shift > 0 else x


class VPU(Engine[bytes]):
    """One XS3 vector unit over ``memory`` (default: a fresh ``Memory()``), seeing sample
    ``sample`` of it. Registers are 32 raw bytes each; the mode starts as int32 (VSETC 0)."""

    def __init__(self, memory: Memory | None = None, *, sample: int = 0) -> None:
        super().__init__(memory)
        if not 0 <= sample < self.memory.batch:
            raise UsageError(f"sample {sample} outside the memory's batch of {self.memory.batch}")
        self.sample = sample
        self.vC = self.vD = self.vR = _ZERO

    # -- state ---------------------------------------------------------------------------------

    def registers(self) -> dict[str, bytes]:
        """``{"vC", "vD", "vR"}``: each register's 32 bytes."""
        return {"vC": self.vC, "vD": self.vD, "vR": self.vR}

    def set_registers(self, vC: bytes | None = None, vD: bytes | None = None,
                      vR: bytes | None = None) -> None:
        """Replace the given registers (32 bytes each)."""
        for name, value in (("vC", vC), ("vD", vD), ("vR", vR)):
            if value is not None:
                if len(value) != VECTOR_BYTES:
                    raise UsageError(f"{name} needs {VECTOR_BYTES} bytes, got {len(value)}")
                setattr(self, name, bytes(value))

    def accumulators(self) -> list[int]:
        """The accumulators of the current mode, lane 0 first.

        8/16-bit modes: 16 of 32 bits, ``vD.int16[i] << 16 | vR.uint16[i]``. 32-bit mode: 8 of 40
        bits, ``vD.int32[i] << 32 | vR.uint32[i]`` read modulo 2**40 and sign-extended from bit 39
        (our choice for vD words the accumulators did not write: only their low byte counts).
        """
        info = self._info
        low = _unpack(self.vR, info.vr_bits, signed=False)
        if info.acc_bits == 32:
            high = _unpack(self.vD, 16)
            return [h * 65536 + lo for h, lo in zip(high[:16], low[:16], strict=True)]
        high = _unpack(self.vD, 32, signed=False)
        return [((((h & 0xFF) ^ 0x80) - 0x80) << 32) | lo for h, lo in zip(high, low, strict=True)]

    def _set_accumulators(self, accs: Sequence[int]) -> None:
        bits = self._info.vr_bits
        self.vD = _pack([a >> bits for a in accs], bits)
        self.vR = _pack([a & ((1 << bits) - 1) for a in accs], bits, signed=False)

    def _zero(self) -> bytes:
        return _ZERO

    def _load(self, addr: int) -> bytes:
        return self.memory.read_sample(addr, VECTOR_BYTES, self.sample)

    def _lanes(self, reg: bytes) -> list[int]:
        return _unpack(reg, self._info.bits)

    def _store(self, addr: int, reg: bytes, mask: Sequence[bool] | None = None) -> None:
        self.memory.write(addr, np.frombuffer(reg, np.uint8), mask, sample=self.sample)

    # -- masked store (the other moves: Engine) ------------------------------------------------

    @counted("VSTRPV")
    def vstrpv(self, addr: int, mask: Scalar) -> None:
        """Byte ``i`` at ``addr`` ← vR byte ``i`` where bit ``i`` of the 32-bit ``mask`` (this
        sample's, given one per sample) is set (all 32 bytes in one allocated segment)."""
        own = int(mask) if isinstance(mask, int) else int(np.asarray(mask)[self.sample])
        self._store(addr, self.vR, [bool(own >> i & 1) for i in range(VECTOR_BYTES)])

    # -- multiply-accumulate ---------------------------------------------------------------------

    def _product(self, c: int, m: int) -> int:
        """One VLMACC/VLMACCR term: exact in the 8/16-bit modes, ``(c*m + 2**29) >> 30`` in
        the 32-bit mode (lib_xcore_math ``vlmacc32``; the simulator does not model this mode)."""
        return _round_shr(c * m, 30) if self._mode == Mode.INT32 else c * m

    @counted("VLMACC")
    def vlmacc(self, addr: int) -> None:
        """acc[i] ← sat(acc[i] + vC[i]·mem[i]) for each accumulator i (16 lanes in the 8- and
        16-bit modes: the first 16 int8 lanes in 8-bit mode; 8 in 32-bit mode, 40-bit sat)."""
        info = self._info
        c, m = self._lanes(self.vC), self._lanes(self._load(addr))
        self._set_accumulators([_sat(a + self._product(c[i], m[i]), info.acc_max)
                                for i, a in enumerate(self.accumulators())])

    @counted("VLMACCR")
    def vlmaccr(self, addr: int) -> None:
        """new ← sat(acc[last] + Σ over every lane of vC·mem); the accumulators rotate up
        (acc[i] ← acc[i-1]) and acc[0] ← new.

        The sum saturates once, at the end: lib_xcore_math's hardware-run test of ``vlmaccr8``
        expects that (and so do ``vlmaccr16`` and the simulator), although its C model of
        ``vlmaccr8`` saturates after every product.
        """
        c, m = self._lanes(self.vC), self._lanes(self._load(addr))
        self._rotate_in(sum(self._product(x, y) for x, y in zip(c, m, strict=True)))

    @counted("VLMACCR1")
    def vlmaccr1(self, addr: int) -> None:
        """Binary VLMACCR: new ← sat(acc[last] + Σ over 256 bits (+1 where the bits of vC and
        mem agree, -1 where they differ) / 2) = acc[last] + 128 - popcount(vC ^ mem); then
        rotate as VLMACCR. Uses the 16 accumulators of the 8/16-bit modes (lib_nn runs it in
        8-bit mode); source: the simulator and lib_nn's binary output transform (no scalar
        model exists). Undefined in 32-bit mode."""
        if self._mode == Mode.INT32:
            raise UsageError("VLMACCR1 needs the 8- or 16-bit mode")
        diff = int.from_bytes(self.vC, "little") ^ int.from_bytes(self._load(addr), "little")
        self._rotate_in(128 - diff.bit_count())

    def _rotate_in(self, total: int) -> None:
        accs = self.accumulators()
        self._set_accumulators([_sat(accs[-1] + total, self._info.acc_max), *accs[:-1]])

    @counted("VLSAT")
    def vlsat(self, addr: int) -> None:
        """vR lane i ← sat(round(acc[i] / 2**s[i])), vD ← 0; ``s`` is one unsigned per
        accumulator read from ``addr`` (16-bit lanes in the 8/16-bit modes, 32-bit in 32-bit mode).

        Rounding is half up (``((acc >> (s-1)) + 1) >> 1``); s ≥ 32 (39 in 32-bit mode) gives
        the accumulator's sign, 0 or -1, as lib_xcore_math's ``vlsat8/16/32`` (a shift that was
        negative as int16 is a large unsigned shift). 8-bit mode writes 16 int8 results to vR
        bytes 0-15 and zeroes bytes 16-31 (as the simulator). The simulator overflows its
        rounding near ±2**31 and for shifts ≥ 32.
        """
        info = self._info
        shifts = _unpack(self._load(addr), info.shift_bytes * 8, signed=False)
        out = []
        for acc, s in zip(self.accumulators(), shifts, strict=True):
            if s >= info.max_sat_shift:
                out.append(0 if acc >= 0 else -1)
            else:
                out.append(_sat(_round_shr(acc, s), info.max))
        self.vR = _pack(out, info.bits)
        self.vD = _ZERO

    # -- element-wise ----------------------------------------------------------------------------

    @counted("VLASHR")
    def vlashr(self, addr: int, shr: int) -> None:
        """vR ← mem arithmetically shifted right by ``shr`` (a scalar register), saturated.

        Positive shifts floor (no rounding: lib_xcore_math asserts ``vlashr16(-8, 4) == -1``;
        the simulator rounds); shr ≥ lane bits gives 0 or -1; negative shifts are saturating left
        shifts, and shr ≤ -lane bits gives ±max for a non-zero lane. Even shr = 0 saturates, so
        the lane minimum (-128, -32768, -2**31) becomes -max.
        """
        info = self._info
        out = []
        for x in self._lanes(self._load(addr)):
            if shr >= info.bits:
                out.append(0 if x >= 0 else -1)
            elif shr <= -info.bits and x != 0:
                out.append(info.max if x > 0 else info.min)
            elif shr < 0:
                out.append(_sat(x << -shr, info.max))
            else:
                out.append(_sat(x >> shr, info.max))
        self.vR = _pack(out, info.bits)

    def _elementwise(self, reg: bytes, mem: bytes, op: str) -> bytes:
        info = self._info
        a, b = self._lanes(reg), self._lanes(mem)
        if op == "add":
            out = [x + y for x, y in zip(a, b, strict=True)]
        elif op == "sub":
            out = [y - x for x, y in zip(a, b, strict=True)]
        else:
            out = [_round_shr(x * y, info.vlmul_shift) for x, y in zip(a, b, strict=True)]
        return _pack([_sat(v, info.max) for v in out], info.bits)

    @counted("VLADD")
    def vladd(self, addr: int) -> None:
        """vR ← sat(vR + mem)."""
        self.vR = self._elementwise(self.vR, self._load(addr), "add")

    @counted("VLSUB")
    def vlsub(self, addr: int) -> None:
        """vR ← sat(mem - vR) (memory minus register: lib_xcore_math's ``vlsub16(x, y) = x - y``
        loads y into vR and subtracts it from x in memory; the simulator agrees)."""
        self.vR = self._elementwise(self.vR, self._load(addr), "sub")

    @counted("VLADDD")
    def vladdd(self, addr: int) -> None:
        """vD ← sat(vD + mem), element-wise like VLADD but on vD. Neither the scalar model nor
        the simulator has it (lib_xcore_math's ``vpu_info.h`` only lists it among the
        element-wise instructions): this reading of the mnemonic is an assumption."""
        self.vD = self._elementwise(self.vD, self._load(addr), "add")

    @counted("VLMUL")
    def vlmul(self, addr: int) -> None:
        """vR ← sat((vR·mem + 2**(k-1)) >> k), k = 6, 14, 30 for 8-, 16-, 32-bit lanes."""
        self.vR = self._elementwise(self.vR, self._load(addr), "mul")

    @counted("VPOS")
    def vpos(self) -> None:
        """vR ← max(vR, 0) on every lane (the simulator reads the accumulators in 8-bit mode)."""
        self.vR = _pack([max(x, 0) for x in self._lanes(self.vR)], self._info.bits)

    @counted("VSIGN")
    def vsign(self) -> None:
        """vR lane ← +one if lane ≥ 0 else -one, one = 0x40, 0x4000, 0x40000000 (1.0 in VLMUL's
        format). Not in the simulator."""
        one = self._info.one
        self.vR = _pack([one if x >= 0 else -one for x in self._lanes(self.vR)], self._info.bits)

    # -- depth conversion --------------------------------------------------------------------------

    @counted("VDEPTH1")
    def vdepth1(self) -> None:
        """vR word 0 ← bit i set where lane i of vR is negative; the other words ← 0."""
        bits = sum(1 << i for i, x in enumerate(self._lanes(self.vR)) if x < 0)
        self.vR = _pack([bits], 32, signed=False)

    @counted("VDEPTH8")
    def vdepth8(self) -> None:
        """vR int8 lane i ← sat8((x + 2**(b-9)) >> (b-8)) for each b-bit lane x (16- or 32-bit
        mode); the rest of vR ← 0. Undefined in 8-bit mode."""
        info = self._info
        if info.bits == 8:
            raise UsageError("VDEPTH8 needs the 16- or 32-bit mode")
        self.vR = _pack([_sat(_round_shr(x, info.bits - 8), 127) for x in self._lanes(self.vR)], 8)

    @counted("VDEPTH16")
    def vdepth16(self) -> None:
        """vR int16 lane i ← sat16((x + 2**15) >> 16) for each int32 lane x; the rest ← 0.
        Only in 32-bit mode."""
        if self._mode != Mode.INT32:
            raise UsageError("VDEPTH16 needs the 32-bit mode")
        self.vR = _pack([_sat(_round_shr(x, 16), 32767) for x in self._lanes(self.vR)], 16)

"""The instruction-level XS3 VPU against documented semantics (lib_xcore_math's scalar model and
the XS3 assembly its tests run on hardware), instruction by instruction and mode by mode."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tflitekit.errors import UsageError
from tflitekit.xs3.isa import Mode, mode_info
from tflitekit.xs3.memory import AddressError, Memory
from tflitekit.xs3.vpu import VPU

FMT = {Mode.INT8: "b", Mode.INT16: "h", Mode.INT32: "i"}


def vec(mode: Mode, values: list[int]) -> bytes:
    """A 32-byte vector of ``values`` (lanes of ``mode``), zero-padded."""
    raw = struct.pack(f"<{len(values)}{FMT[mode]}", *values)
    return raw + bytes(32 - len(raw))


def lanes(mode: Mode, reg: bytes) -> list[int]:
    return list(struct.unpack(f"<{mode_info(mode).lanes}{FMT[mode]}", reg))


def make(mode: Mode, mem: bytes = bytes(32), **regs: bytes) -> tuple[VPU, int]:
    vpu = VPU(Memory())
    addr = vpu.memory.alloc(mem)
    vpu.vsetc(mode)
    vpu.set_registers(**regs)
    return vpu, addr


def lane_op(mode: Mode, op: str, reg: int, mem: int, shr: int = 0) -> int:
    """Lane 0 of vR after ``op`` with vR lane 0 = ``reg`` and memory lane 0 = ``mem``."""
    vpu, addr = make(mode, vec(mode, [mem]), vR=vec(mode, [reg]))
    if op == "vlashr":
        vpu.vlashr(addr, shr)
    else:
        getattr(vpu, op)(addr)
    return lanes(mode, vpu.vR)[0]


def set_accs(vpu: VPU, accs: list[int]) -> None:
    """Write accumulators in the documented layout (vD high, vR low)."""
    if vpu.mode == Mode.INT32:
        vpu.set_registers(vD=struct.pack("<8i", *[a >> 32 for a in accs]),
                          vR=struct.pack("<8I", *[a & 0xFFFFFFFF for a in accs]))
    else:
        vpu.set_registers(vD=struct.pack("<16h", *[a >> 16 for a in accs]),
                          vR=struct.pack("<16H", *[a & 0xFFFF for a in accs]))


# -- the scalar model's own assertions (test_vpu_scalar_ops_s8/s16/s32.c) ----------------------

@pytest.mark.parametrize(("mode", "x", "shr", "expected"), [
    (Mode.INT16, -8, 4, -1), (Mode.INT8, -2, 1, -1), (Mode.INT8, -2, 3, -1), (Mode.INT8, 10, 3, 1),
    (Mode.INT8, -6, 1, -3), (Mode.INT8, -6, 2, -2), (Mode.INT8, 2, -1, 4), (Mode.INT8, 1, -6, 64),
    (Mode.INT8, 1, -7, 127), (Mode.INT8, -1, -7, -127), (Mode.INT8, -128, 0, -127),
    (Mode.INT8, 5, 8, 0), (Mode.INT8, -5, 8, -1), (Mode.INT8, -5, 100, -1),
    (Mode.INT8, 3, -8, 127), (Mode.INT8, 0, -8, 0), (Mode.INT8, -3, -40, -127),
    (Mode.INT16, -32768, 0, -32767), (Mode.INT16, 1, -15, 32767), (Mode.INT16, 300, -7, 32767),
    (Mode.INT32, -2**31, 0, -(2**31 - 1)), (Mode.INT32, -2**31, 31, -1), (Mode.INT32, 7, 32, 0),
    (Mode.INT32, 1, -31, 2**31 - 1), (Mode.INT32, -1, -33, -(2**31 - 1)),
])
def test_vlashr_floors_and_saturates(mode: Mode, x: int, shr: int, expected: int) -> None:
    assert lane_op(mode, "vlashr", 0, x, shr) == expected


@pytest.mark.parametrize(("mode", "op", "reg", "mem", "expected"), [
    (Mode.INT8, "vladd", 70, 80, 127), (Mode.INT8, "vladd", -70, -120, -127),
    (Mode.INT8, "vladd", 60, -23, 37), (Mode.INT16, "vladd", -32768, 0, -32767),
    (Mode.INT32, "vladd", 2**31 - 1, 1, 2**31 - 1), (Mode.INT32, "vladd", -2**31, -1, -(2**31 - 1)),
    # vlsub: memory minus register
    (Mode.INT8, "vlsub", 12, 10, -2), (Mode.INT8, "vlsub", -80, 70, 127),
    (Mode.INT8, "vlsub", 120, -70, -127), (Mode.INT16, "vlsub", 1, -32767, -32767),
    (Mode.INT32, "vlsub", 1, -2**31, -(2**31 - 1)),
    # vlmul: (a*b + 2^(k-1)) >> k, k = 6/14/30
    (Mode.INT8, "vlmul", 123, 0x40, 123), (Mode.INT8, "vlmul", 123, -0x40, -123),
    (Mode.INT8, "vlmul", -128, 0x40, -127), (Mode.INT8, "vlmul", -127, -127, 127),
    (Mode.INT8, "vlmul", 1, 32, 1), (Mode.INT8, "vlmul", -1, 32, 0),
    (Mode.INT16, "vlmul", -32768, -32768, 32767), (Mode.INT16, "vlmul", 3, 0x2000, 2),
    (Mode.INT16, "vlmul", -3, 0x2000, -1), (Mode.INT32, "vlmul", -2**31, -2**31, 2**31 - 1),
    (Mode.INT32, "vlmul", 2**30, 5, 5), (Mode.INT32, "vlmul", -5, 2**29, -2),
])
def test_elementwise(mode: Mode, op: str, reg: int, mem: int, expected: int) -> None:
    assert lane_op(mode, op, reg, mem) == expected


@pytest.mark.parametrize("mode", list(Mode))
def test_vpos_vsign_vdepth1(mode: Mode) -> None:
    info = mode_info(mode)
    values = [(-1) ** i * i * (info.max // info.lanes) for i in range(info.lanes)]
    values[1], values[2] = info.min - 1, info.max
    vpu, _ = make(mode, vR=vec(mode, values))
    vpu.vpos()
    assert lanes(mode, vpu.vR) == [max(v, 0) for v in values]
    vpu.set_registers(vR=vec(mode, values))
    vpu.vsign()
    assert lanes(mode, vpu.vR) == [info.one if v >= 0 else -info.one for v in values]
    assert info.one == {Mode.INT8: 0x40, Mode.INT16: 0x4000, Mode.INT32: 0x40000000}[mode]
    vpu.set_registers(vR=vec(mode, values))
    vpu.vdepth1()
    bits = sum(1 << i for i, v in enumerate(values) if v < 0)
    assert vpu.vR == struct.pack("<I", bits) + bytes(28)


@pytest.mark.parametrize(("mode", "x", "expected"), [
    (Mode.INT16, 32767, 127), (Mode.INT16, -32768, -127), (Mode.INT16, 127, 0),
    (Mode.INT16, 128, 1), (Mode.INT16, -128, 0), (Mode.INT16, -129, -1), (Mode.INT16, -32640, -127),
    (Mode.INT32, 0x0A7FFFFF, 10), (Mode.INT32, 0x0A800000, 11), (Mode.INT32, -0x0A800000, -10),
    (Mode.INT32, -0x0A800001, -11), (Mode.INT32, -2**31, -127), (Mode.INT32, 2**31 - 1, 127),
])
def test_vdepth8(mode: Mode, x: int, expected: int) -> None:
    vpu, _ = make(mode, vR=vec(mode, [x, x]))
    vpu.vdepth8()
    n = mode_info(mode).lanes
    assert vpu.vR == struct.pack("<2b", expected, expected) + bytes(30)
    assert len(vpu.vR[n:].strip(b"\0")) == 0


@pytest.mark.parametrize(("x", "expected"), [
    (2**31 - 1, 32767), (-2**31, -32767), (0x7FFF, 0), (0x8000, 1), (-0x8000, 0), (-0x8001, -1),
])
def test_vdepth16(x: int, expected: int) -> None:
    vpu, _ = make(Mode.INT32, vR=vec(Mode.INT32, [x] * 8))
    vpu.vdepth16()
    assert vpu.vR == struct.pack("<8h", *[expected] * 8) + bytes(16)


@pytest.mark.parametrize("mode", [Mode.INT8, Mode.INT16])
@pytest.mark.parametrize(("acc", "shift", "expected16", "expected8"), [
    (0, 0, 0, 0), (1, 0, 1, 1), (2, 1, 1, 1), (2, 2, 1, 1), (2, 3, 0, 0), (-2, 2, 0, 0),
    (-3, 1, -1, -1), (-6, 2, -1, -1), (-7, 1, -3, -3),   # round half up: -3.5 → -3
    (0x0A7FFFFF, 24, 10, 10), (0x0A800000, 24, 11, 11), (-0x0A800000, 24, -10, -10),
    (-0x0A800001, 24, -11, -11), (2**31 - 1, 0, 32767, 127), (-(2**31 - 1), 0, -32767, -127),
    (2**31 - 1, 31, 1, 1), (-(2**31 - 1), 31, -1, -1), (2**31 - 1, 32, 0, 0),
    (-5, 32, -1, -1), (-(2**31 - 1), 0xFFFF, -1, -1), (2**30, 0xFFFF, 0, 0),
    (-32768, 0, -32767, -127), (40000, 0, 32767, 127), (255, 1, 128, 127),
])
def test_vlsat(mode: Mode, acc: int, shift: int, expected16: int, expected8: int) -> None:
    vpu, addr = make(mode, struct.pack("<16H", *[shift] * 16))
    set_accs(vpu, [acc] * 16)
    vpu.vlsat(addr)
    if mode == Mode.INT16:
        assert vpu.vR == struct.pack("<16h", *[expected16] * 16)
    else:
        assert vpu.vR == struct.pack("<16b", *[expected8] * 16) + bytes(16)
    assert vpu.vD == bytes(32)


@pytest.mark.parametrize(("acc", "shift", "expected"), [
    (2**39 - 1, 8, 2**31 - 1), (2**39 - 1, 9, 2**30), (-(2**39 - 1), 9, -(2**30)),
    (2**38, 38, 1), (2**37, 38, 1), (2**37 - 1, 38, 0), (-(2**38) - 1, 38, -1), (2**39 - 1, 39, 0),
    (-1, 39, -1), (-5, 2**32 - 1, -1), (3, 1, 2), (-3, 1, -1), (2**31, 0, 2**31 - 1),
])
def test_vlsat_32bit_mode_40bit_accumulators(acc: int, shift: int, expected: int) -> None:
    vpu, addr = make(Mode.INT32, struct.pack("<8I", *[shift] * 8))
    set_accs(vpu, [acc] * 8)
    assert vpu.accumulators() == [acc] * 8
    vpu.vlsat(addr)
    assert vpu.vR == struct.pack("<8i", *[expected] * 8) and vpu.vD == bytes(32)


def test_accumulator_layout() -> None:
    vpu, _ = make(Mode.INT16)
    vpu.set_registers(vD=struct.pack("<16h", *range(-8, 8)), vR=struct.pack("<16H", *[0xFFFF] * 16))
    assert vpu.accumulators() == [(h << 16) | 0xFFFF for h in range(-8, 8)]
    vpu.vsetc(Mode.INT32)
    vpu.set_registers(vD=struct.pack("<8i", -1, 127, -128, 0, 1, 0x100, 0x1FF, -0x100),
                      vR=struct.pack("<8I", *[5] * 8))
    assert vpu.accumulators() == [-(2**32) + 5, 127 * 2**32 + 5, -128 * 2**32 + 5, 5, 2**32 + 5,
                                  5, -(2**32) + 5, 5]


@pytest.mark.parametrize("mode", [Mode.INT8, Mode.INT16])
def test_vlmaccr_rotates_and_saturates_once(mode: Mode) -> None:
    info = mode_info(mode)
    c = [(-1) ** i * (i + 3) for i in range(info.lanes)]
    m = [i - 7 for i in range(info.lanes)]
    dot = sum(x * y for x, y in zip(c, m, strict=True))
    vpu, addr = make(mode, vec(mode, m), vC=vec(mode, c))
    accs = [1000 * i - 7 for i in range(16)]
    set_accs(vpu, accs)
    vpu.vlmaccr(addr)
    assert vpu.accumulators() == [accs[15] + dot, *accs[:15]]
    # saturation happens once, on the total (the hardware-run test of vlmaccr8)
    # (lib_xcore_math's C vlmaccr8 saturates after each product and would give 2**31-1 - 127**2)
    big = [127] * info.lanes
    vpu, addr = make(mode, vec(mode, big), vC=vec(mode, [127] * (info.lanes - 1) + [-127]))
    set_accs(vpu, [0] * 15 + [2**31 - 127 * 127 * (info.lanes - 1)])
    vpu.vlmaccr(addr)
    assert vpu.accumulators()[0] == 2**31 - 127 * 127
    set_accs(vpu, [0] * 15 + [2**31 - 1])
    vpu.vlmaccr(addr)
    assert vpu.accumulators()[0] == 2**31 - 1


def test_vlmaccr_32bit_mode_rounds_each_product() -> None:
    c = [2**30, -(2**31), 3, -3, 2**31 - 1, 1 << 29, -(1 << 29), 7]
    m = [5, 2**31 - 1, 2**29, 2**29, 2**31 - 1, 1, 1, 0]
    vpu, addr = make(Mode.INT32, vec(Mode.INT32, m), vC=vec(Mode.INT32, c))
    set_accs(vpu, [11 * i for i in range(8)])
    vpu.vlmaccr(addr)
    terms = [5, -(2**32 - 2), 2, -1, (2**62 - 2**32 + 1 + 2**29) >> 30, 1, 0, 0]
    assert [(x * y + 2**29) >> 30 for x, y in zip(c, m, strict=True)] == terms
    assert vpu.accumulators() == [77 + sum(terms), *[11 * i for i in range(7)]]
    set_accs(vpu, [2**39 - 1] * 8)
    vpu.set_registers(vC=vec(Mode.INT32, [2**31 - 1] * 8))
    vpu.vlmaccr(addr)
    assert vpu.accumulators()[0] == 2**39 - 1


@pytest.mark.parametrize("mode", list(Mode))
def test_vlmacc(mode: Mode) -> None:
    info = mode_info(mode)
    c = [info.max - i for i in range(info.lanes)]
    m = [-i - 1 for i in range(info.lanes)]
    vpu, addr = make(mode, vec(mode, m), vC=vec(mode, c))
    accs = [0, -(info.acc_max), info.acc_max, *range(info.accumulators - 3)]
    set_accs(vpu, accs)
    vpu.vlmacc(addr)
    prod = [x * y if mode != Mode.INT32 else (x * y + 2**29) >> 30
            for x, y in zip(c, m, strict=True)]
    # 16 lanes in the 8-bit mode: the first 16 int8 lanes of vC and memory
    expected = [max(-info.acc_max, min(info.acc_max, a + p))
                for a, p in zip(accs, prod[:info.accumulators], strict=True)]
    assert vpu.accumulators() == expected


def test_vlmaccr1_counts_agreeing_bits() -> None:
    vpu, addr = make(Mode.INT8, bytes([0xFF] * 4 + [0] * 28), vC=bytes(32))
    set_accs(vpu, [i for i in range(16)])
    vpu.vlmaccr1(addr)
    assert vpu.accumulators() == [15 + 128 - 32, *range(15)]
    vpu.vsetc(Mode.INT32)
    with pytest.raises(UsageError):
        vpu.vlmaccr1(addr)


def test_vladdd_adds_into_vd() -> None:
    vpu, addr = make(Mode.INT16, vec(Mode.INT16, [1, -32767, 5]),
                     vD=vec(Mode.INT16, [2, -5, 32767]))
    vpu.vladdd(addr)
    assert lanes(Mode.INT16, vpu.vD)[:3] == [3, -32767, 32767]


def test_loads_stores_vstrpv_and_counts() -> None:
    mem = Memory()
    src = mem.alloc(np.arange(32, dtype=np.uint8))
    dst = mem.alloc(32)
    vpu = VPU(mem)
    vpu.vldr(src)
    vpu.vldd(src)
    vpu.vldc(src)
    vpu.vclrdr()
    assert vpu.vR == vpu.vD == bytes(32) and vpu.vC == bytes(range(32))
    vpu.vstc(dst)
    assert mem.view(dst, 32, np.uint8).tolist() == [list(range(32))]
    vpu.set_registers(vR=bytes([0xAA] * 32))
    vpu.vstrpv(dst, 0x8000000F)
    expected = [0xAA] * 4 + list(range(4, 31)) + [0xAA]
    assert mem.view(dst, 32, np.uint8).tolist() == [expected]
    vpu.vstd(dst)
    vpu.other(3)
    assert vpu.counts == {"VLDR": 1, "VLDD": 1, "VLDC": 1, "VCLRDR": 1, "VSTC": 1, "VSTRPV": 1,
                          "VSTD": 1, "other": 3}
    assert vpu.instructions == 10


def test_undefined_modes_and_bad_operands() -> None:
    vpu, addr = make(Mode.INT8)
    with pytest.raises(UsageError):
        vpu.vdepth8()
    with pytest.raises(UsageError):
        vpu.vdepth16()
    with pytest.raises(UsageError):
        vpu.vsetc(0x300)
    with pytest.raises(AddressError):
        vpu.vldr(addr + 4)
    with pytest.raises(AddressError):
        vpu.vldr(0)
    assert sum(vpu.counts.values()) == 1   # the VSETC of make() only


def test_memory_segments() -> None:
    mem = Memory(batch=3)
    shared = mem.alloc(np.array([1, -2], np.int16))
    per = mem.alloc(np.arange(12, dtype=np.int32).reshape(3, 4), per_sample=True)
    zeros = mem.alloc(5)
    assert shared % 32 == per % 32 == zeros % 32 == 0
    assert mem.view(shared, 2, np.int16).tolist() == [[1, -2]] * 3
    assert mem.view(per + 4, 2, np.int32).tolist() == [[1, 2], [5, 6], [9, 10]]
    assert mem.read(zeros, 5).shape == (3, 5)
    assert mem.read_rows(shared, 4).tolist() == [[1, 0, 0xFE, 0xFF]]  # one row: shared
    assert mem.read_rows(per + 4, 4).tolist() == [[1, 0, 0, 0], [5, 0, 0, 0], [9, 0, 0, 0]]
    with pytest.raises(AddressError):
        mem.read(shared, 5)
    with pytest.raises(AddressError):
        mem.read(per + 16, 1)
    mem.write(zeros, np.array([[1], [2], [3]]), sample=None)
    assert mem.view(zeros, 1, np.uint8).ravel().tolist() == [1, 2, 3]
    with pytest.raises(AddressError):
        mem.write(shared, np.array([[1], [2], [3]]))
    mem.write(shared, np.array([[9], [9], [9]]))
    assert mem.view(shared, 1, np.uint8).ravel().tolist() == [9, 9, 9]
    with pytest.raises(UsageError):
        mem.alloc(np.zeros((2, 4)), per_sample=True)

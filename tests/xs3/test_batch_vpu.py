"""BatchVPU is bit-identical to the instruction-level VPU: every instruction in every mode over
hypothesis-generated register states and memory operands that hit the saturation and shift edges
(lanes at ±max and the lane minimum, accumulators at and past ±2**31 / ±2**39, raw vD garbage in
the 32-bit mode, shifts 0, negative, ≥ lane width, ≥ 32, ≥ 39), and random programs end to end."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tflitekit.errors import UsageError
from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.isa import MNEMONICS, Mode, mode_info
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.vpu import VPU

MODES = st.sampled_from(list(Mode))
DTYPES = {8: "<i1", 16: "<i2", 32: "<i4"}
SHR = st.sampled_from([-100, -40, -33, -32, -31, -17, -16, -15, -9, -8, -7, -1, 0, 1, 6, 7, 8, 9,
                       14, 15, 16, 17, 30, 31, 32, 33, 39, 40, 100]) | st.integers(-70, 70)


@functools.cache
def edge_ints(bits: int) -> st.SearchStrategy[int]:
    """Signed ``bits``-bit integers, biased to the edges."""
    top = 1 << (bits - 1)
    edges = [0, 1, -1, 2, -2, top - 1, -top, -top + 1, top - 2, top // 2, -(top // 2),
             (top // 2) - 1, 0x40, -0x40, 127, -127, -128, 128]
    return st.sampled_from([e for e in edges if -top <= e < top]) | st.integers(-top, top - 1)


@functools.cache
def lanes_of(bits: int, n: int = 0) -> st.SearchStrategy[bytes]:
    """32 bytes of ``256 / bits`` edge-biased lanes (``n`` of them and zeros when given)."""
    count = n or 256 // bits
    return st.lists(edge_ints(bits), min_size=count, max_size=count).map(
        lambda v: np.array(v, DTYPES[bits]).tobytes().ljust(32, b"\0"))


@functools.cache
def vector(mode: Mode) -> st.SearchStrategy[bytes]:
    """A register or memory vector for ``mode``: its own lanes, other lane widths, raw bytes."""
    bits = mode_info(mode).bits
    return (lanes_of(bits) | lanes_of(bits) | lanes_of(8) | lanes_of(16) | lanes_of(32)
            | st.binary(min_size=32, max_size=32))


@functools.cache
def shift_operand(mode: Mode) -> st.SearchStrategy[bytes]:
    """VLSAT's per-accumulator unsigned shifts, biased to 0, width-1, 31, 32, 38, 39, 'negative'."""
    info = mode_info(mode)
    top = 1 << (info.shift_bytes * 8)
    edges = st.sampled_from([0, 1, 2, 7, 8, 15, 16, 23, 24, 30, 31, 32, 33, 37, 38, 39, 40, 63, 64,
                             top - 1, top - 2, top // 2])
    shift = edges | st.integers(0, 40) | st.integers(0, top - 1)
    return st.lists(shift, min_size=info.accumulators, max_size=info.accumulators).map(
        lambda v: np.array(v, f"<u{info.shift_bytes}").tobytes().ljust(32, b"\0"))


@functools.cache
def accumulator_pair(mode: Mode) -> st.SearchStrategy[tuple[bytes, bytes]]:
    """(vD, vR) holding edge accumulators: ±(2**31 - 1), -2**31, ±2**39 and neighbours."""
    info = mode_info(mode)
    top = 1 << (info.acc_bits - 1)
    edges = [0, 1, -1, top - 1, -top, -top + 1, top - 2, 2**31 - 1, -(2**31), 2**31, 2**15,
             -(2**15), 2**31 - 2**14, -(2**31) + 2**14]
    acc = st.sampled_from([e for e in edges if -top <= e < top]) | st.integers(-top, top - 1)

    def split(accs: list[int]) -> tuple[bytes, bytes]:
        a = np.array(accs, np.int64)
        bits = info.vr_bits
        high = (a >> bits).astype(DTYPES[bits]).tobytes()
        low = (a & ((1 << bits) - 1)).astype(f"<u{bits // 8}").tobytes()
        return high, low
    return st.lists(acc, min_size=info.accumulators, max_size=info.accumulators).map(split)


@dataclass
class Case:
    mode: Mode
    regs: list[dict[str, bytes]]  # per sample
    operands: list[bytes]  # per sample: the memory operand
    shared: bool  # the operand is one shared segment (all samples' operands equal)
    shr: int


@st.composite
def cases(draw: st.DrawFn, mnemonic: str) -> Case:
    mode = draw(MODES)
    batch = draw(st.integers(1, 3))
    shared = draw(st.booleans())
    operand = shift_operand(mode) if mnemonic == "VLSAT" else vector(mode)
    regs, operands = [], []
    for _ in range(batch):
        vD, vR = draw(accumulator_pair(mode) | st.tuples(vector(mode), vector(mode)))
        regs.append({"vC": draw(vector(mode)), "vD": vD, "vR": vR})
        operands.append(operands[0] if shared and operands else draw(operand))
    return Case(mode, regs, operands, shared, draw(SHR))


def memory(case: Case) -> tuple[Memory, int, int]:
    """A memory with the case's operand (shared or per sample) and a 32-byte output per sample."""
    mem = Memory(len(case.operands))
    rows = np.frombuffer(b"".join(case.operands), np.uint8).reshape(len(case.operands), 32)
    operand = mem.alloc(rows[0]) if case.shared else mem.alloc(rows, per_sample=True)
    output = mem.alloc(rows[::-1].copy(), per_sample=True)
    return mem, operand, output


def execute(engine: VPU | BatchVPU, mnemonic: str, operand: int, output: int, shr: int) -> bool:
    """Run one instruction; True if it raised UsageError (undefined in this mode)."""
    name = mnemonic.lower()
    try:
        if name in {"vstr", "vstd", "vstc"}:
            getattr(engine, name)(output)
        elif name == "vstrpv":
            engine.vstrpv(output, shr * 0x01030507 & 0xFFFFFFFF)
        elif name == "vlashr":
            engine.vlashr(operand, shr)
        elif name == "vsetc":
            engine.vsetc([Mode.INT8, Mode.INT16, Mode.INT32][shr % 3])
        elif name in {"vclrdr", "vpos", "vsign", "vdepth1", "vdepth8", "vdepth16"}:
            getattr(engine, name)()
        else:
            getattr(engine, name)(operand)
    except UsageError:
        return True
    return False


def check_same(batch: BatchVPU, singles: list[VPU], output: int) -> None:
    accs = batch.accumulators()  # before registers(), which writes held accumulators back
    regs = batch.registers()
    for s, vpu in enumerate(singles):
        for name, value in vpu.registers().items():
            assert regs[name][s].tobytes() == value, (name, s)
        assert vpu.mode == batch.mode
        assert vpu.counts == batch.counts
        assert (accs[s] == np.array(vpu.accumulators())).all()
        assert (batch.accumulators()[s] == accs[s]).all()
        assert batch.memory.read(output, 32)[s].tobytes() == vpu.memory.read_sample(output, 32, s)


def engines(case: Case) -> tuple[BatchVPU, list[VPU], int, int]:
    mem, operand, output = memory(case)
    batch = BatchVPU(mem)
    batch.vsetc(case.mode)
    batch.set_registers(**{k: np.frombuffer(b"".join(r[k] for r in case.regs), np.uint8)
                           .reshape(-1, 32) for k in ("vC", "vD", "vR")})
    singles = []
    for s, regs in enumerate(case.regs):
        vpu = VPU(memory(case)[0], sample=s)
        vpu.vsetc(case.mode)
        vpu.set_registers(**regs)
        singles.append(vpu)
    return batch, singles, operand, output


def check_instruction(mnemonic: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None)
    @given(cases(mnemonic))
    def check(case: Case) -> None:
        batch, singles, operand, output = engines(case)
        raised = execute(batch, mnemonic, operand, output, case.shr)
        assert [execute(v, mnemonic, operand, output, case.shr) for v in singles] == \
            [raised] * len(singles)
        check_same(batch, singles, output)
    check()


@pytest.mark.parametrize("mnemonic", MNEMONICS)
def test_every_instruction_every_mode(mnemonic: str) -> None:
    check_instruction(mnemonic, 60)


@pytest.mark.slow
@pytest.mark.parametrize("mnemonic", MNEMONICS)
def test_every_instruction_every_mode_thoroughly(mnemonic: str) -> None:
    check_instruction(mnemonic, 500)


STEPS = st.lists(st.tuples(st.sampled_from(MNEMONICS), SHR, st.booleans()), min_size=1,
                 max_size=40)


@settings(max_examples=100, deadline=None)
@given(cases("VLMACCR"), st.data())
def test_random_programs(case: Case, data: st.DataObject) -> None:
    """Short random programs (mode switches included) leave both engines in the same state;
    VLSAT reads shifts from a second operand."""
    batch, singles, operand, output = engines(case)
    shifts = data.draw(shift_operand(Mode.INT32) | shift_operand(Mode.INT16))
    shift_addr = batch.memory.alloc(np.frombuffer(shifts, np.uint8))
    for vpu in singles:
        assert vpu.memory.alloc(np.frombuffer(shifts, np.uint8)) == shift_addr
    for mnemonic, shr, to_output in data.draw(STEPS):
        source = shift_addr if mnemonic == "VLSAT" else output if to_output else operand
        raised = execute(batch, mnemonic, source, output, shr)
        assert [execute(v, mnemonic, source, output, shr) for v in singles] == \
            [raised] * len(singles)
    check_same(batch, singles, output)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=6), st.binary(min_size=32,
                                                                             max_size=32))
def test_vstrpv_takes_a_mask_per_sample(masks: list[int], vr: bytes) -> None:
    """A mask the scalar core computed per sample: BatchVPU stores each sample's bytes under its
    own mask, as the instruction-level VPU does for its sample."""
    mem = Memory(len(masks))
    out = mem.alloc(np.full((len(masks), 32), 0xA5, np.uint8), per_sample=True)
    batch = BatchVPU(mem)
    batch.set_registers(vR=np.frombuffer(vr * len(masks), np.uint8).reshape(len(masks), 32))
    batch.vstrpv(out, np.array(masks))
    for s, mask in enumerate(masks):
        single_mem = Memory(1)
        single_out = single_mem.alloc(np.full((1, 32), 0xA5, np.uint8), per_sample=True)
        single = VPU(single_mem)
        single.set_registers(vR=vr)
        single.vstrpv(single_out, mask)
        assert mem.read(out, 32)[s].tobytes() == single_mem.read(single_out, 32)[0].tobytes()
    assert batch.counts["VSTRPV"] == 1


def test_registers_are_replaced_not_written() -> None:
    """Registers are read-only (BatchVPU keeps vC's lanes unpacked); registers() gives copies."""
    batch = BatchVPU(Memory(2))
    with pytest.raises(ValueError):
        batch.vC[0, 0] = 1
    batch.registers()["vC"][0, 0] = 1
    assert not batch.vC.any()

"""Instruction differential: our VPU and BatchVPU against xmos' C VPU simulator.

Random register states and memory operands (biased to lane and accumulator extremes) run through
both engines and through the simulator inside ``xmos-ai-tools`` (``_xmos_sim``), every
instruction in every mode, restricted to the domain where the simulator agrees with xmos'
hardware-tested scalar model (lib_xcore_math ``vpu_scalar_ops.c``). Outside that domain,
:data:`DIVERGENCES` lists cases where the engines follow the scalar model and the simulator does
not; each asserts both, so the table stays true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from _xmos_sim import MODES, Simulator

from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.vpu import VPU

pytestmark = pytest.mark.xcore

CASES = 300
REGISTERS = ("vC", "vD", "vR")
ALL = (8, 16, 32)
#: Instruction -> the modes (lane bits) where the simulator is trustworthy.
DOMAINS: dict[str, tuple[int, ...]] = {
    **{name: ALL for name in ("vclrdr", "vldr", "vldd", "vldc", "vstr", "vstd", "vstc",
                              "vstrpv", "vlashr", "vladd", "vlsub", "vlmul", "vdepth1")},
    **{name: (8, 16) for name in ("vlmacc", "vlmaccr", "vlmaccr1", "vlsat")},
    "vpos": (16,), "vdepth8": (16, 32), "vdepth16": (32,)}
NO_OPERAND = {"vclrdr", "vpos", "vdepth1", "vdepth8", "vdepth16"}
STORES = {"vstr", "vstd", "vstc"}
I32_MAX = 2**31 - 1

Array = npt.NDArray[np.int64]


@dataclass
class Cases:
    """``n`` cases: registers and the memory operand as (n, 32) uint8, the scalar argument
    (VLASHR's shift, VSTRPV's mask) as (n,) or None."""

    vC: npt.NDArray[np.uint8]
    vD: npt.NDArray[np.uint8]
    vR: npt.NDArray[np.uint8]
    operand: npt.NDArray[np.uint8]
    arg: Array | None = None

    def __len__(self) -> int:
        return int(self.vC.shape[0])


def lanes(rng: np.random.Generator, bits: int, shape: tuple[int, ...]) -> Array:
    """Signed ``bits``-bit values: a third extremes (0, ±1, ±2, ±max, min, max-1), a third
    small, a third uniform."""
    top = 1 << (bits - 1)
    edges = np.array([0, 1, -1, 2, -2, top - 1, -(top - 1), -top, top - 2])
    kind = rng.integers(0, 3, shape)
    return np.select([kind == 0, kind == 1],
                     [edges[rng.integers(0, edges.size, shape)], rng.integers(-8, 9, shape)],
                     rng.integers(-top, top, shape))


def pack(values: npt.ArrayLike, bits: int) -> npt.NDArray[np.uint8]:
    """Lane values (n, lanes) as (n, 32) little-endian bytes (wrapping to the lane width)."""
    v = np.asarray(values, np.int64)
    raw = v.astype(f"<u{bits // 8}" if bits < 64 else "<u8")
    return raw.view(np.uint8).reshape(v.shape[0], 32)


def unpack(raw: npt.NDArray[np.uint8], bits: int) -> Array:
    return np.ascontiguousarray(raw).view(f"<i{bits // 8}").astype(np.int64)


def split_acc(acc: Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """16 32-bit accumulators per case -> (vD, vR) of the 8/16-bit modes."""
    return pack(acc >> 16, 16), pack(acc & 0xFFFF, 16)


def join_acc(vD: npt.NDArray[np.uint8], vR: npt.NDArray[np.uint8]) -> Array:
    return unpack(vD, 16) * 65536 + (unpack(vR, 16) & 0xFFFF)


def random_cases(rng: np.random.Generator, bits: int, n: int) -> Cases:
    """Lane-typed vC, vR and operand; vD:vR as accumulators (8/16-bit modes) or lanes."""
    def vec() -> npt.NDArray[np.uint8]:
        return pack(lanes(rng, bits, (n, 256 // bits)), bits)
    vC, vR, operand = vec(), vec(), vec()
    if bits == 32:
        vD = vec()
    else:
        vD, acc_r = split_acc(lanes(rng, 32, (n, 16)))
        as_acc = rng.random(n) < 0.5
        vR[as_acc] = acc_r[as_acc]
    return Cases(vC, vD, vR, operand)


# ------------------------------------------------------------------------------------------------
# Domains: each reshapes random cases to where the simulator agrees with the scalar model
# ------------------------------------------------------------------------------------------------


def _vlsat_domain(rng: np.random.Generator, bits: int, c: Cases) -> None:
    """Shifts 0..31 (the simulator's rounding is undefined from 32), and accumulators whose
    rounding addend does not overflow int32."""
    n = len(c)
    shifts = np.where(rng.random((n, 16)) < 0.4,
                      np.array([0, 1, 8, 15, 16, 17, 30, 31])[rng.integers(0, 8, (n, 16))],
                      rng.integers(0, 32, (n, 16)))
    acc = join_acc(c.vD, c.vR)
    limit = I32_MAX - np.where(shifts > 0, 1 << np.maximum(shifts - 1, 0), 0)
    c.vD, c.vR = split_acc(np.minimum(acc, limit))
    c.operand = pack(shifts, 16)


def _vlashr_domain(rng: np.random.Generator, bits: int, c: Cases) -> None:
    """Shifts where the simulator matches: right shifts ≥ bits - 1 (the sign), 0 < shr <
    bits - 1 on multiples of 2**shr (its rounding then adds nothing), left shifts up to 24, 16
    and 31 bits (8-, 16-, 32-bit lanes; further, its shift wraps); in 32-bit mode the shifted
    lane must be non-negative and below 2**(32 - shift) (it shifts an unsigned 32-bit value)."""
    n = len(c)
    left_max = {8: 24, 16: 16, 32: 31}[bits]
    kind = rng.integers(0, 3, n)
    shr = np.select([kind == 0, kind == 1],
                    [rng.integers(-left_max, 1, n), rng.integers(bits - 1, bits + 40, n)],
                    rng.integers(1, bits - 1, n))
    x = unpack(c.operand, bits)
    exact = (shr > 0) & (shr < bits - 1)
    right = np.clip(shr, 0, bits)[:, None]
    x = np.where(exact[:, None], x >> right << right, x)
    if bits == 32:
        below = (1 << (32 - np.clip(-shr, 1, 31))) - 1
        x = np.where((shr <= 0)[:, None], x & below[:, None], x)
    c.operand = pack(x, bits)
    c.arg = shr


def _vstrpv_domain(rng: np.random.Generator, bits: int, c: Cases) -> None:
    n = len(c)
    c.arg = np.where(rng.random(n) < 0.2, rng.choice([0, 0xFFFFFFFF, 0xFFFF, 1], n),
                     rng.integers(0, 1 << 32, n))


DOMAIN_RULES: dict[str, Callable[[np.random.Generator, int, Cases], None]] = {
    "vlsat": _vlsat_domain, "vlashr": _vlashr_domain, "vstrpv": _vstrpv_domain}


def make_cases(name: str, bits: int, n: int = CASES) -> Cases:
    rng = np.random.default_rng([sorted(DOMAINS).index(name), bits])
    cases = random_cases(rng, bits, n)
    if name in DOMAIN_RULES:
        DOMAIN_RULES[name](rng, bits, cases)
    return cases


# ------------------------------------------------------------------------------------------------
# Running a case: the 96 register bytes then the 32 operand bytes afterwards, per case
# ------------------------------------------------------------------------------------------------


def _execute(engine: VPU | BatchVPU, name: str, addr: int, arg: int | None) -> None:
    if name in NO_OPERAND:
        getattr(engine, name)()
    elif arg is not None:
        getattr(engine, name)(addr, arg)
    else:
        getattr(engine, name)(addr)


def run_vpu(name: str, bits: int, c: Cases) -> npt.NDArray[np.uint8]:
    out = np.empty((len(c), 128), np.uint8)
    for i in range(len(c)):
        memory = Memory()
        addr = memory.alloc(c.operand[i].tobytes())
        vpu = VPU(memory)
        vpu.vsetc(MODES[bits])
        vpu.set_registers(**{r: getattr(c, r)[i].tobytes() for r in REGISTERS})
        _execute(vpu, name, addr, None if c.arg is None else int(c.arg[i]))
        regs = vpu.registers()
        out[i] = np.frombuffer(b"".join(regs[r] for r in REGISTERS)
                               + memory.read_sample(addr, 32, 0), np.uint8)
    return out


def run_batch(name: str, bits: int, c: Cases) -> npt.NDArray[np.uint8]:
    """One BatchVPU run per distinct scalar argument (the whole batch when there is none)."""
    out = np.empty((len(c), 128), np.uint8)
    groups = [(None, np.arange(len(c)))] if c.arg is None else [
        (int(a), np.flatnonzero(c.arg == a)) for a in np.unique(c.arg)]
    for arg, idx in groups:
        memory = Memory(batch=idx.size)
        addr = memory.alloc(c.operand[idx], per_sample=True)
        vpu = BatchVPU(memory)
        vpu.vsetc(MODES[bits])
        vpu.set_registers(**{r: getattr(c, r)[idx] for r in REGISTERS})
        _execute(vpu, name, addr, arg)
        regs = vpu.registers()
        out[idx] = np.concatenate([*(np.asarray(regs[r], np.uint8) for r in REGISTERS),
                                   memory.read(addr, 32)], axis=1)
    return out


def run_sim(name: str, bits: int, c: Cases) -> npt.NDArray[np.uint8]:
    out = np.empty((len(c), 128), np.uint8)
    for i in range(len(c)):
        sim = Simulator()
        sim.vsetc(MODES[bits])
        sim.set_registers(**{r: getattr(c, r)[i].tobytes() for r in REGISTERS})
        operand = c.operand[i].tobytes()
        memory = operand
        if name in NO_OPERAND:
            getattr(sim, name)()
        elif name in STORES:
            memory = getattr(sim, name)()
        elif name == "vstrpv":
            assert c.arg is not None
            memory = sim.vstrpv(int(c.arg[i]), operand)
        elif name == "vlashr":
            assert c.arg is not None
            sim.vlashr(operand, int(c.arg[i]))
        else:
            getattr(sim, name)(operand)
        regs = sim.registers()
        out[i] = np.frombuffer(b"".join(regs[r] for r in REGISTERS) + memory, np.uint8)
    return out


PAIRS = [(name, bits) for name in sorted(DOMAINS) for bits in DOMAINS[name]]


@pytest.mark.parametrize(("name", "bits"), PAIRS, ids=[f"{n}-{b}" for n, b in PAIRS])
def test_matches_simulator(name: str, bits: int) -> None:
    cases = make_cases(name, bits)
    expected = run_sim(name, bits, cases)
    for engine, run in (("VPU", run_vpu), ("BatchVPU", run_batch)):
        got = run(name, bits, cases)
        bad = np.flatnonzero((got != expected).any(axis=1))
        print(f"{name.upper()} {bits}-bit {engine}: {len(cases) - bad.size}/{len(cases)} match")
        assert bad.size == 0, (
            f"{engine} {name} {bits}-bit: {bad.size}/{len(cases)} differ from the simulator; "
            f"first case {bad[0]}: ours {got[bad[0]].tobytes().hex()} "
            f"simulator {expected[bad[0]].tobytes().hex()}")


# ------------------------------------------------------------------------------------------------
# Known divergences: ours (the hardware-tested scalar model) and the simulator differ
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """One instruction from a given state; ``expected`` registers follow the scalar model."""

    what: str
    name: str
    bits: int
    state: dict[str, npt.NDArray[np.uint8]]
    operand: npt.NDArray[np.uint8]
    expected: dict[str, npt.NDArray[np.uint8]]
    arg: int | None = None


def _vec(values: list[int], bits: int) -> npt.NDArray[np.uint8]:
    lanes_ = np.zeros(256 // bits, np.int64)
    lanes_[:len(values)] = values
    return pack(lanes_[None], bits)


def _sat(x: Array, bits: int) -> Array:
    top = (1 << (bits - 1)) - 1
    return np.clip(x, -top, top)


def _vlashr(bits: int, x: list[int], shr: int, rule: Callable[[Array], Array],
            what: str) -> Divergence:
    operand = _vec(x, bits)
    return Divergence(what, "vlashr", bits, {}, operand,
                      {"vR": pack(_sat(rule(unpack(operand, bits)), bits), bits)}, shr)


def _split40(acc: list[int]) -> dict[str, npt.NDArray[np.uint8]]:
    """8 40-bit accumulators of the 32-bit mode: vD the high bits, vR the low 32."""
    a = np.zeros(8, np.int64)
    a[:len(acc)] = acc
    return {"vD": pack((a >> 32)[None], 32), "vR": pack((a & 0xFFFFFFFF)[None], 32)}


def _round_shr(x: int, s: int) -> int:
    return (x + (1 << (s - 1))) >> s if s > 0 else x


def _vlsat_case(bits: int, accs: list[int], shifts: list[int], what: str) -> Divergence:
    vD, vR = split_acc(np.array([accs + [0] * (16 - len(accs))]))
    top = (1 << (bits - 1)) - 1
    out = [0 if s >= 32 and a >= 0 else -1 if s >= 32 else
           max(-top, min(top, _round_shr(a, s))) for a, s in zip(accs, shifts, strict=True)]
    return Divergence(what, "vlsat", bits, {"vD": vD, "vR": vR}, _vec(shifts, 16),
                      {"vR": _vec(out, bits), "vD": _vec([], 8)})


def _divergences() -> list[Divergence]:
    lanes8 = list(range(-16, 16))
    acc40 = [1000, -1000, 3, I32_MAX, -(2**35), 2**38 + 7]
    vlsat32_expected = [max(-I32_MAX, min(I32_MAX, _round_shr(a, 1))) for a in acc40]
    q30 = [1 << 30] * 8
    mem32 = [1, -7, 100, I32_MAX, -I32_MAX, 5, 0, -1]
    return [
        _vlashr(16, [-8, 5, 7, -1, -9, 8, 23, -24], 4, lambda x: x >> 4,
                "VLASHR right shifts floor (the simulator rounds: vlashr16(-8, 4) is -1)"),
        _vlashr(8, [5, -3, 1, -1, 127, -127], 1, lambda x: x >> 1,
                "VLASHR right shifts floor, 8-bit lanes"),
        _vlashr(32, [5, -3, 7, -(2**20) - 1], 3, lambda x: x >> 3,
                "VLASHR right shifts floor, 32-bit lanes"),
        _vlashr(16, [16384, -16384, 1, -1, 3], -17, lambda x: x << 17,
                "VLASHR left shifts of 17 or more saturate (the simulator's shift wraps)"),
        _vlashr(8, [64, -64, 1, 3], -25, lambda x: x << 25,
                "VLASHR 8-bit left shifts of 25 or more saturate (the simulator's wraps)"),
        _vlashr(32, [-5, -1, -I32_MAX, 7], 0, lambda x: x,
                "VLASHR 32-bit negative lanes (the simulator shifts them as unsigned)"),
        Divergence("VPOS in 8-bit mode works on the 32 int8 lanes of vR (the simulator reads "
                   "the accumulators)", "vpos", 8, {"vR": _vec(lanes8, 8)}, _vec([], 8),
                   {"vR": pack(np.maximum(np.array([lanes8]), 0), 8)}),
        Divergence("VPOS in 32-bit mode (not modelled by the simulator)", "vpos", 32,
                   {"vR": _vec([-5, 5, -I32_MAX, I32_MAX, 0, 1], 32)}, _vec([], 8),
                   {"vR": _vec([0, 5, 0, I32_MAX, 0, 1], 32)}),
        _vlsat_case(16, [I32_MAX, 2**31 - 2**14, 2**31 - 3], [2, 15, 1],
                    "VLSAT near +2**31 (the simulator's rounding addend overflows)"),
        _vlsat_case(8, [I32_MAX, 2**31 - 2**14], [2, 15],
                    "VLSAT 8-bit near +2**31 (the simulator's rounding addend overflows)"),
        _vlsat_case(16, [1000, -1000, 0, I32_MAX], [32, 40, 0xFFFF, 32],
                    "VLSAT shifts of 32 or more give the sign (the simulator's shift is "
                    "undefined there)"),
        Divergence("VLSAT in 32-bit mode on 40-bit accumulators (not modelled)", "vlsat", 32,
                   _split40(acc40), _vec([1] * 8, 32), {"vR": _vec(vlsat32_expected, 32),
                                                        "vD": _vec([], 8)}),
        Divergence("VLMACC in 32-bit mode: (c·m + 2**29) >> 30 into 40-bit accumulators "
                   "(not modelled)", "vlmacc", 32, {"vC": _vec(q30, 32), **_split40([])},
                   _vec(mem32, 32), _split40(mem32)),
        Divergence("VLMACCR in 32-bit mode (not modelled)", "vlmaccr", 32,
                   {"vC": _vec(q30, 32), **_split40(list(range(10, 18)))}, _vec(mem32, 32),
                   _split40([17 + sum(mem32), *range(10, 17)])),
    ]


DIVERGENCES = _divergences()


def _run_one(run: Callable[[str, int, Cases], npt.NDArray[np.uint8]],
             d: Divergence) -> dict[str, npt.NDArray[np.uint8]]:
    blank = np.zeros((1, 32), np.uint8)
    cases = Cases(*(d.state.get(r, blank) for r in REGISTERS), d.operand,
                  None if d.arg is None else np.array([d.arg]))
    row = run(d.name, d.bits, cases)[0]
    return {r: row[32 * k:32 * k + 32] for k, r in enumerate(REGISTERS)}


@pytest.mark.parametrize("d", DIVERGENCES, ids=[f"{d.name}-{d.bits}-{i}"
                                                for i, d in enumerate(DIVERGENCES)])
def test_known_divergence(d: Divergence) -> None:
    for run in (run_vpu, run_batch):
        ours = _run_one(run, d)
        for reg, want in d.expected.items():
            assert ours[reg].tobytes() == want.tobytes(), (run.__name__, reg, d.what)
    sim = _run_one(run_sim, d)
    assert any(sim[reg].tobytes() != want.tobytes() for reg, want in d.expected.items()), (
        f"the simulator now agrees: {d.what}; move the case into the differential domain")

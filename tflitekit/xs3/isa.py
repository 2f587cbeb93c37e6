"""The XS3 vector unit's instruction set: modes, lane layouts, saturation bounds, counting.

Facts from xmos lib_xcore_math (``vpu_info.h``, ``vpu_scalar_ops.c`` and the XS3 assembly that
runs its tests on hardware) and lib_nn (``xs3_vpu.h``): a vector is 256 bits; VSETC selects
32 int8, 16 int16 or 8 int32 lanes; saturation is symmetric (the most negative value of a lane
type is never produced); the accumulators are 32 bits (16 of them, vD holding the high and vR the
low 16 bits) in the 8- and 16-bit modes and 40 bits (8 of them, vD the high and vR the low 32
bits) in the 32-bit mode.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Concatenate, ParamSpec, Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError
from tflitekit.xs3.memory import Memory

__all__ = [
    "MNEMONICS",
    "VECTOR_BYTES",
    "Counting",
    "Mode",
    "ModeInfo",
    "Scalar",
    "VectorUnit",
    "counted",
    "mode_info",
]

VECTOR_BYTES = 32
"""Bytes in a vector register (256 bits)."""

MNEMONICS = (
    "VSETC", "VCLRDR", "VLDR", "VLDD", "VLDC", "VSTR", "VSTD", "VSTC", "VSTRPV", "VLMACC",
    "VLMACCR", "VLMACCR1", "VLSAT", "VLASHR", "VLADD", "VLSUB", "VLADDD", "VLMUL", "VPOS",
    "VSIGN", "VDEPTH1", "VDEPTH8", "VDEPTH16",
)
"""The vector instructions both engines execute, as counted in ``counts``."""


class Mode(IntEnum):
    """The operand value of VSETC (``XS1_VSETC_TYPE_*`` << 8 in lib_nn's ``xs3_vpu.h``)."""

    INT32 = 0x0000
    INT16 = 0x0100
    INT8 = 0x0200


@dataclass(frozen=True)
class ModeInfo:
    """The lane layout and arithmetic constants of one mode."""

    bits: int
    """Bits per lane."""
    lanes: int
    """Lanes per vector (VLADD, VLASHR, VLMUL, VPOS, VSIGN, VDEPTH1 work on all of them)."""
    accumulators: int
    """Accumulators (VLMACC lanes, VLMACCR period, VLSAT outputs)."""
    acc_bits: int
    """Width of an accumulator: 32, or 40 in the 32-bit mode."""
    vr_bits: int
    """Low bits of each accumulator held in vR (the rest, sign-extended, in vD)."""
    vlmul_shift: int
    """VLMUL's rounding right shift (6, 14, 30)."""
    shift_bytes: int
    """Bytes per lane of VLSAT's per-accumulator shift operand (unsigned)."""
    max_sat_shift: int
    """VLSAT shifts at or above this give the accumulator's sign (0 or -1)."""

    @property
    def max(self) -> int:
        """Largest lane value."""
        return (1 << (self.bits - 1)) - 1

    @property
    def min(self) -> int:
        """Smallest value saturation produces (symmetric: ``-max``)."""
        return -self.max

    @property
    def acc_max(self) -> int:
        """Largest accumulator value (symmetric bounds)."""
        return (1 << (self.acc_bits - 1)) - 1

    @property
    def one(self) -> int:
        """VSIGN's magnitude: 1.0 in the lane's VLMUL format (0x40, 0x4000, 0x40000000)."""
        return 1 << self.vlmul_shift


_INFO: dict[int, ModeInfo] = {
    Mode.INT8: ModeInfo(8, 32, 16, 32, 16, 6, 2, 32),
    Mode.INT16: ModeInfo(16, 16, 16, 32, 16, 14, 2, 32),
    Mode.INT32: ModeInfo(32, 8, 8, 40, 32, 30, 4, 39),
}


def mode_info(mode: int) -> ModeInfo:
    """The layout of ``mode`` (a :class:`Mode` or its VSETC value)."""
    info = _INFO.get(mode)  # a Mode hashes and compares as its value
    if info is None:
        raise UsageError(f"VSETC value {mode:#x} is not an integer mode "
                         "(0x0000 int32, 0x0100 int16, 0x0200 int8)")
    return info


class Counting:
    """Instruction counting shared by both engines."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def other(self, n: int = 1) -> None:
        """Count ``n`` non-VPU (scalar, branch, address) instructions under ``"other"``."""
        self.counts["other"] += n

    @property
    def instructions(self) -> int:
        """Every counted instruction, vector and other."""
        return sum(self.counts.values())


_P = ParamSpec("_P")
_E = TypeVar("_E", bound=Counting)


def counted(mnemonic: str) -> Callable[[Callable[Concatenate[_E, _P], None]],
                                       Callable[Concatenate[_E, _P], None]]:
    """Count an instruction method under ``mnemonic`` once it has executed (an instruction that
    raises is not counted)."""
    def wrap(method: Callable[Concatenate[_E, _P], None]) -> Callable[Concatenate[_E, _P], None]:
        @functools.wraps(method)
        def run(engine: _E, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
            method(engine, *args, **kwargs)
            engine.counts[mnemonic] += 1
        return run
    return wrap


#: A scalar register operand: one value for every sample, or one per sample (a ``(batch,)``
#: integer array), as the scalar core of each sample computed it.
Scalar: TypeAlias = "int | npt.NDArray[np.integer[Any]]"


class VectorUnit(Protocol):
    """What a kernel program may call: the instruction set both engines implement."""

    counts: Counter[str]
    memory: Memory

    @property
    def mode(self) -> Mode: ...
    @property
    def instructions(self) -> int: ...
    def other(self, n: int = 1) -> None: ...
    def vsetc(self, mode: int) -> None: ...
    def vclrdr(self) -> None: ...
    def vldr(self, addr: int) -> None: ...
    def vldd(self, addr: int) -> None: ...
    def vldc(self, addr: int) -> None: ...
    def vstr(self, addr: int) -> None: ...
    def vstd(self, addr: int) -> None: ...
    def vstc(self, addr: int) -> None: ...
    def vstrpv(self, addr: int, mask: Scalar) -> None: ...
    def vlmacc(self, addr: int) -> None: ...
    def vlmaccr(self, addr: int) -> None: ...
    def vlmaccr1(self, addr: int) -> None: ...
    def vlsat(self, addr: int) -> None: ...
    def vlashr(self, addr: int, shr: int) -> None: ...
    def vladd(self, addr: int) -> None: ...
    def vlsub(self, addr: int) -> None: ...
    def vladdd(self, addr: int) -> None: ...
    def vlmul(self, addr: int) -> None: ...
    def vpos(self) -> None: ...
    def vsign(self) -> None: ...
    def vdepth1(self) -> None: ...
    def vdepth8(self) -> None: ...
    def vdepth16(self) -> None: ...

"""What both engines share: the memory, the mode, the three registers and the instructions that
only move data (VSETC, VCLRDR, the loads and the stores). Each engine says how it holds a
register (:meth:`Engine._load`, :meth:`Engine._store`, :meth:`Engine._zero`) and computes the
arithmetic instructions its own way."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar

from tflitekit.xs3.isa import Counting, Mode, ModeInfo, counted, mode_info
from tflitekit.xs3.memory import Memory

__all__ = ["Engine"]

_R = TypeVar("_R")


class Engine(Counting, Generic[_R]):
    """An XS3 vector unit over ``memory`` (default: a fresh ``Memory()``) whose registers are
    values of type ``_R``; the mode starts as int32 (VSETC 0)."""

    vC: _R
    vD: _R
    vR: _R

    def __init__(self, memory: Memory | None = None) -> None:
        super().__init__()
        self.memory = Memory() if memory is None else memory
        self._mode = Mode.INT32

    @property
    def mode(self) -> Mode:
        """The mode VSETC last set."""
        return self._mode

    @property
    def _info(self) -> ModeInfo:
        return mode_info(self._mode)

    @abstractmethod
    def _zero(self) -> _R:
        """A register of zeros."""

    @abstractmethod
    def _load(self, addr: int) -> _R:
        """The 32 bytes at ``addr`` as a register (never a view of memory)."""

    @abstractmethod
    def _store(self, addr: int, reg: _R, mask: Any = None) -> None:
        """``reg`` to the 32 bytes at ``addr``, only the bytes where ``mask`` is set."""

    @counted("VSETC")
    def vsetc(self, mode: int) -> None:
        """Set the mode (a :class:`Mode` or its VSETC value)."""
        mode_info(mode)
        self._mode = Mode(mode)

    @counted("VCLRDR")
    def vclrdr(self) -> None:
        """Clear vD and vR (every accumulator to 0)."""
        self.vD, self.vR = self._zero(), self._zero()

    @counted("VLDR")
    def vldr(self, addr: int) -> None:
        """vR ← the 32 bytes at ``addr``."""
        self.vR = self._load(addr)

    @counted("VLDD")
    def vldd(self, addr: int) -> None:
        """vD ← the 32 bytes at ``addr``."""
        self.vD = self._load(addr)

    @counted("VLDC")
    def vldc(self, addr: int) -> None:
        """vC ← the 32 bytes at ``addr``."""
        self.vC = self._load(addr)

    @counted("VSTR")
    def vstr(self, addr: int) -> None:
        """The 32 bytes at ``addr`` ← vR."""
        self._store(addr, self.vR)

    @counted("VSTD")
    def vstd(self, addr: int) -> None:
        """The 32 bytes at ``addr`` ← vD."""
        self._store(addr, self.vD)

    @counted("VSTC")
    def vstc(self, addr: int) -> None:
        """The 32 bytes at ``addr`` ← vC."""
        self._store(addr, self.vC)

"""Byte-addressed little-endian data memory for the XS3 engines, batched over samples.

Memory is a set of segments at distinct addresses. A shared segment (weights, parameters) is
stored once and reads the same for every sample; a per-sample segment (inputs, outputs, scratch)
has one row per sample. An access must lie inside one segment: reading or writing past the end of
an allocation raises :class:`AddressError` instead of returning whatever lies beyond, so a kernel
that loads whole 32-byte vectors must allocate (pad) whole vectors.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UsageError

__all__ = ["AddressError", "Memory"]

_T = TypeVar("_T", bound=np.generic)
_BASE = 0x1000  # address 0 is never valid, like a null pointer
_GAP = 64  # unallocated bytes between segments


class AddressError(UsageError):
    """An access outside every allocated segment, across segments, or a per-sample write to
    shared data."""


@dataclass
class _Segment:
    base: int
    data: npt.NDArray[np.uint8]  # (size,) shared or (batch, size) per sample
    per_sample: bool

    @property
    def size(self) -> int:
        return int(self.data.shape[-1])


class Memory:
    """Data memory of ``batch`` samples (see the module docstring)."""

    def __init__(self, batch: int = 1) -> None:
        if batch < 1:
            raise UsageError(f"batch must be at least 1, got {batch}")
        self.batch = batch
        self._segments: list[_Segment] = []
        self._bases: list[int] = []
        self._end = _BASE

    def alloc(self, data: npt.ArrayLike | bytes | int, *, per_sample: bool = False,
              align: int = 32) -> int:
        """Store ``data`` and return its address (a multiple of ``align``).

        ``data``: an int allocates that many zero bytes per sample; bytes or an array are stored
        as their little-endian bytes, once (shared) or, with ``per_sample``, one row per sample
        from an array whose leading axis is the batch.
        """
        if align < 1 or align & (align - 1):
            raise UsageError(f"align must be a power of two, got {align}")
        raw: npt.NDArray[np.uint8]
        if isinstance(data, int):
            if data < 0:
                raise UsageError(f"cannot allocate {data} bytes")
            raw = np.zeros((self.batch, data), np.uint8)
            per_sample = True
        elif per_sample:
            arr = np.asarray(data)
            if arr.ndim == 0 or arr.shape[0] != self.batch:
                raise UsageError(f"per-sample data needs a leading axis of {self.batch} "
                                 f"(the batch), got shape {arr.shape}")
            raw = _le_bytes(arr).reshape(self.batch, -1)
        else:
            raw = _le_bytes(np.frombuffer(data, np.uint8) if isinstance(data, bytes)
                            else np.asarray(data)).reshape(-1)
        base = -(-self._end // align) * align
        self._segments.append(_Segment(base, raw.copy(), per_sample))
        self._bases.append(base)
        self._end = base + raw.shape[-1] + _GAP
        return base

    def _segment(self, addr: int, n: int) -> tuple[_Segment, int]:
        i = bisect.bisect_right(self._bases, addr) - 1
        if i >= 0:
            seg = self._segments[i]
            start = addr - seg.base
            if start + n <= seg.size:
                return seg, start
            if start < seg.size:
                raise AddressError(f"{n} bytes at {addr:#x} run {start + n - seg.size} bytes past "
                                   f"the end of the {seg.size}-byte segment at {seg.base:#x}")
        raise AddressError(f"{n} bytes at {addr:#x}: no allocated segment there")

    def read(self, addr: int, n: int) -> npt.NDArray[np.uint8]:
        """``n`` bytes at ``addr`` for every sample: ``(batch, n)`` uint8 (read-only view)."""
        return np.broadcast_to(self.read_rows(addr, n), (self.batch, n))

    def read_rows(self, addr: int, n: int) -> npt.NDArray[np.uint8]:
        """``n`` bytes at ``addr``: ``(batch, n)`` uint8 from per-sample data, ``(1, n)`` (the
        same for every sample) from shared data (read-only view)."""
        seg, start = self._segment(addr, n)
        view = seg.data[:, start:start + n] if seg.per_sample else seg.data[None, start:start + n]
        out: npt.NDArray[np.uint8] = view.view()
        out.flags.writeable = False
        return out

    def read_sample(self, addr: int, n: int, sample: int) -> bytes:
        """``n`` bytes at ``addr`` as seen by one sample."""
        seg, start = self._segment(addr, n)
        row = seg.data[sample] if seg.per_sample else seg.data
        return row[start:start + n].tobytes()

    def write(self, addr: int, data: npt.ArrayLike, mask: npt.ArrayLike | None = None, *,
              sample: int | None = None) -> None:
        """Write ``data`` (``(batch, n)`` uint8, or ``(n,)`` with ``sample``) at ``addr``,
        only the bytes where the boolean ``mask`` (``(n,)``, or ``(batch, n)``: one per sample)
        is set. A shared segment takes a batch write only when every sample writes the same."""
        values = np.asarray(data, np.uint8)
        n = values.shape[-1]
        seg, start = self._segment(addr, n)
        where = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
        if sample is not None:
            row = seg.data[sample] if seg.per_sample else seg.data
            np.copyto(row[start:start + n], values, where=where)
            return
        values = np.broadcast_to(values, (self.batch, n))
        if seg.per_sample:
            np.copyto(seg.data[:, start:start + n], values, where=where)
            return
        where = np.broadcast_to(where, (self.batch, n))
        if (values == values[:1]).all() and (where == where[:1]).all():
            np.copyto(seg.data[start:start + n], values[0], where=where[0])
        else:
            raise AddressError(f"samples write different bytes to the shared segment at "
                               f"{seg.base:#x}; allocate outputs per sample")

    def view(self, addr: int, count: int, dtype: type[_T]) -> npt.NDArray[_T]:
        """``count`` little-endian values of ``dtype`` at ``addr``: a ``(batch, count)`` copy."""
        dt = np.dtype(dtype).newbyteorder("<")
        raw = np.ascontiguousarray(self.read(addr, count * dt.itemsize))
        out: npt.NDArray[_T] = raw.view(dt).astype(dt.newbyteorder("="))
        return out


def _le_bytes(arr: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """The little-endian bytes of ``arr``, keeping its leading axis."""
    arr = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<"))
    lead = arr.shape[:1] if arr.ndim else ()
    return arr.view(np.uint8).reshape(*lead, -1) if arr.ndim else arr.reshape(1).view(np.uint8)

"""Bounds-checked FlatBuffers reading and a fast back-to-front FlatBuffers writer.

The reader never trusts the bytes: every offset is checked against the buffer before it is
followed, vectors are checked against the bytes that remain, and the number of objects decoded is
bounded by the input size, so malformed input ends in :class:`FormatError`, never in a crash, a hang
or a huge allocation.

The writer lays objects out back to front like the reference builder, but packs each table with one
``struct`` call and lets large byte vectors stay as references (:class:`Chunk`) that are only
copied when the output is written, so unchanged weights go from the input file to the output file
without passing through Python.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from ..errors import FormatError

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")

#: Size in bytes of each scalar struct code used by the schema.
SCALAR_SIZE = {"b": 1, "B": 1, "?": 1, "h": 2, "H": 2, "i": 4, "I": 4, "f": 4, "q": 8, "Q": 8,
               "d": 8}
#: numpy dtype (little endian) of each scalar struct code.
SCALAR_DTYPE = {code: np.dtype("<" + code) for code in SCALAR_SIZE}
_STRUCTS = {code: struct.Struct("<" + code) for code in SCALAR_SIZE}


class Reader:
    """Random access to the tables, vectors and strings of one flatbuffer.

    ``buf`` is anything exposing the buffer protocol (bytes, mmap, memoryview). Positions are byte
    offsets into it. ``budget`` bounds how many objects and vector elements may be decoded.
    """

    __slots__ = ("budget", "buf", "size")

    def __init__(self, buf: Any, size: int | None = None) -> None:
        self.buf = buf
        self.size = len(buf) if size is None else size
        self.budget = 4 * self.size + 4096

    def spend(self, count: int, what: str) -> None:
        """Account for ``count`` decoded items; fail when the input cannot hold that many."""
        self.budget -= count
        if self.budget < 0:
            raise FormatError(f"{what}: more objects referenced than the file can hold")

    def u32(self, pos: int, what: str) -> int:
        if pos < 0 or pos + 4 > self.size:
            raise FormatError(f"{what}: offset {pos} is outside the {self.size}-byte buffer")
        return int(_U32.unpack_from(self.buf, pos)[0])

    def root(self) -> int:
        """Position of the root table."""
        if self.size < 8:
            raise FormatError(f"Model: {self.size} bytes is too short for a flatbuffer")
        return self.deref(0, "Model")

    def identifier(self) -> bytes:
        return bytes(self.buf[4:8])

    def deref(self, pos: int, what: str) -> int:
        """Follow the uoffset stored at ``pos``."""
        target = pos + self.u32(pos, what)
        if target + 4 > self.size:
            raise FormatError(f"{what}: offset points to {target}, past the end ({self.size})")
        return target

    def table(self, pos: int, what: str) -> tuple[int, tuple[int, ...], int]:
        """Decode a table header: its position, its vtable's field offsets, and its size."""
        self.spend(4, what)
        vt = pos - _I32.unpack_from(self.buf, pos)[0] if 0 <= pos <= self.size - 4 else -1
        if vt < 0 or vt + 4 > self.size:
            raise FormatError(f"{what}: table at {pos} has its vtable outside the buffer")
        vt_len, tbl_len = struct.unpack_from("<HH", self.buf, vt)
        if vt_len < 4 or vt_len & 1 or vt + vt_len > self.size:
            raise FormatError(f"{what}: table at {pos} has a malformed vtable (size {vt_len})")
        if tbl_len < 4 or pos + tbl_len > self.size:
            raise FormatError(f"{what}: table at {pos} claims {tbl_len} bytes, past the end")
        offsets = struct.unpack_from(f"<{(vt_len - 4) >> 1}H", self.buf, vt + 4)
        return pos, offsets, tbl_len

    def field(self, tbl: tuple[int, tuple[int, ...], int], slot: int, width: int, what: str) -> int:
        """Absolute position of field ``slot`` (``width`` bytes wide), or -1 when absent."""
        pos, offsets, tbl_len = tbl
        if slot >= len(offsets):
            return -1
        off = offsets[slot]
        if off == 0:
            return -1
        if off < 4 or off + width > tbl_len:
            raise FormatError(f"{what}: field lies outside its table ({off}+{width} > {tbl_len})")
        return pos + off

    def scalar(self, tbl: tuple[int, tuple[int, ...], int], slot: int, code: str,
               default: Any, what: str) -> Any:
        p = self.field(tbl, slot, SCALAR_SIZE[code], what)
        return default if p < 0 else _STRUCTS[code].unpack_from(self.buf, p)[0]

    def vector(self, pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(start, length) of the vector whose length prefix is at ``pos``."""
        n = self.u32(pos, what)
        start = pos + 4
        if n * elem_size > self.size - start:
            raise FormatError(f"{what}: vector of {n} elements runs past the end of the buffer")
        self.spend(n, what)
        return start, n

    def array(self, pos: int, code: str, what: str) -> np.ndarray:
        """Zero-copy read-only numpy view of a vector of scalars."""
        dtype = SCALAR_DTYPE[code]
        start, n = self.vector(pos, dtype.itemsize, what)
        return np.frombuffer(self.buf, dtype, n, start)

    def string(self, pos: int, what: str) -> str:
        start, n = self.vector(pos, 1, what)
        return bytes(self.buf[start:start + n]).decode("utf-8", "surrogateescape")

    def offsets(self, pos: int, what: str) -> list[int]:
        """Targets of a vector of uoffsets (tables or strings)."""
        start, n = self.vector(pos, 4, what)
        rel = np.frombuffer(self.buf, "<u4", n, start).astype(np.int64)
        targets = rel + np.arange(start, start + 4 * n, 4, dtype=np.int64)
        if n and int(targets.max()) + 4 > self.size:
            bad = int(np.argmax(targets + 4 > self.size))
            raise FormatError(f"{what}[{bad}]: offset points past the end of the buffer")
        return targets.tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Chunk:
    """Bytes of a source file (or any buffer) to be copied into the output when it is written."""

    source: Any
    start: int
    length: int
    fileno: int | None = None

    def view(self) -> memoryview:
        return memoryview(self.source)[self.start:self.start + self.length]


class _Layout:
    """How a table with a given set of fields is packed: cached per field signature."""

    __slots__ = ("align", "fmt", "order", "ref_offsets", "size", "vtable")

    def __init__(self, fields: Sequence[tuple[int, str]]) -> None:
        order = sorted(range(len(fields)), key=lambda i: -SCALAR_SIZE.get(fields[i][1], 4))
        offsets = [0] * len(fields)
        fmt = ["<i"]
        cur = 4
        for i in order:
            code = fields[i][1]
            width = SCALAR_SIZE.get(code, 4)
            pad = -cur % width
            if pad:
                fmt.append(f"{pad}x")
                cur += pad
            offsets[i] = cur
            fmt.append("I" if code == "O" else code)
            cur += width
        self.align = max([4] + [SCALAR_SIZE.get(code, 4) for _, code in fields])
        self.size = cur
        self.fmt = struct.Struct("".join(fmt))
        self.ref_offsets = [(k, offsets[i]) for k, i in enumerate(order) if fields[i][1] == "O"]
        slots = [0] * (max((s for s, _ in fields), default=-1) + 1)
        for (slot, _), off in zip(fields, offsets, strict=True):
            slots[slot] = off
        self.vtable = struct.pack(f"<HH{len(slots)}H", 4 + 2 * len(slots), cur, *slots)
        self.order = order


class Writer:
    """Builds a flatbuffer back to front. Positions are measured from the end of the output."""

    __slots__ = ("_layouts", "_parts", "_vtables", "size")

    def __init__(self) -> None:
        self._parts: list[bytes | memoryview | Chunk] = []
        self.size = 0
        self._vtables: dict[bytes, int] = {}
        self._layouts: dict[tuple[tuple[int, str], ...], _Layout] = {}

    def _pad(self, upcoming: int, align: int) -> None:
        pad = -(self.size + upcoming) % align
        if pad:
            self._parts.append(bytes(pad))
            self.size += pad

    def string(self, text: str) -> int:
        data = text.encode("utf-8", "surrogateescape")
        self._pad(len(data) + 1, 4)
        self._parts.append(_U32.pack(len(data)) + data + b"\0")
        self.size += len(data) + 5
        return self.size

    def vector(self, data: bytes | memoryview | Chunk, count: int, align: int = 4) -> int:
        """A vector of ``count`` elements whose little-endian bytes are ``data``."""
        length = data.length if isinstance(data, Chunk) else len(data)
        self._pad(length, max(align, 4))
        self._parts.append(data)
        self._parts.append(_U32.pack(count))
        self.size += length + 4
        return self.size

    def array(self, values: Any, code: str) -> int:
        arr = np.ascontiguousarray(values, dtype=SCALAR_DTYPE[code])
        return self.vector(arr.tobytes(), arr.size, arr.itemsize)

    def offsets(self, targets: Sequence[int]) -> int:
        """A vector of uoffsets to objects already written at ``targets``."""
        n = len(targets)
        self._pad(4 * n, 4)
        end = self.size + 4 * n + 4  # position of the length prefix
        rel = np.arange(end - 4, end - 4 - 4 * n, -4, dtype=np.int64) - np.asarray(
            targets, dtype=np.int64).reshape(-1)
        self._parts.append(rel.astype("<u4").tobytes())
        self._parts.append(_U32.pack(n))
        self.size = end
        return end

    def table(self, fields: Sequence[tuple[int, str, Any]]) -> int:
        """A table from ``(slot, code, value)``; code "O" marks an offset to a written object."""
        key = tuple((slot, code) for slot, code, _ in fields)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = _Layout(key)
        values = [fields[i][2] for i in layout.order]
        self._pad(layout.size, layout.align)
        start = self.size + layout.size
        for k, off in layout.ref_offsets:
            values[k] = start - off - values[k]
        vt = self._vtables.get(layout.vtable)
        if vt is None:
            soffset = len(layout.vtable)
            self._vtables[layout.vtable] = start + soffset
        else:
            soffset = vt - start
        self._parts.append(layout.fmt.pack(soffset, *values))
        self.size = start
        if vt is None:
            self._parts.append(layout.vtable)
            self.size += len(layout.vtable)
        return start

    def finish(self, root: int, identifier: bytes) -> None:
        self._pad(8, 16)
        self.size += 8
        self._parts.append(_U32.pack(self.size - root) + identifier)

    def parts(self) -> Iterator[bytes | memoryview | Chunk]:
        """The output, front to back."""
        return reversed(self._parts)


def write_parts(parts: Iterable[bytes | memoryview | Chunk], out: IO[bytes]) -> None:
    """Write ``parts`` to the unbuffered binary file ``out``; chunks of a source file are copied
    file-to-file by the kernel when possible."""
    pending: list[bytes | memoryview] = []
    for part in parts:
        if isinstance(part, Chunk):
            _write_all(out, b"".join(pending))
            pending.clear()
            copy_chunk(part, out)
        else:
            pending.append(part)
    _write_all(out, b"".join(pending))


def _write_all(out: IO[bytes], data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0:]


def copy_chunk(chunk: Chunk, out: IO[bytes]) -> None:
    """Append ``chunk`` to the unbuffered file ``out``, in the kernel when the source is a file."""
    offset, end = chunk.start, chunk.start + chunk.length
    if chunk.fileno is not None and hasattr(os, "copy_file_range"):
        try:
            while offset < end:
                n = os.copy_file_range(chunk.fileno, out.fileno(), end - offset, offset)
                if n == 0:
                    break
                offset += n
        except OSError:
            pass  # e.g. a file system without support: finish with a plain write
    _write_all(out, memoryview(chunk.source)[offset:end])

"""Bounds-checked FlatBuffers reading and a fast back-to-front FlatBuffers writer.

The reader never trusts the bytes: every offset is checked against the buffer before it is
followed, vectors are checked against the bytes that remain, and the bytes decoded are bounded by
a small multiple of the input size, so malformed input ends in :class:`FormatError`, never in a
crash, a hang or a huge allocation. Each table layout is compiled once into a small decoder.

The writer lays objects out back to front like the reference builder, but packs each table with
one ``struct`` call and lets large byte vectors stay as references (:class:`Chunk`) that are only
copied when the output is written, so unchanged weights go from the input file to the output
file without passing through Python.
"""

from __future__ import annotations

import contextlib
import gc
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from ..errors import FormatError

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")

#: Size in bytes of each scalar struct code used by the schema.
SCALAR_SIZE = {"b": 1, "B": 1, "?": 1, "h": 2, "H": 2, "i": 4, "I": 4, "f": 4, "q": 8, "Q": 8,
               "d": 8}
#: numpy dtype (little endian) of each scalar struct code.
SCALAR_DTYPE = {code: np.dtype("<" + code) for code in SCALAR_SIZE}
_STRUCTS = {code: struct.Struct("<" + code) for code in SCALAR_SIZE}
_INTS: dict[int, Any] = {}  # unpack_from of "<{n}i" by n


@contextlib.contextmanager
def pause_gc() -> Iterator[None]:
    """Suspend the cycle collector while building many objects that are all kept (it would
    only rescan them), restoring its state afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: (decode(buf, pos) -> field values, table size)
_Plan = tuple[Any, int]
#: Bound on the plans a spec keeps: files dedupe their vtables and writers emit the same few
#: shapes, so real files need a handful; the bound stops hostile input.
_MAX_PLANS = 256


class TableSpec:
    """The fields of a table type as the reader sees them: ``(slot, code)`` pairs, where code is
    a scalar struct code or "O" for an offset (string, vector, table, union value).

    A spec keeps the plans compiled for it (by vtable bytes), so they live and die with it.
    """

    __slots__ = ("defaults", "entries", "names", "plans")

    def __init__(self, entries: Sequence[tuple[str, int, str, Any]]) -> None:
        self.names = tuple(name for name, _, _, _ in entries)
        self.entries = tuple((slot, code) for _, slot, code, _ in entries)
        self.defaults = tuple(-1 if code == "O" else default for _, _, code, default in entries)
        self.plans: dict[bytes, _Plan] = {}


class Reader:
    """Random access to the tables, vectors and strings of one flatbuffer.

    ``buf`` is anything exposing the buffer protocol (bytes, mmap, memoryview). Positions are byte
    offsets into it. ``budget`` bounds the bytes that may be decoded: every table and vector is
    charged the bytes it occupies, so a file whose objects are referenced over and over (a few
    bytes of input that would decode into gigabytes) is refused instead of decoded.
    """

    __slots__ = ("_plans", "budget", "buf", "size")

    def __init__(self, buf: Any, size: int | None = None) -> None:
        self.buf = buf
        self.size = len(buf) if size is None else size
        self.budget = 2 * self.size + 4096
        self._plans: dict[tuple[TableSpec, int], _Plan] = {}  # the key holds the spec alive

    def spend(self, nbytes: int, what: str) -> None:
        """Account for decoding ``nbytes`` of input; fail when far more is decoded than the file
        holds, which only repeated references to the same objects can cause."""
        self.budget -= nbytes
        if self.budget < 0:
            raise FormatError(f"{what}: objects are referenced over and over (more data is "
                              "referenced than the file holds)")

    def u32(self, pos: int, what: str) -> int:
        if pos < 0 or pos + 4 > self.size:
            raise FormatError(f"{what}: offset {pos} is outside the {self.size}-byte buffer")
        return int(_U32.unpack_from(self.buf, pos)[0])

    def root(self) -> int:
        """Position of the root table."""
        if self.size < 8:
            raise FormatError(f"Model: {self.size} bytes is too short for a flatbuffer")
        return self.deref(0, "Model")

    def deref(self, pos: int, what: str) -> int:
        """Follow the uoffset stored at ``pos``."""
        target = pos + self.u32(pos, what)
        if target + 4 > self.size:
            raise FormatError(f"{what}: offset points to {target}, past the end ({self.size})")
        return target

    def read(self, pos: int, spec: TableSpec, what: str) -> list[Any]:
        """The fields of the table at ``pos``, in ``spec`` order: scalars decoded (or their
        default), offset fields as the absolute position they point to (or -1 when absent)."""
        if not 0 <= pos <= self.size - 4:
            raise FormatError(f"{what}: table offset {pos} is outside the buffer")
        vt = pos - _I32.unpack_from(self.buf, pos)[0]
        plan = self._plans.get((spec, vt))
        if plan is None:
            plan = self._plans[(spec, vt)] = self._plan(pos, vt, spec, what)
        decode, tbl_len = plan
        if pos + tbl_len > self.size:
            raise FormatError(f"{what}: table at {pos} claims {tbl_len} bytes, past the end")
        self.spend(tbl_len, what)
        return decode(self.buf, pos)  # type: ignore[no-any-return]

    def _plan(self, pos: int, vt: int, spec: TableSpec, what: str) -> _Plan:
        """How to unpack every table of type ``spec`` that uses the vtable at ``vt``."""
        if vt < 0 or vt + 4 > self.size:
            raise FormatError(f"{what}: table at {pos} has its vtable outside the buffer")
        vt_len, tbl_len = struct.unpack_from("<HH", self.buf, vt)
        if vt_len < 4 or vt_len & 1 or vt + vt_len > self.size:
            raise FormatError(f"{what}: table at {pos} has a malformed vtable (size {vt_len})")
        if tbl_len < 4:
            raise FormatError(f"{what}: table at {pos} has a malformed size ({tbl_len})")
        vtable = bytes(self.buf[vt:vt + vt_len])
        plan = spec.plans.get(vtable)
        if plan is None:
            offsets = struct.unpack_from(f"<{(vt_len - 4) >> 1}H", vtable, 4)
            plan = _compile(spec, offsets, tbl_len, what)
            if len(spec.plans) < _MAX_PLANS:
                spec.plans[vtable] = plan
        return plan

    def vector(self, pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(start, length) of the vector whose length prefix is at ``pos``."""
        n = self.u32(pos, what)
        start = pos + 4
        if n * elem_size > self.size - start:
            raise FormatError(f"{what}: vector of {n} elements runs past the end of the buffer")
        self.spend(4 + n * elem_size, what)
        return start, n

    def array(self, pos: int, code: str, what: str) -> np.ndarray:
        """Zero-copy read-only numpy view of a vector of scalars."""
        dtype = SCALAR_DTYPE[code]
        start, n = self.vector(pos, dtype.itemsize, what)
        return np.frombuffer(self.buf, dtype, n, start)

    def ints(self, pos: int, what: str) -> tuple[int, ...]:
        """A vector of int32 as a tuple (cheaper than numpy for the short ones of shapes)."""
        start, n = self.vector(pos, 4, what)
        unpack = _INTS.get(n)
        if unpack is None:
            unpack = struct.Struct(f"<{n}i").unpack_from
            if n <= 64:
                _INTS[n] = unpack
        return unpack(self.buf, start)

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


def _compile(spec: TableSpec, offsets: tuple[int, ...], tbl_len: int, what: str) -> _Plan:
    """The plan for tables of type ``spec`` with these vtable ``offsets`` and size.

    The plan's decoder is a small function generated for this exact field layout: one
    ``unpack_from`` and a list display, which makes reading a table a single fast call.
    """
    items = []
    for k, (slot, code) in enumerate(spec.entries):
        off = offsets[slot] if slot < len(offsets) else 0
        if off == 0:
            continue
        width = SCALAR_SIZE.get(code, 4)
        if off < 4 or off + width > tbl_len:
            raise FormatError(f"{what}.{spec.names[k]}: field lies outside its table")
        items.append((off, k, "I" if code == "O" else code, code == "O"))
    items.sort()
    env: dict[str, Any] = {"d": spec.defaults}
    names = [f"v{j}" for j in range(len(items))]
    ends = [off + SCALAR_SIZE[code] for off, _, code, _ in items]
    if any(off < end for (off, _, _, _), end in zip(items[1:], ends, strict=False)):
        # Overlapping fields (legal, if odd): read them one by one.
        lines = []
        for j, (off, _, code, _) in enumerate(items):
            env[f"s{j}"] = _STRUCTS[code].unpack_from
            lines.append(f"    v{j}, = s{j}(buf, pos + {off})")
        body = "\n".join(lines)
    elif items:
        fmt, end = ["<"], 0
        for (off, _, code, _), stop in zip(items, ends, strict=True):
            fmt.append(f"{off - end}x{code}")
            end = stop
        env["unpack"] = struct.Struct("".join(fmt)).unpack_from
        body = f"    {', '.join(names)}, = unpack(buf, pos)"
    else:
        body = "    pass"
    exprs = [f"d[{k}]" for k in range(len(spec.entries))]
    for j, (off, k, _, ref) in enumerate(items):
        exprs[k] = f"pos + {off} + v{j}" if ref else f"v{j}"
    source = f"def decode(buf, pos):\n{body}\n    return [{', '.join(exprs)}]\n"
    exec(source, env)  # the source holds only integers and names built above
    return env["decode"], tbl_len


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


#: Packing of every table field signature seen so far (a few hundred at most: one per schema
#: table and combination of present fields).
_LAYOUTS: dict[tuple[tuple[int, str], ...], _Layout] = {}


class Writer:
    """Builds a flatbuffer back to front. Positions are measured from the end of the output."""

    __slots__ = ("_parts", "_vtables", "size")

    def __init__(self) -> None:
        self._parts: list[bytes | memoryview | Chunk] = []
        self.size = 0
        self._vtables: dict[bytes, int] = {}

    def string(self, text: str) -> int:
        data = text.encode("utf-8", "surrogateescape")
        return self.vector(data + b"\0", len(data))  # NUL-terminated, not counted

    def vector(self, data: bytes | memoryview | Chunk, count: int, align: int = 4) -> int:
        """A vector of ``count`` elements whose little-endian bytes are ``data``; the elements
        start ``align``-aligned (at least 4)."""
        if isinstance(data, bytes):
            pad = -(self.size + len(data)) % max(align, 4)
            self._parts.append(_U32.pack(count) + data + bytes(pad) if pad else
                               _U32.pack(count) + data)
            self.size += len(data) + pad + 4
            return self.size
        length = data.length if isinstance(data, Chunk) else len(data)
        pad = -(self.size + length) % max(align, 4)
        if pad:
            self._parts.append(bytes(pad))
        self._parts.append(data)
        self._parts.append(_U32.pack(count))
        self.size += length + pad + 4
        return self.size

    def array(self, values: Any, code: str) -> int:
        """A vector of scalars of struct ``code`` (a sequence or a numpy array)."""
        if isinstance(values, np.ndarray):
            dtype = SCALAR_DTYPE[code]
            data = (values if values.dtype == dtype else values.astype(dtype)).tobytes()
            return self.vector(data, values.size, dtype.itemsize)
        n = len(values)
        return self.vector(struct.pack(f"<{n}{code}", *values), n, SCALAR_SIZE[code])

    def offsets(self, targets: Sequence[int]) -> int:
        """A vector of uoffsets to objects already written at ``targets``."""
        n = len(targets)
        pad = -self.size % 4
        end = self.size + pad + 4 * n + 4  # position of the length prefix
        rel = [end - 4 - 4 * i - t for i, t in enumerate(targets)]
        self._parts.append(struct.pack(f"<I{n}I{pad}x", n, *rel))
        self.size = end
        return end

    def table(self, fields: Sequence[tuple[int, str, Any]]) -> int:
        """A table from ``(slot, code, value)``; code "O" marks an offset to a written object."""
        key = tuple([(slot, code) for slot, code, _ in fields])
        layout = _LAYOUTS.get(key)
        if layout is None:
            layout = _LAYOUTS[key] = _Layout(key)
        values = [fields[i][2] for i in layout.order]
        pad = -(self.size + layout.size) % layout.align
        start = self.size + layout.size + pad
        for k, off in layout.ref_offsets:
            values[k] = start - off - values[k]
        vt = self._vtables.get(layout.vtable)
        if vt is None:
            soffset = len(layout.vtable)
            self._vtables[layout.vtable] = start + soffset
            self._parts.append(layout.vtable + layout.fmt.pack(soffset, *values) + bytes(pad))
            self.size = start + soffset
        else:
            self._parts.append(layout.fmt.pack(vt - start, *values) + bytes(pad))
            self.size = start
        return start

    def finish(self, root: int, identifier: bytes) -> None:
        pad = -(self.size + 8) % 16
        self.size += 8 + pad
        self._parts.append(_U32.pack(self.size - root) + identifier + bytes(pad))

    def parts(self) -> list[bytes | memoryview | Chunk]:
        """The output, front to back."""
        return self._parts[::-1]


def write_parts(parts: Iterable[bytes | memoryview | Chunk], out: IO[bytes]) -> None:
    """Write ``parts`` to the unbuffered binary file ``out``; chunks of a file are copied
    file-to-file by the kernel."""
    pending: list[bytes | memoryview] = []
    size = 0
    for part in parts:
        if isinstance(part, Chunk) and part.fileno is not None:
            _flush(out, pending)
            size = 0
            copy_chunk(part, out)
            continue
        pending.append(part.view() if isinstance(part, Chunk) else part)
        size += len(pending[-1])
        if size > (1 << 20):
            _flush(out, pending)
            size = 0
    _flush(out, pending)


def _flush(out: IO[bytes], pending: list[bytes | memoryview]) -> None:
    """Write and clear ``pending``: small parts joined, large ones as they are."""
    small: list[bytes | memoryview] = []
    for part in pending:
        if len(part) < (1 << 16):
            small.append(part)
            continue
        _write_all(out, b"".join(small))
        small.clear()
        _write_all(out, part)
    _write_all(out, b"".join(small))
    pending.clear()


def _write_all(out: IO[bytes], data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0:]


def copy_chunk(chunk: Chunk, out: IO[bytes], at: int | None = None) -> None:
    """Write ``chunk`` into the unbuffered file ``out`` (at its position, or at offset ``at``),
    in the kernel when the chunk comes from a file."""
    offset, end = chunk.start, chunk.start + chunk.length
    dst = out.fileno()
    if chunk.fileno is not None and hasattr(os, "copy_file_range"):
        try:
            while offset < end:
                n = os.copy_file_range(chunk.fileno, dst, end - offset, offset,
                                       None if at is None else at + offset - chunk.start)
                if n == 0:
                    break
                offset += n
        except OSError:
            pass  # e.g. a file system without support: finish with a plain write
    rest = memoryview(chunk.source)[offset:end]
    if at is None:
        _write_all(out, rest)
        return
    at += offset - chunk.start
    while rest:
        n = os.pwrite(dst, rest, at)
        rest, at = rest[n:], at + n


def patch_parts(parts: Iterable[bytes | memoryview | Chunk], out: IO[bytes], base: Chunk) -> None:
    """Turn ``out``, which holds a copy of ``base`` from offset 0, into ``parts``: only the
    ranges that differ from it are written, and the file is cut to the new size."""
    pos = 0
    pending: list[bytes | memoryview] = []
    source = memoryview(base.source)[base.start:base.start + base.length]

    def flush() -> None:
        data = b"".join(pending)
        start = pos - len(data)
        if data and source[start:pos] != data:
            copy_chunk(Chunk(data, 0, len(data)), out, start)
        pending.clear()

    for part in parts:
        if isinstance(part, Chunk):
            flush()
            if part.fileno != base.fileno or part.start != base.start + pos:
                copy_chunk(part, out, pos)
            pos += part.length
        else:
            pending.append(part)
            pos += len(part)
    flush()
    os.ftruncate(out.fileno(), pos)

"""An independent, minimal flatbuffer reader and writer for byte-level assertions: no tflitekit
code is involved, so the tests can check tflitekit's bytes against them."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest


class Flat:
    """Positions and raw values in a flatbuffer, for tests that look at the bytes themselves.

    Tables are addressed by their absolute position; fields by their schema slot (field id).
    Absent fields give None. Nothing is bounds-checked beyond what ``struct`` does: use it on
    files known to be well formed.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data

    def u32(self, pos: int) -> int:
        return int(struct.unpack_from("<I", self.data, pos)[0])

    def root(self) -> int:
        return self.u32(0)

    def field_pos(self, table: int, slot: int) -> int | None:
        """Absolute position of a field's value, None when absent."""
        vt = table - struct.unpack_from("<i", self.data, table)[0]
        vt_len = struct.unpack_from("<H", self.data, vt)[0]
        if 4 + 2 * slot >= vt_len:
            return None
        off = struct.unpack_from("<H", self.data, vt + 4 + 2 * slot)[0]
        return None if off == 0 else table + off

    def scalar(self, table: int, slot: int, fmt: str) -> int | float | None:
        pos = self.field_pos(table, slot)
        return None if pos is None else struct.unpack_from("<" + fmt, self.data, pos)[0]

    def ref(self, table: int, slot: int) -> int | None:
        """Where an offset field (table, vector, string) points."""
        pos = self.field_pos(table, slot)
        return None if pos is None else pos + self.u32(pos)

    def vector(self, table: int, slot: int) -> tuple[int, int] | None:
        """(start of the elements, element count) of a vector field."""
        at = self.ref(table, slot)
        return None if at is None else (at + 4, self.u32(at))

    def tables(self, table: int, slot: int) -> list[int]:
        """Positions of the tables of a vector-of-tables field."""
        vec = self.vector(table, slot)
        if vec is None:
            return []
        start, n = vec
        return [start + 4 * i + self.u32(start + 4 * i) for i in range(n)]

    def string(self, table: int, slot: int) -> str | None:
        vec = self.vector(table, slot)
        return None if vec is None else self.data[vec[0]:vec[0] + vec[1]].decode()

    # -- TFLite schema slots used by the tests --------------------------------------------------
    # Model: 1 operator_codes, 2 subgraphs, 4 buffers, 6 metadata
    # SubGraph: 0 tensors, 1 inputs, 2 outputs, 3 operators
    # Operator: 0 opcode_index, 1 inputs, 2 outputs
    # Tensor: 2 buffer; Buffer: 0 data, 1 offset, 2 size
    # OperatorCode: 0 deprecated_builtin_code, 1 custom_code, 3 builtin_code

    def buffers(self) -> list[dict[str, Any]]:
        out = []
        for b in self.tables(self.root(), 4):
            out.append({"data": self.vector(b, 0), "offset": self.scalar(b, 1, "Q"),
                        "size": self.scalar(b, 2, "Q")})
        return out

    def opcodes(self) -> list[tuple[Any, Any, str | None]]:
        """(deprecated_builtin_code, builtin_code, custom_code) as stored (None if absent)."""
        return [(self.scalar(c, 0, "b"), self.scalar(c, 3, "i"), self.string(c, 1))
                for c in self.tables(self.root(), 1)]

    def subgraph(self, i: int) -> int:
        return self.tables(self.root(), 2)[i]

    def operator(self, sg: int, k: int) -> int:
        return self.tables(self.subgraph(sg), 3)[k]

    def tensor(self, sg: int, k: int) -> int:
        return self.tables(self.subgraph(sg), 0)[k]


def repack_with_flatbuffers(data: bytes, edit: Callable[[Any], None] | None = None) -> bytes:
    """The same model written by an independent writer: flatc's Python object API (the schema
    module shipped with tflite-micro), optionally after ``edit(ModelT)``."""
    flatbuffers = pytest.importorskip("flatbuffers")
    try:
        from tflite_micro.python.tflite_micro.runtime import schema_fb
    except ImportError:
        pytest.skip("tflite-micro is not installed")
    obj = schema_fb.ModelT.InitFromPackedBuf(data, 0)
    if edit is not None:
        edit(obj)
    builder = flatbuffers.Builder(0)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())

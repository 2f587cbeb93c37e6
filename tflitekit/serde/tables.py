"""Schema-driven reading and writing of the generated table classes (options, sparsity, ...)."""

from __future__ import annotations

import functools
import struct
from typing import Any

import numpy as np

from .._generated.schema import ENUMS, TABLE_CLASSES, TABLE_FIELDS, UNIONS, Field, Table
from ..errors import FormatError, TFLiteKitError
from .flatbuf import Reader, TableSpec, Writer

__all__ = ["Layout", "decode", "field_map", "layout", "read_table", "union_member", "write_table",
           "write_union"]

#: union name -> {class: member value}
_UNION_VALUES: dict[str, dict[type[Table], int]] = {
    union: {TABLE_CLASSES[name]: value for value, name in members.items()
            if name in TABLE_CLASSES}
    for union, members in UNIONS.items()
}
_ENUM_MAPS: dict[str, dict[int, Any]] = {
    name: dict(cls._value2member_map_) for name, cls in ENUMS.items()
}


def field_map(table: str) -> dict[str, Field]:
    """The schema fields of ``table`` by name."""
    return {f.name: f for f in TABLE_FIELDS[table]}


def union_member(union: str, value: Table) -> int:
    """The type value of ``value`` in ``union``; raises when it is not a member."""
    try:
        return _UNION_VALUES[union][type(value)]
    except KeyError:
        raise TFLiteKitError(f"{type(value).__name__} is not a member of union {union}") from None


class Layout:
    """A table type's fields as :meth:`Reader.read` returns them: ``index[name]`` is where
    field ``name`` lands (a union's type byte lands just before its value)."""

    __slots__ = ("fields_by_name", "index", "spec")

    def __init__(self, table: str) -> None:
        entries: list[tuple[str, int, str, Any]] = []
        for f in TABLE_FIELDS[table]:
            if f.kind == "union":
                entries.append((f"{f.name}_type", f.slot - 1, "B", 0))
            entries.append((f.name, f.slot, f.type if f.kind == "scalar" else "O", f.default))
        self.spec = TableSpec(entries)
        self.fields_by_name = field_map(table)
        self.index = {name: i for i, name in enumerate(self.spec.names)}


@functools.cache
def layout(table: str) -> Layout:
    """The (cached) :class:`Layout` of ``table``."""
    return Layout(table)


def decode(r: Reader, f: Field, values: list[Any], i: int, what: str) -> Any:
    """Turn entry ``i`` of a :meth:`Reader.read` result (field ``f``) into its Python value."""
    kind = f.kind
    value = values[i]
    if kind == "scalar":
        return value if f.enum is None else _ENUM_MAPS[f.enum].get(value, value)
    if kind == "union":
        member = values[i - 1]
        if member == 0:
            return None
        where = f"{what}.{f.name}"
        name = UNIONS[f.type].get(member)
        if name is None:
            raise FormatError(f"{where}: unknown {f.type} member {member}")
        if value < 0:
            raise FormatError(f"{where}: {f.type} type {member} set but its value is absent")
        return read_table(r, value, TABLE_CLASSES[name], where)
    if value < 0:
        return None
    where = f"{what}.{f.name}"
    if kind == "string":
        return r.string(value, where)
    if kind == "table":
        return read_table(r, value, TABLE_CLASSES[f.type], where)
    if kind == "vector":
        arr = r.array(value, f.type, where)
        if f.type in "Bb":
            return arr.tobytes()
        items = arr.tolist()
        if f.enum is not None:
            enum_map = _ENUM_MAPS[f.enum]
            items = [enum_map.get(v, v) for v in items]
        return items
    if kind == "vector_string":
        return [r.string(t, f"{where}[{k}]") for k, t in enumerate(r.offsets(value, where))]
    if kind == "vector_table":
        cls = TABLE_CLASSES[f.type]
        return [read_table(r, t, cls, f"{where}[{k}]")
                for k, t in enumerate(r.offsets(value, where))]
    raise AssertionError(f"unknown field kind {kind}")


def read_table(r: Reader, pos: int, cls: type[Table], what: str) -> Table:
    """An instance of a generated table class read from ``pos``."""
    lay = layout(cls.__name__)
    values = r.read(pos, lay.spec, what)
    obj = cls.__new__(cls)
    index = lay.index
    for f in cls.FIELDS:
        setattr(obj, f.name, decode(r, f, values, index[f.name], what))
    return obj


def write_value(w: Writer, f: Field, value: Any, out: list[tuple[int, str, Any]]) -> None:
    """Append the ``(slot, code, value)`` entries that store ``value`` in field ``f``."""
    kind = f.kind
    if kind == "scalar":
        if value != f.default:
            out.append((f.slot, f.type, bool(value) if f.type == "?" else value))
    elif value is None:
        return
    elif kind == "union":
        write_union(w, f, value, out)
    elif kind == "string":
        out.append((f.slot, "O", w.string(value)))
    elif kind == "table":
        out.append((f.slot, "O", write_table(w, value)))
    elif kind == "vector":
        if f.type in "Bb":
            data = np.frombuffer(bytes(value), np.uint8)
            out.append((f.slot, "O", w.vector(data.tobytes(), data.size, 4)))
        else:
            out.append((f.slot, "O", w.array([int(v) if f.enum else v for v in value], f.type)))
    elif kind == "vector_string":
        out.append((f.slot, "O", w.offsets([w.string(s) for s in value])))
    elif kind == "vector_table":
        out.append((f.slot, "O", w.offsets([write_table(w, t) for t in value])))
    else:
        raise AssertionError(f"unknown field kind {kind}")


def write_union(w: Writer, f: Field, value: Table, out: list[tuple[int, str, Any]]) -> None:
    member = union_member(f.type, value)
    out.append((f.slot - 1, "B", member))
    out.append((f.slot, "O", write_table(w, value)))


def write_table(w: Writer, obj: Table) -> int:
    fields: list[tuple[int, str, Any]] = []
    for f in obj.FIELDS:
        write_value(w, f, getattr(obj, f.name), fields)
    try:
        return w.table(fields)
    except struct.error as exc:
        raise TFLiteKitError(
            f"{type(obj).__name__}: a field value is out of range ({exc})") from None


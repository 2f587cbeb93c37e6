"""Schema-driven reading and writing of the generated table classes (options, sparsity, ...)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from .._generated.schema import ENUMS, TABLE_CLASSES, TABLE_FIELDS, UNIONS, Field, Table
from ..errors import FormatError, TFLiteKitError
from .flatbuf import Reader, Writer

__all__ = ["field_map", "read_table", "read_union", "union_member", "write_table", "write_union"]

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


def read_union(r: Reader, tbl: tuple[int, tuple[int, ...], int], field: Field,
               what: str) -> Table | None:
    kind = r.scalar(tbl, field.slot - 1, "B", 0, what)
    p = r.field(tbl, field.slot, 4, what)
    if kind == 0:
        return None
    member = UNIONS[field.type].get(kind)
    if member is None:
        raise FormatError(f"{what}.{field.name}: unknown {field.type} member {kind}")
    if p < 0:
        raise FormatError(f"{what}.{field.name}: {field.type} type {kind} set but value absent")
    return read_table(r, r.deref(p, what), TABLE_CLASSES[member], f"{what}.{field.name}")


def read_value(r: Reader, tbl: tuple[int, tuple[int, ...], int], f: Field, what: str) -> Any:
    """The value of field ``f`` of a table, decoded for the generated classes."""
    kind = f.kind
    if kind == "scalar":
        value = r.scalar(tbl, f.slot, f.type, f.default, what)
        return value if f.enum is None else _ENUM_MAPS[f.enum].get(value, value)
    if kind == "union":
        return read_union(r, tbl, f, what)
    p = r.field(tbl, f.slot, 4, what)
    if p < 0:
        return None
    target = r.deref(p, what)
    where = f"{what}.{f.name}"
    if kind == "string":
        return r.string(target, where)
    if kind == "table":
        return read_table(r, target, TABLE_CLASSES[f.type], where)
    if kind == "vector":
        arr = r.array(target, f.type, where)
        if f.type in "Bb":
            return arr.tobytes()
        values = arr.tolist()
        if f.enum is not None:
            enum_map = _ENUM_MAPS[f.enum]
            values = [enum_map.get(v, v) for v in values]
        return values
    if kind == "vector_string":
        return [r.string(t, f"{where}[{i}]") for i, t in enumerate(r.offsets(target, where))]
    if kind == "vector_table":
        cls = TABLE_CLASSES[f.type]
        return [read_table(r, t, cls, f"{where}[{i}]")
                for i, t in enumerate(r.offsets(target, where))]
    raise AssertionError(f"unknown field kind {kind}")


def read_table(r: Reader, pos: int, cls: type[Table], what: str) -> Table:
    tbl = r.table(pos, what)
    obj = cls.__new__(cls)
    for f in cls.FIELDS:
        setattr(obj, f.name, read_value(r, tbl, f, what))
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


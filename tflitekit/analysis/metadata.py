"""Well-known metadata entries, decoded: ``min_runtime_version``, TensorFlow's
``CONVERSION_METADATA`` and Silicon Labs' ``SL_PARAMSv1`` parameter dictionary.

Metadata is untrusted bytes: every decoder reads through the bounds-checked flatbuffer reader and
a malformed entry is reported as such, never raised.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FormatError
from ..serde.flatbuf import Reader, TableSpec

__all__ = ["MetadataEntry", "decode_metadata"]

#: The metadata name of Silicon Labs' (MLTK) model parameters.
SL_PARAMS = "SL_PARAMSv1"
#: The metadata name of the TensorFlow converter's record of how the model was converted.
CONVERSION_METADATA = "CONVERSION_METADATA"
_TEXT_LIMIT = 64  # longer metadata is not shown as text


@dataclass(frozen=True)
class MetadataEntry:
    """One metadata entry: its name and size, its value as ``text`` when it is short printable
    text, and the ``values`` a known ``format`` decodes to (or the ``error`` decoding hit)."""

    name: str | None
    size: int
    text: str | None = None
    format: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "size": self.size, "text": self.text}
        if self.format is not None:
            out["format"] = self.format
            out["values"] = self.values
        if self.error is not None:
            out["error"] = self.error
        return out


def decode_metadata(name: str | None, data: bytes) -> MetadataEntry:
    """Decode the metadata entry ``name`` holding ``data``."""
    text = _printable(data)
    decoder = _DECODERS.get(name or "")
    if decoder is None:
        return MetadataEntry(name, len(data), text)
    try:
        values = decoder(Reader(data))
    except (FormatError, struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        return MetadataEntry(name, len(data), text, error=f"not a valid {name} entry: {exc}")
    return MetadataEntry(name, len(data), text, name, values)


def _printable(data: bytes) -> str | None:
    """Short metadata that is plain text (like ``min_runtime_version``), else None."""
    text = data.rstrip(b"\0")
    if not text or len(text) > _TEXT_LIMIT or not all(32 <= c < 127 for c in text):
        return None
    return text.decode("ascii")


def _spec(*fields: tuple[str, str]) -> TableSpec:
    """A table of ``(name, struct code)`` fields in slot order; "O" marks an offset."""
    return TableSpec([(name, slot, code, 0) for slot, (name, code) in enumerate(fields)])


# -- SL_PARAMSv1: table Dictionary { schema_version: uint8; entries: [Entry]; }
#    table Entry { key: string; value: Value; }  (a union of one-field tables)
_DICTIONARY = _spec(("schema_version", "B"), ("entries", "O"))
_ENTRY = _spec(("key", "O"), ("value_type", "B"), ("value", "O"))
#: Union member number -> struct code of its single field (scalars), or how to read its vector.
_SL_VALUES: dict[int, str] = {1: "?", 2: "b", 3: "B", 4: "h", 5: "H", 6: "i", 7: "I", 8: "q",
                              9: "Q", 10: "f", 11: "d", 12: "str", 13: "strings", 14: "i[]",
                              15: "f[]", 16: "bytes"}
#: The layout of each member (specs live as long as the module: the reader caches plans by them).
_SL_SPECS = {kind: _spec(("value", "O" if len(code) > 1 else code))
             for kind, code in _SL_VALUES.items()}


def _sl_params(reader: Reader) -> dict[str, Any]:
    version, entries = reader.read(reader.root(), _DICTIONARY, SL_PARAMS)
    if version != 1:
        raise FormatError(f"schema version {version}, not 1")
    out: dict[str, Any] = {}
    for pos in ([] if entries < 0 else reader.offsets(entries, "entries")):
        key, kind, value = reader.read(pos, _ENTRY, "entry")
        if key < 0:
            raise FormatError("an entry has no key")
        out[reader.string(key, "key")] = _sl_value(reader, kind, value)
    return out


def _sl_value(reader: Reader, kind: int, pos: int) -> Any:
    code = _SL_VALUES.get(kind)
    if code is None or pos < 0:
        return None
    if code in ("str", "strings", "bytes", "i[]", "f[]"):
        (vec,) = reader.read(pos, _SL_SPECS[kind], "value")
        if vec < 0:
            return [] if code in ("strings", "i[]", "f[]") else ""
        if code == "str":
            return reader.string(vec, "value")
        if code == "strings":
            return [reader.string(p, "value") for p in reader.offsets(vec, "value")]
        if code == "bytes":
            return bytes(reader.array(vec, "B", "value")).hex()
        return _plain(reader.array(vec, "i" if code == "i[]" else "f", "value"))
    (scalar,) = reader.read(pos, _SL_SPECS[kind], "value")
    return bool(scalar) if code == "?" else _plain(scalar)


def _plain(value: Any) -> Any:
    """numpy values as plain JSON-ready numbers (floats rounded to their float32 precision)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, float):
        return float(f"{value:.7g}") if np.isfinite(value) else str(value)
    return value


# -- CONVERSION_METADATA (tensorflow/lite/schema/conversion_metadata.fbs)
_CONVERSION = _spec(("environment", "O"), ("options", "O"))
_ENVIRONMENT = _spec(("tensorflow_version", "O"), ("api_version", "I"), ("model_type", "i"))
_OPTIONS = _spec(("model_optimization_modes", "O"), ("allow_custom_ops", "?"),
                 ("enable_select_tf_ops", "?"), ("force_select_tf_ops", "?"))
_MODEL_TYPES = {0: "NONE", 1: "TF_SAVED_MODEL", 2: "KERAS_MODEL", 3: "TF_CONCRETE_FUNCTIONS",
                4: "TF_GRAPH_DEF", 5: "TF_SESSION", 6: "JAX"}
_OPTIMIZATIONS = {1001: "PTQ_FLOAT16", 1002: "PTQ_DYNAMIC_RANGE", 1003: "PTQ_FULL_INTEGER",
                  1004: "PTQ_INT16", 2000: "QUANTIZATION_AWARE_TRAINING",
                  3001: "RANDOM_SPARSITY", 3002: "BLOCK_SPARSITY", 3003: "STRUCTURED_SPARSITY"}


def _conversion(reader: Reader) -> dict[str, Any]:
    environment, options = reader.read(reader.root(), _CONVERSION, CONVERSION_METADATA)
    out: dict[str, Any] = {}
    if environment >= 0:
        version, api, model_type = reader.read(environment, _ENVIRONMENT, "environment")
        if version >= 0:
            out["tensorflow_version"] = reader.string(version, "tensorflow_version")
        out["api_version"] = api
        out["model_type"] = _MODEL_TYPES.get(model_type, model_type)
    if options >= 0:
        modes, custom, select, force = reader.read(options, _OPTIONS, "options")
        if modes >= 0:
            out["optimizations"] = [_OPTIMIZATIONS.get(m, m) for m in
                                    reader.array(modes, "i", "model_optimization_modes").tolist()]
        out.update(allow_custom_ops=bool(custom), enable_select_tf_ops=bool(select),
                   force_select_tf_ops=bool(force))
    return out


_DECODERS: dict[str, Callable[[Reader], dict[str, Any]]] = {
    SL_PARAMS: _sl_params, CONVERSION_METADATA: _conversion}

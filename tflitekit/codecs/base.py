"""The codec contract: ``encode(array, params) -> Encoded`` and ``decode(Encoded) -> array``.

A codec is chosen by the type of its parameters (a frozen dataclass); :data:`CODECS` maps each
parameter type to its codec. Codecs compose: a value quantizer (B&Q, clustering) turns an array
into a small table of values and an array of indices into it, and codes the indices with the
index coder its parameters name in ``then`` (fixed-width packing by default, or an entropy
coder); the indices' :class:`Encoded` is the quantizer's ``inner``.

Every size reported is :attr:`Encoded.nbytes`, the length of :meth:`Encoded.to_bytes` — the
self-describing serialization (header, parameters, tables, payload, inner encoding) that the
tflitekit container stores — so headers and tables are always counted.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from ..errors import CodecError

__all__ = ["CODECS", "Codec", "CodecParams", "Encoded", "decode", "encode", "register"]

Array = npt.NDArray[Any]
FORMAT_VERSION = 1
_MAGIC = b"TKC1"


class CodecParams(Protocol):
    """Frozen dataclass of a codec's parameters (its type selects the codec)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


P = TypeVar("P", bound=CodecParams)


@dataclass(frozen=True)
class Codec(Generic[P]):
    """A codec: its registry ``name``, its parameter type, and its two functions.

    ``lossless``: ``decode(encode(x)) == x`` for every array it accepts; otherwise the codec's
    docstring documents the quantization ``decode(encode(x))`` equals.
    """

    name: str
    params: type[P]
    encode: Callable[[Array, P], Encoded]
    decode: Callable[[Encoded], Array]
    lossless: bool


@dataclass(frozen=True, eq=False)
class Encoded:
    """An encoded array: what :func:`decode` needs, nothing else.

    ``tables`` are named side arrays (value tables, code lengths, ...); ``payload`` the coded
    bits; ``inner`` the encoding of the indices when a quantizer composed with an index coder.
    """

    codec: str
    params: Any
    shape: tuple[int, ...]
    dtype: str
    tables: tuple[tuple[str, Array], ...] = ()
    payload: bytes = b""
    inner: Encoded | None = None

    def table(self, name: str) -> Array:
        for key, value in self.tables:
            if key == name:
                return value
        raise CodecError(f"{self.codec}: no table {name!r}")

    @property
    def nbytes(self) -> int:
        """Bytes of the whole encoding, header, parameters and tables included."""
        return len(self.to_bytes())

    @property
    def bits_per_value(self) -> float:
        """:attr:`nbytes` in bits per element of the decoded array."""
        size = int(np.prod(self.shape, dtype=np.int64))
        return 8 * self.nbytes / size if size else 0.0

    def to_bytes(self) -> bytes:
        """The self-describing serialization, little-endian: ``TKC1``, the format version, the
        codec name, its parameters as compact JSON (fields at their default left out), the
        dtype, the shape, each table (name, dtype, shape, data), the payload, then the inner
        encoding's own serialization. Strings and JSON are length-prefixed (one byte, or two
        for the JSON); dimensions and sizes are uint32."""
        params = json.dumps(_params_json(self.params), separators=(",", ":")).encode()
        parts = [_MAGIC, struct.pack("<B", FORMAT_VERSION), _text(self.codec),
                 struct.pack("<H", len(params)), params, _text(self.dtype),
                 _dims(self.shape), struct.pack("<B", len(self.tables))]
        for name, value in self.tables:
            parts += [_text(name), _text(value.dtype.str), _dims(value.shape),
                      np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes()]
        parts += [struct.pack("<IB", len(self.payload), self.inner is not None), self.payload]
        if self.inner is not None:
            parts.append(self.inner.to_bytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Encoded:
        """The inverse of :meth:`to_bytes`; :class:`CodecError` for anything else."""
        encoded, end = _parse(memoryview(data), 0)
        if end != len(data):
            raise CodecError(f"{len(data) - end} trailing bytes after the encoding")
        return encoded


def _params_json(params: Any) -> Any:
    if params is None:
        return None
    out: dict[str, Any] = {"type": type(params).__name__}
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue  # the parameters' class restores it
        if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
            continue
        out[f.name] = (_params_json(value) if dataclasses.is_dataclass(value)
                       else list(value) if isinstance(value, tuple) else value)
    return out


def _text(value: str) -> bytes:
    data = value.encode()
    if len(data) > 255:
        raise CodecError(f"name too long for an encoding: {value[:20]!r}...")
    return struct.pack("<B", len(data)) + data


def _dims(shape: tuple[int, ...]) -> bytes:
    return struct.pack(f"<B{len(shape)}I", len(shape), *shape)


def _params_from_json(value: Any) -> Any:
    if value is None:
        return None
    by_name = {p.__name__: p for p in CODECS}
    kind = by_name.get(value.get("type"))
    if kind is None:
        raise CodecError(f"unknown codec parameters {value.get('type')!r}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    kwargs = {}
    for name, v in value.items():
        if name == "type":
            continue
        if name not in fields:
            raise CodecError(f"{kind.__name__} has no parameter {name!r}")
        kwargs[name] = (_params_from_json(v) if isinstance(v, dict)
                        else tuple(v) if isinstance(v, list) else v)
    return kind(**kwargs)


class _Reader:
    """Reads :meth:`Encoded.to_bytes`'s fields in order, refusing to run past the end."""

    def __init__(self, data: memoryview, at: int) -> None:
        self.data, self.at = data, at

    def take(self, size: int) -> memoryview:
        if size < 0 or self.at + size > len(self.data):
            raise CodecError("truncated encoding")
        self.at += size
        return self.data[self.at - size:self.at]

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def text(self) -> str:
        return bytes(self.take(self.unpack("<B")[0])).decode()

    def dims(self) -> tuple[int, ...]:
        (ndim,) = self.unpack("<B")
        return self.unpack(f"<{ndim}I")


def _parse(data: memoryview, at: int) -> tuple[Encoded, int]:
    r = _Reader(data, at)
    try:
        if bytes(r.take(4)) != _MAGIC:
            raise CodecError("not a tflitekit encoding (no 'TKC1' magic)")
        (version,) = r.unpack("<B")
        if version != FORMAT_VERSION:
            raise CodecError(f"encoding format version {version}; this tflitekit reads "
                             f"{FORMAT_VERSION}")
        codec = r.text()
        params = _params_from_json(json.loads(bytes(r.take(r.unpack("<H")[0]))))
        dtype, shape = r.text(), r.dims()
        tables = []
        for _ in range(r.unpack("<B")[0]):
            name, dt, dims = r.text(), np.dtype(r.text()), r.dims()
            raw = r.take(int(np.prod(dims, dtype=np.int64)) * dt.itemsize)
            tables.append((name, np.frombuffer(raw, dt).reshape(dims)
                           .astype(dt.newbyteorder("="))))
        size, has_inner = r.unpack("<IB")
        payload = bytes(r.take(size))
        inner = None
        if has_inner:
            inner, r.at = _parse(data, r.at)
        return Encoded(codec, params, shape, dtype, tuple(tables), payload, inner), r.at
    except CodecError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, struct.error) as exc:
        raise CodecError(f"malformed encoding: {exc}") from None


#: Every codec, by its parameter type.
CODECS: dict[type, Codec[Any]] = {}


def register(codec: Codec[Any]) -> Codec[Any]:
    """Add ``codec`` to :data:`CODECS` (one codec per parameter type and per name)."""
    if codec.params in CODECS or any(c.name == codec.name for c in CODECS.values()):
        raise ValueError(f"codec {codec.name!r} is registered twice")
    CODECS[codec.params] = codec
    return codec


def encode(array: npt.ArrayLike, params: CodecParams) -> Encoded:
    """Encode ``array`` with the codec its ``params`` select."""
    codec = CODECS.get(type(params))
    if codec is None:
        raise CodecError(f"no codec takes {type(params).__name__} parameters")
    return codec.encode(np.asarray(array), params)


def decode(encoded: Encoded) -> Array:
    """The array ``encoded`` holds (for a lossy codec: the quantized values)."""
    for codec in CODECS.values():
        if codec.name == encoded.codec:
            out = codec.decode(encoded)
            return out.reshape(encoded.shape).astype(encoded.dtype, copy=False)
    raise CodecError(f"unknown codec {encoded.codec!r}")

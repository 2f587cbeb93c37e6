"""Where a model's bytes go (its flash footprint): constant data by dtype, by tensor and by
layer, metadata, and the flatbuffer structure around them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..ir import Buffer, Model, Tensor, dtypes
from ..serde.numbering import Numbering
from .size import encoded_size

__all__ = ["DtypeBytes", "LayerBytes", "Rom", "TensorBytes", "rom"]


@dataclass(frozen=True)
class DtypeBytes:
    """The constant data of one element type: how many constant tensors have it, and the bytes
    of their buffers (a buffer shared by tensors of two types counts under the first one's)."""

    dtype: str
    tensors: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "tensors": self.tensors, "bytes": self.bytes}


@dataclass(frozen=True)
class TensorBytes:
    """A constant tensor: ``index`` and ``buffer`` as saved; ``bytes`` is its buffer's size
    (tensors sharing a buffer show the same ``buffer`` and each its size)."""

    subgraph: int
    index: int
    name: str | None
    dtype: str
    shape: tuple[int, ...] | None
    bytes: int
    buffer: int

    def to_json(self) -> dict[str, Any]:
        return {"subgraph": self.subgraph, "index": self.index, "name": self.name,
                "dtype": self.dtype, "shape": None if self.shape is None else list(self.shape),
                "bytes": self.bytes, "buffer": self.buffer}


@dataclass(frozen=True)
class LayerBytes:
    """The constant bytes operator ``index`` of ``subgraph`` reads; a buffer that several
    operators read counts at the first of them (subgraph by subgraph, in operator order)."""

    subgraph: int
    index: int
    opcode: str
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"subgraph": self.subgraph, "index": self.index, "opcode": self.opcode,
                "bytes": self.bytes}


@dataclass(frozen=True)
class Rom:
    """The bytes of a model file, by what they hold.

    ``weights_bytes`` counts every buffer a tensor holds data in, once; ``metadata_bytes`` the
    buffers of metadata entries; ``unreferenced_bytes`` buffers the file lists but nothing uses.
    The rest of the file, :attr:`flatbuffer_overhead_bytes`, is the flatbuffer's structure
    (tables, vectors, names, operator options) and alignment padding; ``quantization_bytes``, a
    part of it, is the values of the tensors' quantization vectors (float32 scales, int64 zero
    points, float32 min and max), large for per-channel quantized models.
    """

    file_bytes: int
    weights_bytes: int
    metadata_bytes: int
    unreferenced_bytes: int
    quantization_bytes: int
    by_dtype: tuple[DtypeBytes, ...]
    by_tensor: tuple[TensorBytes, ...]
    by_layer: tuple[LayerBytes, ...]

    @property
    def flatbuffer_overhead_bytes(self) -> int:
        return (self.file_bytes - self.weights_bytes - self.metadata_bytes
                - self.unreferenced_bytes)

    @property
    def unread_bytes(self) -> int:
        """Constant bytes no operator reads (counted in no layer)."""
        return self.weights_bytes - sum(layer.bytes for layer in self.by_layer)

    def to_json(self) -> dict[str, Any]:
        return {
            "file_bytes": self.file_bytes, "weights_bytes": self.weights_bytes,
            "metadata_bytes": self.metadata_bytes, "unreferenced_bytes": self.unreferenced_bytes,
            "quantization_bytes": self.quantization_bytes,
            "flatbuffer_overhead_bytes": self.flatbuffer_overhead_bytes,
            "unread_bytes": self.unread_bytes,
            "by_dtype": [d.to_json() for d in self.by_dtype],
            "by_tensor": [t.to_json() for t in self.by_tensor],
            "by_layer": [layer.to_json() for layer in self.by_layer],
        }


def rom(model: Model, path: str | os.PathLike[str] | None = None) -> Rom:
    """The ROM of ``model``: ``path`` is the file it was loaded from (its size is the file's);
    without it, the size a save would write."""
    num = Numbering(model)
    constants: dict[int, Buffer] = {}  # id -> buffer, each once, in first-use order
    dtype_bytes: dict[str, list[int]] = {}  # dtype -> [tensors, bytes]
    by_tensor = []
    for g, graph in enumerate(model.subgraphs):
        for t in num.tensors(graph):
            buf = _data(t)
            if buf is None:
                continue
            entry = dtype_bytes.setdefault(dtypes.name(t.dtype), [0, 0])
            entry[0] += 1
            if id(buf) not in constants:
                constants[id(buf)] = buf
                entry[1] += buf.nbytes
            by_tensor.append(TensorBytes(g, num.tensor(graph, t), t.name, dtypes.name(t.dtype),
                                         t.shape, buf.nbytes, num.buffer(buf)))
    metadata = {id(b): b for b in (*(m.buffer for m in model.metadata),
                                   *(model.metadata_buffer or ()))
                if b is not None and id(b) not in constants}
    unreferenced = sum(b.nbytes for b in num.buffers
                       if b is not None and id(b) not in constants and id(b) not in metadata)
    return Rom(
        file_bytes=encoded_size(model) if path is None else os.path.getsize(path),
        weights_bytes=sum(b.nbytes for b in constants.values()),
        metadata_bytes=sum(b.nbytes for b in metadata.values()),
        unreferenced_bytes=unreferenced,
        quantization_bytes=sum(_quantization_bytes(t) for g in model.subgraphs
                               for t in num.tensors(g)),
        by_dtype=tuple(DtypeBytes(d, n, size) for d, (n, size)
                       in sorted(dtype_bytes.items(), key=lambda kv: (-kv[1][1], kv[0]))),
        by_tensor=tuple(by_tensor),
        by_layer=_by_layer(model),
    )


def _by_layer(model: Model) -> tuple[LayerBytes, ...]:
    seen: set[int] = set()
    rows = []
    for g, graph in enumerate(model.subgraphs):
        for k, op in enumerate(graph.operators):
            fresh = {id(b): b.nbytes for b in map(_data, op.inputs)
                     if b is not None and id(b) not in seen}
            seen.update(fresh)
            rows.append(LayerBytes(g, k, "?" if op.opcode is None else op.opcode.name,
                                   sum(fresh.values())))
    return tuple(rows)


def _quantization_bytes(t: Tensor) -> int:
    q = t.quantization
    if q is None:
        return 0
    return sum(a.size * size for a, size in ((q.scale, 4), (q.zero_point, 8), (q.min, 4),
                                             (q.max, 4)) if a is not None)


def _data(t: Tensor | None) -> Buffer | None:
    """The buffer holding ``t``'s constant data, if it has any."""
    return t.buffer if t is not None and t.is_constant else None

"""bytes → Model."""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from typing import IO, Any

import numpy as np

from .._generated.schema import (
    BuiltinOperator,
    CustomOptionsFormat,
    CustomQuantization,
    SparsityParameters,
    TensorType,
    VariantSubType,
)
from ..errors import FormatError
from ..ir.graph import Operator, OperatorCode, Subgraph
from ..ir.model import Metadata, Model, SignatureDef
from ..ir.tensor import Buffer, Quantization, Tensor
from .flatbuf import Chunk, Reader
from .tables import field_map, read_union, read_value

__all__ = ["DIGEST_METADATA", "Source", "load", "open_source"]

#: Name of the metadata entry that holds the SHA-256 written by ``save(..., digest=True)``.
DIGEST_METADATA = "tflitekit.sha256"

_MODEL = field_map("Model")
_OPCODE = field_map("OperatorCode")
_SUBGRAPH = field_map("SubGraph")
_TENSOR = field_map("Tensor")
_BUFFER = field_map("Buffer")
_OPERATOR = field_map("Operator")
_QUANT = field_map("QuantizationParameters")
_METADATA = field_map("Metadata")
_SIGNATURE = field_map("SignatureDef")
_TENSOR_MAP = field_map("TensorMap")
_TENSOR_TYPES = dict(TensorType._value2member_map_)
_BUILTINS = dict(BuiltinOperator._value2member_map_)
_FORMATS = dict(CustomOptionsFormat._value2member_map_)


class Source:
    """The bytes a model is read from, kept alive (with its open file) as long as the model."""

    __slots__ = ("buf", "file", "fileno", "path")

    def __init__(self, buf: Any, file: IO[bytes] | None = None, path: str | None = None) -> None:
        self.buf = buf
        self.file = file
        self.fileno = None if file is None else file.fileno()
        self.path = path

    def chunk(self, start: int, length: int) -> Chunk:
        return Chunk(self.buf, start, length, self.fileno)


def open_source(source: Any) -> Source:
    """A :class:`Source` for a path, bytes-like object or binary file object."""
    if isinstance(source, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(source))
        try:
            file = open(path, "rb")  # noqa: SIM115 - kept open for the model's lifetime
        except OSError as exc:
            raise FormatError(f"cannot open {path}: {exc.strerror}") from None
        try:
            buf: Any = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            buf = b""
        return Source(buf, file, path)
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        return Source(source)
    if hasattr(source, "read"):
        return Source(source.read())
    raise TypeError(f"cannot load a model from {type(source).__name__}")


def load(source: Any, *, strict: bool = True, problems: list[str] | None = None) -> Model:
    """Read a model from a path, bytes-like object or binary file object.

    Raises :class:`FormatError` for malformed bytes. With ``strict=False``, references to missing
    tensors, buffers or operator codes are recorded in ``problems`` and left as None instead.
    """
    src = open_source(source)
    decoder = _Decoder(src, strict, [] if problems is None else problems)
    try:
        model = decoder.model()
    except FormatError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, TypeError) as exc:
        raise FormatError(f"Model: malformed flatbuffer ({exc})") from None
    model._source = src
    _verify_digest(model, src)
    return model


class _Decoder:
    def __init__(self, src: Source, strict: bool, problems: list[str]) -> None:
        self.src = src
        self.r = Reader(src.buf)
        self.strict = strict
        self.problems = problems
        self.buffers: list[Buffer] = []

    def problem(self, message: str) -> None:
        if self.strict:
            raise FormatError(message)
        self.problems.append(message)

    def pick(self, items: list[Any], index: int, what: str, kind: str) -> Any:
        if 0 <= index < len(items):
            return items[index]
        self.problem(f"{what}: {kind} index {index} out of range (0..{len(items) - 1})")
        return None

    # -- tables ----------------------------------------------------------------------------------
    def tables(self, tbl: tuple[int, tuple[int, ...], int], field: str, fields: dict[str, Any],
               what: str) -> list[tuple[int, str]]:
        """(position, path) of each table in vector field ``field``."""
        p = self.r.field(tbl, fields[field].slot, 4, what)
        if p < 0:
            return []
        where = f"{what}.{field}"
        return [(t, f"{where}[{i}]") for i, t in enumerate(self.r.offsets(self.r.deref(p, where),
                                                                           where))]

    def ints(self, tbl: tuple[int, tuple[int, ...], int], f: Any, what: str) -> np.ndarray | None:
        p = self.r.field(tbl, f.slot, 4, what)
        if p < 0:
            return None
        return self.r.array(self.r.deref(p, what), f.type, f"{what}.{f.name}")

    def model(self) -> Model:
        r = self.r
        what = "Model"
        tbl = r.table(r.root(), what)
        model = Model.__new__(Model)
        model._source = None
        model.version = read_value(r, tbl, _MODEL["version"], what)
        model.description = read_value(r, tbl, _MODEL["description"], what)
        self.buffers = [self.buffer(pos, path) for pos, path in
                        self.tables(tbl, "buffers", _MODEL, what)]
        if self.buffers and self.buffers[0].nbytes:
            self.problem("Model.buffers[0]: the first buffer must be empty")
        model.buffers = self.buffers[1:]
        model.operator_codes = [self.opcode(pos, path) for pos, path in
                                self.tables(tbl, "operator_codes", _MODEL, what)]
        model.subgraphs = [self.subgraph(pos, path, model.operator_codes) for pos, path in
                           self.tables(tbl, "subgraphs", _MODEL, what)]
        refs = self.ints(tbl, _MODEL["metadata_buffer"], what)
        model.metadata_buffer = None if refs is None else [
            self.buffer_ref(int(i), f"Model.metadata_buffer[{k}]") for k, i in enumerate(refs)]
        model.metadata = [self.metadata(pos, path) for pos, path in
                          self.tables(tbl, "metadata", _MODEL, what)]
        model.signature_defs = [self.signature(pos, path, model.subgraphs) for pos, path in
                                self.tables(tbl, "signature_defs", _MODEL, what)]
        model.external_buffer_groups = read_value(r, tbl, _MODEL["external_buffer_groups"], what)
        model.external_buffers = read_value(r, tbl, _MODEL["external_buffers"], what)
        return model

    def buffer(self, pos: int, what: str) -> Buffer:
        r = self.r
        tbl = r.table(pos, what)
        buf = Buffer.__new__(Buffer)
        p = r.field(tbl, _BUFFER["data"].slot, 4, what)
        offset = r.scalar(tbl, _BUFFER["offset"].slot, "Q", 0, what)
        if p >= 0:
            start, n = r.vector(r.deref(p, what), 1, f"{what}.data")
        elif offset > 1:
            n = r.scalar(tbl, _BUFFER["size"].slot, "Q", 0, what)
            start = offset
            if start + n > len(self.src.buf):
                raise FormatError(f"{what}: offset {offset} + size {n} is past the end of the file")
        else:
            start = n = 0
        data = np.frombuffer(self.src.buf, np.uint8, n, start)
        data.flags.writeable = False
        buf._data = data
        buf._source = self.src.chunk(start, n) if n else None
        return buf

    def buffer_ref(self, index: int, what: str) -> Buffer | None:
        return None if index == 0 else self.pick(self.buffers, index, what, "buffer")

    def opcode(self, pos: int, what: str) -> OperatorCode:
        r = self.r
        tbl = r.table(pos, what)
        code = OperatorCode.__new__(OperatorCode)
        deprecated = read_value(r, tbl, _OPCODE["deprecated_builtin_code"], what)
        stored = read_value(r, tbl, _OPCODE["builtin_code"], what)
        builtin = max(deprecated, stored)
        code._legacy = stored < deprecated
        code.builtin_code = _BUILTINS.get(builtin, builtin)
        code.custom_code = read_value(r, tbl, _OPCODE["custom_code"], what)
        code.version = read_value(r, tbl, _OPCODE["version"], what)
        return code

    def subgraph(self, pos: int, what: str, opcodes: list[OperatorCode]) -> Subgraph:
        r = self.r
        tbl = r.table(pos, what)
        graph = Subgraph(read_value(r, tbl, _SUBGRAPH["name"], what),
                         debug_metadata_index=read_value(
                             r, tbl, _SUBGRAPH["debug_metadata_index"], what))
        tensors = [self.tensor(p, path) for p, path in self.tables(tbl, "tensors", _SUBGRAPH, what)]
        for t in tensors:
            t._graph = graph
        graph.tensors._extend_quietly(tensors)
        graph.inputs = [t for t in self.tensor_refs(tbl, _SUBGRAPH["inputs"], tensors, what)
                        or () if t is not None]
        graph.outputs = [t for t in self.tensor_refs(tbl, _SUBGRAPH["outputs"], tensors, what)
                         or () if t is not None]
        ops = [self.operator(p, path, tensors, opcodes)
               for p, path in self.tables(tbl, "operators", _SUBGRAPH, what)]
        graph.operators._extend_quietly(ops)
        for op in ops:
            op._graph = graph
            graph._link(op)
        return graph

    def tensor_refs(self, tbl: tuple[int, tuple[int, ...], int], f: Any, tensors: list[Tensor],
                    what: str) -> Any:
        indices = self.ints(tbl, f, what)
        if indices is None:
            return None
        n = len(tensors)
        refs = [tensors[i] if 0 <= i < n else None for i in indices.tolist()]
        for k, i in enumerate(indices.tolist()):
            if refs[k] is None and i != -1:
                self.problem(f"{what}.{f.name}[{k}]: tensor index {i} out of range (0..{n - 1})")
        return refs

    def tensor(self, pos: int, what: str) -> Tensor:
        r = self.r
        tbl = r.table(pos, what)
        t = Tensor.__new__(Tensor)
        t._graph = None
        t._producer = None
        t._uses = []
        shape = self.ints(tbl, _TENSOR["shape"], what)
        t.shape = None if shape is None else tuple(shape.tolist())
        dtype = r.scalar(tbl, _TENSOR["type"].slot, "b", 0, what)
        t.dtype = _TENSOR_TYPES.get(dtype, dtype)
        t.buffer = self.buffer_ref(r.scalar(tbl, _TENSOR["buffer"].slot, "I", 0, what),
                                   f"{what}.buffer")
        t.name = read_value(r, tbl, _TENSOR["name"], what)
        p = r.field(tbl, _TENSOR["quantization"].slot, 4, what)
        t.quantization = None if p < 0 else self.quantization(r.deref(p, what),
                                                              f"{what}.quantization")
        t.is_variable = read_value(r, tbl, _TENSOR["is_variable"], what)
        sparsity = read_value(r, tbl, _TENSOR["sparsity"], what)
        t.sparsity = sparsity if sparsity is None or isinstance(sparsity, SparsityParameters) \
            else None
        signature = self.ints(tbl, _TENSOR["shape_signature"], what)
        t.shape_signature = None if signature is None else tuple(signature.tolist())
        t.has_rank = read_value(r, tbl, _TENSOR["has_rank"], what)
        variants = read_value(r, tbl, _TENSOR["variant_tensors"], what)
        t.variant_tensors = variants if variants is None or all(
            isinstance(v, VariantSubType) for v in variants) else None
        t.external_buffer = read_value(r, tbl, _TENSOR["external_buffer"], what)
        return t

    def quantization(self, pos: int, what: str) -> Quantization:
        r = self.r
        tbl = r.table(pos, what)
        q = Quantization.__new__(Quantization)
        for name in ("min", "max", "scale", "zero_point"):
            arr = self.ints(tbl, _QUANT[name], what)
            setattr(q, name, None if arr is None else arr.astype(arr.dtype.newbyteorder("=")))
        details = read_union(r, tbl, _QUANT["details"], what)
        q.details = details if details is None or isinstance(details, CustomQuantization) else None
        q.quantized_dimension = read_value(r, tbl, _QUANT["quantized_dimension"], what)
        return q

    def operator(self, pos: int, what: str, tensors: list[Tensor],
                 opcodes: list[OperatorCode]) -> Operator:
        r = self.r
        tbl = r.table(pos, what)
        op = Operator.__new__(Operator)
        op._graph = None
        index = r.scalar(tbl, _OPERATOR["opcode_index"].slot, "I", 0, what)
        code = self.pick(opcodes, index, f"{what}.opcode_index", "operator code")
        # In a lenient load a missing code gets a stand-in that names it.
        op.opcode = code or OperatorCode(BuiltinOperator.CUSTOM, f"<missing operator code {index}>")
        op._inputs = tuple(self.tensor_refs(tbl, _OPERATOR["inputs"], tensors, what) or ())
        op._outputs = tuple(t for t in self.tensor_refs(tbl, _OPERATOR["outputs"], tensors, what)
                            or () if t is not None)
        op.options = read_union(r, tbl, _OPERATOR["builtin_options"], what)
        op.options_2 = read_union(r, tbl, _OPERATOR["builtin_options_2"], what)
        op.custom_options = read_value(r, tbl, _OPERATOR["custom_options"], what)
        large = r.scalar(tbl, _OPERATOR["large_custom_options_offset"].slot, "Q", 0, what)
        if large > 1:
            size = r.scalar(tbl, _OPERATOR["large_custom_options_size"].slot, "Q", 0, what)
            if large + size > len(self.src.buf):
                raise FormatError(f"{what}: large custom options run past the end of the file")
            op.custom_options = bytes(self.src.buf[large:large + size])
        fmt = r.scalar(tbl, _OPERATOR["custom_options_format"].slot, "b", 0, what)
        op.custom_options_format = _FORMATS.get(fmt, fmt)
        op.mutating_variable_inputs = read_value(r, tbl, _OPERATOR["mutating_variable_inputs"],
                                                 what)
        intermediates = self.tensor_refs(tbl, _OPERATOR["intermediates"], tensors, what)
        op.intermediates = None if intermediates is None else [
            t for t in intermediates if t is not None]
        op.debug_metadata_index = read_value(r, tbl, _OPERATOR["debug_metadata_index"], what)
        return op

    def metadata(self, pos: int, what: str) -> Metadata:
        tbl = self.r.table(pos, what)
        return Metadata(read_value(self.r, tbl, _METADATA["name"], what),
                        self.buffer_ref(self.r.scalar(tbl, _METADATA["buffer"].slot, "I", 0, what),
                                        f"{what}.buffer"))

    def signature(self, pos: int, what: str, subgraphs: list[Subgraph]) -> SignatureDef:
        r = self.r
        tbl = r.table(pos, what)
        index = r.scalar(tbl, _SIGNATURE["subgraph_index"].slot, "I", 0, what)
        graph = self.pick(subgraphs, index, f"{what}.subgraph_index", "subgraph")
        tensors = list(graph.tensors) if graph is not None else []
        sig = SignatureDef(read_value(r, tbl, _SIGNATURE["signature_key"], what), graph)
        for side in ("inputs", "outputs"):
            mapping: dict[str, Tensor | None] = getattr(sig, side)
            for p, path in self.tables(tbl, side, _SIGNATURE, what):
                entry = r.table(p, path)
                name = read_value(r, entry, _TENSOR_MAP["name"], path)
                i = r.scalar(entry, _TENSOR_MAP["tensor_index"].slot, "I", 0, path)
                mapping[name] = self.pick(tensors, i, f"{path}.tensor_index", "tensor")
        return sig


def _verify_digest(model: Model, src: Source) -> None:
    """Check and drop the digest entry written by ``save(..., digest=True)``."""
    for entry in model.metadata:
        if entry.name != DIGEST_METADATA:
            continue
        chunk = None if entry.buffer is None else entry.buffer._source
        if chunk is None or chunk.length != 32:
            raise FormatError(f"Model.metadata[{DIGEST_METADATA!r}]: digest is not 32 bytes")
        expected = entry.buffer.data.tobytes()  # type: ignore[union-attr]
        if content_digest(src.buf, chunk.start) != expected:
            raise FormatError("Model: content does not match its recorded SHA-256 "
                              "(the file was modified or corrupted)")
        model.metadata.remove(entry)
        model.buffers = [b for b in model.buffers if b is not entry.buffer]
        return


def content_digest(buf: Any, digest_at: int) -> bytes:
    """SHA-256 of ``buf`` with the 32 digest bytes at ``digest_at`` read as zeros."""
    h = hashlib.sha256()
    view = memoryview(buf)
    h.update(view[:digest_at])
    h.update(bytes(32))
    h.update(view[digest_at + 32:])
    return h.digest()

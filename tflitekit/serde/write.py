"""Model → bytes, and atomic saving."""

from __future__ import annotations

import functools
import mmap
import os
import struct
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from .._generated.schema import FILE_IDENTIFIER, Table
from ..errors import TFLiteKitError
from ..ir.graph import Operator, OperatorCode, Subgraph
from ..ir.model import Metadata, Model, SignatureDef
from ..ir.tensor import Buffer, Quantization, Tensor
from . import digest as digest_
from .digest import content_digest
from .files import refuse_overwrite, same_file, write_atomically
from .flatbuf import Chunk, Writer, copy_chunk, patch_parts, pause_gc, write_parts
from .numbering import Numbering
from .tables import field_map, write_union, write_value
from .verbatim import verbatim_source

__all__ = ["Encoded", "encode", "save", "to_bytes"]

#: Models whose data would push the flatbuffer past this size keep their buffers after it.
INLINE_LIMIT = 2**31 - 2**26
_IDENT = FILE_IDENTIFIER.encode()

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
_PLACEHOLDER_OPCODE = 127  # deprecated_builtin_code of operators numbered 127 and above


class Encoded:
    """A serialized model: its parts front to back and where the digest (if any) lives."""

    def __init__(self, parts: list[bytes | memoryview | Chunk],
                 digest_at: tuple[int, ...] = ()) -> None:
        self.parts = parts
        self.digest_at = digest_at  # where the 32-byte digest copies go (see digest.py)

    def to_bytes(self) -> bytes:
        data = _join(self.parts)
        if not self.digest_at:
            return data
        out = bytearray(data)
        value = content_digest(out, self.digest_at)
        for at in self.digest_at:
            out[at:at + 32] = value
        return bytes(out)

    def write_to(self, out: IO[bytes]) -> None:
        """Stream into an unbuffered binary file."""
        write_parts(self.parts, out)


def to_bytes(model: Model, *, digest: bool = False, reencode: bool = False) -> bytes:
    """The model as a .tflite flatbuffer.

    A model unchanged since it was loaded comes back as the bytes it was loaded from (see
    :mod:`tflitekit.serde.verbatim`); ``reencode`` encodes it anew regardless.
    """
    src = None if digest or reencode else verbatim_source(model)
    if src is not None:
        return bytes(src.buf)
    return encode(model, digest=digest).to_bytes()


def save(model: Model, path: str | os.PathLike[str], *, overwrite: bool = False,
         digest: bool = False, reencode: bool = False) -> None:
    """Write ``model`` to ``path`` atomically (a temporary file in the same directory, renamed).

    A model unchanged since it was loaded is written as the bytes it was loaded from, so a
    plain load and save reproduces any writer's file exactly; ``reencode`` encodes it anew.
    Raises :class:`SaveError` naming ``path`` when it cannot be written (the temporary file is
    removed), and :class:`OverwriteError` when ``path`` is the file the model was loaded from
    and ``overwrite`` is false.
    """
    src = model.source
    if not overwrite:
        refuse_overwrite(None if src is None else src.path, path)
    elif (src is not None and src.path is not None and not (digest or reencode)
          and same_file(src.path, path) and verbatim_source(model) is not None):
        return  # the file already holds exactly this model: leave it (and its inode) alone
    write_atomically(path, lambda out: _write(model, out, digest, reencode))


def _write(model: Model, out: IO[bytes], digest: bool, reencode: bool) -> None:
    """Serialize ``model`` into the empty unbuffered file ``out``.

    A model loaded from a file mostly repeats that file, so the file is copied in the kernel
    (in a thread) while the model is encoded, and then only what differs is written; an
    unchanged model is only copied.
    """
    src = model.source
    if not (digest or reencode) and (same := verbatim_source(model)) is not None:
        write_parts([same.chunk(0, len(same.buf))], out)
        return
    if src is None or src.fileno is None or not len(src.buf):
        encoded = encode(model, digest=digest)
        encoded.write_to(out)
    else:
        base = src.chunk(0, len(src.buf))
        failed: list[BaseException] = []

        def copy_source() -> None:
            try:
                copy_chunk(base, out, 0)
            except BaseException as exc:  # handed to the caller below
                failed.append(exc)

        copier = threading.Thread(target=copy_source)
        copier.start()
        try:
            encoded = encode(model, digest=digest)
        finally:
            copier.join()
        if failed:
            raise failed[0]
        patch_parts(encoded.parts, out, base)
    if encoded.digest_at:
        with mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ) as view:
            value = content_digest(view, encoded.digest_at)
        for at in encoded.digest_at:
            os.pwrite(out.fileno(), value, at)


def encode(model: Model, *, digest: bool = False) -> Encoded:
    """Serialize ``model``; buffers go after the flatbuffer when it would exceed 2 GB."""
    try:
        return _encode(model, digest)
    except (struct.error, OverflowError) as exc:  # a model-level field; others name their owner
        raise TFLiteKitError(f"Model: a value does not fit its field ({exc})") from None


def _encode(model: Model, digest: bool) -> Encoded:
    extra = [Metadata(digest_.METADATA, Buffer(bytes(32)))] if digest else []
    encoder = _Encoder(model, extra)
    total = sum(b.nbytes for b in encoder.buffers if b is not None)
    if total < INLINE_LIMIT:
        with pause_gc():
            return encoder.encode(None)
    # Buffers after the flatbuffer: learn its size first, then write it with the real offsets.
    size = _Encoder(model, extra).tables({}, {id(b): 0 for b in encoder.buffers
                                              if b is not None and b.nbytes})
    return encoder.encode(_align(size, encoder.align))


def _tail(parts: list[bytes | memoryview | Chunk], n: int) -> bytes:
    """The last ``n`` bytes (or fewer) of ``parts`` joined."""
    tail = b""
    for part in reversed(parts):
        data = part.view() if isinstance(part, Chunk) else part
        tail = bytes(data[max(0, len(data) - (n - len(tail))):]) + tail
        if len(tail) >= n:
            break
    return tail


def _join(parts: list[bytes | memoryview | Chunk]) -> bytes:
    return b"".join([p.view() if isinstance(p, Chunk) else p for p in parts])


def _align(n: int, align: int) -> int:
    return n + (-n % align)


_Method = TypeVar("_Method", bound=Callable[..., int])


def _naming_owner(method: _Method) -> _Method:
    """Turn a value that does not fit its field into a TFLiteKitError naming the object (the
    method's first argument) that holds it."""

    @functools.wraps(method)
    def wrapper(self: _Encoder, owner: object, *args: Any) -> int:
        try:
            return method(self, owner, *args)
        except (struct.error, OverflowError) as exc:
            raise TFLiteKitError(f"{owner!r}: a value does not fit its field ({exc})") from None

    return wrapper  # type: ignore[return-value]


class _Encoder:
    def __init__(self, model: Model, extra_metadata: list[Metadata]) -> None:
        self.model = model
        self.align = model.data_alignment
        if not (isinstance(self.align, int) and 0 < self.align <= 4096
                and self.align & (self.align - 1) == 0):
            raise TFLiteKitError(f"Model.data_alignment must be a power of two up to 4096, "
                                 f"not {self.align!r}")
        self.metadata = [*model.metadata, *extra_metadata]
        # One numbering, shared with everything that shows indices (tflitekit.analysis).
        self.numbering = Numbering(model, [m.buffer for m in extra_metadata
                                           if m.buffer is not None])
        self.buffers = self.numbering.buffers
        self.buffer_index = self.numbering.buffer_index
        self.opcodes = self.numbering.opcodes
        self.opcode_index = self.numbering.opcode_index
        self.w = Writer()

    # -- top level ---------------------------------------------------------------------------------
    def encode(self, external_base: int | None) -> Encoded:
        w = self.w
        data_at: dict[int, int] = {}
        external: list[tuple[int, Buffer]] = []
        if external_base is None:
            for i in range(len(self.buffers) - 1, 0, -1):
                buf = self.buffers[i]
                if buf is not None and buf.nbytes:
                    src = buf.source if buf.source is not None else buf.data.data
                    data_at[i] = w.vector(src, buf.nbytes, self.align)
        else:
            at = external_base
            for buf in self.buffers:
                if buf is not None and buf.nbytes:
                    external.append((at, buf))
                    at = _align(at + buf.nbytes, self.align)
        offsets = {id(buf): at for at, buf in external}

        self.tables(data_at, offsets)
        parts: list[bytes | memoryview | Chunk] = list(w.parts())
        end = w.size
        if external_base is not None:
            parts = [_join(parts)]
            for at, buf in external:
                parts.append(bytes(at - end))
                parts.append(buf.source if buf.source is not None else buf.data.data)
                end = at + buf.nbytes
        digest_at: tuple[int, ...] = ()
        if len(self.metadata) > len(self.model.metadata):  # the digest entry comes last
            entry = self.metadata[-1].buffer
            entry_at = (w.size - data_at[self.buffer_index[id(entry)]] + 4
                        if external_base is None else offsets[id(entry)])
            parts.append(bytes(32) + digest_.TRAILER_MAGIC)
            digest_at = (entry_at, end)
        elif _tail(parts, len(digest_.TRAILER_MAGIC)) == digest_.TRAILER_MAGIC:
            parts.append(bytes(16))  # data that happens to end like a digest trailer: pad it,
            # so that the file does not claim a digest it does not have
        return Encoded(parts, digest_at)

    def tables(self, data_at: dict[int, int], offsets: dict[int, int]) -> int:
        """Write every table (data vectors already written or placed); returns the size."""
        w = self.w
        fields: list[tuple[int, str, Any]] = []
        model = self.model
        write_value(w, _MODEL["version"], model.version, fields)
        write_value(w, _MODEL["description"], model.description, fields)
        fields.append((_MODEL["buffers"].slot, "O", w.offsets([
            self.buffer(i, buf, data_at, offsets) for i, buf in enumerate(self.buffers)])))
        fields.append((_MODEL["operator_codes"].slot, "O", w.offsets(
            [self.opcode(c) for c in self.opcodes])))
        fields.append((_MODEL["subgraphs"].slot, "O", w.offsets(
            [self.subgraph(g) for g in model.subgraphs])))
        if model.metadata_buffer is not None:
            write_value(w, _MODEL["metadata_buffer"],
                        [self.buffer_ref(b) for b in model.metadata_buffer], fields)
        if self.metadata:
            fields.append((_MODEL["metadata"].slot, "O", w.offsets(
                [self.metadata_entry(m) for m in self.metadata])))
        if model.signature_defs:
            fields.append((_MODEL["signature_defs"].slot, "O", w.offsets(
                [self.signature(s) for s in model.signature_defs])))
        write_value(w, _MODEL["external_buffer_groups"], model.external_buffer_groups, fields)
        write_value(w, _MODEL["external_buffers"], model.external_buffers, fields)
        w.finish(w.table(fields), _IDENT)
        return w.size

    # -- tables ------------------------------------------------------------------------------------
    def buffer(self, index: int, buf: Buffer | None, data_at: dict[int, int],
               offsets: dict[int, int]) -> int:
        fields: list[tuple[int, str, Any]] = []
        if index in data_at:
            fields.append((_BUFFER["data"].slot, "O", data_at[index]))
        elif buf is not None and id(buf) in offsets:
            fields.append((_BUFFER["offset"].slot, "Q", offsets[id(buf)]))
            fields.append((_BUFFER["size"].slot, "Q", buf.nbytes))
        return self.w.table(fields)

    def buffer_ref(self, buf: Buffer | None) -> int:
        return 0 if buf is None else self.buffer_index[id(buf)]

    @_naming_owner
    def opcode(self, code: OperatorCode) -> int:
        w = self.w
        builtin = int(code.builtin_code)
        fields: list[tuple[int, str, Any]] = []
        write_value(w, _OPCODE["deprecated_builtin_code"], min(builtin, _PLACEHOLDER_OPCODE),
                    fields)
        write_value(w, _OPCODE["custom_code"], code.custom_code, fields)
        write_value(w, _OPCODE["version"], code.version, fields)
        # Files from before opcode 127 keep the code in the old field only: write them back so.
        legacy = code.legacy and builtin < _PLACEHOLDER_OPCODE
        write_value(w, _OPCODE["builtin_code"], 0 if legacy else builtin, fields)
        return w.table(fields)

    @_naming_owner
    def subgraph(self, graph: Subgraph) -> int:
        w = self.w
        tensors = self.numbering.tensors(graph)  # listed ones, then those only referenced
        index = self.numbering.tensor_index(graph)

        def ref(t: Tensor | None) -> int:
            return -1 if t is None else index[id(t)]

        inputs = [ref(t) for t in graph.inputs]
        outputs = [ref(t) for t in graph.outputs]
        ops = [self.operator(op, ref) for op in graph.operators]
        fields: list[tuple[int, str, Any]] = []
        fields.append((_SUBGRAPH["operators"].slot, "O", w.offsets(ops)))
        write_value(w, _SUBGRAPH["inputs"], inputs, fields)
        write_value(w, _SUBGRAPH["outputs"], outputs, fields)
        fields.append((_SUBGRAPH["tensors"].slot, "O", w.offsets(
            [self.tensor(t) for t in tensors])))
        write_value(w, _SUBGRAPH["name"], graph.name, fields)
        write_value(w, _SUBGRAPH["debug_metadata_index"], graph.debug_metadata_index, fields)
        return w.table(fields)

    @_naming_owner
    def tensor(self, t: Tensor) -> int:
        w = self.w
        fields: list[tuple[int, str, Any]] = []
        if t.shape is not None:
            fields.append((_TENSOR["shape"].slot, "O", w.array(t.shape, "i")))
        if t.dtype:
            fields.append((_TENSOR["type"].slot, "b", int(t.dtype)))
        if t.buffer is not None:
            fields.append((_TENSOR["buffer"].slot, "I", self.buffer_index[id(t.buffer)]))
        if t.name is not None:
            fields.append((_TENSOR["name"].slot, "O", w.string(t.name)))
        if t.quantization is not None:
            fields.append((_TENSOR["quantization"].slot, "O", self.quantization(t.quantization)))
        write_value(w, _TENSOR["is_variable"], t.is_variable, fields)
        write_value(w, _TENSOR["sparsity"], t.sparsity, fields)
        write_value(w, _TENSOR["shape_signature"], t.shape_signature, fields)
        write_value(w, _TENSOR["has_rank"], t.has_rank, fields)
        write_value(w, _TENSOR["variant_tensors"], t.variant_tensors, fields)
        write_value(w, _TENSOR["external_buffer"], t.external_buffer, fields)
        return w.table(fields)

    def quantization(self, q: Quantization) -> int:
        w = self.w
        fields: list[tuple[int, str, Any]] = []
        for name in ("min", "max", "scale", "zero_point"):
            arr = getattr(q, name)
            if arr is not None:
                fields.append((_QUANT[name].slot, "O", w.array(arr, _QUANT[name].type)))
        if q.details is not None:
            write_union(w, _QUANT["details"], q.details, fields)
        write_value(w, _QUANT["quantized_dimension"], q.quantized_dimension, fields)
        return w.table(fields)

    @_naming_owner
    def operator(self, op: Operator, ref: Any) -> int:
        w = self.w
        fields: list[tuple[int, str, Any]] = []
        write_value(w, _OPERATOR["opcode_index"], self.opcode_index[id(op.opcode)], fields)
        write_value(w, _OPERATOR["inputs"], [ref(t) for t in op.inputs], fields)
        write_value(w, _OPERATOR["outputs"], [ref(t) for t in op.outputs], fields)
        for name, value in (("builtin_options", op.options), ("builtin_options_2", op.options_2)):
            if value is not None:
                if not isinstance(value, Table):
                    raise TFLiteKitError(f"{op!r}: options must be a generated options object")
                write_union(w, _OPERATOR[name], value, fields)
        write_value(w, _OPERATOR["custom_options"], op.custom_options, fields)
        write_value(w, _OPERATOR["custom_options_format"], int(op.custom_options_format), fields)
        write_value(w, _OPERATOR["mutating_variable_inputs"], op.mutating_variable_inputs, fields)
        if op.intermediates is not None:
            write_value(w, _OPERATOR["intermediates"], [ref(t) for t in op.intermediates],
                        fields)
        write_value(w, _OPERATOR["debug_metadata_index"], op.debug_metadata_index, fields)
        return w.table(fields)

    @_naming_owner
    def metadata_entry(self, entry: Metadata) -> int:
        fields: list[tuple[int, str, Any]] = []
        w = self.w
        write_value(w, _METADATA["name"], entry.name, fields)
        write_value(w, _METADATA["buffer"], self.buffer_ref(entry.buffer), fields)
        return w.table(fields)

    @_naming_owner
    def signature(self, sig: SignatureDef) -> int:
        w = self.w
        graph = sig.subgraph
        subgraphs = self.model.subgraphs
        graph_index = next((i for i, g in enumerate(subgraphs) if g is graph), None)
        if graph_index is None:
            raise TFLiteKitError(f"{sig!r}: its subgraph is not in the model")
        tensors = {id(t): i for i, t in enumerate(graph.tensors)}  # type: ignore[union-attr]
        fields: list[tuple[int, str, Any]] = []
        for side in ("inputs", "outputs"):
            maps = []
            for name, tensor in getattr(sig, side).items():
                entry: list[tuple[int, str, Any]] = []
                write_value(w, _TENSOR_MAP["name"], name, entry)
                if tensor is None or id(tensor) not in tensors:
                    raise TFLiteKitError(f"{sig!r}: {side[:-1]} {name!r} is not a tensor of "
                                         "its subgraph")
                write_value(w, _TENSOR_MAP["tensor_index"], tensors[id(tensor)], entry)
                maps.append(w.table(entry))
            fields.append((_SIGNATURE[side].slot, "O", w.offsets(maps)))
        write_value(w, _SIGNATURE["signature_key"], sig.key, fields)
        write_value(w, _SIGNATURE["subgraph_index"], graph_index, fields)
        return w.table(fields)


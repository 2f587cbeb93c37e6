"""bytes → Model."""

from __future__ import annotations

import gc
import mmap
import os
import stat
import struct
from typing import IO, Any

import numpy as np

from .._generated.schema import FILE_IDENTIFIER, BuiltinOperator, CustomOptionsFormat, TensorType
from ..errors import FormatError, UsageError
from ..ir.graph import Operator, OperatorCode, Subgraph
from ..ir.model import Metadata, Model, SignatureDef
from ..ir.tensor import Buffer, Quantization, Tensor
from . import digest
from .flatbuf import Chunk, Reader, pause_gc
from .tables import Layout, decode, layout

__all__ = ["Source", "decode_source", "load", "open_source"]


_MODEL = layout("Model")
_OPCODE = layout("OperatorCode")
_SUBGRAPH = layout("SubGraph")
_TENSOR = layout("Tensor")
_BUFFER = layout("Buffer")
_OPERATOR = layout("Operator")
_QUANT = layout("QuantizationParameters")
_METADATA = layout("Metadata")
_SIGNATURE = layout("SignatureDef")
_TENSOR_MAP = layout("TensorMap")
_TENSOR_TYPES = dict(TensorType._value2member_map_)
_BUILTINS = dict(BuiltinOperator._value2member_map_)
_FORMATS = dict(CustomOptionsFormat._value2member_map_)
_IDENTIFIER = FILE_IDENTIFIER.encode()


class Source:
    """The bytes a model is read from, kept alive (with its open file) as long as the model."""

    __slots__ = ("buf", "file", "fileno", "path", "pristine")

    def __init__(self, buf: Any, file: IO[bytes] | None = None, path: str | None = None) -> None:
        self.buf = buf
        self.file = file
        self.fileno = None if file is None else file.fileno()
        self.path = path
        # The bytes decode strictly, without problems or a digest: an unchanged model may be
        # written back as these very bytes (see serde.verbatim).
        self.pristine = False

    def chunk(self, start: int, length: int) -> Chunk:
        return Chunk(self.buf, start, length, self.fileno)

    def close(self) -> None:
        """Unmap and close the file this source opened (Model.close). While arrays still view
        the mapping (taken from the model before, or held by a copy of it) it stays open: they
        keep it, and release it when they are gone."""
        if self.file is None:
            return
        if isinstance(self.buf, mmap.mmap):
            try:
                self.buf.close()
            except BufferError:  # exported views remain: unmapping now would pull pages away
                return
        self.file.close()
        self.buf, self.file, self.fileno = b"", None, None


def open_source(source: Any) -> Source:
    """A :class:`Source` for a path, bytes-like object or binary file object."""
    if isinstance(source, (str, os.PathLike)):
        given = os.fspath(source)
        if ("\0" if isinstance(given, str) else b"\0") in given:
            raise UsageError(f"cannot open {given!r}: a path cannot contain a null byte")
        path = os.path.abspath(given)
        try:
            file = open(path, "rb")  # noqa: SIM115 - kept open for the model's lifetime
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):  # a device, a pipe, ...
                with file:
                    return Source(file.read(), None, path)
        except OSError as exc:
            raise FormatError(f"cannot open {os.fspath(source)}: {exc.strerror}") from None
        try:
            buf: Any = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            buf = b""
        return Source(buf, file, path)
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        return Source(source)
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        what = (f"the file object {name!r}" if isinstance(name, str)
                else f"the {type(source).__name__} object")
        if getattr(source, "closed", False):
            raise UsageError(f"cannot read {what}: it is closed")
        try:
            data = source.read()
        except OSError as exc:
            raise FormatError(f"cannot read {what}: {exc.strerror or exc}") from None
        except ValueError as exc:  # closed, or not readable, in ways io reports so
            raise UsageError(f"cannot read {what}: {exc}") from None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise UsageError(f"cannot load {what}: its read() returned {type(data).__name__}, "
                             f"not bytes (open it in binary mode, 'rb')")
        return Source(data)
    raise TypeError(f"cannot load a model from {type(source).__name__}: expected a path (str "
                    f"or os.PathLike), a bytes-like object or a binary file object")


def load(source: Any, *, strict: bool = True, problems: list[str] | None = None) -> Model:
    """Read a model from a path, bytes-like object or binary file object.

    Raises :class:`FormatError` for malformed bytes, its message prefixed with the path when
    loading a file; bytes without the ``TFL3`` identifier that do not parse are reported as not
    a TFLite model. With ``strict=False``, references to missing tensors, buffers or operator
    codes are recorded in ``problems`` and left as None instead.
    """
    src = open_source(source)
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        if not len(src.buf):
            raise FormatError("empty file, not a TFLite model")
        found: list[str] = [] if problems is None else problems
        known = len(found)
        model = _decode(src, strict, found)
        src.pristine = not digest.verify(model, src.buf) and strict and len(found) == known
    except FormatError as exc:
        error = exc
        if len(src.buf) and bytes(src.buf[4:8]) != _IDENTIFIER:  # most likely not a model
            error = FormatError(f"not a TFLite model (no {_IDENTIFIER.decode()!r} file "
                                f"identifier; starts with {bytes(src.buf[:8])!r})")
        exc.__traceback__ = None  # its frames may view the file: free them, then close it
        src.close()  # rather than leave the file open until the garbage collector runs
        if src.file is not None:  # views remain in the cycles of the half-built model
            gc.collect()
            src.close()
        if name is None:
            raise error from None
        raise FormatError(f"{name}: {error}") from None
    return model


def decode_source(src: Source) -> Model:
    """A fresh model decoded strictly from the bytes of ``src`` (already loaded once). It does
    not own the file: closing it releases its views and leaves ``src`` open."""
    return _decode(Source(src.buf, None, src.path), True, [])


def _decode(src: Source, strict: bool, problems: list[str]) -> Model:
    decoder = _Decoder(src, strict, problems)
    try:
        with pause_gc():
            model = decoder.model()
    except FormatError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, TypeError) as exc:
        raise FormatError(f"Model: malformed flatbuffer ({exc})") from None
    return model


def _alignment(buffers: list[Buffer]) -> int:
    """The largest boundary (4 to 16 bytes) every buffer's data starts on in the file."""
    starts: list[int] = [b.source.start for b in buffers if b.source is not None]
    return max(4, min([16, *(start & -start for start in starts if start)]))


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

    def value(self, lay: Layout, values: list[Any], name: str, what: str) -> Any:
        """Field ``name`` decoded generically (scalars, strings, leaf tables, ...)."""
        i = lay.index[name]
        return decode(self.r, lay.fields_by_name[name], values, i, what)

    def tables(self, pos: int, what: str) -> list[tuple[int, str]]:
        """(position, path) of each table of the vector at ``pos`` (-1: absent)."""
        if pos < 0:
            return []
        return [(t, f"{what}[{i}]") for i, t in enumerate(self.r.offsets(pos, what))]

    def ints(self, pos: int, what: str) -> tuple[int, ...] | None:
        return None if pos < 0 else self.r.ints(pos, what)

    def model(self) -> Model:
        r = self.r
        what = "Model"
        lay = _MODEL
        v = r.read(r.root(), lay.spec, what)
        ix = lay.index
        version = v[ix["version"]]
        description = self.value(lay, v, "description", what)
        self.buffers = [self.buffer(p, path)
                        for p, path in self.tables(v[ix["buffers"]], "Model.buffers")]
        if self.buffers and self.buffers[0].nbytes:
            self.problem("Model.buffers[0]: the first buffer must be empty")
        opcodes = [self.opcode(p, path) for p, path in
                   self.tables(v[ix["operator_codes"]], "Model.operator_codes")]
        subgraphs = [self.subgraph(p, path, opcodes) for p, path in
                     self.tables(v[ix["subgraphs"]], "Model.subgraphs")]
        refs = self.ints(v[ix["metadata_buffer"]], "Model.metadata_buffer")
        metadata_buffer = None if refs is None else [
            self.buffer_ref(i, f"Model.metadata_buffer[{k}]") for k, i in enumerate(refs)]
        metadata = [self.metadata(p, path)
                    for p, path in self.tables(v[ix["metadata"]], "Model.metadata")]
        signature_defs = [self.signature(p, path, subgraphs) for p, path in
                          self.tables(v[ix["signature_defs"]], "Model.signature_defs")]
        return Model._restore(
            version, description, _alignment(self.buffers), subgraphs, self.buffers[1:], opcodes,
            metadata, metadata_buffer, signature_defs,
            self.value(lay, v, "external_buffer_groups", what),
            self.value(lay, v, "external_buffers", what), self.src)

    def buffer(self, pos: int, what: str) -> Buffer:
        v = self.r.read(pos, _BUFFER.spec, what)
        ix = _BUFFER.index
        data_at, offset = v[ix["data"]], v[ix["offset"]]
        if data_at >= 0:
            start, n = self.r.vector(data_at, 1, f"{what}.data")
        elif offset > 1:
            start, n = offset, v[ix["size"]]
            if start + n > len(self.src.buf):
                raise FormatError(f"{what}: offset {offset} + size {n} is past the end of the file")
        else:
            start = n = 0
        if not n:
            return Buffer._restore(None, None)
        data = np.frombuffer(self.src.buf, np.uint8, n, start)
        data.flags.writeable = False
        return Buffer._restore(data, self.src.chunk(start, n))

    def buffer_ref(self, index: int, what: str) -> Buffer | None:
        return None if index == 0 else self.pick(self.buffers, index, what, "buffer")

    def opcode(self, pos: int, what: str) -> OperatorCode:
        v = self.r.read(pos, _OPCODE.spec, what)
        ix = _OPCODE.index
        deprecated, stored = v[ix["deprecated_builtin_code"]], v[ix["builtin_code"]]
        builtin = max(deprecated, stored)
        return OperatorCode._restore(_BUILTINS.get(builtin, builtin),
                                     self.value(_OPCODE, v, "custom_code", what),
                                     v[ix["version"]], legacy=stored < deprecated)

    def subgraph(self, pos: int, what: str, opcodes: list[OperatorCode]) -> Subgraph:
        v = self.r.read(pos, _SUBGRAPH.spec, what)
        ix = _SUBGRAPH.index
        name = self.value(_SUBGRAPH, v, "name", what)
        tensors = [self.tensor(p, path)
                   for p, path in self.tables(v[ix["tensors"]], f"{what}.tensors")]
        inputs = self.tensor_list(v[ix["inputs"]], tensors, f"{what}.inputs")
        outputs = self.tensor_list(v[ix["outputs"]], tensors, f"{what}.outputs")
        ops = [self.operator(p, path, tensors, opcodes)
               for p, path in self.tables(v[ix["operators"]], f"{what}.operators")]
        return Subgraph._restore(name, v[ix["debug_metadata_index"]], tensors, inputs, outputs,
                                 ops)

    def tensor_refs(self, pos: int, tensors: list[Tensor], what: str) -> list[Tensor | None]:
        """Tensors by index; -1 is an absent optional tensor (None)."""
        indices: tuple[int, ...] = self.ints(pos, what) or ()
        n = len(tensors)
        refs: list[Tensor | None] = [tensors[i] if 0 <= i < n else None for i in indices]
        for k, i in enumerate(indices):
            if i != -1 and refs[k] is None:
                self.problem(f"{what}[{k}]: tensor index {i} out of range (0..{n - 1})")
        return refs

    def tensor_list(self, pos: int, tensors: list[Tensor], what: str) -> list[Tensor]:
        return [t for t in self.tensor_refs(pos, tensors, what) if t is not None]

    def tensor(self, pos: int, what: str) -> Tensor:
        v = self.r.read(pos, _TENSOR.spec, what)
        ix = _TENSOR.index
        shape = self.ints(v[ix["shape"]], f"{what}.shape")
        dtype = v[ix["type"]]
        buffer = self.buffer_ref(v[ix["buffer"]], f"{what}.buffer")
        name_at = v[ix["name"]]
        name = None if name_at < 0 else self.r.string(name_at, f"{what}.name")
        q = v[ix["quantization"]]
        quantization = None if q < 0 else self.quantization(q, f"{what}.quantization")
        sparsity = None if v[ix["sparsity"]] < 0 else self.value(_TENSOR, v, "sparsity", what)
        signature = self.ints(v[ix["shape_signature"]], f"{what}.shape_signature")
        variants = None if v[ix["variant_tensors"]] < 0 else self.value(
            _TENSOR, v, "variant_tensors", what)
        return Tensor._restore(name, shape, _TENSOR_TYPES.get(dtype, dtype), buffer,
                               quantization, v[ix["is_variable"]], sparsity, signature,
                               v[ix["has_rank"]], variants, v[ix["external_buffer"]])

    def quantization(self, pos: int, what: str) -> Quantization:
        r = self.r
        v = r.read(pos, _QUANT.spec, what)
        ix = _QUANT.index
        arrays = {name: None if v[ix[name]] < 0 else r.array(v[ix[name]], code, f"{what}.{name}")
                  for name, code in (("min", "f"), ("max", "f"), ("scale", "f"),
                                     ("zero_point", "q"))}
        details = self.value(_QUANT, v, "details", what)
        return Quantization._restore(arrays["scale"], arrays["zero_point"],
                                     v[ix["quantized_dimension"]], arrays["min"], arrays["max"],
                                     details)

    def operator(self, pos: int, what: str, tensors: list[Tensor],
                 opcodes: list[OperatorCode]) -> Operator:
        v = self.r.read(pos, _OPERATOR.spec, what)
        ix = _OPERATOR.index
        index = v[ix["opcode_index"]]
        code = self.pick(opcodes, index, f"{what}.opcode_index", "operator code")
        # In a lenient load a missing code gets a stand-in that names it.
        opcode = code or OperatorCode(BuiltinOperator.CUSTOM, f"<missing operator code {index}>")
        inputs = tuple(self.tensor_refs(v[ix["inputs"]], tensors, f"{what}.inputs"))
        outputs = tuple(self.tensor_list(v[ix["outputs"]], tensors, f"{what}.outputs"))
        options = self.value(_OPERATOR, v, "builtin_options", what)
        options_2 = None if v[ix["builtin_options_2_type"]] == 0 else self.value(
            _OPERATOR, v, "builtin_options_2", what)
        custom = None if v[ix["custom_options"]] < 0 else self.value(
            _OPERATOR, v, "custom_options", what)
        large = v[ix["large_custom_options_offset"]]
        if large > 1:
            size = v[ix["large_custom_options_size"]]
            if large + size > len(self.src.buf):
                raise FormatError(f"{what}: large custom options run past the end of the file")
            custom = bytes(self.src.buf[large:large + size])
        fmt = v[ix["custom_options_format"]]
        mutating = None if v[ix["mutating_variable_inputs"]] < 0 else (
            self.value(_OPERATOR, v, "mutating_variable_inputs", what))
        at = v[ix["intermediates"]]
        intermediates = None if at < 0 else self.tensor_list(at, tensors, f"{what}.intermediates")
        return Operator._restore(opcode, inputs, outputs, options, options_2, custom,
                                 _FORMATS.get(fmt, fmt), mutating, intermediates,
                                 v[ix["debug_metadata_index"]])

    def metadata(self, pos: int, what: str) -> Metadata:
        v = self.r.read(pos, _METADATA.spec, what)
        return Metadata(self.value(_METADATA, v, "name", what),
                        self.buffer_ref(v[_METADATA.index["buffer"]], f"{what}.buffer"))

    def signature(self, pos: int, what: str, subgraphs: list[Subgraph]) -> SignatureDef:
        v = self.r.read(pos, _SIGNATURE.spec, what)
        ix = _SIGNATURE.index
        index = v[ix["subgraph_index"]]
        graph = self.pick(subgraphs, index, f"{what}.subgraph_index", "subgraph")
        tensors = list(graph.tensors) if graph is not None else []
        sig = SignatureDef(self.value(_SIGNATURE, v, "signature_key", what), graph)
        for side in ("inputs", "outputs"):
            mapping: dict[str, Tensor | None] = getattr(sig, side)
            for p, path in self.tables(v[ix[side]], f"{what}.{side}"):
                entry = self.r.read(p, _TENSOR_MAP.spec, path)
                name = self.value(_TENSOR_MAP, entry, "name", path)
                i = entry[_TENSOR_MAP.index["tensor_index"]]
                mapping[name] = self.pick(tensors, i, f"{path}.tensor_index", "tensor")
        return sig

"""A model at a glance (``tflitekit info``): interface, operators, operator codes, buffers,
metadata, signatures and integrity, as frozen results with ``to_json()``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TFLiteKitError
from ..ir import Model, Operator, Quantization, Subgraph, Tensor
from ..ir.flex import decode_flex
from ..options import CustomOptionsFormat
from ..serde.digest import TRAILER_MAGIC, TRAILER_SIZE
from ..serde.numbering import Numbering
from .arena import arena
from .costs import operator_cost
from .dump import index_of
from .jsonable import enum_value, json_value, table_json
from .memory import TARGETS, memory
from .metadata import MetadataEntry, decode_metadata

__all__ = [
    "Budget",
    "BufferStats",
    "Digest",
    "ModelInfo",
    "OperatorCodeSummary",
    "OperatorSummary",
    "SignatureSummary",
    "SubgraphSummary",
    "TensorRef",
    "TensorSummary",
    "info",
    "options_text",
    "short_value",
]

_ALWAYS_SHOWN = ("padding", "fused_activation_function")  # option fields shown even at default


@dataclass(frozen=True)
class TensorRef:
    """A tensor as an operand: its index in the subgraph (as saved) and its name."""

    index: int
    name: str | None


@dataclass(frozen=True)
class TensorSummary:
    """An input or output of a subgraph."""

    index: int
    name: str | None
    dtype: str
    shape: tuple[int, ...] | None
    shape_signature: tuple[int, ...] | None
    quantization: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "dtype": self.dtype,
                "shape": None if self.shape is None else list(self.shape),
                "shape_signature": None if self.shape_signature is None
                else list(self.shape_signature),
                "quantization": self.quantization}


@dataclass(frozen=True)
class OperatorSummary:
    """An operator: its code, operands and options (``options_text`` says what is not default)."""

    index: int
    op: str | None
    custom_code: str | None
    version: int | None
    inputs: tuple[TensorRef | None, ...]
    outputs: tuple[TensorRef, ...]
    options_type: str | None
    options: Any
    options_2_type: str | None
    options_2: Any
    custom_options_size: int | None
    custom_options: Any
    """The FlexBuffer custom options decoded (binary strings as hex), else None."""
    options_text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "op": self.op, "custom_code": self.custom_code,
            "version": self.version,
            "inputs": [None if t is None else t.name for t in self.inputs],
            "input_indices": [-1 if t is None else t.index for t in self.inputs],
            "outputs": [t.name for t in self.outputs],
            "output_indices": [t.index for t in self.outputs],
            "options_type": self.options_type, "options": self.options,
            "options_2_type": self.options_2_type, "options_2": self.options_2,
            "custom_options_size": self.custom_options_size,
            "custom_options": self.custom_options, "summary": self.options_text,
        }


@dataclass(frozen=True)
class SubgraphSummary:
    index: int
    name: str | None
    tensor_count: int
    inputs: tuple[TensorSummary, ...]
    outputs: tuple[TensorSummary, ...]
    operators: tuple[OperatorSummary, ...]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "tensor_count": self.tensor_count,
                "operator_count": len(self.operators),
                "inputs": [t.to_json() for t in self.inputs],
                "outputs": [t.to_json() for t in self.outputs],
                "operators": [op.to_json() for op in self.operators]}


@dataclass(frozen=True)
class OperatorCodeSummary:
    """An operator code and how many operators use it (0: an unused code a prune removes)."""

    index: int
    name: str
    builtin_code: str
    custom_code: str | None
    version: int
    uses: int

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "builtin_code": self.builtin_code,
                "custom_code": self.custom_code, "version": self.version, "uses": self.uses}


@dataclass(frozen=True)
class BufferStats:
    """Buffers as saved (``count`` includes the schema's empty buffer 0) and their bytes;
    ``constant_bytes`` counts the buffers tensors hold."""

    count: int
    non_empty: int
    total_bytes: int
    constant_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "non_empty": self.non_empty,
                "total_bytes": self.total_bytes, "constant_bytes": self.constant_bytes}


@dataclass(frozen=True)
class SignatureSummary:
    """A signature def: its names mapped to ``(name, tensor index, tensor name)``."""

    key: str | None
    subgraph: int
    inputs: tuple[tuple[str, int, str | None], ...]
    outputs: tuple[tuple[str, int, str | None], ...]

    def to_json(self) -> dict[str, Any]:
        def side(entries: Sequence[tuple[str, int, str | None]]) -> list[dict[str, Any]]:
            return [{"name": n, "tensor": i, "tensor_name": t} for n, i, t in entries]

        return {"key": self.key, "subgraph": self.subgraph, "inputs": side(self.inputs),
                "outputs": side(self.outputs)}


@dataclass(frozen=True)
class Digest:
    """The file's integrity digest (``save(digest=True)``): whether it has one, and whether it
    matched (loading refuses a file whose digest does not match, so a loaded file's digest is
    verified)."""

    present: bool
    verified: bool

    def to_json(self) -> dict[str, Any]:
        return {"present": self.present, "verified": self.verified}


@dataclass(frozen=True)
class Budget:
    """What the main subgraph costs (see :func:`tflitekit.analysis.summary.summary`): MACs and
    OPs by MLTK's conventions, TensorFlow Lite Micro's arena head and its arena totals for the
    64-bit host build and a 32-bit target. ``problem`` says why they could not be computed
    (then the numbers are None)."""

    total_macs: int | None
    total_ops: int | None
    arena_head_bytes: int | None
    arena_total_bytes: dict[str, int] | None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"total_macs": self.total_macs, "total_ops": self.total_ops,
                "arena_head_bytes": self.arena_head_bytes,
                "arena_total_bytes": self.arena_total_bytes, "problem": self.problem}


@dataclass(frozen=True)
class ModelInfo:
    """The ``info`` summary of a model (``file``, ``size`` and ``digest`` are None for a model
    that was not read from a file)."""

    file: str | None
    size: int | None
    digest: Digest | None
    version: int
    description: str | None
    operator_codes: tuple[OperatorCodeSummary, ...]
    buffers: BufferStats
    metadata: tuple[MetadataEntry, ...]
    signature_defs: tuple[SignatureSummary, ...]
    subgraphs: tuple[SubgraphSummary, ...]
    budget: Budget

    @property
    def tensor_count(self) -> int:
        return sum(g.tensor_count for g in self.subgraphs)

    @property
    def operator_count(self) -> int:
        return sum(len(g.operators) for g in self.subgraphs)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file, "size": self.size,
            "digest": None if self.digest is None else self.digest.to_json(),
            "version": self.version, "description": self.description,
            "subgraph_count": len(self.subgraphs), "tensor_count": self.tensor_count,
            "operator_count": self.operator_count,
            "operator_codes": [c.to_json() for c in self.operator_codes],
            "buffers": self.buffers.to_json(),
            "metadata": [m.to_json() for m in self.metadata],
            "signature_defs": [s.to_json() for s in self.signature_defs],
            "subgraphs": [g.to_json() for g in self.subgraphs],
            "budget": self.budget.to_json(),
        }


def info(model: Model, path: str | os.PathLike[str] | None = None) -> ModelInfo:
    """Summarize ``model``; ``path`` is the file it was loaded from (for its size and digest)."""
    num = Numbering(model)
    constant = {id(t.buffer): t.buffer.nbytes for t in model.tensors()
                if t.buffer is not None and t.buffer.nbytes}
    uses = Counter(num.opcode(op) for op in model.operators())
    buffers = [b for b in num.buffers if b is not None]
    return ModelInfo(
        file=None if path is None else os.fspath(path),
        size=None if path is None else os.path.getsize(path),
        digest=None if path is None else _digest(path),
        version=model.version,
        description=model.description,
        operator_codes=tuple(
            OperatorCodeSummary(i, c.name, _name(c.builtin_code), c.custom_code, c.version,
                                uses[i])
            for i, c in enumerate(num.opcodes)),
        buffers=BufferStats(len(num.buffers), sum(1 for b in buffers if b.nbytes),
                            sum(b.nbytes for b in buffers), sum(constant.values())),
        metadata=tuple(decode_metadata(m.name, b"" if m.buffer is None
                                       else m.buffer.data.tobytes()) for m in model.metadata),
        signature_defs=tuple(
            SignatureSummary(
                s.key, index_of(model.subgraphs, s.subgraph),
                tuple((n, num.tensor(s.subgraph, t), None if t is None else t.name)
                      for n, t in s.inputs.items()),
                tuple((n, num.tensor(s.subgraph, t), None if t is None else t.name)
                      for n, t in s.outputs.items()))
            for s in model.signature_defs),
        subgraphs=tuple(_subgraph(g, i, num) for i, g in enumerate(model.subgraphs)),
        budget=_budget(model),
    )


def _budget(model: Model) -> Budget:
    if not model.subgraphs:
        return Budget(None, None, None, None, "the model has no subgraph")
    try:
        costs = [operator_cost(op) for op in model.subgraphs[0].operators]
        head = memory(model).arena_head_bytes
        totals: dict[str, int] = {t: arena(model, t).total_bytes for t in TARGETS}
    except TFLiteKitError as exc:  # a model TFLite Micro could not plan (e.g. unknown shapes)
        return Budget(None, None, None, None, str(exc))
    return Budget(sum(c.macs for c in costs), sum(c.ops for c in costs), head, totals)


def _digest(path: str | os.PathLike[str]) -> Digest:
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < TRAILER_SIZE:
            return Digest(False, False)
        f.seek(size - len(TRAILER_MAGIC))
        present = f.read() == TRAILER_MAGIC
    return Digest(present, present)


def _subgraph(graph: Subgraph, index: int, num: Numbering) -> SubgraphSummary:
    return SubgraphSummary(
        index, graph.name, len(num.tensors(graph)),
        tuple(_tensor(graph, t, num) for t in graph.inputs),
        tuple(_tensor(graph, t, num) for t in graph.outputs),
        tuple(_operator(graph, op, k, num) for k, op in enumerate(graph.operators)))


def _name(value: Any) -> str:
    """An enum member's name, or the number of a value newer than the schema."""
    return str(getattr(value, "name", value))


def _tensor(graph: Subgraph, t: Tensor, num: Numbering) -> TensorSummary:
    return TensorSummary(num.tensor(graph, t), t.name, _name(t.dtype),
                         None if t.shape is None else tuple(t.shape),
                         None if t.shape_signature is None else tuple(t.shape_signature),
                         _quantization(t.quantization))


def _quantization(q: Quantization | None) -> dict[str, Any] | None:
    if q is None or q.is_empty():
        return None
    out: dict[str, Any] = {}
    if q.is_quantized:
        try:
            scale, zero = q.per_tensor()
            out["scale"], out["zero_point"] = json_value(scale), zero
        except TFLiteKitError:  # per channel (or, in a broken file, more zero points than scales)
            out["per_channel"] = max(a.size for a in (q.scale, q.zero_point) if a is not None)
            out["quantized_dimension"] = q.quantized_dimension
    if q.min is not None and q.max is not None and q.min.size == q.max.size == 1:
        out["min"], out["max"] = json_value(q.min[0]), json_value(q.max[0])
    if q.details is not None:
        out["details"] = type(q.details).__name__
    return out


def _operator(graph: Subgraph, op: Operator, index: int, num: Numbering) -> OperatorSummary:
    code = op.opcode

    def ref(t: Tensor) -> TensorRef:
        return TensorRef(num.tensor(graph, t), t.name)

    return OperatorSummary(
        index=index,
        op=None if code is None else _name(code.builtin_code),
        custom_code=None if code is None else code.custom_code,
        version=None if code is None else code.version,
        inputs=tuple(None if t is None else ref(t) for t in op.inputs),
        outputs=tuple(ref(t) for t in op.outputs),
        options_type=None if op.options is None else type(op.options).__name__,
        options=json_value(op.options),
        options_2_type=None if op.options_2 is None else type(op.options_2).__name__,
        options_2=json_value(op.options_2),
        custom_options_size=None if op.custom_options is None else len(op.custom_options),
        custom_options=_map_bytes(custom_options(op), bytes.hex),
        options_text=options_text(op),
    )


def options_text(op: Operator) -> str:
    """The options fields that say something: non-default ones, plus padding and activation."""
    parts = []
    for options in (op.options, op.options_2):
        if options is None:
            continue
        values = table_json(options)
        for f in options.FIELDS:
            if f.kind == "union":
                value = getattr(options, f.name)
                if value is not None:
                    parts.append(f"{f.name}={type(value).__name__}")
                continue
            default = enum_value(f.enum, f.default) if f.kind == "scalar" else f.default
            if values[f.name] != default or f.name in _ALWAYS_SHOWN:
                parts.append(f"{f.name}={short_value(values[f.name])}")
    decoded = custom_options(op)
    if isinstance(decoded, dict) and decoded:
        parts += [f"{k}={_short_custom(v)}" for k, v in decoded.items()]
    elif op.custom_options:
        parts.append(f"custom_options=<{len(op.custom_options)} bytes, "
                     f"{_name(op.custom_options_format)}>")
    return " ".join(parts) or "-"


def custom_options(op: Operator) -> Any:
    """``op``'s custom options decoded from their FlexBuffer (strings as text when they are
    printable, else as bytes), or None when it has none, they are in another format or do not
    decode."""
    if not op.custom_options or op.custom_options_format != CustomOptionsFormat.FLEXBUFFERS:
        return None
    try:
        return _map_bytes(decode_flex(op.custom_options, raw_strings=True), _text_or_bytes)
    except TFLiteKitError:
        return None


def _map_bytes(value: Any, fn: Callable[[bytes], Any]) -> Any:
    """``value`` (decoded custom options) with ``fn`` applied to every bytes object in it."""
    if isinstance(value, bytes):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_bytes(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_bytes(v, fn) for v in value]
    return value


def _text_or_bytes(value: bytes) -> str | bytes:
    """Printable UTF-8 text as str, anything else as it is."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return value
    return text if text.isprintable() else value


def _short_custom(value: Any) -> str:
    """A decoded custom option in a few characters: bytes as hex when short, else their size."""
    if isinstance(value, bytes):
        return value.hex() if len(value) <= 8 else f"<{len(value)} bytes>"
    if isinstance(value, list):
        return "[" + ",".join(_short_custom(v) for v in value) + "]"
    return short_value(value)


def short_value(value: Any) -> str:
    """A JSON value in a few characters: floats to 6 digits, long lists as their length."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        if len(value) > 8:
            return f"[{len(value)} values]"
        return "[" + ",".join(short_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={short_value(v)}" for k, v in value.items()
                              if v is not None) + "}"
    return str(value)

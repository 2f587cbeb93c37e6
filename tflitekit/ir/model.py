"""The Model: subgraphs, buffers, operator codes, metadata and signatures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import TFLiteKitError
from ..options import ExternalBuffer, ExternalBufferGroup
from .graph import Operator, OperatorCode, Subgraph
from .tensor import Buffer, Tensor

if TYPE_CHECKING:
    from .check import Problem

__all__ = ["Metadata", "Model", "SignatureDef"]


class Metadata:
    """A named metadata entry whose bytes live in a buffer of the model."""

    __slots__ = ("buffer", "name")

    def __init__(self, name: str | None, buffer: Buffer | None) -> None:
        self.name = name
        self.buffer = buffer

    def __repr__(self) -> str:
        return f"Metadata({self.name!r}, {self.buffer!r})"


class SignatureDef:
    """A named entry point: signature names of inputs and outputs mapped to a subgraph's tensors."""

    __slots__ = ("inputs", "key", "outputs", "subgraph")

    def __init__(self, key: str | None, subgraph: Subgraph | None,
                 inputs: dict[str, Tensor | None] | None = None,
                 outputs: dict[str, Tensor | None] | None = None) -> None:
        self.key = key
        self.subgraph = subgraph
        self.inputs: dict[str, Tensor | None] = {} if inputs is None else inputs
        self.outputs: dict[str, Tensor | None] = {} if outputs is None else outputs

    def __repr__(self) -> str:
        return (f"SignatureDef({self.key!r}, inputs={list(self.inputs)}, "
                f"outputs={list(self.outputs)})")


class Model:
    """A TFLite model. Build one from scratch or get one from :func:`tflitekit.load`.

    ``buffers`` lists the model's buffers in file order without the empty buffer 0 (written for
    you); buffers referenced by tensors or metadata but missing from the list are added on save.
    ``operator_codes`` likewise keeps the file's order; codes used by operators are added on save.
    ``data_alignment`` is the boundary (in bytes) buffer data starts on when saved: 16, as the
    TFLite converter writes, for a new model; for a loaded model, the alignment its file had
    (at least 4), so that saving does not pad a compactly written model.
    """

    __slots__ = ("_source", "buffers", "data_alignment", "description", "external_buffer_groups",
                 "external_buffers", "metadata", "metadata_buffer", "operator_codes",
                 "signature_defs", "subgraphs", "version")

    def __init__(self, description: str | None = None, *, version: int = 3) -> None:
        self.version = version
        self.description = description
        self.data_alignment = 16
        self.subgraphs: list[Subgraph] = []
        self.buffers: list[Buffer] = []
        self.operator_codes: list[OperatorCode] = []
        self.metadata: list[Metadata] = []
        self.metadata_buffer: list[Buffer | None] | None = None
        self.signature_defs: list[SignatureDef] = []
        # Weights kept in files beside the model; tensors refer to them by id.
        self.external_buffer_groups: list[ExternalBufferGroup] | None = None
        self.external_buffers: list[ExternalBuffer] | None = None
        self._source: Any = None  # the open file a loaded model views (kept alive with it)

    @classmethod
    def _restore(cls, version: int, description: str | None, data_alignment: int,
                 subgraphs: list[Subgraph], buffers: list[Buffer],
                 operator_codes: list[OperatorCode], metadata: list[Metadata],
                 metadata_buffer: list[Buffer | None] | None, signature_defs: list[SignatureDef],
                 external_buffer_groups: list[ExternalBufferGroup] | None,
                 external_buffers: list[ExternalBuffer] | None, source: Any) -> Model:
        """A model holding exactly the given fields; ``source`` is serde's record of the input
        its buffers view (closed by :meth:`close`), or None."""
        model = cls.__new__(cls)
        model.version = version
        model.description = description
        model.data_alignment = data_alignment
        model.subgraphs = subgraphs
        model.buffers = buffers
        model.operator_codes = operator_codes
        model.metadata = metadata
        model.metadata_buffer = metadata_buffer
        model.signature_defs = signature_defs
        model.external_buffer_groups = external_buffer_groups
        model.external_buffers = external_buffers
        model._source = source
        return model

    @property
    def source(self) -> Any:
        """The input a loaded model's buffers view (serde's opaque record), or None."""
        return self._source

    # -- building ------------------------------------------------------------------------------
    def add_subgraph(self, name: str | None = None) -> Subgraph:
        subgraph = Subgraph(name)
        self.subgraphs.append(subgraph)
        return subgraph

    @property
    def main(self) -> Subgraph:
        """The primary subgraph (subgraph 0)."""
        if not self.subgraphs:
            raise TFLiteKitError("the model has no subgraph")
        return self.subgraphs[0]

    def add_metadata(self, name: str, data: bytes) -> Metadata:
        """Add (or replace) a metadata entry holding ``data``."""
        for old in self.metadata:
            if old.name == name and old.buffer is not None:
                old.buffer._replaced = True
        self.metadata = [m for m in self.metadata if m.name != name]
        entry = Metadata(name, Buffer(data))
        self.metadata.append(entry)
        return entry

    def get_metadata(self, name: str) -> bytes | None:
        for entry in self.metadata:
            if entry.name == name:
                return None if entry.buffer is None else entry.buffer.data.tobytes()
        return None

    # -- traversal -----------------------------------------------------------------------------
    def operators(self) -> Iterator[Operator]:
        for subgraph in self.subgraphs:
            yield from subgraph.operators

    def tensors(self) -> Iterator[Tensor]:
        for subgraph in self.subgraphs:
            yield from subgraph.tensors

    def all_buffers(self) -> list[Buffer]:
        """``buffers`` followed by every buffer referenced from elsewhere but not listed there,
        in the order a save numbers them (from 1).

        Listed buffers that nothing references are kept (files may hold such), except those a
        tensor or metadata entry let go of when given new data.
        """
        used: dict[int, Buffer] = {}
        for buf in (*(t.buffer for t in self.tensors()), *(m.buffer for m in self.metadata),
                    *(self.metadata_buffer or ())):
            if buf is not None:
                used.setdefault(id(buf), buf)
        seen = {id(b): b for b in self.buffers if id(b) in used or not b._replaced}
        seen.update(used)
        return list(seen.values())

    def all_operator_codes(self) -> list[OperatorCode]:
        """``operator_codes`` followed by the codes operators use that it lacks (equal codes
        merged), in the order a save numbers them."""
        codes = list(self.operator_codes)
        known = {c.key() for c in codes}
        for op in self.operators():
            if op.opcode is not None and op.opcode.key() not in known:
                known.add(op.opcode.key())
                codes.append(op.opcode)
        return codes

    # -- saving, copying, checking ------------------------------------------------------------
    def to_bytes(self, *, reencode: bool = False) -> bytes:
        """The model as a .tflite flatbuffer (:func:`tflitekit.to_bytes`)."""
        from ..serde import to_bytes

        return to_bytes(self, reencode=reencode)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False,
             digest: bool = False, reencode: bool = False) -> None:
        """Write the model to ``path`` atomically (:func:`tflitekit.save`).

        Refuses to replace the file the model was loaded from unless ``overwrite`` is true.
        With ``digest`` the file records a SHA-256 of its content that :func:`load` verifies.
        An unchanged loaded model is written as the bytes it was loaded from, unless
        ``reencode``.
        """
        from ..serde import save

        save(self, path, overwrite=overwrite, digest=digest, reencode=reencode)

    def copy(self) -> Model:
        """An independent structural copy, made field by field (also of a model in the middle
        of an edit or one that :meth:`check` rejects). Constant data is shared until either
        side assigns new data (copy on write)."""
        from ._clone import clone

        return clone(self)

    def close(self) -> None:
        """Release the file a loaded model maps. Data read from it becomes unavailable (reading
        it raises TFLiteKitError); the rest of the model stays usable. Arrays taken from the
        model before, and copies of it, keep the file mapped until they are gone. Idempotent."""
        source, self._source = self._source, None
        if source is None:
            return
        for buf in {id(b): b for b in (*self.buffers, *self.all_buffers())}.values():
            buf._close()
        for tensor in self.tensors():
            if tensor.quantization is not None:
                tensor.quantization._own()
        source.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def check(self) -> list[Problem]:
        """Every structural problem of the model (an empty list when it is sound)."""
        from .check import check

        return check(self)

    def __repr__(self) -> str:
        ops = sum(len(s.operators) for s in self.subgraphs)
        return (f"Model({len(self.subgraphs)} subgraphs, {ops} operators, "
                f"{len(self.buffers)} buffers)")

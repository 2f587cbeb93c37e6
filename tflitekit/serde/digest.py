"""Opt-in integrity: a SHA-256 of the file's content, recorded twice.

``save(..., digest=True)`` stores the digest in a metadata entry and again in a 48-byte trailer
after the flatbuffer (readers ignore bytes past the model). The digest covers the whole file with
both 32-byte copies read as zeros. Two independent copies mean no single corruption can remove
the evidence: damage the entry's name and the trailer still demands a check, damage the trailer
and the entry does, and either way the damaged bytes make the content hash differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import FormatError

if TYPE_CHECKING:
    from ..ir.model import Model

__all__ = ["METADATA", "TRAILER_MAGIC", "TRAILER_SIZE", "content_digest", "verify"]

#: Name of the metadata entry holding the digest.
METADATA = "tflitekit.sha256"
#: The trailer is the digest followed by this marker, at the very end of the file.
TRAILER_MAGIC = b"tflitekit.sha256"
TRAILER_SIZE = 32 + len(TRAILER_MAGIC)


def content_digest(buf: Any, digest_at: Sequence[int]) -> bytes:
    """SHA-256 of ``buf`` with the 32 bytes at each position of ``digest_at`` read as zeros."""
    h = hashlib.sha256()
    view = memoryview(buf)
    start = 0
    for at in sorted(digest_at):
        h.update(view[start:at])
        h.update(bytes(32))
        start = at + 32
    h.update(view[start:])
    return h.digest()


def verify(model: Model, buf: Any) -> bool:
    """Check the digest of a model loaded from ``buf`` if it has one, and drop its entry.
    Returns whether there was one."""
    found: list[int] = []
    entry = next((m for m in model.metadata if m.name == METADATA), None)
    if entry is not None:
        chunk = None if entry.buffer is None else entry.buffer.source
        if chunk is None or chunk.length != 32:
            raise FormatError(f"Model.metadata[{METADATA!r}]: the digest is not 32 bytes")
        found.append(chunk.start)
        model.metadata.remove(entry)
        model.buffers = [b for b in model.buffers if b is not entry.buffer]
    size = len(buf)
    if size >= TRAILER_SIZE and bytes(buf[size - len(TRAILER_MAGIC):]) == TRAILER_MAGIC:
        found.append(size - TRAILER_SIZE)
    if not found:
        return False
    actual = content_digest(buf, found)
    if any(bytes(buf[at:at + 32]) != actual for at in found):
        raise FormatError("Model: content does not match its recorded SHA-256 (the file was "
                          "modified or corrupted)")
    return True

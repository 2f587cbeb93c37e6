"""Where the bytes of a rewritten file come from: re-encoding versus changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ir import Model
from ..serde.flatbuf import Chunk
from ..serde.write import encode

__all__ = ["SizeChange", "encoded_size"]


def encoded_size(model: Model) -> int:
    """The size in bytes of ``model`` as a save would write it (without building the bytes:
    unchanged data is counted, not copied)."""
    return sum(p.length if isinstance(p, Chunk) else len(p) for p in encode(model).parts)


@dataclass(frozen=True)
class SizeChange:
    """A model file rewritten: ``before`` bytes read, ``after`` bytes written. When the model
    changed, ``reencoded`` is what the unchanged model re-encodes to, so that the difference
    splits into ``encoding`` (the writer's layout) and ``changes`` (what the edits did); when it
    did not change the input was copied (``reencoded`` is None and both parts are 0)."""

    before: int
    after: int
    reencoded: int | None

    @property
    def copied(self) -> bool:
        return self.reencoded is None

    @property
    def encoding(self) -> int:
        return 0 if self.reencoded is None else self.reencoded - self.before

    @property
    def changes(self) -> int:
        return 0 if self.reencoded is None else self.after - self.reencoded

    def to_json(self) -> dict[str, Any]:
        return {"bytes_before": self.before, "bytes_after": self.after,
                "bytes_saved": self.before - self.after, "bytes_reencoded": self.reencoded,
                "bytes_from_encoding": self.encoding, "bytes_from_changes": self.changes}

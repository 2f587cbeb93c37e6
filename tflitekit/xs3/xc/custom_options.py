"""Reading an XC operator's custom options: a FlexBuffer map of named values."""

from __future__ import annotations

from typing import Any

from ...errors import TFLiteKitError
from ...interpreter.kernel import unsupported
from ...interpreter.node import Node
from ...ir.flex import decode_flex

__all__ = ["custom_options", "replicated_byte"]


def custom_options(node: Node, *keys: str) -> dict[str, Any]:
    """The node's custom options as a dict (binary blobs as bytes); refuses the node when they
    are absent, not a FlexBuffer map, or lack one of ``keys``."""
    if not node.custom_options:
        unsupported(node, f"no custom options (expected {', '.join(keys)})")
    try:
        decoded = decode_flex(node.custom_options, raw_strings=True)
    except TFLiteKitError as exc:
        unsupported(node, str(exc))
    if not isinstance(decoded, dict):
        unsupported(node, f"custom options are a {type(decoded).__name__}, expected a map")
    missing = [k for k in keys if k not in decoded]
    if missing:
        unsupported(node, f"custom options lack {', '.join(missing)}")
    return decoded


def replicated_byte(node: Node, word: int, key: str) -> int:
    """The byte that the 32-bit fill ``word`` (option ``key``) repeats four times, as
    xcore-opt writes pad values; refuses the node when its bytes differ."""
    raw = (word & 0xFFFFFFFF).to_bytes(4, "little")
    if len(set(raw)) != 1:
        unsupported(node, f"option {key!r} = {word:#x} does not repeat one byte")
    return raw[0]

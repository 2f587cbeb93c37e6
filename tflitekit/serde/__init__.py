"""bytes ⇄ Model: the only part of tflitekit that knows the FlatBuffers layout."""

from __future__ import annotations

from .read import load
from .write import save, to_bytes

__all__ = ["load", "save", "to_bytes"]

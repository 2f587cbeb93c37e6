"""The tflitekit exception family."""

from __future__ import annotations

__all__ = ["FormatError", "TFLiteKitError"]


class TFLiteKitError(Exception):
    """Base class of every error raised by tflitekit."""


class FormatError(TFLiteKitError, ValueError):
    """The bytes are not a valid TFLite flatbuffer; the message names the table, field and index."""


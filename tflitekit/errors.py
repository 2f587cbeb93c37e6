"""The tflitekit exception family."""

from __future__ import annotations

__all__ = ["FormatError", "TFLiteKitError", "ValidationError"]


class TFLiteKitError(Exception):
    """Base class of every error raised by tflitekit."""


class FormatError(TFLiteKitError, ValueError):
    """The bytes are not a valid TFLite flatbuffer; the message names the table, field and index."""


class ValidationError(TFLiteKitError, ValueError):
    """A model breaks a structural rule (raised by ``Model.check(raise_on_error=True)``)."""

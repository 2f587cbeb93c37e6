"""The tflitekit exception family: every error tflitekit raises on purpose is one of these."""

from __future__ import annotations

__all__ = [
    "CodecError",
    "ConversionError",
    "FormatError",
    "OverwriteError",
    "PassError",
    "RuntimeUnavailable",
    "SaveError",
    "TFLiteKitError",
    "UnsupportedOperatorError",
    "UsageError",
]


class TFLiteKitError(Exception):
    """Base class of every error raised by tflitekit."""


class UsageError(TFLiteKitError, ValueError):
    """An argument has an invalid value (a batch below 1, an unknown dtype, ...)."""


class FormatError(TFLiteKitError, ValueError):
    """The bytes are not a valid TFLite flatbuffer; the message names the table, field and index."""


class SaveError(TFLiteKitError, OSError):
    """A model could not be written: the message is one line naming the user's path and the
    cause; ``filename`` is that path and ``errno`` the system's code when there is one."""

    def __init__(self, message: str, path: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.filename = path
        self.errno = errno

    def __str__(self) -> str:
        return self.message


class OverwriteError(SaveError, FileExistsError):
    """``save`` refused to replace the file the model was loaded from (``overwrite=True``
    allows it)."""


class PassError(TFLiteKitError):
    """A pass cannot do what was asked, or left the model broken."""


class UnsupportedOperatorError(TFLiteKitError):
    """An operator (or an operand type, shape or option of it) has no kernel; the message says
    which operator and why."""


class CodecError(TFLiteKitError):
    """Data cannot be encoded or decoded with the given codec parameters."""


class ConversionError(TFLiteKitError):
    """The TFLite converter refused a model; the message carries the converter's reason."""


class RuntimeUnavailable(TFLiteKitError, ImportError):
    """An optional runtime cannot be imported; the message names the pip package to install."""


for _cls in (TFLiteKitError, UsageError, FormatError, SaveError, OverwriteError, PassError,
             UnsupportedOperatorError, CodecError, ConversionError, RuntimeUnavailable):
    _cls.__module__ = "tflitekit"  # the public path users catch them by
del _cls

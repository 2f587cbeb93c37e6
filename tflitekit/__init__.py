"""tflitekit: read, edit, validate, transform, run and save TensorFlow Lite models in pure
Python.

>>> import tflitekit
>>> model = tflitekit.load("model.tflite")          # doctest: +SKIP
>>> model.main.operators[0].opcode.name             # doctest: +SKIP
'CONV_2D'
>>> outputs = tflitekit.Interpreter(model).run([x])  # doctest: +SKIP (as TFLite Micro computes)

The object model, the loader and the writer are imported with the package; the subpackages
(``tflitekit.interpreter``, ``tflitekit.passes``, ``tflitekit.runtimes``, ...) and
``tflitekit.Interpreter`` load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import options
from .errors import (
    CodecError,
    ConversionError,
    FormatError,
    OverwriteError,
    PassError,
    RuntimeUnavailable,
    SaveError,
    TFLiteKitError,
    UnsupportedOperatorError,
    UsageError,
)
from .ir import (
    Buffer,
    Metadata,
    Model,
    Operator,
    OperatorCode,
    Problem,
    Quantization,
    SignatureDef,
    Subgraph,
    Tensor,
    Usage,
    diff,
)
from .options import BuiltinOperator, TensorType
from .serde import load, save, to_bytes
from .validate import ValidationReport, validate, validate_report

if TYPE_CHECKING:
    from . import interpreter, passes, runtimes, testing
    from .interpreter import Interpreter

__version__ = "0.1.0"

_SUBPACKAGES = frozenset({"analysis", "cli", "codecs", "demo", "interpreter", "passes", "runtimes",
                          "testing", "training", "xs3"})
_LAZY = {"Interpreter": "interpreter"}  # public names loaded with their subpackage

__all__ = [
    "Buffer",
    "BuiltinOperator",
    "CodecError",
    "ConversionError",
    "FormatError",
    "Interpreter",
    "Metadata",
    "Model",
    "Operator",
    "OperatorCode",
    "OverwriteError",
    "PassError",
    "Problem",
    "Quantization",
    "RuntimeUnavailable",
    "SaveError",
    "SignatureDef",
    "Subgraph",
    "TFLiteKitError",
    "Tensor",
    "TensorType",
    "UnsupportedOperatorError",
    "Usage",
    "UsageError",
    "ValidationReport",
    "__version__",
    "diff",
    "interpreter",
    "load",
    "options",
    "passes",
    "runtimes",
    "save",
    "testing",
    "to_bytes",
    "validate",
    "validate_report",
]


def __getattr__(name: str) -> Any:
    """Import a subpackage on first use (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES, *_LAZY})

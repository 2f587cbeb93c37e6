"""tflitekit: read, edit, validate, transform and save TensorFlow Lite models in pure Python.

>>> import tflitekit
>>> model = tflitekit.load("model.tflite")          # doctest: +SKIP
>>> model.main.operators[0].opcode.name             # doctest: +SKIP
'CONV_2D'
"""

from __future__ import annotations

from . import options, passes
from ._generated.schema import BuiltinOperator, TensorType
from .errors import FormatError, TFLiteKitError
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
    diff,
)
from .serde import load
from .validate import validate

__version__ = "0.1.0"

__all__ = [
    "Buffer",
    "BuiltinOperator",
    "FormatError",
    "Metadata",
    "Model",
    "Operator",
    "OperatorCode",
    "Problem",
    "Quantization",
    "SignatureDef",
    "Subgraph",
    "TFLiteKitError",
    "Tensor",
    "TensorType",
    "__version__",
    "diff",
    "load",
    "options",
    "passes",
    "validate",
]

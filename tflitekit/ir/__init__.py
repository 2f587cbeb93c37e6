"""The typed object model over the TFLite schema."""

from __future__ import annotations

from .check import Problem, check
from .compare import diff
from .graph import Operator, OperatorCode, Subgraph
from .model import Metadata, Model, SignatureDef
from .tensor import Buffer, Quantization, Tensor, Usage

__all__ = [
    "Buffer",
    "Metadata",
    "Model",
    "Operator",
    "OperatorCode",
    "Problem",
    "Quantization",
    "SignatureDef",
    "Subgraph",
    "Tensor",
    "Usage",
    "check",
    "diff",
]

# The classes live in private modules; they report the path users import them from.
for _cls in (Buffer, Metadata, Model, Operator, OperatorCode, Problem, Quantization, SignatureDef,
             Subgraph, Tensor, Usage):
    _cls.__module__ = "tflitekit"
del _cls

"""The typed object model over the TFLite schema."""

from __future__ import annotations

from .check import Problem, check
from .compare import diff
from .graph import Operator, OperatorCode, Subgraph
from .model import Metadata, Model, SignatureDef
from .tensor import Buffer, Quantization, Tensor

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
    "check",
    "diff",
]

"""The integer reference interpreter: TFLite Micro's arithmetic, vectorised and batched.

:class:`Interpreter` runs a model; kernels (:mod:`.kernels`) are pure functions of numpy arrays
and quantization parameters; :mod:`.fixedpoint` holds TFLite's fixed-point primitives;
backends (:class:`Backend`) are chosen per operator and the choice is a printable
:class:`Plan`.
"""

from __future__ import annotations

from .backend import Backend, Placement, Plan, Prepared, ReferenceBackend
from .kernel import Kernel
from .node import Node, Operand, Rounding, describe
from .runtime import Interpreter, Progress

__all__ = ["Backend", "Interpreter", "Kernel", "Node", "Operand", "Placement", "Plan",
           "Prepared", "Progress", "ReferenceBackend", "Rounding", "describe"]

for _class in (Backend, Kernel, Node, Operand, Placement, Plan, Prepared, ReferenceBackend):
    _class.__module__ = "tflitekit.interpreter"
del _class
Interpreter.__module__ = "tflitekit"  # also exported from the package root

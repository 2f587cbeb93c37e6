"""The kernel contract, and the helpers every kernel family shares.

A :class:`Kernel` is a pair of pure functions, split as TFLite Micro splits its kernels:

- ``prepare(node) -> params`` checks the node and computes what does not depend on the input
  values (multipliers, shifts, look-up tables, reshaped weights). It raises
  :class:`~tflitekit.UnsupportedOperatorError` (through :func:`unsupported`) with the reason when
  the node has a type, option or shape the kernel does not implement.
- ``run(params, arrays) -> outputs`` computes one array per output.

**The batch axis.** Every array ``run`` receives has one extra leading axis, the batch: a batched
operand (``Operand.batched``) arrives as ``(N, *operand.shape)``, any other (constants,
results computed from constants) as ``(1, *operand.shape)``. ``run`` returns every output with a
leading axis of N (1 when no input is batched), so one sample never sees another: N samples in
one call give exactly what N calls give. Absent optional inputs arrive as None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import numpy as np

from ..errors import UnsupportedOperatorError
from ..ir import dtypes
from ..options import ActivationFunctionType, BuiltinOperator, Table, TensorType
from .node import Array, Node, Operand

__all__ = ["Kernel", "Registry", "activation_range", "expect_types", "float_activation", "options",
           "unsupported"]

T = TypeVar("T", bound=Table)


@dataclass(frozen=True)
class Kernel:
    """``prepare(node) -> params`` and ``run(params, arrays) -> outputs`` (module docstring)."""

    prepare: Callable[[Node], Any]
    run: Callable[[Any, Sequence[Array | None]], list[Array]]


Registry = Mapping[BuiltinOperator, Kernel]
"""A kernel family's table: one kernel per operator it implements."""


def unsupported(node: Node, why: str) -> NoReturn:
    """Refuse ``node`` in ``prepare``, saying why."""
    raise UnsupportedOperatorError(f"{node.where or node.name}: {why}")


def options(node: Node, kind: type[T]) -> T:
    """The node's options, or the defaults when the file has none."""
    if node.options is None:
        return kind()
    if not isinstance(node.options, kind):
        unsupported(node, f"options of type {type(node.options).__name__}, expected "
                          f"{kind.__name__}")
    return node.options


def expect_types(node: Node, operand: Operand | None, *allowed: TensorType) -> None:
    """Refuse the node unless ``operand`` has one of the ``allowed`` types."""
    if operand is not None and operand.type not in allowed:
        names = ", ".join(dtypes.name(t) for t in allowed)
        unsupported(node, f"{operand.name!r} is {operand.type_name}, expected {names}")


_QMIN = {np.dtype(np.int8): -128, np.dtype(np.uint8): 0, np.dtype(np.int16): -32768,
         np.dtype(np.int32): -(2**31)}
_QMAX = {np.dtype(np.int8): 127, np.dtype(np.uint8): 255, np.dtype(np.int16): 32767,
         np.dtype(np.int32): 2**31 - 1}


def activation_range(node: Node, activation: int, output: Operand) -> tuple[int, int]:
    """The quantized output range ``[lo, hi]`` of a fused activation, as TFLite Micro computes
    it (CalculateActivationRangeQuantized): the type's range narrowed to the activation's
    interval, with 0, 6 and ±1 quantized by ``round(x / scale) + zero_point`` in float32."""
    if output.dtype not in _QMIN or output.scale is None:
        unsupported(node, f"{output.name!r} of type {output.type_name} has no quantized range")
    qmin, qmax = _QMIN[output.dtype], _QMAX[output.dtype]
    scale, zero = output.scale_value, output.zero_value

    def q(x: float) -> int:  # float32 arithmetic, as TfLiteRound(f / scale) with float scale
        return zero + int(_round_half_away(float(np.float32(x) / np.float32(scale))))

    if activation == ActivationFunctionType.NONE:
        return qmin, qmax
    if activation == ActivationFunctionType.RELU:
        return max(qmin, q(0.0)), qmax
    if activation == ActivationFunctionType.RELU6:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == ActivationFunctionType.RELU_N1_TO_1:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    unsupported(node, f"fused activation {ActivationFunctionType(activation).name}")


def float_activation(node: Node, activation: int) -> tuple[float, float]:
    """The float output range of a fused activation (CalculateActivationRange)."""
    inf = float("inf")
    ranges = {ActivationFunctionType.NONE: (-inf, inf), ActivationFunctionType.RELU: (0.0, inf),
              ActivationFunctionType.RELU6: (0.0, 6.0),
              ActivationFunctionType.RELU_N1_TO_1: (-1.0, 1.0)}
    if activation not in ranges:
        unsupported(node, f"fused activation {ActivationFunctionType(activation).name}")
    return ranges[ActivationFunctionType(activation)]


def _round_half_away(x: float) -> float:
    """C's ``round``: halves away from zero."""
    return float(np.sign(x) * np.floor(abs(x) + 0.5))

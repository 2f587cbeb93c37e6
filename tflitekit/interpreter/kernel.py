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

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, TypeVar

import numpy as np

from ..errors import UnsupportedOperatorError
from ..ir import dtypes
from ..options import ActivationFunctionType, BuiltinOperator, Table, TensorType
from .fixedpoint import round_half_away
from .node import Array, Node, Operand

__all__ = ["Kernel", "Registry", "UnaryParams", "activation_range", "expect_arity", "expect_types",
           "float_activation", "options", "refusal", "run_unary", "unary", "unsupported"]

T = TypeVar("T", bound=Table)


@dataclass(frozen=True)
class Kernel:
    """``prepare(node) -> params`` and ``run(params, arrays) -> outputs`` (module docstring)."""

    prepare: Callable[[Node], Any]
    run: Callable[[Any, Sequence[Array | None]], list[Array]]


Registry = Mapping[BuiltinOperator, Kernel]
"""A kernel family's table: one kernel per operator it implements."""


def unsupported(node: Node, why: str) -> NoReturn:
    """Refuse ``node`` in ``prepare``, saying why (the message names the node first)."""
    raise UnsupportedOperatorError(f"{node.where or node.name}: {why}")


def refusal(exc: UnsupportedOperatorError, node: Node) -> str:
    """Why ``node`` was refused, without the node's name that :func:`unsupported` puts first
    (for messages that name the operator themselves)."""
    return str(exc).removeprefix(f"{node.where or node.name}: ")


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


def expect_arity(node: Node, inputs: int, outputs: int = 1) -> None:
    """Refuse the node unless it has ``inputs`` inputs and ``outputs`` outputs."""
    if len(node.inputs) != inputs or len(node.outputs) != outputs:
        unsupported(node, f"{len(node.inputs)} inputs and {len(node.outputs)} outputs, "
                          f"expected {inputs} and {outputs}")


def unary(node: Node) -> tuple[Operand, Operand, tuple[int, ...]]:
    """The input and output of an element-wise operator with one of each, and the shape of
    one output sample: the output's own, or the input's when the output has no shape (as in
    a model being folded)."""
    expect_arity(node, 1)
    source, result = node.input(0), node.outputs[0]
    if result.dtype is None:
        unsupported(node, f"output {result.name!r} has type {result.type_name}")
    if not result.shape and source.shape:
        return source, result, source.shape
    if math.prod(source.shape) != math.prod(result.shape):
        unsupported(node, f"input shape {list(source.shape)} and output shape "
                          f"{list(result.shape)} hold different numbers of elements")
    return source, result, result.shape


class UnaryParams(Protocol):
    """The params of a kernel with one input and one output: they compute the batched output
    from the batched input, and know the output's sample shape."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __call__(self, x: Array) -> Array: ...


def run_unary(params: UnaryParams, arrays: Sequence[Array | None]) -> list[Array]:
    """``run`` of a kernel whose ``prepare`` returns :class:`UnaryParams`: the batched output,
    in the output's sample shape."""
    x = arrays[0]
    assert x is not None
    return [params(x).reshape((x.shape[0], *params.shape))]


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
        return zero + int(round_half_away(np.float32(x) / np.float32(scale)))

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
    """The float output range of a fused activation (CalculateActivationRange): the widest is
    float32's finite range, so infinities clamp to its largest value."""
    big = float(np.finfo(np.float32).max)
    ranges = {ActivationFunctionType.NONE: (-big, big), ActivationFunctionType.RELU: (0.0, big),
              ActivationFunctionType.RELU6: (0.0, 6.0),
              ActivationFunctionType.RELU_N1_TO_1: (-1.0, 1.0)}
    if activation not in ranges:
        unsupported(node, f"fused activation {ActivationFunctionType(activation).name}")
    return ranges[ActivationFunctionType(activation)]


"""The reference kernels, one module per operator family, each with its ``KERNELS`` table.

:data:`KERNELS` merges the families' tables; an operator belongs to exactly one family.
:data:`CUSTOM_KERNELS` holds the custom operators' kernels, by custom code.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...options import BuiltinOperator
from ..kernel import Kernel, Registry
from . import (
    activations,
    binary,
    conv,
    decode,
    fully_connected,
    movement,
    nonlinear,
    pooling,
    quantize,
    reduce,
    resize,
    shapes,
    slicing,
    softmax,
)

__all__ = ["CONSTANT_OUTPUTS", "CUSTOM_KERNELS", "KERNELS"]

_FAMILIES = (activations, binary, conv, fully_connected, movement, nonlinear, pooling, quantize,
             reduce, resize, shapes, slicing, softmax)


def _merge() -> dict[BuiltinOperator, Kernel]:
    merged: dict[BuiltinOperator, Kernel] = {}
    for family in _FAMILIES:
        table: Registry = family.KERNELS
        for code, kernel in table.items():
            if code in merged:
                raise RuntimeError(f"{code.name} has kernels in two families")
            merged[code] = kernel
    return merged


KERNELS: Registry = _merge()
CUSTOM_KERNELS: Mapping[str, Kernel] = decode.CUSTOM_KERNELS

#: Custom operators whose outputs are constants when their inputs are (decoders of compressed
#: weights): the interpreter computes them once, when it is made, so that the kernels reading
#: them see constant weights, as TFLite Micro's kernels do after its DECODE.
CONSTANT_OUTPUTS: frozenset[str] = frozenset(decode.CUSTOM_KERNELS)

"""An interpreter backend that runs a model as xcore.ai would: :class:`XS3Backend`.

It takes xmos' custom operators (``XC_*``, what ``xcore-opt`` emits) with their kernels of
:data:`tflitekit.xs3.xc.XC_KERNELS`, and, lowering (the default), int8 CONV_2D,
DEPTHWISE_CONV_2D, FULLY_CONNECTED and AVERAGE_POOL_2D with parameters derived by our own method
(:mod:`tflitekit.xs3.lowering`), run in their whole-array form (bit-identical to the instruction
programs). It declines everything else with the reason, so the interpreter's plan shows why an
operator runs on the reference kernels. :func:`instruction_counts` gives the instructions the
XS3 program of a node executes per sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tflitekit.errors import UnsupportedOperatorError
from tflitekit.interpreter import Interpreter
from tflitekit.interpreter.backend import Backend, Prepared, ReferenceBackend
from tflitekit.interpreter.kernel import Kernel, unsupported
from tflitekit.interpreter.node import Array, Node, Rounding
from tflitekit.ir import Model
from tflitekit.xs3 import xc
from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.isa import Counting
from tflitekit.xs3.lowering import LOWERED_OPCODES, Lowered, lower_node
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.xc.conv2d import Conv2dParams, emulate

__all__ = ["LOWERED", "XS3Backend", "instruction_counts", "is_xcore_model", "program_counts",
           "xs3_interpreter"]


def _run_lowered(layer: Lowered, arrays: Sequence[Array | None]) -> list[Array]:
    x = arrays[0]
    assert x is not None
    return [layer.compute(x)]


LOWERED = Kernel(lower_node, _run_lowered)
"""The kernel of a lowered layer: ``prepare`` lowers the node, ``run`` is the fast path."""


class XS3Backend(Backend):
    """XC operators on their XS3 kernels and, with ``lower``, the int8 layers of
    :data:`~tflitekit.xs3.lowering.LOWERED_OPCODES` on ours (module docstring)."""

    name = "xs3"

    def __init__(self, *, lower: bool = True) -> None:
        self.lower = lower

    def __reduce__(self) -> tuple[Any, ...]:
        return (_backend, (self.lower,))

    def prepare(self, node: Node) -> Prepared:
        return Prepared(*_kernel(node, self.lower))


def _backend(lower: bool) -> XS3Backend:
    return XS3Backend(lower=lower)


def _kernel(node: Node, lower: bool) -> tuple[Kernel, Any]:
    """The kernel that runs ``node`` on XS3 and its params, or the refusal."""
    if node.custom_code is not None:
        kernel = xc.XC_KERNELS.get(node.custom_code)
        if kernel is None:
            unsupported(node, f"no XS3 kernel for the custom operator {node.custom_code}")
        return kernel, kernel.prepare(node)
    if node.name not in LOWERED_OPCODES:
        unsupported(node, f"{node.name} has no XS3 kernel (lowered: "
                          f"{', '.join(LOWERED_OPCODES)})")
    if not lower:
        unsupported(node, "lowering is off (XS3Backend(lower=False))")
    return LOWERED, lower_node(node)


def xs3_interpreter(model: Model, *, lower: bool | None = None,
                    rounding: Rounding = "double") -> Interpreter:
    """An interpreter running ``model`` on :class:`XS3Backend` where it can, on the reference
    kernels elsewhere. ``lower`` defaults to lowering a plain model and not an xcore-opt one
    (:func:`is_xcore_model`): what xcore-opt leaves as builtins, xmos' runtime runs on TFLite's
    reference kernels, so lowering them would not be what the device computes."""
    if lower is None:
        lower = not is_xcore_model(model)
    return Interpreter(model, backends=[XS3Backend(lower=lower), ReferenceBackend()],
                       rounding=rounding)


def is_xcore_model(model: Model) -> bool:
    """True when the main subgraph has an ``XC_*`` operator (made by xcore-opt)."""
    return any((op.opcode.custom_code or "").startswith("XC_") for op in model.main.operators)


_COUNTS: dict[tuple[Any, ...], Counting] = {}


def program_counts(params: Any) -> Counting | None:
    """Per-sample instruction counts of the XS3 program of a layer prepared by
    :class:`XS3Backend` (a lowered layer, or an ``XC_conv2d_v2``), None for any other. They
    depend on the layer's geometry and on what the programs branch on (the transform's form,
    a negative group shift, the accumulators' start, the clamp), never on values: the program
    runs once per such key, on a one-sample engine with a zero input, and a copy is returned."""
    if isinstance(params, Lowered):
        t, shape = params.transform, params.input_shape
        key: tuple[Any, ...] = ("lowered", params.kind, params.weights.shape, params.window,
                                shape, params.clamp, params.start is None, t.grouped,
                                bool(t.grouped and t.initial_shift[0] < 0))

        def program(vpu: BatchVPU) -> None:
            params.run(vpu, np.zeros((1, *shape), np.int8))
    elif isinstance(params, Conv2dParams):
        t, size = params.transform, math.prod(params.window.input)
        key = ("XC_conv2d_v2", params.kind, params.window, params.weights.shape, t.grouped,
               bool(t.grouped and t.initial_shift[0] < 0))

        def program(vpu: BatchVPU) -> None:
            emulate(params, vpu, np.zeros((1, size), np.int8))
    else:
        return None
    if key not in _COUNTS:
        vpu = BatchVPU(Memory(1))
        program(vpu)
        _COUNTS[key] = vpu
    copy = Counting()
    copy.counts.update(_COUNTS[key].counts)
    return copy


def instruction_counts(node: Node, *, lower: bool = True) -> Counting | None:
    """Per-sample instruction counts of the XS3 program that runs ``node`` (under
    ``XS3Backend(lower=lower)``, :func:`program_counts`), None when it runs on the reference
    kernels or its program is not modelled."""
    try:
        _, params = _kernel(node, lower)
    except UnsupportedOperatorError:
        return None
    return program_counts(params)

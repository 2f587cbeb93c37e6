"""An emulator of xcore.ai's XS3 vector unit and the int8 kernels xmos runs on it.

Two engines share one instruction set: :class:`VPU` executes one instruction at a time on
Python integers (the instruction-level model), :class:`BatchVPU` executes the same instructions
over numpy arrays with a leading batch. Kernels are instruction programs that run on either
engine and count what they execute; :func:`estimate` turns counts into cycles.
"""

from __future__ import annotations

from .backend import XS3Backend, instruction_counts, xs3_interpreter
from .batch_vpu import BatchVPU
from .bso import BSOParams, bso_params, fully_connected_bso
from .conv import conv2d, depthwise_conv2d, fully_connected
from .estimate import CycleModel, Estimate, estimate
from .isa import Mode, ModeInfo, Scalar, VectorUnit, mode_info
from .lowering import LOWERED_OPCODES, Lowered, lower, lower_node
from .memory import AddressError, Memory
from .output_transform import (
           OutputTransform,
           derive_transform,
           output_transform,
           tflite_multipliers,
)
from .vpu import VPU

__all__ = ["LOWERED_OPCODES", "VPU", "AddressError", "BSOParams", "BatchVPU", "CycleModel",
           "Estimate", "Lowered", "Memory", "Mode", "ModeInfo", "OutputTransform", "Scalar",
           "VectorUnit", "XS3Backend", "bso_params", "conv2d", "depthwise_conv2d",
           "derive_transform", "estimate", "fully_connected", "fully_connected_bso",
           "instruction_counts", "lower", "lower_node", "mode_info", "output_transform",
           "tflite_multipliers", "xs3_interpreter"]

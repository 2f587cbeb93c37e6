"""An emulator of xcore.ai's XS3 vector unit, the int8 kernels xmos runs on it, and a backend
that runs models as xcore.ai would.

Two engines share one instruction set: :class:`VPU` executes one instruction at a time on
Python integers (the instruction-level model), :class:`BatchVPU` executes the same instructions
over numpy arrays with a leading batch. Kernels are instruction programs that run on either
engine and count what they execute; :func:`estimate` turns counts into cycles.

:func:`xs3_interpreter` runs a model on :class:`XS3Backend`: an xcore-opt model's ``XC_*``
operators (:mod:`tflitekit.xs3.xc`, bit-exact with xmos' host interpreter) and, in a plain model,
int8 convolutions, fully connected layers and average pools lowered by our own derivation,
batched; :func:`compare` measures per layer how far that is from TFLite Micro (and xcore-opt's
own conversion from it), :func:`profile` what each layer costs on the device.
"""

from __future__ import annotations

from .backend import XS3Backend, instruction_counts, is_xcore_model, xs3_interpreter
from .batch_vpu import BatchVPU
from .bso import BSOParams, bso_params, fully_connected_bso
from .compare import Comparison, compare
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
from .profile import Profile, profile
from .vpu import VPU

__all__ = ["LOWERED_OPCODES", "VPU", "AddressError", "BSOParams", "BatchVPU", "Comparison",
           "CycleModel", "Estimate", "Lowered", "Memory", "Mode", "ModeInfo", "OutputTransform",
           "Profile", "Scalar", "VectorUnit", "XS3Backend", "bso_params", "compare", "conv2d",
           "depthwise_conv2d", "derive_transform", "estimate", "fully_connected",
           "fully_connected_bso", "instruction_counts", "is_xcore_model", "lower", "lower_node",
           "mode_info", "output_transform", "profile", "tflite_multipliers", "xs3_interpreter"]

"""XC_conv2d_v2 (work in progress)."""

from __future__ import annotations

from tflitekit.interpreter.kernel import Kernel

KERNELS: dict[str, Kernel] = {}

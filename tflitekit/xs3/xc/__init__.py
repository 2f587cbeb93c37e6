"""xmos' custom operators (``XC_*``, what ``xcore-opt`` emits) as interpreter kernels, bit-exact
with xmos' host interpreter: :data:`XC_KERNELS` by custom code."""

from __future__ import annotations

from collections.abc import Mapping

from tflitekit.interpreter.kernel import Kernel

from .conv2d import KERNELS as _CONV2D
from .ops import KERNELS as _OPS

__all__ = ["XC_KERNELS"]

XC_KERNELS: Mapping[str, Kernel] = {**_CONV2D, **_OPS}

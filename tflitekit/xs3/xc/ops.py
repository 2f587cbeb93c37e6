"""The XC operators other than XC_conv2d_v2 and XC_maxpool2d, by custom code: byte movements
(:mod:`.movement`), element-wise arithmetic (:mod:`.arith`) and reductions (:mod:`.reduce`)."""

from __future__ import annotations

from tflitekit.interpreter.kernel import Kernel

from .arith import KERNELS as _ARITH
from .movement import KERNELS as _MOVEMENT
from .reduce import KERNELS as _REDUCE

KERNELS: dict[str, Kernel] = {**_MOVEMENT, **_ARITH, **_REDUCE}

"""A random int8 FULLY_CONNECTED layer for the XS3 kernel tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tflitekit.ir import Quantization, Tensor
from tflitekit.options import BuiltinOperator, FullyConnectedOptions
from tflitekit.testing import single_op
from tflitekit.xs3.output_transform import tflite_multipliers

Array = npt.NDArray[Any]


def random_fc_layer(rng: np.random.Generator, channels: int, depth: int, per_channel: bool
                    ) -> tuple[Any, Array, Array, int, Array, int]:
    """A random int8 FULLY_CONNECTED model with sane scales; its weights, bias, zero points and
    TFLite's multipliers."""
    w = np.clip(np.rint(rng.normal(0, 40, (channels, depth))), -127, 127).astype(np.int8)
    s_in, z_in, z_out = 0.02, int(rng.integers(-128, 128)), int(rng.integers(-100, 100))
    s_w = rng.uniform(0.002, 0.02, channels) if per_channel else np.full(channels, 0.01)
    s_out = float(s_in * s_w.mean() * 28 * np.sqrt(depth) * rng.uniform(0.5, 2))
    bias = rng.integers(-3000, 3000, channels).astype(np.int32)
    wq = (Quantization(s_w.astype(np.float32), np.zeros(channels, np.int64), quantized_dimension=0)
          if per_channel else Quantization(0.01, 0))
    model = single_op(BuiltinOperator.FULLY_CONNECTED, [
        Tensor("x", (1, depth), "int8", quantization=Quantization(s_in, z_in)),
        Tensor.constant("w", w, quantization=wq),
        Tensor.constant("b", bias, quantization=Quantization(
            (s_in * s_w).astype(np.float32), np.zeros(channels, np.int64)))],
        [Tensor("y", (1, channels), "int8", quantization=Quantization(s_out, z_out))],
        FullyConnectedOptions())
    mult = tflite_multipliers(np.float32(s_in), np.float32(s_w), np.float32(s_out))
    return model, w, bias, z_in, mult, z_out

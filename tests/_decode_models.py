"""Small models around ``TFLM_DECODE``, for the decode kernel and arena tests."""

from __future__ import annotations

import numpy as np

import tflitekit
from tflitekit import Quantization, Tensor
from tflitekit.codecs import tflm
from tflitekit.options import AddOptions, BuiltinOperator

Pair = tuple[np.ndarray, Quantization | None, bytes, bytes]
"""The decoded values, their quantization, the encoded bytes and the ancillary data."""


def decode_model(*pairs: Pair) -> tflitekit.Model:
    """x -> ADD(x, x) -> y (graph output 0), beside one TFLM_DECODE of every pair, its outputs
    the next graph outputs; loaded back from its bytes."""
    m = tflitekit.Model("decode")
    g = m.add_subgraph("main")
    q = Quantization(0.5, 0)
    x = g.add_input(Tensor("x", (1, 4), "int8", quantization=q))
    y = g.add_output(Tensor("y", (1, 4), "int8", quantization=q))
    g.add_operator(BuiltinOperator.ADD, [x, x], [y], AddOptions())
    inputs, outputs = [], []
    for k, (values, quant, encoded, ancillary) in enumerate(pairs):
        inputs += [Tensor.constant(f"w{k}", np.frombuffer(encoded, np.uint8)),
                   Tensor.constant(f"w{k}_ancillary", np.frombuffer(ancillary, np.uint8))]
        outputs.append(g.add_output(Tensor(f"w{k}_decoded", values.shape, values.dtype,
                                           quantization=quant)))
    g.add_operator(tflm.DECODE, inputs, outputs)
    return tflitekit.load(m.to_bytes())

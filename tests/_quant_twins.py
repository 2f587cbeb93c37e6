"""Builder-made float / int8 twins for the quantization error tests (library and CLI).

The twins: ``x (1, 2) -> FULLY_CONNECTED -> y (1, 2)`` [``-> RELU``], float32, and int8 with
the input at scale 0.1, weights per channel at scales (0.01, 0.02), biases at 0.1 times those,
and the output at scale 0.25:

    W_f = [[1.004, -0.5], [0.3, 0.612]]   W_q = [[100, -50], [15, 31]]   (real 1.00 ... 0.62)
    b_f = [0.0134, -0.5]                  b_q = [13, -250]               (real 0.013, -0.5)

On x = [0.3, -0.2] (exact at scale 0.1) the float output is y_f = [0.4146, -0.5324]; the
quantized accumulator is [0.413, -0.534] in real terms, which the output scale rounds to
[0.5, -0.5].
"""

from __future__ import annotations

import numpy as np

from tflitekit import Model
from tflitekit.ir import Quantization, Tensor
from tflitekit.options import (
    ActivationFunctionType,
    BuiltinOperator,
    FullyConnectedOptions,
    ReshapeOptions,
)

W_F = [[1.004, -0.5], [0.3, 0.612]]
W_Q = [[100, -50], [15, 31]]
W_SCALES = [0.01, 0.02]
B_F = [0.0134, -0.5]
B_Q = [13, -250]
X = np.array([[0.3, -0.2]], np.float32)
Y_F = [0.3 * 1.004 + 0.2 * 0.5 + 0.0134, 0.3 * 0.3 - 0.2 * 0.612 - 0.5]
Y_Q = [0.5, -0.5]


def fc_options(relu: bool) -> FullyConnectedOptions:
    act = ActivationFunctionType.RELU if relu else ActivationFunctionType.NONE
    return FullyConnectedOptions(fused_activation_function=act)


def float_twin(*, relu_op: bool = False, reshape: bool = False, units: int = 2,
                w: list[list[float]] | None = None) -> Model:
    m = Model("float twin")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 2), "float32"))
    weights = np.array(w or W_F, np.float32)
    bias = np.array(B_F, np.float32)
    if units == 3:
        weights = np.vstack([weights, np.full((1, 2), 0.1, np.float32)])
        bias = np.append(bias, np.float32(0.0))
    y = Tensor("y", (1, units), "float32")
    g.add_operator(BuiltinOperator.FULLY_CONNECTED,
                   [x, Tensor.constant("w", weights), Tensor.constant("b", bias)], [y],
                   fc_options(False))
    if relu_op:
        r = Tensor("relu", (1, units), "float32")
        g.add_operator(BuiltinOperator.RELU, [y], [r])
        y = r
    if reshape:
        r = Tensor("reshaped", (1, units), "float32")
        g.add_operator(BuiltinOperator.RESHAPE,
                       [y, Tensor.constant("shape", np.array([1, units], np.int32))], [r],
                       ReshapeOptions(new_shape=[1, units]))
        y = r
    g.add_output(y)
    return m


def quantized_twin(*, fused_relu: bool = False, float_io: bool = False, names: str = "",
                    w: list[list[int]] | None = None) -> Model:
    m = Model("int8 twin")
    g = m.add_subgraph("main")
    x_q = Tensor(names + "x", (1, 2), "int8", quantization=Quantization(0.1, 0))
    if float_io:
        x_f = g.add_input(Tensor("x", (1, 2), "float32"))
        x_q.name = "x_int8"
        g.add_operator(BuiltinOperator.QUANTIZE, [x_f], [x_q])
    else:
        g.add_input(x_q)
    scales = np.array(W_SCALES, np.float32)
    weights = Tensor.constant(names + "w", np.array(w or W_Q, np.int8),
                              quantization=Quantization(scales, [0, 0], quantized_dimension=0))
    bias = Tensor.constant(names + "b", np.array(B_Q, np.int32),
                           quantization=Quantization(np.float32(0.1) * scales, [0, 0]))
    y = Tensor(names + ("y_int8" if float_io else "y"), (1, 2), "int8",
               quantization=Quantization(0.25, 0))
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, [x_q, weights, bias], [y],
                   fc_options(fused_relu))
    if float_io:
        y_f = Tensor("y", (1, 2), "float32")
        g.add_operator(BuiltinOperator.DEQUANTIZE, [y], [y_f])
        y = y_f
    g.add_output(y)
    return m

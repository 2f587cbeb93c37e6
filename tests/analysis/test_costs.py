"""MAC/OP counts per operator (MLTK's conventions), on hand-built operators with hand-computed
counts."""

from __future__ import annotations

import numpy as np
import pytest

from tflitekit import Model, Operator, Tensor
from tflitekit.analysis.costs import CONVENTIONS, Cost, operator_cost
from tflitekit.interpreter.kernels import KERNELS
from tflitekit.options import (
    BatchMatMulOptions,
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    Padding,
    Pool2DOptions,
    ReshapeOptions,
    SoftmaxOptions,
    TransposeConvOptions,
)

Op = BuiltinOperator


def t(shape: tuple[int, ...], dtype: str = "int8", name: str | None = None) -> Tensor:
    return Tensor(name, shape, dtype)


def w(shape: tuple[int, ...], dtype: str = "int8") -> Tensor:
    return Tensor.constant(None, np.zeros(shape, dtype))


def cost(code: Op, inputs: list[Tensor | None], outputs: list[Tensor],
         options: object = None) -> tuple[int, int]:
    c = operator_cost(Operator(code, inputs, outputs, options))  # type: ignore[arg-type]
    return c.macs, c.ops


def test_cost_is_json_ready_and_adds() -> None:
    assert (Cost(2, 5) + Cost(1, 1)).to_json() == {"macs": 3, "ops": 6}


def test_conv_2d() -> None:
    # 3x3 filter over 3 input channels, 4 output channels, 4x4 output: 3*3*3 * 4*4*4 MACs.
    x, f, b, y = t((1, 8, 8, 3)), w((4, 3, 3, 3)), w((4,), "int32"), t((1, 4, 4, 4))
    opts = Conv2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2)
    assert cost(Op.CONV_2D, [x, f, b], [y], opts) == (1728, 2 * 1728 + 64)
    assert cost(Op.CONV_2D, [x, f], [y], opts) == (1728, 2 * 1728)
    # MLTK counts the bias add whenever the operator has the slot, even marked absent.
    assert cost(Op.CONV_2D, [x, f, None], [y], opts) == (1728, 2 * 1728 + 64)


def test_depthwise_conv_2d() -> None:
    # Multiplier 2 over 2 channels: 3*3 * 2*2 * 6*6 MACs; the bias adds one op per output.
    x, f, b, y = t((1, 6, 6, 2)), w((1, 3, 3, 4)), w((4,), "int32"), t((1, 6, 6, 4))
    opts = DepthwiseConv2DOptions(stride_w=1, stride_h=1, depth_multiplier=2)
    assert cost(Op.DEPTHWISE_CONV_2D, [x, f, b], [y], opts) == (1296, 2592 + 144)


def test_fully_connected() -> None:
    x, f, b, y = t((1, 10)), w((5, 10)), w((5,), "int32"), t((1, 5))
    assert cost(Op.FULLY_CONNECTED, [x, f, b], [y]) == (50, 105)
    assert cost(Op.FULLY_CONNECTED, [x, f], [y]) == (50, 100)
    # Rows (the batch) are left out of the MACs but not out of the bias adds, as in MLTK.
    assert cost(Op.FULLY_CONNECTED, [t((3, 10)), f, b], [t((3, 5))]) == (50, 115)
    # An input TFLite flattens: the depth is the weights' (200), not the input's last dim (8).
    assert cost(Op.FULLY_CONNECTED, [t((1, 5, 5, 8)), w((10, 200))], [t((1, 10))]) == (2000,
                                                                                       4000)


def test_micro_speech_shape() -> None:
    """TFLM's micro_speech: 49x40x1 → CONV 8@10x8 stride 2 → RESHAPE → FC 4 → SOFTMAX:
    MLTK prints 336.000 k MACs and 680.012 k OPs."""
    conv = cost(Op.CONV_2D, [t((1, 49, 40, 1)), w((8, 10, 8, 1)), w((8,), "int32")],
                [y := t((1, 25, 20, 8))],
                Conv2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2))
    reshape = cost(Op.RESHAPE, [y, w((2,), "int32")], [flat := t((1, 4000))],
                   ReshapeOptions(new_shape=[1, 4000]))
    fc = cost(Op.FULLY_CONNECTED, [flat, w((4, 4000)), w((4,), "int32")], [logits := t((1, 4))])
    softmax = cost(Op.SOFTMAX, [logits], [t((1, 4))], SoftmaxOptions(beta=1.0))
    assert conv == (320_000, 644_000)
    assert reshape == (0, 4000)
    assert fc == (16_000, 32_004)
    assert softmax == (0, 8)
    assert sum(c[0] for c in (conv, reshape, fc, softmax)) == 336_000
    assert sum(c[1] for c in (conv, reshape, fc, softmax)) == 680_012


def test_pooling() -> None:
    opts = Pool2DOptions(padding=Padding.VALID, stride_w=2, stride_h=2, filter_width=2,
                         filter_height=3)
    x, y = t((1, 6, 4, 3)), t((1, 2, 2, 3))
    assert cost(Op.AVERAGE_POOL_2D, [x], [y], opts) == (0, 12 * (6 + 1))
    assert cost(Op.MAX_POOL_2D, [x], [y], opts) == (0, 12 * 6)
    assert cost(Op.MAX_POOL_2D, [x], [y]) == (0, 0)  # no options: no window to count


def test_elementwise() -> None:
    a, b = t((1, 4, 4, 2)), t((1, 1, 1, 2))
    assert cost(Op.ADD, [a, a], [t((1, 4, 4, 2))]) == (0, 32)
    assert cost(Op.ADD, [b, a], [t((1, 4, 4, 2))]) == (0, 2)  # MLTK reads the first input
    assert cost(Op.SUB, [a, b], [t((1, 4, 4, 2))]) == (0, 32)
    assert cost(Op.MUL, [b, a], [t((1, 4, 4, 2))]) == (0, 32)  # MUL reads the output
    assert cost(Op.MAXIMUM, [b, a], [t((1, 4, 4, 2))]) == (0, 32)
    assert cost(Op.ADD, [t(()), t(())], [t(())]) == (0, 1)  # a scalar is one element


def test_activations_and_quantization() -> None:
    x, y = t((2, 10)), t((2, 10))  # the batch of 2 is left out
    for code in (Op.RELU, Op.RELU6, Op.LOGISTIC, Op.TANH, Op.LEAKY_RELU, Op.HARD_SWISH):
        assert cost(code, [x], [y]) == (0, 20), code
    assert cost(Op.PRELU, [x, w((10,))], [y]) == (0, 20)
    assert cost(Op.SOFTMAX, [x], [y]) == (0, 20)
    assert cost(Op.QUANTIZE, [t((1, 10), "float32")], [y]) == (0, 40)
    assert cost(Op.DEQUANTIZE, [x], [t((2, 10), "float32")]) == (0, 20)


def test_data_movement() -> None:
    x = t((2, 3, 4))
    # A reshape moves every element, the batch included; so do SQUEEZE and EXPAND_DIMS.
    assert cost(Op.RESHAPE, [x, w((2,), "int32")], [t((2, 12))]) == (0, 24)
    assert cost(Op.RESHAPE, [x], [x]) == (0, 0)  # in place: nothing moves
    assert cost(Op.SQUEEZE, [t((1, 1, 5))], [t((1, 5))]) == (0, 5)
    assert cost(Op.EXPAND_DIMS, [t((1, 5)), w((), "int32")], [t((1, 5, 1))]) == (0, 5)
    assert cost(Op.PAD, [t((1, 4, 4, 2)), w((4, 2), "int32")], [t((1, 6, 6, 2))]) == (0, 432)
    assert cost(Op.PADV2, [t((1, 4)), w((2, 2), "int32"), w(())], [t((1, 6))]) == (0, 36)
    for code in (Op.CONCATENATION, Op.PACK, Op.TRANSPOSE, Op.GATHER, Op.STRIDED_SLICE,
                 Op.RESIZE_BILINEAR, Op.MEAN, Op.SUM, Op.CAST, Op.SHAPE):
        assert cost(code, [x, x], [t((4, 3, 4))]) == (0, 0), code
    assert cost(Op.SPLIT, [w((), "int32"), x], [t((1, 3, 4)), t((1, 3, 4))]) == (0, 0)


def test_transpose_conv() -> None:
    # MLTK's Keras Conv2DTranspose: kh*kw*in_c per output element (3*3*4 * 8*8*2).
    shape, f, x, y = w((4,), "int32"), w((2, 3, 3, 4)), t((1, 4, 4, 4)), t((1, 8, 8, 2))
    opts = TransposeConvOptions(padding=Padding.SAME, stride_w=2, stride_h=2)
    assert cost(Op.TRANSPOSE_CONV, [shape, f, x], [y], opts) == (4608, 9216)
    assert cost(Op.TRANSPOSE_CONV, [shape, f, x, w((2,), "int32")], [y], opts) == (4608,
                                                                                    9216 + 128)


def test_batch_matmul() -> None:
    # [1, 3, 4] x [1, 4, 5]: depth 4 per each of the 3*5 outputs; with adj_x the depth is dim -2.
    y = t((1, 3, 5), "float32")
    assert cost(Op.BATCH_MATMUL, [t((1, 3, 4)), t((1, 4, 5))], [y]) == (60, 120)
    assert cost(Op.BATCH_MATMUL, [t((1, 4, 3)), t((1, 4, 5))], [y],
                BatchMatMulOptions(adj_x=True)) == (60, 120)


def test_unknown_operators_and_shapes_cost_nothing() -> None:
    x, y = t((1, 4)), t((1, 4))
    assert cost(Op.UNIDIRECTIONAL_SEQUENCE_LSTM, [x], [y]) == (0, 0)  # not in the table
    assert operator_cost(Operator("MyCustomOp", [x], [y])) == Cost(0, 0)
    assert cost(Op.CONV_2D, [x, w((1, 1, 1, 1))], [y]) == (0, 0)  # rank too small
    five = t((1, 2, 2, 2, 2))
    assert cost(Op.CONV_2D, [five, w((1, 1, 1, 1))], [five]) == (0, 0)  # rank too large
    assert cost(Op.ADD, [t(None), x], [y]) == (0, 0)  # type: ignore[arg-type]  # no shape
    assert cost(Op.FULLY_CONNECTED, [x, None], [y]) == (0, 0)  # absent weights
    assert cost(Op.RELU, [x], []) == (0, 0)  # no output
    assert cost(Op.DEPTHWISE_CONV_2D, [t((1, 2, 2, 0)), w((1, 1, 1, 0))], [t((1, 2, 2, 0))]) \
        == (0, 0)


def test_table_covers_the_interpreter_and_documents_every_rule() -> None:
    assert set(KERNELS) <= set(CONVENTIONS)
    for code, convention in CONVENTIONS.items():
        assert convention.source in ("mltk", "nearest", "none"), code
        assert convention.rule, code
        if convention.source == "none":
            assert convention.count(Operator(code)) == Cost(0, 0), code


@pytest.mark.parametrize("code", sorted(KERNELS, key=lambda c: c.name))
def test_every_interpreter_operator_counts_without_error(code: Op) -> None:
    # Operands of every rank the table reads: an absent or odd operand never raises.
    m = Model()
    g = m.add_subgraph()
    ins: list[Tensor | None] = [t((1, 2, 2, 2)), w((2, 1, 1, 2)), None, t((1, 2, 2, 2))]
    op = g.add_operator(code, ins, [t((1, 2, 2, 2))])
    assert isinstance(operator_cost(op), Cost)

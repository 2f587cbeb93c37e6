"""Per-operator summary rows: operands, MLTK-style options, MACs/OPs and bytes, hand-computed on a
built model; on the corpus, rows against the costs table, the ROM and MLTK's options text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from _mltk import Mltk, load
from _scripts import load_script
from conftest import corpus_dir

import tflitekit
from tflitekit import Model, Quantization, Tensor
from tflitekit.analysis.costs import operator_cost
from tflitekit.analysis.layers import Layer, OperandQuantization, layers, mltk_options
from tflitekit.analysis.rom import rom
from tflitekit.options import (
    ActivationFunctionType,
    AddOptions,
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Padding,
    Pool2DOptions,
    ReshapeOptions,
    SoftmaxOptions,
    TransposeConvOptions,
)

Op = BuiltinOperator
Act = ActivationFunctionType
keras_script = load_script("make_keras_models")


def q(scale: float = 0.1, zero: int = 0) -> Quantization:
    return Quantization(scale, zero)


def const(name: str, shape: tuple[int, ...], dtype: type = np.int8,
          channels: int = 0, axis: int = 0) -> Tensor:
    quant = (Quantization(np.full(channels, 0.01), np.zeros(channels, np.int64),
                          quantized_dimension=axis) if channels else q(0.01))
    return Tensor.constant(name, np.zeros(shape, dtype), quantization=quant)


def act(name: str, shape: tuple[int, ...]) -> Tensor:
    return Tensor(name, shape, "int8", quantization=q(0.25, 3))


def build() -> Model:
    """x 1x8x8x3 → CONV 4@3x3/2 relu → DEPTHWISE x2 relu6 (dilation 2) → AVG and MAX pool → ADD
    → RESHAPE → FC 10 (bias) → FC 4 (bias slot absent) → SOFTMAX."""
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 8, 8, 3), "int8", quantization=q(0.5, -1)))
    y1, y2 = act("y1", (1, 4, 4, 4)), act("y2", (1, 4, 4, 8))
    g.add_operator(Op.CONV_2D, [x, const("conv/w", (4, 3, 3, 3), channels=4),
                                const("conv/b", (4,), np.int32, channels=4)], [y1],
                   Conv2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2,
                                 fused_activation_function=Act.RELU))
    g.add_operator(Op.DEPTHWISE_CONV_2D,
                   [y1, const("dw/w", (1, 3, 3, 8), channels=8, axis=3),
                    const("dw/b", (8,), np.int32, channels=8)], [y2],
                   DepthwiseConv2DOptions(padding=Padding.SAME, stride_w=1, stride_h=1,
                                          depth_multiplier=2, dilation_w_factor=2,
                                          dilation_h_factor=2,
                                          fused_activation_function=Act.RELU6))
    avg, mx = act("avg", (1, 2, 2, 8)), act("max", (1, 2, 2, 8))
    g.add_operator(Op.AVERAGE_POOL_2D, [y2], [avg], Pool2DOptions(
        padding=Padding.VALID, stride_w=2, stride_h=2, filter_width=2, filter_height=2))
    g.add_operator(Op.MAX_POOL_2D, [y2], [mx], Pool2DOptions(
        padding=Padding.SAME, stride_w=2, stride_h=2, filter_width=3, filter_height=2))
    s, flat = act("sum", (1, 2, 2, 8)), act("flat", (1, 32))
    g.add_operator(Op.ADD, [avg, mx], [s], AddOptions())
    g.add_operator(Op.RESHAPE, [s, const("shape", (2,), np.int32)], [flat],
                   ReshapeOptions(new_shape=[1, 32]))
    f1, f2 = act("fc1", (1, 10)), act("fc2", (1, 4))
    g.add_operator(Op.FULLY_CONNECTED, [flat, const("fc1/w", (10, 32)),
                                        const("fc1/b", (10,), np.int32)], [f1],
                   FullyConnectedOptions())
    g.add_operator(Op.FULLY_CONNECTED, [f1, const("fc2/w", (4, 10)), None], [f2],
                   FullyConnectedOptions())
    y = g.add_output(Tensor("probs", (1, 4), "float32"))
    g.add_operator(Op.SOFTMAX, [f2], [y], SoftmaxOptions(beta=1.0))
    return m


def test_rows_by_hand() -> None:
    rows = layers(build())
    expected = [
        # opcode, options, macs, ops, weight bytes, activation bytes
        ("CONV_2D", "Padding:same stride:2x2 activation:relu",
         3 * 3 * 3 * 4 * 4 * 4, 2 * 1728 + 64, 108 + 16, 192 + 64),
        ("DEPTHWISE_CONV_2D",
         "Multiplier:2 padding:same stride:1x1 activation:relu6 dilation:2x2",
         3 * 3 * 2 * 4 * 4 * 4, 2 * 1152 + 128, 72 + 32, 64 + 128),
        ("AVERAGE_POOL_2D", "Padding:valid stride:2x2 filter:2x2 activation:none",
         0, 32 * 5, 0, 128 + 32),
        ("MAX_POOL_2D", "Padding:same stride:2x2 filter:3x2 activation:none",
         0, 32 * 6, 0, 128 + 32),
        ("ADD", "Activation:none", 0, 32, 0, 3 * 32),
        ("RESHAPE", "new_shape=[1,32]", 0, 32, 8, 32 + 32),
        ("FULLY_CONNECTED", "Activation:none", 320, 640 + 10, 320 + 40, 32 + 10),
        ("FULLY_CONNECTED", "Activation:none", 40, 80 + 4, 40, 10 + 4),
        ("SOFTMAX", "beta=1", 0, 8, 0, 4 + 16),
    ]
    assert [(r.opcode, r.options, r.macs, r.ops, r.weight_bytes, r.activation_bytes)
            for r in rows] == expected
    assert [r.index for r in rows] == list(range(9))
    assert {r.version for r in rows} == {1}


def test_operands_and_quantization() -> None:
    conv, dw, *_, fc2, softmax = layers(build())
    x, w, b = conv.inputs
    assert x is not None and w is not None and b is not None
    assert (x.name, x.shape, x.dtype, x.constant, x.bytes) == ("x", (1, 8, 8, 3), "INT8", False,
                                                              192)
    assert x.quantization == OperandQuantization("per-tensor", scale=0.5, zero_point=-1)
    assert w.quantization == OperandQuantization("per-channel", channels=4, axis=0)
    assert (w.constant, w.bytes, b.dtype, b.bytes) == (True, 108, "INT32", 16)
    assert dw.inputs[1] is not None
    assert dw.inputs[1].quantization == OperandQuantization("per-channel", channels=8, axis=3)
    assert fc2.inputs[2] is None
    assert softmax.outputs[0].quantization is None
    assert softmax.outputs[0].bytes == 16
    assert [o.index for o in conv.outputs] == [dw.inputs[0].index]  # type: ignore[union-attr]


def test_json_ready() -> None:
    rows = layers(build())
    data = json.loads(json.dumps([r.to_json() for r in rows]))
    assert data[0]["inputs"][0]["quantization"] == {"kind": "per-tensor", "scale": 0.5,
                                                    "zero_point": -1}
    assert data[0]["inputs"][1]["quantization"] == {"kind": "per-channel", "channels": 4,
                                                    "axis": 0}
    assert data[7]["inputs"][2] is None
    assert data[8]["outputs"][0]["quantization"] is None
    assert set(data[0]) == {"index", "opcode", "version", "inputs", "outputs", "options", "macs",
                            "ops", "weight_bytes", "activation_bytes"}


def test_a_tensor_read_twice_counts_once() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 5), "float32"))
    y = g.add_output(Tensor("y", (1, 5), "float32"))
    g.add_operator(Op.ADD, [x, x], [y], AddOptions(fused_activation_function=Act.RELU_N1_TO_1))
    (row,) = layers(m)
    assert (row.activation_bytes, row.weight_bytes, row.ops) == (40, 0, 5)
    assert row.options == "Activation:relu_n1_to_1"


def test_options_defaults_and_other_operators() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 4, 4, 2)))
    y = g.add_output(Tensor("y", (1, 4, 4, 2)))
    conv = g.add_operator(Op.CONV_2D, [x, const("w", (2, 1, 1, 2))], [y])  # no options table
    tconv = g.add_operator(Op.TRANSPOSE_CONV, [const("s", (4,), np.int32),
                                               const("tw", (2, 1, 1, 2)), x], [y],
                           TransposeConvOptions(padding=Padding.VALID, stride_w=1, stride_h=2))
    relu = g.add_operator(Op.RELU, [x], [y])
    wrong = g.add_operator(Op.ADD, [x, x], [y], SoftmaxOptions(beta=2.0))
    assert mltk_options(conv) == "Padding:same stride:0x0 activation:none"  # schema defaults
    assert mltk_options(tconv) == "Padding:valid stride:1x2"
    tconv.options = TransposeConvOptions(fused_activation_function=Act.RELU)
    assert mltk_options(tconv) == "Padding:same stride:0x0 activation:relu"
    assert mltk_options(relu) == "-"
    assert mltk_options(wrong) == "beta=2"  # a mismatched table is shown as it is
    assert [r.index for r in layers(m)] == [0, 1, 2, 3]


def test_other_subgraphs() -> None:
    m = build()
    body = m.add_subgraph("body")
    a = body.add_input(Tensor("a", (2, 3)))
    b = body.add_output(Tensor("b", (2, 3)))
    body.add_operator(Op.TANH, [a], [b])
    (row,) = layers(m, subgraph=1)
    assert (row.opcode, row.ops, row.activation_bytes) == ("TANH", 6, 48)
    assert [o.index for o in row.inputs if o is not None] == [0]


# -- corpus -------------------------------------------------------------------------------------

#: What our options text may add to MLTK's: a dilation, a transpose convolution's activation.
_EXTRA = re.compile(r"( activation:[a-z0-9_]+)?( dilation:\d+x\d+)?")


def _assert_options_as_mltk(rows: tuple[Layer, ...], path: Path, mltk: Mltk) -> None:
    for row, theirs in zip(rows, mltk.layers(path), strict=True):
        if theirs.options.startswith(("Type=", "BuiltinOptionsType=")):
            continue  # MLTK prints only the options table's type
        ours, text = row.options.lower(), theirs.options.lower()
        assert ours.startswith(text) and _EXTRA.fullmatch(ours[len(text):]), \
            f"{path.name} op {row.index}: {row.options!r} vs MLTK {theirs.options!r}"


@pytest.mark.corpus
def test_corpus_rows(corpus_model: Path) -> None:
    model = tflitekit.load(corpus_model)
    rows = layers(model)
    assert len(rows) == len(model.main.operators)
    for row, op in zip(rows, model.main.operators, strict=True):
        cost = operator_cost(op)
        assert (row.macs, row.ops) == (cost.macs, cost.ops)
        assert row.opcode == op.opcode.name and row.version == op.opcode.version
        assert row.activation_bytes > 0
    # Each layer counts the constants it reads; ROM counts a shared buffer once.
    r = rom(model, corpus_model)
    assert sum(row.weight_bytes for row in rows) >= r.weights_bytes - r.unread_bytes


@pytest.mark.corpus
def test_corpus_options_as_mltk(corpus_model: Path) -> None:
    mltk = load(corpus_dir())
    _assert_options_as_mltk(layers(tflitekit.load(corpus_model)), corpus_model, mltk)


@pytest.mark.corpus
@pytest.mark.parametrize("name", keras_script.model_names())
def test_keras_options_as_mltk(name: str) -> None:
    path = keras_script.default_dir() / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} is missing: make it with scripts/make_keras_models.py")
    _assert_options_as_mltk(layers(tflitekit.load(path)), path, load(corpus_dir()))

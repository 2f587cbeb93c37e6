"""The TFLite Micro arena's persistent tail, replayed per allocation.

Unit tests: tails summed by hand, allocation by allocation, for builder-made models (each step
rounds the tail up to the allocation's alignment). ``tflm`` tests: the same models and one per
modelled operator against TFLite Micro's recording allocator (exact).
"""

from __future__ import annotations

import numpy as np
import pytest

from tflitekit import Model, Tensor
from tflitekit.analysis.arena import Arena, arena
from tflitekit.ir import Quantization
from tflitekit.options import (
    AddOptions,
    ConcatenationOptions,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Padding,
    PadOptions,
    Pool2DOptions,
    ReducerOptions,
    SoftmaxOptions,
    StridedSliceOptions,
)
from tflitekit.options import BuiltinOperator as Op
from tflitekit.testing import single_op

# Host (64-bit wheel, recording allocator): RecordingSingleArenaBufferAllocator 104,
# GreedyMemoryPlanner 72, RecordingMicroAllocator 272, MicroBuiltinDataAllocator 16,
# one SubgraphAllocations 24. target32 (Cortex-M): 36 + 44 + 36 + 8 + 8.
HOST_FIXED = 104 + 72 + 272 + 16 + 24
TARGET32_FIXED = 36 + 44 + 36 + 8 + 8


def up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def q(scale: float = 0.1, zero: int = 0) -> Quantization:
    return Quantization(scale, zero)


def softmax_float() -> Model:
    return single_op(Op.SOFTMAX, [Tensor("x", (1, 10), "float32")],
                     [Tensor("y", (1, 10), "float32")], SoftmaxOptions(beta=1.0))


def softmax_int16() -> Model:
    return single_op(Op.SOFTMAX, [Tensor("x", (1, 4), "int16", quantization=q())],
                     [Tensor("y", (1, 4), "int16", quantization=q(1 / 32768))],
                     SoftmaxOptions(beta=1.0))


def conv_int8() -> Model:
    x = Tensor("x", (1, 4, 4, 2), "int8", quantization=q(0.05, -3))
    scales = np.array([0.02, 0.011, 0.031], np.float32)
    w = Tensor.constant("w", np.ones((3, 2, 2, 2), np.int8),
                        quantization=Quantization(scales, np.zeros(3, np.int64)))
    b = Tensor.constant("b", np.zeros(3, np.int32),
                        quantization=Quantization(0.05 * scales, np.zeros(3, np.int64)))
    y = Tensor("y", (1, 4, 4, 3), "int8", quantization=q(0.04, 2))
    return single_op(Op.CONV_2D, [x, w, b], [y], Conv2DOptions(padding=Padding.SAME))


def mean_int8() -> Model:
    return single_op(Op.MEAN, [Tensor("x", (1, 4, 4, 3), "int8", quantization=q()),
                               Tensor.constant("axes", np.array([1, 2], np.int32))],
                     [Tensor("y", (1, 1, 1, 3), "int8", quantization=q())],
                     ReducerOptions(keep_dims=True))


def add_variable() -> Model:
    """ADD of a graph input and a variable tensor (its buffer lives in the tail)."""
    model = Model("add variable")
    graph = model.add_subgraph("main")
    x = graph.add_input(Tensor("x", (1, 4), "float32"))
    v = Tensor("v", (1, 4), "float32", is_variable=True)
    y = Tensor("y", (1, 4), "float32")
    graph.add_operator(Op.ADD, [x, v], [y], AddOptions())
    graph.add_output(y)
    return model


def test_softmax_float_host() -> None:
    tail = HOST_FIXED + 2 * 24 + 64  # eval tensors, one NodeAndRegistration
    tail += 4  # TfLiteSoftmaxParams
    tail = up(tail + 80, 16)  # SoftmaxParams (Init)
    tail = up(up(tail + 8, 16) + 64, 8)  # input pointer array, TfLiteTensor
    tail = up(up(tail + 8, 16) + 64, 8)  # output
    a = arena(softmax_float(), head=96)
    assert a.tail_bytes == tail == 848
    assert a.total_bytes == 96 + 848 and a.head_bytes == 96
    assert a.unmodelled == ()


def test_softmax_float_target32() -> None:
    tail = TARGET32_FIXED + 2 * 12 + 32 + 4
    tail = up(tail + 56, 16)  # SoftmaxParams: 56 bytes on Cortex-M (a double, 8-aligned)
    tail = up(up(tail + 4, 16) + 32, 4)
    tail = up(up(tail + 4, 16) + 32, 4)
    assert arena(softmax_float(), "target32", head=0).tail_bytes == tail == 352


def test_conv_per_channel_host() -> None:
    tail = HOST_FIXED + 4 * 24 + 64 + 28  # 4 eval tensors, node, TfLiteConvParams
    before_op_data = tail
    tail = up(tail + 80, 16)  # OpDataConv
    tail = up(tail + 12, 16)  # 3 int32 multipliers
    tail = up(tail + 12, 16)  # 3 int32 shifts
    op_bytes = 28 + tail - before_op_data
    for _ in ("input", "output"):  # pointer array, TfLiteTensor, quantization, 1 zero point
        tail = up(up(up(up(tail + 8, 16) + 64, 8) + 24, 8) + 8, 4)
    a = arena(conv_int8(), head=0)
    assert a.tail_bytes == tail == 1024
    assert [o.bytes for o in a.operators] == [op_bytes] == [152]
    assert a.operators[0].opcode == "CONV_2D"
    multipliers = [i for i in a.items if i.what == "per-channel output multipliers"]
    assert [(i.requested, i.bytes, i.operator) for i in multipliers] == [(12, 16, 0)]


def test_conv_per_channel_target32() -> None:
    tail = TARGET32_FIXED + 4 * 12 + 32 + 28
    tail = up(up(up(tail + 56, 16) + 12, 16) + 12, 16)
    for _ in ("input", "output"):
        tail = up(up(up(up(tail + 4, 16) + 32, 4) + 12, 4) + 8, 4)
    assert arena(conv_int8(), "target32", head=0).tail_bytes == tail == 468


def test_mean_scratch_handles() -> None:
    """An int8 MEAN requests three scratch buffers: three 8-byte handles after Prepare."""
    tail = HOST_FIXED + 3 * 24 + 64 + 1  # TfLiteReducerParams is one bool
    tail = up(tail + 44, 16)  # OpDataReduce
    tail += 3 * 8  # ScratchBufferHandle x3
    for _ in ("input", "output"):
        tail = up(up(up(up(tail + 8, 16) + 64, 8) + 24, 8) + 8, 4)
    a = arena(mean_int8(), head=0)
    assert a.tail_bytes == tail == 912
    assert any(i.what == "ScratchBufferHandle x3" for i in a.items)


def test_softmax_int16_lookup_tables() -> None:
    tail = HOST_FIXED + 2 * 24 + 64 + 4
    tail = up(tail + 80, 16)
    tail = up(up(tail + 1026, 16) + 1026, 16)  # two 513-entry int16 tables
    for _ in ("input", "output"):
        tail = up(up(up(up(tail + 8, 16) + 64, 8) + 24, 8) + 8, 4)
    assert arena(softmax_int16(), head=0).tail_bytes == tail == 2992


def test_variable_tensor_buffer() -> None:
    tail = HOST_FIXED + 3 * 24 + 64 + 8  # TfLiteAddParams
    tail = up(tail + 60, 16)  # OpDataAdd
    tail = up(tail + 16, 16)  # the variable's 4 floats
    tail = up(up(tail + 8, 16) + 64, 8)
    tail = up(up(tail + 8, 16) + 64, 8)
    a = arena(add_variable(), head=0)
    assert a.tail_bytes == tail == 880
    assert any(i.what == "variable tensor v" and i.requested == 16 for i in a.items)


def test_unmodelled_operator_is_named() -> None:
    model = single_op(Op.GATHER_ND, [Tensor("x", (4, 3), "float32"),
                                     Tensor.constant("i", np.array([[1]], np.int32))],
                      [Tensor("y", (1, 3), "float32")])
    a = arena(model, head=0)
    assert a.unmodelled == ("GATHER_ND",)


def test_items_add_up_and_json() -> None:
    a = arena(conv_int8(), head=112)
    assert sum(i.bytes for i in a.items) == a.tail_bytes
    assert all(i.bytes >= i.requested for i in a.items)
    data = a.to_json()
    assert data["total_bytes"] == 112 + a.tail_bytes and data["target"] == "host"
    assert data["operators"] == [{"subgraph": 0, "index": 0, "opcode": "CONV_2D", "bytes": 152}]


def test_default_head_is_the_planners() -> None:
    from tflitekit.analysis.memory import memory
    model = conv_int8()
    assert arena(model).head_bytes == memory(model).arena_head_bytes


def test_unknown_target() -> None:
    with pytest.raises(ValueError, match="target32"):
        arena(softmax_float(), "x86", head=0)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Against TFLite Micro
# ------------------------------------------------------------------------------------------------


def _per_op_models() -> dict[str, Model]:
    x8 = lambda: Tensor("x", (1, 4, 4, 3), "int8", quantization=q())  # noqa: E731
    f32 = lambda name="x", shape=(1, 4, 4, 3): Tensor(name, shape, "float32")  # noqa: E731
    pool = Pool2DOptions(padding=Padding.VALID, stride_w=2, stride_h=2, filter_width=2,
                         filter_height=2)
    fc_scales = np.array([0.01, 0.02], np.float32)
    fc_w = Tensor.constant("w", np.ones((2, 8), np.int8),
                           quantization=Quantization(fc_scales, np.zeros(2, np.int64)))
    dw_w = Tensor.constant("w", np.ones((1, 2, 2, 3), np.float32))
    return {
        "softmax_float": softmax_float(), "softmax_int16": softmax_int16(),
        "conv_int8": conv_int8(), "mean_int8": mean_int8(), "add_variable": add_variable(),
        "add_int8": single_op(Op.ADD, [x8(), Tensor("x2", (1, 4, 4, 3), "int8",
                                                    quantization=q())],
                              [Tensor("y", (1, 4, 4, 3), "int8", quantization=q())],
                              AddOptions()),
        "fc_per_channel": single_op(
            Op.FULLY_CONNECTED, [Tensor("x", (1, 8), "int8", quantization=q()), fc_w, None],
            [Tensor("y", (1, 2), "int8", quantization=q())], FullyConnectedOptions()),
        "depthwise_float": single_op(
            Op.DEPTHWISE_CONV_2D, [f32(), dw_w, Tensor.constant("b", np.zeros(3, np.float32))],
            [f32("y", (1, 3, 3, 3))],
            DepthwiseConv2DOptions(padding=Padding.VALID, stride_w=1, stride_h=1,
                                   depth_multiplier=1)),
        "avg_pool_int8": single_op(Op.AVERAGE_POOL_2D, [x8()],
                                   [Tensor("y", (1, 2, 2, 3), "int8", quantization=q())], pool),
        "max_pool_float": single_op(Op.MAX_POOL_2D, [f32()], [f32("y", (1, 2, 2, 3))], pool),
        "pad_float": single_op(
            Op.PAD, [f32(), Tensor.constant("p", np.array([[0, 0], [1, 1], [1, 1], [0, 0]],
                                                          np.int32))],
            [f32("y", (1, 6, 6, 3))], PadOptions()),
        "quantize": single_op(Op.QUANTIZE, [f32()], [x8()]),
        "dequantize": single_op(Op.DEQUANTIZE, [x8()], [f32("y")]),
        "logistic_int8": single_op(Op.LOGISTIC, [x8()], [Tensor("y", (1, 4, 4, 3), "int8",
                                                               quantization=q(1 / 256, -128))]),
        "concatenation": single_op(Op.CONCATENATION, [f32("a"), f32("b")],
                                   [f32("y", (1, 4, 4, 6))], ConcatenationOptions(axis=3)),
        "strided_slice": single_op(
            Op.STRIDED_SLICE, [Tensor("x", (4,), "int32")]
            + [Tensor.constant(n, np.array([v], np.int32)) for n, v in (("b", 0), ("e", 2),
                                                                       ("s", 1))],
            [Tensor("y", (2,), "int32")], StridedSliceOptions()),
    }


@pytest.mark.tflm
@pytest.mark.parametrize("name", sorted(_per_op_models()))
def test_tail_equals_tflm(name: str) -> None:
    from _tflm_arena import measured_arena
    model = _per_op_models()[name]
    measured = measured_arena(model.to_bytes())
    predicted: Arena = arena(model, head=measured.head)
    assert predicted.unmodelled == ()
    assert predicted.tail_bytes == measured.tail, predicted.items
    assert predicted.total_bytes == measured.total

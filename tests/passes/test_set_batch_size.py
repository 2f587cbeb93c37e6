"""set_batch_size: exact structure, per-row equality with the batch-1 model on LiteRT and TFLM,
shapes equal to those LiteRT infers, and errors that name the operator at fault."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import tflitekit
from tflitekit import Model, Quantization, Subgraph, Tensor
from tflitekit.options import (
    ArgMaxOptions,
    BuiltinOperator,
    ConcatenationOptions,
    Conv2DOptions,
    DepthToSpaceOptions,
    DepthwiseConv2DOptions,
    FakeQuantOptions,
    FullyConnectedOptions,
    GatherOptions,
    PackOptions,
    Padding,
    Pool2DOptions,
    ReducerOptions,
    ReshapeOptions,
    ResizeBilinearOptions,
    ResizeNearestNeighborOptions,
    SoftmaxOptions,
    SpaceToDepthOptions,
    SplitOptions,
    SplitVOptions,
    SqueezeOptions,
    StridedSliceOptions,
    TensorType,
    TransposeConvOptions,
)
from tflitekit.passes.base import PassError
from tflitekit.passes.set_batch_size import SetBatchSize, set_batch_size
from tflitekit.runtimes import run_litert, run_tflm

Op = BuiltinOperator
Build = Callable[[Subgraph, Tensor], list[Tensor]]
RNG = np.random.default_rng(7)


def _shapes(model: Model) -> dict[str | None, tuple[int, ...] | None]:
    return {t.name: t.shape for t in model.main.tensors}


def _rows(data: bytes, inputs: list[np.ndarray], batch: int) -> list[np.ndarray]:
    """LiteRT outputs of the batch-1 model ``data``, one row at a time, stacked."""
    runs = [run_litert(data, [x[i:i + 1] for x in inputs]) for i in range(batch)]
    return [np.concatenate([run[k] for run in runs]) for k in range(len(runs[0]))]


def _litert_shapes(model: Model) -> list[tuple[int, ...]]:
    """The shape LiteRT's kernels give each tensor of the main subgraph once allocated (its own
    scratch tensors, listed after the model's, left out)."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = interpreter_module.Interpreter(model_content=model.to_bytes())
    interpreter.allocate_tensors()
    details = sorted(interpreter.get_tensor_details(), key=lambda d: d["index"])
    return [tuple(int(n) for n in d["shape"]) for d in details[:len(model.main.tensors)]]


# -- the runnable int8 model (conftest) -------------------------------------------------------


def test_runnable_model_golden(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    original = runnable_model()
    result = SetBatchSize(3)(model)
    assert result.changes == [
        "subgraph 0: tensor 'x' shape (1, 4, 4, 2) -> (3, 4, 4, 2)",
        "subgraph 0: tensor 'conv/y' shape (1, 4, 4, 3) -> (3, 4, 4, 3)",
        "subgraph 0: tensor 'flat' shape (1, 48) -> (3, 48)",
        "subgraph 0: tensor 'fc/y' shape (1, 5) -> (3, 5)",
        "subgraph 0: tensor 'y' shape (1, 5) -> (3, 5)",
        "subgraph 0: constant 'reshape/shape' [1, 48] -> [3, 48]",
        "subgraph 0: RESHAPE new_shape option [1, 48] -> [3, 48]",
    ]
    assert result.skipped == []
    assert _shapes(model) == {
        "x": (3, 4, 4, 2), "conv/w": (3, 2, 2, 2), "conv/b": (3,), "conv/y": (3, 4, 4, 3),
        "reshape/shape": (2,), "flat": (3, 48), "fc/w": (5, 48), "fc/b": (5,), "fc/y": (3, 5),
        "add/c": (1, 5), "y": (3, 5),
    }
    g = model.main
    assert g.tensor("reshape/shape").data.tolist() == [3, 48]  # type: ignore[union-attr]
    assert g.operators[1].options == ReshapeOptions(new_shape=[3, 48])
    for name in ("conv/w", "conv/b", "fc/w", "fc/b", "add/c"):  # other constants are kept
        assert np.array_equal(g.tensor(name).data, original.main.tensor(name).data)  # type: ignore[arg-type]
    assert model.check() == []
    assert tflitekit.diff(tflitekit.load(model.to_bytes()), model) == []


@pytest.mark.litert
@pytest.mark.tflm
def test_runnable_model_rows_match_batch_one(runnable_model: Callable[[], Model]) -> None:
    one = runnable_model().to_bytes()
    three = set_batch_size(runnable_model(), 3).to_bytes()
    x = [RNG.integers(-128, 128, (3, 4, 4, 2), dtype=np.int8)]
    litert = run_litert(three, x)
    assert litert[0].shape == (3, 5)
    assert litert[0].tobytes() == _rows(one, x, 3)[0].tobytes()
    tflm = run_tflm(three, x)  # one invocation of the batch-3 model
    assert tflm[0].tobytes() == run_tflm(one, x)[0].tobytes()  # three of the batch-1 model
    assert tflm[0].tobytes() == litert[0].tobytes()


@pytest.mark.litert
def test_litert_infers_the_same_shapes(runnable_model: Callable[[], Model]) -> None:
    model = set_batch_size(runnable_model(), 4)
    assert _litert_shapes(model) == [t.shape for t in model.main.tensors]


def test_same_batch_is_a_no_op(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    before = model.to_bytes()
    result = SetBatchSize(1)(model)
    assert not result.modified
    assert result.skipped == ["the inputs already have batch 1"]
    assert model.to_bytes() == before


def test_back_and_forth(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    before = model.to_bytes()
    set_batch_size(set_batch_size(model, 5), 1)
    assert model.to_bytes() == before


@pytest.mark.parametrize("batch", [0, -2])
def test_batch_below_one_is_an_error(batch: int) -> None:
    with pytest.raises(ValueError, match=f"the batch must be at least 1, got {batch}"):
        SetBatchSize(batch)


def test_shape_signature_follows_unless_dynamic(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    g = model.main
    g.inputs[0].shape_signature = (-1, 4, 4, 2)
    g.tensor("conv/y").shape_signature = (1, 4, 4, 3)
    set_batch_size(model, 2)
    assert g.inputs[0].shape_signature == (-1, 4, 4, 2)
    assert g.tensor("conv/y").shape_signature == (2, 4, 4, 3)
    assert g.tensor("flat").shape_signature is None


# -- operator coverage: small float models, each run on LiteRT and TFLM -----------------------


def _op(g: Subgraph, op: Op, inputs: Sequence[Tensor | None], shape: tuple[int, ...],
        options: Any = None, dtype: str = "float32", name: str | None = None) -> Tensor:
    out = Tensor(name or f"{op.name.lower()}{len(g.operators)}", shape, dtype)
    g.add_operator(op, inputs, [out], options)
    return out


def _const(name: str, value: Any, dtype: str = "float32") -> Tensor:
    return Tensor.constant(name, np.asarray(value), dtype)


def _weights(name: str, *shape: int) -> Tensor:
    return _const(name, RNG.uniform(-1, 1, shape))


def _elementwise(g: Subgraph, x: Tensor) -> list[Tensor]:
    a = _op(g, Op.ADD, [x, _weights("c4", 1, 1, 1, 2)], x.shape)  # type: ignore[arg-type]
    b = _op(g, Op.MUL, [a, _weights("c1", 2)], x.shape)  # type: ignore[arg-type]
    s = _op(g, Op.LOGISTIC, [x], x.shape)  # type: ignore[arg-type]
    return [_op(g, Op.SQUARED_DIFFERENCE, [b, s], x.shape)]  # type: ignore[arg-type]


def _conv_pool(g: Subgraph, x: Tensor) -> list[Tensor]:
    c = _op(g, Op.CONV_2D, [x, _weights("w", 3, 2, 2, 2), _weights("b", 3)], (1, 4, 4, 3),
            Conv2DOptions(padding=Padding.SAME, stride_w=1, stride_h=1))
    return [_op(g, Op.AVERAGE_POOL_2D, [c], (1, 2, 2, 3),
                Pool2DOptions(padding=Padding.VALID, stride_w=2, stride_h=2, filter_width=2,
                              filter_height=2))]


def _spatial(g: Subgraph, x: Tensor) -> list[Tensor]:
    pool = Pool2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2, filter_width=2,
                         filter_height=2)
    size = _const("size", [6, 6], "int32")
    s2d = _op(g, Op.SPACE_TO_DEPTH, [x], (1, 2, 2, 8), SpaceToDepthOptions(block_size=2))
    return [
        _op(g, Op.DEPTHWISE_CONV_2D, [x, _weights("dw", 1, 3, 3, 4), _weights("db", 4)],
            (1, 4, 4, 4), DepthwiseConv2DOptions(padding=Padding.SAME, stride_w=1, stride_h=1,
                                                 depth_multiplier=2)),
        _op(g, Op.MAX_POOL_2D, [x], (1, 2, 2, 2), pool),
        _op(g, Op.DEPTH_TO_SPACE, [s2d], (1, 4, 4, 2), DepthToSpaceOptions(block_size=2)),
        _op(g, Op.RESIZE_BILINEAR, [x, size], (1, 6, 6, 2), ResizeBilinearOptions()),
        _op(g, Op.RESIZE_NEAREST_NEIGHBOR, [x, size], (1, 6, 6, 2),
            ResizeNearestNeighborOptions()),
    ]


def _flatten_dense(g: Subgraph, x: Tensor) -> list[Tensor]:
    flat = _op(g, Op.RESHAPE, [x, _const("shape", [-1, 32], "int32")], (1, 32))
    fc = _op(g, Op.FULLY_CONNECTED, [flat, _weights("w", 5, 32), _weights("b", 5)], (1, 5),
             FullyConnectedOptions())
    return [_op(g, Op.SOFTMAX, [fc], (1, 5), SoftmaxOptions(beta=1.0))]


def _dense_keep_dims(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.FULLY_CONNECTED, [x, _weights("w", 3, 2), None], (1, 4, 4, 3),
                FullyConnectedOptions(keep_num_dims=True))]


def _shared_shape(g: Subgraph, x: Tensor) -> list[Tensor]:
    """One shape constant read by a batched RESHAPE and by one of a constant."""
    shape = _const("shape", [1, 32], "int32")
    flat = _op(g, Op.RESHAPE, [x, shape], (1, 32), name="flat")
    bias = _op(g, Op.RESHAPE, [_weights("c", 2, 16), shape], (1, 32), name="bias")
    return [_op(g, Op.ADD, [flat, bias], (1, 32), name="sum")]


def _transpose_conv(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.TRANSPOSE_CONV, [_const("out_shape", [1, 8, 8, 2], "int32"),
                                       _weights("w", 2, 2, 2, 2), x], (1, 8, 8, 2),
                TransposeConvOptions(padding=Padding.SAME, stride_w=2, stride_h=2))]


def _joins(g: Subgraph, x: Tensor) -> list[Tensor]:
    r = _op(g, Op.RELU, [x], x.shape)  # type: ignore[arg-type]
    return [_op(g, Op.CONCATENATION, [x, r], (1, 4, 4, 4), ConcatenationOptions(axis=-1)),
            _op(g, Op.PACK, [x, r], (1, 2, 4, 4, 2), PackOptions(values_count=2, axis=1))]


def _splits(g: Subgraph, x: Tensor) -> list[Tensor]:
    halves = [Tensor(f"half{i}", (1, 4, 4, 1), "float32") for i in range(2)]
    g.add_operator(Op.SPLIT, [_const("axis", 3, "int32"), x], halves, SplitOptions(num_splits=2))
    parts = [Tensor("top", (1, 1, 4, 2), "float32"), Tensor("rest", (1, 3, 4, 2), "float32")]
    g.add_operator(Op.SPLIT_V, [x, _const("sizes", [1, 3], "int32"), _const("dim", 1, "int32")],
                   parts, SplitVOptions(num_splits=2))
    return [*halves, *parts]


def _reductions(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.MEAN, [x, _const("hw", [1, 2], "int32")], (1, 2), ReducerOptions()),
            _op(g, Op.SUM, [x, _const("last", [-1], "int32")], (1, 4, 4, 1),
                ReducerOptions(keep_dims=True)),
            _op(g, Op.ARG_MAX, [x, _const("c", [3], "int32")], (1, 4, 4),
                ArgMaxOptions(output_type=TensorType.INT32), dtype="int32")]


def _reshuffles(g: Subgraph, x: Tensor) -> list[Tensor]:
    e = _op(g, Op.EXPAND_DIMS, [x, _const("one", 1, "int32")], (1, 1, 4, 4, 2))
    return [
        _op(g, Op.SQUEEZE, [e], (1, 4, 4, 2), SqueezeOptions(squeeze_dims=[-4])),
        _op(g, Op.TRANSPOSE, [x, _const("perm", [0, 3, 1, 2], "int32")], (1, 2, 4, 4)),
        _op(g, Op.PAD, [x, _const("pads", [[0, 0], [1, 1], [0, 2], [0, 0]], "int32")],
            (1, 6, 6, 2)),
        _op(g, Op.GATHER, [x, _const("idx", [1, 0, 1], "int32")], (1, 4, 4, 3),
            GatherOptions(axis=-1)),
        _op(g, Op.STRIDED_SLICE, [x, _const("begin", [0, 1, 0, 0], "int32"),
                                  _const("end", [0, 3, 0, 0], "int32"),
                                  _const("strides", [1, 1, 1, 1], "int32")], (1, 2, 4, 2),
            StridedSliceOptions(begin_mask=0b1101, end_mask=0b1101)),
    ]


CASES: dict[str, Build] = {
    "elementwise": _elementwise, "conv_pool": _conv_pool, "flatten_dense": _flatten_dense,
    "dense_keep_dims": _dense_keep_dims, "shared_shape": _shared_shape,
    "transpose_conv": _transpose_conv, "spatial": _spatial, "joins": _joins, "splits": _splits,
    "reductions": _reductions, "reshuffles": _reshuffles,
}


def _float_model(build: Build) -> Model:
    model = Model("set_batch_size case")
    g = model.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 4, 4, 2), "float32"))
    for out in build(g, x):
        g.add_output(out)
    return model


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("case", CASES)
def test_operator_rows_match_batch_one(case: str) -> None:
    one = _float_model(CASES[case]).to_bytes()
    model = set_batch_size(tflitekit.load(one), 3)
    assert model.check() == []
    three = model.to_bytes()
    assert _litert_shapes(model) == [t.shape for t in model.main.tensors]
    x = [RNG.uniform(-2, 2, (3, 4, 4, 2)).astype(np.float32)]
    litert = run_litert(three, x)
    assert [o.shape[0] for o in litert] == [3] * len(litert)
    assert [o.tobytes() for o in litert] == [o.tobytes() for o in _rows(one, x, 3)]
    tflm = run_tflm(three, x)
    assert [o.tobytes() for o in tflm] == [o.tobytes() for o in run_tflm(one, x)]


# Every elementwise operator of the pass's table, alone after the input (or after a comparison
# that makes a bool from it), with a constant operand of shape (1, 1, 1, 2) to broadcast.
UNARY = ("ABS", "CEIL", "COS", "ELU", "EXP", "FLOOR", "GELU", "HARD_SWISH", "LEAKY_RELU", "LOG",
         "LOGISTIC", "NEG", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "ROUND", "RSQRT",
         "SIGN", "SIN", "SQRT", "SQUARE", "TANH", "ZEROS_LIKE", "LOG_SOFTMAX",
         "L2_NORMALIZATION", "LOCAL_RESPONSE_NORMALIZATION")
BINARY = ("ADD", "SUB", "MUL", "DIV", "FLOOR_DIV", "FLOOR_MOD", "MAXIMUM", "MINIMUM", "POW",
          "SQUARED_DIFFERENCE", "PRELU")
COMPARISONS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")
NOT_IN_REFERENCE_KERNELS = {"CEIL", "ELU", "ROUND"}  # LiteRT's BUILTIN_REF lacks them


def _elementwise_op(name: str) -> Build:
    def build(g: Subgraph, x: Tensor) -> list[Tensor]:
        shape = x.shape or ()
        c = _const("c", RNG.uniform(0.5, 2.0, (1, 1, 1, 2)))
        if name in UNARY:
            return [_op(g, BuiltinOperator[name], [x], shape)]
        if name in BINARY:
            return [_op(g, BuiltinOperator[name], [x, c], shape)]
        if name in COMPARISONS:
            return [_op(g, BuiltinOperator[name], [x, c], shape, dtype="bool")]
        if name == "SOFTMAX":
            return [_op(g, Op.SOFTMAX, [x], shape, SoftmaxOptions(beta=0.5))]
        if name == "CAST":
            return [_op(g, Op.CAST, [x], shape, dtype="int32")]
        if name == "FAKE_QUANT":
            return [_op(g, Op.FAKE_QUANT, [x], shape, FakeQuantOptions(min=-1.0, max=1.0,
                                                                       num_bits=8))]
        if name in ("QUANTIZE", "DEQUANTIZE"):
            q = Tensor("q", shape, "int8", quantization=Quantization(0.02, 1))
            g.add_operator(Op.QUANTIZE, [x], [q])
            return [_op(g, Op.DEQUANTIZE, [q], shape)]
        if name in ("ATAN2", "ADD_N"):  # no broadcasting: both operands carry the batch
            return [_op(g, BuiltinOperator[name], [x, _op(g, Op.RELU, [x], shape)], shape)]
        positive = _op(g, Op.GREATER, [x, c], shape, dtype="bool", name="positive")
        if name == "SELECT_V2":
            return [_op(g, Op.SELECT_V2, [positive, x, c], shape)]
        flags = _const("flags", [[[[True, False]]]], "bool")
        operands = [positive] if name == "LOGICAL_NOT" else [positive, flags]
        return [_op(g, BuiltinOperator[name], operands, shape, dtype="bool")]
    return build


ELEMENTWISE = (*UNARY, *BINARY, *COMPARISONS, "SOFTMAX", "CAST", "FAKE_QUANT", "QUANTIZE",
               "DEQUANTIZE", "ATAN2", "ADD_N", "SELECT_V2", "LOGICAL_NOT", "LOGICAL_AND",
               "LOGICAL_OR")


def test_elementwise_sweep_covers_the_pass_table() -> None:
    from tflitekit.ir.opfacts import FACTS, Batch

    table = {op.name for op, known in FACTS.items()
             if known.batch in (Batch.ELEMENTWISE, Batch.JOIN)}
    assert table == set(ELEMENTWISE)


@pytest.mark.litert
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_rows_match_batch_one(name: str) -> None:
    one = _float_model(_elementwise_op(name)).to_bytes()
    model = set_batch_size(tflitekit.load(one), 3)
    three = model.to_bytes()
    reference = name not in NOT_IN_REFERENCE_KERNELS
    if reference:
        assert _litert_shapes(model) == [t.shape for t in model.main.tensors]
    x = [RNG.uniform(-2, 2, (3, 4, 4, 2)).astype(np.float32)]
    litert = run_litert(three, x, reference_kernels=reference)
    rows = [run_litert(one, [x[0][i:i + 1]], reference_kernels=reference) for i in range(3)]
    assert litert[0].shape[0] == 3
    assert litert[0].tobytes() == np.concatenate([r[0] for r in rows]).tobytes()


def test_shared_shape_constant_is_cloned() -> None:
    model = set_batch_size(_float_model(_shared_shape), 2)
    g = model.main
    flat, bias = g.operators[0], g.operators[1]
    assert flat.inputs[1].name == "shape/batch_2"  # type: ignore[union-attr]
    assert flat.inputs[1].data.tolist() == [2, 32]  # type: ignore[union-attr]
    assert bias.inputs[1] is g.tensor("shape")
    assert g.tensor("shape").data.tolist() == [1, 32]  # type: ignore[union-attr]
    assert (g.tensor("flat").shape, g.tensor("bias").shape, g.tensor("sum").shape) == (
        (2, 32), (1, 32), (2, 32))


def test_two_entry_subgraphs_and_signature(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    other = model.add_subgraph("other")
    a = other.add_input(Tensor("a", (1, 3), "float32"))
    other.add_output(_op(other, Op.RELU, [a], (1, 3), name="b"))
    model.signature_defs.append(tflitekit.SignatureDef("other", other, {"a": a},
                                                       {"b": other.outputs[0]}))
    result = SetBatchSize(2)(model)
    assert "subgraph 1: tensor 'b' shape (1, 3) -> (2, 3)" in result.changes
    assert other.outputs[0].shape == (2, 3)
    assert model.main.outputs[0].shape == (2, 5)


# -- errors -------------------------------------------------------------------------------------


def _shape_of(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.SHAPE, [x], (4,), dtype="int32")]


def _custom(g: Subgraph, x: Tensor) -> list[Tensor]:
    out = Tensor("y", x.shape, "float32")
    g.add_operator("MyOp", [x], [out])
    return [out]


def _concat_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.CONCATENATION, [x, x], (2, 4, 4, 2), ConcatenationOptions(axis=0))]


def _concat_constant(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.CONCATENATION, [x, _weights("c", 1, 4, 4, 1)], (1, 4, 4, 3),
                ConcatenationOptions(axis=3))]


def _mean_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.MEAN, [x, _const("axes", [0, 1], "int32")], (1, 1, 4, 2),
                ReducerOptions(keep_dims=True))]


def _pad_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.PAD, [x, _const("pads", [[0, 1], [0, 0], [0, 0], [0, 0]], "int32")],
                (2, 4, 4, 2))]


def _transpose_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.TRANSPOSE, [x, _const("perm", [1, 0, 2, 3], "int32")], (4, 1, 4, 2))]


def _flatten_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.RESHAPE, [x, _const("shape", [32], "int32")], (32,))]


def _computed_shape(g: Subgraph, x: Tensor) -> list[Tensor]:
    shape = _op(g, Op.ADD, [_const("a", [1, 16], "int32"), _const("b", [0, 16], "int32")], (2,),
                dtype="int32", name="s")
    return [_op(g, Op.RESHAPE, [x, shape], (1, 32))]


def _dense_flattening(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.FULLY_CONNECTED, [x, _weights("w", 3, 2), None], (16, 3))]


def _squeeze_all(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.SQUEEZE, [x], (4, 4, 2), SqueezeOptions())]


def _squeeze_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.SQUEEZE, [x], (4, 4, 2), SqueezeOptions(squeeze_dims=[0]))]


def _no_broadcast(g: Subgraph, x: Tensor) -> list[Tensor]:
    wide = _op(g, Op.RELU, [_weights("c", 4, 4, 4, 2)], (4, 4, 4, 2), name="wide")
    return [_op(g, Op.ADD, [wide, x], (4, 4, 4, 2))]


def _weights_from_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    flat = _op(g, Op.RESHAPE, [x, _const("shape", [1, 32], "int32")], (1, 32), name="flat")
    return [_op(g, Op.FULLY_CONNECTED, [_weights("in", 1, 32), flat, None], (1, 1))]


def _slice_end(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.STRIDED_SLICE, [x, _const("begin", [0, 0, 0, 0], "int32"),
                                      _const("end", [1, 4, 4, 2], "int32"),
                                      _const("strides", [1, 1, 1, 1], "int32")], (1, 4, 4, 2),
                StridedSliceOptions())]


def _pack_batch(g: Subgraph, x: Tensor) -> list[Tensor]:
    return [_op(g, Op.PACK, [x], (1, 1, 4, 4, 2), PackOptions(values_count=1, axis=0))]


ERRORS: dict[str, tuple[Build, str, str]] = {  # operator at fault and why (a regex)
    "shape": (_shape_of, "0 (SHAPE)", "SHAPE is not known to keep the batch in dimension 0; "
                                      "run fold_constants first"),
    "custom": (_custom, "0 (MyOp)", "MyOp is not known to keep the batch in dimension 0$"),
    "concat_batch": (_concat_batch, "0 (CONCATENATION)", r"its axis \[0\] includes the batch"),
    "concat_constant": (_concat_constant, "0 (CONCATENATION)",
                        "its input 1 'c' does not carry the batch"),
    "mean_batch": (_mean_batch, "0 (MEAN)",
                   r"its axis operand 'axes' \[0, 1\] touches the batch dimension"),
    "pad_batch": (_pad_batch, "0 (PAD)", r"its paddings operand 'pads' \[0, 1, 0, 0, 0, 0, 0, 0\]"
                                         " touches the batch dimension"),
    "transpose_batch": (_transpose_batch, "0 (TRANSPOSE)",
                        r"its perm operand 'perm' \[1, 0, 2, 3\] touches the batch"),
    "flatten_batch": (_flatten_batch, "0 (RESHAPE)", r"it reshapes \(1, 4, 4, 2\) to \(32,\), "
                                                     "which does not keep the batch"),
    "computed_shape": (_computed_shape, "1 (RESHAPE)", "its shape operand 's' is not a constant"),
    "dense_flattening": (_dense_flattening, "0 (FULLY_CONNECTED)",
                         r"it flattens the dimensions of its input \(1, 4, 4, 2\)"),
    "squeeze_all": (_squeeze_all, "0 (SQUEEZE)", "it squeezes every dimension of size 1"),
    "squeeze_batch": (_squeeze_batch, "0 (SQUEEZE)",
                      r"its squeeze_dims \[0\] includes the batch"),
    "no_broadcast": (_no_broadcast, "1 (ADD)",
                     r"its input 0 'wide' of shape \(4, 4, 4, 2\) does not broadcast"),
    "weights_from_batch": (_weights_from_batch, "1 (FULLY_CONNECTED)",
                           "its input 1 'flat' carries the batch, which it does not allow"),
    "slice_end": (_slice_end, "0 (STRIDED_SLICE)", "it does not take the whole batch dimension"),
    "pack_batch": (_pack_batch, "0 (PACK)", r"its axis \[0\] includes the batch"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_unsupported_operator_is_named(case: str) -> None:
    build, operator, why = ERRORS[case]
    model = _float_model(build)
    before = model.to_bytes()
    message = (f"^set_batch_size: operator {re.escape(operator)} of subgraph 0 reads the batched "
               f"tensor '[^']+': {why}")
    with pytest.raises(PassError, match=message):
        SetBatchSize(2)(model, check=False)
    assert model.to_bytes() == before  # nothing was changed


def test_inputs_must_share_a_batch(runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    model.main.add_input(Tensor("z", (2, 3), "float32"))
    with pytest.raises(PassError, match="the inputs do not share one batch: 'x' has 1, 'z' has 2"):
        SetBatchSize(4)(model, check=False)


@pytest.mark.parametrize("shape", [(), None])
def test_input_without_batch_dimension(runnable_model: Callable[[], Model],
                                       shape: tuple[int, ...] | None) -> None:
    model = runnable_model()
    model.main.add_input(Tensor("z", shape, "float32"))
    with pytest.raises(PassError, match=f"input 'z' of subgraph 0 has no batch dimension "
                                        rf"\(shape {shape}\)".replace("()", r"\(\)")):
        SetBatchSize(4)(model, check=False)


def test_quantization_per_batch_row_is_an_error() -> None:
    model = Model()
    g = model.add_subgraph("main")
    x = g.add_input(Tensor("x", (2, 3), "int8", quantization=Quantization(0.1, 0)))
    y = Tensor("y", (2, 3), "int8", quantization=Quantization([0.1, 0.2], [0, 0]))
    g.add_operator(Op.RELU, [x], [y])
    g.add_output(y)
    before = model.to_bytes()
    with pytest.raises(PassError, match="^set_batch_size: tensor 'y' of subgraph 0 carries the "
                                        r"batch but is quantized per batch row"):
        SetBatchSize(3)(model)
    assert model.to_bytes() == before


def test_model_without_inputs() -> None:
    model = Model()
    model.add_subgraph()
    with pytest.raises(PassError, match=r"^set_batch_size: the model has no inputs$"):
        SetBatchSize(2)(model)


@pytest.mark.tflm
def test_quantized_elementwise_chain_runs_on_tflm() -> None:
    """An int8 chain with a broadcast constant: TFLM, batch 3 in one invocation."""
    model = Model()
    g = model.add_subgraph("main")
    q = Quantization(0.05, 3)
    x = g.add_input(Tensor("x", (1, 6), "int8", quantization=q))
    c = Tensor.constant("c", RNG.integers(-128, 128, (1, 6), dtype=np.int8), quantization=q)
    s = Tensor("s", (1, 6), "int8", quantization=Quantization(0.1, -2))
    g.add_operator(Op.ADD, [x, c], [s])
    y = Tensor("y", (1, 6), "int8", quantization=Quantization(1 / 256, -128))
    g.add_operator(Op.SOFTMAX, [s], [y], SoftmaxOptions(beta=1.0))
    g.add_output(y)
    one = model.to_bytes()
    three = set_batch_size(model, 3).to_bytes()
    inputs = [RNG.integers(-128, 128, (3, 6), dtype=np.int8)]
    assert run_tflm(three, inputs)[0].tobytes() == run_tflm(one, inputs)[0].tobytes()

"""fold_constants, which evaluates operators on the interpreter's kernels.

What folding computes is checked bit for bit against the reference runtimes: a one-operator
model whose data inputs are subgraph inputs runs on TFLite Micro (the oracle) and on LiteRT's
reference kernels with the values that fold_constants' ``evaluate`` gave. Where TFLite Micro
lacks a type or an option, LiteRT alone is the oracle (said at each test).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tflitekit import Buffer, Model, Operator, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.interpreter.kernels import KERNELS
from tflitekit.options import (
    ActivationFunctionType,
    AddOptions,
    BuiltinOperator,
    ConcatenationOptions,
    FullyConnectedOptions,
    GatherOptions,
    MulOptions,
    PackOptions,
    ReshapeOptions,
    ShapeOptions,
    SqueezeOptions,
    StridedSliceOptions,
    SubOptions,
    Table,
    TensorType,
    UnpackOptions,
)
from tflitekit.passes.fold_constants import FoldConstants, evaluate, fold_constants
from tflitekit.runtimes import run_litert, run_tflm

B = BuiltinOperator
RUNTIMES: dict[str, Callable[[bytes, Sequence[np.ndarray]], list[np.ndarray]]] = {
    "tflm": run_tflm,
    "litert": run_litert,
}
BOTH = ("tflm", "litert")
LITERT = ("litert",)
QUICK = settings(max_examples=40, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _exact(arrays: Sequence[np.ndarray]) -> list[tuple[Any, ...]]:
    return [(a.dtype, a.shape, a.tobytes()) for a in arrays]


# ------------------------------------------------------------------------------------------------
# One-operator models run on the reference runtimes
# ------------------------------------------------------------------------------------------------


def _one_op_model(op_type: BuiltinOperator, inputs: Sequence[Tensor | None],
                  outputs: Sequence[Tensor], results: Sequence[np.ndarray],
                  options: Table | None, feed: Collection[int]) -> tuple[bytes, list[np.ndarray]]:
    """The operator in a model of its own: inputs at positions ``feed`` become subgraph inputs
    (their values are returned, to feed the runtime), the others (and scalars) stay constants;
    outputs get the shapes of ``results``."""
    model = Model("one operator")
    graph = model.add_subgraph("main")
    model_inputs: list[Tensor | None] = []
    values = []
    for i, tensor in enumerate(inputs):
        # reference.run_* turn 0-d inputs into 1-d ones: scalars stay constants
        if tensor is None or i not in feed or tensor.shape == ():
            model_inputs.append(None if tensor is None else Tensor.constant(
                tensor.name, tensor.data, quantization=tensor.quantization))
            continue
        assert tensor.data is not None
        values.append(tensor.data)
        model_inputs.append(graph.add_input(Tensor(tensor.name, tensor.data.shape, tensor.dtype,
                                                   quantization=tensor.quantization)))
    model_outputs = [Tensor(t.name, r.shape, t.dtype, quantization=t.quantization)
                     for t, r in zip(outputs, results, strict=True)]
    graph.add_operator(op_type, model_inputs, model_outputs, options)
    for tensor in model_outputs:
        graph.add_output(tensor)
    return model.to_bytes(), values


def check_evaluator(op_type: BuiltinOperator, inputs: Sequence[Tensor | None],
                    outputs: Sequence[Tensor] | Tensor, options: Table | None = None, *,
                    feed: Collection[int] = (0,),
                    runtimes: Sequence[str] = BOTH) -> list[np.ndarray]:
    """Evaluate the operator on its constant inputs and assert that every runtime named
    computes exactly the same outputs (type, shape and bits). Inside a hypothesis test,
    examples the kernel refuses are rejected."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    op = Operator(op_type, inputs, outputs, options)
    try:
        results = evaluate(op)
    except UnsupportedOperatorError:
        reject()
    if any(r.size == 0 for r in results):
        reject()  # a folded constant is never empty
    model, values = _one_op_model(op_type, inputs, outputs, results, options, feed)
    for name in runtimes:
        got = RUNTIMES[name](model, values)
        assert _exact(got) == _exact(results), f"{op_type.name} differs from {name}"
    return results


def const(name: str, value: Any, dtype: Any = None, quantization: Quantization | None = None
          ) -> Tensor:
    return Tensor.constant(name, np.asarray(value, dtype), quantization=quantization)


def out(dtype: Any = "float32", quantization: Quantization | None = None,
        name: str = "out", shape: tuple[int, ...] | None = None) -> Tensor:
    """An output; element-wise kernels need its ``shape`` (without one it is a scalar)."""
    return Tensor(name, shape, dtype, quantization=quantization)


DATA_TYPES = ["float32", "int8", "int16", "int32"]  # what TFLM's data movement kernels share


def data_arrays(dtype: Any, max_dims: int = 4, max_side: int = 4,
                min_dims: int = 1) -> st.SearchStrategy[np.ndarray]:
    shapes = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side)
    elements = st.floats(-100, 100, width=32) if np.dtype(dtype).kind == "f" else None
    return hnp.arrays(np.dtype(dtype), shapes, elements=elements)


# ------------------------------------------------------------------------------------------------
# Evaluation: shapes and data movement
# ------------------------------------------------------------------------------------------------


def test_every_operator_the_evaluators_folded_has_a_kernel() -> None:
    required = {B.SHAPE, B.STRIDED_SLICE, B.PACK, B.UNPACK, B.RESHAPE, B.SQUEEZE, B.EXPAND_DIMS,
                B.TRANSPOSE, B.CONCATENATION, B.CAST, B.GATHER, B.SLICE, B.ADD, B.SUB, B.MUL,
                B.QUANTIZE, B.DEQUANTIZE}
    assert required <= set(KERNELS)


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("shape", [(1, 640), (3, 1, 5, 2), (7,)])
def test_shape(shape: tuple[int, ...]) -> None:
    x = const("x", np.zeros(shape, np.int8))
    got = check_evaluator(B.SHAPE, [x], out("int32"), ShapeOptions(out_type=TensorType.INT32))
    assert got[0].tolist() == list(shape)


@pytest.mark.litert
@pytest.mark.tflm
def test_shape_int64_matches_litert() -> None:
    """TFLM's SHAPE writes int32 only."""
    x = const("x", np.zeros((2, 3), np.float32))
    check_evaluator(B.SHAPE, [x], out("int64"), ShapeOptions(out_type=TensorType.INT64),
                    runtimes=LITERT)


def test_shape_without_a_static_shape_reads_a_scalar() -> None:
    """A tensor without a shape is a scalar to TFLite: its shape is empty, and so would be the
    folded constant (which the pass refuses: see test_left_alone_with_a_reason)."""
    op = Operator(B.SHAPE, [Tensor("x", None, "float32")], [out("int32")])
    assert evaluate(op)[0].shape == (0,)


masks = st.integers(0, 15)


@st.composite
def strided_slices(draw: st.DrawFn, *, spec_shorter: bool) -> tuple[np.ndarray, list[int],
                                                                    list[int], list[int]]:
    data = draw(data_arrays(draw(st.sampled_from(DATA_TYPES))))
    count = draw(st.integers(1, data.ndim)) if spec_shorter else data.ndim
    ints = st.lists(st.integers(-6, 6), min_size=count, max_size=count)
    strides = st.lists(st.integers(-3, 3).filter(bool), min_size=count, max_size=count)
    return data, draw(ints), draw(ints), draw(strides)


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(strided_slices(spec_shorter=False), masks, masks, masks)
def test_strided_slice(case: tuple[np.ndarray, list[int], list[int], list[int]], begin_mask: int,
                       end_mask: int, shrink_axis_mask: int) -> None:
    data, begin, end, strides = case
    options = StridedSliceOptions(begin_mask=begin_mask, end_mask=end_mask,
                                  shrink_axis_mask=shrink_axis_mask)
    check_evaluator(B.STRIDED_SLICE, [const("x", data), const("begin", begin, np.int32),
                                      const("end", end, np.int32),
                                      const("strides", strides, np.int32)],
                    out(data.dtype), options)


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(strided_slices(spec_shorter=True), masks, masks, masks, st.data())
def test_strided_slice_every_mask_matches_litert(
        case: tuple[np.ndarray, list[int], list[int], list[int]], begin_mask: int, end_mask: int,
        shrink_axis_mask: int, data: st.DataObject) -> None:
    """TFLM ignores ellipsis_mask and new_axis_mask, and needs a full slice spec."""
    x, begin, end, strides = case
    spec_masks = st.integers(0, 2 ** len(begin) - 1)  # LiteRT reads bits past the spec
    options = StridedSliceOptions(begin_mask=begin_mask, end_mask=end_mask,
                                  shrink_axis_mask=shrink_axis_mask,
                                  ellipsis_mask=data.draw(spec_masks),
                                  new_axis_mask=data.draw(spec_masks))
    check_evaluator(B.STRIDED_SLICE, [const("x", x), const("begin", begin, np.int32),
                                      const("end", end, np.int32),
                                      const("strides", strides, np.int32)],
                    out(x.dtype), options, runtimes=LITERT)


@st.composite
def offset_slices(draw: st.DrawFn) -> tuple[np.ndarray, list[int], list[int], list[int]]:
    data = draw(data_arrays(draw(st.sampled_from(DATA_TYPES))))
    begin = [draw(st.integers(0, d - 1)) for d in data.shape]
    sizes = [draw(st.integers(1, d - b)) for d, b in zip(data.shape, begin, strict=True)]
    strides = [draw(st.integers(1, 3)) for _ in data.shape]
    return data, begin, sizes, strides


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(offset_slices())
def test_strided_slice_offset_matches_litert(
        case: tuple[np.ndarray, list[int], list[int], list[int]]) -> None:
    """TFLM ignores ``offset`` (``end`` is then a size counted from ``begin``)."""
    data, begin, sizes, strides = case
    check_evaluator(B.STRIDED_SLICE, [const("x", data), const("begin", begin, np.int32),
                                      const("end", sizes, np.int32),
                                      const("strides", strides, np.int32)],
                    out(data.dtype), StridedSliceOptions(offset=True), runtimes=LITERT)


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(DATA_TYPES).flatmap(lambda t: data_arrays(t, max_dims=3)),
       st.integers(2, 3), st.integers(-4, 3))
def test_pack(data: np.ndarray, count: int, axis: int) -> None:
    inputs = [const(f"v{i}", data + np.asarray(i, data.dtype)) for i in range(count)]
    check_evaluator(B.PACK, inputs, out(data.dtype), PackOptions(values_count=count, axis=axis),
                    feed=range(count))


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(DATA_TYPES).flatmap(data_arrays), st.integers(-4, 3))
def test_unpack(data: np.ndarray, axis: int) -> None:
    if not -data.ndim <= axis < data.ndim:
        reject()
    num = data.shape[axis]
    outputs = [out(data.dtype, name=f"out{i}") for i in range(num)]
    check_evaluator(B.UNPACK, [const("x", data)], outputs, UnpackOptions(num=num, axis=axis))


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize(("shape", "options", "expected"), [
    ([4, -1], None, (4, 6)),
    ([-1], None, (24,)),
    ([2, 3, 2, 2], ReshapeOptions(new_shape=[2, 3, 2, 2]), (2, 3, 2, 2)),
])
def test_reshape(shape: list[int], options: ReshapeOptions | None,
                 expected: tuple[int, ...]) -> None:
    data = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    got = check_evaluator(B.RESHAPE, [const("x", data), const("shape", shape, np.int32)],
                          out("int8"), options)
    assert got[0].shape == expected


@pytest.mark.litert
@pytest.mark.tflm
def test_reshape_from_the_option_alone() -> None:
    data = np.arange(6, dtype=np.float32)
    got = check_evaluator(B.RESHAPE, [const("x", data)], out(),
                          ReshapeOptions(new_shape=[3, -1]))
    assert got[0].shape == (3, 2)
    op = Operator(B.RESHAPE, [const("x", data)], [out()], ReshapeOptions(new_shape=[4, -1]))
    with pytest.raises(UnsupportedOperatorError, match="does not hold 6 elements"):
        evaluate(op)


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize(("shape", "dims"), [
    ((1, 3, 1, 2), [0, -2]), ((1, 3, 1, 2), None), ((1, 3, 1, 2), []), ((5, 1), [1]),
])
def test_squeeze(shape: tuple[int, ...], dims: list[int] | None) -> None:
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    check_evaluator(B.SQUEEZE, [const("x", data)], out(), SqueezeOptions(squeeze_dims=dims))


def test_squeeze_refuses_a_dimension_that_is_not_1() -> None:
    x = const("x", np.zeros((2, 1), np.float32))
    op = Operator(B.SQUEEZE, [x], [out()], SqueezeOptions(squeeze_dims=[0]))
    with pytest.raises(UnsupportedOperatorError, match="are not 1"):
        evaluate(op)


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("dtype", ["float32", "int8", "int16"])
@pytest.mark.parametrize("axis", [0, 2, 3, -1, -4])
def test_expand_dims(dtype: str, axis: int) -> None:
    data = np.arange(24).astype(dtype).reshape(2, 3, 4)
    check_evaluator(B.EXPAND_DIMS, [const("x", data), const("axis", [axis], np.int32)],
                    out(dtype))


@pytest.mark.litert
@pytest.mark.tflm
def test_expand_dims_int32_matches_litert() -> None:
    """TFLM's EXPAND_DIMS takes float32, int8 and int16 only."""
    data = np.arange(6, dtype=np.int32).reshape(2, 3)
    check_evaluator(B.EXPAND_DIMS, [const("x", data), const("axis", 1, np.int32)], out("int32"),
                    runtimes=LITERT)


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(["float32", "int8", "int16"]).flatmap(
    lambda t: data_arrays(t, max_dims=5, max_side=3)), st.randoms(use_true_random=False))
def test_transpose(data: np.ndarray, random: Any) -> None:
    perm = list(range(data.ndim))
    random.shuffle(perm)
    check_evaluator(B.TRANSPOSE, [const("x", data), const("perm", perm, np.int32)],
                    out(data.dtype))


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(["int32", "uint8", "bool"]).flatmap(lambda t: data_arrays(t, 3)))
def test_transpose_other_types_match_litert(data: np.ndarray) -> None:
    """TFLM's TRANSPOSE takes float32, int8 and int16 only."""
    perm = list(range(data.ndim))[::-1]
    check_evaluator(B.TRANSPOSE, [const("x", data), const("perm", perm, np.int32)],
                    out(data.dtype), runtimes=LITERT)


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(DATA_TYPES).flatmap(lambda t: data_arrays(t, max_dims=3)),
       st.integers(-3, 2), st.integers(1, 3))
def test_concatenation(data: np.ndarray, axis: int, extra: int) -> None:
    if not -data.ndim <= axis < data.ndim:
        reject()
    other_shape = list(data.shape)
    other_shape[axis] = extra
    other = np.arange(np.prod(other_shape)).astype(data.dtype).reshape(other_shape)
    check_evaluator(B.CONCATENATION, [const("a", data), const("b", other)], out(data.dtype),
                    ConcatenationOptions(axis=axis), feed=(0, 1))


def test_concatenation_refuses_requantization_and_activations() -> None:
    a = const("a", np.zeros((2, 2), np.int8), quantization=Quantization(0.5, 0))
    b = const("b", np.zeros((2, 2), np.int8), quantization=Quantization(0.25, 0))
    y = out("int8", Quantization(0.5, 0))
    op = Operator(B.CONCATENATION, [a, b], [y], ConcatenationOptions(axis=0))
    with pytest.raises(UnsupportedOperatorError, match="quantization differ"):
        evaluate(op)
    relu = ConcatenationOptions(axis=0, fused_activation_function=ActivationFunctionType.RELU)
    with pytest.raises(UnsupportedOperatorError, match="fused activation RELU"):
        evaluate(Operator(B.CONCATENATION, [a, a], [y], relu))


@st.composite
def gathers(draw: st.DrawFn, dtypes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int, int]:
    params = draw(data_arrays(draw(st.sampled_from(dtypes)), max_dims=3))
    axis = draw(st.integers(0, params.ndim - 1))
    batch = draw(st.integers(0, axis))
    index_shape = params.shape[:batch] + draw(hnp.array_shapes(min_dims=0, max_dims=2,
                                                               max_side=3))
    indices = draw(hnp.arrays(np.int32, index_shape,
                              elements=st.integers(0, params.shape[axis] - 1)))
    negative_axis = draw(st.booleans())
    return params, indices, axis - params.ndim if negative_axis else axis, batch


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(gathers(["float32", "int8"]))
def test_gather(case: tuple[np.ndarray, np.ndarray, int, int]) -> None:
    params, indices, axis, batch = case
    check_evaluator(B.GATHER, [const("params", params), const("indices", indices)],
                    out(params.dtype), GatherOptions(axis=axis, batch_dims=batch), feed=(0, 1))


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(gathers(["int16", "int32", "int64", "uint8", "bool"]))
def test_gather_other_types_match_litert(case: tuple[np.ndarray, np.ndarray, int, int]) -> None:
    """TFLM's GATHER takes float32 and int8 only."""
    params, indices, axis, batch = case
    check_evaluator(B.GATHER, [const("params", params), const("indices", indices)],
                    out(params.dtype), GatherOptions(axis=axis, batch_dims=batch), feed=(0, 1),
                    runtimes=LITERT)


def test_gather_refuses_an_index_out_of_range() -> None:
    params, indices = const("p", np.zeros(3, np.float32)), const("i", [3], np.int32)
    op = Operator(B.GATHER, [params, indices], [out()], GatherOptions())
    with pytest.raises(UnsupportedOperatorError, match=r"outside \[0, 3\)"):
        evaluate(op)


@st.composite
def slices(draw: st.DrawFn) -> tuple[np.ndarray, list[int], list[int]]:
    data = draw(data_arrays(draw(st.sampled_from(DATA_TYPES))))
    begin = [draw(st.integers(0, d - 1)) for d in data.shape]
    size = [draw(st.sampled_from([-1, draw(st.integers(1, d - b))]))
            for d, b in zip(data.shape, begin, strict=True)]
    return data, begin, size


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(slices())
def test_slice(case: tuple[np.ndarray, list[int], list[int]]) -> None:
    data, begin, size = case
    check_evaluator(B.SLICE, [const("x", data), const("begin", begin, np.int32),
                              const("size", size, np.int32)], out(data.dtype))


def test_slice_refuses_a_window_past_the_end() -> None:
    x = const("x", np.zeros(4, np.float32))
    begin, size = const("b", [2], np.int32), const("s", [3], np.int32)
    op = Operator(B.SLICE, [x, begin, size], [out()])
    with pytest.raises(UnsupportedOperatorError, match="leave shape"):
        evaluate(op)


# ------------------------------------------------------------------------------------------------
# Evaluation: CAST and int32 arithmetic
# ------------------------------------------------------------------------------------------------

TFLM_CAST_FROM = ["float32", "int8", "int16", "int32", "bool"]
TFLM_CAST_TO = ["float32", "int8", "int16", "int32", "uint32", "bool"]
ALL_CAST = ["float32", "float16", "int8", "int16", "int32", "int64", "uint8", "uint32", "bool"]


def cast_inputs(dtype: str) -> st.SearchStrategy[np.ndarray]:
    """Full-range values, and for floats values around every integer type's range."""
    if np.dtype(dtype).kind != "f":
        return hnp.arrays(np.dtype(dtype), hnp.array_shapes(max_dims=2, max_side=5))
    elements = st.one_of(st.floats(-300, 300, width=16 if dtype == "float16" else 32),
                         st.floats(-2.0**32, 2.0**32, width=32))
    return hnp.arrays(np.dtype(dtype), hnp.array_shapes(max_dims=2, max_side=5),
                      elements=elements)


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(TFLM_CAST_FROM).flatmap(cast_inputs), st.sampled_from(TFLM_CAST_TO))
def test_cast(data: np.ndarray, to: str) -> None:
    check_evaluator(B.CAST, [const("x", data)], out(to))


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(ALL_CAST).flatmap(cast_inputs), st.sampled_from(ALL_CAST))
def test_cast_every_type_matches_litert(data: np.ndarray, to: str) -> None:
    """TFLM's CAST lacks int64, uint8 and float16."""
    check_evaluator(B.CAST, [const("x", data)], out(to), runtimes=LITERT)


def test_cast_refuses_floats_that_do_not_fit() -> None:
    for value, to in [(300.0, "int8"), (-1.0, "uint8"), (np.nan, "int32"), (2.0**31, "int32")]:
        x = const("x", [value], np.float32)
        with pytest.raises(UnsupportedOperatorError, match="does not fit"):
            evaluate(Operator(B.CAST, [x], [out(to)]))
    x = const("x", [-0.99, 255.9], np.float32)  # truncation toward zero fits uint8
    assert evaluate(Operator(B.CAST, [x], [out("uint8")]))[0].tolist() == [0, 255]


ARITHMETIC = {B.ADD: AddOptions, B.SUB: SubOptions, B.MUL: MulOptions}
ACTIVATIONS = [ActivationFunctionType.NONE, ActivationFunctionType.RELU,
               ActivationFunctionType.RELU6, ActivationFunctionType.RELU_N1_TO_1]


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(st.sampled_from(sorted(ARITHMETIC)), st.sampled_from(ACTIVATIONS),
       hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
       st.sampled_from([2**31 - 1, 2**15, 9]), st.data())
def test_int32_arithmetic(op_type: BuiltinOperator, activation: ActivationFunctionType,
                          shapes: Any, bound: int, data: st.DataObject) -> None:
    a, b = (data.draw(hnp.arrays(np.int32, s, elements=st.integers(-bound, bound)))
            for s in shapes.input_shapes)
    options = ARITHMETIC[op_type](fused_activation_function=activation)
    shape = np.broadcast_shapes(a.shape, b.shape)
    check_evaluator(op_type, [const("a", a), const("b", b)], out("int32", shape=shape), options,
                    feed=(0, 1))


@pytest.mark.litert
@pytest.mark.tflm
def test_int32_add_with_an_activation_is_refused() -> None:
    """TFLM ignores the fused activation of an int32 ADD (SUB and MUL apply theirs); LiteRT
    applies it. The kernel sides with neither."""
    a, b = const("a", [-3], np.int32), const("b", [1], np.int32)
    options = AddOptions(fused_activation_function=ActivationFunctionType.RELU)
    op = Operator(B.ADD, [a, b], [out("int32", shape=(1,))], options)
    with pytest.raises(UnsupportedOperatorError, match="TFLite Micro ignores it"):
        evaluate(op)
    model, values = _one_op_model(B.ADD, [a, b], [out("int32")], [np.zeros(1, np.int32)],
                                  options, (0, 1))
    assert run_tflm(model, values)[0].tolist() == [-2]
    assert run_litert(model, values)[0].tolist() == [0]


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("op_type", sorted(ARITHMETIC))
def test_int32_overflow_wraps_as_both_runtimes(op_type: BuiltinOperator) -> None:
    big = const("a", [2**31 - 1, -(2**31)], np.int32)
    got = check_evaluator(op_type, [big, const("b", [2**31 - 1, 3], np.int32)],
                          out("int32", shape=(2,)), ARITHMETIC[op_type](), feed=(0, 1))
    wide = {B.ADD: np.add, B.SUB: np.subtract, B.MUL: np.multiply}[op_type](
        np.array([2**31 - 1, -(2**31)]), np.array([2**31 - 1, 3]))
    assert got[0].tolist() == wide.astype(np.int32).tolist()


# ------------------------------------------------------------------------------------------------
# Evaluation: QUANTIZE and DEQUANTIZE
# ------------------------------------------------------------------------------------------------

scales = st.sampled_from([0.1, 0.0173, 1 / 255, 0.5, 3.0, 1e-3])


@st.composite
def quantize_cases(draw: st.DrawFn, dtypes: Sequence[str]) -> tuple[np.ndarray, str, float, int]:
    dtype = draw(st.sampled_from(dtypes))
    scale = draw(scales)
    info = np.iinfo(dtype)
    zero = 0 if dtype == "int16" else draw(st.integers(int(info.min), int(info.max)))
    halfway = st.integers(-40000, 40000).map(lambda k: np.float32((k + 0.5) * scale))
    elements = st.one_of(st.floats(-500, 500, width=32), halfway)
    data = draw(hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=5),
                           elements=elements))
    return data, dtype, scale, zero


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(quantize_cases(["int8", "int16"]))
def test_quantize(case: tuple[np.ndarray, str, float, int]) -> None:
    data, dtype, scale, zero = case
    check_evaluator(B.QUANTIZE, [const("x", data)], out(dtype, Quantization(scale, zero)))


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(quantize_cases(["uint8"]))
def test_quantize_uint8_matches_litert(case: tuple[np.ndarray, str, float, int]) -> None:
    """TFLM's QUANTIZE has no float32 -> uint8."""
    data, dtype, scale, zero = case
    check_evaluator(B.QUANTIZE, [const("x", data)], out(dtype, Quantization(scale, zero)),
                    runtimes=LITERT)


@pytest.mark.litert
def test_quantize_per_channel_matches_litert() -> None:
    """TFLM's QUANTIZE is per tensor only."""
    x = const("x", [[1.0, 2.0], [-3.0, 0.26]], np.float32)
    per_channel = out("int8", Quantization([0.1, 0.2], [0, 3], quantized_dimension=1),
                      shape=(2, 2))
    check_evaluator(B.QUANTIZE, [x], per_channel, runtimes=LITERT)


@st.composite
def quantized_arrays(draw: st.DrawFn, dtypes: Sequence[str], per_channel: bool
                     ) -> tuple[np.ndarray, Quantization]:
    dtype = draw(st.sampled_from(dtypes))
    data = draw(hnp.arrays(np.dtype(dtype), hnp.array_shapes(max_dims=3, max_side=5)))
    axis = draw(st.integers(0, data.ndim - 1)) if per_channel else 0
    count = data.shape[axis] if per_channel else 1
    info = np.iinfo(dtype)
    zeros = [0 if dtype == "int16" else draw(st.integers(int(info.min), int(info.max)))
             for _ in range(count)]
    chosen = [draw(st.floats(2.0**-20, 10.0, width=32)) for _ in range(count)]
    return data, Quantization(chosen, zeros, quantized_dimension=axis)


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(quantized_arrays(["int8", "int16", "uint8"], per_channel=False))
def test_dequantize(case: tuple[np.ndarray, Quantization]) -> None:
    data, quantization = case
    check_evaluator(B.DEQUANTIZE, [const("q", data, quantization=quantization)], out())


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(quantized_arrays(["int8", "uint8"], per_channel=True))
def test_dequantize_per_channel_matches_litert(case: tuple[np.ndarray, Quantization]) -> None:
    """TFLM's DEQUANTIZE applies the first scale and zero point to every channel (see
    test_tflm_dequantize_ignores_channels); LiteRT honours them."""
    data, quantization = case
    check_evaluator(B.DEQUANTIZE, [const("q", data, quantization=quantization)], out(),
                    runtimes=LITERT)


@pytest.mark.litert
@pytest.mark.tflm
def test_tflm_dequantize_ignores_channels() -> None:
    """Why per-channel DEQUANTIZE is checked against LiteRT only."""
    data = np.array([[10, 10], [10, 10]], np.int8)
    quantization = Quantization([0.5, 2.0], [0, 0], quantized_dimension=0)
    op_input = const("q", data, quantization=quantization)
    results = evaluate(Operator(B.DEQUANTIZE, [op_input], [out()]))
    assert results[0].tolist() == [[5.0, 5.0], [20.0, 20.0]]
    model, values = _one_op_model(B.DEQUANTIZE, [op_input], [out()], results, None, (0,))
    assert run_litert(model, values)[0].tolist() == [[5.0, 5.0], [20.0, 20.0]]
    assert run_tflm(model, values)[0].tolist() == [[5.0, 5.0], [5.0, 5.0]]


def test_dequantize_int16_per_channel_is_refused() -> None:
    """No runtime evaluates it: LiteRT rejects it and TFLM ignores the channels."""
    data = np.zeros((2, 3), np.int16)
    q = const("q", data, quantization=Quantization([0.5, 2.0], [0, 0]))
    with pytest.raises(UnsupportedOperatorError, match="int16 per channel"):
        evaluate(Operator(B.DEQUANTIZE, [q], [out()]))


@pytest.mark.litert
@pytest.mark.tflm
@QUICK
@given(hnp.arrays(np.float16, hnp.array_shapes(max_dims=3, max_side=5)))
def test_dequantize_float16_matches_litert(data: np.ndarray) -> None:
    """TFLM's DEQUANTIZE takes no float16."""
    check_evaluator(B.DEQUANTIZE, [const("w", data)], out(), runtimes=LITERT)


def test_unknown_operators_are_not_evaluable() -> None:
    x = const("x", [1.0], np.float32)
    with pytest.raises(UnsupportedOperatorError, match="no kernel for SIN"):
        evaluate(Operator(B.SIN, [x], [out()]))


F = const("f", [[1.0, 2.0]], np.float32)
Q8 = const("q", [1, 2], np.int8, Quantization(0.5, 0))


@pytest.mark.parametrize(("op_type", "inputs", "output", "options", "message"), [
    (B.PACK, [F], out(), ReshapeOptions(), "options of type ReshapeOptions, expected PackOptions"),
    (B.TRANSPOSE, [F], out(), None, "input 1 is missing"),
    (B.CAST, [F], out("string"), None, "output 'out' has type STRING"),
    (B.EXPAND_DIMS, [F, const("a", [3], np.int32)], out(), None, r"axis 3 is outside \[-3, 3\)"),
    (B.EXPAND_DIMS, [F, const("a", [0, 1], np.int32)], out(), None, "not a single value"),
    (B.TRANSPOSE, [F, const("p", [0.0, 1.0], np.float32)], out(), None,
     "perm has type float32, expected integers"),
    (B.TRANSPOSE, [F, const("p", [0, 0], np.int32)], out(), None, "not a permutation"),
    (B.RESHAPE, [F, None], out(), None, "neither a shape input nor a new_shape option"),
    (B.RESHAPE, [F, const("s", [-1, -1], np.int32)], out(), None, "invalid shape"),
    (B.PACK, [F, F], out(), PackOptions(values_count=3), "values_count 3 for 2 inputs"),
    (B.UNPACK, [F], [out(), out()], UnpackOptions(num=3, axis=1), "num 3 for dimension 1"),
    (B.CONCATENATION, [F, const("g", [1.0], np.float32)], out(), ConcatenationOptions(axis=1),
     "do not concatenate"),
    (B.GATHER, [F, const("i", [[0]], np.int32)], out(), GatherOptions(axis=1, batch_dims=2),
     "batch_dims 2 for params"),
    (B.SLICE, [F, const("b", [0], np.int32), const("s", [1], np.int32)], out(), None,
     "begin \\[0\\] and size"),
    (B.CAST, [const("c", [1j], np.complex64)], out(), None, "'c' has type COMPLEX64"),
    (B.ADD, [const("a", [[1], [2]], np.int32), const("b", [1, 2, 3], np.int32)],
     out("int32", shape=(2, 3)), None, None),
    (B.MUL, [const("a", [1, 2], np.int32), const("b", [1, 2, 3], np.int32)], out("int32"), None,
     "do not broadcast"),
    (B.ADD, [const("a", [1], np.int32)] * 2, out("int32", shape=(1,)),
     AddOptions(fused_activation_function=ActivationFunctionType.TANH), "TANH"),
    (B.ADD, [const("a", [1], np.int32)] * 2, out("int32"), None,
     r"broadcast to \[1\], but the output is \[\]"),
    (B.QUANTIZE, [F], out("int8"), None, "output 'out' is not quantized"),
    (B.DEQUANTIZE, [Q8], out("float16"), None, "only float32"),
    (B.DEQUANTIZE, [const("i", [1], np.int8)], out(), None, "INT8 without quantization"),
    (B.DEQUANTIZE, [const("i", [[1, 2]], np.int8, Quantization([1.0, 2.0], [0, 0]))], out(),
     None, "per-channel quantization on dimension 0 of shape"),
], ids=lambda v: v.name if isinstance(v, BuiltinOperator) else "")
def test_kernels_refuse_what_they_do_not_handle(
        op_type: BuiltinOperator, inputs: list[Tensor | None], output: Tensor | list[Tensor],
        options: Table | None, message: str | None) -> None:
    outputs = output if isinstance(output, list) else [output]
    op = Operator(op_type, inputs, outputs, options)
    if message is None:  # the broadcasting control case
        assert evaluate(op)[0].tolist() == [[2, 3, 4], [3, 4, 5]]
        return
    with pytest.raises(UnsupportedOperatorError, match=message):
        evaluate(op)


# ------------------------------------------------------------------------------------------------
# The pass: golden tests
# ------------------------------------------------------------------------------------------------


def build_foldable_model() -> Model:
    """A float model with what the converter leaves for folding: the dynamic-batch chain
    SHAPE -> STRIDED_SLICE -> PACK feeding a RESHAPE, a TRANSPOSE of constant weights and a
    DEQUANTIZE of int8 weights, each feeding a FULLY_CONNECTED."""
    rng = np.random.default_rng(7)
    model = Model("foldable")
    g = model.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 4, 6), "float32", shape_signature=(-1, 4, 6)))

    shape = Tensor("shape", (3,), "int32")
    g.add_operator(B.SHAPE, [x], [shape], ShapeOptions(out_type=TensorType.INT32))
    batch = Tensor("batch", None, "int32")
    g.add_operator(B.STRIDED_SLICE, [shape, const("begin", [0], np.int32),
                                     const("end", [1], np.int32),
                                     const("strides", [1], np.int32)],
                   [batch], StridedSliceOptions(shrink_axis_mask=1))
    new_shape = Tensor("new_shape", (2,), "int32")
    g.add_operator(B.PACK, [batch, const("width", 24, np.int32)], [new_shape],
                   PackOptions(values_count=2, axis=0))
    flat = Tensor("flat", (1, 24), "float32", shape_signature=(-1, 24))
    g.add_operator(B.RESHAPE, [x, new_shape], [flat])

    stored = const("w1/stored", rng.standard_normal((24, 8)), np.float32)
    w1 = Tensor("w1", (8, 24), "float32")
    g.add_operator(B.TRANSPOSE, [stored, const("w1/perm", [1, 0], np.int32)], [w1])
    hidden = Tensor("hidden", (1, 8), "float32")
    g.add_operator(B.FULLY_CONNECTED, [flat, w1, const("b1", rng.standard_normal(8), np.float32)],
                   [hidden], FullyConnectedOptions())

    w2_q = const("w2/int8", rng.integers(-127, 128, (3, 8)), np.int8, Quantization(0.02, 0))
    w2 = Tensor("w2", (3, 8), "float32")
    g.add_operator(B.DEQUANTIZE, [w2_q], [w2])
    y = Tensor("y", (1, 3), "float32")
    g.add_operator(B.FULLY_CONNECTED, [hidden, w2, None], [y], FullyConnectedOptions())
    g.add_output(y)
    return model


def _structure(model: Model) -> list[tuple[str, list[str | None], list[str]]]:
    return [(op.opcode.name, [None if t is None else t.name for t in op.inputs],
             [t.name or "" for t in op.outputs]) for op in model.main.operators]


def _assert_runs_identically(before: bytes, after: Model, seed: int = 0) -> None:
    x = np.random.default_rng(seed).uniform(-1, 1, (1, 4, 6)).astype(np.float32)
    for name, run in RUNTIMES.items():
        assert _exact(run(after.to_bytes(), [x])) == _exact(run(before, [x])), name


@pytest.mark.litert
@pytest.mark.tflm
def test_golden_fold_everything() -> None:
    model = build_foldable_model()
    before = model.to_bytes()
    result = FoldConstants()(model)
    assert result.changes == [
        "subgraph 0: folded SHAPE into constant 'shape' [3] INT32; fixes the dynamic "
        "dimensions of 'x' (shape_signature [-1, 4, 6]) to [1, 4, 6]",
        "subgraph 0: folded STRIDED_SLICE into constant 'batch' [] INT32",
        "subgraph 0: folded PACK into constant 'new_shape' [2] INT32",
        "subgraph 0: folded TRANSPOSE into constant 'w1' [8, 24] FLOAT32",
        "subgraph 0: folded DEQUANTIZE into constant 'w2' [3, 8] FLOAT32",
    ]
    assert result.skipped == []
    # The RESHAPE keeps its data input and reads the folded shape; the weights are constants.
    assert _structure(model) == [
        ("RESHAPE", ["x", "new_shape"], ["flat"]),
        ("FULLY_CONNECTED", ["flat", "w1", "b1"], ["hidden"]),
        ("FULLY_CONNECTED", ["hidden", "w2", None], ["y"]),
    ]
    g = model.main
    assert g.tensor("new_shape").data.tolist() == [1, 24]
    assert g.tensor("batch").data.tolist() == 1 and g.tensor("batch").shape == ()
    stored, w2_q = g.tensor("w1/stored").data, g.tensor("w2/int8").data
    assert np.array_equal(g.tensor("w1").data, stored.T)
    assert g.tensor("w2").data.tobytes() == (w2_q.astype(np.float32) *
                                             np.float32(0.02)).tobytes()
    assert g.tensor("w2").quantization is None and g.tensor("w2").dtype == TensorType.FLOAT32
    assert model.check() == []
    _assert_runs_identically(before, model)
    assert not FoldConstants()(model).modified  # nothing left to fold


@pytest.mark.litert
@pytest.mark.tflm
def test_golden_without_growth() -> None:
    model = build_foldable_model()
    before = model.to_bytes()
    result = FoldConstants(allow_growth=False)(model)
    assert [c.split(" into ")[0] for c in result.changes] == [
        "subgraph 0: folded SHAPE", "subgraph 0: folded STRIDED_SLICE",
        "subgraph 0: folded PACK", "subgraph 0: folded TRANSPOSE"]
    assert result.skipped == [
        "subgraph 0: DEQUANTIZE -> 'w2': not folded: the result (96 bytes) is larger than the "
        "constants it reads (24 bytes) and allow_growth is off"]
    assert [op.opcode.name for op in model.main.operators] == [
        "RESHAPE", "FULLY_CONNECTED", "DEQUANTIZE", "FULLY_CONNECTED"]
    _assert_runs_identically(before, model)


def test_function_form_and_repr() -> None:
    model = build_foldable_model()
    assert fold_constants(model, allow_growth=False) is model
    assert len(model.main.operators) == 4
    assert repr(FoldConstants(allow_growth=False)) == (
        "FoldConstants(allow_growth=False, fold_shapes=True)")
    assert FoldConstants.name == "fold_constants"


@pytest.mark.litert
@pytest.mark.tflm
def test_anomaly_detection_pattern() -> None:
    """The converter's chain as in anomaly_detection: scalar constants stored without a shape,
    strides and end sharing one tensor, an int8 RESHAPE whose shape input becomes constant."""
    model = Model("dynamic batch, int8")
    g = model.add_subgraph("main")
    q = Quantization(0.87, -128)
    x = g.add_input(Tensor("x", (1, 640), "int8", quantization=q, shape_signature=(-1, 640)))
    shape = Tensor("shape", (2,), "int32")
    g.add_operator(B.SHAPE, [x], [shape], ShapeOptions(out_type=TensorType.INT32))
    one = const("one", [1], np.int32)
    batch = Tensor("batch", None, "int32")
    g.add_operator(B.STRIDED_SLICE, [shape, const("zero", [0], np.int32), one, one], [batch],
                   StridedSliceOptions(shrink_axis_mask=1))
    dims = [Tensor(f"d{v}", None, "int32", buffer=Buffer(np.int32(v).tobytes()))
            for v in (5, 128, 1)]  # no shape in the file: scalars
    new_shape = Tensor("new_shape", (4,), "int32")
    g.add_operator(B.PACK, [batch, *dims], [new_shape], PackOptions(values_count=4))
    y = Tensor("y", (1, 5, 128, 1), "int8", quantization=q, shape_signature=(-1, 5, 128, 1))
    g.add_operator(B.RESHAPE, [x, new_shape], [y])
    g.add_output(y)
    before = model.to_bytes()

    result = FoldConstants(allow_growth=False)(model)
    assert len(result.changes) == 3 and result.skipped == []
    assert _structure(model) == [("RESHAPE", ["x", "new_shape"], ["y"])]
    assert g.tensor("new_shape").data.tolist() == [1, 5, 128, 1]
    data = np.random.default_rng(0).integers(-128, 128, (1, 640), dtype=np.int8)
    for name, run in RUNTIMES.items():
        assert _exact(run(model.to_bytes(), [data])) == _exact(run(before, [data])), name


def test_chains_fold_in_one_run_whatever_the_operator_order() -> None:
    model = Model("unsorted")
    g = model.add_subgraph("main")
    x = g.add_input(Tensor("x", (3, 2), "float32"))
    t1, t2, t3 = Tensor("t1", (2, 3), "int32"), Tensor("t2", (3, 2), "int32"), Tensor("t3", (3, 2))
    y = Tensor("y", (3, 2))
    g.add_operator(B.CAST, [t2], [t3])  # the chain's operators in reverse order
    g.add_operator(B.TRANSPOSE, [t1, const("perm", [1, 0], np.int32)], [t2])
    g.add_operator(B.RESHAPE, [const("v", np.arange(6), np.int32), const("s", [2, 3], np.int32)],
                   [t1])
    g.add_operator(B.ADD, [x, t3], [y], AddOptions())
    g.add_output(y)
    result = FoldConstants()(model)
    assert [c.split(" into ")[0] for c in result.changes] == [
        "subgraph 0: folded RESHAPE", "subgraph 0: folded TRANSPOSE", "subgraph 0: folded CAST"]
    assert _structure(model) == [("ADD", ["x", "t3"], ["y"])]
    assert t3.data.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert model.check() == []


def test_every_subgraph_is_folded() -> None:
    model = build_foldable_model()
    body = model.add_subgraph("second")
    z = body.add_input(Tensor("z", (2,), "int32"))
    s = Tensor("s", (2,), "int32")
    body.add_operator(B.SHAPE, [const("m", np.zeros((4, 2)), np.float32)], [s])
    out_tensor = Tensor("zs", (2,), "int32")
    body.add_operator(B.ADD, [z, s], [out_tensor], AddOptions())
    body.add_output(out_tensor)
    result = FoldConstants()(model)
    assert "subgraph 1: folded SHAPE into constant 's' [2] INT32" in result.changes
    assert body.tensor("s").data.tolist() == [4, 2]


# ------------------------------------------------------------------------------------------------
# The pass: what it leaves alone, and says so
# ------------------------------------------------------------------------------------------------


def _graph_with(op_type: BuiltinOperator | str, inputs: list[Tensor | None],
                outputs: list[Tensor], options: Table | None = None, *,
                output_is_graph_output: bool = False) -> Model:
    """A model where one operator reads ``inputs``; its output feeds an ADD unless it is the
    subgraph output itself."""
    model = Model("one candidate")
    g = model.add_subgraph("main")
    x = g.add_input(Tensor("x", outputs[0].shape, outputs[0].dtype))
    g.add_operator(op_type, inputs, outputs, options)
    if output_is_graph_output:
        g.add_output(outputs[0])
    else:
        y = Tensor("y", outputs[0].shape, outputs[0].dtype)
        g.add_operator(B.ADD, [x, outputs[0]], [y], AddOptions())
        g.add_output(y)
    return model


@pytest.mark.parametrize(("model", "reason"), [
    (_graph_with(B.SIN, [const("c", [0.5], np.float32)], [Tensor("t", (1,))]),
     "subgraph 0: SIN -> 't': not folded: no kernel for SIN"),
    (_graph_with(B.TRANSPOSE, [const("c", [[1.0]], np.float32), const("p", [1, 0], np.int32)],
                 [Tensor("t", (1, 1))], output_is_graph_output=True),
     "subgraph 0: TRANSPOSE -> 't': not folded: 't' is a subgraph output"),
    (_graph_with("MyOp", [const("c", [1.0], np.float32)], [Tensor("t", (1,))]),
     "subgraph 0: MyOp -> 't': not folded: the operator has side effects"),
    (_graph_with(B.RESHAPE, [Tensor("v", (1,), "float32", is_variable=True,
                                    buffer=Buffer(np.float32(1).tobytes()))],
                 [Tensor("t", (1,))], ReshapeOptions(new_shape=[1])),
     "subgraph 0: RESHAPE -> 't': not folded: the operator has side effects"),
    (_graph_with(B.CONCATENATION, [const("a", [-1.0], np.float32), const("b", [2.0], np.float32)],
                 [Tensor("t", (2,))], ConcatenationOptions(
                     fused_activation_function=ActivationFunctionType.RELU)),
     "subgraph 0: CONCATENATION -> 't': not folded: fused activation RELU"),
    (_graph_with(B.RESHAPE, [const("a", [1.0, 2.0], np.float32), const("s", [2, 1], np.int32)],
                 [Tensor("t", (1, 2))]),
     "subgraph 0: RESHAPE -> 't': not folded: the result has shape [2, 1] but 't' has shape "
     "[1, 2]"),
    (_graph_with(B.TRANSPOSE, [const("a", [[1.0]], np.float32), const("p", [1, 0], np.int32)],
                 [Tensor("t", (1, 1), "int32")]),
     "subgraph 0: TRANSPOSE -> 't': not folded: 't' is INT32, expected FLOAT32"),
    (_graph_with(B.SHAPE, [Tensor("e", (), "float32", buffer=Buffer(b"\0\0\0\0"))],
                 [Tensor("t", None, "int32")]),
     "subgraph 0: SHAPE -> 't': not folded: the result 't' is empty, which a constant cannot "
     "be"),
    (_graph_with(B.RESHAPE, [Tensor("h", (2,), "float16", buffer=Buffer(b"\0\0")),
                             const("s", [2], np.int32)], [Tensor("t", (2,), "float16")]),
     "subgraph 0: RESHAPE -> 't': not folded: input 'h' holds 2 bytes, not shape (2,) of "
     "FLOAT16"),
], ids=["unknown", "subgraph-output", "custom", "variable", "activation", "declared-shape",
        "declared-type", "empty", "truncated-buffer"])
def test_left_alone_with_a_reason(model: Model, reason: str) -> None:
    ops = [op.opcode.name for op in model.main.operators]
    result = FoldConstants()(model)
    assert result.skipped == [reason]
    assert not result.modified and [op.opcode.name for op in model.main.operators] == ops


def test_operators_reading_computed_tensors_are_skipped_silently(
        runnable_model: Callable[[], Model]) -> None:
    result = FoldConstants()(runnable_model())
    assert not result.modified and result.skipped == []


def test_sparse_and_packed_constants_are_not_read() -> None:
    sparse = const("s", [1.0, 2.0], np.float32)
    sparse.sparsity = object()  # type: ignore[assignment]
    int4 = Tensor("p", (2,), "int4", buffer=Buffer(b"\x12"))
    for tensor, kind in [(sparse, "sparse"), (int4, "INT4")]:
        model = _graph_with(B.RESHAPE, [tensor], [Tensor("t", (2,))],
                            ReshapeOptions(new_shape=[2]))
        result = FoldConstants()(model, check=False)  # the stand-in sparsity does not save
        assert result.skipped == [f"subgraph 0: RESHAPE -> 't': not folded: input "
                                  f"{tensor.name!r} holds {kind} data"]


def test_a_folded_output_loses_its_dynamic_shape_signature() -> None:
    t = Tensor("t", (1, 2), "float32", shape_signature=(-1, 2))
    model = _graph_with(B.RESHAPE, [const("a", [1.0, 2.0], np.float32),
                                    const("s", [1, 2], np.int32)], [t])
    FoldConstants()(model)
    assert t.shape_signature is None and t.data.tolist() == [[1.0, 2.0]]


def test_fold_shapes_off_keeps_dynamic_dimensions() -> None:
    model = build_foldable_model()
    result = FoldConstants(fold_shapes=False)(model)
    assert not any("SHAPE" in change for change in result.changes)
    assert "SHAPE" in [op.opcode.name for op in model.main.operators]

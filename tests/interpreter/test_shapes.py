"""RESHAPE, SQUEEZE, EXPAND_DIMS, SHAPE, FILL, PACK, UNPACK: against literal transcriptions,
TFLite Micro (LiteRT's reference kernels for the types TFLite Micro lacks) and batching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _harness import oracle as oracle_outputs
from _harness import run, single_op
from _movement_cases import TYPES, check, ints, tensor, values

from tflitekit import Model, Tensor, TFLiteKitError, UnsupportedOperatorError
from tflitekit.interpreter import Interpreter
from tflitekit.options import (
    BuiltinOperator as Op,
)
from tflitekit.options import (
    PackOptions,
    ReshapeOptions,
    ShapeOptions,
    SqueezeOptions,
    StridedSliceOptions,
    TensorType,
    UnpackOptions,
)

RNG = np.random.default_rng(5)
TFLM_PACK = ["float32", "int8", "int16", "int32", "int64"]
TFLM_UNPACK = ["float32", "int8", "int16", "int32"]
TFLM_EXPAND = ["float32", "int8", "int16"]
TFLM_FILL = ["float32", "int8", "int32"]


def oracle(dtype: str, supported: list[str]) -> str:
    return "tflm" if dtype in supported else "litert"


def flat(x: np.ndarray) -> list[object]:
    """The values in row-major order, one Python scalar at a time."""
    return [x[i] for i in itertools.product(*map(range, x.shape))]


# -- RESHAPE, SQUEEZE, EXPAND_DIMS ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize(("wanted", "expected"), [
    ([4, -1], (4, 6)), ([-1], (24,)), ([1, 2, 3, 4], (1, 2, 3, 4))])
def test_reshape_keeps_the_order_of_values(dtype: str, wanted: list[int],
                                           expected: tuple[int, ...]) -> None:
    x = values(RNG, (2, 3, 4), dtype)
    m = single_op(Op.RESHAPE, [tensor("x", x.shape, dtype), ints("s", wanted)],
                  [tensor("y", expected, dtype)])
    (y,) = run(m, [x])
    assert y.shape == expected and flat(y) == flat(x)


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("form", ["input", "option", "both"])
def test_reshape_matches_the_runtimes(dtype: str, form: str) -> None:
    shape = [] if form == "option" else [ints("s", [3, -1])]
    opts = None if form == "input" else ReshapeOptions(new_shape=[3, 8])
    m = single_op(Op.RESHAPE, [tensor("x", (1, 4, 6), dtype), *shape],
                  [tensor("y", (3, 8), dtype)], opts)
    check(m, "tflm" if dtype != "uint8" else "litert")


def test_reshape_to_a_computed_shape_takes_the_output_shape() -> None:
    """As TFLite Micro: the shape input's values (unknown before the run) are not read."""
    m = Model("computed shape")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 6), "float32"))
    s = g.add_input(Tensor("s", (2,), "int32"))
    y = Tensor("y", (3, 2), "float32")
    g.add_operator(Op.RESHAPE, [x, s], [y])
    g.add_output(y)
    data = np.arange(6, dtype=np.float32).reshape(1, 6)
    out = Interpreter(m).run([data, np.array([3, 2], np.int32)])[0]
    assert out.tolist() == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize(("shape", "wanted", "message"), [
    ((6,), [4, -1], "does not hold 6 elements"), ((6,), [-1, -1], "invalid shape"),
    ((6,), [2, -3], "invalid shape")])
def test_reshape_refuses_shapes_that_do_not_fit(shape: tuple[int, ...], wanted: list[int],
                                                message: str) -> None:
    m = single_op(Op.RESHAPE, [tensor("x", shape, "float32"), ints("s", wanted)],
                  [tensor("y", (6,), "float32")])
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize(("shape", "dims", "expected"), [
    ((1, 3, 1, 2), [0, -2], (3, 2)), ((1, 3, 1, 2), None, (3, 2)), ((1, 3, 1, 2), [], (3, 2)),
    ((5, 1), [1], (5,)), ((1, 1, 4), [1], (1, 4))])
def test_squeeze(dtype: str, shape: tuple[int, ...], dims: list[int] | None,
                 expected: tuple[int, ...]) -> None:
    m = single_op(Op.SQUEEZE, [tensor("x", shape, dtype)], [tensor("y", expected, dtype)],
                  SqueezeOptions(squeeze_dims=dims))
    x = values(RNG, shape, dtype)
    (y,) = run(m, [x])
    assert y.shape == expected and flat(y) == flat(x)
    check(m, "tflm" if dtype != "uint8" else "litert")


def test_squeeze_refuses_a_dimension_that_is_not_1() -> None:
    m = single_op(Op.SQUEEZE, [tensor("x", (2, 1), "float32")], [tensor("y", (1,), "float32")],
                  SqueezeOptions(squeeze_dims=[0]))
    with pytest.raises(UnsupportedOperatorError, match="are not 1"):
        Interpreter(m)


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("axis", [0, 2, 3, -1, -4])
def test_expand_dims(dtype: str, axis: int) -> None:
    shape = (2, 3, 4)
    at = axis % 4
    expected = (*shape[:at], 1, *shape[at:])
    m = single_op(Op.EXPAND_DIMS, [tensor("x", shape, dtype), ints("a", [axis])],
                  [tensor("y", expected, dtype)])
    x = values(RNG, shape, dtype)
    (y,) = run(m, [x])
    assert y.shape == expected and flat(y) == flat(x)
    check(m, oracle(dtype, TFLM_EXPAND))


def test_expand_dims_refuses_an_axis_out_of_range() -> None:
    m = single_op(Op.EXPAND_DIMS, [tensor("x", (2, 3), "float32"), ints("a", [3])],
                  [tensor("y", (2, 3, 1), "float32")])
    with pytest.raises(UnsupportedOperatorError, match=r"axis 3 is outside \[-3, 3\)"):
        Interpreter(m)


# -- SHAPE, FILL -----------------------------------------------------------------------------------


@pytest.mark.tflm
@pytest.mark.parametrize("shape", [(1, 640), (3, 1, 5, 2), (7,)])
def test_shape(shape: tuple[int, ...]) -> None:
    m = single_op(Op.SHAPE, [tensor("x", shape, "int8")], [Tensor("s", (len(shape),), "int32")],
                  ShapeOptions(out_type=TensorType.INT32))
    assert check(m)[0].tolist() == list(shape)


@pytest.mark.litert
def test_shape_int64_matches_litert() -> None:
    """TFLite Micro's SHAPE writes int32 only."""
    m = single_op(Op.SHAPE, [tensor("x", (2, 3), "float32")], [Tensor("s", (2,), "int64")],
                  ShapeOptions(out_type=TensorType.INT64))
    assert check(m, "litert")[0].tolist() == [2, 3]


def test_shape_is_never_batched() -> None:
    m = single_op(Op.SHAPE, [tensor("x", (1, 3), "float32")], [Tensor("s", (2,), "int32")])
    interpreter = Interpreter(m)
    assert not interpreter.nodes[0].outputs[0].batched
    out = interpreter.run([np.zeros((5, 1, 3), np.float32)])[0]
    assert out.tolist() == [[1, 3]] * 5


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", ["float32", "int8", "int16", "int32", "int64", "bool"])
@pytest.mark.parametrize("dims", [[2, 3], [4], [1, 2, 1, 3]])
def test_fill_with_a_computed_value(dtype: str, dims: list[int]) -> None:
    m = single_op(Op.FILL, [ints("d", dims), tensor("v", (), dtype)],
                  [tensor("y", dims, dtype)])
    value = values(RNG, (), dtype)
    (y,) = run(m, [value])
    assert y.shape == tuple(dims) and all(v == value for v in flat(y))
    check(m, oracle(dtype, TFLM_FILL))


def test_fill_with_a_constant_value_is_not_batched() -> None:
    m = single_op(Op.FILL, [ints("d", [2, 2], np.int64), Tensor.constant("v", np.float32(1.5))],
                  [Tensor("y", (2, 2), "float32")])
    assert not Interpreter(m).nodes[0].outputs[0].batched
    assert run(m, [])[0].tolist() == [[1.5, 1.5], [1.5, 1.5]]


def converter_fill(dtype: str) -> Model:
    """FILL as converters emit it for a dynamic batch (an LSTM's initial state): its dims are
    ``PACK(STRIDED_SLICE(SHAPE(x))[0], 4)``, computed at run time; its value is an input."""
    m = Model("computed dims")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 5, 3), "float32"))
    v = g.add_input(tensor("v", (), dtype))
    shape, batch = Tensor("shape", (3,), "int32"), Tensor("batch", (), "int32")
    dims, y = Tensor("dims", (2,), "int32"), tensor("y", (1, 4), dtype)
    g.add_operator(Op.SHAPE, [x], [shape], ShapeOptions(out_type=TensorType.INT32))
    g.add_operator(Op.STRIDED_SLICE, [shape, ints("b", [0]), ints("e", [1]), ints("s", [1])],
                   [batch], StridedSliceOptions(shrink_axis_mask=1))
    g.add_operator(Op.PACK, [batch, ints("units", 4)], [dims], PackOptions(values_count=2))
    g.add_operator(Op.FILL, [dims, v], [y])
    g.add_output(y)
    return m


@pytest.mark.litert
@pytest.mark.parametrize("dtype", [t for t in TYPES if t != "uint8"])
def test_fill_with_computed_dims_takes_the_output_shape(dtype: str) -> None:
    """As LiteRT, which resizes the output to the dims (TFLite Micro refuses computed dims)."""
    m = converter_fill(dtype)
    x, value = np.zeros((1, 5, 3), np.float32), values(RNG, (), dtype)
    (y,) = run(m, [x, value])
    assert y.shape == (1, 4) and all(v == value for v in flat(y))
    check(m, "litert")


@pytest.mark.tflm
def test_tflm_refuses_computed_dims() -> None:
    """Why the test above asks LiteRT: the day TFLite Micro runs it, it becomes the oracle."""
    m = converter_fill("float32")
    with pytest.raises(RuntimeError):
        oracle_outputs(m, [np.zeros((1, 5, 3), np.float32), np.float32(1.0)], "tflm")


def test_fill_checks_computed_dims_at_run_time() -> None:
    m = single_op(Op.FILL, [Tensor("d", (2,), "int32"), tensor("v", (), "float32")],
                  [tensor("y", (2, 3), "float32")])
    interpreter = Interpreter(m)
    good = interpreter.run([np.array([2, 3], np.int32), np.float32(0.5)])[0]
    assert good.tolist() == [[0.5] * 3] * 2
    with pytest.raises(TFLiteKitError, match=r"operator 0 \(FILL\): dims \[3, 2\] differ from "
                                             r"the output's static shape \[2, 3\]"):
        interpreter.run([np.array([3, 2], np.int32), np.float32(0.5)])
    batch = np.array([[2, 3], [2, 3], [2, 4]], np.int32)
    with pytest.raises(TFLiteKitError, match=r"dims \[2, 4\] differ"):
        interpreter.run([batch, np.full(3, 0.5, np.float32)])
    assert interpreter.run([batch[:2], np.full(2, 0.5, np.float32)])[0].shape == (2, 2, 3)


def test_fill_refuses_computed_dims_of_another_rank() -> None:
    m = single_op(Op.FILL, [Tensor("d", (3,), "int32"), tensor("v", (), "float32")],
                  [tensor("y", (2, 3), "float32")])
    with pytest.raises(UnsupportedOperatorError, match="3 computed dims for an output of shape"):
        Interpreter(m)


def test_fill_refuses_a_vector_value_and_a_type_change() -> None:
    m = single_op(Op.FILL, [ints("d", [2]), tensor("v", (1,), "float32")],
                  [tensor("y", (2,), "float32")])
    with pytest.raises(UnsupportedOperatorError, match="expected a vector and a scalar"):
        Interpreter(m)
    m = single_op(Op.FILL, [ints("d", [2]), tensor("v", (), "float32")],
                  [tensor("y", (2,), "int32")])
    with pytest.raises(UnsupportedOperatorError, match="'y' is INT32, expected FLOAT32"):
        Interpreter(m)


# -- PACK, UNPACK ----------------------------------------------------------------------------------


def transcribe_pack(arrays: list[np.ndarray], axis: int) -> np.ndarray:
    shape = list(arrays[0].shape)
    axis %= len(shape) + 1
    shape.insert(axis, len(arrays))
    out = np.zeros(shape, arrays[0].dtype)
    for index in itertools.product(*map(range, shape)):
        rest = index[:axis] + index[axis + 1:]
        out[index] = arrays[index[axis]][rest]
    return out


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", [t for t in TYPES if t != "bool"])
@pytest.mark.parametrize(("shape", "count", "axis"), [
    ((2, 3), 2, 0), ((2, 3), 3, 1), ((2, 3), 2, 2), ((2, 3), 2, -1), ((4,), 3, -2), ((), 2, 0)])
def test_pack(dtype: str, shape: tuple[int, ...], count: int, axis: int) -> None:
    out_shape = list(shape)
    out_shape.insert(axis % (len(shape) + 1), count)
    xs = [tensor(f"x{i}", shape, dtype) for i in range(count)]
    m = single_op(Op.PACK, xs, [tensor("y", out_shape, dtype)],
                  PackOptions(values_count=count, axis=axis))
    arrays = [values(RNG, shape, dtype) for _ in range(count)]
    assert run(m, arrays)[0].tolist() == transcribe_pack(arrays, axis).tolist()
    if shape:  # the runtimes' Python wrappers make 0-d inputs 1-d
        check(m, oracle(dtype, TFLM_PACK))


def test_pack_a_computed_value_with_a_constant() -> None:
    m = single_op(Op.PACK, [tensor("x", (2,), "int32"), ints("c", [7, 8])],
                  [Tensor("y", (2, 2), "int32")], PackOptions(values_count=2, axis=1))
    batch = np.array([[1, 2], [3, 4], [5, 6]], np.int32)
    out = Interpreter(m).run([batch])[0]
    assert out.tolist() == [[[1, 7], [2, 8]], [[3, 7], [4, 8]], [[5, 7], [6, 8]]]


def test_pack_refuses_a_count_or_shapes_that_do_not_match() -> None:
    xs = [tensor("a", (2,), "float32"), tensor("b", (3,), "float32")]
    m = single_op(Op.PACK, xs, [tensor("y", (2, 2), "float32")], PackOptions(values_count=2))
    with pytest.raises(UnsupportedOperatorError, match="values_count 2 for 2 inputs of shapes"):
        Interpreter(m)


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", [t for t in TYPES if t != "int64"])
@pytest.mark.parametrize(("shape", "axis"), [((3, 2), 0), ((3, 2), 1), ((2, 3, 4), -1),
                                             ((2, 3, 4), -2), ((4,), 0)])
def test_unpack(dtype: str, shape: tuple[int, ...], axis: int) -> None:
    at = axis % len(shape)
    rest = shape[:at] + shape[at + 1:]
    count = shape[at]
    outputs = [tensor(f"y{i}", rest, dtype) for i in range(count)]
    m = single_op(Op.UNPACK, [tensor("x", shape, dtype)], outputs,
                  UnpackOptions(num=count, axis=axis))
    x = values(RNG, shape, dtype)
    got = run(m, [x])
    for k, y in enumerate(got):
        for index in itertools.product(*map(range, rest)):
            source = (*index[:at], k, *index[at:])
            assert y[index] == x[source]
    if rest:
        check(m, oracle(dtype, TFLM_UNPACK))


@pytest.mark.parametrize(("opcode", "dtype", "options"), [
    (Op.PACK, "bool", PackOptions(values_count=1)), (Op.UNPACK, "int64", UnpackOptions(num=1)),
    (Op.FILL, "uint8", None)])
def test_types_neither_runtime_takes_are_refused(opcode: Op, dtype: str,
                                                 options: PackOptions | UnpackOptions | None
                                                 ) -> None:
    inputs = [ints("d", [1]), tensor("v", (), dtype)] if opcode == Op.FILL else [
        tensor("x", (1,), dtype)]
    m = single_op(opcode, inputs, [tensor("y", (1,), dtype)], options)
    with pytest.raises(UnsupportedOperatorError, match=f"is {dtype.upper()}, expected"):
        Interpreter(m)


def test_unpack_refuses_a_wrong_count() -> None:
    m = single_op(Op.UNPACK, [tensor("x", (2, 3), "float32")],
                  [tensor("a", (2,), "float32"), tensor("b", (2,), "float32")],
                  UnpackOptions(num=3, axis=1))
    with pytest.raises(UnsupportedOperatorError, match="num 3 for dimension 1"):
        Interpreter(m)

"""STRIDED_SLICE, SLICE, GATHER: against literal transcriptions, TFLite Micro (LiteRT's
reference kernels for the types and masks TFLite Micro lacks) and batching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _harness import assert_matches, run, single_op
from _movement_cases import TYPES, check, ints, tensor, values

from tflitekit import Interpreter, Tensor, TFLiteKitError, UnsupportedOperatorError
from tflitekit.options import BuiltinOperator as Op
from tflitekit.options import GatherOptions, StridedSliceOptions

RNG = np.random.default_rng(3)
TFLM_SLICE = ["float32", "int8", "int16", "int32", "bool"]
TFLM_GATHER = ["float32", "int8"]
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def oracle(dtype: str, supported: list[str]) -> str:
    return "tflm" if dtype in supported else "litert"


def indices(shape: tuple[int, ...]) -> itertools.product[tuple[int, ...]]:
    return itertools.product(*map(range, shape))


# -- STRIDED_SLICE ---------------------------------------------------------------------------------


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(v, hi))


def transcribe_strided_slice(x: np.ndarray, begin: list[int], end: list[int],
                             strides: list[int], begin_mask: int, end_mask: int,
                             shrink: int) -> np.ndarray:
    """TFLite's reference loop (StartForAxis / StopForAxis), one axis of the full spec at a
    time."""
    kept: list[list[int]] = []
    shape: list[int] = []
    for a, size in enumerate(x.shape):
        stride = strides[a]
        start = begin[a]
        if begin_mask >> a & 1:
            start = INT_MIN if stride > 0 else INT_MAX
        start += size if start < 0 else 0
        start = clamp(start, 0, size) if stride > 0 else clamp(start, -1, size - 1)
        if shrink >> a & 1:
            stop = start + 1
        else:
            stop = end[a]
            if end_mask >> a & 1:
                stop = INT_MAX if stride > 0 else INT_MIN
            stop += size if stop < 0 else 0
            stop = clamp(stop, 0, size) if stride > 0 else clamp(stop, -1, size - 1)
        axis = []
        i = start
        while (i < stop) if stride > 0 else (i > stop):
            axis.append(i)
            i += stride
        kept.append(axis)
        if not shrink >> a & 1:
            shape.append(len(axis))
    picked = [x[index] for index in itertools.product(*kept)]
    return np.array(picked, x.dtype).reshape(shape) if picked else np.zeros(shape, x.dtype)


Spec = tuple[str, tuple[int, ...], list[int], list[int], list[int], int, int, int]


def strided_slice_cases(count: int) -> list[Spec]:
    """Random specs over every type, rank 1-4, masks and negative strides, whose shrunk
    indices lie inside the input and whose result is not empty."""
    rng = np.random.default_rng(17)
    cases: list[Spec] = []
    while len(cases) < count:
        dtype = TYPES[len(cases) % len(TYPES)]
        shape = tuple(int(d) for d in rng.integers(1, 5, rng.integers(1, 5)))
        rank = len(shape)
        begin = [int(v) for v in rng.integers(-5, 6, rank)]
        end = [int(v) for v in rng.integers(-5, 6, rank)]
        strides = [int(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in range(rank)]
        begin_mask, end_mask, shrink = (int(v) for v in rng.integers(0, 2**rank, 3))
        x = np.zeros(shape)
        try:
            result = transcribe_strided_slice(x, begin, end, strides, begin_mask, end_mask,
                                              shrink)
        except IndexError:  # a shrunk index outside the input
            continue
        shrunk_backward = any(shrink >> a & 1 and strides[a] < 0 for a in range(rank))
        if result.size and not shrunk_backward:
            cases.append((dtype, shape, begin, end, strides, begin_mask, end_mask, shrink))
    return cases


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize(("dtype", "shape", "begin", "end", "strides", "begin_mask", "end_mask",
                          "shrink"), strided_slice_cases(70))
def test_strided_slice(dtype: str, shape: tuple[int, ...], begin: list[int], end: list[int],
                       strides: list[int], begin_mask: int, end_mask: int, shrink: int) -> None:
    x = values(RNG, shape, dtype)
    want = transcribe_strided_slice(x, begin, end, strides, begin_mask, end_mask, shrink)
    options = StridedSliceOptions(begin_mask=begin_mask, end_mask=end_mask,
                                  shrink_axis_mask=shrink)
    m = single_op(Op.STRIDED_SLICE, [tensor("x", shape, dtype), ints("b", begin), ints("e", end),
                                     ints("s", strides)], [tensor("y", want.shape, dtype)],
                  options)
    (y,) = run(m, [x])
    assert y.shape == want.shape and y.tolist() == want.tolist()
    if want.ndim:  # the runtimes' wrappers cannot return a 0-d output
        check(m, "litert" if dtype in ("int64", "uint8") else "tflm")


@pytest.mark.litert
@pytest.mark.parametrize(("shape", "begin", "end", "strides", "options", "expected"), [
    ((2, 3, 4), [0, 1], [1, 3], [1, 1], StridedSliceOptions(ellipsis_mask=1), (2, 3, 2)),
    ((2, 3, 4), [1, 0], [2, 2], [1, 1], StridedSliceOptions(ellipsis_mask=2), (1, 3, 4)),
    ((2, 3), [0, 0, 0], [1, 1, 2], [1, 1, 1], StridedSliceOptions(new_axis_mask=2),
     (1, 1, 2)),
    ((2, 3), [0, 0], [1, 2], [1, 1], StridedSliceOptions(new_axis_mask=1), (1, 2, 3)),
    ((2, 3, 4), [0, 0, 1], [2, 1, 3], [1, 1, 1],
     StridedSliceOptions(ellipsis_mask=1, new_axis_mask=2), (2, 3, 1, 2)),
    ((3, 4), [1, 1], [2, 2], [1, 2], StridedSliceOptions(offset=True), (2, 1)),
], ids=["ellipsis-first", "ellipsis-last", "new-axis", "new-axis-first", "both", "offset"])
def test_strided_slice_masks_tflm_ignores_match_litert(
        shape: tuple[int, ...], begin: list[int], end: list[int], strides: list[int],
        options: StridedSliceOptions, expected: tuple[int, ...]) -> None:
    m = single_op(Op.STRIDED_SLICE, [tensor("x", shape, "float32"), ints("b", begin),
                                     ints("e", end), ints("s", strides)],
                  [tensor("y", expected, "float32")], options)
    check(m, "litert")


@pytest.mark.parametrize(("begin", "end", "strides", "options", "message"), [
    ([6], [6], [1], StridedSliceOptions(shrink_axis_mask=1), "outside a dimension of 6"),
    ([1], [0], [-1], StridedSliceOptions(shrink_axis_mask=1), "negative stride"),
    ([0], [1], [0], StridedSliceOptions(), "a stride is 0"),
    ([0, 0], [1, 1], [1, 1], StridedSliceOptions(ellipsis_mask=3), "several bits"),
    ([0], [1], [1], StridedSliceOptions(new_axis_mask=2), "bits past the 1 slice entries"),
    ([0, 0], [1, 1], [1, 1], StridedSliceOptions(), "2 slice entries with"),
    ([4], [3], [1], StridedSliceOptions(offset=True), "forward slices inside the input"),
    ([0], [3], [1], StridedSliceOptions(offset=True, begin_mask=1), "without masks"),
    ([0], [1, 2], [1], StridedSliceOptions(), "differ in length"),
], ids=["shrink-outside", "shrink-backward", "stride-0", "two-ellipses", "mask-past-spec",
        "spec-too-long", "offset-outside", "offset-mask", "lengths"])
def test_strided_slice_refuses_what_runtimes_reject_or_misread(
        begin: list[int], end: list[int], strides: list[int], options: StridedSliceOptions,
        message: str) -> None:
    m = single_op(Op.STRIDED_SLICE, [tensor("x", (6,), "int32"), ints("b", begin),
                                     ints("e", end), ints("s", strides)],
                  [tensor("y", (1,), "int32")], options)
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)


def test_strided_slice_needs_a_constant_spec() -> None:
    m = single_op(Op.STRIDED_SLICE, [tensor("x", (6,), "int32"), Tensor("b", (1,), "int32"),
                                     ints("e", [2]), ints("s", [1])], [tensor("y", (2,), "int32")])
    with pytest.raises(UnsupportedOperatorError, match="begin 'b' is not constant"):
        Interpreter(m)


# -- SLICE -----------------------------------------------------------------------------------------


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize(("shape", "begin", "size"), [
    ((5,), [1], [3]), ((4, 3), [1, 0], [-1, 2]), ((2, 3, 4), [0, 1, 1], [2, -1, 3]),
    ((2, 2, 3, 4), [1, 0, 2, 0], [1, 2, 1, -1]), ((1, 2, 2, 3, 2), [0, 1, 0, 1, 1],
                                                   [1, 1, -1, 2, 1])])
@pytest.mark.parametrize("index_type", [np.int32, np.int64])
def test_slice(dtype: str, shape: tuple[int, ...], begin: list[int], size: list[int],
               index_type: type) -> None:
    stops = [d if s == -1 else b + s for d, b, s in zip(shape, begin, size, strict=True)]
    out_shape = tuple(e - b for b, e in zip(begin, stops, strict=True))
    m = single_op(Op.SLICE, [tensor("x", shape, dtype), ints("b", begin, index_type),
                             ints("s", size, index_type)], [tensor("y", out_shape, dtype)])
    x = values(RNG, shape, dtype)
    (y,) = run(m, [x])
    assert y.shape == out_shape
    for index in indices(out_shape):
        assert y[index] == x[tuple(i + b for i, b in zip(index, begin, strict=True))]
    check(m, oracle(dtype, TFLM_SLICE))


@pytest.mark.parametrize(("begin", "size", "message"), [
    ([2], [3], "leave shape"), ([-1], [1], "leave shape"), ([0], [-2], "leave shape"),
    ([0, 0], [1, 1], r"begin \[0, 0\] and size")])
def test_slice_refuses_a_window_outside_the_input(begin: list[int], size: list[int],
                                                  message: str) -> None:
    m = single_op(Op.SLICE, [tensor("x", (4,), "float32"), ints("b", begin), ints("s", size)],
                  [tensor("y", (1,), "float32")])
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)


# -- GATHER ----------------------------------------------------------------------------------------


def transcribe_gather(params: np.ndarray, where: np.ndarray, axis: int, batch: int
                      ) -> np.ndarray:
    axis %= params.ndim
    shape = params.shape[:axis] + where.shape[batch:] + params.shape[axis + 1:]
    out = np.zeros(shape, params.dtype)
    coordinates = where.ndim - batch
    for index in indices(shape):
        position = where[index[:batch] + index[axis:axis + coordinates]]
        source = (*index[:axis], position, *index[axis + coordinates:])
        out[index] = params[source]
    return out


GATHERS = [((5,), (3,), 0, 0), ((4, 3), (2, 2), 0, 0), ((4, 3), (5,), 1, 0),
           ((2, 3, 4), (), -1, 0), ((2, 3, 4), (2, 2), 1, 1), ((2, 3, 4), (2, 3, 2), 2, 2),
           ((2, 3, 4), (2, 1), -2, -1), ((3, 2, 2, 2), (3, 2), 2, 1)]


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize(("shape", "index_shape", "axis", "batch"), GATHERS)
def test_gather_constant_indices(dtype: str, shape: tuple[int, ...],
                                 index_shape: tuple[int, ...], axis: int, batch: int) -> None:
    batch_dims = batch + len(index_shape) if batch < 0 else batch
    where = RNG.integers(0, shape[axis], index_shape).astype(np.int32)
    x = values(RNG, shape, dtype)
    want = transcribe_gather(x, where, axis, batch_dims)
    m = single_op(Op.GATHER, [tensor("x", shape, dtype), Tensor.constant("i", where)],
                  [tensor("y", want.shape, dtype)], GatherOptions(axis=axis, batch_dims=batch))
    assert run(m, [x])[0].tolist() == want.tolist()
    check(m, oracle(dtype, TFLM_GATHER))


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("index_type", ["int32", "int64", "int16"])
@pytest.mark.parametrize(("shape", "index_shape", "axis", "batch"), GATHERS)
def test_gather_computed_indices(index_type: str, shape: tuple[int, ...],
                                 index_shape: tuple[int, ...], axis: int, batch: int) -> None:
    """Params and indices both inputs of the model: every sample gathers its own."""
    batch_dims = batch + len(index_shape) if batch < 0 else batch
    size = shape[axis]
    m = single_op(Op.GATHER, [tensor("x", shape, "float32"), Tensor("i", index_shape, index_type)],
                  [tensor("y", shape[:axis % len(shape)] + index_shape[batch_dims:]
                          + shape[axis % len(shape) + 1:], "float32")],
                  GatherOptions(axis=axis, batch_dims=batch))
    x = values(RNG, shape, "float32")
    where = RNG.integers(0, size, index_shape).astype(index_type)
    ours = Interpreter(m).run([x, where])[0]
    assert ours.tolist() == transcribe_gather(x, where, axis, batch_dims).tolist()
    batch_x = values(RNG, (3, *shape), "float32")
    batch_i = RNG.integers(0, size, (3, *index_shape)).astype(index_type)
    together = Interpreter(m).run([batch_x, batch_i])[0]
    for k in range(3):
        assert together[k].tolist() == transcribe_gather(batch_x[k], batch_i[k], axis,
                                                         batch_dims).tolist()
    if index_shape:
        assert_matches(m, [x, where], "tflm" if index_type == "int32" else "litert")


def test_gather_from_a_constant_table() -> None:
    """An embedding: constant params, computed indices; each sample looks up its own rows."""
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    m = single_op(Op.GATHER, [Tensor.constant("t", table), Tensor("i", (2,), "int32")],
                  [tensor("y", (2, 3), "float32")])
    where = np.array([[3, 0], [1, 1], [2, 3]], np.int32)
    out = Interpreter(m).run([where])[0]
    assert out.tolist() == [table[w].tolist() for w in where]


def test_gather_refuses_indices_out_of_range() -> None:
    m = single_op(Op.GATHER, [tensor("x", (3,), "float32"), ints("i", [3])],
                  [tensor("y", (1,), "float32")])
    with pytest.raises(UnsupportedOperatorError, match=r"outside \[0, 3\)"):
        Interpreter(m)
    m = single_op(Op.GATHER, [tensor("x", (3,), "float32"), Tensor("i", (1,), "int32")],
                  [tensor("y", (1,), "float32")])
    interpreter = Interpreter(m)
    with pytest.raises(TFLiteKitError, match=r"outside \[0, 3\)"):
        interpreter.run([np.zeros(3, np.float32), np.array([-1], np.int32)])


def test_gather_refuses_batch_dims_that_do_not_fit() -> None:
    m = single_op(Op.GATHER, [tensor("x", (1, 2), "float32"), ints("i", [[0]])],
                  [tensor("y", (1,), "float32")], GatherOptions(axis=1, batch_dims=2))
    with pytest.raises(UnsupportedOperatorError, match="batch_dims 2 for params"):
        Interpreter(m)

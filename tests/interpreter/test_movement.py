"""TRANSPOSE, PAD, PADV2, CONCATENATION, SPLIT, SPLIT_V: against literal transcriptions,
TFLite Micro (LiteRT's reference kernels for the types TFLite Micro lacks) and batching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _harness import run, single_op
from _movement_cases import TYPES, check, ints, tensor, values

from tflitekit import Interpreter, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.options import (
    ActivationFunctionType,
    ConcatenationOptions,
    SplitOptions,
    SplitVOptions,
)
from tflitekit.options import BuiltinOperator as Op

RNG = np.random.default_rng(11)
TFLM_TRANSPOSE = ["float32", "int8", "int16"]
TFLM_PAD = ["float32", "int8", "int16", "int32"]
TFLM_CONCATENATION = ["float32", "int8", "int16", "int32", "int64", "bool"]
TFLM_SPLIT = ["float32", "int8", "int16", "int32"]
SPLIT_TYPES = [t for t in TYPES if t != "bool"]


def oracle(dtype: str, supported: list[str]) -> str:
    return "tflm" if dtype in supported else "litert"


def indices(shape: tuple[int, ...]) -> itertools.product[tuple[int, ...]]:
    return itertools.product(*map(range, shape))


# -- TRANSPOSE -------------------------------------------------------------------------------------


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("perm", [[1, 0], [0, 2, 1], [2, 0, 1], [3, 1, 0, 2], [0, 1, 2],
                                  [4, 0, 3, 1, 2]])
def test_transpose(dtype: str, perm: list[int]) -> None:
    shape = (2, 3, 4, 5, 2)[:len(perm)]
    out_shape = tuple(shape[p] for p in perm)
    m = single_op(Op.TRANSPOSE, [tensor("x", shape, dtype), ints("p", perm)],
                  [tensor("y", out_shape, dtype)])
    x = values(RNG, shape, dtype)
    (y,) = run(m, [x])
    for index in indices(out_shape):
        source = [0] * len(shape)
        for k, p in enumerate(perm):
            source[p] = index[k]
        assert y[index] == x[tuple(source)]
    check(m, oracle(dtype, TFLM_TRANSPOSE))


@pytest.mark.parametrize(("perm", "message"), [
    ([0, 0], "not a permutation"), ([0, 2], "not a permutation"), ([-1, 0], "not a permutation"),
    ([0.0, 1.0], "perm has type float32, expected integers")])
def test_transpose_refuses_what_is_no_permutation(perm: list[float], message: str) -> None:
    p = Tensor.constant("p", np.asarray(perm, np.float32 if isinstance(perm[0], float)
                                        else np.int32))
    m = single_op(Op.TRANSPOSE, [tensor("x", (2, 3), "float32"), p],
                  [tensor("y", (3, 2), "float32")])
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)


def test_transpose_needs_a_constant_perm() -> None:
    m = single_op(Op.TRANSPOSE, [tensor("x", (2, 3), "float32"), Tensor("p", (2,), "int32")],
                  [tensor("y", (3, 2), "float32")])
    with pytest.raises(UnsupportedOperatorError, match="perm 'p' is not constant"):
        Interpreter(m)


# -- PAD, PADV2 ------------------------------------------------------------------------------------


def transcribe_pad(x: np.ndarray, paddings: list[list[int]], value: object) -> np.ndarray:
    shape = tuple(b + d + a for (b, a), d in zip(paddings, x.shape, strict=True))
    out = np.zeros(shape, x.dtype)
    for index in indices(shape):
        source = tuple(i - b for i, (b, _) in zip(index, paddings, strict=True))
        inside = all(0 <= s < d for s, d in zip(source, x.shape, strict=True))
        out[index] = x[source] if inside else value
    return out


PADDINGS = [[[1, 2]], [[0, 1], [2, 0]], [[1, 1], [0, 0], [2, 1]], [[0, 0], [1, 2], [3, 0], [0, 0]],
            [[0, 1], [1, 0], [0, 0], [1, 1], [2, 0]]]


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("paddings", PADDINGS, ids=lambda p: f"rank{len(p)}")
def test_pad_with_the_output_zero_point(dtype: str, paddings: list[list[int]]) -> None:
    """int8 and uint8 pad with the output's zero point, every other type with 0."""
    shape = (3, 2, 4, 2, 3)[:len(paddings)]
    zero = {"int8": -7, "uint8": 130}.get(dtype)
    out_shape = [b + d + a for (b, a), d in zip(paddings, shape, strict=True)]
    m = single_op(Op.PAD, [tensor("x", shape, dtype, zero), ints("p", paddings)],
                  [tensor("y", out_shape, dtype, zero)])
    x = values(RNG, shape, dtype)
    assert run(m, [x])[0].tolist() == transcribe_pad(x, paddings, zero or 0).tolist()
    check(m, oracle(dtype, TFLM_PAD))


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("paddings", PADDINGS[:4], ids=lambda p: f"rank{len(p)}")
def test_padv2_with_a_constant_value(dtype: str, paddings: list[list[int]]) -> None:
    shape = (2, 3, 2, 2)[:len(paddings)]
    zero = {"int8": 3, "uint8": 100}.get(dtype)
    value = values(RNG, (), dtype)
    q = tensor("q", (), dtype, zero).quantization
    out_shape = [b + d + a for (b, a), d in zip(paddings, shape, strict=True)]
    m = single_op(Op.PADV2, [tensor("x", shape, dtype, zero), ints("p", paddings),
                             Tensor.constant("v", value, quantization=q)],
                  [tensor("y", out_shape, dtype, zero)])
    x = values(RNG, shape, dtype)
    assert run(m, [x])[0].tolist() == transcribe_pad(x, paddings, value).tolist()
    check(m, oracle(dtype, TFLM_PAD))


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", TFLM_PAD)
def test_padv2_with_a_computed_value(dtype: str) -> None:
    """The pad value is an input of the model: each sample of a batch has its own."""
    m = single_op(Op.PADV2, [tensor("x", (2, 3), dtype), ints("p", [[1, 0], [0, 2]]),
                             tensor("v", (1,), dtype)], [tensor("y", (3, 5), dtype)])
    check(m)


def test_padv2_refuses_a_value_quantized_unlike_the_output() -> None:
    m = single_op(Op.PADV2, [tensor("x", (2,), "int8"), ints("p", [[1, 0]]),
                             Tensor.constant("v", np.int8(1), quantization=Quantization(0.1, 0))],
                  [tensor("y", (3,), "int8")])
    with pytest.raises(UnsupportedOperatorError, match="quantized differently"):
        Interpreter(m)


@pytest.mark.parametrize(("paddings", "message"), [
    ([[1, -1]], r"paddings \[1, -1\] for shape \[2\]"), ([[1, 1], [0, 0]], "expected 1 pairs")])
def test_pad_refuses_bad_paddings(paddings: list[list[int]], message: str) -> None:
    m = single_op(Op.PAD, [tensor("x", (2,), "float32"), ints("p", paddings)],
                  [tensor("y", (2,), "float32")])
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)


# -- CONCATENATION ---------------------------------------------------------------------------------


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize(("shapes", "axis"), [
    ([(2, 3), (1, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1), ([(2, 3), (2, 2)], -1),
    ([(1, 2, 2, 3), (1, 2, 2, 1)], 3), ([(1, 2, 2, 3), (1, 1, 2, 3)], -3), ([(4,)], 0)])
def test_concatenation(dtype: str, shapes: list[tuple[int, ...]], axis: int) -> None:
    at = axis % len(shapes[0])
    out_shape = list(shapes[0])
    out_shape[at] = sum(s[at] for s in shapes)
    zero = 0 if dtype == "int16" else 5
    xs = [tensor(f"x{i}", s, dtype, zero) for i, s in enumerate(shapes)]
    m = single_op(Op.CONCATENATION, xs, [tensor("y", out_shape, dtype, zero)],
                  ConcatenationOptions(axis=axis))
    arrays = [values(RNG, s, dtype) for s in shapes]
    (y,) = run(m, arrays)
    for index in indices(tuple(out_shape)):
        k, position = 0, index[at]
        while position >= shapes[k][at]:
            position -= shapes[k][at]
            k += 1
        source = (*index[:at], position, *index[at + 1:])
        assert y[index] == arrays[k][source]
    check(m, oracle(dtype, TFLM_CONCATENATION))


def test_concatenation_of_a_computed_value_and_a_constant() -> None:
    m = single_op(Op.CONCATENATION, [tensor("x", (1, 2), "float32"),
                                     Tensor.constant("c", np.array([[9.0]], np.float32))],
                  [tensor("y", (1, 3), "float32")], ConcatenationOptions(axis=1))
    out = Interpreter(m).run([np.array([[[1, 2]], [[3, 4]]], np.float32)])[0]
    assert out.tolist() == [[[1, 2, 9]], [[3, 4, 9]]]


def test_concatenation_refuses_requantization_and_activations() -> None:
    a, b = tensor("a", (2,), "int8"), Tensor("b", (2,), "int8",
                                                quantization=Quantization(0.25, 0))
    m = single_op(Op.CONCATENATION, [a, b], [tensor("y", (4,), "int8")], ConcatenationOptions())
    with pytest.raises(UnsupportedOperatorError, match="quantization differ"):
        Interpreter(m)
    relu = ConcatenationOptions(fused_activation_function=ActivationFunctionType.RELU)
    m = single_op(Op.CONCATENATION, [tensor("a", (2,), "float32")],
                  [tensor("y", (2,), "float32")], relu)
    with pytest.raises(UnsupportedOperatorError, match="fused activation RELU"):
        Interpreter(m)
    m = single_op(Op.CONCATENATION, [tensor("a", (2, 2), "float32"), tensor("b", (2,), "float32")],
                  [tensor("y", (4,), "float32")])
    with pytest.raises(UnsupportedOperatorError, match="do not concatenate"):
        Interpreter(m)
    m = single_op(Op.CONCATENATION, [tensor("a", (2,), "int16", 1)],
                  [tensor("y", (2,), "int16", 1)])
    with pytest.raises(UnsupportedOperatorError, match="int16 zero point 1"):
        Interpreter(m)


# -- SPLIT, SPLIT_V --------------------------------------------------------------------------------


def assert_split(x: np.ndarray, got: list[np.ndarray], sizes: list[int], at: int) -> None:
    start = 0
    for y, size in zip(got, sizes, strict=True):
        assert y.shape[at] == size
        for index in indices(y.shape):
            source = (*index[:at], index[at] + start, *index[at + 1:])
            assert y[index] == x[source]
        start += size


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", SPLIT_TYPES)
@pytest.mark.parametrize(("shape", "axis", "count"), [
    ((4, 3), 0, 2), ((4, 3), 1, 3), ((2, 6, 2), -2, 3), ((1, 2, 2, 4), 3, 4), ((3,), 0, 1)])
def test_split(dtype: str, shape: tuple[int, ...], axis: int, count: int) -> None:
    at = axis % len(shape)
    part = list(shape)
    part[at] //= count
    outputs = [tensor(f"y{i}", part, dtype) for i in range(count)]
    m = single_op(Op.SPLIT, [ints("a", axis), tensor("x", shape, dtype)], outputs,
                  SplitOptions(num_splits=count))
    x = values(RNG, shape, dtype)
    assert_split(x, run(m, [x]), [part[at]] * count, at)
    check(m, oracle(dtype, TFLM_SPLIT))


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("dtype", SPLIT_TYPES)
@pytest.mark.parametrize(("shape", "axis", "sizes"), [
    ((4, 3), 0, [1, 3]), ((4, 3), 1, [1, -1, 1]), ((2, 6, 2), -2, [0, 6]),
    ((1, 2, 2, 5), 3, [2, 2, 1]), ((3,), 0, [-1])])
def test_split_v(dtype: str, shape: tuple[int, ...], axis: int, sizes: list[int]) -> None:
    at = axis % len(shape)
    resolved = [s if s >= 0 else shape[at] - sum(t for t in sizes if t >= 0) for s in sizes]
    outputs = [tensor(f"y{i}", (*shape[:at], s, *shape[at + 1:]), dtype)
               for i, s in enumerate(resolved)]
    m = single_op(Op.SPLIT_V, [tensor("x", shape, dtype), ints("s", sizes), ints("a", [axis])],
                  outputs, SplitVOptions(num_splits=len(sizes)))  # LiteRT checks it, TFLM not
    x = values(RNG, shape, dtype)
    assert_split(x, run(m, [x]), resolved, at)
    if 0 not in resolved:  # the runtimes' wrappers cannot return an empty output
        check(m, oracle(dtype, TFLM_SPLIT))


@pytest.mark.parametrize(("opcode", "inputs", "count", "message"), [
    (Op.SPLIT, [ints("a", 0), tensor("x", (3,), "float32")], 2, "num_splits 2 for dimension 0"),
    (Op.SPLIT, [ints("a", 2), tensor("x", (3,), "float32")], 1, r"axis 2 is outside \[-1, 1\)"),
    (Op.SPLIT, [Tensor("a", (), "int32"), tensor("x", (3,), "float32")], 1, "not constant"),
    (Op.SPLIT_V, [tensor("x", (3,), "float32"), ints("s", [1, 1]), ints("a", 0)], 2,
     r"size_splits \[1, 1\] for dimension 0"),
    (Op.SPLIT_V, [tensor("x", (3,), "float32"), ints("s", [-1, -1]), ints("a", 0)], 2,
     r"size_splits \[-1, -1\]"),
    (Op.SPLIT_V, [tensor("x", (3,), "float32"), ints("s", [4, -1]), ints("a", 0)], 2,
     r"size_splits \[4, -1\]"),
    (Op.SPLIT, [ints("a", 0), tensor("x", (2,), "bool")], 1, "is BOOL, expected"),
])
def test_split_refuses(opcode: Op, inputs: list[Tensor], count: int, message: str) -> None:
    dtype = "bool" if "BOOL" in message else "float32"
    options = SplitOptions(num_splits=count) if opcode == Op.SPLIT else None
    m = single_op(opcode, inputs, [tensor(f"y{i}", (1,), dtype) for i in range(count)], options)
    with pytest.raises(UnsupportedOperatorError, match=message):
        Interpreter(m)

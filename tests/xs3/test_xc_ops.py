"""The XC operators other than XC_conv2d_v2 / XC_maxpool2d (``tflitekit.xs3.xc.ops``).

Default tier: option decoding and refusals, and the byte movements against numpy's pad and
slice. xcore tier (xmos-ai-tools): xcore-opt's conversions of synthetic one-operator int8 models
with random quantization, every tensor bit for bit against xmos' host interpreter
(``_xmos_host.compare_with_host``; the corpus models: ``test_corpus_xcore``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _xmos_host import compare_with_host, samples_with_extremes
from flatbuffers import flexbuffers  # type: ignore[import-untyped]

import tflitekit
from tflitekit import Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.interpreter.node import Node, describe
from tflitekit.options import (
    ActivationFunctionType,
    AddOptions,
    BuiltinOperator,
    FullyConnectedOptions,
    MulOptions,
    PadOptions,
    ReducerOptions,
    ReshapeOptions,
    SoftmaxOptions,
    SubOptions,
)
from tflitekit.testing import single_op
from tflitekit.xs3.xc import XC_KERNELS
from tflitekit.xs3.xc.ops import KERNELS

Array = np.ndarray[Any, Any]


# ------------------------------------------------------------------------------------------------
# Default tier: decoding and refusals
# ------------------------------------------------------------------------------------------------


def _node(code: str, inputs: Sequence[Tensor], outputs: Sequence[Tensor],
          opts: dict[str, Any] | None) -> Node:
    blob = None if opts is None else bytes(flexbuffers.Dumps(opts))
    model = single_op(code, inputs, outputs, custom_options=blob)
    return describe(model.main.operators[0])


def _i8(name: str, shape: tuple[int, ...], zp: int = 0) -> Tensor:
    return Tensor(name, shape, "int8", quantization=Quantization(0.1, zp))


def test_registry_is_merged() -> None:
    assert set(KERNELS) == {"XC_pad", "XC_pad_1_to_4", "XC_pad_3_to_4", "XC_slice", "XC_no_op",
                            "XC_add", "XC_mul", "XC_lookup", "XC_mean", "XC_softmax"}
    assert all(XC_KERNELS[k] is KERNELS[k] for k in KERNELS)


def _run(node: Node, *arrays: Array | None) -> Array:
    kernel = KERNELS[node.name]
    return kernel.run(kernel.prepare(node), list(arrays))[0]


def _pad_options(shape: tuple[int, ...], top: int, bottom: int, left: int, right: int
                 ) -> dict[str, int]:
    """XC_pad's layout as xcore-opt derives it for an int8 (1, H, W, C) padded on H and W."""
    _, height, width, channels = shape
    row = (width + left + right) * channels
    return {"s": top * row + left * channels, "l": width * channels, "n": height - 1,
            "p": (left + right) * channels, "e": bottom * row + right * channels}


@pytest.mark.parametrize(("shape", "pads"), [((1, 4, 3, 5), (1, 2, 2, 1)),
                                            ((1, 1, 7, 1), (0, 0, 3, 0)),
                                            ((1, 6, 2, 4), (2, 0, 0, 0))])
def test_pad_layout_is_numpy_pad(shape: tuple[int, ...], pads: tuple[int, int, int, int]) -> None:
    top, bottom, left, right = pads
    out = (1, shape[1] + top + bottom, shape[2] + left + right, shape[3])
    node = _node("XC_pad", [_i8("x", shape, -7)], [_i8("y", out, -7)],
                 {**_pad_options(shape, *pads), "z": int(np.uint32(0xF9F9F9F9).view(np.int32)),
                  "v": False})
    x = np.random.default_rng(0).integers(-128, 128, (3, *shape), dtype=np.int8)
    want = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right), (0, 0)),
                  constant_values=-7)
    np.testing.assert_array_equal(_run(node, x), want)


def test_channel_pads_and_slice_and_no_op() -> None:
    x = np.random.default_rng(1).integers(-128, 128, (2, 1, 3, 5, 3), dtype=np.int8)
    word = int(np.uint32(0x80808080).view(np.int32))
    node = _node("XC_pad_3_to_4", [_i8("x", (1, 3, 5, 3))], [_i8("y", (1, 3, 5, 4))],
                 {"pv": word})
    want = np.pad(x, ((0, 0),) * 4 + ((0, 1),), constant_values=-128)
    np.testing.assert_array_equal(_run(node, x), want)
    node = _node("XC_pad_1_to_4", [_i8("x", (1, 3, 5, 1))], [_i8("y", (1, 3, 5, 4))],
                 {"pv": word})
    np.testing.assert_array_equal(_run(node, x[..., :1]),
                                  np.pad(x[..., :1], ((0, 0),) * 4 + ((0, 3),),
                                         constant_values=-128))
    node = _node("XC_slice", [_i8("x", (1, 3, 5, 3))], [_i8("y", (1, 3, 5, 2))],
                 {"s": 1, "o": 3, "l": 2, "n": 15, "v": False})
    np.testing.assert_array_equal(_run(node, x), x[..., 1:])
    node = _node("XC_no_op", [_i8("x", (1, 3, 5, 3))], [_i8("y", (1, 45))], None)
    np.testing.assert_array_equal(_run(node, x), x.reshape(2, 1, 45))


_REFUSALS: list[tuple[str, tuple[int, ...], tuple[int, ...], dict[str, Any] | None, str]] = [
    ("XC_pad", (1, 4), (1, 6), {"s": 1, "l": 4, "n": 0, "p": 0, "e": 1}, "lack z"),
    ("XC_pad", (1, 4), (1, 6), {"s": 1, "l": 4, "n": 0, "p": 0, "e": 1, "z": 0x01020304},
     "does not repeat one byte"),
    ("XC_pad", (1, 4), (1, 7), {"s": 1, "l": 4, "n": 0, "p": 0, "e": 1, "z": 0},
     "does not map 4 input bytes to 7"),
    ("XC_pad_1_to_4", (1, 2, 2, 2), (1, 2, 2, 4), {"pv": 0}, "cannot be padded"),
    ("XC_slice", (1, 4), (1, 3), {"s": 2, "o": 4, "l": 3, "n": 1}, "does not map"),
    ("XC_no_op", (1, 4), (1, 5), None, "differ"),
    ("XC_mean", (1, 4, 3), (1, 3), {"s": 1, "m": 3, "e": 4, "i": 0.0, "o": 0.0, "sm": 1.0},
     "do not fit"),
    ("XC_mean", (1, 4, 3), (1, 3), None, "no custom options"),
]


@pytest.mark.parametrize(("code", "ishape", "oshape", "opts", "why"), _REFUSALS)
def test_refusals_say_why(code: str, ishape: tuple[int, ...], oshape: tuple[int, ...],
                          opts: dict[str, Any] | None, why: str) -> None:
    node = _node(code, [_i8("x", ishape)], [_i8("y", oshape)], opts)
    with pytest.raises(UnsupportedOperatorError, match=why):
        KERNELS[code].prepare(node)


_BINARY_REFUSALS: list[tuple[str, tuple[int, ...], dict[str, Any], str]] = [
    ("XC_add", (1, 8), {"m1": 1, "m2": 1, "bias": 0, "shift": 0}, "shift 0 outside"),
    ("XC_add", (1, 1), {"m1": 1, "m2": 1, "bias": 0, "shift": 3}, "does not broadcast"),
    ("XC_mul", (1, 8), {"mp": b"123"}, "8-byte block"),
]


@pytest.mark.parametrize(("code", "second", "opts", "why"), _BINARY_REFUSALS)
def test_binary_refusals_say_why(code: str, second: tuple[int, ...], opts: dict[str, Any],
                                 why: str) -> None:
    node = _node(code, [_i8("a", (1, 8)), _i8("b", second)], [_i8("y", (1, 8))], opts)
    with pytest.raises(UnsupportedOperatorError, match=why):
        KERNELS[code].prepare(node)


@pytest.mark.parametrize(("code", "table", "why"), [
    ("XC_lookup", lambda: Tensor("t", (256,), "uint8"), "not a constant 256-entry UINT8"),
    ("XC_softmax", lambda: Tensor.constant("t", np.ones(255, np.float32)),
     "not a constant 256-entry FLOAT32")])
def test_table_refusals_say_why(code: str, table: Callable[[], Tensor], why: str) -> None:
    node = _node(code, [_i8("x", (1, 8)), table()], [_i8("y", (1, 8))], None)
    with pytest.raises(UnsupportedOperatorError, match=why):
        KERNELS[code].prepare(node)


# ------------------------------------------------------------------------------------------------
# xcore tier: against xmos' host interpreter
# ------------------------------------------------------------------------------------------------


# --- synthetic one-operator models ------------------------------------------------------------


def _q(rng: np.random.Generator, name: str, shape: tuple[int, ...],
       scale: float | None = None, zp: int | None = None) -> Tensor:
    scale = float(np.exp(rng.uniform(np.log(0.005), np.log(0.5)))) if scale is None else scale
    zp = int(rng.integers(-128, 128)) if zp is None else zp
    return Tensor(name, shape, "int8", quantization=Quantization(scale, zp))


def _binary(op: BuiltinOperator, shape: tuple[int, ...]) -> Callable[[np.random.Generator], Model]:
    kind = {BuiltinOperator.ADD: AddOptions, BuiltinOperator.SUB: SubOptions,
            BuiltinOperator.MUL: MulOptions}[op]

    def build(rng: np.random.Generator) -> Model:
        return single_op(op, [_q(rng, "a", shape), _q(rng, "b", shape)], [_q(rng, "y", shape)],
                         kind(fused_activation_function=ActivationFunctionType.NONE))
    return build


def _mean(shape: tuple[int, ...], axes: tuple[int, ...], keep: bool
          ) -> Callable[[np.random.Generator], Model]:
    def build(rng: np.random.Generator) -> Model:
        out = tuple(1 if i in axes else s for i, s in enumerate(shape) if keep or i not in axes)
        axis = Tensor.constant("axes", np.array(axes, np.int32))
        return single_op(BuiltinOperator.MEAN, [_q(rng, "x", shape), axis], [_q(rng, "y", out)],
                         ReducerOptions(keep_dims=keep))
    return build


def _softmax(n: int, scale: float | None = None) -> Callable[[np.random.Generator], Model]:
    """SOFTMAX (xcore-opt rewrites only beta = 1) of ``n`` logits."""
    def build(rng: np.random.Generator) -> Model:
        return single_op(BuiltinOperator.SOFTMAX, [_q(rng, "x", (1, n), scale)],
                         [_q(rng, "y", (1, n), 1 / 256, -128)], SoftmaxOptions(beta=1.0))
    return build


def _unary(op: BuiltinOperator, scale: float, zp: int) -> Callable[[np.random.Generator], Model]:
    def build(rng: np.random.Generator) -> Model:
        shape = (1, 5, 7, 11)
        return single_op(op, [_q(rng, "x", shape)], [_q(rng, "y", shape, scale, zp)])
    return build


def _pad(shape: tuple[int, ...], pads: tuple[tuple[int, int], ...]
         ) -> Callable[[np.random.Generator], Model]:
    def build(rng: np.random.Generator) -> Model:
        x = _q(rng, "x", shape)
        assert x.quantization is not None
        out = tuple(s + a + b for s, (a, b) in zip(shape, pads, strict=True))
        y = Tensor("y", out, "int8", quantization=x.quantization)
        paddings = Tensor.constant("paddings", np.array(pads, np.int32))
        return single_op(BuiltinOperator.PAD, [x, paddings], [y], PadOptions())
    return build


def _fc(units: int) -> Callable[[np.random.Generator], Model]:
    """FULLY_CONNECTED with ``units`` outputs (xcore-opt pads them to a multiple of 4 and
    slices), then RESHAPE to 1-D (an XC_no_op)."""
    def build(rng: np.random.Generator) -> Model:
        x, h = _q(rng, "x", (1, 24)), _q(rng, "h", (1, units))
        w = Tensor.constant("w", rng.integers(-127, 128, (units, 24), dtype=np.int8),
                            quantization=Quantization(0.02, 0))
        assert x.quantization is not None
        in_scale = float(np.asarray(x.quantization.scale).ravel()[0])
        bias = Tensor.constant("b", rng.integers(-500, 500, units, dtype=np.int32),
                               quantization=Quantization(0.02 * in_scale, 0))
        model = single_op(BuiltinOperator.FULLY_CONNECTED, [x, w, bias], [h],
                          FullyConnectedOptions())
        shape = Tensor.constant("shape", np.array([1, 1, units], np.int32))
        y = Tensor("y", (1, 1, units), "int8", quantization=h.quantization)
        model.main.add_operator(BuiltinOperator.RESHAPE, [h, shape], [y],
                                ReshapeOptions(new_shape=[1, 1, units]))
        model.main.outputs = [h, y]
        return model
    return build


SYNTHETIC: dict[str, Callable[[np.random.Generator], Model]] = {
    "add": _binary(BuiltinOperator.ADD, (1, 7, 5, 19)),
    "add_16": _binary(BuiltinOperator.ADD, (1, 4, 4, 16)),
    "sub": _binary(BuiltinOperator.SUB, (1, 3, 37)),
    "mul": _binary(BuiltinOperator.MUL, (1, 6, 6, 13)),
    "mean_hw": _mean((1, 6, 5, 24), (1, 2), False),
    "mean_h": _mean((1, 6, 5, 24), (1,), True),
    "mean_c": _mean((1, 6, 5, 24), (3,), True),
    "softmax_5": _softmax(5),
    "softmax_37": _softmax(37),
    "softmax_12_wide": _softmax(12, 0.9),
    "logistic": _unary(BuiltinOperator.LOGISTIC, 1 / 256, -128),
    "tanh": _unary(BuiltinOperator.TANH, 1 / 128, 0),
    "pad_hw": _pad((1, 9, 7, 8), ((0, 0), (1, 2), (2, 1), (0, 0))),
    "pad_odd": _pad((1, 5, 6, 3), ((0, 0), (2, 0), (0, 3), (0, 0))),
    "pad_c_1_to_4": _pad((1, 9, 7, 1), ((0, 0), (0, 0), (0, 0), (0, 3))),
    "pad_c_3_to_4": _pad((1, 9, 7, 3), ((0, 0), (0, 0), (0, 0), (0, 1))),
    "pad_c_5_to_8": _pad((1, 4, 3, 5), ((0, 0), (0, 0), (0, 0), (1, 2))),
    "fc_10": _fc(10),
    "fc_7": _fc(7),
}


@pytest.mark.xcore
@pytest.mark.parametrize("case", sorted(SYNTHETIC))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_xc_ops_match_xmos_host(case: str, seed: int, tmp_path: Path,
                                          xcore_converter: Callable[[Path], Path]) -> None:
    source = tmp_path / f"{case}.tflite"
    SYNTHETIC[case](np.random.default_rng(seed)).save(source)
    model = tflitekit.load(xcore_converter(source))
    result = compare_with_host(model, samples_with_extremes(model, 4, seed=5))
    print(f"{case}: {dict(result.by_operator)}")
    assert not result.differing, result.differing
    ours = set(result.by_operator) & set(KERNELS)
    if not ours:
        pytest.skip(f"xcore-opt turned {case} into {sorted(result.by_operator)}, none of "
                    "these operators")

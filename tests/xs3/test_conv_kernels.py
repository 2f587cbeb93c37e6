"""Conv2d, depthwise conv2d and fully connected on the XS3 engines: engines agree, the
accumulation against numpy, and the whole layer against TFLite (our interpreter's kernels)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tflitekit import Interpreter
from tflitekit.errors import UsageError
from tflitekit.ir import Quantization, Tensor
from tflitekit.options import (
    ActivationFunctionType,
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Padding,
)
from tflitekit.testing import single_op
from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.conv import conv2d, depthwise_conv2d, fully_connected, patches
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.output_transform import derive_transform, output_transform, tflite_multipliers
from tflitekit.xs3.vpu import VPU

Array = npt.NDArray[Any]


def _per_sample(kernel: Any, x: Array) -> Array:
    """The instruction-level engine, one fresh VPU per sample."""
    return np.concatenate([kernel(VPU(Memory(1)), row[None]) for row in x])


def _layer(rng: np.random.Generator, cout: int, w_shape: tuple[int, ...], depth: int,
           axis: int) -> dict[str, Any]:
    w = np.clip(np.rint(rng.normal(0, 40, w_shape)), -127, 127).astype(np.int8)
    s_in, z_in, z_out = 0.02, int(rng.integers(-60, 60)), int(rng.integers(-60, 60))
    s_w = rng.uniform(0.004, 0.02, cout).astype(np.float32)
    s_out = float(s_in * s_w.mean() * 28 * np.sqrt(depth))
    bias = rng.integers(-2000, 2000, cout).astype(np.int32)
    return {"w": w, "s_in": s_in, "z_in": z_in, "z_out": z_out, "s_w": s_w, "s_out": s_out,
            "bias": bias, "wq": Quantization(s_w, np.zeros(cout, np.int64),
                                             quantized_dimension=axis),
            "mult": tflite_multipliers(np.float32(s_in), s_w, np.float32(s_out))}


def _tensors(p: dict[str, Any], x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> Any:
    cout = p["bias"].size
    return ([Tensor("x", x_shape, "int8", quantization=Quantization(p["s_in"], p["z_in"])),
             Tensor.constant("w", p["w"], quantization=p["wq"]),
             Tensor.constant("b", p["bias"], quantization=Quantization(
                 (p["s_in"] * p["s_w"]).astype(np.float32), np.zeros(cout, np.int64)))],
            [Tensor("y", y_shape, "int8", quantization=Quantization(p["s_out"], p["z_out"]))])


def _close_to_tflite(got: Array, want: Array) -> float:
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert diff.max() <= 1
    return float((diff > 0).mean())


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_conv2d_3x3(padding: str) -> None:
    rng = np.random.default_rng(1 + (padding == "SAME"))
    cin, cout, h, w_ = 3, 20, 6, 5
    p = _layer(rng, cout, (cout, 3, 3, cin), 9 * cin, 0)
    stride = (1, 2)
    out_hw = (4, 2) if padding == "VALID" else (6, 3)
    inputs, outputs = _tensors(p, (1, h, w_, cin), (1, *out_hw, cout))
    model = single_op(BuiltinOperator.CONV_2D, inputs, outputs, Conv2DOptions(
        padding=Padding[padding], stride_h=stride[0], stride_w=stride[1],
        fused_activation_function=ActivationFunctionType.NONE))
    x = rng.integers(-128, 128, (3, h, w_, cin), dtype=np.int8)
    t = derive_transform(p["w"], p["bias"], p["z_in"], p["mult"], p["z_out"], channelwise=True)

    def kernel(vpu: Any, xs: Array) -> Array:
        return conv2d(vpu, xs, p["w"], t, input_zero=p["z_in"], stride=stride,
                      padding=padding)  # type: ignore[arg-type]

    batched = kernel(BatchVPU(Memory(3)), x)
    np.testing.assert_array_equal(batched, _per_sample(kernel, x))
    # the accumulation: numpy's raw sums through the same transform
    cols = patches(x, (3, 3), stride=stride, padding=padding,  # type: ignore[arg-type]
                   pad_value=p["z_in"]).reshape(3 * out_hw[0] * out_hw[1], -1)
    acc = cols.astype(np.int64) @ p["w"].reshape(cout, -1).T.astype(np.int64)
    via = output_transform(BatchVPU(Memory(len(acc))), t, acc)
    np.testing.assert_array_equal(batched.reshape(len(acc), cout), via)
    _close_to_tflite(batched, Interpreter(model).run([x])[0])


def test_depthwise_with_multiplier() -> None:
    rng = np.random.default_rng(5)
    cin, dm, h, w_ = 9, 2, 5, 5
    cout = cin * dm
    p = _layer(rng, cout, (1, 3, 3, cout), 9, 3)
    inputs, outputs = _tensors(p, (1, h, w_, cin), (1, h, w_, cout))
    model = single_op(BuiltinOperator.DEPTHWISE_CONV_2D, inputs, outputs, DepthwiseConv2DOptions(
        padding=Padding.SAME, stride_h=1, stride_w=1, depth_multiplier=dm,
        fused_activation_function=ActivationFunctionType.NONE))
    x = rng.integers(-128, 128, (2, h, w_, cin), dtype=np.int8)
    per_channel = p["w"].reshape(9, cout).T
    t = derive_transform(per_channel, p["bias"], p["z_in"], p["mult"], p["z_out"])

    def kernel(vpu: Any, xs: Array) -> Array:
        return depthwise_conv2d(vpu, xs, p["w"], t, input_zero=p["z_in"], padding="SAME")

    batched = kernel(BatchVPU(Memory(2)), x)
    np.testing.assert_array_equal(batched, _per_sample(kernel, x))
    cols = patches(np.repeat(x, dm, axis=3), (3, 3), padding="SAME", pad_value=p["z_in"])
    acc = np.einsum("bhwijc,ijc->bhwc", cols.astype(np.int64),
                    p["w"][0].astype(np.int64)).reshape(-1, cout)
    via = output_transform(BatchVPU(Memory(len(acc))), t, acc)
    np.testing.assert_array_equal(batched.reshape(-1, cout), via)
    _close_to_tflite(batched, Interpreter(model).run([x])[0])


def test_fully_connected() -> None:
    rng = np.random.default_rng(9)
    cout, depth = 21, 70
    p = _layer(rng, cout, (cout, depth), depth, 0)
    inputs, outputs = _tensors(p, (1, depth), (1, cout))
    model = single_op(BuiltinOperator.FULLY_CONNECTED, inputs, outputs,
                      FullyConnectedOptions())
    x = rng.integers(-128, 128, (4, depth), dtype=np.int8)
    t = derive_transform(p["w"], p["bias"], p["z_in"], p["mult"], p["z_out"])

    def kernel(vpu: Any, xs: Array) -> Array:
        return fully_connected(vpu, p["w"], t, xs)

    batched = kernel(BatchVPU(Memory(4)), x)
    np.testing.assert_array_equal(batched, _per_sample(kernel, x))
    acc = x.astype(np.int64) @ p["w"].T.astype(np.int64)
    np.testing.assert_array_equal(batched, output_transform(BatchVPU(Memory(4)), t, acc))
    _close_to_tflite(batched, Interpreter(model).run([x])[0])


def test_agreement_with_tflite_over_many_inputs() -> None:
    """The measured share of outputs that differ from TFLite (each by 1) on a larger batch."""
    rng = np.random.default_rng(12)
    cout, depth = 32, 200
    p = _layer(rng, cout, (cout, depth), depth, 0)
    inputs, outputs = _tensors(p, (1, depth), (1, cout))
    model = single_op(BuiltinOperator.FULLY_CONNECTED, inputs, outputs,
                      FullyConnectedOptions())
    x = rng.integers(-128, 128, (300, depth), dtype=np.int8)
    for channelwise in (False, True):
        t = derive_transform(p["w"], p["bias"], p["z_in"], p["mult"], p["z_out"],
                             channelwise=channelwise)
        got = fully_connected(BatchVPU(Memory(300)), p["w"], t, x)
        assert _close_to_tflite(got, Interpreter(model).run([x])[0]) < 0.03


def test_instruction_counts_of_a_3x3_conv() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (16, 3, 3, 16)).astype(np.int8)  # 144 inputs: 5 chunks
    t = derive_transform(w, None, 0, 0.001, 0)
    vpu = VPU(Memory(1))
    conv2d(vpu, rng.integers(-128, 128, (1, 4, 4, 16), dtype=np.int8), w, t, input_zero=0)
    pixels = 2 * 2
    assert vpu.counts["VLMACCR"] == pixels * 5 * 16 and vpu.counts["VLDC"] == pixels * 5
    assert vpu.counts["VDEPTH8"] == pixels and vpu.counts["VSTD"] == pixels


def test_validation() -> None:
    w = np.zeros((4, 3, 3, 2), np.int8)
    t = derive_transform(w, None, 0, 0.01, 0)
    with pytest.raises(UsageError, match="channels"):
        conv2d(VPU(Memory(1)), np.zeros((1, 5, 5, 3), np.int8), w, t, input_zero=0)
    with pytest.raises(UsageError, match="does not fit"):
        conv2d(VPU(Memory(1)), np.zeros((1, 2, 2, 2), np.int8), w, t, input_zero=0)
    with pytest.raises(UsageError, match="output transform"):
        fully_connected(VPU(Memory(1)), np.zeros((5, 3), np.int8), t, np.zeros((1, 3)))

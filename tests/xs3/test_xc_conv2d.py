"""XC_conv2d_v2 (``tflitekit.xs3.xc.conv2d``): decoding hand-made option blocks, refusals, the
fast path against loops and against our XS3 instruction program. Every corpus layer against
xmos' host interpreter: ``test_corpus_xcore``."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from _xc_layers import (
    Spec,
    dense_layout,
    layer,
    mp_block,
    region,
    with_spec,
)

from tflitekit.errors import UnsupportedOperatorError
from tflitekit.options import TensorType
from tflitekit.xs3.backend import instruction_counts
from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.xc import XC_KERNELS
from tflitekit.xs3.xc.conv2d import emulate, prepare, run

SPECS = {
    "valid direct": Spec(0, (6, 7, 64), 32, (2, 3), stride=(2, 1)),
    "valid indirect": Spec(1, (9, 8, 5), 20, (3, 3), stride=(2, 2), dilation=(1, 2)),
    "valid indirect channelwise": Spec(1, (5, 5, 40), 18, (2, 2), t=1),
    "fully connected": Spec(1, (1, 1, 70), 4, (1, 1)),
    "padded indirect": Spec(2, (7, 6, 3), 17, (3, 3), pads=(1, 1), pad_value=-5),
    "depthwise valid": Spec(3, (8, 9, 24), 24, (3, 2), stride=(1, 2), dilation=(2, 1)),
    "depthwise padded": Spec(4, (6, 6, 20), 20, (3, 3), stride=(2, 2), pads=(1, 1),
                             pad_value=7, t=1),
}


def _inputs(spec: Spec, n: int = 6, seed: int = 1) -> np.ndarray[Any, np.dtype[np.int8]]:
    return np.random.default_rng(seed).integers(-128, 128, (n, *spec.input), dtype=np.int8)


@pytest.mark.parametrize("name", SPECS)
def test_decoding_recovers_the_layer(name: str) -> None:
    spec = SPECS[name]
    built = layer(spec)
    params = prepare(built.node)
    assert params.kind == spec.k
    win = params.window
    assert (win.input, win.kernel, win.stride, win.dilation) == (
        spec.input, spec.kernel, spec.stride, spec.dilation)
    assert win.padding[:2] == spec.pads and win.output == spec.output
    assert params.pad_value == spec.pad_value
    np.testing.assert_array_equal(params.weights, built.weights)
    assert built.transform is not None
    for field in ("initial_shift", "multiplier", "bias", "final_shift"):
        np.testing.assert_array_equal(getattr(params.transform, field),
                                      getattr(built.transform, field))


@pytest.mark.parametrize("name", SPECS)
def test_fast_path_equals_loops_and_the_instruction_program(name: str) -> None:
    spec = SPECS[name]
    built = layer(spec, seed=3)
    params = prepare(built.node)
    x = _inputs(spec)
    got = run(params, [x.reshape(len(x), 1, *spec.input), None, None, None, None])[0]
    assert got.shape == (len(x), 1, *spec.output, spec.oc) and got.dtype == np.int8
    np.testing.assert_array_equal(got[:, 0], built.reference(x))
    emulated = emulate(params, BatchVPU(Memory(len(x))), x)
    np.testing.assert_array_equal(emulated, got[:, 0])


def test_instruction_counts_per_sample() -> None:
    spec = SPECS["valid indirect"]
    counts = instruction_counts(layer(spec).node).counts
    oh, ow = spec.output
    chunks = -(-(3 * 3 * 5) // 32)
    assert counts["VLMACCR"] == oh * ow * 2 * chunks * 16  # 2 groups of 16 channels
    depthwise = SPECS["depthwise valid"]
    counts = instruction_counts(layer(depthwise).node).counts
    assert counts["VLMACC"] == np.prod(depthwise.output) * 2 * 6  # 2 groups, 6 taps


def test_registered() -> None:
    assert {"XC_conv2d_v2", "XC_maxpool2d"} <= set(XC_KERNELS)


VALID = SPECS["valid indirect"]
PADDED = SPECS["padded indirect"]


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: layer(VALID, options={"k": 5}), "kernel type k=5"),
    (lambda: layer(VALID, options={"t": 2}), "transform type t=2"),
    (lambda: layer(VALID, options={"mp": None}), "lack mp"),
    (lambda: layer(VALID, input_type=TensorType.INT16), "expected int8"),
    (lambda: layer(VALID, options={"mp": b"\0" * 8}), "option 'mp' has 8 bytes, expected 40"),
    (lambda: layer(VALID, options={"mp": mp_block(VALID)[:36] + struct.pack("<i", 1)}),
     "is not what lib_nn encodes"),
    (lambda: layer(VALID, options={"p": [region(VALID, h1=3)]}), "do not cover"),
    (lambda: layer(VALID, options={"p": [region(VALID, input_offset=4)]}),
     "not those of a plain output"),
    (lambda: layer(VALID, options={"p": [b"\0" * 40]}), "not 40 bytes and '00'"),
    (lambda: layer(VALID, weights_data=np.zeros(100, np.int8)), "weight bytes"),
    (lambda: layer(VALID, table_data=np.zeros(20, np.int16)), "table of 20 values"),
    (lambda: layer(with_spec(VALID, t=1), table_data=np.arange(-1, 80, dtype=np.int16)),
     "channelwise initial shifts must be non-negative"),
    (lambda: layer(with_spec(PADDED, k=1)), "does not fit"),
])
def test_refusals_say_why(make: Any, reason: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=reason) as info:
        prepare(make().node)
    assert str(info.value).startswith("test layer: ")


def test_refuses_accumulators_that_could_saturate() -> None:
    spec = Spec(0, (1, 1, 132096), 16, (1, 1))
    weights = np.full((16, 132096), -128, np.int8)
    built = layer(spec, weights_data=dense_layout(weights))
    with pytest.raises(UnsupportedOperatorError, match="32-bit saturation"):
        prepare(built.node)


def test_two_threads_split_by_rows() -> None:
    spec = SPECS["valid indirect"]
    parts = [region(spec, h1=2), region(spec, h0=2)]
    built = layer(spec, options={"p": parts})
    params = prepare(built.node)
    assert params.threads == 2
    x = _inputs(spec)
    np.testing.assert_array_equal(run(params, [x])[0][:, 0], built.reference(x))

"""The XC_conv2d_v2 int8 output transform: both engines agree with the whole-array form
(``OutputTransform.apply``), and the derivation from TFLite quantization against TFLite's
result (xmos' own transform is the oracle in ``test_output_transform_oracle``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from _xs3_layers import random_fc_layer
from hypothesis import given, settings
from hypothesis import strategies as st

from tflitekit import Interpreter
from tflitekit.errors import UsageError
from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.output_transform import (
    OutputTransform,
    derive_transform,
    output_transform,
)
from tflitekit.xs3.vpu import VPU

Array = npt.NDArray[Any]


def run_vpu(t: OutputTransform, acc: Array) -> Array:
    rows = [output_transform(VPU(Memory(1)), t, row[None]) for row in np.asarray(acc)]
    return np.concatenate(rows)


def run_batch(t: OutputTransform, acc: Array) -> Array:
    return output_transform(BatchVPU(Memory(len(acc))), t, acc)


_int16 = st.integers(-32768, 32767)


@st.composite
def transforms(draw: st.DrawFn) -> tuple[OutputTransform, Array]:
    channels = draw(st.integers(1, 20))
    grouped = draw(st.booleans())
    initial = (draw(st.integers(-16, 31)) if grouped
               else draw(st.lists(st.integers(0, 31), min_size=channels, max_size=channels)))
    t = OutputTransform(initial, draw(st.lists(_int16, min_size=channels, max_size=channels)),
                        draw(st.lists(_int16, min_size=channels, max_size=channels)),
                        draw(st.integers(-16, 16)))
    edges = st.sampled_from([-2**31 + 1, 2**31 - 1, 0, -1, 1, -32640, -32641, 32767, -32767])
    acc = draw(st.lists(st.lists(st.one_of(edges, st.integers(-2**31 + 1, 2**31 - 1)),
                                 min_size=channels, max_size=channels), min_size=1, max_size=3))
    return t, np.array(acc, np.int64)


@settings(max_examples=60, deadline=None)
@given(transforms())
def test_vpu_program_equals_the_whole_array_transform(case: tuple[OutputTransform, Array]
                                                      ) -> None:
    t, acc = case
    np.testing.assert_array_equal(run_vpu(t, acc), t.apply(acc))


@settings(max_examples=60, deadline=None)
@given(transforms())
def test_batch_engine_equals_the_instruction_level_engine(
        case: tuple[OutputTransform, Array]) -> None:
    t, acc = case
    np.testing.assert_array_equal(run_batch(t, acc), run_vpu(t, acc))


def test_minus_128_only_below_minus_32640() -> None:
    t = OutputTransform(0, [16384] * 4, [0] * 4, 0)  # multiplier 1.0: the lanes pass through
    acc = np.array([[-32640, -32641, -32767, 32767]])
    assert run_vpu(t, acc).tolist() == [[-127, -128, -128, 127]]


def test_instruction_counts_per_group() -> None:
    vpu = VPU(Memory(1))
    output_transform(vpu, OutputTransform(3, [1] * 20, [0] * 20, 0), np.zeros((1, 20)))
    assert vpu.counts["VLSAT"] == vpu.counts["VLMUL"] == vpu.counts["VDEPTH8"] == 2
    assert vpu.counts["VSTRPV"] == 6 and vpu.counts["VLASHR"] == 2
    left = VPU(Memory(1))
    output_transform(left, OutputTransform(-2, [1] * 3, [0] * 3, 0), np.zeros((1, 3)))
    assert left.counts["VLASHR"] == 2 and left.counts["VSTR"] == 3


def test_validation() -> None:
    with pytest.raises(UsageError, match="final_shift"):
        OutputTransform(0, [1, 2], [0, 0], [0, 1])
    with pytest.raises(UsageError, match="non-negative"):
        OutputTransform([0, -1], [1, 2], [0, 0], 0)
    with pytest.raises(UsageError, match="int16"):
        OutputTransform(0, [40000], [0], 0)
    with pytest.raises(UsageError, match="accumulators"):
        output_transform(VPU(Memory(1)), OutputTransform(0, [1], [0], 0), np.zeros((2, 1)))


# -- derivation against TFLite --------------------------------------------------------------------


@pytest.mark.parametrize("channelwise", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
def test_derivation_is_within_one_of_tflite(channelwise: bool, per_channel: bool) -> None:
    rng = np.random.default_rng(11 + 2 * channelwise + per_channel)
    differing = total = 0
    for _ in range(6):
        model, w, bias, z_in, mult, z_out = random_fc_layer(rng, int(rng.integers(1, 40)),
                                                     int(rng.integers(8, 300)), per_channel)
        x = rng.integers(-128, 128, (400, w.shape[1]), dtype=np.int8)
        want = Interpreter(model).run([x])[0].astype(np.int64)
        t = derive_transform(w, bias, z_in, mult, z_out, channelwise=channelwise)
        assert t.grouped != channelwise or len(set(t.initial_shift.tolist())) == 1
        got = t.apply(x.astype(np.int64) @ w.T.astype(np.int64)).astype(np.int64)
        assert np.abs(got - want).max() <= 1
        differing += int((got != want).sum())
        total += got.size
    assert differing / total < 0.03  # measured ≈ 0.5-1 %: only near-ties differ


def test_derivation_runs_on_the_vpu_too() -> None:
    rng = np.random.default_rng(3)
    model, w, bias, z_in, mult, z_out = random_fc_layer(rng, 18, 64, True)
    x = rng.integers(-128, 128, (3, 64), dtype=np.int8)
    t = derive_transform(w, bias, z_in, mult, z_out)
    acc = x.astype(np.int64) @ w.T.astype(np.int64)
    want = Interpreter(model).run([x])[0]
    got = run_vpu(t, acc)
    np.testing.assert_array_equal(got, t.apply(acc))
    assert np.abs(got.astype(int) - want).max() <= 1


def test_constant_channels_and_zero_multipliers() -> None:
    w = np.zeros((2, 4), np.int8)  # nothing depends on the input: the outputs are constants
    t = derive_transform(w, np.array([1000, -1000]), 0, [0.01, 0.5], 3)
    assert t.apply(np.zeros((1, 2), np.int64)).tolist() == [[13, -128]]

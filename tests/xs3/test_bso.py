"""The 2019 notebook's int8 fully connected layer with the BSO output stage: engines agree, an
independent numpy formula of the same arithmetic, the parameter rules, and TFLite's result."""

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
from tflitekit.xs3.bso import BSOParams, bso_params, fully_connected_bso
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.vpu import VPU

Array = npt.NDArray[Any]
_ACC = 2**31 - 1


def _round_sat(v: Array, s: Array, bound: int) -> Array:
    """VLSAT: round half up, saturate; shifts of 32 and more leave the sign (0 or -1)."""
    r = np.minimum(s, 40)
    rounded = np.clip(np.where(r > 0, (v + (np.int64(1) << np.maximum(r - 1, 0))) >> r, v),
                      -bound, bound)
    return np.where(s >= 32, np.where(v < 0, -1, 0), rounded)


def formula(w: Array, p: BSOParams, x: Array) -> Array:
    """The layer in numpy, from lib_nn's description: 32-bit accumulation saturated after every
    32-input chunk, VLSAT shift1, times scale, plus offset_scale·offset, VLSAT shift2 to int8."""
    acc = np.broadcast_to(p.bias.astype(np.int64), (len(x), len(w))).copy()
    for k in range(0, w.shape[1], 32):
        part = x[:, k:k + 32].astype(np.int64) @ w[:, k:k + 32].T.astype(np.int64)
        acc = np.clip(acc + part, -_ACC, _ACC)
    t = _round_sat(acc, p.shift1.astype(np.int64), 32767)
    t = np.clip(t * p.scale.astype(np.int64) + p.offset_scale.astype(np.int64) * p.offset,
                -_ACC, _ACC)
    return _round_sat(t, p.shift2.astype(np.int64), 127).astype(np.int8)


def run_vpu(w: Array, p: BSOParams, x: Array) -> Array:
    return np.concatenate([fully_connected_bso(VPU(Memory(1)), w, p, row[None]) for row in x])


def run_batch(w: Array, p: BSOParams, x: Array) -> Array:
    return fully_connected_bso(BatchVPU(Memory(len(x))), w, p, x)


@st.composite
def layers(draw: st.DrawFn) -> tuple[Array, BSOParams, Array]:
    out, depth = draw(st.integers(1, 20)), draw(st.integers(1, 70))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (out, depth)).astype(np.int8)
    x = rng.integers(-128, 128, (draw(st.integers(1, 3)), depth)).astype(np.int8)
    if draw(st.booleans()):  # extremes: every product at its largest
        w[:], x[:] = -128, -128
    bias = rng.integers(-2**31, 2**31, out) >> draw(st.integers(0, 31))
    p = BSOParams(bias.astype(np.int32), rng.integers(0, 24, out).astype(np.int16),
                  rng.integers(-32768, 32768, out).astype(np.int16),
                  rng.integers(-32768, 32768, out).astype(np.int16),
                  rng.integers(-32768, 32768, out).astype(np.int16),
                  rng.integers(0, 34, out).astype(np.int16))
    return w, p, x


@settings(max_examples=40, deadline=None)
@given(layers())
def test_vpu_program_equals_the_formula(case: tuple[Array, BSOParams, Array]) -> None:
    w, p, x = case
    np.testing.assert_array_equal(run_vpu(w, p, x), formula(w, p, x))


@settings(max_examples=40, deadline=None)
@given(layers())
def test_batch_engine_equals_the_instruction_level_engine(
        case: tuple[Array, BSOParams, Array]) -> None:
    w, p, x = case
    np.testing.assert_array_equal(run_batch(w, p, x), run_vpu(w, p, x))


@given(st.floats(1e-6, 60.0))
def test_parameter_rules(m: float) -> None:
    p = bso_params(np.ones((1, 3), np.int8), None, 0, [m], -5)
    scale, s1, s2 = int(p.scale[0]), int(p.shift1[0]), int(p.shift2[0])
    assert 2**14 <= scale < 2**15  # 15 bits
    assert scale * 2.0**-(s1 + s2) == pytest.approx(m, rel=2**-14)
    assert s1 == 0 or s2 == 21  # the shift goes first to shift1, what is left to shift2
    # the offset zp_out·2^shift2 as a product of two rounded factors: off by at most half a step
    offset_scale, offset = int(p.offset_scale[0]), int(p.offset[0])
    assert abs(offset_scale * offset + 5 * 2**s2) <= offset_scale / 2
    assert abs(offset_scale - np.sqrt(5 * 2**s2)) <= 0.5


def test_zero_points_fold_into_the_bias() -> None:
    w = np.array([[1, 2, 3], [-4, 0, 4]], np.int8)
    p = bso_params(w, np.array([100, -7]), 5, 0.01, 0)
    assert p.bias.tolist() == [100 - 5 * 6, -7]


def test_validation() -> None:
    with pytest.raises(UsageError, match="positive"):
        bso_params(np.ones((1, 2)), None, 0, [0.0], 0)
    with pytest.raises(UsageError, match="negative shift2"):
        bso_params(np.ones((1, 2)), None, 0, [2.0**22], 0)
    with pytest.raises(UsageError, match="shape"):
        BSOParams(np.zeros(2, np.int32), *(np.zeros(3, np.int16) for _ in range(5)))
    p = bso_params(np.ones((2, 4)), None, 0, 0.01, 0)
    with pytest.raises(UsageError, match="batch"):
        fully_connected_bso(VPU(Memory(1)), np.ones((2, 4)), p, np.zeros((1, 5)))


@pytest.mark.parametrize("per_channel", [False, True])
def test_within_one_of_tflite(per_channel: bool) -> None:
    rng = np.random.default_rng(4 + per_channel)
    differing = total = 0
    for _ in range(5):
        out, depth = int(rng.integers(1, 24)), int(rng.integers(8, 200))
        model, w, bias, z_in, mult, z_out = random_fc_layer(rng, out, depth, per_channel)
        x = rng.integers(-128, 128, (300, depth), dtype=np.int8)
        want = Interpreter(model).run([x])[0].astype(np.int64)
        p = bso_params(w, bias, z_in, mult, z_out)
        got = formula(w, p, x).astype(np.int64)
        assert np.abs(got - want).max() <= 1
        assert (got[want == -128] == -127).all()  # symmetric: TFLite's -128 is -127 here
        differing += int(((got != want) & (want > -128)).sum())
        total += int((want > -128).sum())
    assert differing / total < 0.03  # elsewhere only near-ties differ (measured ≈ 0.5 %)


def test_micro_speech_sized_layer_counts() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (4, 4000)).astype(np.int8)
    x = rng.integers(-128, 128, (1, 4000)).astype(np.int8)
    vpu = VPU(Memory(1))
    got = fully_connected_bso(vpu, w, bso_params(w, None, 0, 0.0005, 0), x)
    np.testing.assert_array_equal(got, formula(w, bso_params(w, None, 0, 0.0005, 0), x))
    # one group of 16 outputs, 125 chunks: one VLDC and 16 VLMACCRs each
    assert vpu.counts["VLMACCR"] == 125 * 16 and vpu.counts["VLDC"] == 125 + 2
    assert vpu.counts["VLSAT"] == 2 and vpu.counts["VSTRPV"] == 1

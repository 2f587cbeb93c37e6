"""Our int8 output transform (``tflitekit.xs3.output_transform``) on both engines against lib_nn's
``nn::otfn_int8`` and ``nn::otfn_int8_channelwise`` inside ``xmos-ai-tools`` (``_xmos_sim``).

On the host, those functions are lib_nn's C reference running on its C simulator, so they are an
oracle where the simulator is trustworthy (see ``test_sim_differential``): initial shifts ≤ 31
whose rounding addend does not overflow int32, left shifts ≤ 16, and final shifts ≤ 0 (every
corpus layer's). A positive final shift is a known divergence: the simulator's VLASHR rounds, the
hardware (and ours) floors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from _xmos_sim import otfn_int8, otfn_int8_channelwise

from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.output_transform import OutputTransform, output_transform
from tflitekit.xs3.vpu import VPU

pytestmark = pytest.mark.xcore

I32_MAX = 2**31 - 1
I16_MAX = 32767
BATCH = 8
LAYERS = 150

Int8s = npt.NDArray[np.int8]


def _mixture(rng: np.random.Generator, shape: tuple[int, ...], edges: list[int], low: int,
             high: int) -> npt.NDArray[np.int64]:
    """Values in [low, high]: a third from ``edges``, a third small, a third uniform."""
    kind = rng.integers(0, 3, shape)
    return np.select([kind == 0, kind == 1],
                     [np.array(edges)[rng.integers(0, len(edges), shape)],
                      rng.integers(-300, 301, shape)],
                     rng.integers(low, high + 1, shape)).clip(low, high)


def random_layer(rng: np.random.Generator, channelwise: bool
                 ) -> tuple[OutputTransform, npt.NDArray[np.int64]]:
    """A transform of 1..70 channels in the oracle's domain and (BATCH, C) accumulators."""
    channels = int(rng.integers(1, 71))
    int16_edges = [0, 1, -1, I16_MAX, -I16_MAX, -32768, 16384, -16384, 0x7F80]
    mult = _mixture(rng, (channels,), int16_edges, -32768, I16_MAX)
    bias = _mixture(rng, (channels,), int16_edges, -32768, I16_MAX)
    if channelwise:
        initial = rng.integers(0, 32, channels)
    else:
        initial = np.full(channels, rng.choice([int(rng.integers(-16, 32)), 0, 8, 16, -16]))
    final = int(rng.choice([int(rng.integers(-16, 1)), 0, -1]))
    acc = _mixture(rng, (BATCH, channels),
                   [0, 1, -1, I32_MAX, -I32_MAX, -(2**31), 2**15, -(2**15), -32640, -32641],
                   -(2**31), I32_MAX)
    # The simulator's VLSAT overflows where acc + 2**(s-1) exceeds int32.
    addend = np.where(initial > 0, 1 << np.maximum(initial - 1, 0), 0)
    acc = np.minimum(acc, I32_MAX - addend)
    return OutputTransform(initial, mult, bias, final), acc


def lib_nn(transform: OutputTransform, acc: npt.NDArray[np.int64]) -> Int8s:
    final = int(transform.final_shift[0])
    if transform.grouped:
        rows = [otfn_int8(row, transform.multiplier, transform.bias,
                          int(transform.initial_shift[0]), final) for row in acc]
    else:
        rows = [otfn_int8_channelwise(row, transform.initial_shift, transform.multiplier,
                                      transform.bias, final) for row in acc]
    return np.stack(rows)


def on_vpu(transform: OutputTransform, acc: npt.NDArray[np.int64]) -> Int8s:
    rows = [output_transform(VPU(Memory()), transform, row[None])[0] for row in acc]
    return np.stack(rows).astype(np.int8)


def on_batch(transform: OutputTransform, acc: npt.NDArray[np.int64]) -> Int8s:
    return output_transform(BatchVPU(Memory(batch=acc.shape[0])), transform, acc)


ENGINES: dict[str, Callable[[OutputTransform, npt.NDArray[np.int64]], Int8s]] = {
    "VPU": on_vpu, "BatchVPU": on_batch}


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("channelwise", [False, True], ids=["group", "channelwise"])
def test_matches_lib_nn(engine: str, channelwise: bool) -> None:
    rng = np.random.default_rng([7, channelwise])
    compared = mismatched = 0
    seen: set[int] = set()
    for _ in range(LAYERS):
        transform, acc = random_layer(rng, channelwise)
        want = lib_nn(transform, acc)
        got = ENGINES[engine](transform, acc)
        compared += want.size
        mismatched += int((got != want).sum())
        seen.update(np.unique(want).tolist())
    print(f"{engine} {'channelwise' if channelwise else 'group'}: "
          f"{compared - mismatched}/{compared} outputs equal lib_nn")
    assert mismatched == 0, f"{mismatched}/{compared} outputs differ from lib_nn"
    assert {-128, -127, 127, 0} <= seen  # the saturation edges and the -128 path were reached


def _identity(channels: int, final: int) -> OutputTransform:
    """Initial shift 0, multiplier 1.0 (2**14), bias 0: the transform's input reaches the final
    VLASHR unchanged (for int16 accumulators)."""
    return OutputTransform(0, np.full(channels, 1 << 14), np.zeros(channels, np.int64), final)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_minus_128_boundary(engine: str) -> None:
    """Around -32640, where VDEPTH8's asymmetric rounding switches between -127 and -128."""
    acc = np.arange(-32768, -32768 + 16 * 16).reshape(16, 16)
    transform = _identity(16, 0)
    want = lib_nn(transform, acc)
    assert (ENGINES[engine](transform, acc) == want).all()
    assert set(np.unique(want).tolist()) == {-128, -127}


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_positive_final_shift_floors(engine: str) -> None:
    """Known divergence: lib_nn's C reference rounds a positive final shift through the
    simulator's VLASHR; ours floors, as the hardware. 2040 >> 4 is 127, which VDEPTH8 takes to
    0; rounded it would be 128, giving 1."""
    acc = np.array([[2040, 2047, 2039, -2040]])
    transform = _identity(4, 4)
    floored = np.clip(((acc >> 4) + 128) >> 8, -128, 127)
    got = ENGINES[engine](transform, acc)
    assert (got == floored).all()
    assert (lib_nn(transform, acc) != floored).any()

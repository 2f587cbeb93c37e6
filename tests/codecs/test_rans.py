"""rANS: quantized frequencies, interleaved lanes, within half a percent of the empirical entropy,
and lossless round trips over every integer dtype and shape."""

from __future__ import annotations

import numpy as np
import pytest
from _entropy_arrays import EDGE_ARRAYS, integer_arrays
from hypothesis import given
from hypothesis import strategies as st

from tflitekit.codecs import Encoded, decode, encode
from tflitekit.codecs._symbols import entropy_bits
from tflitekit.codecs.rans import RANS, quantize_frequencies
from tflitekit.errors import CodecError


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=300), st.integers(9, 20))
def test_frequencies_sum_to_the_precision(counts: list[int], bits: int) -> None:
    freqs = quantize_frequencies(counts, bits)
    assert freqs.sum() == 2**bits and freqs.min() >= 1
    # never further than one unit (plus the forced 1s) from the exact share
    share = np.array(counts) * 2**bits / sum(counts)
    assert np.all(freqs <= np.maximum(np.ceil(share), 1) + 0)


def test_frequencies_surplus_from_forced_ones() -> None:
    freqs = quantize_frequencies([10**6] + [1] * 200, 8)
    assert freqs.sum() == 256 and list(freqs[1:]) == [1] * 200


@pytest.mark.parametrize("array", list(EDGE_ARRAYS.values()), ids=list(EDGE_ARRAYS))
def test_round_trip_cases(array: np.ndarray) -> None:
    encoded = encode(array, RANS())
    if np.unique(array).size <= 1:
        assert encoded.payload == b"" and len(encoded.tables) == 1
    out = decode(Encoded.from_bytes(encoded.to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@given(integer_arrays(), st.sampled_from([8, 12, 16, 28]), st.none() | st.integers(1, 9))
def test_lossless_over_every_dtype_and_shape(array: np.ndarray, bits: int,
                                             lanes: int | None) -> None:
    if np.unique(array).size > 2**bits:
        return
    encoded = encode(array, RANS(bits, lanes))
    out = decode(Encoded.from_bytes(encoded.to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("scale", [0.3, 3.0, 30.0])
def test_within_half_a_percent_of_the_entropy(scale: float) -> None:
    rng = np.random.default_rng(5)
    array = np.round(rng.laplace(0, scale, 400_000)).clip(-128, 127).astype(np.int8)
    encoded = encode(array, RANS())
    _, counts = np.unique(array, return_counts=True)
    coded = 8 * (len(encoded.payload) + encoded.table("states").nbytes)
    assert coded < entropy_bits(counts) * 1.005
    np.testing.assert_array_equal(decode(encoded), array)


def test_lanes() -> None:
    # one lane per 2**15 bits of entropy: 100,000 * log2(7) bits -> 8 lanes
    assert encode(np.arange(100_000) % 7, RANS()).table("states").size == 8
    assert encode(np.arange(100) % 7, RANS()).table("states").size == 1
    assert encode(np.arange(100) % 7, RANS(lanes=32)).table("states").size == 32
    assert encode(np.arange(5) % 7, RANS(lanes=32)).table("states").size == 5


def test_refusals() -> None:
    with pytest.raises(CodecError, match="integer"):
        encode(np.zeros(3, np.float32), RANS())
    with pytest.raises(CodecError, match="more than 4 precision bits"):
        encode(np.arange(17), RANS(4))
    with pytest.raises(CodecError, match=r"1\.\.28"):
        encode(np.arange(3), RANS(29))
    encoded = encode(np.arange(10_000) % 37, RANS())
    for payload in (encoded.payload[:-8], encoded.payload + b"\0\0\0\0"):
        bad = Encoded(encoded.codec, encoded.params, encoded.shape, encoded.dtype,
                      encoded.tables, payload)
        with pytest.raises(CodecError, match="payload"):
            decode(bad)

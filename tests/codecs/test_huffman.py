"""Canonical Huffman: optimal length-limited code lengths, DEFLATE's canonical codes, the exact
payload size, and lossless round trips over every integer dtype and shape."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest
from _entropy_arrays import EDGE_ARRAYS, integer_arrays
from hypothesis import given
from hypothesis import strategies as st

from tflitekit.codecs import Encoded, decode, encode
from tflitekit.codecs._symbols import entropy_bits
from tflitekit.codecs.huffman import Huffman, canonical_codes, code_lengths
from tflitekit.errors import CodecError


def _huffman_cost(counts: list[int]) -> int:
    """Total coded bits of an unrestricted Huffman code (sum of the merged weights)."""
    heap = list(counts)
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


def _kraft(lengths: np.ndarray) -> float:
    return float(np.sum(2.0 ** -lengths.astype(np.float64)))


def test_deflate_example() -> None:
    # RFC 1951 section 3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) for A..H.
    lengths = [3, 3, 3, 3, 3, 2, 4, 4]
    codes = canonical_codes(lengths)
    assert [format(int(c), f"0{n}b") for c, n in zip(codes, lengths, strict=True)] == [
        "010", "011", "100", "101", "110", "00", "1110", "1111"]


@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=60))
def test_unlimited_lengths_are_huffman_optimal(counts: list[int]) -> None:
    lengths = code_lengths(np.arange(len(counts)), counts, 32)
    assert _kraft(lengths) == 1.0
    assert int(np.dot(lengths, counts)) == _huffman_cost(counts)


@given(st.lists(st.integers(1, 1000), min_size=2, max_size=6), st.integers(1, 4))
def test_limited_lengths_are_optimal(counts: list[int], limit: int) -> None:
    if len(counts) > 2**limit:
        with pytest.raises(CodecError, match="longer than"):
            code_lengths(np.arange(len(counts)), counts, limit)
        return
    lengths = code_lengths(np.arange(len(counts)), counts, limit)
    assert lengths.max() <= limit and _kraft(lengths) <= 1.0
    best = min(int(np.dot(c, counts))
               for c in itertools.product(range(1, limit + 1), repeat=len(counts))
               if _kraft(np.array(c)) <= 1.0)
    assert int(np.dot(lengths, counts)) == best


def test_limit_binds_on_a_geometric_distribution() -> None:
    counts = [2**k for k in range(20)]
    assert code_lengths(np.arange(20), counts, 32).max() == 19
    lengths = code_lengths(np.arange(20), counts, 8)
    assert lengths.max() == 8 and _kraft(lengths) == 1.0


@given(st.lists(st.integers(1, 50), min_size=1, max_size=30))
def test_lengths_do_not_depend_on_input_order(counts: list[int]) -> None:
    symbols = np.arange(len(counts)) * 7 - 50
    perm = np.random.default_rng(len(counts)).permutation(len(counts))
    lengths = code_lengths(symbols, counts, 16)
    np.testing.assert_array_equal(code_lengths(symbols[perm], np.array(counts)[perm], 16),
                                  lengths[perm])


@given(st.lists(st.integers(1, 50), min_size=2, max_size=40))
def test_canonical_codes_are_prefix_free(counts: list[int]) -> None:
    lengths = code_lengths(np.arange(len(counts)), counts, 16)
    codes = canonical_codes(lengths)
    words = sorted(format(int(c), f"0{int(n)}b") for c, n in zip(codes, lengths, strict=True))
    assert all(not b.startswith(a) for a, b in itertools.pairwise(words))
    # canonical: in (length, position) order the codes count up
    order = np.lexsort((np.arange(len(counts)), lengths))
    left = [int(codes[i]) << (32 - int(lengths[i])) for i in order]
    assert left == sorted(left)


def test_tables_and_payload() -> None:
    array = np.array([[5, 5, 5, 5], [-3, -3, 7, 100]], np.int8)
    encoded = encode(array, Huffman())
    # counts 4, 2, 1, 1 -> lengths 1, 2, 3, 3; canonical order 5, -3, 7, 100
    np.testing.assert_array_equal(encoded.table("counts"), [1, 1, 2])
    np.testing.assert_array_equal(encoded.table("symbols"), [5, -3, 7, 100])
    # 0 0 0 0 10 10 110 111 -> 00001010 110111(00)
    assert encoded.payload == bytes([0b00001010, 0b11011100])
    assert encoded.table("symbols").dtype == np.int8


def test_payload_is_sum_of_code_lengths() -> None:
    rng = np.random.default_rng(3)
    array = np.round(rng.laplace(0, 12, 50_000)).clip(-128, 127).astype(np.int8)
    encoded = encode(array, Huffman())
    _, counts = np.unique(array, return_counts=True)
    bits = int(np.dot(code_lengths(np.unique(array), counts, 16), counts))
    assert len(encoded.payload) == (bits + 7) // 8
    assert 8 * len(encoded.payload) < entropy_bits(counts) * 1.01
    np.testing.assert_array_equal(decode(encoded), array)


@pytest.mark.parametrize("array", list(EDGE_ARRAYS.values()), ids=list(EDGE_ARRAYS))
def test_round_trip_cases(array: np.ndarray) -> None:
    encoded = encode(array, Huffman())
    if np.unique(array).size <= 1:
        assert encoded.payload == b""
    out = decode(Encoded.from_bytes(encoded.to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@given(integer_arrays(), st.sampled_from([8, 12, 16, 32]))
def test_lossless_over_every_dtype_and_shape(array: np.ndarray, limit: int) -> None:
    if np.unique(array).size > 2**limit:
        return
    encoded = encode(array, Huffman(limit))
    assert encoded.table("counts").size <= limit
    out = decode(Encoded.from_bytes(encoded.to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_long_codes_round_trip() -> None:
    # A geometric distribution with 30 symbols: codes up to 29 bits (the searchsorted path).
    counts = [2**k for k in range(24)] + [1] * 6
    array = np.repeat(np.arange(30, dtype=np.int32), counts)
    encoded = encode(np.random.default_rng(0).permutation(array), Huffman(32))
    assert encoded.table("counts").size > 16
    np.testing.assert_array_equal(np.sort(decode(encoded)), array)


def test_refusals() -> None:
    with pytest.raises(CodecError, match="integer"):
        encode(np.zeros(3, np.float32), Huffman())
    with pytest.raises(CodecError, match="longer than 4 bits"):
        encode(np.arange(17), Huffman(4))
    with pytest.raises(CodecError, match=r"1\.\.32"):
        encode(np.arange(3), Huffman(33))
    encoded = encode(np.arange(1000) % 37, Huffman())
    short = Encoded(encoded.codec, encoded.params, encoded.shape, encoded.dtype, encoded.tables,
                    encoded.payload[:-20])
    with pytest.raises(CodecError, match="does not hold 1000 codes"):
        decode(short)

"""Fixed-width MSB-first index packing: TFLite Micro's bit order, lossless over every width."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tflitekit.codecs import Encoded, Packed, decode, encode, pack_indices, unpack_indices
from tflitekit.errors import CodecError

INTEGER_DTYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "bool")


def test_bit_order_is_msb_first() -> None:
    # 3-bit fields 001 010 011 000 101 -> 00101001 10001010 (+ zero padding)
    assert pack_indices(np.array([1, 2, 3, 0, 5]), 3) == bytes([0b00101001, 0b10001010])
    assert pack_indices(np.array([1]), 1) == bytes([0b10000000])
    assert pack_indices(np.array([0xABC]), 12) == bytes([0xAB, 0xC0])
    assert pack_indices(np.array([0xDEADBEEF], np.uint32), 32) == bytes.fromhex("deadbeef")


def test_matches_tflite_micro_packer() -> None:
    lut = pytest.importorskip("tflite_micro.tensorflow.lite.micro.compression.lut")
    rng = np.random.default_rng(1)
    for bits in range(1, 8):
        indices = rng.integers(0, 2**bits, size=101)
        assert pack_indices(indices, bits) == lut.pack_indices(indices, bits)


@given(st.data())
def test_pack_unpack_lossless(data: st.DataObject) -> None:
    bits = data.draw(st.integers(1, 32))
    values = data.draw(hnp.arrays(np.uint64, st.integers(0, 40),
                                  elements=st.integers(0, 2**bits - 1)))
    packed = pack_indices(values, bits)
    assert len(packed) == (values.size * bits + 7) // 8
    out = unpack_indices(packed, bits, values.size)
    assert out.dtype == np.dtype("uint8" if bits <= 8 else "uint16" if bits <= 16 else "uint32")
    np.testing.assert_array_equal(out, values)


@given(st.data())
def test_codec_lossless_over_integer_dtypes(data: st.DataObject) -> None:
    dtype = np.dtype(data.draw(st.sampled_from(INTEGER_DTYPES)))
    top = 1 if dtype.kind == "b" else min(int(np.iinfo(dtype).max), 2**32 - 1)
    array = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0),
                                 elements=st.integers(0, top).map(dtype.type)))
    fewest = max(int(array.max()).bit_length(), 1) if array.size else 1
    bits = data.draw(st.none() | st.integers(fewest, 32))
    encoded = encode(array, Packed(bits))
    assert encoded.params.bits == (fewest if bits is None else bits)
    out = decode(Encoded.from_bytes(encoded.to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_width_from_the_largest_value() -> None:
    assert encode(np.array([0, 5, 3], np.int8), Packed()).params == Packed(3)
    assert encode(np.zeros(4, np.uint8), Packed()).params == Packed(1)
    assert encode(np.zeros(0, np.uint8), Packed()).payload == b""


@pytest.mark.parametrize(("array", "bits", "match"), [
    (np.array([-1, 2]), 4, "non-negative"),
    (np.array([16]), 4, "does not fit"),
    (np.array([1.0]), 4, "integer"),
    (np.array([1]), 0, "1..32"),
    (np.array([1]), 33, "1..32"),
])
def test_rejects(array: np.ndarray, bits: int, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        encode(array, Packed(bits))


def test_unpack_short_data() -> None:
    with pytest.raises(CodecError, match="need 2 bytes"):
        unpack_indices(b"\x00", 3, 4)

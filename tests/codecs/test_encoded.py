"""The codec contract: the self-describing serialization, the registry, encode/decode dispatch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from _codec_arrays import value_arrays
from hypothesis import given
from hypothesis import strategies as st

from tflitekit.codecs import (
    BQ,
    CODECS,
    Codec,
    Encoded,
    KMeans,
    Packed,
    decode,
    encode,
    register,
)
from tflitekit.errors import CodecError


def test_nested_params_and_tables_round_trip() -> None:
    x = np.array([[-3, 0, 4, 90], [1, 2, 3, -100]], np.int16)
    encoded = encode(x, BQ((0.5, -2.0), value="median", axis=1, then=Packed(5)))
    data = encoded.to_bytes()
    assert encoded.nbytes == len(data) and encoded.bits_per_value == 8 * len(data) / 8
    back = Encoded.from_bytes(data)
    assert back.params == encoded.params
    assert isinstance(back.params.then, Packed) and back.params.then.bits == 5
    assert back.params.edges == (0.5, -2.0)
    assert back.inner is not None and back.inner.params == Packed(5)
    for (name, table), (name2, table2) in zip(encoded.tables, back.tables, strict=True):
        assert name == name2 and table.dtype == table2.dtype
        np.testing.assert_array_equal(table, table2)
    np.testing.assert_array_equal(decode(back), decode(encoded))
    assert back.to_bytes() == data


@given(st.data())
def test_serialization_round_trips(data: st.DataObject) -> None:
    array = data.draw(value_arrays())
    then = data.draw(st.sampled_from([Packed(), Packed(16)]))
    params = data.draw(st.sampled_from([BQ(then=then), BQ("quantile", 5, then=then),
                                        KMeans(3, then=then), KMeans(4, axis=0, then=then)]))
    if array.ndim == 0 and getattr(params, "axis", None) is not None:
        params = KMeans(4, then=then)
    encoded = encode(array, params)
    back = Encoded.from_bytes(encoded.to_bytes())
    assert (back.codec, back.params, back.shape, back.dtype) == (
        encoded.codec, encoded.params, encoded.shape, encoded.dtype)
    assert back.to_bytes() == encoded.to_bytes()
    np.testing.assert_array_equal(decode(back), decode(encoded))


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda b: b"XXXX" + b[4:], "magic"),
    (lambda b: b[:4] + b"\x09" + b[5:], "version"),
    (lambda b: b + b"\x00", "trailing"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:12], "truncated"),
])
def test_from_bytes_rejects(mutate: object, match: str) -> None:
    data = encode(np.arange(6, dtype=np.int8).reshape(2, 3), BQ()).to_bytes()
    with pytest.raises(CodecError, match=match):
        Encoded.from_bytes(mutate(data))  # type: ignore[operator]


def test_every_truncation_is_a_codec_error() -> None:
    data = encode(np.arange(-4, 8, dtype=np.int8).reshape(3, 4), KMeans(3, axis=0)).to_bytes()
    for end in range(len(data)):
        with pytest.raises(CodecError):
            Encoded.from_bytes(data[:end])


def test_registry() -> None:
    assert {c.name for c in CODECS.values()} >= {"packed", "bq", "kmeans"}
    assert CODECS[Packed].lossless and not CODECS[BQ].lossless and not CODECS[KMeans].lossless

    @dataclass(frozen=True)
    class Unknown:
        level: int = 0

    with pytest.raises(CodecError, match="no codec takes Unknown"):
        encode(np.zeros(3), Unknown())
    with pytest.raises(ValueError, match="registered twice"):
        register(Codec("packed", Unknown, CODECS[Packed].encode, CODECS[Packed].decode, True))
    with pytest.raises(CodecError, match="unknown codec"):
        decode(Encoded("nope", None, (1,), "int8"))
    with pytest.raises(CodecError, match="no table"):
        Encoded("packed", Packed(1), (1,), "uint8").table("values")

"""FlexBuffer custom options decoded into plain values (``tflitekit.ir.flex``)."""

from __future__ import annotations

import pytest
from flatbuffers import flexbuffers  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from tflitekit import TFLiteKitError
from tflitekit.ir.flex import decode_flex


def _options(binary: bytes) -> bytes:
    b = flexbuffers.Builder()
    with b.Map():
        b.Int("k", 3)
        b.Key("blob")
        b.Blob(b"\x00\xff")
        b.String("name", "abc")
        b.Key("bin")
        b.String(binary.decode("latin-1"))
        with b.Vector("v"):
            b.Int(-1)
            b.Float(2.5)
            b.Bool(True)
        with b.TypedVector("tv"):
            b.Int(4)
            b.Int(5)
    return bytes(b.Finish())


def test_values_strings_and_blobs() -> None:
    data = _options(b"\x10\x00")
    assert decode_flex(data) == {"k": 3, "blob": b"\x00\xff", "name": "abc",
                                 "bin": "\x10\x00", "v": [-1, 2.5, True], "tv": [4, 5]}
    raw = decode_flex(data, raw_strings=True)
    assert raw["name"] == b"abc" and raw["bin"] == b"\x10\x00"


def test_a_string_that_is_not_utf8_comes_back_as_bytes() -> None:
    # the latin-1 text is written as UTF-8 by the builder: build the raw bytes directly instead
    b = flexbuffers.Builder()
    with b.Map():
        b.Key("o")
        b.Blob(b"\x88\x00")
    assert decode_flex(bytes(b.Finish())) == {"o": b"\x88\x00"}


@given(st.binary(max_size=40))
def test_garbage_raises_a_tflitekit_error_or_decodes(data: bytes) -> None:
    try:
        decode_flex(data)
    except TFLiteKitError as exc:
        assert "FlexBuffer" in str(exc)


def test_empty_options_are_refused() -> None:
    with pytest.raises(TFLiteKitError, match="not a FlexBuffer"):
        decode_flex(b"")

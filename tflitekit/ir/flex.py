"""Custom operator options stored as a FlexBuffer, decoded into plain Python values.

FlexBuffers (the ``flatbuffers`` package's ``flexbuffers``) decode strings as UTF-8; custom
operators such as xmos' ``XC_conv2d_v2`` keep binary parameter blocks in strings, so
:func:`decode_flex` returns a string's raw bytes when they are not UTF-8 text, or always
(``raw_strings``) for a reader that knows the strings hold binary data.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import TFLiteKitError

__all__ = ["decode_flex"]


def _value(ref: Any, raw: bool) -> Any:
    if ref.IsMap:
        m = ref.AsMap
        return {k.AsKey: _value(v, raw) for k, v in zip(m.Keys, m.Values, strict=True)}
    if ref.IsString:
        data = bytes(ref.AsStringBytes)
        if raw:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data
    if ref.IsBlob:
        return bytes(ref.AsBlob)
    if ref.IsVector:
        vector = ref.AsVector
        return [_value(vector[i], raw) for i in range(len(vector))]
    if ref.IsTypedVector or ref.IsFixedTypedVector:
        return list(ref.Value)
    return ref.Value


def decode_flex(data: bytes, *, raw_strings: bool = False) -> Any:
    """The FlexBuffer ``data`` as dicts, lists, ints, floats, bools, None, str and bytes
    (blobs, and strings that are not UTF-8 or, with ``raw_strings``, every string);
    :class:`~tflitekit.TFLiteKitError` if it is not a FlexBuffer."""
    from flatbuffers import flexbuffers  # type: ignore[import-untyped]
    try:
        return _value(flexbuffers.GetRoot(bytes(data)), raw_strings)
    except (AssertionError, IndexError, ValueError, TypeError, KeyError, OverflowError,
            RecursionError, struct.error) as exc:  # the flatbuffers reader asserts on some
        raise TFLiteKitError(f"custom options are not a FlexBuffer ({exc})") from None

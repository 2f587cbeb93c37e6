"""Fixed-width index packing, MSB-first, as TFLite Micro's LUT format stores its indices.

The elements, in C order, become ``bits``-bit fields written one after the other from the most
significant bit of byte 0 (the first index fills the top bits of the first byte); the last byte
is padded with zero bits. Lossless for non-negative integer arrays whose values fit ``bits``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError
from .base import Codec, Encoded, register

__all__ = ["PACKED", "Packed", "index_dtype", "pack_indices", "unpack_indices"]

MAX_BITS = 32


@dataclass(frozen=True)
class Packed:
    """Fixed-width packing with ``bits`` (1..32) per value; ``None``: the fewest bits that hold
    the largest value (at least 1)."""

    bits: int | None = None


def index_dtype(bits: int) -> np.dtype[Any]:
    """The smallest unsigned dtype holding ``bits``-bit values."""
    return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def _check_bits(bits: int) -> None:
    if not 1 <= bits <= MAX_BITS:
        raise CodecError(f"packing takes 1..{MAX_BITS} bits per value, not {bits}")


def pack_indices(indices: npt.ArrayLike, bits: int) -> bytes:
    """Pack non-negative integers below ``2**bits`` (C order) into MSB-first ``bits``-bit
    fields; :class:`CodecError` when a value does not fit."""
    _check_bits(bits)
    values = np.asarray(indices).ravel()
    if values.size == 0:
        return b""
    if values.dtype.kind not in "biu":
        raise CodecError(f"packing takes integer arrays, not {values.dtype}")
    if values.dtype.kind == "i" and int(values.min()) < 0:
        raise CodecError("packing takes non-negative values")
    if int(values.max()) >> bits:
        raise CodecError(f"value {int(values.max())} does not fit {bits} bits")
    words = values.astype(">u4").view(np.uint8).reshape(-1, 4)
    bit_matrix = np.unpackbits(words, axis=1)[:, MAX_BITS - bits:]
    return np.packbits(bit_matrix.ravel()).tobytes()


def unpack_indices(data: bytes, bits: int, count: int) -> npt.NDArray[np.unsignedinteger[Any]]:
    """The first ``count`` ``bits``-bit fields of ``data`` (the inverse of :func:`pack_indices`),
    in :func:`index_dtype` of ``bits``."""
    _check_bits(bits)
    need = (count * bits + 7) // 8
    if len(data) < need:
        raise CodecError(f"{count} {bits}-bit values need {need} bytes, not {len(data)}")
    bit_matrix = np.zeros((count, MAX_BITS), np.uint8)
    bit_matrix[:, MAX_BITS - bits:] = np.unpackbits(
        np.frombuffer(data, np.uint8, need), count=count * bits).reshape(count, bits)
    words = np.packbits(bit_matrix, axis=1).view(">u4").ravel()
    return words.astype(index_dtype(bits))


def _encode(array: npt.NDArray[Any], params: Packed) -> Encoded:
    if array.dtype.kind not in "biu":
        raise CodecError(f"packing takes integer arrays, not {array.dtype}")
    bits = params.bits
    if bits is None:
        bits = max(int(array.max()).bit_length(), 1) if array.size else 1
    return Encoded("packed", replace(params, bits=bits), array.shape, array.dtype.str,
                   payload=pack_indices(array, bits))


def _decode(encoded: Encoded) -> npt.NDArray[Any]:
    params: Packed = encoded.params
    if params.bits is None:
        raise CodecError("packed: the encoding does not name its bit width")
    count = int(np.prod(encoded.shape, dtype=np.int64))
    return unpack_indices(encoded.payload, params.bits, count).reshape(encoded.shape)


PACKED = register(Codec("packed", Packed, _encode, _decode, lossless=True))

"""TFLite Micro's ``TFLM_DECODE`` data: the encoded bytes and the ancillary tensor (numpy only).

A ``TFLM_DECODE`` operator reads pairs ``[encoded, ancillary]``; the ancillary bytes start with a
16-byte header (byte 0 the decode type, byte 1 its version, 1) followed by the type's tables:

- **LUT** (type 0): byte 4 the LUT version (1), byte 5 ``(axis << 4) | index bits`` (axis 15 for
  one table), byte 6 the value-table stride (the largest number of values of any channel); from
  byte 16 one value table per channel in the tensor's dtype, zero-padded to the stride. The
  encoded bytes are the table indices, packed MSB-first with no padding between channels.
- **Huffman** (type 1): byte 4 the version (1), byte 5 ``((root bits - 1) << 4) | wide`` where
  ``wide`` selects 32-bit table entries (16-bit ones only for int8). An entry has a "found" bit,
  a 4-bit count and a value: found, the count is the bits the symbol used at this level and the
  value is the symbol itself; not found, the decoder reads count + 1 more bits and jumps to this
  entry + value + those bits. The encoded bytes are uint32 words, big-endian, read MSB first.

The runtime takes the channels of a LUT from the decoded tensor's quantization (its scale count;
axis 0, or the last axis when there is more than one scale), whatever the header says, so
:func:`channels` is the one rule both the writer and the reader here follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError
from .huffman import MAX_CODE_LENGTH, canonical_codes, code_lengths
from .packing import pack_indices, unpack_indices

__all__ = ["DECODE", "HUFFMAN", "LUT", "Layout", "channels", "decode", "encode_huffman",
           "encode_lut"]

Array = npt.NDArray[Any]
DECODE = "TFLM_DECODE"
LUT, HUFFMAN = 0, 1
HEADER = 16
MAX_LUT_BITS = 7
_MAX_LEVEL = 15  # a found entry's 4-bit count must hold the bits a level consumed
_LUT_TYPES = frozenset(np.dtype(t) for t in (np.bool_, np.float32, np.int8, np.int16, np.int32,
                                             np.int64))
_HUFFMAN_TYPES = frozenset(np.dtype(t) for t in (np.int8, np.int16))


@dataclass(frozen=True)
class Layout:
    """How a LUT's values split into channels: ``count`` tables, on ``axis`` (None: one table;
    otherwise 0 or the last axis)."""

    count: int
    axis: int | None


def channels(shape: tuple[int, ...], scales: int, quantized_dimension: int) -> Layout:
    """The channels TFLite Micro decodes a tensor with (DecodeStateLut::Setup): one per scale,
    on axis 0, or on the last axis when that is the quantized dimension and there are several
    scales. Any other quantized dimension is refused, as the runtime refuses it."""
    last = len(shape) - 1
    if scales > 1 and quantized_dimension == last:
        axis: int | None = last
    elif quantized_dimension != 0:
        raise CodecError(f"quantized dimension {quantized_dimension} of a {len(shape)}-d tensor "
                         f"with {scales} scale(s): TFLite Micro decodes only axis 0 or the last "
                         "axis of a per-channel tensor")
    else:
        axis = 0 if scales > 1 else None
    if axis is not None and shape[axis] != scales:
        raise CodecError(f"{scales} scales for {shape[axis]} channels on axis {axis}")
    return Layout(max(scales, 1), axis)


def _rows(values: Array, layout: Layout) -> Array:
    """The values as [channels, elements per channel]."""
    if layout.axis is None:
        return values.reshape(1, -1)
    return np.moveaxis(values, layout.axis, 0).reshape(layout.count, -1)


def _unrows(rows: Array, shape: tuple[int, ...], layout: Layout) -> Array:
    if layout.axis is None:
        return rows.reshape(shape)
    moved = (shape[layout.axis], *shape[:layout.axis], *shape[layout.axis + 1:])
    return np.moveaxis(rows.reshape(moved), 0, layout.axis)


def _header(kind: int, param: int, stride: int = 0) -> bytearray:
    head = bytearray(HEADER)
    head[0], head[1], head[4], head[5], head[6] = kind, 1, 1, param, stride
    return head


def encode_lut(values: Array, layout: Layout, bits: int | None = None) -> tuple[bytes, bytes]:
    """``(encoded, ancillary)`` of a LUT holding ``values`` exactly: one table of the sorted
    distinct values per channel. ``bits`` defaults to the fewest that index the largest table;
    :class:`CodecError` when a channel has more than ``2**bits`` (or 128) distinct values."""
    values = np.asarray(values)
    if values.dtype not in _LUT_TYPES:
        raise CodecError(f"TFLite Micro's LUT decodes no {values.dtype} tensor")
    rows = _rows(values, layout)
    tables = [np.unique(row) for row in rows]
    stride = max(t.size for t in tables)
    need = max(1, int(stride - 1).bit_length())
    bits = need if bits is None else bits
    if not 1 <= bits <= MAX_LUT_BITS or stride > 1 << bits:
        raise CodecError(f"a channel has {stride} distinct values: a LUT of 1..{MAX_LUT_BITS}-bit "
                         f"indices{'' if bits is None else f' ({bits} bits)'} holds at most "
                         f"{1 << min(bits, MAX_LUT_BITS)}; cluster the values first")
    indices = np.stack([np.searchsorted(t, row) for t, row in zip(tables, rows, strict=True)])
    padded = np.zeros((len(tables), stride), values.dtype)
    for row, table in zip(padded, tables, strict=True):
        row[:table.size] = table
    axis = 15 if layout.axis is None else layout.axis
    ancillary = _header(LUT, (axis << 4) | bits, stride)
    ancillary += padded.astype(padded.dtype.newbyteorder("<")).tobytes()
    order = _unrows(indices, values.shape, layout).reshape(-1)  # file order
    return pack_indices(order, bits), bytes(ancillary)


def _decode_lut(encoded: Array, ancillary: Array, shape: tuple[int, ...], dtype: np.dtype[Any],
                layout: Layout) -> Array:
    if dtype not in _LUT_TYPES:
        raise CodecError(f"TFLite Micro's LUT decodes no {dtype} tensor")
    bits, stride = int(ancillary[5]) & 7, int(ancillary[6])
    if bits == 0:
        raise CodecError("LUT index width 0")
    count = int(np.prod(shape, dtype=np.int64))
    indices = unpack_indices(encoded.tobytes(), bits, count).astype(np.int64)
    table_bytes = layout.count * stride * dtype.itemsize
    if ancillary.size < HEADER + table_bytes:
        raise CodecError(f"the ancillary data holds {ancillary.size - HEADER} table bytes, "
                         f"{layout.count} tables of {stride} values need {table_bytes}")
    tables = ancillary[HEADER:HEADER + table_bytes].view(dtype.newbyteorder("<")).astype(dtype)
    if int(indices.max(initial=0)) >= stride:
        raise CodecError(f"an index reaches past the {stride}-value table")
    channel = (np.arange(count) % layout.count if layout.axis not in (None, 0)
               else np.arange(count) // (count // layout.count))
    out: Array = tables[channel * stride + indices].reshape(shape)
    return out


class _TooFar(Exception):
    """A table offset does not fit the entry's value field."""


def _build(out: list[int], codes: list[tuple[int, int, int]], width: int, wide: bool) -> int:
    """Append the table of ``codes`` ((code, length, symbol) with the bits of earlier levels
    removed) at ``width`` bits to ``out``; returns its position."""
    found, shift, limit = (1 << 31, 27, 0x7FFFFFF) if wide else (1 << 15, 11, 0x7FF)
    base = len(out)
    out.extend([0] * (1 << width))
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for code, length, symbol in codes:
        if length <= width:
            lo, span = code << (width - length), 1 << (width - length)
            out[base + lo:base + lo + span] = [found | (length << shift) | symbol] * span
        else:
            rest = length - width
            groups.setdefault(code >> rest, []).append((code & ((1 << rest) - 1), rest, symbol))
    for prefix, sub in groups.items():
        sub_width = min(max(length for _, length, _ in sub), _MAX_LEVEL)
        at = _build(out, sub, sub_width, wide)
        if at - base - prefix > limit:
            raise _TooFar
        out[base + prefix] = ((sub_width - 1) << shift) | (at - base - prefix)
    return base


def _tables(codes: list[tuple[int, int, int]], longest: int, wide: bool) -> tuple[int, list[int]]:
    """The root width giving the fewest table entries (the wider on a tie), and the tables."""
    best: tuple[int, list[int]] | None = None
    for width in range(max(1, min(longest, _MAX_LEVEL)), 0, -1):
        table: list[int] = []
        _build(table, codes, width, wide)
        if best is None or len(table) < len(best[1]):
            best = (width, table)
    assert best is not None
    return best


def encode_huffman(values: Array) -> tuple[bytes, bytes]:
    """``(encoded, ancillary)`` of a canonical Huffman code of ``values`` (int8 or int16), in
    TFLite Micro's decode tables: 16-bit entries for int8, 32-bit for int16 (or when an offset
    needs more than 11 bits); the root width that makes the smallest tables."""
    values = np.asarray(values).reshape(-1)
    if values.dtype not in _HUFFMAN_TYPES:
        raise CodecError(f"TFLite Micro's Huffman decodes int8 and int16, not {values.dtype}")
    if values.size == 0:
        raise CodecError("nothing to encode")
    symbols, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if symbols.size > 1:
        lengths = code_lengths(symbols, counts, MAX_CODE_LENGTH)
        codes = canonical_codes(lengths).astype(np.int64)
    else:  # a lone value needs no bits (TFLite Micro's decoder reads a 0-bit code)
        lengths = codes = np.zeros(1, np.int64)
    bits = 8 * values.dtype.itemsize
    unsigned = symbols.astype(np.int64) & ((1 << bits) - 1)
    listed = [(int(c), int(n), int(s)) for c, n, s in zip(codes, lengths, unsigned, strict=True)]
    longest = int(lengths.max())
    try:
        wide = values.dtype != np.int8
        width, table = _tables(listed, longest, wide)
    except _TooFar:
        wide = True
        width, table = _tables(listed, longest, wide)
    entries = np.asarray(table, np.uint32 if wide else np.uint16)
    ancillary = _header(HUFFMAN, ((width - 1) << 4) | int(wide)) + entries.astype(
        entries.dtype.newbyteorder("<")).tobytes()
    return _huffman_stream(codes[inverse], lengths[inverse], max(width, min(longest, _MAX_LEVEL))
                           ), bytes(ancillary)


def _huffman_stream(codes: Array, lengths: Array, lookahead: int) -> bytes:
    """The codes back to back, MSB first, in whole uint32 words, with room for the decoder to
    read ``lookahead`` bits (its widest level) past the last code."""
    total = int(lengths.sum())
    owner = np.repeat(np.arange(codes.size), lengths)
    starts = np.cumsum(lengths) - lengths
    bit = np.arange(total) - starts[owner]
    stream = ((codes[owner] >> (lengths[owner] - 1 - bit)) & 1).astype(np.uint8)
    reach = total + lookahead
    words = max(1, -(-reach // 32))
    data = np.zeros(words * 32, np.uint8)
    data[:total] = stream
    return np.packbits(data).tobytes()


def _window(bits: Array, at: Array, width: Array) -> Array:
    """The ``width``-bit numbers (MSB first) starting at positions ``at`` of the bit array."""
    out = np.zeros(at.shape, np.int64)
    for j in range(int(width.max(initial=0))):
        take = j < width
        out = np.where(take, (out << 1) | bits[np.minimum(at + j, bits.size - 1)], out)
    return out


def _decode_huffman(encoded: Array, ancillary: Array, shape: tuple[int, ...],
                    dtype: np.dtype[Any]) -> Array:
    """DecodeStateHuffman, vectorised: every bit position is decoded at once (the table walk),
    then the chain of positions the stream really visits is followed."""
    wide = bool(ancillary[5] & 1)
    if dtype not in _HUFFMAN_TYPES or (not wide and dtype != np.int8):
        raise CodecError(f"TFLite Micro's Huffman decodes no {dtype} tensor with "
                         f"{32 if wide else 16}-bit tables")
    root = (int(ancillary[5]) >> 4) + 1
    entry = np.dtype("<u4" if wide else "<u2")
    body = ancillary[HEADER:]
    table = body[:body.size - body.size % entry.itemsize].view(entry).astype(np.int64)
    found, shift, value_mask = (1 << 31, 27, 0x7FFFFFF) if wide else (1 << 15, 11, 0x7FF)
    count = int(np.prod(shape, dtype=np.int64))
    bits = np.concatenate([np.unpackbits(encoded), np.zeros(64, np.uint8)])
    starts = np.arange(bits.size - 64)
    used = np.full(starts.shape, root)
    offset = _window(bits, starts, used)
    value = table[np.minimum(offset, table.size - 1)]
    advance = np.zeros(starts.shape, np.int64)
    bad = offset >= table.size
    pending = ~bad & ((value & found) == 0)
    while pending.any():
        level = ((value >> shift) & 15) + 1
        advance = np.where(pending, advance + used, advance)
        used = np.where(pending, level, used)
        step = _window(bits, starts + advance, np.where(pending, level, 0))
        offset = np.where(pending, offset + (value & value_mask) + step, offset)
        bad |= offset >= table.size
        value = table[np.minimum(offset, table.size - 1)]
        pending = ~bad & ((value & found) == 0)
    advance += (value >> shift) & 15
    chain = np.zeros(count, np.int64)
    position, nexts = 0, (starts + advance).tolist()
    for i in range(count):
        if position >= len(nexts):
            raise CodecError(f"the Huffman stream ends after {i} of {count} values")
        chain[i] = position
        position = nexts[position]
    if bad[chain].any():
        raise CodecError("a Huffman code jumps past the table")
    width = 8 * dtype.itemsize
    low = value[chain] & ((1 << width) - 1)
    return (low - ((low >> (width - 1)) << width)).astype(dtype).reshape(shape)


def _bytes(data: bytes | npt.ArrayLike) -> Array:
    if isinstance(data, bytes):
        return np.frombuffer(data, np.uint8)
    return np.ascontiguousarray(data, np.uint8).reshape(-1)


def decode(encoded: bytes | npt.ArrayLike, ancillary: bytes | npt.ArrayLike, shape: tuple[int, ...],
           dtype: npt.DTypeLike, layout: Layout) -> Array:
    """The values a ``TFLM_DECODE`` produces from ``encoded`` and ``ancillary`` (uint8 bytes)
    for an output of ``shape`` and ``dtype``; ``layout`` (from :func:`channels`) matters to a
    LUT only. :class:`CodecError` for data the runtime refuses."""
    data, anc = _bytes(encoded), _bytes(ancillary)
    kind = np.dtype(dtype)
    if anc.size < HEADER:
        raise CodecError(f"ancillary data of {anc.size} bytes, shorter than the 16-byte header")
    if anc[1] != 1 or anc[4] != 1:
        raise CodecError(f"decode type {anc[0]} version {anc[1]}/{anc[4]}, expected 1")
    if anc[0] == LUT:
        return _decode_lut(data, anc, shape, kind, layout)
    if anc[0] == HUFFMAN:
        return _decode_huffman(data, anc, shape, kind)
    raise CodecError(f"decode type {anc[0]} (TFLite Micro's prune or custom decoding) is not "
                     "supported")

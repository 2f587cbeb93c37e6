"""Canonical Huffman coding of integer arrays, the symbols being the values themselves.

Code lengths are the optimal ones under a length limit (package-merge), codes canonical
(DEFLATE's rule: ordered by length, then by symbol value). The tables are DEFLATE's compact form:
``counts`` (how many symbols have each length 1, 2, ..., the longest; the smallest unsigned
dtype that holds them) and ``symbols`` (the distinct values in canonical order, in the array's
dtype). The payload is the elements' codes in
C order, MSB-first from the top bit of byte 0, the last byte padded with zero bits; an array of
one distinct value has no payload. Encoding and decoding are numpy-vectorised: codes are summed
into 32-bit words at their cumulative bit offsets; decoding finds every bit position's code
length at once (a table of the next ``max_code_length`` bits) and follows the chain of code
starts by pointer doubling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError
from ._symbols import integer_symbols
from .base import Codec, Encoded, register

__all__ = ["HUFFMAN", "Huffman", "canonical_codes", "code_lengths"]

MAX_CODE_LENGTH = 32
Lengths = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Huffman:
    """Canonical Huffman coding with codes of at most ``max_code_length`` (1..32) bits; an array
    with more than ``2**max_code_length`` distinct values is refused."""

    max_code_length: int = 16


def code_lengths(symbols: npt.ArrayLike, counts: npt.ArrayLike, max_length: int) -> Lengths:
    """Optimal prefix-code lengths for symbols with these (positive) counts, none longer than
    ``max_length`` (package-merge, Larmore and Hirschberg 1990), aligned with ``symbols``. Ties
    break by count then symbol value, so the result does not depend on the input order. A lone
    symbol gets length 1; :class:`CodecError` when ``2**max_length`` codes cannot hold them all."""
    weights = np.asarray(counts, np.int64).ravel()
    n = weights.size
    if not 1 <= max_length <= MAX_CODE_LENGTH:
        raise CodecError(f"code lengths are 1..{MAX_CODE_LENGTH} bits, not {max_length}")
    if n > 1 << max_length:
        raise CodecError(f"{n} distinct values need codes longer than {max_length} bits")
    if n <= 1:
        return np.ones(n, np.int64)
    order = np.lexsort((np.asarray(symbols).ravel(), weights))
    leaves = weights[order]
    # Level j's list merges the leaves with the pairs of level j-1's list; a package of
    # level j-1's items 2i, 2i+1 comes from its first 2i+2 items, so choosing the first t items
    # of a level chooses its first t - p leaves and the first 2p items of the level below.
    current, is_package = leaves, [np.zeros(n, bool)]
    for _ in range(max_length - 1):
        half = current.size // 2
        merged = np.concatenate([leaves, current[:2 * half:2] + current[1:2 * half:2]])
        ranks = np.argsort(merged, kind="stable")
        current = merged[ranks]
        is_package.append(ranks >= n)
    sorted_lengths = np.zeros(n, np.int64)
    take = 2 * n - 2
    for packages in reversed(is_package):
        p = int(np.count_nonzero(packages[:take]))
        sorted_lengths[:take - p] += 1
        take = 2 * p
    lengths = np.empty(n, np.int64)
    lengths[order] = sorted_lengths
    return lengths


def canonical_codes(lengths: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """The canonical codes (as unsigned integers, ``lengths[i]`` bits each) for these code
    lengths: consecutive values in order of length, then of position — pass the lengths of the
    symbols sorted by value for DEFLATE's canonical code."""
    lens = np.asarray(lengths, np.int64).ravel()
    codes = np.zeros(lens.size, np.uint64)
    if lens.size == 0:
        return codes
    firsts, _ = _first_codes(np.bincount(lens, minlength=int(lens.max()) + 1)[1:])
    order = np.lexsort((np.arange(lens.size), lens))
    sorted_lens = lens[order]
    rank = np.arange(lens.size) - np.searchsorted(sorted_lens, sorted_lens)
    codes[order] = firsts[sorted_lens - 1] + rank.astype(np.uint64)
    return codes


def _first_codes(counts: npt.NDArray[Any]) -> tuple[npt.NDArray[np.uint64], Lengths]:
    """For counts of codes of length 1, 2, ...: each length's first canonical code and how many
    codes are shorter."""
    firsts, code = [], 0
    for length, count in enumerate(counts.tolist(), 1):
        firsts.append(code)
        code = (code + count) << 1
        if code > 1 << (length + 1):
            raise CodecError("the code lengths oversubscribe the code space")
    shorter = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return np.array(firsts, np.uint64), shorter


def _write(codes: npt.NDArray[np.uint64], lengths: Lengths) -> bytes:
    """Concatenate the codes MSB-first: each code is summed into the one or two 32-bit words its
    bits fall in (disjoint bits, so float64 sums of values below 2**32 are exact)."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    word, offset = starts >> 5, starts & 31
    room = 32 - offset - lengths  # >= 0: the code fits its first word
    fits = room >= 0
    head = np.where(fits, codes << np.maximum(room, 0).astype(np.uint64),
                    codes >> np.maximum(-room, 0).astype(np.uint64))
    tail = (codes[~fits] << (32 + room[~fits]).astype(np.uint64)) & np.uint64(0xFFFFFFFF)
    nwords = int(ends[-1] + 31) >> 5
    words = (np.bincount(word, head.astype(np.float64), nwords)
             + np.bincount(word[~fits] + 1, tail.astype(np.float64), nwords))
    return words.astype(">u4").tobytes()[:(int(ends[-1]) + 7) // 8]


def _read(payload: bytes, counts: npt.NDArray[Any], n: int) -> npt.NDArray[np.int64]:
    """The ``n`` symbol indices (canonical order) coded in ``payload``."""
    longest = counts.size
    firsts, shorter = _first_codes(counts)
    limits = (firsts + counts.astype(np.uint64)) << (longest - np.arange(1, longest + 1)).astype(
        np.uint64)
    data = np.frombuffer(payload, np.uint8)
    nbits = 8 * data.size
    padded = np.concatenate([data, np.zeros(8, np.uint8)]).astype(np.uint64)
    windows64 = np.zeros(data.size + 1, np.uint64)
    for k in range(8):
        windows64 |= padded[k:k + data.size + 1] << np.uint64(56 - 8 * k)
    # The next `longest` bits at every bit position (one past the end included).
    window = np.stack([(windows64 << np.uint64(k)) >> np.uint64(64 - longest) for k in range(8)],
                      axis=1).ravel()[:nbits + 1]
    if longest <= 16:
        table = np.searchsorted(limits, np.arange(1 << longest, dtype=np.uint64), side="right")
        length = table.astype(np.int64)[window] + 1
    else:
        length = np.searchsorted(limits, window, side="right") + 1
    # nxt[p]: where the code starting at bit p ends (the end of the data is a fixed point).
    nxt = np.minimum(np.arange(nbits + 1) + length, nbits)
    starts = _chain(nxt, n)
    lens = length[starts]
    end = int(starts[-1] + lens[-1])
    if int(lens.max()) > longest or not nbits - 8 < end <= nbits:
        raise CodecError(f"huffman: the payload does not hold {n} codes")
    code = window[starts] >> (longest - lens).astype(np.uint64)
    indices: npt.NDArray[np.int64] = shorter[lens - 1] + (code - firsts[lens - 1]).astype(np.int64)
    return indices


def _chain(nxt: npt.NDArray[np.int64], n: int, stride: int = 16) -> npt.NDArray[np.int64]:
    """The first ``n`` positions of the chain 0, nxt[0], nxt[nxt[0]], ...: every ``stride``-th
    one by walking ``nxt`` composed ``stride`` times (pointer doubling), then the ``stride``
    positions after each of those together."""
    jump = nxt
    for _ in range(stride.bit_length() - 1):
        jump = jump[jump]
    anchors = np.empty(-(-n // stride), np.int64)
    at = 0
    for k in range(anchors.size):
        anchors[k] = at
        at = int(jump[at])
    block = np.empty((stride, anchors.size), np.int64)
    block[0] = anchors
    for i in range(1, stride):
        block[i] = nxt[block[i - 1]]
    starts: npt.NDArray[np.int64] = block.T.ravel()[:n]
    return starts


def _encode(array: npt.NDArray[Any], params: Huffman) -> Encoded:
    symbols, counts, indices = integer_symbols(array, "huffman")
    lengths = code_lengths(symbols, counts, params.max_code_length)
    canonical = np.lexsort((symbols, lengths))
    per_length = np.bincount(lengths, minlength=int(lengths.max(initial=0)) + 1)[1:]
    payload = b""
    if symbols.size > 1:
        payload = _write(canonical_codes(lengths)[indices], lengths[indices])
    tables = (("counts", per_length.astype(np.min_scalar_type(per_length.max(initial=0)))),
              ("symbols", symbols[canonical]))
    return Encoded("huffman", params, array.shape, array.dtype.str, tables, payload)


def _decode(encoded: Encoded) -> npt.NDArray[Any]:
    counts, symbols = encoded.table("counts"), encoded.table("symbols")
    n = int(np.prod(encoded.shape, dtype=np.int64))
    if int(counts.sum()) != symbols.size or symbols.size > (1 << MAX_CODE_LENGTH):
        raise CodecError("huffman: the code-length counts do not match the symbols")
    if counts.size > MAX_CODE_LENGTH:
        raise CodecError(f"huffman: codes longer than {MAX_CODE_LENGTH} bits")
    if n == 0:
        return symbols[:0]
    if symbols.size == 1:
        return np.repeat(symbols, n)
    if symbols.size == 0:
        raise CodecError("huffman: no symbols for a non-empty array")
    return symbols[_read(encoded.payload, counts.astype(np.int64), n)]


HUFFMAN = register(Codec("huffman", Huffman, _encode, _decode, lossless=True))

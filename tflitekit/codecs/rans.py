"""rANS (range asymmetric numeral systems, Duda 2013) coding of integer arrays: within a fraction
of a percent of the empirical entropy.

Symbol frequencies are quantized to sum to ``2**precision_bits`` (every present symbol at least
1, the rounding chosen greedily to cost the fewest bits). The elements (C order) are dealt to
``lanes`` interleaved coders, element ``i`` to lane ``i % lanes``; each lane is a 64-bit rANS
state renormalized 32 bits at a time, and the numpy loop runs over steps, all lanes at once.

Tables: ``symbols`` (the distinct values ascending, in the array's dtype), ``freqs`` (their
quantized frequencies, uint16 up to 16 precision bits, else uint32) and ``states`` (uint64, each
lane's final encoder state, where its decoder starts). The payload is the renormalization words,
uint32 little-endian, in the order the decoder reads them: step by step, lanes ascending. An
array of one distinct value has neither frequencies, states nor payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError
from ._symbols import entropy_bits, integer_symbols
from .base import Codec, Encoded, register

__all__ = ["RANS", "RANS_CODEC", "quantize_frequencies"]

LOWER = np.uint64(1 << 32)  # states live in [2**32, 2**64)
WORD = np.uint64(32)
MAX_PRECISION = 28
BITS_PER_LANE = 1 << 15  # a lane's 64-bit final state: 0.2 % of what it codes
MAX_LANES = 256


@dataclass(frozen=True)
class RANS:
    """rANS with frequencies quantized to ``2**precision_bits`` (1..28; an array with more
    distinct values is refused) and ``lanes`` interleaved states (``None``: one per 2**15 bits of
    empirical entropy, 1..256 — each lane's final state costs 8 bytes)."""

    precision_bits: int = 16
    lanes: int | None = None


def quantize_frequencies(counts: npt.ArrayLike, precision_bits: int) -> npt.NDArray[np.int64]:
    """Positive integer frequencies summing to ``2**precision_bits``, close to proportional to
    the (positive) ``counts``: floors of the exact shares (at least 1), then the missing units
    added, or the surplus removed, where each costs the coded size least."""
    c = np.asarray(counts, np.float64)
    total = 1 << precision_bits
    if c.size > total:
        raise CodecError(f"{c.size} distinct values need more than {precision_bits} "
                         "precision bits")
    freqs: npt.NDArray[np.int64] = np.maximum(np.floor(c * total / c.sum()), 1).astype(np.int64)
    missing = total - int(freqs.sum())
    if missing > 0:  # fewer than c.size: give one unit each where it saves the most bits
        gain = c * np.log2((freqs + 1) / freqs)
        freqs[np.argsort(-gain, kind="stable")[:missing]] += 1
    while missing < 0:  # take units where they cost the least, at most one per symbol a round
        can = np.flatnonzero(freqs > 1)
        loss = c[can] * np.log2(freqs[can] / (freqs[can] - 1))
        take = can[np.argsort(loss, kind="stable")[:-missing]]
        freqs[take] -= 1
        missing += take.size
    return freqs


def _lanes(params: RANS, counts: npt.NDArray[np.int64]) -> int:
    n = int(counts.sum())
    if params.lanes is not None:
        if params.lanes < 1:
            raise CodecError(f"rans: lanes must be positive, not {params.lanes}")
        return min(params.lanes, max(n, 1))
    return int(np.clip(entropy_bits(counts) // BITS_PER_LANE, 1, min(MAX_LANES, max(n, 1))))


def _check_precision(bits: int) -> None:
    if not 1 <= bits <= MAX_PRECISION:
        raise CodecError(f"rans: precision is 1..{MAX_PRECISION} bits, not {bits}")


def _encode(array: npt.NDArray[Any], params: RANS) -> Encoded:
    _check_precision(params.precision_bits)
    symbols, counts, indices = integer_symbols(array, "rans")
    n, lanes = indices.size, _lanes(params, counts)
    if symbols.size <= 1:
        return Encoded("rans", params, array.shape, array.dtype.str, (("symbols", symbols),))
    bits = params.precision_bits
    freqs = quantize_frequencies(counts, bits)
    starts = np.concatenate([[0], np.cumsum(freqs)[:-1]]).astype(np.uint64)
    f = freqs.astype(np.uint64)[indices]
    c = starts[indices]
    limit = f << np.uint64(64 - bits)  # a state at or above it must shed a word first
    state = np.full(lanes, LOWER, np.uint64)
    words = []
    for lo in reversed(range(0, n, lanes)):  # rANS encodes backwards
        hi = min(lo + lanes, n)
        x = state[:hi - lo]
        big = x >= limit[lo:hi]
        if big.any():
            words.append((x[big] & np.uint64(0xFFFFFFFF))[::-1])
            x[big] >>= WORD
        fs = f[lo:hi]
        x[:] = ((x // fs) << np.uint64(bits)) + x % fs + c[lo:hi]
    stream = np.concatenate(words)[::-1] if words else np.zeros(0, np.uint64)
    tables = (("symbols", symbols),
              ("freqs", freqs.astype(np.uint16 if bits <= 16 else np.uint32)),
              ("states", state))
    return Encoded("rans", params, array.shape, array.dtype.str, tables,
                   stream.astype("<u4").tobytes())


def _decode(encoded: Encoded) -> npt.NDArray[Any]:
    params: RANS = encoded.params
    symbols = encoded.table("symbols")
    n = int(np.prod(encoded.shape, dtype=np.int64))
    if n == 0 or symbols.size == 1:
        return np.repeat(symbols, n)[:n]
    if symbols.size == 0:
        raise CodecError("rans: no symbols for a non-empty array")
    _check_precision(params.precision_bits)
    freqs = encoded.table("freqs").astype(np.uint64)
    state = encoded.table("states").astype(np.uint64)
    bits = params.precision_bits
    if freqs.size != symbols.size or int(freqs.sum()) != 1 << bits or 0 in freqs:
        raise CodecError("rans: the frequencies do not match the symbols and the precision")
    fixed = params.lanes is not None and state.size != min(params.lanes, n)
    if fixed or not 1 <= state.size <= n or bool((state < LOWER).any()):
        raise CodecError("rans: the lane states do not match the parameters")
    ends = np.cumsum(freqs)
    starts = ends - freqs
    words = np.frombuffer(encoded.payload, "<u4").astype(np.uint64)
    mask = np.uint64((1 << bits) - 1)
    out = np.empty(n, np.intp)
    lanes, at = state.size, 0
    for lo in range(0, n, lanes):
        hi = min(lo + lanes, n)
        x = state[:hi - lo]
        slot = x & mask
        s = np.searchsorted(ends, slot, side="right")
        x[:] = freqs[s] * (x >> np.uint64(bits)) + slot - starts[s]
        low = np.flatnonzero(x < LOWER)
        if low.size:
            if at + low.size > words.size:
                raise CodecError("rans: the payload ends early")
            x[low] = (x[low] << WORD) | words[at:at + low.size]
            at += low.size
        out[lo:hi] = s
    if at != words.size or bool((state != LOWER).any()):
        raise CodecError("rans: the payload does not decode to its final states")
    return symbols[out]


RANS_CODEC = register(Codec("rans", RANS, _encode, _decode, lossless=True))

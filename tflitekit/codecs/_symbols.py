"""What the entropy coders share: an integer array's symbols (its distinct values), their counts
and each element's symbol index, and the empirical entropy the coders are measured against."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError

__all__ = ["entropy_bits", "integer_symbols"]


def integer_symbols(array: npt.NDArray[Any], codec: str) -> tuple[
        npt.NDArray[Any], npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """``(symbols, counts, indices)``: the distinct values of an integer (or bool) ``array``,
    ascending, in its dtype (native byte order); how often each occurs; and every element's
    (C order) index into ``symbols``. :class:`CodecError` naming ``codec`` for other arrays."""
    if array.dtype.kind not in "biu":
        raise CodecError(f"{codec} codes integer arrays, not {array.dtype}")
    symbols, indices, counts = np.unique(array.ravel(), return_inverse=True, return_counts=True)
    return (symbols.astype(symbols.dtype.newbyteorder("=")), counts.astype(np.int64),
            indices.reshape(-1))


def entropy_bits(counts: npt.ArrayLike) -> float:
    """The empirical (order-0) entropy of a sample with these symbol counts, in bits for the
    whole sample: ``-sum(c * log2(c / n))``; what no symbol-by-symbol coder can beat."""
    c = np.asarray(counts, np.float64)
    c = c[c > 0]
    return float(-(c * np.log2(c / c.sum())).sum()) if c.size else 0.0

"""Hypothesis strategies for the codec property tests: arrays of every dtype and shape."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

VALUE_DTYPES = ("int8", "int16", "int32", "uint8", "uint16", "float16", "float32", "float64")
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


def elements(dtype: np.dtype[Any]) -> st.SearchStrategy[Any]:
    if dtype.kind == "f":
        return st.floats(allow_nan=False, allow_infinity=False, width=8 * dtype.itemsize)
    return hnp.from_dtype(dtype)


@st.composite
def value_arrays(draw: st.DrawFn, dtypes: tuple[str, ...] = VALUE_DTYPES,
                 min_size: int = 0) -> np.ndarray:
    """An array of one of ``dtypes``, any shape, values drawn from a few or from all values."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(SHAPES.filter(lambda s: int(np.prod(s)) >= min_size))
    # Few distinct values (ties, tiny bins) as often as values from the whole range.
    pool = draw(st.lists(elements(dtype), min_size=1, max_size=6))
    values = st.sampled_from(pool) if draw(st.booleans()) else elements(dtype)
    return draw(hnp.arrays(dtype, shape, elements=values))


@st.composite
def axis_for(draw: st.DrawFn, array: np.ndarray) -> int | None:
    """``None`` or an axis of ``array`` (possibly negative)."""
    if array.ndim == 0 or draw(st.booleans()):
        return None
    return draw(st.integers(-array.ndim, array.ndim - 1))

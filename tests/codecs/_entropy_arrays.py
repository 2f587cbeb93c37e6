"""Arrays for the entropy coders' tests: hypothesis strategies of integer arrays of every dtype
and shape, their values from the whole range, from a few values (the dtype's extremes among
them), or skewed towards one value; and fixed edge cases."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=7)

#: Fixed edge cases by name: no values, one symbol, a scalar, two symbols, a uniform byte range,
#: the 64-bit extremes, booleans.
EDGE_ARRAYS = {
    "empty": np.zeros((0, 3), np.int8),
    "one-symbol": np.full((4, 5), -7, np.int16),
    "scalar": np.array(9, np.uint32),
    "two-symbols": np.array([0, 1] * 50, np.uint8),
    "uniform": np.arange(-128, 128, dtype=np.int8),
    "int64-extremes": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0], np.int64),
    "uint64-extremes": np.array([0, np.iinfo(np.uint64).max], np.uint64),
    "bool": np.array([True, False, True]),
}


def _extremes(dtype: np.dtype[Any]) -> list[Any]:
    if dtype.kind == "b":
        return [False, True]
    info = np.iinfo(dtype)
    return [info.min, info.max]


@st.composite
def integer_arrays(draw: st.DrawFn, dtypes: tuple[str, ...] = INTEGER_DTYPES) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(SHAPES)
    every = hnp.from_dtype(dtype)
    pool = draw(st.lists(every | st.sampled_from(_extremes(dtype)), min_size=1, max_size=5))
    few = st.sampled_from(pool)
    values = draw(st.sampled_from([every, few, st.sampled_from(pool[:1] * 9 + pool)]))
    return draw(hnp.arrays(dtype, shape, elements=values))

"""B&Q: hand-computed bins and values, and the documented quantization over every dtype/shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _codec_arrays import axis_for, value_arrays
from hypothesis import given
from hypothesis import strategies as st

from tflitekit.codecs import BQ, Encoded, Packed, bin_edges, bin_of, decode, encode
from tflitekit.errors import CodecError


def roundtrip(array: np.ndarray, params: BQ) -> np.ndarray:
    out = decode(Encoded.from_bytes(encode(array, params).to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    return out


def test_initial_edges_by_hand() -> None:
    x = np.arange(10)
    sigma = np.sqrt(8.25)  # population std of 0..9; mean 4.5
    np.testing.assert_allclose(bin_edges(x, BQ()), [0, 4.5 - sigma, 4.5, 4.5 + sigma, 9])
    np.testing.assert_array_equal(bin_of(x, bin_edges(x, BQ())), [0, 0, 1, 1, 1, 2, 2, 2, 3, 3])


@pytest.mark.parametrize(("dtype", "expected"), [
    # bin means 0.5, 3, 6, 8.5: rounded once, half away from zero, for integers
    ("int8", [1, 1, 3, 3, 3, 6, 6, 6, 9, 9]),
    ("float32", [0.5, 0.5, 3, 3, 3, 6, 6, 6, 8.5, 8.5]),
])
def test_initial_values_by_hand(dtype: str, expected: list[float]) -> None:
    x = np.arange(10, dtype=dtype)
    np.testing.assert_array_equal(roundtrip(x, BQ()), np.array(expected, dtype))
    np.testing.assert_array_equal(roundtrip(-x, BQ()), -np.array(expected, dtype))


def test_quantile_given_and_empty_bins() -> None:
    x = np.arange(8, dtype=np.int16)
    np.testing.assert_array_equal(bin_edges(x, BQ("quantile", bins=2)), [0, 3.5, 7])
    np.testing.assert_array_equal(roundtrip(x, BQ("quantile", bins=2)), [2] * 4 + [6] * 4)
    # a value on an edge belongs to the bin above it; edges outside [min, max] are clipped
    y = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(bin_edges(y, BQ((2.0, 100.0))), [0, 2, 4])
    np.testing.assert_array_equal(roundtrip(y, BQ((2.0, 100.0))), [0.5, 0.5, 3, 3, 3])
    # the empty bin [0.5, 0.7) has no table entry
    z = np.array([0, 1, 2], np.float64)
    encoded = encode(z, BQ((0.5, 0.7)))
    np.testing.assert_array_equal(encoded.table("values"), [0, 1.5])
    np.testing.assert_array_equal(decode(encoded), [0, 1.5, 1.5])


def test_median_and_constant() -> None:
    x = np.array([0, 1, 2, 10], np.float32)
    np.testing.assert_array_equal(roundtrip(x, BQ((), value="median")), [1.5] * 4)
    np.testing.assert_array_equal(roundtrip(x, BQ(())), [3.25] * 4)
    c = np.full((3, 2), -7, np.int8)
    np.testing.assert_array_equal(roundtrip(c, BQ()), c)


def test_per_channel_tables() -> None:
    x = np.array([[0, 0, 10, 10], [5, 5, 5, 9]], np.int8)
    encoded = encode(x, BQ((), axis=0))
    np.testing.assert_array_equal(encoded.table("values"), [[5], [6]])
    np.testing.assert_array_equal(encoded.table("counts"), [1, 1])
    encoded = encode(x, BQ((3.0,), axis=0))
    np.testing.assert_array_equal(encoded.table("values"), [[0, 10], [6, 0]])  # zero-padded
    np.testing.assert_array_equal(encoded.table("counts"), [2, 1])
    np.testing.assert_array_equal(decode(encoded), [[0, 0, 10, 10], [6, 6, 6, 6]])
    # TFLite Micro's layout: the indices, in element order, index their channel's table
    np.testing.assert_array_equal(decode(encoded.inner), [[0, 0, 1, 1], [0, 0, 0, 0]])


def expected_slice(row: np.ndarray, params: BQ) -> np.ndarray:
    """The documented quantization of one slice, bin by bin with plain numpy."""
    x = row.astype(np.float64)
    bins = bin_of(x, bin_edges(x, params))
    out = np.empty_like(x)
    for b in np.unique(bins):
        scale = 2.0 ** 1000 if np.abs(x[bins == b]).max() > 1e300 else 1.0  # sums stay finite
        members = x[bins == b] / scale
        centre = np.mean(members) if params.value == "mean" else np.median(members)
        out[bins == b] = centre * scale
    if row.dtype.kind == "f":
        return out
    info = np.iinfo(row.dtype)
    return np.clip(np.sign(out) * np.floor(np.abs(out) + 0.5), info.min, info.max)


def channel_rows(array: np.ndarray, axis: int | None) -> np.ndarray:
    if axis is None:
        return array.reshape(1, -1)
    moved = np.moveaxis(array, axis, 0)
    return moved.reshape(len(moved), int(np.prod(moved.shape[1:])))


@st.composite
def bq_params(draw: st.DrawFn, array: np.ndarray) -> BQ:
    edges: Any = draw(st.sampled_from(["initial", "quantile", "given"]))
    bins = draw(st.integers(1, 9)) if edges == "quantile" else None
    if edges == "given":
        edges = tuple(draw(st.lists(st.floats(-1e6, 1e6), max_size=6)))
    return BQ(edges, bins, draw(st.sampled_from(["mean", "median"])), draw(axis_for(array)),
              draw(st.sampled_from([Packed(), Packed(8)])))


@given(st.data())
def test_documented_quantization(data: st.DataObject) -> None:
    array = data.draw(value_arrays())
    params = data.draw(bq_params(array))
    encoded = encode(array, params)
    out = decode(Encoded.from_bytes(encoded.to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    axis = None if params.axis is None else params.axis % array.ndim
    rows, got = channel_rows(array, axis), channel_rows(out, axis)
    values = encoded.table("values")
    tables = values if axis is not None else values[None]
    counts = encoded.table("counts") if axis is not None else [len(values)]
    for row, q, table, count in zip(rows, got, tables, counts, strict=True):
        x = row.astype(np.float64)
        bins = bin_of(x, bin_edges(x, params))
        # one table entry per non-empty bin, in bin order, and each element gets its bin's entry
        assert count == len(np.unique(bins))
        np.testing.assert_array_equal(q, table[np.unique(bins, return_inverse=True)[1]])
        want = expected_slice(row, params)
        if array.dtype.kind == "f":  # float64 sums of n terms differ by up to ~n ulps, then cast
            info = np.finfo(array.dtype)
            np.testing.assert_allclose(q.astype(np.float64), want,
                                       rtol=max(4, x.size) * info.eps,
                                       atol=info.smallest_subnormal)
        else:
            np.testing.assert_array_equal(q, want)
        # monotone, and each value lies within its bin's members
        order = np.argsort(x, kind="stable")
        assert np.all(np.diff(q[order].astype(np.float64)) >= 0)
        for b in np.unique(bins):
            assert x[bins == b].min() <= float(q[bins == b][0]) <= x[bins == b].max()


@given(st.data())
def test_per_channel_is_per_slice(data: st.DataObject) -> None:
    array = data.draw(value_arrays(min_size=1).filter(lambda a: a.ndim > 0))
    axis = data.draw(st.integers(0, array.ndim - 1))
    params = data.draw(bq_params(array))
    out = decode(encode(array, BQ(params.edges, params.bins, params.value, axis)))
    for i in range(array.shape[axis]):
        alone = decode(encode(np.take(array, i, axis), BQ(params.edges, params.bins, params.value)))
        np.testing.assert_array_equal(np.take(out, i, axis), alone)


@pytest.mark.parametrize(("params", "match"), [
    (BQ("quantile"), "bins >= 1"),
    (BQ("initial", bins=3), "quantile edges only"),
    (BQ("thirds"), "edges are"),
    (BQ(value="mode"), "'mean' or 'median'"),
    (BQ(axis=2), "out of range"),
])
def test_rejects(params: BQ, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        encode(np.zeros((2, 2), np.int8), params)


def test_rejects_non_finite_and_non_numeric() -> None:
    with pytest.raises(CodecError, match="finite"):
        encode(np.array([1.0, np.nan]), BQ())
    with pytest.raises(CodecError, match="integer or float"):
        encode(np.array([True]), BQ())

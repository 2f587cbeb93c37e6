"""k-means clustering: inits, preserved zero, and the documented quantization (each element is the
nearest value of its slice's table) over every dtype and shape."""

from __future__ import annotations

import numpy as np
import pytest
from _codec_arrays import axis_for, value_arrays
from hypothesis import given
from hypothesis import strategies as st

from tflitekit.codecs import Encoded, KMeans, Packed, decode, encode, kmeans_1d
from tflitekit.codecs.cluster import INITS
from tflitekit.errors import CodecError


def roundtrip(array: np.ndarray, params: KMeans) -> np.ndarray:
    out = decode(Encoded.from_bytes(encode(array, params).to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    return out


@pytest.mark.parametrize("init", INITS)
def test_two_clear_clusters(init: str) -> None:
    x = np.array([0, 1, 2, 100, 101, 102, 1, 101], np.int16)
    np.testing.assert_array_equal(roundtrip(x, KMeans(2, init=init)),
                                  [1, 1, 1, 101, 101, 101, 1, 101])
    y = x.astype(np.float32) / 3
    np.testing.assert_allclose(roundtrip(y, KMeans(2, init=init)),
                               np.where(x < 50, 1 / 3, 101 / 3).astype(np.float32), rtol=1e-6)


def test_inits() -> None:
    u, w = np.arange(11.0), np.ones(11)
    np.testing.assert_array_equal(kmeans_1d(u, w, 3, "linear", max_iter=0), [0, 5, 10])
    np.testing.assert_allclose(kmeans_1d(u, w, 3, "density", max_iter=0),
                               np.interp([1 / 11, 6 / 11, 1], np.arange(1, 12) / 11, u))
    for init in ("random", "kmeans++"):
        a = kmeans_1d(u, w, 4, init, np.random.default_rng(7), max_iter=0)
        b = kmeans_1d(u, w, 4, init, np.random.default_rng(7), max_iter=0)
        np.testing.assert_array_equal(a, b)
        assert len(np.unique(a)) == 4 and set(a) <= set(u)


def test_few_values_are_exact() -> None:
    x = np.array([[3, -7, 3], [9, 9, -7]], np.int8)
    encoded = encode(x, KMeans(3))
    np.testing.assert_array_equal(encoded.table("values"), [-7, 3, 9])
    np.testing.assert_array_equal(decode(encoded), x)


def test_integer_centroids_round_half_away_from_zero() -> None:
    x = np.array([-5, -4, 0, 4, 5], np.int8)  # centres -4.5, 0 (fixed), 4.5
    params = KMeans(3, init="linear", preserve_zero=True)
    np.testing.assert_array_equal(roundtrip(x, params), [-5, -5, 0, 5, 5])


def test_preserve_zero() -> None:
    x = np.array([0, 0, 1, 2, 3, 50, 60, 0, 1], np.int32)
    np.testing.assert_array_equal(roundtrip(x, KMeans(2, preserve_zero=True)),
                                  [0, 0, 0, 0, 0, 55, 55, 0, 0])
    np.testing.assert_array_equal(roundtrip(x, KMeans(2)), [1, 1, 1, 1, 1, 55, 55, 1, 1])


def test_per_channel_table_layout() -> None:
    x = np.array([[0, 1, 10, 11], [5, 5, 6, 7]], np.uint8)
    encoded = encode(x, KMeans(2, axis=-1))  # slices along the last axis: 4 channels of 2
    assert encoded.table("values").shape == (4, 2)
    np.testing.assert_array_equal(encoded.table("counts"), [2, 2, 2, 2])
    np.testing.assert_array_equal(decode(encoded), x)


def test_seeded() -> None:
    x = np.random.default_rng(3).normal(size=(8, 50)).astype(np.float32)
    a, b = encode(x, KMeans(5, seed=11, axis=0)), encode(x, KMeans(5, seed=11, axis=0))
    assert a.to_bytes() == b.to_bytes()


@st.composite
def kmeans_params(draw: st.DrawFn, array: np.ndarray) -> KMeans:
    return KMeans(draw(st.integers(1, 9)), draw(st.sampled_from(INITS)), draw(st.integers(0, 3)),
                  draw(axis_for(array)), draw(st.booleans()), draw(st.integers(0, 30)),
                  draw(st.sampled_from([Packed(), Packed(6)])))


def check_nearest(row: np.ndarray, q: np.ndarray, table: np.ndarray, params: KMeans) -> None:
    x, t, got = row.astype(np.float64), table.astype(np.float64), q.astype(np.float64)
    assert len(t) <= params.k and np.all(np.diff(t) > 0)
    if row.size == 0:
        assert len(t) == 0
        return
    assert np.isin(got, t).all()
    distance = np.abs(x[:, None] - t[None, :])
    best = distance.min(axis=1)
    mine = np.abs(x - got)
    np.testing.assert_array_equal(mine, best)  # the nearest table value ...
    ties = distance == best[:, None]
    np.testing.assert_array_equal(got, np.where(ties, t[None, :], np.inf).min(axis=1))
    if len(np.unique(row)) <= params.k:
        np.testing.assert_array_equal(q, row)
    if params.preserve_zero:
        assert np.all(q[row == 0] == 0)


@given(st.data())
def test_documented_quantization(data: st.DataObject) -> None:
    array = data.draw(value_arrays())
    params = data.draw(kmeans_params(array))
    encoded = encode(array, params)
    out = decode(Encoded.from_bytes(encoded.to_bytes()))
    assert out.dtype == array.dtype and out.shape == array.shape
    if params.axis is None:
        check_nearest(array.ravel(), out.ravel(), encoded.table("values"), params)
        return
    axis = params.axis % array.ndim
    values, counts = encoded.table("values"), encoded.table("counts")
    for i in range(array.shape[axis]):
        check_nearest(np.take(array, i, axis).ravel(), np.take(out, i, axis).ravel(),
                      values[i, :counts[i]], params)


@given(st.data())
def test_per_channel_is_per_slice(data: st.DataObject) -> None:
    array = data.draw(value_arrays(min_size=1).filter(lambda a: a.ndim > 0))
    axis = data.draw(st.integers(0, array.ndim - 1))
    k, init = data.draw(st.integers(1, 6)), data.draw(st.sampled_from(INITS))
    out = decode(encode(array, KMeans(k, init, seed=5, axis=axis)))
    for i in range(array.shape[axis]):
        alone = decode(encode(np.take(array, i, axis), KMeans(k, init, seed=5)))
        np.testing.assert_array_equal(np.take(out, i, axis), alone)


@pytest.mark.parametrize(("params", "match"), [
    (KMeans(0), "k is at least 1"),
    (KMeans(2, init="forgy"), "init is one of"),
    (KMeans(2, max_iter=-1), "non-negative"),
    (KMeans(2, axis=-3), "out of range"),
])
def test_rejects(params: KMeans, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        encode(np.zeros((2, 2), np.float32), params)

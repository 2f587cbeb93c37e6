"""k-means clustering: inits, preserved zero, and the documented quantization (each element is the
nearest value of its slice's table) over every dtype and shape."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from _codec_arrays import VALUE_DTYPES, axis_for, elements, value_arrays
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tflitekit.codecs import Encoded, KMeans, Packed, decode, encode, kmeans_1d
from tflitekit.codecs.cluster import INITS, nearest_entry
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


@st.composite
def arrays_and_params(draw: st.DrawFn) -> tuple[np.ndarray, KMeans]:
    array = draw(value_arrays())
    return array, draw(kmeans_params(array))


def exact(value: object) -> Fraction:
    """A value of any integer or float dtype as the rational it is (no rounding, no overflow)."""
    return Fraction(int(value)) if isinstance(value, np.integer) else Fraction(float(value))


def nearest_brute(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """For each value, the index of its nearest table entry, the smaller on a tie, in rationals."""
    t = [exact(v) for v in table]
    index = {}
    for x in np.unique(values):
        d = [abs(exact(x) - v) for v in t]
        index[x.item()] = d.index(min(d))
    return np.array([index[x.item()] for x in values.ravel()], np.intp).reshape(values.shape)


def check_nearest(row: np.ndarray, q: np.ndarray, table: np.ndarray, params: KMeans) -> None:
    assert len(table) <= params.k and np.all(table[:-1] < table[1:])
    if row.size == 0:
        assert len(table) == 0
        return
    # every element is the nearest table value (exactly: float64 differences of huge or distant
    # values round), the smaller on a tie
    np.testing.assert_array_equal(q, table[nearest_brute(row, table)])
    # each table value is a rounded mean of values, or the preserved 0
    low, high = row.min(), row.max()
    if params.preserve_zero:
        low, high = min(low, 0), max(high, 0)
    assert low <= table[0] and table[-1] <= high
    if len(np.unique(row)) <= params.k:
        np.testing.assert_array_equal(q, row)
    if params.preserve_zero:
        assert np.all(q[row == 0] == 0)


# Found by hypothesis: k-means++ on values 2^-1000 and less of the largest (scaled, they collapse
# to 0 and every distance is 0: the probabilities were NaN); float32 values past 2^53 (float64
# distances round: a nearer table value was not picked, and the float64 check itself was wrong).
SPREAD = np.array([1e-282, 2e-282, 3e-282, 5e-300, 1e-290, 0.0, 1e97, 2e-282])
NEAR_2_53 = np.array([[2.0**53, 0], [-1, 2.0**54]], np.float32)
ONE_VALUE_TOP = np.array([0.0, 0.25, 0.5] + [1.491] * 12)  # 1.491 * 12 / 12 > 1.491 in float64


@given(arrays_and_params())
@example((SPREAD, KMeans(3)))
@example((SPREAD, KMeans(3, preserve_zero=True, seed=2)))
@example((np.array([[9.007e15, 0], [-1, 1.8e16]], np.float32),
          KMeans(3, init="linear", preserve_zero=True, max_iter=0)))
@example((NEAR_2_53, KMeans(3, init="linear", preserve_zero=True, max_iter=0)))
@example((np.array([-1, 2.0**53 + 2**30, 2.0**54 + 2**31], np.float32),
          KMeans(2, init="linear", max_iter=0)))
@example((ONE_VALUE_TOP, KMeans(2, init="linear")))
def test_documented_quantization(case: tuple[np.ndarray, KMeans]) -> None:
    array, params = case
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


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("preserve_zero", [False, True])
def test_kmeanspp_values_far_below_the_largest(seed: int, preserve_zero: bool) -> None:
    # scaled by 2^323 all but 1e97 underflow to 0: once 0 and 1e97 are drawn, every distance is 0
    encoded = encode(SPREAD, KMeans(3, seed=seed, preserve_zero=preserve_zero))
    np.testing.assert_array_equal(encoded.table("values"), [0, 1e97])
    np.testing.assert_array_equal(decode(encoded), np.where(SPREAD > 1, 1e97, 0))
    u = np.unique(SPREAD)
    centres = kmeans_1d(u, np.ones(len(u)), 4, rng=np.random.default_rng(seed), max_iter=0)
    assert len(centres) == 4 and set(centres) <= {0.0, 1e97}


@pytest.mark.parametrize(("array", "params", "expected"), [
    # 2^53 is as far from 0 as from 2^54: the smaller (a float64 check saw -1 tie too, as
    # 2^53 + 1 rounds to 2^53)
    (NEAR_2_53, KMeans(3, init="linear", preserve_zero=True, max_iter=0), [[0, 0], [-1, 2**54]]),
    (np.array([[9.007e15, 0], [-1, 1.8e16]], np.float32),
     KMeans(3, init="linear", preserve_zero=True, max_iter=0), [[1.8e16, 0], [-1, 1.8e16]]),
    # 2^53 + 2^30 is 1 nearer to 2^54 + 2^31 than to -1; in float64 both distances are 2^53 + 2^30
    (np.array([-1, 2.0**53 + 2**30, 2.0**54 + 2**31], np.float32),
     KMeans(2, init="linear", max_iter=0), [-1, 2.0**54 + 2**31, 2.0**54 + 2**31]),
    (np.array([-1, 2.0**59 + 2**8, 2.0**60 + 2**9]), KMeans(2, init="linear", max_iter=0),
     [-1, 2.0**60 + 2**9, 2.0**60 + 2**9]),
    # distances past the float64 range
    (np.array([-1.7e308, 1e292, -1e292, 1.7e308]), KMeans(2, init="linear", max_iter=0),
     [-1.7e308, 1.7e308, -1.7e308, 1.7e308]),
    # the float64 mean of a cluster of one value past it is clipped back to the value
    (ONE_VALUE_TOP, KMeans(2, init="linear"), [0.25] * 3 + [1.491] * 12),
])
def test_assigned_to_the_exactly_nearest(array: np.ndarray, params: KMeans,
                                         expected: list[float]) -> None:
    np.testing.assert_array_equal(roundtrip(array, params), np.array(expected, array.dtype))


@given(st.data())
def test_nearest_entry(data: st.DataObject) -> None:
    dtype = np.dtype(data.draw(st.sampled_from((*VALUE_DTYPES, "int64", "uint64"))))
    table = np.unique(data.draw(hnp.arrays(dtype, st.integers(1, 6), elements=elements(dtype))))
    # values anywhere, on the table, and at and about the midpoints
    values = data.draw(hnp.arrays(dtype, st.integers(0, 12), elements=elements(dtype)))
    if dtype.kind == "f" and len(table) > 1:
        with np.errstate(over="ignore"):
            mid = (table[:-1] / 2 + table[1:] / 2).astype(dtype)
        mid = mid[np.isfinite(mid)]
        values = np.concatenate([values, mid, np.nextafter(mid, dtype.type(np.inf)),
                                 np.nextafter(mid, dtype.type(-np.inf))])
    elif len(table) > 1:
        mid = table[:-1] // 2 + table[1:] // 2
        values = np.concatenate([values, mid, mid + 1])
    values = np.concatenate([values, table])
    np.testing.assert_array_equal(nearest_entry(values, table), nearest_brute(values, table))


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

"""RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR: against scalar transcriptions of TFLite's reference
code (one output pixel at a time; float32 scalars, plain Python ints) and against TFLite Micro
(LiteRT's reference kernels for int16 bilinear, which TFLite Micro lacks)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from _harness import assert_batch_equals_single_runs, assert_matches, random_int, run, single_op
from _scalar import c_div, round_away

from tflitekit import Interpreter, Model, Quantization, Tensor, UnsupportedOperatorError
from tflitekit.options import BuiltinOperator as Op
from tflitekit.options import ResizeBilinearOptions, ResizeNearestNeighborOptions

Array = np.ndarray
F32 = np.float32
DTYPES = ["float32", "int8", "int16"]
# (in height, in width, out height, out width)
SIZES = [(4, 5, 8, 10), (5, 7, 3, 4), (3, 3, 7, 11), (6, 6, 6, 6), (1, 4, 3, 1), (7, 5, 16, 3),
         (2, 2, 1, 1), (10, 12, 5, 6)]
FLAGS = [(False, False), (True, False), (False, True), (True, True)]

# -- scalar transcriptions ---------------------------------------------------------------------


def nearest(i: int, size: int, out: int, align: bool, half: bool) -> int:
    """GetNearestNeighbor, in float32."""
    scale = F32(size - 1) / F32(out - 1) if align and out > 1 else F32(size) / F32(out)
    pos = F32(F32(i) + F32(0.5 if half else 0.0)) * scale
    source = round_away(float(pos)) if align else math.floor(pos)
    source = min(source, size - 1)
    return max(0, source) if half else source


def scalar_nearest(x: Array, oh: int, ow: int, align: bool, half: bool) -> Array:
    _, h, w, c = x.shape
    out = np.zeros((1, oh, ow, c), x.dtype)
    for y, xo in itertools.product(range(oh), range(ow)):
        out[0, y, xo] = x[0, nearest(y, h, oh, align, half), nearest(xo, w, ow, align, half)]
    return out


def float_axis(i: int, size: int, out: int, align: bool, half: bool
               ) -> tuple[np.float32, int, int]:
    """ComputeInterpolationValues: the float32 source position and its two neighbours."""
    scale = F32(size) / F32(out)
    if align and out > 1:
        scale = F32(size - 1) / F32(out - 1)
    pos = F32(F32(F32(i) + F32(0.5)) * scale) - F32(0.5) if half else F32(F32(i) * scale)
    return pos, max(math.floor(pos), 0), min(math.ceil(pos), size - 1)


def int_axis(i: int, size: int, out: int, align: bool, half: bool) -> tuple[int, int, int]:
    """ComputeInterpolationValuesInteger: the position in 1/1024 and its two neighbours."""
    scale = (1024 * size + out // 2) // out
    if align and out > 1:
        scale = (1024 * (size - 1) + (out - 1) // 2) // (out - 1)
    pos = i * scale + scale // 2 - 512 if half else i * scale
    return pos, max(c_div(pos, 1024), 0), min(c_div(pos + 1023, 1024), size - 1)


def scalar_bilinear(x: Array, oh: int, ow: int, align: bool, half: bool,
                    rounding: str = "double") -> Array:
    _, h, w, c = x.shape
    out = np.zeros((1, oh, ow, c), x.dtype)
    floating = x.dtype == np.float32
    for yo, xo, ch in itertools.product(range(oh), range(ow), range(c)):
        if floating:
            py, y0, y1 = float_axis(yo, h, oh, align, half)
            px, x0, x1 = float_axis(xo, w, ow, align, half)
            dy, dx = F32(py - F32(y0)), F32(px - F32(x0))
            ey, ex = F32(F32(1) - dy), F32(F32(1) - dx)
            v = [F32(x[0, y0, x0, ch] * ey * ex), F32(x[0, y1, x0, ch] * dy * ex),
                 F32(x[0, y0, x1, ch] * ey * dx), F32(x[0, y1, x1, ch] * dy * dx)]
            out[0, yo, xo, ch] = F32(F32(F32(F32(v[0] + v[1]) + v[2]) + v[3]) + F32(0))
            continue
        py, y0, y1 = int_axis(yo, h, oh, align, half)
        px, x0, x1 = int_axis(xo, w, ow, align, half)
        dy, dx = py - 1024 * y0, px - 1024 * x0
        total = (int(x[0, y0, x0, ch]) * (1024 - dy) * (1024 - dx)
                 + int(x[0, y1, x0, ch]) * dy * (1024 - dx)
                 + int(x[0, y0, x1, ch]) * (1024 - dy) * dx
                 + int(x[0, y1, x1, ch]) * dy * dx)
        if rounding == "single":
            value = (total + (1 << 19)) >> 20
        else:
            value = c_div(total + ((1 << 19) if total > 0 else -(1 << 19)), 1 << 20)
        out[0, yo, xo, ch] = value
    return out


# -- models ------------------------------------------------------------------------------------


def resize_model(op: Op, dtype: str, size: tuple[int, int, int, int], align: bool, half: bool,
                 channels: int = 3) -> Model:
    h, w, oh, ow = size
    q = None if dtype == "float32" else Quantization(np.array([0.05], np.float32),
                                                     np.array([3 if dtype == "int8" else 0]))
    kind = ResizeBilinearOptions if op == Op.RESIZE_BILINEAR else ResizeNearestNeighborOptions
    return single_op(op, [Tensor("x", (1, h, w, channels), dtype, quantization=q),
                          Tensor.constant("size", np.array([oh, ow], np.int32))],
                     [Tensor("y", (1, oh, ow, channels), dtype, quantization=q)],
                     kind(align_corners=align, half_pixel_centers=half))


def sample(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> Array:
    if dtype == "float32":
        return (rng.standard_normal(shape) * 3).astype(np.float32)
    return random_int(rng, shape, dtype)


NEAREST = list(itertools.product(DTYPES, SIZES, FLAGS))
BILINEAR = [c for c in itertools.product(DTYPES, SIZES, FLAGS) if c[2] != (True, True)]


@pytest.mark.parametrize(("dtype", "size", "flags"), NEAREST)
def test_nearest_matches_scalar_transcription(dtype: str, size: tuple[int, int, int, int],
                                              flags: tuple[bool, bool]) -> None:
    x = sample(np.random.default_rng(1), dtype, (1, size[0], size[1], 3))
    got = run(resize_model(Op.RESIZE_NEAREST_NEIGHBOR, dtype, size, *flags), [x])[0]
    np.testing.assert_array_equal(got, scalar_nearest(x, size[2], size[3], *flags))


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize(("dtype", "size", "flags"), BILINEAR)
def test_bilinear_matches_scalar_transcription(dtype: str, size: tuple[int, int, int, int],
                                               flags: tuple[bool, bool], rounding: str) -> None:
    x = sample(np.random.default_rng(2), dtype, (1, size[0], size[1], 3))
    got = run(resize_model(Op.RESIZE_BILINEAR, dtype, size, *flags), [x], rounding=rounding)[0]
    want = scalar_bilinear(x, size[2], size[3], *flags, rounding=rounding)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.tflm
@pytest.mark.parametrize(("dtype", "size", "flags"), NEAREST)
def test_nearest_matches_tflm(dtype: str, size: tuple[int, int, int, int],
                              flags: tuple[bool, bool]) -> None:
    rng = np.random.default_rng(3)
    model = resize_model(Op.RESIZE_NEAREST_NEIGHBOR, dtype, size, *flags)
    assert_matches(model, [sample(rng, dtype, (1, size[0], size[1], 3))])


@pytest.mark.tflm
@pytest.mark.parametrize(("dtype", "size", "flags"), [c for c in BILINEAR if c[0] != "int16"])
def test_bilinear_matches_tflm(dtype: str, size: tuple[int, int, int, int],
                               flags: tuple[bool, bool]) -> None:
    rng = np.random.default_rng(4)
    model = resize_model(Op.RESIZE_BILINEAR, dtype, size, *flags)
    for _ in range(2):
        assert_matches(model, [sample(rng, dtype, (1, size[0], size[1], 3))])


@pytest.mark.litert
@pytest.mark.parametrize(("size", "flags"), [(c[1], c[2]) for c in BILINEAR if c[0] == "int16"])
def test_int16_bilinear_matches_litert(size: tuple[int, int, int, int],
                                       flags: tuple[bool, bool]) -> None:
    # TFLite Micro's RESIZE_BILINEAR takes float32 and int8 only.
    rng = np.random.default_rng(5)
    model = resize_model(Op.RESIZE_BILINEAR, "int16", size, *flags)
    for _ in range(2):
        assert_matches(model, [sample(rng, "int16", (1, size[0], size[1], 3))], runtime="litert")


@pytest.mark.parametrize("op", [Op.RESIZE_NEAREST_NEIGHBOR, Op.RESIZE_BILINEAR])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_equals_single_runs(op: Op, dtype: str) -> None:
    rng = np.random.default_rng(6)
    model = resize_model(op, dtype, (4, 5, 9, 7), False, True)
    batch = np.stack([sample(rng, dtype, (1, 4, 5, 3)) for _ in range(4)])
    assert_batch_equals_single_runs(model, [batch])


def test_bilinear_refuses_align_corners_with_half_pixel_centers() -> None:
    with pytest.raises(UnsupportedOperatorError, match="half_pixel_centers"):
        Interpreter(resize_model(Op.RESIZE_BILINEAR, "int8", (4, 4, 8, 8), True, True))


def test_refuses_a_computed_size() -> None:
    model = single_op(Op.RESIZE_NEAREST_NEIGHBOR,
                      [Tensor("x", (1, 4, 4, 1), "float32"), Tensor("size", (2,), "int32")],
                      [Tensor("y", (1, 8, 8, 1), "float32")], ResizeNearestNeighborOptions())
    with pytest.raises(UnsupportedOperatorError, match="constant"):
        Interpreter(model)

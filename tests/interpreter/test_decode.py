"""The TFLM_DECODE kernel against TFLite Micro: every decoded tensor (LUT per tensor and per
channel on axis 0 and the last axis, 1..7 bits, Huffman with 16- and 32-bit tables) equals the
runtime's, and models compressed by TFLite Micro's own compressor decode and run in tflitekit."""

from __future__ import annotations

import numpy as np
import pytest
from _clustering import cluster
from _decode_models import decode_model

import tflitekit
from tflitekit import Interpreter, Quantization
from tflitekit.codecs import tflm
from tflitekit.passes import DecompressWeights, compress_weights
from tflitekit.runtimes import random_samples, run_tflm, tflm_tensors
from tflitekit.testing import assert_models_equal, assert_same_outputs, build_kws_model


def _check(model: tflitekit.Model, values: np.ndarray) -> None:
    x = random_samples(model, 1)
    want = run_tflm(model.to_bytes(), x)[1].reshape(values.shape)
    np.testing.assert_array_equal(want, values)
    got = Interpreter(model).run(x)[1].reshape(values.shape)
    np.testing.assert_array_equal(got, want)


CASES = [((5, 7), np.int8, 1), ((3, 2, 4), np.int8, 4), ((4, 9), np.int16, 0),
         ((2, 3, 4), np.int8, 4), ((3, 40), np.int8, 3), ((33,), np.float32, 1),
         ((6, 5), np.int32, 6)]


@pytest.mark.tflm
@pytest.mark.parametrize("bits", range(1, 8))
@pytest.mark.parametrize(("shape", "dtype", "scales"), CASES)
def test_lut_matches_tflite_micro(shape: tuple[int, ...], dtype: type, scales: int,
                                  bits: int) -> None:
    rng = np.random.default_rng(bits)
    axis = 0 if scales != 4 or shape[0] == 4 else len(shape) - 1
    layout = tflm.channels(shape, scales, axis if scales > 1 else 0)
    quant = None if scales == 0 else Quantization(
        np.full(max(scales, 1), 0.1), np.zeros(max(scales, 1), np.int64),
        quantized_dimension=axis if scales > 1 else 0)
    table = rng.integers(-100, 100, (max(scales, 1), 1 << bits)).astype(dtype)
    rows = np.stack([rng.choice(t, int(np.prod(shape)) // max(scales, 1)) for t in table])
    moved = (shape[axis], *np.delete(np.asarray(shape), axis)) if layout.axis else shape
    values = (np.moveaxis(rows.reshape(moved), 0, axis) if layout.axis else rows.reshape(shape))
    encoded, ancillary = tflm.encode_lut(values, layout, bits)
    _check(decode_model((values, quant, encoded, ancillary)), values)


@pytest.mark.tflm
@pytest.mark.parametrize("dtype", [np.int8, np.int16])
@pytest.mark.parametrize("spread", [0, 3, 40, 120])
def test_huffman_matches_tflite_micro(dtype: type, spread: int) -> None:
    rng = np.random.default_rng(spread)
    values = np.clip(rng.normal(0, spread + 1e-9, (37, 11)).round(), -128, 127).astype(dtype)
    encoded, ancillary = tflm.encode_huffman(values)
    assert (ancillary[5] & 1) == (dtype == np.int16)
    _check(decode_model((values, None, encoded, ancillary)), values)


def test_decode_refuses_what_the_runtime_refuses() -> None:
    values = np.zeros((2, 3, 4), np.int8)
    encoded, ancillary = tflm.encode_lut(values, tflm.Layout(1, None), 1)
    quant = Quantization([0.1] * 3, [0] * 3, quantized_dimension=1)
    model = decode_model((values, quant, encoded, ancillary))
    with pytest.raises(tflitekit.UnsupportedOperatorError, match="axis 0 or the last"):
        Interpreter(model)


def _tflm_compressed(bits: int) -> tuple[tflitekit.Model, bytes]:
    compression = pytest.importorskip("tflite_micro.tensorflow.lite.micro.compression")
    from tflite_micro.tensorflow.lite.micro.compression import spec

    model = build_kws_model()
    cluster(model, bits)
    base = tflitekit.load(model.to_bytes())
    builder = compression.SpecBuilder()
    for index, tensor in enumerate(base.main.tensors):
        if tensor.name in ("conv/w", "dw/w"):
            axis = tensor.quantization.quantized_dimension
            builder.add_tensor(subgraph=0, tensor=index).with_lut(
                index_bitwidth=bits, mode=spec.PerChannel(axis=axis))
    return base, bytes(compression.compress(base.to_bytes(), builder.build()))


@pytest.mark.tflm
@pytest.mark.parametrize("bits", [2, 3])
def test_models_compressed_by_tflite_micro_load_run_and_decompress(bits: int) -> None:
    base, data = _tflm_compressed(bits)
    compressed = tflitekit.load(data)
    assert any(op.opcode.custom_code == tflm.DECODE for op in compressed.main.operators)
    assert_same_outputs(base, data, seeds=range(2))
    decoded = DecompressWeights()(compressed).model
    x = random_samples(base, 4)
    want = run_tflm(data, x)[0]
    np.testing.assert_array_equal(Interpreter(decoded).run(x)[0].reshape(want.shape), want)
    for name in ("conv/w", "dw/w"):
        np.testing.assert_array_equal(decoded.main.tensor(name).data, base.main.tensor(name).data)


@pytest.mark.tflm
def test_decoded_tensors_equal_tflite_micro_in_a_compressed_model() -> None:
    base = build_kws_model()
    cluster(base, 2)
    model = tflitekit.load(base.to_bytes())
    compress_weights(model, tensors=["conv/w", "dw/w"], codec="huffman")
    data = model.to_bytes()
    x = random_samples(model, 1)
    seen = tflm_tensors(data, x)
    for index, tensor in enumerate(tflitekit.load(data).main.tensors):
        if tensor.name.endswith("_decoded"):
            want = base.main.tensor(tensor.name.removesuffix("_decoded")).data
            np.testing.assert_array_equal(seen[index][0], want)
    assert_models_equal(tflitekit.load(base.to_bytes()), DecompressWeights()(model).model)

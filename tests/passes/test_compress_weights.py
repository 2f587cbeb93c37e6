"""compress_weights / decompress_weights: both storage forms on builder models, checked against
TFLite Micro (the compressed model computes what the clustered one does) and field by field."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _clustering import cluster, cluster_array, weight_axis

import tflitekit
from tflitekit.codecs import KMeans, tflm
from tflitekit.errors import PassError
from tflitekit.passes import CompressWeights, DecompressWeights
from tflitekit.passes.compress_weights import compress_weights, following_quantization
from tflitekit.testing import assert_models_equal, assert_same_outputs, build_kws_model

WEIGHTS = ["conv/w", "dw/w", "fc/w"]


def _set(tensor: tflitekit.Tensor, values: np.ndarray) -> None:
    """New values in the tensor's own buffer (the buffer order stays)."""
    tensor.buffer.data = np.ascontiguousarray(values, tensor.numpy_dtype).view(np.uint8)


def _clustered(bits: int = 2) -> tflitekit.Model:
    model = build_kws_model()
    cluster(model, bits)
    for name in WEIGHTS:
        tensor = model.main.tensor(name)
        if tensor.data is not None and tensor.data.size < 16:
            tensor.data = cluster_array(tensor.data, 1 << bits, weight_axis(tensor))
    return tflitekit.load(model.to_bytes())


@pytest.mark.parametrize("codec", ["lut", "huffman"])
@pytest.mark.parametrize("bits", [1, 2, 3])
def test_tflm_form_runs_in_tflite_micro_and_decompresses_exactly(codec: str, bits: int) -> None:
    base = _clustered(bits)
    compressed = base.copy()
    result = CompressWeights(tensors=WEIGHTS, codec=codec)(compressed)
    assert len(result.changes) == 3
    decodes = [op for op in compressed.main.operators if op.opcode.custom_code == tflm.DECODE]
    assert len(decodes) == 3 and all(op.custom_options is None for op in decodes)
    for op in decodes:
        encoded, ancillary = op.inputs
        assert encoded.dtype.name == "UINT8" and encoded.quantization is None
        assert op.outputs[0].buffer is None and op.outputs[0].name.endswith("_decoded")
        assert ancillary.data[0] == (tflm.LUT if codec == "lut" else tflm.HUFFMAN)
    data = compressed.to_bytes()
    assert_same_outputs(base, data, seeds=range(3))
    back = DecompressWeights()(tflitekit.load(data)).model
    assert_models_equal(base, back)


def test_lut_tables_follow_the_quantization() -> None:
    model = _clustered(2)
    compress_weights(model, tensors=WEIGHTS, codec="lut", bits=2)
    header = {op.outputs[0].name: op.inputs[1].data[:16] for op in model.main.operators
              if op.opcode.custom_code == tflm.DECODE}
    assert header["conv/w_decoded"][5] == (0 << 4) | 2  # per channel on axis 0
    assert header["dw/w_decoded"][5] == (3 << 4) | 2  # per channel on the last axis
    assert header["fc/w_decoded"][5] == (15 << 4) | 2  # one table


def test_one_decode_per_consumer() -> None:
    model = _clustered(2)
    w = model.main.tensor("fc/w")
    # a second FULLY_CONNECTED reading the same weights
    fc = next(op for op in model.main.operators if op.type.name == "FULLY_CONNECTED")
    out = tflitekit.Tensor("logits2", (1, 3), "int8", quantization=fc.outputs[0].quantization)
    model.main.add_operator(fc.opcode, [fc.inputs[0], w, fc.inputs[2]], [out], fc.options)
    model.main.add_output(out)
    compressed = model.copy()
    compress_weights(compressed, tensors=["fc/w"])
    decodes = [op for op in compressed.main.operators if op.opcode.custom_code == tflm.DECODE]
    assert len(decodes) == 2 and decodes[0].outputs[0] is not decodes[1].outputs[0]
    assert_same_outputs(model, compressed, seeds=range(2))
    assert_models_equal(model, DecompressWeights()(compressed).model)


def test_default_selection_skips_what_does_not_shrink() -> None:
    model = _clustered(2)
    result = CompressWeights()(model)
    assert not result.changes
    assert any("no smaller" in s for s in result.skipped)


def test_refusals() -> None:
    model = build_kws_model()  # 256 distinct values possible: too many for a 2-bit LUT
    with pytest.raises(PassError, match="distinct values"):
        CompressWeights(tensors=["conv/w"], bits=2)(model)
    with pytest.raises(PassError, match="no tensor named"):
        CompressWeights(tensors=["nope"])(model)
    with pytest.raises(PassError, match="'lut' or 'huffman'"):
        CompressWeights(codec="rans")(model)
    with pytest.raises(PassError, match="not a constant"):
        CompressWeights(tensors=["conv/out"])(model)


def test_channels_follow_tflite_micro() -> None:
    assert tflm.channels((4, 3), 4, 0) == tflm.Layout(4, 0)
    assert tflm.channels((1, 3, 3, 4), 4, 3) == tflm.Layout(4, 3)
    assert tflm.channels((4, 3), 1, 0) == tflm.Layout(1, None)
    with pytest.raises(tflitekit.errors.CodecError, match="axis 0 or the last"):
        tflm.channels((2, 4, 3), 4, 1)


def test_container_form_round_trip() -> None:
    base = _clustered(3)
    compressed = base.copy()
    params = KMeans(k=4)
    for name in WEIGHTS:  # what the lossy codec stores: per channel where the tensor is
        tensor = base.main.tensor(name)
        _set(tensor, tflitekit.codecs.decode(tflitekit.codecs.encode(
            tensor.data, following_quantization(params, tensor))))
    result = CompressWeights(tensors=WEIGHTS, codec=params, format="container")(compressed)
    assert len(result.changes) == 3
    entry = json.loads(compressed.get_metadata("TFLITEKIT_COMPRESSION"))
    assert entry["version"] == 1
    assert [t["name"] for t in entry["tensors"]] == WEIGHTS
    loaded = tflitekit.load(compressed.to_bytes())
    assert loaded.main.tensor("conv/w").dtype.name == "UINT8"
    assert_models_equal(base, DecompressWeights()(loaded).model)


def test_decode_values_without_the_runtime() -> None:
    rng = np.random.default_rng(1)
    for dtype in (np.int8, np.int16):
        values = rng.integers(-9, 9, (6, 7)).astype(dtype)
        for encoded, ancillary in (tflm.encode_huffman(values),
                                   tflm.encode_lut(values, tflm.Layout(6, 0))):
            got = tflm.decode(encoded, ancillary, values.shape, dtype, tflm.Layout(6, 0))
            np.testing.assert_array_equal(got, values)


def test_quantize_first_then_store_losslessly() -> None:
    """``quantize=`` clusters each tensor first; decompressing gives the clustered model."""
    base = tflitekit.load(build_kws_model().to_bytes())
    clustered = base.copy()
    for name in WEIGHTS:
        tensor = clustered.main.tensor(name)
        params = KMeans(k=4, axis=weight_axis(tensor))
        _set(tensor, tflitekit.codecs.decode(tflitekit.codecs.encode(tensor.data, params)))
    for name in WEIGHTS:
        tensor = base.main.tensor(name)
        compress_weights(base, tensors=[name], quantize=KMeans(k=4, axis=weight_axis(tensor)))
    assert_same_outputs(clustered, base, seeds=range(2))
    assert_models_equal(clustered, DecompressWeights()(base).model)

"""passes.compress_plan: a search's per-tensor choices stored in either form, and the bit-width
search sized as the chosen form stores the weights."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tflitekit
from tflitekit import Interpreter, demo
from tflitekit.codecs import Huffman, KMeans, Packed, decode, encode, tflm
from tflitekit.codecs.base import CodecParams
from tflitekit.codecs.metrics import Metric, agreement
from tflitekit.codecs.search import weight_tensors
from tflitekit.passes import CompressWeights, DecompressWeights, optimize
from tflitekit.passes.compress_plan import (
    compress_plan,
    compress_step,
    search_bits,
    stored_size,
)
from tflitekit.passes.compress_weights import (
    Format,
    compressed_tensors,
    following_quantization,
)
from tflitekit.testing import assert_models_equal


@pytest.fixture(scope="module")
def model() -> tflitekit.Model:
    """The demo's model without its float interface: int8 weights per channel, some large."""
    loaded = tflitekit.load(demo.MODEL)
    optimize(loaded, strip_float_io=True)
    return loaded


def test_a_plan_is_each_tensor_compressed_with_its_parameters(model: tflitekit.Model) -> None:
    names = [t.name or "" for t in weight_tensors(model)][:2]
    plan = {names[0]: KMeans(k=4), names[1]: KMeans(k=16)}
    ours = model.copy()
    results = compress_plan(ours, plan)
    assert [r.modified for r in results] == [True, True]
    expected = model.copy()
    for name, params in plan.items():
        CompressWeights([name], "lut", quantize=params)(expected)
    assert_models_equal(ours, expected)
    assert sorted(t.name for t in compressed_tensors(ours)) == sorted(names)
    decoded = DecompressWeights()(ours).model
    for name, params in plan.items():
        original = model.main.tensor(name)
        assert original is not None and original.data is not None
        want = decode(encode(original.data, following_quantization(params, original)))
        got = decoded.main.tensor(name)
        assert got is not None and np.array_equal(got.data, want.astype(original.data.dtype))


def test_the_step_of_each_form() -> None:
    step = compress_step("huffman", "tflm", KMeans(k=4), bits=3)
    assert (step.codec, step.bits, step.quantize, step.format) == \
        ("huffman", None, KMeans(k=4), "tflm")
    step = compress_step("lut", "tflm", None, bits=3, tensors=["w"])
    assert (step.codec, step.bits, step.tensors) == ("lut", 3, ["w"])
    assert compress_step("cluster", "container", None).codec == Huffman()
    assert compress_step("cluster", "container", KMeans(k=8)).codec == KMeans(k=8)


@pytest.fixture(scope="module")
def metric(model: tflitekit.Model) -> Metric:
    with np.load(demo.SAMPLES) as data:
        return agreement(model, data["x"][:64])


@pytest.mark.parametrize(("codec", "form", "widths", "coder"), [
    ("lut", "tflm", range(2, 8), Packed()), ("huffman", "tflm", range(2, 9), Huffman()),
    ("cluster", "container", range(2, 9), Huffman())])
def test_the_search_sizes_each_option_as_the_plan_stores_it(
        model: tflitekit.Model, metric: Metric, codec: str, form: Format, widths: range,
        coder: CodecParams) -> None:
    with ThreadPoolExecutor(2) as threads:
        found = search_bits(model, metric, codec=codec, format=form, max_drop=5.0,
                            executor=threads)
    assert found.candidates and {c.bits for c in found.candidates} <= set(widths)
    assert found.params and all(p.then == coder for p in found.params.values())
    for c in found.candidates:  # each option stored alone takes the bytes it was sized at
        alone = model.copy()
        params = following_quantization(KMeans(k=2 ** c.bits, then=coder),
                                        alone.main.tensor(c.tensor))
        compress_plan(alone, {c.tensor: params}, codec=codec, format=form)
        (stored,) = compressed_tensors(alone)
        assert (stored.name, stored.bytes_after) == (c.tensor, c.nbytes)
    compressed = model.copy()
    compress_plan(compressed, found.params, codec=codec, format=form)
    stored_after = {t.name: t.bytes_after for t in compressed_tensors(compressed)}
    assert stored_after == {c.tensor: c.bytes_after for c in found.choices if c.params}
    assert found.bytes_after == sum(stored_after.values()) + sum(
        c.bytes_before for c in found.choices if c.params is None)
    if form == "tflm":
        inputs = list(metric.inputs)
        assert 100 * np.mean(Interpreter(compressed).run(inputs)[0].argmax(-1) ==
                             Interpreter(model).run(inputs)[0].argmax(-1)) == found.metric


def test_the_lut_size_is_the_indices_header_and_a_table_per_channel(
        model: tflitekit.Model) -> None:
    """A per-channel tensor of 16 channels clustered to 4 values each: 2-bit indices packed
    without padding, TFLite Micro's 16-byte header, 16 tables of 4 int8 values."""
    tensor = model.main.tensor("digits_dscnn_1/conv_1/convolution")
    assert tensor is not None and tensor.data is not None and tensor.data.size == 144
    params = following_quantization(KMeans(k=4), tensor)
    quantized = decode(encode(tensor.data, params))
    layout = tflm.channels(tensor.data.shape, 16, tensor.quantization.quantized_dimension)
    assert layout.count == 16 and max(len(np.unique(r)) for r in
                                      np.moveaxis(quantized, layout.axis or 0, 0)
                                      .reshape(16, -1)) == 4
    assert stored_size("lut")(tensor, quantized, params) == 144 * 2 // 8 + 16 + 16 * 4 == 116

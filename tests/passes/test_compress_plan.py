"""passes.compress_plan: a search's per-tensor choices stored in either form, and the bit-width
search sized as the chosen form stores the weights."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tflitekit
from tflitekit import Interpreter, demo
from tflitekit.codecs import Huffman, KMeans, Packed, decode, encode
from tflitekit.codecs.metrics import agreement
from tflitekit.codecs.search import weight_tensors
from tflitekit.passes import CompressWeights, DecompressWeights, optimize
from tflitekit.passes.compress_plan import compress_plan, compress_step, search_bits
from tflitekit.passes.compress_weights import compressed_tensors, following_quantization
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


def test_the_lut_search_sizes_fixed_width_indices_of_at_most_7_bits(
        model: tflitekit.Model) -> None:
    with np.load(demo.SAMPLES) as data:
        metric = agreement(model, data["x"][:64])
    with ThreadPoolExecutor(2) as threads:
        lut = search_bits(model, metric, max_drop=5.0, executor=threads)
        huffman = search_bits(model, metric, codec="huffman", max_drop=5.0, executor=threads)
    assert lut.candidates and {c.bits for c in lut.candidates} <= set(range(2, 8))
    assert lut.params and all(isinstance(p.then, Packed) for p in lut.params.values())
    assert huffman.candidates and {c.bits for c in huffman.candidates} <= set(range(2, 9))
    assert huffman.params and all(isinstance(p.then, Huffman) for p in huffman.params.values())
    for found in (lut, huffman):
        for c in found.candidates:
            tensor = model.main.tensor(c.tensor)
            assert tensor is not None and tensor.data is not None
            coder = Packed() if found is lut else Huffman()
            params = following_quantization(KMeans(k=2 ** c.bits, then=coder), tensor)
            assert c.nbytes == encode(tensor.data, params).nbytes
    compressed = model.copy()
    compress_plan(compressed, lut.params)
    inputs = list(metric.inputs)
    assert 100 * np.mean(Interpreter(compressed).run(inputs)[0].argmax(-1) ==
                         Interpreter(model).run(inputs)[0].argmax(-1)) == lut.metric

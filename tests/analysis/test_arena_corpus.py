"""The predicted arena of every corpus model against TFLite Micro's recording allocator.

The issue's bar: the host total within 10 % of the measured total. The model replays the tail
allocation by allocation, so the tail is asserted exact too (a separate test, so that a newer
tflite-micro wheel that grows a struct shows as a tail mismatch, with the totals still judged).
Each model compressed by ``compress_weights`` (its int8 weights clustered first; LUT 2 and 4
bits, Huffman) runs its ``TFLM_DECODE`` operators: there the whole arena is asserted exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _clustering import cluster
from _scripts import load_script
from _tflm_arena import measured_arena

import tflitekit
from tflitekit.analysis.arena import arena
from tflitekit.codecs import tflm
from tflitekit.passes import compress_weights

pytestmark = [pytest.mark.corpus, pytest.mark.tflm]

keras_script = load_script("make_keras_models")
#: The Keras variants TFLite Micro runs (it refuses hybrid and float16-weight models).
KERAS_MODELS = tuple(f"{arch}_{variant}" for arch in keras_script.ARCHITECTURES
                     for variant in ("float", "int8", "16x8", "int8_float_io"))


def test_host_total_within_ten_percent(corpus_model: Path) -> None:
    measured = measured_arena(corpus_model.read_bytes())
    predicted = arena(tflitekit.load(corpus_model))
    print(f"{corpus_model.stem}: head {predicted.head_bytes}/{measured.head} "
          f"tail {predicted.tail_bytes}/{measured.tail} "
          f"total {predicted.total_bytes}/{measured.total} (predicted/measured)")
    assert abs(predicted.total_bytes - measured.total) <= 0.1 * measured.total


def test_host_tail_is_exact(corpus_model: Path) -> None:
    measured = measured_arena(corpus_model.read_bytes())
    predicted = arena(tflitekit.load(corpus_model), head=measured.head)
    assert predicted.unmodelled == ()
    assert predicted.tail_bytes == measured.tail


def test_target32_tail_is_smaller(corpus_model: Path) -> None:
    """No oracle for the 32-bit build: its tail holds the same allocations with 4-byte
    pointers, so it is smaller than the host's, and never by more than half plus the per-channel
    buffers both builds share."""
    model = tflitekit.load(corpus_model)
    host, small = arena(model, head=0), arena(model, "target32", head=0)
    shared = sum(i.bytes for i in host.items if i.what.startswith("per-channel"))
    assert shared <= small.tail_bytes < host.tail_bytes


@pytest.mark.parametrize(("codec", "bits"), [("lut", 2), ("lut", 4), ("huffman", 3)])
def test_compressed_total_is_exact(corpus_model: Path, codec: str, bits: int) -> None:
    model = tflitekit.load(corpus_model)
    cluster(model, bits)
    model = tflitekit.load(model.to_bytes())
    compress_weights(model, codec=codec, bits=bits if codec == "lut" else None)
    if not any(op.opcode.custom_code == tflm.DECODE for op in model.operators()):
        pytest.skip(f"{corpus_model.stem} has no int8 weights to compress")
    data = model.to_bytes()
    measured = measured_arena(data)
    predicted = arena(tflitekit.load(data))
    assert predicted.unmodelled == ()
    assert (predicted.head_bytes, predicted.tail_bytes) == (measured.head, measured.tail)


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_keras_tail_is_exact(name: str) -> None:
    path = keras_script.default_dir() / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"no {path}: make it with scripts/make_keras_models.py (needs TensorFlow)")
    try:
        measured = measured_arena(path.read_bytes())
    except RuntimeError as exc:
        pytest.skip(f"TFLite Micro refuses {name}: {exc}")
    predicted = arena(tflitekit.load(path), head=measured.head)
    assert predicted.unmodelled == ()
    assert predicted.tail_bytes == measured.tail

"""ROM breakdown: constant bytes by dtype, tensor and layer; metadata; flatbuffer overhead."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit import Buffer, Model, Tensor
from tflitekit.analysis.rom import DtypeBytes, LayerBytes, rom
from tflitekit.options import BuiltinOperator
from tflitekit.testing import build_runnable_model

# The runnable model's constants (bytes): conv/w int8 3x2x2x2 = 24, conv/b int32 x3 = 12,
# reshape/shape int32 x2 = 8, fc/w int8 5x48 = 240, fc/b int32 x5 = 20, add/c int8 1x5 = 5.
WEIGHTS = 24 + 12 + 8 + 240 + 20 + 5


def test_runnable_model_by_dtype_tensor_and_layer(tmp_path: Path) -> None:
    model = build_runnable_model()
    path = tmp_path / "m.tflite"
    model.save(path)
    r = rom(tflitekit.load(path), path)
    assert r.file_bytes == path.stat().st_size
    assert r.weights_bytes == WEIGHTS
    assert r.metadata_bytes == 0 and r.unreferenced_bytes == 0
    # Scales (4 bytes) and zero points (8 bytes): x, conv/y, flat, fc/w, fc/b, fc/y, add/c, y
    # per tensor; conv/w and conv/b per channel (3 each).
    assert r.quantization_bytes == 8 * 12 + 2 * 3 * 12
    assert r.flatbuffer_overhead_bytes == r.file_bytes - WEIGHTS
    assert r.by_dtype == (DtypeBytes("INT8", 3, 24 + 240 + 5), DtypeBytes("INT32", 3, 12 + 8 + 20))
    assert [(t.name, t.dtype, t.shape, t.bytes) for t in r.by_tensor] == [
        ("conv/w", "INT8", (3, 2, 2, 2), 24), ("conv/b", "INT32", (3,), 12),
        ("reshape/shape", "INT32", (2,), 8), ("fc/w", "INT8", (5, 48), 240),
        ("fc/b", "INT32", (5,), 20), ("add/c", "INT8", (1, 5), 5)]
    assert len({t.buffer for t in r.by_tensor}) == 6 and 0 not in {t.buffer for t in r.by_tensor}
    assert r.by_layer == (LayerBytes(0, 0, "CONV_2D", 36), LayerBytes(0, 1, "RESHAPE", 8),
                          LayerBytes(0, 2, "FULLY_CONNECTED", 260), LayerBytes(0, 3, "ADD", 5))
    assert r.unread_bytes == 0


def test_without_a_path_the_size_is_what_a_save_writes(tmp_path: Path) -> None:
    model = build_runnable_model()
    path = tmp_path / "m.tflite"
    model.save(path)
    assert rom(model).file_bytes == path.stat().st_size


def test_a_shared_buffer_counts_once_at_its_first_reader() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 4), "int8"))
    data = Buffer(np.arange(4, dtype=np.int8))
    a = Tensor("a", (1, 4), "int8", buffer=data)
    b = Tensor("b", (1, 4), "int8", buffer=data)  # a second tensor over the same bytes
    y = Tensor("y", (1, 4), "int8")
    z = g.add_output(Tensor("z", (1, 4), "int8"))
    g.add_operator(BuiltinOperator.ADD, [x, a], [y])
    g.add_operator(BuiltinOperator.ADD, [y, b], [z])
    r = rom(m)
    assert r.weights_bytes == 4
    assert r.by_dtype == (DtypeBytes("INT8", 2, 4),)
    assert [(t.name, t.bytes) for t in r.by_tensor] == [("a", 4), ("b", 4)]
    assert r.by_tensor[0].buffer == r.by_tensor[1].buffer
    assert [layer.bytes for layer in r.by_layer] == [4, 0]


def test_metadata_unreferenced_and_unread_bytes() -> None:
    m = build_runnable_model()
    m.add_metadata("min_runtime_version", b"1.5.0".ljust(16, b"\0"))
    m.add_metadata("notes", b"x" * 10)
    m.buffers.append(Buffer(b"orphan: 13 b."))  # listed, used by nothing
    m.main.add_tensor(Tensor.constant("spare", np.zeros(7, np.int8)))  # read by no operator
    r = rom(m)
    assert r.metadata_bytes == 26
    assert r.unreferenced_bytes == 13
    assert r.weights_bytes == WEIGHTS + 7
    assert r.unread_bytes == 7
    assert r.flatbuffer_overhead_bytes == r.file_bytes - WEIGHTS - 7 - 26 - 13
    data = json.loads(json.dumps(r.to_json()))
    assert data["flatbuffer_overhead_bytes"] == r.flatbuffer_overhead_bytes
    assert data["by_layer"][2] == {"subgraph": 0, "index": 2, "opcode": "FULLY_CONNECTED",
                                   "bytes": 260}


def test_empty_buffers_and_non_constant_tensors_are_not_weights() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (2,), "float32", buffer=Buffer(b"")))
    y = g.add_output(Tensor("y", (2,), "float32"))
    g.add_operator(BuiltinOperator.RELU, [x], [y])
    r = rom(m)
    assert (r.weights_bytes, r.by_tensor, r.by_dtype) == (0, (), ())
    assert r.by_layer == (LayerBytes(0, 0, "RELU", 0),)


@pytest.mark.corpus
def test_corpus_rom_adds_up(corpus_model: Path) -> None:
    model = tflitekit.load(corpus_model)
    r = rom(model, corpus_model)
    info = tflitekit.analysis.info(model, corpus_model)
    assert r.weights_bytes == info.buffers.constant_bytes
    assert sum(d.bytes for d in r.by_dtype) == r.weights_bytes
    assert r.unread_bytes >= 0 and r.flatbuffer_overhead_bytes > 0
    # Every buffer of the file is constant data, metadata or unreferenced, exactly once.
    assert r.weights_bytes + r.metadata_bytes + r.unreferenced_bytes \
        == info.buffers.total_bytes

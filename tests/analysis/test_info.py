"""tflitekit.analysis: the summary, the dump, metadata decoding and the shared numbering."""

from __future__ import annotations

import os
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from flatbuffers import flexbuffers  # type: ignore[import-untyped]

import tflitekit
from tflitekit import Model, Operator, OperatorCode, Quantization, Tensor
from tflitekit.analysis import decode_metadata, dump, info
from tflitekit.analysis.size import encoded_size
from tflitekit.options import BuiltinOperator
from tflitekit.serde.numbering import Numbering
from tflitekit.testing import build_tiny_model


def _model() -> Model:
    m = Model("numbering")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 4), "float32"))
    c = Tensor.constant("c", np.ones((1, 4), np.float32))
    y = Tensor("y", (1, 4), "float32")
    g.add_operator(BuiltinOperator.ADD, [x, c], [y])
    z = Tensor("z", (1, 4), "float32")
    g.add_operator(BuiltinOperator.RELU, [y], [z])
    g.add_output(z)
    m.operator_codes.append(OperatorCode(BuiltinOperator.TANH))  # unused
    return m


def test_numbering_is_what_a_save_writes() -> None:
    """The indices the summary and dump show are the ones in the saved file."""
    m = _model()
    unlisted = Tensor("w", (1, 4), "float32")
    g = m.main
    g.add_operator(BuiltinOperator.RELU, [g.outputs[0]], [unlisted])
    g.outputs.append(unlisted)
    num = Numbering(m)
    saved = tflitekit.load(m.to_bytes())
    assert [t.name for t in num.tensors(g)] == [t.name for t in saved.main.tensors]
    assert num.tensor(g, unlisted) == [t.name for t in saved.main.tensors].index("w")
    assert [c.builtin_code for c in num.opcodes] == [
        c.builtin_code for c in saved.operator_codes]
    doc = dump(m)
    assert [t["name"] for t in doc["subgraphs"][0]["tensors"]] == ["x", "c", "y", "z", "w"]
    assert doc["subgraphs"][0]["outputs"] == [3, 4]


def test_summary_flags_unused_codes_and_reports_digest(tmp_path: Path) -> None:
    m = _model()
    plain, signed = tmp_path / "plain.tflite", tmp_path / "signed.tflite"
    m.save(plain)
    m.save(signed, digest=True)
    s = info(tflitekit.load(plain), plain)
    assert [(c.name, c.uses) for c in s.operator_codes] == [("TANH", 0), ("ADD", 1), ("RELU", 1)]
    assert s.digest is not None and not s.digest.present
    assert s.to_json()["digest"] == {"present": False, "verified": False}
    signed_summary = info(tflitekit.load(signed), signed)
    assert signed_summary.to_json()["digest"] == {"present": True, "verified": True}
    assert signed_summary.size == os.path.getsize(signed)
    assert info(m).file is None and info(m).digest is None
    op = s.subgraphs[0].operators[0]
    assert [(r.index, r.name) for r in op.inputs if r is not None] == [(0, "x"), (1, "c")]


def test_encoded_size_is_the_saved_size(tmp_path: Path) -> None:
    m = _model()
    m.save(tmp_path / "m.tflite")
    assert encoded_size(m) == len(m.to_bytes()) == (tmp_path / "m.tflite").stat().st_size
    loaded = tflitekit.load(tmp_path / "m.tflite")
    assert encoded_size(loaded) == len(loaded.to_bytes())


def sl_params(entries: dict[str, object], version: int = 1) -> bytes:
    """An SL_PARAMSv1 dictionary (Silicon Labs MLTK's flatbuffer of typed key/values)."""
    b = flatbuffers.Builder(0)
    made = []
    for key, value in entries.items():
        if isinstance(value, list):  # str_list (13)
            items = [b.CreateString(v) for v in value]
            b.StartVector(4, len(items), 4)
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            vec = b.EndVector()
            b.StartObject(1)
            b.PrependUOffsetTRelativeSlot(0, vec, 0)
            kind, val = 13, b.EndObject()
        elif isinstance(value, bool):  # boolean (1)
            b.StartObject(1)
            b.PrependBoolSlot(0, value, False)
            kind, val = 1, b.EndObject()
        elif isinstance(value, int):  # i32 (6)
            b.StartObject(1)
            b.PrependInt32Slot(0, value, 0)
            kind, val = 6, b.EndObject()
        elif isinstance(value, float):  # f32 (10)
            b.StartObject(1)
            b.PrependFloat32Slot(0, value, 0.0)
            kind, val = 10, b.EndObject()
        else:  # str (12)
            text = b.CreateString(str(value))
            b.StartObject(1)
            b.PrependUOffsetTRelativeSlot(0, text, 0)
            kind, val = 12, b.EndObject()
        name = b.CreateString(key)
        b.StartObject(3)
        b.PrependUOffsetTRelativeSlot(0, name, 0)
        b.PrependUint8Slot(1, kind, 0)
        b.PrependUOffsetTRelativeSlot(2, val, 0)
        made.append(b.EndObject())
    b.StartVector(4, len(made), 4)
    for entry in reversed(made):
        b.PrependUOffsetTRelative(entry)
    vec = b.EndVector()
    b.StartObject(2)
    b.PrependUint8Slot(0, version, 0)
    b.PrependUOffsetTRelativeSlot(1, vec, 0)
    b.Finish(b.EndObject())
    return bytes(b.Output())


def test_sl_params_decoded() -> None:
    data = sl_params({"name": "kws", "classes": ["on", "off", "_unknown_"],
                      "fe.sample_rate_hz": 16000, "fe.pcan_enable": True, "gain": 1.5})
    entry = decode_metadata("SL_PARAMSv1", data)
    assert entry.error is None and entry.format == "SL_PARAMSv1"
    assert entry.values == {"name": "kws", "classes": ["on", "off", "_unknown_"],
                            "fe.sample_rate_hz": 16000, "fe.pcan_enable": True, "gain": 1.5}
    assert entry.to_json()["values"]["classes"] == ["on", "off", "_unknown_"]


@pytest.mark.parametrize("data", [b"", b"\x01\x02\x03", b"\xff" * 64,
                                  sl_params({"a": 1}, version=7)])
def test_bad_sl_params_are_reported_not_raised(data: bytes) -> None:
    entry = decode_metadata("SL_PARAMSv1", data)
    assert entry.format is None and entry.error is not None
    assert entry.error.startswith("not a valid SL_PARAMSv1 entry")


def test_damaged_sl_params_never_raise() -> None:
    data = bytearray(sl_params({"name": "kws", "classes": ["a", "b"], "n": 3}))
    for i in range(len(data)):
        for value in (0x00, 0x7F, 0xFF):
            damaged = bytes(data[:i]) + bytes([value]) + bytes(data[i + 1:])
            entry = decode_metadata("SL_PARAMSv1", damaged)
            assert entry.error is not None or entry.format == "SL_PARAMSv1"


def test_plain_text_metadata() -> None:
    assert decode_metadata("min_runtime_version", b"1.14.0\0\0").text == "1.14.0"
    blob = decode_metadata("blob", bytes(100))
    assert blob.text is None and blob.to_json() == {"name": "blob", "size": 100, "text": None}


@pytest.mark.corpus
def test_corpus_metadata_decodes(corpus_paths: list[Path]) -> None:
    """Every SL_PARAMSv1 and CONVERSION_METADATA entry of the corpus decodes; the keyword
    spotters name their classes and front-end settings."""
    seen = 0
    for path in corpus_paths:
        model = tflitekit.load(path)
        for m in info(model, path).metadata:
            if m.name in ("SL_PARAMSv1", "CONVERSION_METADATA"):
                assert m.error is None and m.values, (path.name, m.error)
                seen += 1
        if path.name == "keyword_spotting_on_off_v3.tflite":
            params = next(m for m in info(model).metadata if m.name == "SL_PARAMSv1")
            assert params.values["classes"] == ["on", "off", "_unknown_"]
            assert params.values["fe.sample_rate_hz"] == 16000
    assert seen >= 22


def test_quantization_summaries() -> None:
    """Per tensor, per channel, range only, empty, and a broken one that must not raise."""
    m = Model("quantized")
    g = m.add_subgraph("main")
    for name, q in [("per_tensor", Quantization(0.5, -3)),
                    ("per_channel", Quantization([0.1, 0.2, 0.3], quantized_dimension=1)),
                    ("range", Quantization(min=[-1.0], max=[2.0])),
                    ("empty", Quantization()),
                    ("broken", Quantization(0.5, [1, 2]))]:
        g.add_input(Tensor(name, (1, 3), "int8", quantization=q))
    got = {t.name: t.quantization for t in info(m).subgraphs[0].inputs}
    assert got == {"per_tensor": {"scale": 0.5, "zero_point": -3},
                   "per_channel": {"per_channel": 3, "quantized_dimension": 1},
                   "range": {"min": -1.0, "max": 2.0},
                   "empty": None,
                   "broken": {"per_channel": 2, "quantized_dimension": 0}}


def test_flexbuffer_custom_options_are_decoded() -> None:
    b = flexbuffers.Builder()
    with b.Map():
        b.Int("k", 1)
        b.Key("o")
        b.Blob(b"\x10\x00\x00\x00\x03\x00\xfc\xff")
        b.Key("mp")
        b.Blob(bytes(range(40)))
        b.String("name", "valid")
    x = Tensor("x", (1, 4), "int8", quantization=Quantization(0.5, 0))
    y = Tensor("y", (1, 4), "int8", quantization=Quantization(0.5, 0))
    m = Model()
    g = m.add_subgraph("main")
    g.add_input(x)
    g.add_operator(Operator(OperatorCode(BuiltinOperator.CUSTOM, "XC_demo"), [x], [y],
                            custom_options=bytes(b.Finish())))
    g.add_output(y)
    op = info(m).subgraphs[0].operators[0]
    decoded = {"k": 1, "mp": bytes(range(40)).hex(), "name": "valid", "o": "1000000003" "00fcff"}
    assert op.custom_options == decoded and op.to_json()["custom_options"] == decoded
    assert op.options_text == "k=1 mp=<40 bytes> name=valid o=1000000003" "00fcff"


def test_custom_options_that_are_not_a_flexbuffer_show_their_size() -> None:
    tiny = build_tiny_model()
    ops = [o for o in info(tiny).subgraphs[0].operators if o.custom_code == "MyCustomOp"]
    assert ops and ops[0].custom_options is None
    assert ops[0].options_text == "custom_options=<10 bytes, FLEXBUFFERS>"

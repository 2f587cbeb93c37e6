"""The ``tflitekit`` command line: info, dump and validate, exit codes and error reporting."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json

import tflitekit
from tflitekit import Model, Quantization, SignatureDef, Tensor
from tflitekit.options import (
    ActivationFunctionType,
    BuiltinOperator,
    Conv2DOptions,
    CustomQuantization,
    DimensionMetadata,
    DimensionType,
    ExternalBuffer,
    ExternalBufferGroup,
    FullyConnectedOptions,
    Int32Vector,
    Padding,
    SparsityParameters,
    StablehloConcatenateOptions,
    TensorType,
    Uint8Vector,
    VariantSubType,
)

ROOT = Path(__file__).resolve().parents[2]


def build_model() -> Model:
    """x -> FULLY_CONNECTED(w) -> y -> CONV_2D(k, per-channel) -> z -> custom 'MyOp' -> out."""
    m = Model("cli demo")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 4), "int8", quantization=Quantization(0.5, -1)))
    w = Tensor.constant("w", np.arange(12, dtype=np.int8).reshape(3, 4),
                        quantization=Quantization(0.01, 0))
    y = Tensor("y", (1, 1, 1, 3), "int8", quantization=Quantization(0.25, 3))
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, [x, w, None], [y], FullyConnectedOptions(
        fused_activation_function=ActivationFunctionType.RELU))
    k = Tensor.constant("k", np.ones((2, 1, 1, 3), np.int8),
                        quantization=Quantization([0.1, 0.2], [0, 0], quantized_dimension=0))
    z = Tensor("z", (1, 1, 1, 2), "int8", quantization=Quantization(0.125, 0))
    g.add_operator(BuiltinOperator.CONV_2D, [y, k, None], [z], Conv2DOptions(
        padding=Padding.VALID, stride_w=1, stride_h=2,
        fused_activation_function=ActivationFunctionType.RELU6))
    out = Tensor("out", (1, 2), "float32", shape_signature=(-1, 2))
    g.add_operator("MyOp", [z], [out], custom_options=b"\x01\x02\xff")
    g.add_output(out)
    m.add_metadata("min_runtime_version", b"1.5.0\0\0\0")
    m.add_metadata("blob", bytes(100))
    m.signature_defs.append(SignatureDef("serving_default", g, {"in": x}, {"result": out}))
    return m


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "demo.tflite"
    build_model().save(path)
    return path




# -- info ------------------------------------------------------------------------------------------


def test_info_text(capsys: pytest.CaptureFixture[str], model_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for one line per operator
    code, out, err = run(capsys, "info", model_path)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert f"{os.path.getsize(model_path):,} bytes" in out
    assert any(line.split() == ["description", "'cli", "demo'"] for line in lines)
    assert "Subgraph 0 'main': 6 tensors, 3 operators" in out
    # inputs / outputs: index, name, dtype, shape, quantization in aligned columns
    assert any(line.split() == ["0", "x", "INT8", "[1,", "4]", "scale=0.5", "zp=-1"]
               for line in lines)
    assert any(line.split()[:4] == ["5", "out", "FLOAT32", "[1,"] and "sig [-1, 2]" in line
               for line in lines)
    # operator table: op names (custom code included), tensor indices and names, options
    fc = next(line for line in lines if "FULLY_CONNECTED" in line and "#0 x, #1 w, -" in line)
    assert "fused_activation_function=RELU" in fc and fc.split()[0] == "0"
    conv = next(line for line in lines if "CONV_2D" in line and "#2 y, #3 k, -" in line)
    assert conv.split()[0] == "1" and "padding=VALID" in conv and "stride_h=2" in conv
    assert "fused_activation_function=RELU6" in conv and "dilation" not in conv
    custom = next(line for line in lines if "CUSTOM(MyOp)" in line and "z" in line.split())
    assert "custom_options=<3 bytes, FLEXBUFFERS>" in custom
    # header columns line up with the cells below them
    header = next(line for line in lines if line.split()[:3] == ["#", "operator", "inputs"])
    assert header.index("inputs") == conv.index("#2 y, #3 k, -")
    # model level: operator codes with versions, metadata, signatures, buffers
    assert any(line.split() == ["0", "FULLY_CONNECTED", "1"] for line in lines)
    assert any(line.split() == ["2", "CUSTOM(MyOp)", "1"] for line in lines)
    assert any(line.split() == ["min_runtime_version", "8", "1.5.0"] for line in lines)
    assert any(line.split() == ["blob", "100"] for line in lines)
    assert "'serving_default' (subgraph 0)" in out
    assert any(line.split() == ["inputs", "in", "#0", "x"] for line in lines)
    assert any(line.split()[:2] == ["buffers", "5"] for line in lines)  # 0, w, k, 2 metadata


def test_info_per_channel_and_long_names(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    m = Model()
    g = m.add_subgraph()
    long_name = "model/conv2d/Conv2D;model/activation/Relu;" + "x" * 80
    x = g.add_input(Tensor(long_name, (1, 3), "int8",
                           quantization=Quantization([0.1, 0.2, 0.3], [0, 0, 0],
                                                     quantized_dimension=1)))
    y = Tensor("y", (1, 3), "int8")
    g.add_operator(BuiltinOperator.RELU, [x], [y])
    g.add_output(y)
    path = tmp_path / "long.tflite"
    m.save(path)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "info", path)
    assert code == 0
    assert "per-channel x3 (dim 1)" in out
    # shortened in the middle (not cut at ';'), so the distinct end stays visible
    assert long_name not in out
    assert any(line.split()[:1] == ["0"]
               and re.fullmatch(r"model/conv2d.*\.\.\.x+", line.split()[1])
               for line in out.splitlines())
    code, out, _ = run(capsys, "info", path, "--wide")
    assert code == 0 and long_name in out


def test_info_json(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    info = run_json(capsys, "info", model_path, "--json")
    assert info["size"] == os.path.getsize(model_path)
    assert info["version"] == 3 and info["description"] == "cli demo"
    assert info["subgraph_count"] == 1 and info["tensor_count"] == 6
    assert info["operator_count"] == 3
    assert [(c["name"], c["builtin_code"], c["custom_code"], c["version"])
            for c in info["operator_codes"]] == [
        ("FULLY_CONNECTED", "FULLY_CONNECTED", None, 1), ("CONV_2D", "CONV_2D", None, 1),
        ("MyOp", "CUSTOM", "MyOp", 1)]
    assert info["buffers"] == {"count": 5, "non_empty": 4, "total_bytes": 12 + 6 + 8 + 100,
                               "constant_bytes": 12 + 6}
    assert info["metadata"] == [{"name": "min_runtime_version", "size": 8, "text": "1.5.0"},
                                {"name": "blob", "size": 100, "text": None}]
    assert info["signature_defs"] == [{
        "key": "serving_default", "subgraph": 0,
        "inputs": [{"name": "in", "tensor": 0, "tensor_name": "x"}],
        "outputs": [{"name": "result", "tensor": 5, "tensor_name": "out"}]}]

    (g,) = info["subgraphs"]
    assert g["name"] == "main" and g["tensor_count"] == 6 and g["operator_count"] == 3
    assert g["inputs"] == [{"index": 0, "name": "x", "dtype": "INT8", "shape": [1, 4],
                            "shape_signature": None,
                            "quantization": {"scale": 0.5, "zero_point": -1}}]
    assert g["outputs"] == [{"index": 5, "name": "out", "dtype": "FLOAT32", "shape": [1, 2],
                             "shape_signature": [-1, 2], "quantization": None}]
    fc, conv, custom = g["operators"]
    assert (fc["op"], fc["inputs"], fc["input_indices"], fc["outputs"]) == (
        "FULLY_CONNECTED", ["x", "w", None], [0, 1, -1], ["y"])
    assert fc["options_type"] == "FullyConnectedOptions"
    assert fc["options"]["fused_activation_function"] == "RELU"
    assert conv["op"] == "CONV_2D" and conv["inputs"] == ["y", "k", None]
    assert conv["options"]["padding"] == "VALID" and conv["options"]["stride_h"] == 2
    assert (custom["op"], custom["custom_code"], custom["custom_options_size"]) == (
        "CUSTOM", "MyOp", 3)
    assert custom["options"] is None and custom["outputs"] == ["out"]


# -- dump ------------------------------------------------------------------------------------------


def test_dump_json_has_every_tensor_and_operator(capsys: pytest.CaptureFixture[str],
                                                 model_path: Path) -> None:
    doc = run_json(capsys, "dump", model_path, "--json")
    model = tflitekit.load(model_path)
    graph = model.main
    assert doc["version"] == 3 and doc["description"] == "cli demo"
    (g,) = doc["subgraphs"]
    assert g["name"] == "main" and g["inputs"] == [0] and g["outputs"] == [5]
    assert [t["name"] for t in g["tensors"]] == [t.name for t in graph.tensors]
    assert len(g["operators"]) == len(graph.operators) == 3
    for dumped, tensor in zip(g["tensors"], graph.tensors, strict=True):
        assert dumped["shape"] == list(tensor.shape or ())
        assert dumped["type"] == tensor.dtype.name
        assert dumped["is_variable"] is False and dumped["has_rank"] is False
        assert dumped["sparsity"] is None and dumped["variant_tensors"] is None
        size = doc["buffers"][dumped["buffer"]]["size"]
        assert size == (0 if tensor.buffer is None else tensor.buffer.nbytes)
        q = tensor.quantization
        if q is None:
            assert dumped["quantization"] is None
        else:
            assert dumped["quantization"]["scale"] == q.scale.tolist()  # type: ignore[union-attr]
            assert dumped["quantization"]["zero_point"] == q.zero_point.tolist()  # type: ignore[union-attr]
            assert dumped["quantization"]["quantized_dimension"] == q.quantized_dimension
            assert dumped["quantization"]["details_type"] == "NONE"
    out = g["tensors"][5]
    assert out["shape_signature"] == [-1, 2] and g["tensors"][0]["shape_signature"] is None
    k = g["tensors"][3]
    assert k["name"] == "k" and k["quantization"]["scale"] == pytest.approx([0.1, 0.2])

    codes = doc["operator_codes"]
    fc, conv, custom = g["operators"]
    assert [codes[op["opcode_index"]]["builtin_code"] for op in g["operators"]] == [
        "FULLY_CONNECTED", "CONV_2D", "CUSTOM"]
    assert codes[custom["opcode_index"]]["custom_code"] == "MyOp"
    assert fc["inputs"] == [0, 1, -1] and fc["outputs"] == [2]
    assert conv["inputs"] == [2, 3, -1] and conv["outputs"] == [4]
    assert conv["builtin_options_type"] == "Conv2DOptions"
    assert conv["builtin_options"] == {
        "padding": "VALID", "stride_w": 1, "stride_h": 2, "fused_activation_function": "RELU6",
        "dilation_w_factor": 1, "dilation_h_factor": 1, "quantized_bias_type": "FLOAT32"}
    assert fc["builtin_options"]["weights_format"] == "DEFAULT"
    assert custom["builtin_options_type"] == "NONE" and custom["builtin_options"] is None
    assert custom["custom_options"] == "0102ff"
    assert custom["custom_options_format"] == "FLEXBUFFERS"
    for op in g["operators"]:
        assert set(op) >= {"mutating_variable_inputs", "intermediates", "builtin_options_2_type",
                           "builtin_options_2", "debug_metadata_index"}

    assert [m["name"] for m in doc["metadata"]] == ["min_runtime_version", "blob"]
    blob = doc["buffers"][doc["metadata"][1]["buffer"]]
    assert blob["size"] == 100 and blob["sha256"] == hashlib.sha256(bytes(100)).hexdigest()
    assert doc["buffers"][0] == {"index": 0, "size": 0, "sha256": hashlib.sha256().hexdigest()}
    assert all("data" not in b for b in doc["buffers"])
    assert doc["signature_defs"] == [{
        "signature_key": "serving_default", "subgraph_index": 0,
        "inputs": [{"name": "in", "tensor_index": 0}],
        "outputs": [{"name": "result", "tensor_index": 5}]}]


def test_dump_nested_tables(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Sparsity, quantization details, variant sub-types and options_2 come out field by field,
    unions as ``<field>_type`` plus ``<field>`` like flatc's JSON."""
    m = Model()
    g = m.add_subgraph()
    w = Tensor.constant("w", np.array([1.0, 2.0], np.float32),
                        quantization=Quantization(details=CustomQuantization(custom=b"\xab")))
    w.shape = (2, 2)
    w.sparsity = SparsityParameters(traversal_order=[0, 1], dim_metadata=[
        DimensionMetadata(format=DimensionType.DENSE, dense_size=2),
        DimensionMetadata(format=DimensionType.SPARSE_CSR,
                          array_segments=Int32Vector(values=[0, 1, 2]),
                          array_indices=Uint8Vector(values=b"\x00\x01"))])
    x = g.add_input(Tensor("x", (2, 2), "float32"))
    y = Tensor("y", (4, 2), "float32")
    g.add_operator(BuiltinOperator.STABLEHLO_CONCATENATE, [x, w], [y],
                   options_2=StablehloConcatenateOptions(dimension=1))
    g.add_output(y)
    g.add_tensor(Tensor("v", (), "variant", variant_tensors=[
        VariantSubType(shape=[1, 2], type=TensorType.INT8, has_rank=True)]))
    w.external_buffer = 3
    m.external_buffer_groups = [ExternalBufferGroup(name="weights.bin")]
    m.external_buffers = [ExternalBuffer(id=3, group=0, offset=64, length=8)]
    path = tmp_path / "nested.tflite"
    m.save(path)
    doc = run_json(capsys, "dump", path)
    x_, w_, _, v_ = doc["subgraphs"][0]["tensors"]
    assert w_["quantization"]["details_type"] == "CustomQuantization"
    assert w_["quantization"]["details"] == {"custom": "ab"}
    assert w_["quantization"]["scale"] is None and x_["quantization"] is None
    dense, csr = w_["sparsity"]["dim_metadata"]
    assert w_["sparsity"]["traversal_order"] == [0, 1] and w_["sparsity"]["block_map"] is None
    assert dense == {"format": "DENSE", "dense_size": 2, "array_segments_type": "NONE",
                     "array_segments": None, "array_indices_type": "NONE",
                     "array_indices": None}
    assert csr["format"] == "SPARSE_CSR"
    assert (csr["array_segments_type"], csr["array_segments"]) == (
        "Int32Vector", {"values": [0, 1, 2]})
    assert (csr["array_indices_type"], csr["array_indices"]) == (
        "Uint8Vector", {"values": "0001"})
    assert v_["type"] == "VARIANT" and v_["shape"] == []
    assert w_["external_buffer"] == 3 and x_["external_buffer"] == 0
    assert doc["external_buffer_groups"] == [{"name": "weights.bin"}]
    assert doc["external_buffers"] == [
        {"id": 3, "group": 0, "offset": 64, "length": 8, "packing": None}]
    assert v_["variant_tensors"] == [{"shape": [1, 2], "type": "INT8", "has_rank": True}]
    (op,) = doc["subgraphs"][0]["operators"]
    assert op["opcode"] == "STABLEHLO_CONCATENATE" and op["builtin_options_type"] == "NONE"
    assert op["builtin_options_2_type"] == "StablehloConcatenateOptions"
    assert op["builtin_options_2"] == {"dimension": 1}
    code, out, _ = run(capsys, "info", path)
    assert code == 0 and "1 operator\n" in out
    assert any(line.split() == ["0", "STABLEHLO_CONCATENATE", "#0", "x,", "#1", "w", "#2", "y",
                                "dimension=1"]
               for line in out.splitlines())


def test_dump_without_json_flag_is_the_same_json(capsys: pytest.CaptureFixture[str],
                                                 model_path: Path) -> None:
    assert run_json(capsys, "dump", model_path) == run_json(capsys, "dump", model_path, "--json")


def test_dump_buffers_decode_to_tensor_bytes(capsys: pytest.CaptureFixture[str],
                                             model_path: Path) -> None:
    doc = run_json(capsys, "dump", model_path, "--json", "--buffers")
    graph = tflitekit.load(model_path).main
    tensors = doc["subgraphs"][0]["tensors"]
    for name in ("w", "k"):
        dumped = next(t for t in tensors if t["name"] == name)
        buf = doc["buffers"][dumped["buffer"]]
        data = base64.b64decode(buf["data"])
        expected = graph.tensor(name).data
        assert expected is not None and data == expected.tobytes()
        assert buf["sha256"] == hashlib.sha256(data).hexdigest()
    w = np.frombuffer(base64.b64decode(doc["buffers"][tensors[1]["buffer"]]["data"]), np.int8)
    assert w.reshape(3, 4).tolist() == np.arange(12).reshape(3, 4).tolist()
    assert doc["buffers"][0]["data"] == ""


def test_dump_is_stable_across_a_round_trip(capsys: pytest.CaptureFixture[str],
                                            model_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.tflite"
    tflitekit.load(model_path).save(again)
    assert (run_json(capsys, "dump", model_path, "--buffers")
            == run_json(capsys, "dump", again, "--buffers"))


# -- validate --------------------------------------------------------------------------------------


def test_validate_good_model(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    assert run(capsys, "validate", model_path) == (
        0, "OK: no problems found\nnot checked: 1 operator (MyOp x1: custom)\n", "")
    assert run_json(capsys, "validate", model_path, "--json") == {
        "file": str(model_path), "ok": True, "problems": [],
        "unchecked": [{"operator": "MyOp", "reason": "custom", "count": 1}]}


def test_validate_wrong_number_of_scales(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 4), "int8", quantization=Quantization(0.5, 0)))
    w = Tensor.constant("weights", np.ones((3, 4), np.int8),
                        quantization=Quantization([0.1, 0.2], [0, 0], quantized_dimension=0))
    y = Tensor("y", (1, 3), "int8", quantization=Quantization(0.2, 0))
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, [x, w, None], [y], FullyConnectedOptions())
    g.add_output(y)
    path = tmp_path / "bad_scales.tflite"
    m.save(path)
    code, out, err = run(capsys, "validate", path)
    assert code == 1
    assert "'weights'" in out and "2 scales for dimension 0 of size 3" in out
    assert "1 problem found" in err
    doc = json.loads(run(capsys, "validate", path, "--json")[1])
    assert doc["ok"] is False and len(doc["problems"]) == 1
    assert "2 scales" in doc["problems"][0]["message"]


def test_validate_input_without_producer(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (2,), "float32"))
    orphan = Tensor("orphan", (2,), "float32")
    y = Tensor("y", (2,), "float32")
    g.add_operator(BuiltinOperator.ADD, [x, orphan], [y])
    g.add_output(y)
    path = tmp_path / "orphan.tflite"
    m.save(path)
    code, out, _ = run(capsys, "validate", path)
    assert code == 1
    assert "operators[0] (ADD)" in out and "'orphan' has no producer" in out


GARBAGE = b"this is not a flatbuffer at all" * 3


@pytest.mark.parametrize("command", ["info", "dump", "validate"])
def test_garbage_bytes(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                       command: str) -> None:
    path = tmp_path / "garbage.tflite"
    path.write_bytes(GARBAGE)
    code, out, err = run(capsys, command, path)
    assert code == 1
    assert "Traceback" not in out + err
    if command == "validate":
        assert out.startswith("file: ")  # the loader's one-line message
    else:
        assert out == ""
        assert err.startswith(f"tflitekit: error: {path}: ") and err.count(str(path)) == 1
        with pytest.raises(tflitekit.FormatError) as excinfo:
            tflitekit.load(GARBAGE)
        assert str(excinfo.value) in err


@pytest.mark.parametrize("command", ["info", "dump", "validate"])
def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                      command: str) -> None:
    path = tmp_path / "nope.tflite"
    assert run(capsys, command, path) == (
        1, "", f"tflitekit: error: {path}: No such file or directory\n")


def test_directory_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "info", tmp_path)
    assert code == 1 and out == "" and err.startswith("tflitekit: error: ")


@pytest.mark.parametrize("argv", [[], ["info"], ["frobnicate", "m.tflite"],
                                  ["info", "m.tflite", "--bogus"], ["dump", "--json"]])
def test_bad_usage(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "usage: tflitekit" in err and "error:" in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"tflitekit {tflitekit.__version__}\n", "")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "info" in out and "dump" in out and "validate" in out


def test_python_dash_m(model_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tflitekit", "info", str(model_path)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "FULLY_CONNECTED" in proc.stdout and "CUSTOM(MyOp)" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "tflitekit", "validate", str(model_path) + "x"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("tflitekit: error: ")


# -- real models -----------------------------------------------------------------------------------


def _corpus_models() -> list[Path]:
    env = os.environ.get("TFLITEKIT_CORPUS")
    cache = Path(env).expanduser() if env else Path.home() / ".cache" / "tflitekit" / "corpus"
    return sorted((cache / "models").glob("*.tflite"))


@pytest.mark.corpus
def test_corpus_models(capsys: pytest.CaptureFixture[str]) -> None:
    models = _corpus_models()
    if not models:
        pytest.skip("corpus not fetched (scripts/fetch_corpus.py)")
    for path in models:
        model = tflitekit.load(path)
        info = run_json(capsys, "info", path, "--json")
        assert info["operator_count"] == sum(len(g.operators) for g in model.subgraphs)
        assert [op["op"] for op in info["subgraphs"][0]["operators"]] == [
            op.opcode.builtin_code.name for op in model.main.operators]
        code, out, _ = run(capsys, "info", path)
        assert code == 0 and "Operators (" in out
        doc = run_json(capsys, "dump", path, "--json")
        assert len(doc["subgraphs"][0]["tensors"]) == len(model.main.tensors)
        assert run(capsys, "validate", path)[0] == 0

"""The surgery commands: strip-float-io, prune and optimize."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json

import tflitekit
from tflitekit import Model, OperatorCode, Tensor
from tflitekit.options import BuiltinOperator, TensorType
from tflitekit.passes import add_float_io


@pytest.fixture
def float_model(tmp_path: Path, runnable_model: Callable[[], Model]) -> Path:
    """The runnable int8 model behind a float QUANTIZE/DEQUANTIZE interface, plus an unused
    operator code and a duplicated constant."""
    model = add_float_io(runnable_model())
    model.operator_codes.append(OperatorCode(BuiltinOperator.TANH))
    model.main.add_tensor(Tensor.constant("copy/c", np.array(model.main.tensor("add/c").data)))
    path = tmp_path / "float.tflite"
    model.save(path)
    return path


def _interface(path: Path) -> list[TensorType]:
    g = tflitekit.load(path).main
    return [t.dtype for t in (*g.inputs, *g.outputs)]


def test_strip_float_io(capsys: pytest.CaptureFixture[str], float_model: Path,
                        tmp_path: Path) -> None:
    original = float_model.read_bytes()
    out = tmp_path / "int.tflite"
    code, text, err = run(capsys, "strip-float-io", float_model, out)
    assert code == 0, err
    assert _interface(out) == [TensorType.INT8, TensorType.INT8]
    assert float_model.read_bytes() == original  # the input is never touched
    lines = text.splitlines()
    assert lines[0].startswith("strip_float_io: ")
    assert any(line.startswith("prune: removed") and "TANH" in line for line in lines)
    before, after = len(original), out.stat().st_size
    assert lines[-1] == (f"{float_model} ({before:,} bytes) -> {out} ({after:,} bytes): "
                         f"{after - before:+,} bytes ({100 * (after - before) / before:+.1f}%), "
                         "all from the changes")
    assert [t.name for t in tflitekit.load(out).main.inputs] == ["x"]


def test_strip_float_io_json_and_sides(capsys: pytest.CaptureFixture[str], float_model: Path,
                                       tmp_path: Path) -> None:
    out = tmp_path / "int.tflite"
    report = run_json(capsys, "strip-float-io", float_model, out, "--inputs-only")
    assert report["input"] == str(float_model) and report["output"] == str(out)
    assert report["bytes_before"] == float_model.stat().st_size
    assert report["bytes_after"] == out.stat().st_size
    assert report["bytes_saved"] == report["bytes_before"] - report["bytes_after"] > 0
    assert report["modified"] is True
    assert [p["name"] for p in report["passes"]] == ["strip_float_io", "prune"]
    assert _interface(out) == [TensorType.INT8, TensorType.FLOAT32]
    run_json(capsys, "strip-float-io", float_model, out, "--outputs-only", "--overwrite")
    assert _interface(out) == [TensorType.FLOAT32, TensorType.INT8]


def test_strip_float_io_by_name(capsys: pytest.CaptureFixture[str], float_model: Path,
                                tmp_path: Path) -> None:
    out = tmp_path / "int.tflite"
    run_json(capsys, "strip-float-io", float_model, out, "--name", "y")
    assert _interface(out) == [TensorType.FLOAT32, TensorType.INT8]
    code, _, err = run(capsys, "strip-float-io", float_model, tmp_path / "x.tflite",
                       "--name", "nope")
    assert code == 1 and not (tmp_path / "x.tflite").exists()
    # one line naming IN and the pass once, without the pipeline's step numbering
    assert err.startswith(f"tflitekit: error: {float_model}: strip_float_io: no float32 input "
                          "or output named 'nope'") and len(err.splitlines()) == 1
    detail = err.split(f"{float_model}: ", 1)[1]
    assert "pipeline" not in detail and "step" not in detail
    assert detail.count("strip_float_io") == 1
    code, _, err = run(capsys, "passes", float_model, tmp_path / "x.tflite", "strip-float-io",
                       "--name", "nope")  # several passes: the step is named too
    assert code == 1 and err.startswith(f"tflitekit: error: {float_model}: pipeline passes, "
                                        "step 1 (strip_float_io): ")
    assert "no float32 input or output named 'nope'" in err and len(err.splitlines()) == 1


def test_prune(capsys: pytest.CaptureFixture[str], float_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "pruned.tflite"
    report = run_json(capsys, "prune", float_model, out)
    changes = report["passes"][0]["changes"]
    assert "removed 1 unused operator codes (TANH)" in changes
    assert any("unused tensors ('copy/c')" in c for c in changes)
    assert report["bytes_saved"] > 0
    again = run_json(capsys, "prune", out, tmp_path / "again.tflite")
    assert again["modified"] is False and again["passes"] == []
    code, text, _ = run(capsys, "prune", out, tmp_path / "again.tflite", "--overwrite")
    assert code == 0 and "nothing to change" in text


def test_optimize(capsys: pytest.CaptureFixture[str], float_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "opt.tflite"
    report = run_json(capsys, "optimize", float_model, out, "--strip-float-io")
    names = [p["name"] for p in report["passes"]]
    assert names[0] == "strip_float_io" and "prune" in names
    assert len(names) == len(set(names))  # fixed-point rounds are merged per pass
    assert report["bytes_after"] < report["bytes_before"]
    assert _interface(out) == [TensorType.INT8, TensorType.INT8]
    plain = run_json(capsys, "optimize", float_model, tmp_path / "plain.tflite")
    assert "strip_float_io" not in [p["name"] for p in plain["passes"]]
    assert _interface(tmp_path / "plain.tflite") == [TensorType.FLOAT32, TensorType.FLOAT32]


def test_output_may_not_replace_input_unless_asked(capsys: pytest.CaptureFixture[str],
                                                   float_model: Path) -> None:
    original = float_model.read_bytes()
    code, _, err = run(capsys, "prune", float_model, float_model)
    assert code == 1 and "overwrite" in err
    assert float_model.read_bytes() == original
    code, _, err = run(capsys, "prune", float_model, float_model, "--overwrite")
    assert code == 0, err
    assert len(float_model.read_bytes()) < len(original)


@pytest.mark.parametrize("command", ["strip-float-io", "prune", "optimize"])
def test_bad_input_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               command: str) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x10\x00\x00\x00TFL3 not a model at all")
    out = tmp_path / "out.tflite"
    code, text, err = run(capsys, command, bad, out)
    assert code == 1 and text == "" and err.startswith(f"tflitekit: error: {bad}: ")
    assert not out.exists()
    code, _, err = run(capsys, command, tmp_path / "missing.tflite", out)
    assert code == 1 and "No such file" in err
    assert run(capsys, command, bad)[0] == 2  # OUT is required


def _converter_style(tmp_path: Path) -> Path:
    """The worked example's model: float interface and a dynamic-batch SHAPE chain."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "surgery_example", Path(__file__).resolve().parents[2] / "examples" / "surgery.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    path = tmp_path / "converter.tflite"
    example.converter_style_model().save(path)
    return path


def test_optimize_folds_shapes_unless_asked_not_to(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    source = _converter_style(tmp_path)
    folded, kept = tmp_path / "folded.tflite", tmp_path / "kept.tflite"
    run_json(capsys, "optimize", source, folded)
    run_json(capsys, "optimize", source, kept, "--keep-dynamic-shapes")

    def ops(path: Path) -> list[str]:
        return [op.opcode.name for op in tflitekit.load(path).main.operators]

    assert ops(folded) == ["QUANTIZE", "CONV_2D", "RESHAPE", "FULLY_CONNECTED", "DEQUANTIZE"]
    assert ops(kept) == ops(source)


def test_what_is_left_alone_is_said(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = Model()
    g = model.add_subgraph()
    x = g.add_input(Tensor("x", (1, 4), "float32"))
    y = g.add_output(Tensor("y", (1, 4), "float32"))
    g.add_operator(BuiltinOperator.RELU, [x], [y])
    source = tmp_path / "float.tflite"
    model.save(source)
    code, text, _ = run(capsys, "strip-float-io", source, tmp_path / "out.tflite")
    assert code == 0
    assert text.splitlines()[:3] == [
        "strip_float_io: note: subgraph 0: input 0 'x' left float32: it is read by RELU, not by "
        "a QUANTIZE",
        "strip_float_io: note: subgraph 0: output 0 'y' left float32: it is produced by RELU, "
        "not by a DEQUANTIZE",
        "nothing to change",
    ]

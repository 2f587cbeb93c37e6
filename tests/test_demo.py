"""tflitekit demo: its figures recomputed from the files it writes, its bit-exactness claim
rechecked, its report self-contained, and the command line's text and JSON. The demo runs once
for the module; the command-line tests render that run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from _html import assert_self_contained

import tflitekit
from tflitekit import Interpreter, demo, runtimes
from tflitekit.analysis import summary
from tflitekit.cli import main
from tflitekit.codecs import decode, encode
from tflitekit.codecs.metrics import model_inputs
from tflitekit.passes import DecompressWeights
from tflitekit.passes.compress_weights import following_quantization

NAMES = ("bundled", "optimized", "compressed")


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> demo.Demo:
    return demo.run(tmp_path_factory.mktemp("demo") / "out")


@pytest.fixture(scope="module")
def samples() -> tuple[np.ndarray, np.ndarray]:
    with np.load(demo.SAMPLES) as data:
        return data["x"], data["y"]


def _load(ran: demo.Demo, name: str) -> tflitekit.Model:
    return tflitekit.load(ran.model(name).path)


def _run(model: tflitekit.Model, x: np.ndarray) -> np.ndarray:
    out: np.ndarray = Interpreter(model).run(list(model_inputs(model, x)))[0]
    return out


def test_it_writes_both_models_and_the_report(ran: demo.Demo) -> None:
    assert [f.name for f in ran.models] == list(NAMES)
    assert ran.model("bundled").path == str(demo.MODEL)
    for name in NAMES[1:]:
        assert Path(ran.model(name).path).parent == Path(ran.directory)
    assert Path(ran.report) == Path(ran.directory) / "report.html"
    bundled, optimized, compressed = (_load(ran, n) for n in NAMES)
    ops = [[op.opcode.name for op in m.main.operators] for m in (bundled, optimized, compressed)]
    assert ops[0][0] == "QUANTIZE" and ops[0][-1] == "DEQUANTIZE"
    assert "QUANTIZE" not in ops[1] and "DEQUANTIZE" not in ops[1] and "SHAPE" not in ops[1]
    assert [t.dtype.name for t in (*optimized.main.inputs, *optimized.main.outputs)] == \
        ["INT8", "INT8"]
    assert "TFLM_DECODE" in ops[2]
    assert [o for o in ops[2] if o != "TFLM_DECODE"] == ops[1]


def test_figures_are_those_of_the_written_files(ran: demo.Demo,
                                                samples: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = samples
    reference = _run(_load(ran, "optimized"), x).argmax(axis=1)
    for figures in ran.models:
        model = tflitekit.load(figures.path)
        result = summary(model, figures.path)
        assert figures.file_bytes == os.path.getsize(figures.path) == result.rom.file_bytes
        assert figures.weight_bytes == result.rom.weights_bytes
        assert figures.arena_bytes == result.arena.total_bytes and result.target == "host"
        assert figures.macs == result.total_macs > 0
        top1 = _run(model, x).argmax(axis=1)
        assert figures.accuracy == pytest.approx(100 * np.mean(top1 == y))
        assert figures.agreement == pytest.approx(100 * np.mean(top1 == reference))
        profile = tflitekit.xs3.profile(model)
        assert figures.xs3_microseconds == profile.total.microseconds > 0
    assert ran.model("optimized").accuracy > 90
    assert ran.model("compressed").weight_bytes < ran.model("optimized").weight_bytes
    assert ran.model("compressed").file_bytes < ran.model("optimized").file_bytes


def test_the_compression_keeps_agreement_within_the_tolerance(ran: demo.Demo) -> None:
    allocation = ran.allocation
    assert allocation.metric_name == "agreement" and allocation.baseline == 100.0
    assert allocation.max_drop == demo.MAX_DROP
    assert ran.model("compressed").agreement == pytest.approx(allocation.metric)
    assert allocation.metric >= allocation.baseline - allocation.max_drop
    assert all(2 <= c.bits <= 7 for c in allocation.candidates)
    chosen = allocation.params
    assert chosen and sorted(chosen) == sorted(t.name for t in ran.tensors)


def test_the_stored_weights_are_the_chosen_clustering(ran: demo.Demo) -> None:
    optimized = _load(ran, "optimized")
    decompressed = DecompressWeights()(_load(ran, "compressed")).model
    weights = {t.name: t for t in optimized.main.tensors}
    stored = {t.name: t for t in decompressed.main.tensors}
    for name, params in ran.allocation.params.items():
        original = weights[name]
        clustered = decode(encode(original.data, following_quantization(params, original)))
        assert np.array_equal(stored[name].data, clustered.astype(original.data.dtype))
        assert not np.array_equal(stored[name].data, original.data)


def test_the_compressed_model_is_bit_exact_with_the_decompressed_one(
        ran: demo.Demo, samples: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = samples
    compressed = _load(ran, "compressed")
    decompressed = DecompressWeights()(compressed.copy()).model
    ours, theirs = _run(compressed, x), _run(decompressed, x)
    assert ours.dtype == np.int8 and np.array_equal(ours, theirs)
    exact = ran.bit_exact
    assert exact.samples == len(x) and exact.elements == ours.size
    assert exact.decompressed_differing == 0


@pytest.mark.tflm
def test_the_compressed_model_is_bit_exact_with_tflite_micro(
        ran: demo.Demo, samples: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = samples
    compressed = _load(ran, "compressed")
    inputs = list(model_inputs(compressed, x))
    (tflm,) = runtimes.run_tflm(Path(ran.model("compressed").path).read_bytes(), inputs)
    assert np.array_equal(tflm, _run(compressed, x))
    assert ran.bit_exact.tflm_differing == 0 and ran.bit_exact.exact


def test_the_xs3_comparison_covers_every_layer(ran: demo.Demo) -> None:
    comparison, profile = ran.comparison, ran.profile
    assert comparison.samples == 360
    compressed = _load(ran, "compressed")
    assert len(profile.layers) == len(compressed.main.operators)
    lowered = {layer.index for layer in profile.layers if layer.backend == "xs3"}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= \
        {profile.layers[i].opcode for i in lowered}
    assert lowered <= {layer.operator for layer in comparison.layers}
    assert 0 <= comparison.ours.share < 0.2


def test_the_report_is_self_contained_and_holds_the_figures(ran: demo.Demo) -> None:
    text = Path(ran.report).read_text(encoding="utf-8")
    page = assert_self_contained(text)
    cells = page.cells
    for label, field in demo.FIGURES:
        i = cells.index(label)
        values = [getattr(ran.model(name), field) for name in NAMES]
        assert cells[i + 1:i + 4] == [f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"
                                      for v in values]
    for tensor in ran.tensors:
        i = cells.index(tensor.name)
        assert f"{tensor.bytes_after:,}" in cells[i:i + 6]
    assert "XS3 per layer" in text and "Bit-exactness" in text
    assert sum(1 for tag, _ in page.tags if tag == "svg") == 1


def test_the_command_prints_the_figures(ran: demo.Demo, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[str] = []
    monkeypatch.setattr("tflitekit.cli.demo.run",
                        lambda directory, **_: asked.append(directory) or ran)
    assert main(["demo", "-o", "somewhere"]) == 0
    out = capsys.readouterr().out
    assert asked == ["somewhere"]
    lines = out.splitlines()
    assert lines[0].split() == list(NAMES)
    row = next(line for line in lines if line.strip().startswith("file bytes"))
    assert row.split()[2:] == [f"{ran.model(n).file_bytes:,}" for n in NAMES]
    row = next(line for line in lines if line.strip().startswith("agreement %"))
    assert row.split()[2:] == [f"{ran.model(n).agreement:.2f}" for n in NAMES]
    assert "bit-exact: yes" in out and lines[-1] == f"report: {ran.report}"
    assert main(["demo"]) == 0
    assert asked[-1] == demo.OUTPUT == "tflitekit-demo"


def test_the_command_prints_json(ran: demo.Demo, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("tflitekit.cli.demo.run", lambda directory, **_: ran)
    assert main(["demo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(json.dumps(ran.to_json()))
    assert [m["name"] for m in report["models"]] == list(NAMES)
    assert report["bit_exact"]["exact"] is True and report["report"] == ran.report
    assert report["compression"]["metric_name"] == "agreement"


def test_an_unwritable_directory_is_a_one_line_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["demo", "-o", str(blocker / "out")]) == 1
    out, err = capsys.readouterr()
    assert not out and len(err.splitlines()) == 1 and str(blocker / "out") in err
    assert main(["demo", "-o", str(blocker), "--json"]) == 1
    out, err = capsys.readouterr()
    assert "error" in json.loads(out) and len(err.splitlines()) == 1


def test_without_tflite_micro_the_check_says_so(ran: demo.Demo, monkeypatch: pytest.MonkeyPatch,
                                                samples: tuple[np.ndarray, np.ndarray]) -> None:
    from tflitekit.demo import steps as module

    def unavailable(*_: object) -> None:
        raise tflitekit.RuntimeUnavailable("no tflite-micro")

    monkeypatch.setattr(module, "run_tflm", unavailable)
    compressed = _load(ran, "compressed")
    decompressed = DecompressWeights()(compressed.copy()).model
    exact = module._bit_exact(compressed, decompressed, model_inputs(compressed, samples[0]))
    assert exact.tflm_differing is None and "not installed" in exact.tflm_note
    assert exact.exact and exact.decompressed_differing == 0

"""The ``summary``, ``memory`` and ``quant-error`` commands, and the budget lines of ``info``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json
from _memory_models import two_branches
from _quant_twins import Y_F, Y_Q, X, float_twin, quantized_twin

from tflitekit import load
from tflitekit.analysis import arena, memory, summary


@pytest.fixture
def branchy(tmp_path: Path) -> Path:
    path = tmp_path / "branchy.tflite"
    two_branches().save(path)
    return path


def test_summary_json(capsys: pytest.CaptureFixture[str], branchy: Path) -> None:
    out = run_json(capsys, "summary", branchy)
    model = load(branchy)
    assert (out["total_macs"], out["total_ops"]) == (2432, 5004)
    assert out["rom"]["file_bytes"] == branchy.stat().st_size
    assert out["ram"]["arena_head_bytes"] == memory(model).arena_head_bytes
    assert out["ram"]["arena_total_bytes"] == arena(model, "host").total_bytes
    assert out["ram"]["arena_target"] == "host"
    assert len(out["layers"]) == 5
    out = run_json(capsys, "summary", branchy, "--target", "target32")
    assert out["ram"]["arena_total_bytes"] == arena(model, "target32").total_bytes


def test_summary_text(capsys: pytest.CaptureFixture[str], branchy: Path) -> None:
    code, out, err = run(capsys, "summary", branchy)
    assert code == 0 and err == ""
    assert "total: 2,432 MACs (2.432 k), 5,004 OPs (5.004 k)" in out
    head = memory(load(branchy)).arena_head_bytes
    assert "arena head (GreedyMemoryPlanner)" in out and f"{head:,} bytes" in out
    assert out.count("FULLY_CONNECTED") == 4
    s = summary(load(branchy))
    assert s.best_order_arena is not None
    for label, value in (("best: the arena TFLite Micro allocates", s.ram_best_bytes),
                         ("worst: no reuse (LinearMemoryPlanner)", s.ram_worst_bytes),
                         ("with the best operator order", s.best_order_arena.total_bytes)):
        assert re.search(rf"  {re.escape(label)} +{value:,} bytes", out), label


def test_memory_reorder(capsys: pytest.CaptureFixture[str], branchy: Path,
                        tmp_path: Path) -> None:
    """two_branches saved in a bad order: --reorder writes the order with the lower head."""
    before = memory(load(branchy))
    out_path = tmp_path / "reordered.tflite"
    out = run_json(capsys, "memory", branchy, "--reorder", out_path)
    after = memory(load(out_path))
    assert out["arena_head_bytes"] == before.arena_head_bytes
    assert out["reordered"]["arena_head_bytes"] == after.arena_head_bytes
    assert out["reordered"]["saving_bytes"] == before.arena_head_bytes - after.arena_head_bytes
    assert after.arena_head_bytes < before.arena_head_bytes
    assert len(out["allocations"]) == 6 and out["timeline"]


def test_memory_text(capsys: pytest.CaptureFixture[str], branchy: Path) -> None:
    code, out, _ = run(capsys, "memory", branchy)
    assert code == 0
    m = memory(load(branchy))
    assert f"arena head {m.arena_head_bytes:,} bytes" in out
    assert "#4 ADD" in out


def test_memory_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], branchy: Path) -> None:
    data = branchy.read_bytes()
    code, _, err = run(capsys, "memory", branchy, "--reorder", branchy)
    assert code == 1 and "refusing to overwrite" in err and len(err.splitlines()) == 1
    assert branchy.read_bytes() == data


def test_info_shows_the_budget(capsys: pytest.CaptureFixture[str], branchy: Path) -> None:
    code, out, _ = run(capsys, "info", branchy)
    assert code == 0 and "2,432 MACs, 5,004 OPs" in out
    assert run_json(capsys, "info", branchy)["budget"]["total_ops"] == 5004


def test_quant_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The twins of ``_quant_twins`` on their x: the output error is |Y_Q - Y_F| by hand."""
    float_path, quant_path, inputs = (tmp_path / "f.tflite", tmp_path / "q.tflite",
                                      tmp_path / "x.npy")
    float_twin().save(float_path)
    quantized_twin().save(quant_path)
    np.save(inputs, X)
    out = run_json(capsys, "quant-error", float_path, quant_path, "--input", inputs)
    (output,) = out["outputs"]
    error = [q - f for q, f in zip(Y_Q, Y_F, strict=True)]
    assert output["max_abs_error"] == pytest.approx(max(map(abs, error)), rel=1e-5)
    assert [layer["opcode"] for layer in out["layers"]] == ["FULLY_CONNECTED"]
    code, text, _ = run(capsys, "quant-error", float_path, quant_path, "--input", inputs)
    assert code == 0 and "FULLY_CONNECTED" in text and "model output y" in text
    code, _, err = run(capsys, "quant-error", float_path, quant_path, "--samples", "0")
    assert code == 2 and "--samples must be at least 1" in err

"""summary(): per-layer rows, totals, ROM and RAM in one result, and info's budget."""

from __future__ import annotations

import json
from pathlib import Path

from _memory_models import two_branches

from tflitekit import load
from tflitekit.analysis import arena, info, layers, memory, rom, summary


def test_totals_by_hand(tmp_path: Path) -> None:
    """two_branches: FC 15->64 twice (960 MACs each), FC 64->4 twice (256 each), ADD of 4.
    OPs (MLTK): 2 per MAC, plus one per output for the (absent) bias slot; ADD one per
    element: 2 * (1,920 + 64) + 2 * (512 + 4) + 4."""
    path = tmp_path / "m.tflite"
    two_branches().save(path)
    model = load(path)
    s = summary(model, path)
    assert s.total_macs == 2 * 960 + 2 * 256
    assert s.total_ops == 2 * (1920 + 64) + 2 * (512 + 4) + 4
    assert s.layers == layers(model) and s.rom == rom(model, path)
    assert s.memory == memory(model)
    assert s.rom.file_bytes == path.stat().st_size
    # activations: x (60 bytes), four FC outputs (256, 256, 16, 16) and y (16)
    assert s.memory.no_reuse_bytes == 60 + 2 * 256 + 3 * 16
    # saved order A1, B1, ...: x, a1 and b1 alive while B1 runs
    assert s.memory.peak_live_bytes == 60 + 2 * 256
    assert [a.target for a in s.arenas] == ["host", "target32"]
    assert s.arena == arena(model, "host")
    assert summary(model, target="target32").arena == arena(model, "target32")


def test_json_keys(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    two_branches().save(path)
    model = load(path)
    s = summary(model, path)
    out = json.loads(json.dumps(s.to_json(), allow_nan=False))
    assert out["total_macs"] == s.total_macs and out["total_ops"] == s.total_ops
    assert out["rom"]["weights_bytes"] == (15 * 64 * 2 + 64 * 4 * 2) * 4
    assert out["rom"]["file_bytes"] == path.stat().st_size
    ram = out["ram"]
    assert ram["no_reuse_bytes"] == s.memory.no_reuse_bytes
    assert ram["peak_live_bytes"] == s.memory.peak_live_bytes
    assert ram["arena_head_bytes"] == s.memory.arena_head_bytes
    assert ram["arena_total_bytes"] == arena(model).total_bytes
    assert ram["arenas"]["target32"]["total_bytes"] == arena(model, "target32").total_bytes
    assert [row["opcode"] for row in out["layers"]] == ["FULLY_CONNECTED"] * 4 + ["ADD"]


def test_info_budget() -> None:
    model = two_branches()
    budget = info(model).budget
    assert budget.problem is None
    assert (budget.total_macs, budget.total_ops) == (2432, 5004)
    assert budget.arena_head_bytes == memory(model).arena_head_bytes
    assert budget.arena_total_bytes == {t: arena(model, t).total_bytes
                                        for t in ("host", "target32")}
    assert info(model).to_json()["budget"]["total_macs"] == 2432

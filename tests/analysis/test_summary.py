"""summary(): per-layer rows, totals, ROM and RAM in one result, and info's budget."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from _memory_models import two_branches

from tflitekit import load
from tflitekit.analysis import arena, best_order, info, layers, memory, rom, summary
from tflitekit.passes import reorder_for_memory
from tflitekit.testing import build_runnable_model


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


# ------------------------------------------------------------------------------------------------
# RAM: best and worst case, and the best operator order
# ------------------------------------------------------------------------------------------------


def test_ram_worst_case_gives_every_buffer_its_space() -> None:
    """two_branches' six activations, 16-byte aligned: x 60 -> 64, a1 and b1 256 each, a2, b2
    and y 16 each; the worst case adds the same tail as the arena."""
    model = two_branches()
    for target in ("host", "target32"):
        s = summary(model, target=target)
        assert s.no_reuse_head_bytes == 64 + 2 * 256 + 3 * 16
        assert s.no_reuse_head_bytes >= s.memory.no_reuse_bytes
        assert s.ram_best_bytes == arena(model, target).total_bytes
        assert s.ram_worst_bytes == s.no_reuse_head_bytes + arena(model, target).tail_bytes
        assert s.ram_worst_bytes > s.ram_best_bytes


def test_best_order_arena_is_the_reordered_models() -> None:
    """Saved in the bad order, two_branches has a lower arena when reordered; the summary's
    figure is the arena of the model the reorder_for_memory pass writes."""
    model = two_branches()
    s = summary(model)
    assert s.reordering == best_order(model) and s.reordering.changed
    assert s.best_order_arena == arena(reorder_for_memory(two_branches()))
    assert s.best_order_arena.head_bytes == s.reordering.head_after < s.arena.head_bytes
    ram = s.to_json()["ram"]
    assert ram["best_case_bytes"] == s.ram_best_bytes
    assert ram["worst_case_bytes"] == s.ram_worst_bytes
    assert ram["no_reuse_head_bytes"] == s.no_reuse_head_bytes
    assert ram["best_order"]["arena_total_bytes"] == s.best_order_arena.total_bytes
    assert ram["best_order"]["order"] == list(s.reordering.order)


def test_an_offline_plan_has_no_best_order() -> None:
    model = two_branches()
    count = len(model.main.tensors)  # every one planned online (-1)
    model.add_metadata("OfflineMemoryAllocation",
                       struct.pack(f"<{3 + count}i", 0, 0, count, *[-1] * count))
    s = summary(model)
    assert s.reordering is None and s.best_order_arena is None
    assert s.to_json()["ram"]["best_order"] is None
    assert s.ram_worst_bytes == s.no_reuse_head_bytes + s.arena.tail_bytes


@pytest.mark.tflm
def test_best_case_is_what_tflite_micro_allocates() -> None:
    """The host build's best case, and the best order's arena, against TFLite Micro's
    recording allocator (the summary's order search, applied by the pass)."""
    from _tflm_arena import measured_arena

    for model in (two_branches(), build_runnable_model()):
        s = summary(model)
        assert s.ram_best_bytes == measured_arena(model.to_bytes()).total
        assert s.best_order_arena is not None
        reordered = reorder_for_memory(model.copy()).to_bytes()
        assert s.best_order_arena.total_bytes == measured_arena(reordered).total

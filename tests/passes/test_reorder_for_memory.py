"""reorder_for_memory: writes the best order, keeps outputs, and is a fixed point."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from _memory_models import chain, two_branches

from tflitekit import Interpreter
from tflitekit.analysis.memory import memory
from tflitekit.passes import PassError, ReorderForMemory, reorder_for_memory
from tflitekit.testing import assert_same_outputs


def test_branches_are_reordered() -> None:
    model = two_branches()
    result = ReorderForMemory()(model)
    assert result.changes == ["subgraph 0: reordered 2 operators; arena head 576 -> 336 bytes "
                              "(peak live 572 -> 332 bytes)"]
    assert [op.outputs[0].name for op in model.main.operators] == ["a1", "a2", "b1", "b2", "y"]
    assert memory(model).arena_head_bytes == 336
    again = ReorderForMemory()(model)
    assert not again.modified
    assert again.skipped == ["subgraph 0: its order already has the lowest arena head (336 bytes)"]


def test_outputs_are_unchanged() -> None:
    x = np.random.default_rng(0).standard_normal((8, 15)).astype(np.float32)
    before = Interpreter(two_branches()).run([x])
    after = Interpreter(reorder_for_memory(two_branches())).run([x])
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_nothing_to_gain() -> None:
    model = chain()
    assert not ReorderForMemory()(model).modified


def test_an_offline_plan_is_refused() -> None:
    model = two_branches()
    model.add_metadata("OfflineMemoryAllocation", struct.pack("<3i", 0, 0, 0))
    with pytest.raises(PassError, match="offline memory plan"):
        ReorderForMemory()(model)
    assert [op.outputs[0].name for op in model.main.operators] == ["a1", "b1", "a2", "b2", "y"]


@pytest.mark.tflm
def test_tflite_micro_outputs_are_unchanged() -> None:
    # (tests/analysis/test_memory_corpus.py measures TFLite Micro's heads of reordered models)
    assert_same_outputs(two_branches(), reorder_for_memory(two_branches()), seeds=(0, 1))

"""best_order(): the memory-minimising order on builder-made models with hand-computed peaks and
heads (see _memory_models and test_memory for the figures)."""

from __future__ import annotations

import json
import struct

import pytest
from _memory_models import chain, two_branches

from tflitekit import Model, Tensor, UsageError
from tflitekit.analysis.memory import memory
from tflitekit.analysis.reorder import best_order
from tflitekit.testing import build_while_model


def test_branches_run_one_after_the_other() -> None:
    found = best_order(two_branches())
    # A1, A2, B1, B2, ADD: one 256-byte tensor at a time (peak x + a2 + b1 = 332, 336 aligned)
    assert found.order == (0, 2, 1, 3, 4)
    assert (found.head_before, found.head_after, found.saving) == (576, 336, 240)
    assert (found.peak_before, found.peak_after) == (572, 332)
    assert found.exact and found.changed and found.states > 0
    assert memory(two_branches(), found.order).arena_head_bytes == 336


def test_an_order_at_the_lower_bound_is_kept_without_search() -> None:
    found = best_order(chain())
    assert found.order == (0, 1) and not found.changed
    assert found.exact and found.states == 0 and found.saving == 0
    # the model already in the best order: the search finds nothing lower and keeps it
    again = best_order(_reordered(two_branches(), (0, 2, 1, 3, 4)))
    assert again.order == (0, 1, 2, 3, 4) and again.exact and again.saving == 0


def _reordered(model: Model, order: tuple[int, ...]) -> Model:
    ops = list(model.main.operators)
    model.main.operators[:] = [ops[k] for k in order]
    return model


@pytest.mark.parametrize("bounds", [{"max_states": 1}, {"time_limit": 0.0}])
def test_bounded_searches_are_heuristic(bounds: dict[str, float]) -> None:
    found = best_order(two_branches(), **bounds)  # type: ignore[arg-type]
    assert not found.exact
    assert found.head_after == memory(two_branches(), found.order).arena_head_bytes <= 576
    with pytest.raises(UsageError):
        best_order(two_branches(), max_states=0)


def test_operators_with_side_effects_keep_their_order() -> None:
    # B1 (operator 1) and A2 (operator 2) touch variable tensors: B1 stays before A2, so the
    # best order runs branch B first: B1, B2, A1, A2, ADD.
    model = two_branches()
    ops = model.main.operators
    ops[1].set_input(2, Tensor("state_b", (64,), "float32", is_variable=True))
    ops[2].set_input(2, Tensor("state_a", (4,), "float32", is_variable=True))
    found = best_order(model)
    assert found.order == (1, 3, 0, 2, 4)
    assert (found.head_after, found.exact) == (336, True)


def test_control_flow_makes_the_search_inexact() -> None:
    found = best_order(build_while_model())
    assert found.order == (0,) and not found.exact


def test_an_offline_plan_is_refused() -> None:
    model = two_branches()
    model.add_metadata("OfflineMemoryAllocation", struct.pack("<3i", 0, 0, 0))
    with pytest.raises(UsageError, match="offline memory plan"):
        best_order(model)


def test_to_json() -> None:
    data = json.loads(json.dumps(best_order(two_branches()).to_json()))
    assert data == {"subgraph": 0, "order": [0, 2, 1, 3, 4], "head_before": 576,
                    "head_after": 336, "saving": 240, "peak_before": 572, "peak_after": 332,
                    "exact": True, "states": 9}

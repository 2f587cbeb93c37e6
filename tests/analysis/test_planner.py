"""The GreedyMemoryPlanner: placement order, first fit, offline offsets, alignment; hand-computed
plans and invariants on random requests."""

from __future__ import annotations

import numpy as np
import pytest

from tflitekit.analysis.planner import ALIGNMENT, Plan, Request, align, greedy_plan


def test_align() -> None:
    assert ALIGNMENT == 16
    assert [align(n) for n in (0, 1, 15, 16, 17, 100)] == [0, 16, 16, 16, 32, 112]
    assert align(5, 4) == 8


def test_no_requests() -> None:
    assert greedy_plan([]) == Plan((), 0)


def test_buffers_never_alive_together_share_offset_zero() -> None:
    plan = greedy_plan([Request(32, 0, 0), Request(64, 1, 1), Request(16, 2, 3)])
    assert plan == Plan((0, 0, 0), 64)


def test_largest_first_then_first_fit_past_what_is_alive() -> None:
    # C (48) -> 0; A (32) never meets C -> 0; B meets both: past C (48) and A (32) -> 48
    plan = greedy_plan([Request(32, 0, 1), Request(16, 1, 2), Request(48, 2, 3)])
    assert plan == Plan((0, 48, 0), 64)


def test_a_gap_below_a_buffer_is_used() -> None:
    # A (48) -> 0; B (32) meets A -> 48; C meets only B, and the 48 bytes below it are free
    plan = greedy_plan([Request(48, 0, 1), Request(32, 0, 3), Request(16, 2, 3)])
    assert plan == Plan((0, 48, 0), 80)


def test_first_fit_skips_gaps_too_small() -> None:
    # A (64) -> 0; B (32) meets A -> 64; then the 16s, last added first: C meets B only and
    # fits below it at 0; D meets C and B: 0..16 is C's, 16..64 is free -> 16
    requests = [Request(64, 0, 0), Request(32, 0, 2), Request(16, 2, 2), Request(16, 1, 2)]
    assert greedy_plan(requests) == Plan((0, 64, 16, 0), 96)
    # with D of 48 (placed before B, at 0 as A is gone): B -> 64; C meets D and B, and the
    # gap 48..64 holds it exactly
    requests[2] = Request(48, 2, 2)
    assert greedy_plan(requests) == Plan((0, 64, 0, 48), 96)


def test_equal_sizes_place_the_last_added_first() -> None:
    assert greedy_plan([Request(16, 0, 1), Request(16, 0, 1)]).offsets == (16, 0)
    # R2 -> 0; R1 meets R2 -> 16; R0 meets both -> 32
    assert greedy_plan([Request(16, 0, 1), Request(16, 1, 2), Request(16, 0, 2)]).offsets == (
        32, 16, 0)


def test_offline_offsets_are_placed_first_and_kept() -> None:
    # R0 fixed at 32; R1 (32) fits below it; R2 finds 0..32 taken, 32..48 taken: 48
    plan = greedy_plan([Request(16, 0, 1, offline_offset=32), Request(32, 0, 1),
                        Request(16, 0, 1)])
    assert plan == Plan((32, 0, 48), 64)
    # an offline buffer may overlap another offline one: TFLM trusts the offsets
    assert greedy_plan([Request(16, 0, 1, 0), Request(16, 0, 1, 8)]).head == 24


@pytest.mark.parametrize("seed", range(20))
def test_random_plans_never_overlap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    requests = []
    for _ in range(int(rng.integers(1, 40))):
        first = int(rng.integers(0, 20))
        requests.append(Request(align(int(rng.integers(1, 500))), first,
                                first + int(rng.integers(0, 6))))
    plan = greedy_plan(requests)
    for i, a in enumerate(requests):
        for j, b in enumerate(requests[:i]):
            if a.overlaps(b.first, b.last):
                oa, ob = plan.offsets[i], plan.offsets[j]
                assert oa >= ob + b.size or ob >= oa + a.size, (i, j)
    assert plan.head == max(o + r.size for o, r in zip(plan.offsets, requests, strict=True))
    most = max(sum(r.size for r in requests if r.first <= t <= r.last) for t in range(26))
    assert plan.head >= most

"""The cycle model: one instruction per thread cycle, max(5, threads) core clocks each."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tflitekit.errors import UsageError
from tflitekit.xs3.estimate import CycleModel, Estimate, estimate


def test_default_model_is_one_thread_at_800_mhz() -> None:
    result = estimate(Counter({"VLMACCR": 16, "VLDC": 1, "VLSAT": 1, "other": 2}))
    assert result.model == CycleModel(clock_mhz=800.0, threads=1)
    assert (result.instructions, result.vpu, result.other) == (20, 18, 2)
    assert result.thread_cycles == 20
    assert result.core_clocks == 100  # 5 clocks per thread cycle below 6 threads
    assert result.seconds == pytest.approx(100 / 800e6)
    assert result.microseconds == pytest.approx(0.125)


@pytest.mark.parametrize(("threads", "clocks"), [(1, 5), (4, 5), (5, 5), (6, 6), (8, 8)])
def test_thread_cycle_is_five_clocks_or_the_active_threads(threads: int, clocks: int) -> None:
    model = CycleModel(threads=threads)
    assert model.clocks_per_thread_cycle == clocks
    assert estimate({"VLDR": 10}, model).core_clocks == 10 * clocks


@given(counts=st.dictionaries(st.sampled_from(["VLDR", "VLMACCR", "VSTR", "other"]),
                              st.integers(0, 10**9)),
       clock=st.floats(1.0, 2000.0), threads=st.integers(1, 8))
def test_time_is_instructions_times_clocks_over_frequency(counts: dict[str, int], clock: float,
                                                          threads: int) -> None:
    model = CycleModel(clock_mhz=clock, threads=threads)
    result = estimate(counts, model)
    total = sum(counts.values())
    assert result.instructions == result.thread_cycles == total
    assert result.vpu + result.other == total
    assert result.other == counts.get("other", 0)
    assert result.core_clocks == total * max(5, threads)
    assert result.seconds == pytest.approx(total * max(5, threads) / (clock * 1e6))


def test_to_json_is_strict_json() -> None:
    result = estimate({"VLMACCR": 3, "other": 1}, CycleModel(clock_mhz=600, threads=8))
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data == {"instructions": 4, "vpu": 3, "other": 1, "thread_cycles": 4,
                    "core_clocks": 32, "seconds": pytest.approx(32 / 600e6),
                    "model": {"clock_mhz": 600, "threads": 8, "clocks_per_thread_cycle": 8}}


def test_empty_counts_cost_nothing() -> None:
    assert estimate({}) == Estimate(0, 0, 0, 0, 0, 0.0, CycleModel())


@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"threads": 9}, {"clock_mhz": 0},
                                    {"clock_mhz": -800}, {"clock_mhz": float("nan")}])
def test_bad_models_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        CycleModel(**kwargs)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(UsageError, match="negative"):
        estimate({"VLDR": -1})

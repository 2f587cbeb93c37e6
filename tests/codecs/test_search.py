"""Metrics and the B&Q sensitivity search on builder models (the corpus proof is in
test_search_corpus.py)."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tflitekit import CodecError, Interpreter, UsageError
from tflitekit.codecs import KMeans, decode, encode
from tflitekit.codecs.bq import BQ, bin_of
from tflitekit.codecs.huffman import Huffman
from tflitekit.codecs.metrics import accuracy, agreement, custom, model_inputs
from tflitekit.codecs.search import (
    BQSearch,
    _perturb,
    allocate_bits,
    bq_search,
    channel_axis,
    weight_tensors,
)
from tflitekit.ir import Model, Quantization, Tensor
from tflitekit.options import BuiltinOperator, FullyConnectedOptions
from tflitekit.testing import build_runnable_model, single_op


def _samples(n: int = 400, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, 4, 4, 2), dtype=np.int8)


def _labels(model: Model, x: np.ndarray) -> np.ndarray:
    return Interpreter(model).run([x])[0].reshape(len(x), -1).argmax(axis=1)


# -- metrics -----------------------------------------------------------------------------------


def test_accuracy_counts_top1_in_percent(tmp_path: Path) -> None:
    model, x = build_runnable_model(), _samples()
    y = _labels(model, x)
    y[:100] = (y[:100] + 1) % 5  # a quarter wrong
    assert accuracy(model, x, y)(model) == 75.0
    np.savez(tmp_path / "data.npz", x=x, y=y)
    assert accuracy(model, tmp_path / "data.npz")(model) == 75.0
    assert agreement(model, x)(model) == 100.0


def test_metric_inputs_take_the_model_layout_and_quantize_floats() -> None:
    model, x = build_runnable_model(), _samples(8)
    (flat,) = model_inputs(model, x.reshape(8, 32))
    np.testing.assert_array_equal(flat, x)
    real = (x.astype(np.float64) + 3) * 0.05  # the input's scale 0.05 and zero point -3
    (quantized,) = model_inputs(model, real)
    np.testing.assert_array_equal(quantized, x)
    (clipped,) = model_inputs(model, np.full((1, 32), 1e6))
    assert clipped.dtype == np.int8 and (clipped == 127).all()


def test_custom_metric_scores_the_outputs() -> None:
    model, x = build_runnable_model(), _samples(16)
    metric = custom(model, x, np.size, name="size")
    assert metric(model) == 16 * 5 and metric.name == "size" and metric.samples == 16


def test_metric_errors_name_the_problem(tmp_path: Path) -> None:
    model, x = build_runnable_model(), _samples(8)
    with pytest.raises(UsageError, match="needs labels"):
        accuracy(model, x)
    with pytest.raises(UsageError, match="8 samples but 3 labels"):
        accuracy(model, x, [0, 1, 2])
    np.savez(tmp_path / "bad.npz", inputs=x)
    with pytest.raises(UsageError, match="no array named x or y"):
        accuracy(model, tmp_path / "bad.npz")
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "text.npz").write_text("not numpy")
    for path, message in (("x.npy", "a single array; give an .npz with the arrays x and y"),
                          ("text.npz", "not an .npz file"), ("missing.npz", "no such file")):
        with pytest.raises(UsageError, match=message):
            accuracy(model, tmp_path / path)
    with pytest.raises(UsageError, match="takes int8, got"):
        model_inputs(model, x.astype(np.complex64))


# -- the perturbation --------------------------------------------------------------------------


def test_perturbation_is_computed_wide_and_clipped() -> None:
    """The notebook's uint8 arithmetic wrapped around (200 * 1.2 -> 240 - 256); here it clips."""
    q = np.array([120, -128, 100, -5, 3, 0], np.int8)
    mask = np.array([True, True, True, True, False, True])
    np.testing.assert_array_equal(_perturb(q, mask, 1.2), [127, -128, 120, -6, 3, 0])
    u = np.array([200, 10], np.uint8)
    np.testing.assert_array_equal(_perturb(u, np.array([True, True]), 1.3), [255, 13])
    f = np.array([0.5, -1.0], np.float32)
    np.testing.assert_array_equal(_perturb(f, np.array([True, False]), 1.2),
                                  np.array([0.6, -1.0], np.float32))


# -- the search --------------------------------------------------------------------------------


def _search(model: Model, **options: object) -> BQSearch:
    return bq_search(model, "fc/w", agreement(model, _samples()),
                     **{"executor": ThreadPoolExecutor(1), **options})  # type: ignore[arg-type]


def test_search_trajectory_splits_one_bin_per_step() -> None:
    model = build_runnable_model()
    result = _search(model, max_drop=10.0, max_bins=12)
    w = model.main.tensors[[t.name for t in model.main.tensors].index("fc/w")].data
    assert result.baseline == 100.0 and result.tensor == "fc/w"
    assert result.steps[0].edges[0] == w.min() and result.steps[0].edges[-1] == w.max()
    assert result.steps[0].bins == 4  # [min, mean-std, mean, mean+std, max]
    for before, after in zip(result.steps, result.steps[1:], strict=False):
        assert after.bins == before.bins + 1
        assert set(before.edges) < set(after.edges)
        assert before.split is not None and len(before.sensitivity) == before.bins
        new = (set(after.edges) - set(before.edges)).pop()
        assert before.edges[before.split] < new < before.edges[before.split + 1]
        # the split bin is the most sensitive one
        assert before.sensitivity[before.split] == max(before.sensitivity)
    for step in result.steps:
        assert all(a < b for a, b in zip(step.edges, step.edges[1:], strict=False))
        quantized = decode(encode(w, BQ(edges=step.edges)))
        assert len(step.values) == len(np.unique(bin_of(w, np.asarray(step.edges))))
        assert set(np.unique(quantized)) <= set(step.values)
    final = result.final
    assert final.split is None and final.sensitivity == ()
    assert result.stopped == "tolerance" and final.metric >= 100.0 - 10.0
    assert all(s.metric < 100.0 - 10.0 for s in result.steps[:-1])
    assert result.evaluations == 1 + sum(1 + s.bins for s in result.steps[:-1]) + 1
    assert result.params == BQ(edges=final.edges)
    assert json.loads(json.dumps(result.to_json()))["steps"][-1]["bins"] == final.bins


def test_search_stops_at_the_budget() -> None:
    result = _search(build_runnable_model(), max_drop=0.0, max_bins=5)
    assert result.stopped == "budget" and result.final.bins == 5 and len(result.steps) == 2


def test_search_stops_when_every_bin_is_exact() -> None:
    """A tensor of three distinct values cannot be split further than three bins."""
    model = build_runnable_model()
    fc = next(t for t in model.main.tensors if t.name == "fc/w")
    fc.data = np.tile(np.array([-60, 0, 90], np.int8), 80).reshape(5, 48)
    result = _search(model, max_drop=-1.0)  # never within tolerance
    assert result.stopped == "exact" and result.final.bins == 3


def test_search_is_the_same_on_any_executor_and_reports_progress() -> None:
    model = build_runnable_model()
    calls: list[tuple[int, int]] = []
    with ProcessPoolExecutor(2) as pool:
        in_processes = _search(model, max_drop=10.0, executor=pool,
                               progress=lambda d, t: calls.append((d, t)))
    in_thread = _search(model, max_drop=10.0)
    assert in_processes.steps == in_thread.steps
    done = in_processes.evaluations
    assert [d for d, _ in calls][:done] == list(range(1, done + 1))
    assert calls[-1] == (in_processes.evaluations, in_processes.evaluations)
    assert all(t >= d for d, t in calls)


@pytest.mark.dask
def test_search_with_a_dask_cluster() -> None:
    import distributed
    model = build_runnable_model()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = _search(model, max_drop=10.0, executor=client.get_executor())
    assert result.steps == _search(model, max_drop=10.0).steps


def test_search_refuses_bad_arguments() -> None:
    model = build_runnable_model()
    with pytest.raises(UsageError, match="no tensor is named"):
        bq_search(model, "nope", agreement(model, _samples(4)), executor=ThreadPoolExecutor(1))
    with pytest.raises(UsageError, match="holds no numeric constant"):
        bq_search(model, "flat", agreement(model, _samples(4)), executor=ThreadPoolExecutor(1))
    with pytest.raises(UsageError, match="split must be"):
        _search(model, split="mode")


# -- bit allocation ----------------------------------------------------------------------------


def _dense(seed: int = 5) -> Model:
    """One FULLY_CONNECTED with 10 x 256 normally distributed int8 weights (large enough for
    clustering to pay for its tables)."""
    rng = np.random.default_rng(seed)
    w = np.clip(np.rint(rng.normal(0, 30, (10, 256))), -127, 127).astype(np.int8)
    return single_op(BuiltinOperator.FULLY_CONNECTED, [
        Tensor("x", (1, 256), "int8", quantization=Quantization(0.05, 0)),
        Tensor.constant("w", w, quantization=Quantization(0.01, 0)),
        Tensor.constant("b", rng.integers(-500, 500, 10, dtype=np.int32),
                        quantization=Quantization(0.0005, 0))],
        [Tensor("y", (1, 10), "int8", quantization=Quantization(0.5, 0))],
        FullyConnectedOptions())


def test_allocation_chooses_the_smallest_options_within_the_tolerance() -> None:
    model = _dense()
    metric = agreement(model, np.random.default_rng(2).integers(-128, 128, (500, 256),
                                                                dtype=np.int8))
    result = allocate_bits(model, metric, max_drop=20.0, bits=(1, 2, 3, 4, 8),
                           executor=ThreadPoolExecutor(1))
    (choice,) = result.choices
    w = next(t for t in model.main.tensors if t.name == "w").data
    assert choice.tensor == "w" and [t.name for t in weight_tensors(model)] == ["w"]
    assert result.baseline == 100.0 and result.metric >= 80.0
    assert choice.bytes_before == 2560 and choice.params is not None
    assert choice.bytes_after == encode(w, choice.params).nbytes < 2560
    assert choice.bits_per_weight == 8 * choice.bytes_after / 2560
    # every candidate is smaller than the raw tensor; the choice is the smallest one whose
    # drop alone is within the tolerance (one tensor: the estimate is the measurement)
    assert [c.bits for c in result.candidates] == [1, 2, 3, 4]  # 8 bits: no saving
    within = [c for c in result.candidates if c.drop <= 20.0]
    assert choice.bytes_after == min(c.nbytes for c in within)
    assert choice.params.k == 8 and choice.params.then == Huffman()
    assert result.evaluations == 2 + 4
    assert json.loads(json.dumps(result.to_json()))["bytes_after"] == result.bytes_after
    # the same choices in worker processes (k-means is seeded)
    with ProcessPoolExecutor(2) as pool:
        again = allocate_bits(model, metric, max_drop=20.0, bits=(1, 2, 3, 4, 8), executor=pool)
    assert again.choices == result.choices and again.candidates == result.candidates


def test_allocation_leaves_a_tensor_alone_when_no_option_is_within_the_tolerance() -> None:
    model = _dense()
    metric = agreement(model, np.random.default_rng(2).integers(-128, 128, (500, 256),
                                                                dtype=np.int8))
    result = allocate_bits(model, metric, max_drop=0.0, bits=(1,),
                           executor=ThreadPoolExecutor(1))
    assert result.choices[0].params is None and result.metric == result.baseline


def test_allocation_sizes_each_option_as_it_will_be_stored() -> None:
    model = _dense()
    metric = agreement(model, np.random.default_rng(2).integers(-128, 128, (500, 256),
                                                                dtype=np.int8))
    w = model.main.tensor("w")
    assert w is not None and w.data is not None
    asked: list[int] = []

    def size(tensor: Tensor, quantized: np.ndarray, params: KMeans) -> int:
        """A form that cannot store 1-bit values, stores 8 bits at their full size and makes
        wider values cheaper."""
        assert tensor is w
        np.testing.assert_array_equal(quantized, decode(encode(w.data, params)))
        bits = params.k.bit_length() - 1
        asked.append(bits)
        if bits == 1:
            raise CodecError("no 1-bit values here")
        return 2560 if bits == 8 else 1000 - bits

    result = allocate_bits(model, metric, max_drop=20.0, bits=(1, 2, 3, 4, 8), size=size,
                           executor=ThreadPoolExecutor(1))
    assert asked == [1, 2, 3, 4, 8]
    assert [(c.bits, c.nbytes) for c in result.candidates] == [(2, 998), (3, 997), (4, 996)]
    (choice,) = result.choices
    within = [c for c in result.candidates if c.drop <= 20.0]
    assert choice.bytes_after == min(c.nbytes for c in within) == result.bytes_after
    assert choice.params is not None and choice.params.k == 2 ** within[-1].bits


def test_channel_axis_follows_the_quantization() -> None:
    model = build_runnable_model()
    by_name = {t.name: t for t in model.main.tensors}
    assert channel_axis(by_name["conv/w"]) == 0 and channel_axis(by_name["fc/w"]) is None

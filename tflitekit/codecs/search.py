"""Automated searches for codec parameters under a metric constraint.

- :func:`bq_search`: the B&Q sensitivity search (Sakthi, Tewfik, Pawate, ICASSP 2020) on one
  weight tensor: start from the bins ``[min, mean-std, mean, mean+std, max]``, measure each bin's
  sensitivity, split the most sensitive bin, until the metric is within ``max_drop`` of the
  baseline or the bin budget is spent.
- :func:`allocate_bits`: per weight tensor, the cheapest k-means bit width (entropy coded,
  header and tables counted) such that the whole model stays within ``max_drop``.

Every evaluation is one run of the batched interpreter on the metric's data set with some
tensors replaced. Evaluations of one round are independent and fan out through any
:class:`concurrent.futures.Executor` (a process pool with one worker per core by default;
Dask's or Ray's executors plug in), reporting ``progress(done, total)``; the results depend on
nothing but the arguments (k-means is seeded with ``seed``), whichever executor runs them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import UsageError
from ..interpreter import Progress
from ..ir import Model, Tensor
from .base import decode, encode
from .bq import BQ, bin_edges, bin_of
from .metrics import Metric
from .tables import to_dtype

__all__ = ["BQSearch", "BQStep", "Evaluator", "bq_search"]

Array = npt.NDArray[Any]
#: Replacement data by tensor index in the main subgraph.
Replacements = tuple[tuple[int, Array], ...]


# ------------------------------------------------------------------------------------------------
# Evaluations
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _model(data: bytes) -> Model:
    from ..serde import load

    return load(data)


def _evaluate(data: bytes, metric: Metric, replacements: Replacements) -> float:
    """The metric of the model ``data`` with tensors replaced (run where the executor puts it;
    the parsed model is cached per worker)."""
    model = _model(data).copy()
    tensors = model.subgraphs[0].tensors
    for index, array in replacements:
        tensors[index].data = array
    return metric(model)


class Evaluator:
    """Scores variants of ``model`` (some weight tensors replaced) on ``metric``, a round at a
    time on ``executor`` (None: a process pool for the evaluator's lifetime; use it as a
    context manager), counting evaluations and reporting ``progress(done, total)``."""

    def __init__(self, model: Model, metric: Metric, *, executor: Executor | None = None,
                 progress: Progress | None = None) -> None:
        self.model = model
        self.metric = metric
        self.progress = progress
        self.total = 0
        self.done = 0
        self._data = model.to_bytes()
        self._index = {id(t): i for i, t in enumerate(model.subgraphs[0].tensors)}
        self._own = executor is None
        self._executor = executor

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own and self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def index(self, tensor: Tensor) -> int:
        """``tensor``'s index in the main subgraph (where replacements are made)."""
        try:
            return self._index[id(tensor)]
        except KeyError:
            raise UsageError(f"tensor {tensor.name!r} is not in the model's main subgraph"
                             ) from None

    def expect(self, count: int) -> None:
        """Announce ``count`` more evaluations (the progress total)."""
        self.total += count

    def __call__(self, variants: Sequence[dict[Tensor, Array]]) -> list[float]:
        """The metric of each variant (tensor -> its new data), in order."""
        jobs = [tuple(sorted((self.index(t), np.asarray(a)) for t, a in v.items()))
                for v in variants]
        self.total = max(self.total, self.done + len(jobs))
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=os.cpu_count() or 1)
        futures = [self._executor.submit(_evaluate, self._data, self.metric, job)
                   for job in jobs]
        scores = []
        for future in futures:
            scores.append(float(future.result()))
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)
        return scores


@contextlib.contextmanager
def _evaluator(model: Model, metric: Metric, executor: Executor | None,
               progress: Progress | None) -> Iterator[Evaluator]:
    with Evaluator(model, metric, executor=executor, progress=progress) as evaluate:
        yield evaluate
        if progress is not None and evaluate.total != evaluate.done:
            progress(evaluate.done, evaluate.done)


def _weight(model: Model, tensor: Tensor | str) -> Tensor:
    graph = model.subgraphs[0]
    if isinstance(tensor, str):
        found = [t for t in graph.tensors if t.name == tensor]
        if len(found) != 1:
            raise UsageError(f"{len(found)} tensors are named {tensor!r}" if found
                             else f"no tensor is named {tensor!r}")
        tensor = found[0]
    if not tensor.is_constant or tensor.data is None or tensor.data.dtype.kind not in "iuf":
        raise UsageError(f"tensor {tensor.name!r} holds no numeric constant data")
    return tensor


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------------------------
# B&Q sensitivity search
# ------------------------------------------------------------------------------------------------


def _perturb(quantized: Array, mask: npt.NDArray[np.bool_], factor: float) -> Array:
    """``quantized`` with the elements in ``mask`` scaled by ``factor``: integers in float64 then
    rounded (half away from zero) and clipped to the dtype's range, so nothing wraps."""
    out: Array = quantized.copy()
    out[mask] = to_dtype(quantized[mask].astype(np.float64) * factor, quantized.dtype)
    return out


def _occupied(weights: npt.NDArray[np.float64], edges: tuple[float, ...]) -> tuple[float, ...]:
    """``edges`` without the bins no weight falls in (each merges into the bin below it; the
    first and last bins hold the minimum and maximum), so every bin has a value."""
    used = np.unique(bin_of(weights, np.asarray(edges)))
    return (*(edges[i] for i in used), edges[-1])


def _split_point(members: npt.NDArray[np.float64], split: str) -> float | None:
    """Where a bin of ``members`` splits (its mean or median), or None when it holds one value."""
    low, high = float(members.min()), float(members.max())
    if low == high:
        return None
    at = float(members.mean() if split == "mean" else np.median(members))
    # [low, at) must hold something: a median equal to the minimum moves up to the next value
    return at if at > low else float(members[members > low].min())


@dataclass(frozen=True)
class BQStep:
    """One step of :func:`bq_search`: the bins tried, the metric with them, their cost.

    ``bits_per_weight`` counts the whole encoding (header, value table, indices packed at
    ``ceil(log2 bins)`` bits); ``entropy`` is the empirical entropy of the bin indices (bits
    per weight, what an entropy coder approaches); ``sensitivity`` the metric drop when each
    bin is perturbed (empty on the last step); ``split`` the bin split next.
    """

    edges: tuple[float, ...]
    values: tuple[float, ...]
    metric: float
    bits_per_weight: float
    entropy: float
    sensitivity: tuple[float, ...] = ()
    split: int | None = None

    @property
    def bins(self) -> int:
        return len(self.edges) - 1


@dataclass(frozen=True)
class BQSearch:
    """The result of :func:`bq_search`: ``steps`` in order, the last one the answer.

    ``stopped``: ``"tolerance"`` (within ``max_drop`` of ``baseline``), ``"budget"`` (``max_bins``
    reached) or ``"exact"`` (every bin holds one value).
    """

    tensor: str
    metric_name: str
    baseline: float
    max_drop: float
    factor: float
    steps: tuple[BQStep, ...]
    stopped: str
    evaluations: int
    seconds: float

    @property
    def final(self) -> BQStep:
        return self.steps[-1]

    @property
    def params(self) -> BQ:
        """The B&Q parameters of the final bins."""
        return BQ(edges=self.final.edges)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _json(asdict(self))
        for step, raw in zip(out["steps"], self.steps, strict=True):
            step["bins"] = raw.bins
        return out


def _entropy(bins: npt.NDArray[np.intp]) -> float:
    counts = np.bincount(bins.ravel())
    p = counts[counts > 0] / bins.size
    return float(-(p * np.log2(p)).sum()) + 0.0


def bq_search(model: Model, tensor: Tensor | str, metric: Metric, *, max_drop: float = 0.2,
              max_bins: int = 16, factor: float = 1.2, split: str = "mean",
              value: str = "mean", executor: Executor | None = None,
              progress: Progress | None = None) -> BQSearch:
    """Search B&Q bin edges for ``tensor`` (object or unique name) of ``model``'s main subgraph.

    Each step quantizes the tensor with the current bins (each bin's ``value``: its mean or
    median, rounded once for integers) and scores the model. Within ``max_drop`` of the
    baseline (the unchanged model's score), or at ``max_bins``, the search stops. Otherwise
    every bin's sensitivity is measured, in parallel: the quantized values of that bin alone
    are multiplied by ``factor`` (computed in float64, rounded and clipped to the dtype: no
    wrap-around) and the metric drop against the step's score is its sensitivity. The most
    sensitive bin (ties: the lower bin) that holds more than one distinct weight is split at
    the ``split`` statistic of its original weights (``"mean"`` or ``"median"``), and the next
    step starts. A per-tensor search: the bins are shared by every channel.
    """
    if split not in ("mean", "median"):
        raise UsageError(f"split must be 'mean' or 'median', not {split!r}")
    if max_bins < 1:
        raise UsageError(f"max_bins must be at least 1, not {max_bins}")
    weight = _weight(model, tensor)
    w = np.array(weight.data)
    flat = w.astype(np.float64).ravel()
    start = time.perf_counter()
    edges = _occupied(flat, tuple(float(e) for e in bin_edges(w, BQ())))
    steps: list[BQStep] = []
    with _evaluator(model, metric, executor, progress) as evaluate:
        evaluate.expect(1 + sum(1 + b for b in range(len(edges) - 1, max_bins)) + 1)
        baseline = evaluate([{}])[0]
        while True:
            encoded = encode(w, BQ(edges=edges, value=value))
            quantized = decode(encoded)
            bins = bin_of(flat, np.asarray(edges))
            score = evaluate([{weight: quantized}])[0]
            step = BQStep(edges, tuple(float(v) for v in encoded.table("values").ravel()),
                          score, encoded.bits_per_value, _entropy(bins))
            stopped = ("tolerance" if score >= baseline - max_drop
                       else "budget" if step.bins >= max_bins else "")
            cuts = {i: _split_point(flat[bins == i], split) for i in range(step.bins)}
            if not stopped and all(c is None for c in cuts.values()):
                stopped = "exact"
            if stopped:
                steps.append(step)
                break
            q = quantized.ravel()
            perturbed = evaluate([{weight: _perturb(q, bins == i, factor).reshape(w.shape)}
                                  for i in range(step.bins)])
            sensitivity = tuple(score - p for p in perturbed)
            chosen = max((i for i, c in cuts.items() if c is not None),
                         key=lambda i: (sensitivity[i], -i))
            steps.append(replace(step, sensitivity=sensitivity, split=chosen))
            cut = cuts[chosen]
            assert cut is not None
            edges = tuple(sorted((*edges, cut)))
        evaluations = evaluate.done
    return BQSearch(weight.name or "", metric.name, baseline, max_drop, factor, tuple(steps),
                    stopped, evaluations, time.perf_counter() - start)

"""Automated searches for codec parameters under a metric constraint.

- :func:`bq_search`: the B&Q sensitivity search (Sakthi, Tewfik, Pawate, ICASSP 2020) on one
  weight tensor: start from the bins ``[min, mean-std, mean, mean+std, max]``, measure each bin's
  sensitivity, split the most sensitive bin, until the metric is within ``max_drop`` of the
  baseline or the bin budget is spent.
- :func:`allocate_bits`: per weight tensor, the cheapest k-means bit width (sized as its
  encoding, header and tables counted, or as the form the weights are stored in takes them)
  such that the whole model stays within ``max_drop``.

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
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CodecError, UsageError
from ..interpreter import Progress
from ..ir import Model, Tensor
from .base import CodecParams, _params_json, decode, encode
from .bq import BQ, bin_edges, bin_of
from .cluster import KMeans
from .huffman import Huffman
from .metrics import Metric
from .tables import to_dtype

__all__ = ["Allocation", "BQSearch", "BQStep", "Candidate", "Evaluator", "Sizer", "TensorChoice",
           "allocate_bits", "bq_search", "channel_axis", "weight_tensors"]

Array = npt.NDArray[Any]
#: Replacement data by tensor index in the main subgraph.
Replacements = tuple[tuple[int, Array], ...]
#: The bytes a tensor takes stored with its values quantized by some k-means parameters:
#: ``size(tensor, quantized values, parameters)``; :class:`~tflitekit.errors.CodecError` when
#: that form cannot store them.
Sizer = Callable[[Tensor, Array, KMeans], int]


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


# ------------------------------------------------------------------------------------------------
# Per-tensor bit allocation
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One tensor clustered to ``2**bits`` values per slice: its size as stored (``nbytes``,
    header and tables included) and the metric drop with it alone."""

    tensor: str
    bits: int
    nbytes: int
    drop: float


@dataclass(frozen=True)
class TensorChoice:
    """The option chosen for one tensor: ``params`` (None: left as it is) and its cost."""

    tensor: str
    params: KMeans | None
    bytes_before: int
    bytes_after: int
    elements: int

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.bytes_after / self.elements


@dataclass(frozen=True)
class Allocation:
    """The result of :func:`allocate_bits`: a choice per tensor, the combined ``metric``
    (measured, within ``max_drop`` of ``baseline``), every candidate measured."""

    metric_name: str
    baseline: float
    metric: float
    max_drop: float
    choices: tuple[TensorChoice, ...]
    candidates: tuple[Candidate, ...]
    evaluations: int
    seconds: float

    @property
    def bytes_before(self) -> int:
        return sum(c.bytes_before for c in self.choices)

    @property
    def bytes_after(self) -> int:
        return sum(c.bytes_after for c in self.choices)

    @property
    def params(self) -> dict[str, KMeans]:
        """The codec parameters of every tensor that is compressed, by name."""
        return {c.tensor: c.params for c in self.choices if c.params is not None}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _json({k: v for k, v in asdict(self).items() if k != "choices"})
        out["choices"] = [{"tensor": c.tensor, "params": _params_json(c.params),
                           "bytes_before": c.bytes_before, "bytes_after": c.bytes_after,
                           "bits_per_weight": c.bits_per_weight} for c in self.choices]
        out["bytes_before"], out["bytes_after"] = self.bytes_before, self.bytes_after
        return out


def weight_tensors(model: Model, min_size: int = 64) -> list[Tensor]:
    """The main subgraph's weights worth compressing: constant int8, uint8, int16 or float
    tensors of at least ``min_size`` elements (biases, shapes and indices are left alone)."""
    kinds = {np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.float16),
             np.dtype(np.float32)}
    return [t for t in model.subgraphs[0].tensors
            if t.is_constant and t.numpy_dtype in kinds and t.data is not None
            and t.data.size >= min_size and t.data.dtype == t.numpy_dtype]


def channel_axis(tensor: Tensor) -> int | None:
    """The axis of the tensor's per-channel quantization, None when it is per tensor."""
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) <= 1:
        return None
    return int(q.quantized_dimension)


def allocate_bits(model: Model, metric: Metric, *, max_drop: float = 0.2,
                  bits: Sequence[int] = (2, 3, 4, 5, 6, 7, 8), coder: CodecParams | None = None,
                  tensors: Sequence[Tensor | str] | None = None, seed: int = 0,
                  size: Sizer | None = None, executor: Executor | None = None,
                  progress: Progress | None = None) -> Allocation:
    """Choose for each weight tensor (``tensors``, default :func:`weight_tensors`) the smallest
    encoding under the constraint that the model's ``metric`` stays within ``max_drop`` of the
    unchanged model's.

    The options of a tensor are to leave it as it is, or k-means with ``2**b`` values for each
    ``b`` in ``bits`` (per channel when the tensor is quantized per channel, seeded with
    ``seed``) with the indices coded by ``coder`` (default canonical Huffman). An option's size
    is its whole encoding, or, given ``size``, what ``size(tensor, quantized, params)`` says
    the storage form takes (an option it refuses with :class:`CodecError` is dropped); an
    option no smaller than the tensor's data is no option. Each lossy option is measured alone
    (one evaluation each, fanned out on ``executor``); then, greedily, the move with the most
    bytes saved per unit of added estimated drop (drops summed, improvements counted as 0) is
    taken while the estimate stays within ``max_drop``. The combination is then measured; while
    it falls outside, the moves are undone, latest first.
    """
    start = time.perf_counter()
    chosen = weight_tensors(model) if tensors is None else [_weight(model, t) for t in tensors]
    then = Huffman() if coder is None else coder
    options: dict[int, list[tuple[KMeans | None, int, Array]]] = {}
    variants: list[tuple[int, int]] = []  # (tensor, option) pairs that need a measurement
    for i, t in enumerate(chosen):
        w = np.array(t.data)
        options[i] = [(None, w.nbytes, w)]
        for b in bits:
            params = KMeans(k=2 ** b, seed=seed, axis=channel_axis(t), then=then)
            encoded = encode(w, params)
            quantized = decode(encoded)
            nbytes = encoded.nbytes if size is None else _size(size, t, quantized, params)
            if nbytes < w.nbytes:
                options[i].append((params, nbytes, quantized))
                if not np.array_equal(quantized, w):
                    variants.append((i, len(options[i]) - 1))
    drops: dict[tuple[int, int], float] = {(i, 0): 0.0 for i in options}
    drops.update({(i, o): 0.0 for i, opts in options.items() for o in range(1, len(opts))})
    with _evaluator(model, metric, executor, progress) as evaluate:
        evaluate.expect(2 + len(variants))
        baseline = evaluate([{}])[0]
        scores = evaluate([{chosen[i]: options[i][o][2]} for i, o in variants])
        drops.update({v: baseline - s for v, s in zip(variants, scores, strict=True)})
        moves = _greedy(options, drops, max_drop)
        current = dict.fromkeys(options, 0)
        for i, o in moves:
            current[i] = o
        while True:
            score = evaluate([{chosen[i]: options[i][o][2] for i, o in current.items() if o}])[0]
            if score >= baseline - max_drop or not moves:
                break
            i, _ = moves.pop()
            current[i] = next((o for j, o in reversed(moves) if j == i), 0)
            evaluate.expect(1)
        evaluations = evaluate.done
    return Allocation(
        metric.name, baseline, score, max_drop,
        tuple(TensorChoice(t.name or "", options[i][current[i]][0], options[i][0][1],
                           options[i][current[i]][1], int(options[i][0][2].size))
              for i, t in enumerate(chosen)),
        tuple(Candidate(chosen[i].name or "", _bits(options[i][o][0]), options[i][o][1],
                        drops[i, o])
              for i, opts in options.items() for o in range(1, len(opts))),
        evaluations, time.perf_counter() - start)


def _size(size: Sizer, tensor: Tensor, quantized: Array, params: KMeans) -> int:
    """``size``'s answer, the largest size when the form cannot store the values."""
    try:
        return size(tensor, quantized, params)
    except CodecError:
        return sys.maxsize


def _bits(params: KMeans | None) -> int:
    return 0 if params is None else params.k.bit_length() - 1


def _greedy(options: dict[int, list[tuple[KMeans | None, int, Array]]],
            drops: dict[tuple[int, int], float], max_drop: float) -> list[tuple[int, int]]:
    """The moves (tensor, option) taken in order: each the best bytes saved per added
    estimated drop that keeps the estimate within ``max_drop``."""
    current = dict.fromkeys(options, 0)
    total = 0.0
    moves: list[tuple[int, int]] = []
    while True:
        best: tuple[float, int, int, float] | None = None
        for i, opts in options.items():
            now = max(drops[i, current[i]], 0.0)
            for o in range(1, len(opts)):
                saved = opts[current[i]][1] - opts[o][1]
                added = max(drops[i, o], 0.0) - now
                if saved <= 0 or total + added > max_drop:
                    continue
                rank = saved / max(added, 1e-9)
                if best is None or rank > best[0]:
                    best = (rank, i, o, added)
        if best is None:
            return moves
        _, i, o, added = best
        current[i] = o
        total += added
        moves.append((i, o))

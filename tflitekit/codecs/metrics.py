"""What the searches of :mod:`.search` keep within a tolerance: a model's score on a data set.

A :class:`Metric` holds the model inputs (shaped and, for float data fed to an integer model,
quantized with the input's scale and zero point) and a picklable scoring function of the
outputs; higher is better. :func:`accuracy` and :func:`agreement` score in percent, so a
tolerance of ``0.2`` means 0.2 percentage points. Evaluations run on the batched interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import UsageError
from ..interpreter import Interpreter
from ..ir import Model

__all__ = ["Metric", "accuracy", "agreement", "custom", "load_labelled"]

Array = npt.NDArray[Any]
Score = Callable[[list[Array]], float]
"""Called with the model's outputs (each with a leading batch) on the metric's inputs."""


@dataclass(frozen=True, eq=False)
class Metric:
    """``score`` of a model's outputs on ``inputs`` (one array per model input, batched).

    ``score`` must pickle (a module-level function or a callable object) for process pools.
    """

    name: str
    inputs: tuple[Array, ...]
    score: Score

    @property
    def samples(self) -> int:
        return int(self.inputs[0].shape[0])

    def __call__(self, model: Model) -> float:
        """The score of ``model`` (a fresh interpreter, so edited weights count)."""
        return float(self.score(Interpreter(model).run(list(self.inputs))))


@dataclass(frozen=True, eq=False)
class _Top1:
    """Percentage of samples whose first output's arg-max equals ``labels``."""

    labels: Array

    def __call__(self, outputs: list[Array]) -> float:
        scores = outputs[0].reshape(len(self.labels), -1)
        return 100.0 * float(np.mean(scores.argmax(axis=1) == self.labels))


def load_labelled(path: str | Path) -> tuple[Array, Array]:
    """``x`` and ``y`` of an ``.npz`` file (:class:`UsageError` when either is missing)."""
    x, y = _load(path, ("x", "y"))
    return x, y


def _load(path: str | Path, names: tuple[str, ...]) -> list[Array]:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (ValueError, OSError) as exc:
        raise UsageError(f"{path}: not an .npz file ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise UsageError(f"{path}: a single array; give an .npz with the arrays "
                         f"{' and '.join(names)}")
    with data:
        missing = [k for k in names if k not in data]
        if missing:
            raise UsageError(f"{path}: no array named {' or '.join(missing)} "
                             f"(has {sorted(data.files)})")
        return [data[k] for k in names]


def accuracy(model: Model, x: npt.ArrayLike | str | Path, y: npt.ArrayLike | None = None
             ) -> Metric:
    """Top-1 accuracy in percent on labelled samples: ``x`` and ``y`` arrays, or ``x`` the
    path of an ``.npz`` holding both."""
    samples: npt.ArrayLike
    if isinstance(x, (str, Path)):
        if y is not None:
            raise UsageError("give the labels either in the .npz file or as y, not both")
        samples, y = load_labelled(x)
    else:
        samples = x
    if y is None:
        raise UsageError("accuracy needs labels (y)")
    inputs = model_inputs(model, samples)
    labels = np.asarray(y).reshape(-1)
    if labels.shape[0] != inputs[0].shape[0]:
        raise UsageError(f"{inputs[0].shape[0]} samples but {labels.shape[0]} labels")
    return Metric("accuracy", inputs, _Top1(labels))


def agreement(model: Model, x: npt.ArrayLike | str | Path) -> Metric:
    """Percentage of samples on which a model's top-1 class is the one ``model`` gives (``x``
    an array, or an ``.npz`` path whose ``x`` is used)."""
    samples = _load(x, ("x",))[0] if isinstance(x, (str, Path)) else x
    inputs = model_inputs(model, samples)
    reference = Interpreter(model).run(list(inputs))[0]
    labels = reference.reshape(inputs[0].shape[0], -1).argmax(axis=1)
    return Metric("agreement", inputs, _Top1(labels))


def custom(model: Model, x: npt.ArrayLike | Sequence[npt.ArrayLike], score: Score,
           name: str = "custom") -> Metric:
    """``score(outputs)`` on inputs ``x`` (an array, or one per input of a multi-input model)."""
    return Metric(name, model_inputs(model, x), score)


def model_inputs(model: Model, x: npt.ArrayLike | Sequence[npt.ArrayLike]) -> tuple[Array, ...]:
    """``x`` as the interpreter takes it: one batched array per model input, reshaped to the
    input's shape when only the layout differs (``[N, 49, 40]`` for ``[1, 49, 40, 1]``), and
    float data quantized with the input's scale and zero point when the input is an integer."""
    graph = model.subgraphs[0]
    tensors = graph.inputs
    arrays = ([np.asarray(x)] if len(tensors) == 1
              else [np.asarray(a) for a in x])  # type: ignore[union-attr]
    if len(arrays) != len(tensors):
        raise UsageError(f"the model has {len(tensors)} inputs, got {len(arrays)} arrays")
    out = []
    for t, a in zip(tensors, arrays, strict=True):
        shape = tuple(t.shape or ())[1:]
        if a.shape[1:] != shape and int(np.prod(a.shape[1:])) == int(np.prod(shape)):
            a = a.reshape(a.shape[0], *shape)
        dtype = t.numpy_dtype
        if dtype is not None and a.dtype != dtype:
            if a.dtype.kind == "f" and dtype.kind in "iu":
                q = t.quantization
                if q is None or q.scale is None or len(q.scale) != 1:
                    raise UsageError(f"float data for the integer input {t.name!r}, which has "
                                     "no per-tensor scale to quantize it with")
                info = np.iinfo(dtype)
                zero = int(q.zero_point[0]) if q.zero_point is not None else 0
                a = np.clip(np.rint(a / float(q.scale[0])) + zero, info.min, info.max)
            elif not np.can_cast(a.dtype, dtype, "same_kind"):
                raise UsageError(f"input {t.name!r} takes {dtype}, got {a.dtype}")
            a = a.astype(dtype)
        out.append(a)
    return tuple(out)

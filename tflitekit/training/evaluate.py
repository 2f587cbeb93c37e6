"""A classifier's scores on labelled data, on tflitekit's batched interpreter.

:func:`evaluate` runs a model on samples ``x`` with integer labels ``y`` and returns an
:class:`Evaluation`: accuracy, confusion matrix, per-class precision / recall / F1 with their
macro averages, the top-1 predictions, and the top-1 agreement with a reference model. The
scores are the model's first output (a multi-output model is judged on its first output); the
predicted class is its arg-max (the first one on ties).

The samples run in chunks of ``batch_size`` on any :class:`concurrent.futures.Executor` (the
interpreter's own fan-out: a process worker receives the model's bytes and prepares it once for
all its chunks); the result is the same whichever executor runs them, or none.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..codecs.metrics import model_inputs
from ..errors import UsageError
from ..interpreter import Interpreter, Progress
from ..ir import Model
from ..serde import load

__all__ = ["Evaluation", "evaluate"]

Array = npt.NDArray[Any]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ModelSource = Model | bytes | str | os.PathLike[str]

#: Samples per chunk unless told: the interpreter's time per sample still falls up to about a
#: thousand (micro_speech: ~0.64 ms at 256, ~0.40 ms at 1,024); each chunk's activations are
#: held at once.
BATCH_SIZE = 1024


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A classifier's scores on ``samples`` labelled samples (arrays read-only).

    ``classes`` names the classes by index (the positions of the first output's scores).
    ``accuracy`` and ``agreement`` are percentages, as :mod:`tflitekit.codecs.metrics` scores;
    ``precision``, ``recall`` and ``f1`` are fractions in [0, 1] per class, as scikit-learn
    gives them with ``zero_division=0``: precision is 0 for a class never predicted, recall 0
    for a class with no sample, and F1 is ``2 tp / (2 tp + fp + fn)`` (0 when both are
    missing). The macro averages weigh every class alike, those without samples included.
    ``confusion[i, j]`` counts the samples of true class ``i`` predicted as ``j``.
    ``agreement``: the percentage of samples whose top-1 class is the reference model's (None
    without a reference).
    """

    classes: tuple[str, ...]
    confusion: IntArray
    predictions: IntArray
    agreement: float | None = None

    @property
    def samples(self) -> int:
        return int(self.predictions.shape[0])

    @property
    def accuracy(self) -> float:
        return 100.0 * float(np.trace(self.confusion)) / self.samples

    @property
    def support(self) -> IntArray:
        """Samples of each true class."""
        counts: IntArray = self.confusion.sum(axis=1)
        return counts

    @property
    def precision(self) -> FloatArray:
        return _ratio(np.diag(self.confusion), self.confusion.sum(axis=0))

    @property
    def recall(self) -> FloatArray:
        return _ratio(np.diag(self.confusion), self.support)

    @property
    def f1(self) -> FloatArray:
        hits = np.diag(self.confusion)
        return _ratio(2 * hits, self.confusion.sum(axis=0) + self.support)

    @property
    def macro_precision(self) -> float:
        return float(self.precision.mean())

    @property
    def macro_recall(self) -> float:
        return float(self.recall.mean())

    @property
    def macro_f1(self) -> float:
        """The mean of the per-class F1 scores (not the F1 of the macro averages)."""
        return float(self.f1.mean())

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples, "classes": list(self.classes), "accuracy": self.accuracy,
            "agreement": self.agreement, "confusion": self.confusion.tolist(),
            "per_class": [{"class": name, "precision": p, "recall": r, "f1": f, "support": s}
                          for name, p, r, f, s in zip(
                              self.classes, self.precision.tolist(), self.recall.tolist(),
                              self.f1.tolist(), self.support.tolist(), strict=True)],
            "macro": {"precision": self.macro_precision, "recall": self.macro_recall,
                      "f1": self.macro_f1},
            "predictions": self.predictions.tolist()}

    def __str__(self) -> str:
        """A line of totals, then a row per class: precision, recall, F1, support and (up to
        16 classes) its row of the confusion matrix, in columns headed by the class index."""
        head = (f"{self.samples:,} samples, {len(self.classes)} classes: accuracy "
                f"{self.accuracy:.2f}%, macro F1 {self.macro_f1:.3f}")
        if self.agreement is not None:
            head += f", top-1 agreement with the reference {self.agreement:.2f}%"
        count = len(self.classes)
        confusion = count <= 16
        named = self.classes != tuple(map(str, range(count)))
        rows = [["#", *(["class"] if named else []), "precision", "recall", "f1", "support",
                 *(f"->{j}" for j in range(count) if confusion)]]
        for i, name in enumerate(self.classes):
            rows.append([str(i), *([name] if named else []), f"{self.precision[i]:.3f}",
                         f"{self.recall[i]:.3f}", f"{self.f1[i]:.3f}", f"{self.support[i]:,}",
                         *(f"{c:,}" for c in self.confusion[i] if confusion)])
        rows.append(["macro", *([""] if named else []), f"{self.macro_precision:.3f}",
                     f"{self.macro_recall:.3f}", f"{self.macro_f1:.3f}", f"{self.samples:,}"])
        widths = [max(len(r[c]) for r in rows if c < len(r)) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) if c == 0 or (named and c == 1) else cell.rjust(w)
                           for c, (cell, w) in enumerate(zip(r, widths, strict=False))).rstrip()
                 for r in rows]
        if confusion:
            head += "\nconfusion: row i counts the samples of class i predicted as ->j"
        return "\n".join([head, *lines])


def _ratio(part: IntArray, whole: IntArray) -> FloatArray:
    """``part / whole``, 0 where ``whole`` is 0."""
    out: FloatArray = np.divide(part, whole, out=np.zeros(len(part)), where=whole > 0)
    return out


def evaluate(model: ModelSource, x: npt.ArrayLike | Sequence[npt.ArrayLike], y: npt.ArrayLike,
             *, reference: ModelSource | None = None, executor: Executor | None = None,
             batch_size: int = BATCH_SIZE, classes: Sequence[str] | None = None,
             progress: Progress | None = None) -> Evaluation:
    """Score ``model`` (a :class:`~tflitekit.Model`, or a path or bytes to load) on samples
    ``x`` (a leading sample axis; one array per input of a multi-input model) labelled with the
    class indices ``y``.

    ``x`` is given to each model as :func:`~tflitekit.codecs.metrics.model_inputs` gives it
    (float data is quantized for an integer input). ``classes`` names the classes (default
    their indices). With ``reference``, another model, the result also holds the top-1
    agreement between the two. Chunks of ``batch_size`` samples run on ``executor`` (None: in
    this process, one after another); ``progress(done, total)`` counts the samples run, over
    both models with a reference.
    """
    model = _model(model)
    inputs = model_inputs(model, x)
    n = int(inputs[0].shape[0]) if inputs[0].ndim else 0
    if n == 0:
        raise UsageError("no samples to evaluate: x needs a leading sample axis")
    labels = _labels(y, n)
    count = _classes(model)
    if labels.size and (labels.min() < 0 or labels.max() >= count):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise UsageError(f"label {bad} is out of range: the model's first output scores "
                         f"{count} classes (labels 0 to {count - 1})")
    names = _names(classes, count)
    runs = 1 if reference is None else 2
    predictions = _top1(model, inputs, executor, batch_size, _offset(progress, 0, runs * n))
    agreement = None
    if reference is not None:
        other = _model(reference)
        if _classes(other) != count:
            raise UsageError(f"the reference scores {_classes(other)} classes, the model "
                             f"{count}: top-1 agreement needs the same classes")
        theirs = _top1(other, model_inputs(other, x), executor, batch_size,
                       _offset(progress, n, runs * n))
        agreement = 100.0 * float(np.mean(predictions == theirs))
    confusion = np.bincount(labels * count + predictions, minlength=count * count)
    return Evaluation(names, _frozen(confusion.reshape(count, count).astype(np.int64)),
                      _frozen(predictions), agreement)


def _model(source: ModelSource) -> Model:
    return source if isinstance(source, Model) else load(source)


def _classes(model: Model) -> int:
    """The scores per sample of the first output."""
    shape = model.subgraphs[0].outputs[0].shape or ()
    return int(np.prod(shape[1:] if len(shape) > 1 else shape))


def _labels(y: npt.ArrayLike, n: int) -> IntArray:
    labels = np.asarray(y)
    if labels.dtype.kind not in "iu":
        raise UsageError(f"labels must be integer class indices, not {labels.dtype}")
    if labels.ndim > 1 and labels.size != labels.shape[0]:
        raise UsageError(f"labels of shape {list(labels.shape)}: give one class index per "
                         "sample (y.argmax(axis=1) for one-hot labels)")
    flat: IntArray = labels.reshape(-1).astype(np.int64)
    if flat.shape[0] != n:
        raise UsageError(f"{n} samples but {flat.shape[0]} labels")
    return flat


def _names(classes: Sequence[str] | None, count: int) -> tuple[str, ...]:
    if classes is None:
        return tuple(str(i) for i in range(count))
    names = tuple(str(c) for c in classes)
    if len(names) != count:
        raise UsageError(f"{len(names)} class names for the {count} classes the model scores")
    return names


def _top1(model: Model, inputs: tuple[Array, ...], executor: Executor | None,
          batch_size: int, progress: Progress | None) -> IntArray:
    """The arg-max of ``model``'s first output on each sample."""
    scores = Interpreter(model).run(list(inputs), batch_size=batch_size, executor=executor,
                                    progress=progress)[0]
    top: IntArray = scores.reshape(inputs[0].shape[0], -1).argmax(axis=1).astype(np.int64)
    return top


def _offset(progress: Progress | None, start: int, total: int) -> Progress | None:
    """``progress`` for a run that starts after ``start`` samples of ``total``."""
    if progress is None:
        return None
    report = progress

    def shifted(done: int, _: int) -> None:
        report(start + done, total)

    return shifted


def _frozen(array: IntArray) -> IntArray:
    array.setflags(write=False)
    return array

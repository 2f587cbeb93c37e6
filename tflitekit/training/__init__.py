"""The thin Keras adapter: what an embedded-ML engineer otherwise writes in every notebook.

:func:`from_keras` converts a Keras model with TensorFlow's TFLite converter, set up for a
quantization mode and an interface (representative dataset, supported operators, I/O types,
optionally our :func:`~tflitekit.passes.strip_float_io`), into a tflitekit
:class:`~tflitekit.Model`. :func:`evaluate` scores a classifier on tflitekit's batched
interpreter (accuracy, confusion matrix, per-class precision / recall / F1, agreement with
another model), fanned out through any :class:`concurrent.futures.Executor`; it needs no
TensorFlow.

TensorFlow is an optional extra (``pip install "tflitekit[train]"``), imported only when a
function needs it; without it those functions raise :class:`~tflitekit.RuntimeUnavailable`.
"""

from __future__ import annotations

from .convert import IO_TYPES, MODES, RepresentativeData, from_keras
from .evaluate import Evaluation, evaluate

__all__ = ["IO_TYPES", "MODES", "Evaluation", "RepresentativeData", "evaluate", "from_keras"]

for _public in (from_keras, evaluate, Evaluation):
    _public.__module__ = "tflitekit.training"

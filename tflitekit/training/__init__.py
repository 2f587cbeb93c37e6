"""The thin Keras adapter: what an embedded-ML engineer otherwise writes in every notebook.

:func:`from_keras` converts a Keras model with TensorFlow's TFLite converter, set up for a
quantization mode and an interface (representative dataset, supported operators, I/O types,
optionally our :func:`~tflitekit.passes.strip_float_io`), into a tflitekit
:class:`~tflitekit.Model`. :func:`evaluate` scores a classifier on tflitekit's batched
interpreter (accuracy, confusion matrix, per-class precision / recall / F1, agreement with
another model), fanned out through any :class:`concurrent.futures.Executor`; it needs no
TensorFlow. :func:`cluster_weights` and :func:`fine_tune` are cluster-preserving fine-tuning
as TensorFlow Model Optimization does it, on today's Keras: each kernel k-means++-clustered, then
trained with its weights shared, so the int8 model keeps at most k values per tensor (or
channel) and the codecs store it losslessly in look-up tables.

TensorFlow is an optional extra (``pip install "tflitekit[train]"``), imported only when a
function needs it; without it those functions raise :class:`~tflitekit.RuntimeUnavailable`.
"""

from __future__ import annotations

from .clustering import CLUSTERED_LAYERS, Clustered, ClusteredKernel, cluster_weights, fine_tune
from .convert import IO_TYPES, MODES, RepresentativeData, from_keras, load_keras
from .evaluate import Evaluation, evaluate

__all__ = ["CLUSTERED_LAYERS", "IO_TYPES", "MODES", "Clustered", "ClusteredKernel", "Evaluation",
           "RepresentativeData", "cluster_weights", "evaluate", "fine_tune", "from_keras",
           "load_keras"]

for _public in (from_keras, load_keras, evaluate, Evaluation, cluster_weights, fine_tune,
                Clustered, ClusteredKernel):
    _public.__module__ = "tflitekit.training"

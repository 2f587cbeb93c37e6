"""The thin Keras adapter: what an embedded-ML engineer otherwise writes in every notebook.

:func:`from_keras` converts a Keras model with TensorFlow's TFLite converter, set up for a
quantization mode and an interface (representative dataset, supported operators, I/O types,
optionally our :func:`~tflitekit.passes.strip_float_io`), into a tflitekit
:class:`~tflitekit.Model`.

TensorFlow is an optional extra (``pip install "tflitekit[train]"``), imported only when a
function needs it; without it those functions raise :class:`~tflitekit.RuntimeUnavailable`.
"""

from __future__ import annotations

from .convert import IO_TYPES, MODES, RepresentativeData, from_keras

__all__ = ["IO_TYPES", "MODES", "RepresentativeData", "from_keras"]

from_keras.__module__ = "tflitekit.training"

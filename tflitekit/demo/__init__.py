"""``tflitekit demo``: the whole product on a model that ships inside the package.

The bundled model (``digits_dscnn.tflite``, a small depthwise-separable CNN on scikit-learn's
digits, int8 with the float interface the converter leaves; its test images in
``samples.npz``; both made by ``scripts/make_demo_model.py``, see ``README.md`` here) goes
through :data:`STEPS`:

1. summary: MACs, ROM, TFLite Micro's arena (:func:`tflitekit.analysis.summary`);
2. optimize and strip the float interface (:func:`tflitekit.passes.optimize`);
3. compress: per weight tensor the smallest k-means clustering that keeps the top-1 agreement
   with the optimized model within :data:`MAX_DROP` points
   (:func:`tflitekit.passes.compress_plan.search_bits`), stored as TFLite Micro's
   ``TFLM_DECODE`` lookup tables;
4. bit-exactness: the compressed model's outputs equal the decompressed model's in tflitekit's
   interpreter, and TFLite Micro's on the compressed file when it is installed;
5. XS3: the instruction profile and the per-layer comparison with TFLite of the compressed
   model run as xcore.ai would (:mod:`tflitekit.xs3`);
6. a self-contained HTML report, written with both models into the output directory.

:func:`run` returns a :class:`Demo`. TensorFlow is not needed.
"""

from __future__ import annotations

from .steps import MAX_DROP, MODEL, OUTPUT, SAMPLES, STEPS, BitExact, Demo, Figures, run
from .tables import FIGURES, figure_rows

__all__ = ["FIGURES", "MAX_DROP", "MODEL", "OUTPUT", "SAMPLES", "STEPS", "BitExact", "Demo",
           "Figures", "figure_rows", "run"]

for _public in (BitExact, Demo, Figures, run, figure_rows):
    _public.__module__ = "tflitekit.demo"

#!/usr/bin/env python3
"""Train the one-layer digits classifier of ``examples/xs3_digits.py`` and convert it.

scikit-learn's digits (1,797 8x8 images of handwritten digits, pixel values 0..16), inputs
scaled to [0, 1] as float32, split into :data:`TEST_SIZE` test and the rest training images
(stratified, ``random_state=SEED``); a dense layer 64 -> 10 with softmax, trained with Adam
on the training set with seeded weights, shuffling and deterministic ops. Two conversions:

- ``digits_float.tflite``: float32 throughout (FULLY_CONNECTED, SOFTMAX);
- ``digits_int8.tflite``: full-integer int8 (weights per channel as the converter makes them,
  activations int8), the float input and output kept as the converter leaves them, i.e. a
  QUANTIZE before and a DEQUANTIZE after the int8 operators; the representative dataset is the
  whole training set.

Both conversions go through :func:`tflitekit.training.from_keras`.

Usage::

    python scripts/make_digits_model.py [--out DIR]

``DIR`` defaults to ``examples/data``. Needs TensorFlow and scikit-learn (exits 1 without).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED = 0
TEST_SIZE = 360
EPOCHS = 150
BATCH = 32


def digits_split() -> tuple[Any, Any, Any, Any]:
    """``(x_train, x_test, y_train, y_test)``: digits scaled to [0, 1] (float32), the split of
    the module docstring."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    split: list[Any] = train_test_split(x, digits.target, test_size=TEST_SIZE,
                                        random_state=SEED, stratify=digits.target)
    return split[0], split[1], split[2], split[3]


def train(tf: Any, x: Any, y: Any) -> Any:
    """The dense softmax classifier trained on ``(x, y)``, deterministically."""
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    model = tf.keras.Sequential([tf.keras.Input((64,), name="image"),
                                 tf.keras.layers.Dense(10, activation="softmax", name="dense")],
                                name="digits")
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, verbose=0)
    return model


def convert(model: Any, representative: Any | None) -> bytes:
    """``model`` as a float TFLite model, or a full-integer one calibrated on
    ``representative`` (float interface kept), by :func:`tflitekit.training.from_keras`."""
    from tflitekit.training import from_keras

    if representative is None:
        return from_keras(model, mode="float").to_bytes()
    return from_keras(model, representative_data=representative, mode="int8").to_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "examples" / "data")
    args = parser.parse_args(argv)
    try:
        import tensorflow as tf
    except ImportError as exc:
        print(f"make_digits_model: needs TensorFlow ({exc})", file=sys.stderr)
        return 1
    x_train, x_test, y_train, y_test = digits_split()
    model = train(tf, x_train, y_train)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"TensorFlow {tf.__version__}: Keras test accuracy {accuracy:.4f} "
          f"({len(x_train)} train, {len(x_test)} test images)")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in (("digits_float", convert(model, None)),
                       ("digits_int8", convert(model, x_train))):
        path = args.out / f"{name}.tflite"
        path.write_bytes(data)
        print(f"wrote {path} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

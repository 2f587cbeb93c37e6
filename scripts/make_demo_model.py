#!/usr/bin/env python3
"""Train the model ``tflitekit demo`` runs and write it, with its samples, into the package.

A small keyword-spotting-style depthwise-separable CNN (DS-CNN) on scikit-learn's digits seen
as 8x8x1 images, split as ``scripts/make_digits_model.py`` splits them (its
:func:`digits_split`): a 3x3 convolution, two depthwise-separable blocks (3x3 depthwise, 1x1
pointwise; the second depthwise with stride 2), a 4x4 average pool and a dense softmax layer,
each convolution with batch normalisation folded in by the converter and ReLU. Trained with Adam
with seeded weights, shuffling and deterministic ops; converted by
:func:`tflitekit.training.from_keras` to full-integer int8 (weights per channel, activations
int8) calibrated on the whole training set, the float input and output kept as the converter
leaves them (a QUANTIZE before and a DEQUANTIZE after the int8 operators).

Writes into ``DIR`` (default ``tflitekit/demo``):

- ``digits_dscnn.tflite``: the model;
- ``samples.npz``: the test split, ``x`` (float32 in [0, 1], shaped ``[N, 8, 8, 1]`` as the
  model's input) and ``y`` (int64 labels).

Usage::

    python scripts/make_demo_model.py [--out DIR]

Needs TensorFlow and scikit-learn (exits 1 without).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_digits_model import SEED, digits_split  # a sibling script

REPO = Path(__file__).resolve().parent.parent
MODEL = "digits_dscnn.tflite"
SAMPLES = "samples.npz"
EPOCHS = 40
BATCH = 32


def build(tf: Any) -> Any:
    """The DS-CNN, untrained (weights drawn from the seeded generator)."""
    layers = tf.keras.layers

    def conv(x: Any, kind: Any, name: str, **kwargs: Any) -> Any:
        x = kind(name=name, use_bias=False, padding="same", **kwargs)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    image = tf.keras.Input((8, 8, 1), name="image")
    x = conv(image, layers.Conv2D, "conv", filters=16, kernel_size=3)
    x = conv(x, layers.DepthwiseConv2D, "dw1", kernel_size=3)
    x = conv(x, layers.Conv2D, "pw1", filters=48, kernel_size=1)
    x = conv(x, layers.DepthwiseConv2D, "dw2", kernel_size=3, strides=2)
    x = conv(x, layers.Conv2D, "pw2", filters=64, kernel_size=1)
    x = layers.AveragePooling2D(4, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(10, activation="softmax", name="dense")(x)
    return tf.keras.Model(image, out, name="digits_dscnn")


def train(tf: Any, x: Any, y: Any) -> Any:
    """The DS-CNN trained on ``(x, y)``, deterministically."""
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    model = build(tf)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, verbose=0)
    return model


def convert(model: Any, representative: Any) -> bytes:
    """``model`` as full-integer int8 TFLite calibrated on ``representative``, float
    interface kept (:func:`tflitekit.training.from_keras`)."""
    from tflitekit.training import from_keras

    return from_keras(model, representative_data=representative, mode="int8",
                      io="float").to_bytes()


def samples_npz(x: Any, y: Any) -> bytes:
    """``x`` and ``y`` as an uncompressed ``.npz`` (the same bytes for the same arrays)."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tflitekit" / "demo")
    args = parser.parse_args(argv)
    try:
        import numpy as np
        import tensorflow as tf
    except ImportError as exc:
        print(f"make_demo_model: needs TensorFlow ({exc})", file=sys.stderr)
        return 1
    x_train, x_test, y_train, y_test = digits_split()
    x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)
    model = train(tf, x_train, y_train)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"TensorFlow {tf.__version__}: Keras test accuracy {accuracy:.4f} "
          f"({len(x_train)} train, {len(x_test)} test images, "
          f"{model.count_params():,} parameters)")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in ((MODEL, convert(model, x_train)),
                       (SAMPLES, samples_npz(x_test, np.asarray(y_test, np.int64)))):
        path = args.out / name
        path.write_bytes(data)
        print(f"wrote {path} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

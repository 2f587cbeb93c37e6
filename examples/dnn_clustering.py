"""The ML-Zoo "DNN small" recipe: train, cluster with fine-tuning, quantize, LUT-compress.

    python examples/dnn_clustering.py [-o DIR]

1. scikit-learn's digits (8x8 images as 64 inputs in [0, 1]; the split of
   ``scripts/make_digits_model.py``), a DNN of three Dense(128, relu) layers and a Dense(10)
   softmax, trained a few epochs, seeded and deterministic.
2. Every kernel clustered to 32 values (k-means++) and the model fine-tuned with the weights
   shared (``tflitekit.training.clustering``: what TensorFlow Model Optimization does for
   Keras 2, here on Keras 3), so each kernel keeps at most 32 distinct values.
3. Post-training int8 quantization (``tflitekit.training.from_keras``, calibrated on the
   training images, float interface), one scale per weight tensor (``per_channel=False``): each
   weight tensor still has at most 32 values, so one 32-entry table stores it.
4. Accuracy of the float, clustered, fine-tuned and int8 models (the int8 one on tflitekit's
   interpreter, ``tflitekit.training.evaluate``), and the distinct values of every kernel.
5. The int8 model LUT-compressed losslessly to 5-bit indices in TFLite Micro's ``TFLM_DECODE``
   form (``tflitekit.passes.compress_weights``), its sizes before and after; it runs on
   tflitekit's interpreter and on TFLite Micro (when installed) with outputs equal to the
   uncompressed model's.

``-o DIR`` keeps ``dnn_int8.tflite`` and ``dnn_int8_lut.tflite``; without it they go to a
temporary directory removed at the end. Needs TensorFlow (``pip install "tflitekit[train]"``)
and scikit-learn; TFLite Micro (``pip install tflite-micro``) is optional. About half a minute on
two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import tflitekit
from tflitekit.codecs.metrics import model_inputs
from tflitekit.passes import compress_weights
from tflitekit.passes.compress_weights import compressed_tensors
from tflitekit.runtimes import RuntimeUnavailable, run_tflm
from tflitekit.training import cluster_weights, evaluate, fine_tune, from_keras

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
SEED = 0
EPOCHS, BATCH, LEARNING_RATE = 10, 32, 1e-3
CLUSTERS, TUNE_EPOCHS, TUNE_RATE = 32, 3, 1e-4
LOSS = "sparse_categorical_crossentropy"
LUT_BITS = 5  # 32 values per channel


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_test, y_train, y_test)`` of scripts/make_digits_model.py."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        from make_digits_model import digits_split
        split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = digits_split()
    except ImportError:
        sys.exit("dnn_clustering.py needs scikit-learn (pip install scikit-learn)")
    return split


def tensorflow() -> Any:
    """TensorFlow, quiet, seeded and deterministic."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        sys.exit('dnn_clustering.py needs TensorFlow (pip install "tflitekit[train]")')
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    return tf


def dnn_small(tf: Any) -> Any:
    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((64,), name="image"),
        *(layers.Dense(128, activation="relu", name=f"fc{i}") for i in (1, 2, 3)),
        layers.Dense(10, activation="softmax", name="scores"),
    ], name="dnn_small")


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """A Keras model's test accuracy, in percent."""
    model.compile(loss=LOSS, metrics=["accuracy"])
    return 100 * float(model.evaluate(x, y, verbose=0)[1])


def most_per_channel(tensor: tflitekit.Tensor) -> int:
    """The most distinct values of one channel of an int8 weight tensor (its quantized
    dimension; the whole tensor when quantized per tensor)."""
    q, values = tensor.quantization, tensor.data
    if q is None or q.scale is None or q.scale.size < 2:
        return len(np.unique(values))
    rows = np.moveaxis(values, q.quantized_dimension, 0).reshape(q.scale.size, -1)
    return max(len(np.unique(row)) for row in rows)


def distinct_table(keras_models: dict[str, Any], int8: tflitekit.Model) -> str:
    """Distinct values of each kernel: float, clustered, fine-tuned (Keras) and int8 (per tensor
    and the most of a channel)."""
    weights = [op.inputs[1] for op in int8.operators()
               if op.opcode.name == "FULLY_CONNECTED" and op.inputs[1] is not None]
    names = list(keras_models)
    lines = ["distinct values per weight tensor:",
             f"  {'layer':<7} {'shape':<8}" + "".join(f"{n:>11}" for n in names)
             + "   int8 (tensor / most in a channel)"]
    kernels = [[layer.kernel.numpy() for layer in m.layers] for m in keras_models.values()]
    for i, layer in enumerate(next(iter(keras_models.values())).layers):
        shape = "x".join(map(str, kernels[0][i].shape))
        lines.append(f"  {layer.name:<7} {shape:<8}"
                     + "".join(f"{len(np.unique(k[i])):>11}" for k in kernels)
                     + f"   {len(np.unique(weights[i].data)):>4} / {most_per_channel(weights[i])}")
    return "\n".join(lines)


def on_tflm(compressed: bytes, x: np.ndarray, ours: np.ndarray) -> None:
    try:
        theirs = run_tflm(compressed, [x])[0].reshape(ours.shape)
    except RuntimeUnavailable:
        print("TFLite Micro: not installed (pip install tflite-micro); compressed model not run")
        return
    print(f"TFLite Micro, compressed model: {int(np.sum(theirs == ours))} of {ours.size} output "
          f"elements equal to tflitekit's on the int8 model ({len(ours)} images)")


def run(out: Path) -> None:
    x_train, x_test, y_train, y_test = digits()
    tf = tensorflow()
    print(f"digits: {len(x_train):,} training and {len(x_test)} test images of 64 pixels")
    model = dnn_small(tf)
    model.compile(tf.keras.optimizers.Adam(LEARNING_RATE), LOSS)
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    print(f"trained {model.count_params():,} parameters for {EPOCHS} epochs in "
          f"{time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    clustered = cluster_weights(model, CLUSTERS, seed=SEED)
    tuned = fine_tune(clustered, x_train, y_train, loss=LOSS, epochs=TUNE_EPOCHS,
                      batch_size=BATCH, learning_rate=TUNE_RATE, seed=SEED)
    print(f"clustered every kernel to {CLUSTERS} values (k-means++) and fine-tuned "
          f"{TUNE_EPOCHS} epochs in {time.perf_counter() - start:.1f} s")
    int8 = from_keras(tuned, representative_data=x_train, mode="int8", per_channel=False)
    result = evaluate(int8, x_test, y_test)
    keras_models = {"float": model, "clustered": clustered.model, "fine-tuned": tuned}
    print("test accuracy: " + ", ".join(f"{name} {accuracy(m, x_test, y_test):.2f} %"
                                         for name, m in keras_models.items())
          + f", int8 {result.accuracy:.2f} % (tflitekit's interpreter)")
    print(distinct_table(keras_models, int8))

    int8_path, lut_path = out / "dnn_int8.tflite", out / "dnn_int8_lut.tflite"
    int8.save(int8_path)
    compressed = compress_weights(int8.copy(), codec="lut", bits=LUT_BITS)
    compressed.save(lut_path)
    tensors = compressed_tensors(compressed)
    before, after = (sum(t.bytes_before for t in tensors), sum(t.bytes_after for t in tensors))
    print(f"int8 model {int8_path} ({int8_path.stat().st_size:,} bytes) -> LUT-compressed, "
          f"{LUT_BITS}-bit indices (TFLM_DECODE): {lut_path} ({lut_path.stat().st_size:,} bytes); "
          f"{len(tensors)} weight tensors {before:,} -> {after:,} bytes with their tables "
          f"(one table of {CLUSTERS} values each: quantized per tensor)")
    inputs = list(model_inputs(int8, x_test))
    ours = tflitekit.Interpreter(int8).run(inputs)[0]
    decoded = tflitekit.Interpreter(compressed).run(inputs)[0]
    print(f"tflitekit, compressed model: {int(np.sum(decoded == ours))} of {ours.size} output "
          f"elements equal to the int8 model's")
    on_tflm(lut_path.read_bytes(), inputs[0], ours)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, help="directory to keep the models in")
    args = parser.parse_args(argv)
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        run(args.output)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

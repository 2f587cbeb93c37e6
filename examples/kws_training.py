"""Keyword spotting, from training to the microcontroller: the flow of a KWS training notebook.

    python examples/kws_training.py [--data auto|espeak|synthetic] [--epochs 8] [-o DIR]

1. Data. ``espeak``: the labelled micro_speech features ``kws_espeak_dev.npz`` (1,960 clips of
   49 frames x 40 channels from TFLite Micro's micro-frontend; classes yes, no, _unknown_,
   _silence_; see ``tflitekit.testing.data_dir()``), split seeded and stratified into 75 %
   training and 25 % test clips. ``synthetic``: spectrogram-like clips made here
   (:func:`synthetic_data`). ``auto`` (the default) takes the first when the file is present.
2. A small DS-CNN in Keras (conv -> depthwise conv -> pointwise conv, each with batch norm and
   ReLU, average pool, dense softmax), trained a few epochs, seeded and deterministic.
3. Converted with ``tflitekit.training.from_keras`` twice: float32, and int8 with an int8
   interface (activations calibrated on training clips); ``tflitekit.passes.optimize`` folds
   the shape computation the converter writes for Keras' dynamic batch.
4. Both models run on tflitekit's interpreter and on TensorFlow Lite Micro: the int8 outputs
   must be equal element for element, the float ones give the same predictions.
5. Accuracy of Keras, the float and the int8 model on the test clips, and the int8 model's
   confusion matrix and per-class precision / recall / F1 (``tflitekit.training.evaluate``).
6. What each model costs on a microcontroller (``tflitekit.analysis.summary``): MACs per layer
   and in total, ROM (the file and its weights) and RAM on a 32-bit microcontroller: best case
   the arena TFLite Micro allocates (its greedy planner reusing activation memory), worst case
   every activation in its own space; and the activations' own peak (what any plan needs).

``-o DIR`` keeps the two models (``kws_float.tflite``, ``kws_int8.tflite``); without it they go
to a temporary directory that is removed at the end. Needs TensorFlow
(``pip install "tflitekit[train]"``); TFLite Micro (``pip install tflite-micro``) is optional.
About a minute on two cores, most of it training.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tflitekit
from tflitekit.analysis.summary import Summary, summary
from tflitekit.codecs.metrics import model_inputs
from tflitekit.passes import optimize
from tflitekit.runtimes import RuntimeUnavailable, run_tflm
from tflitekit.testing import data_dir
from tflitekit.training import evaluate, from_keras

SEED = 0
DATA_FILE = "kws_espeak_dev.npz"
TEST_FRACTION = 0.25
FRAMES, CHANNELS = 49, 40  # micro_speech's spectrogram: 49 frames of 40 channels
CALIBRATION_CLIPS = 200
BATCH, LEARNING_RATE = 32, 1e-2  # the rate decays to 0 over the training (cosine)


@dataclass(frozen=True)
class Dataset:
    """Clips ``[N, 49, 40, 1]`` as float32 in [-1, 1) and integer labels, split in two."""

    name: str
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a training and a test set; ``fraction`` of each class (rounded) goes to the
    test set, drawn by a generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test.append(members[:round(fraction * len(members))])
    is_test = np.zeros(len(y), bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def split(name: str, classes: tuple[str, ...], x: np.ndarray, y: np.ndarray) -> Dataset:
    train, test = stratified_split(y, TEST_FRACTION, SEED)
    x = x.reshape(len(x), FRAMES, CHANNELS, 1).astype(np.float32)
    return Dataset(name, classes, x[train], y[train], x[test], y[test])


def espeak_data(path: Path) -> Dataset:
    """The micro_speech features (int8 from the micro-frontend), scaled by 1/128 to [-1, 1)."""
    with np.load(path) as data:
        x, y, classes = data["x"], data["y"].astype(np.int64), data["classes"]
    return split(f"micro_speech espeak features ({path.name})", tuple(map(str, classes)),
                 x.astype(np.float32) / 128, y)


SYNTHETIC_CLASSES = ("low", "high", "rising", "_silence_")


def synthetic_data(per_class: int = 300, seed: int = SEED) -> Dataset:
    """Spectrogram-like clips whose class is the shape of a time-frequency band.

    Every clip is a noisy floor (-0.8, Gaussian noise of 0.15) with, except in ``_silence_``,
    one "word": a burst of 12 to 30 frames at a random start whose energy (0.9 to 1.5 above the
    floor) lies in a Gaussian band 2 to 4 channels wide. The band sits near channel 8 in
    ``low``, near channel 30 in ``high``, and sweeps from about 6 to about 32 over the burst in
    ``rising``. ``per_class`` clips of each class, drawn from a generator seeded with ``seed``.
    """
    rng = np.random.default_rng(seed)
    n = per_class * len(SYNTHETIC_CLASSES)
    y = np.repeat(np.arange(len(SYNTHETIC_CLASSES)), per_class)
    x = -0.8 + 0.15 * rng.standard_normal((n, FRAMES, CHANNELS))
    frames, channels = np.arange(FRAMES)[:, None], np.arange(CHANNELS)[None, :]
    for i, label in enumerate(y):
        name = SYNTHETIC_CLASSES[label]
        if name == "_silence_":
            continue
        length = rng.integers(12, 31)
        start = rng.integers(0, FRAMES - length + 1)
        progress = np.clip((frames - start) / length, 0, 1)
        centre = {"low": 8 + rng.normal(0, 1.5), "high": 30 + rng.normal(0, 1.5),
                  "rising": 6 + rng.normal(0, 1) + 26 * progress}[name]
        band = np.exp(-0.5 * ((channels - centre) / rng.uniform(2, 4)) ** 2)
        burst = (frames >= start) & (frames < start + length)
        x[i] += rng.uniform(0.9, 1.5) * band * burst
    return split(f"synthetic bands ({per_class} clips per class, seed {seed})",
                 SYNTHETIC_CLASSES, np.clip(x, -1, 127 / 128), y)


def load_data(choice: str) -> Dataset:
    path = data_dir() / DATA_FILE
    if choice == "espeak" and not path.is_file():
        sys.exit(f"kws_training: no {path} (set TFLITEKIT_DATA, or use --data synthetic)")
    if choice == "synthetic" or not path.is_file():
        return synthetic_data()
    return espeak_data(path)


# ------------------------------------------------------------------------------------------------
# Keras
# ------------------------------------------------------------------------------------------------


def tensorflow() -> Any:
    """TensorFlow, quiet, seeded and deterministic."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        sys.exit('kws_training.py needs TensorFlow (pip install "tflitekit[train]")')
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    return tf


def ds_cnn(tf: Any, classes: int) -> Any:
    """A small depthwise-separable CNN for ``[49, 40, 1]`` spectrograms."""
    layers = tf.keras.layers

    def normalised(layer: Any) -> list[Any]:
        return [layer, layers.BatchNormalization(momentum=0.9), layers.ReLU()]

    return tf.keras.Sequential([
        tf.keras.Input((FRAMES, CHANNELS, 1), name="spectrogram"),
        *normalised(layers.Conv2D(8, (10, 4), strides=2, padding="same", use_bias=False)),
        *normalised(layers.DepthwiseConv2D(3, padding="same", use_bias=False)),
        *normalised(layers.Conv2D(16, 1, use_bias=False)),
        layers.AveragePooling2D((25, 20)),
        layers.Flatten(),
        layers.Dense(classes, activation="softmax", name="scores"),
    ], name="ds_cnn")


def train(tf: Any, data: Dataset, epochs: int) -> Any:
    model = ds_cnn(tf, len(data.classes))
    steps = epochs * -(-len(data.x_train) // BATCH)
    rate = tf.keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)
    model.compile(optimizer=tf.keras.optimizers.Adam(rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=BATCH, verbose=0)
    loss, accuracy = history.history["loss"][-1], history.history["accuracy"][-1]
    print(f"trained {model.count_params():,} parameters for {epochs} epochs in "
          f"{time.perf_counter() - start:.1f} s: loss {loss:.4f}, training accuracy "
          f"{100 * accuracy:.2f}%")
    return model


# ------------------------------------------------------------------------------------------------
# The converted models
# ------------------------------------------------------------------------------------------------


def on_tflm(name: str, model: tflitekit.Model, x: np.ndarray, ours: np.ndarray) -> None:
    """Run ``model`` on TFLite Micro and compare with tflitekit's interpreter's ``ours``."""
    try:
        theirs = run_tflm(model.to_bytes(), list(model_inputs(model, x)))[0]
    except RuntimeUnavailable:
        print(f"TFLite Micro: not installed (pip install tflite-micro); {name} model not run")
        return
    theirs = theirs.reshape(ours.shape)
    if ours.dtype.kind == "f":
        same = int(np.sum(ours.argmax(-1) == theirs.argmax(-1)))
        print(f"TFLite Micro, {name}: the same predictions on {same} of {len(x)} clips "
              f"(scores differ by at most {np.abs(ours - theirs).max():.2e})")
    else:
        equal = int(np.sum(ours == theirs))
        print(f"TFLite Micro, {name}: {equal} of {ours.size} output elements equal to "
              f"tflitekit's ({len(x)} clips)")


def costs_text(summaries: dict[str, Summary]) -> str:
    """MACs per layer (the int8 model's operators; the float model has the same), then the
    totals, ROM and RAM (best and worst case on a 32-bit microcontroller) of every model."""
    int8 = summaries["int8"]
    rows = [f"  {layer.index:>2}  {layer.opcode:<18} "
            f"{'x'.join(map(str, layer.outputs[0].shape or ())):<12} {layer.macs:>9,}"
            for layer in int8.layers]
    names = list(summaries)
    facts = {
        "MACs": [s.total_macs for s in summaries.values()],
        "ROM (the file)": [s.rom.file_bytes for s in summaries.values()],
        "  weights": [s.rom.weights_bytes for s in summaries.values()],
        "RAM best case (TFLM arena)": [s.ram_best_bytes for s in summaries.values()],
        "RAM worst case (no reuse)": [s.ram_worst_bytes for s in summaries.values()],
        "activations' peak live set": [s.memory.peak_live_bytes for s in summaries.values()],
    }
    return "\n".join([
        "per layer (int8 model):", f"   #  {'operator':<18} {'output':<12} {'MACs':>9}", *rows,
        f"{'':<30}" + "".join(f"{n:>10}" for n in names),
        *(f"{what:<30}" + "".join(f"{v:>10,}" for v in values)
          for what, values in facts.items())])


def convert(keras_model: Any, data: Dataset) -> dict[str, tflitekit.Model]:
    """The float and the int8 model (int8 interface), each through ``optimize``: it folds the
    shape computation the converter writes for Keras' dynamic batch and prunes it."""
    models = {
        "float": from_keras(keras_model, mode="float"),
        "int8": from_keras(keras_model, mode="int8", io="int8",
                           representative_data=data.x_train[:CALIBRATION_CLIPS]),
    }
    for name, model in models.items():
        before, size = len(model.main.operators), len(model.to_bytes())
        optimize(model)
        print(f"{name}: from_keras gave {before} operators, {size:,} bytes; optimize left "
              f"{len(model.main.operators)} operators, {len(model.to_bytes()):,} bytes")
    return models


def run(data: Dataset, epochs: int, out: Path) -> None:
    tf = tensorflow()
    print(f"data: {data.name}; classes {', '.join(data.classes)}; "
          f"{len(data.x_train):,} training and {len(data.x_test):,} test clips")
    keras_model = train(tf, data, epochs)
    _, keras_accuracy = keras_model.evaluate(data.x_test, data.y_test, verbose=0)
    print(f"Keras test accuracy: {100 * keras_accuracy:.2f}%")
    models = convert(keras_model, data)
    for name, model in models.items():
        path = out / f"kws_{name}.tflite"
        model.save(path)
        ours = tflitekit.Interpreter(model).run(list(model_inputs(model, data.x_test)))[0]
        accuracy = 100 * np.mean(ours.argmax(-1) == data.y_test)
        print(f"{name} model: {path} ({path.stat().st_size:,} bytes), interface "
              + ", ".join(t.dtype.name for t in (*model.main.inputs, *model.main.outputs))
              + f"; test accuracy {accuracy:.2f}% on tflitekit's interpreter")
        on_tflm(name, model, data.x_test, ours)
    result = evaluate(models["int8"], data.x_test, data.y_test, reference=models["float"],
                      classes=data.classes)
    print(f"int8 model on the test clips: {result}")
    print(costs_text({name: summary(model, out / f"kws_{name}.tflite", target="target32")
                      for name, model in models.items()}))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("auto", "espeak", "synthetic"), default="auto",
                        help="the micro_speech features, synthetic clips, or the first present")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    parser.add_argument("-o", "--output", type=Path, help="directory to keep the models in")
    args = parser.parse_args(argv)
    data = load_data(args.data)
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        run(data, args.epochs, args.output)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(data, args.epochs, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

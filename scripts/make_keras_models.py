#!/usr/bin/env python3
"""Build small Keras models of our own and convert them with the TFLite converter.

The models feed the interpreter's conformance tests (the corpus tier): every
:data:`ARCHITECTURES` entry is converted in every :data:`VARIANTS` entry, so the test files cover
what the converter emits for float, dynamic-range (hybrid), float16-weight, int8 and 16x8
models. TensorFlow is an optional extra of tflitekit (``pip install "tflitekit[train]"``), never
a core dependency; this script imports it lazily.

Usage::

    python scripts/make_keras_models.py [--out DIR] [NAME ...]

``DIR`` defaults to ``$TFLITEKIT_CORPUS/keras``, else ``~/.cache/tflitekit/corpus/keras``.
NAMEs are ``ARCH_VARIANT`` stems (default: all of :func:`model_names`). Weights, biases and the
representative datasets come from RNGs seeded per architecture, so a TensorFlow version always
gives the same files; files are named ``ARCH_VARIANT.tflite`` (``cnn_int8.tflite``).
``DIR/manifest.json`` records the TensorFlow version, each file's size, SHA-256 and operators,
and each variant the converter refused, with its reason (those are printed and skipped).
Exits 1 when TensorFlow is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tflitekit.testing import corpus_dir

ARCHITECTURES: dict[str, str] = {
    "mlp": "dense layers with relu, tanh and softmax",
    "cnn": "conv with add, mul, logistic, concatenation, average and max pools, mean",
    "dscnn": "depthwise-separable convs (depth multipliers 1 and 2), average pool, dense",
    "lstm": "unrolled LSTM: shape/fill initial state, unpack, split, logistic, tanh",
    "padtr": "pad, transpose, leaky relu, hard swish, maximum/minimum, pad with a value",
    "autoenc": "strided conv, transpose conv, nearest and bilinear resize",
}
VARIANTS: dict[str, str] = {
    "float": "float32",
    "dynamic": "dynamic range: int8 weights, float activations (hybrid operators)",
    "float16": "float16 weights dequantized at load",
    "int8_float_io": "full int8 with float input and output",
    "int8": "full int8 with int8 input and output",
    "16x8": "int16 activations, int8 weights, float input and output",
}
MANIFEST_VERSION = 1
SEED = 2024
CALIBRATION_SAMPLES = 32


class MissingTensorFlow(Exception):
    """TensorFlow is not installed."""


def model_names() -> list[str]:
    """Every ``ARCH_VARIANT`` stem, in build order."""
    return [f"{arch}_{variant}" for arch in ARCHITECTURES for variant in VARIANTS]


def default_dir() -> Path:
    """``keras/`` in the corpus directory (``$TFLITEKIT_CORPUS``, else
    ``~/.cache/tflitekit/corpus``)."""
    return corpus_dir() / "keras"


def _tensorflow() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise MissingTensorFlow(f"TensorFlow is not installed ({exc}); "
                                'pip install "tflitekit[train]"') from None
    return tf


# ------------------------------------------------------------------------------------------------
# Architectures: each returns an uncompiled Keras model with a dynamic batch
# ------------------------------------------------------------------------------------------------


def _mlp(k: Any) -> Any:
    x = k.Input((40,))
    h = k.layers.Dense(32, activation="relu")(x)  # 1,280 weights: quantized by dynamic range
    h = k.layers.Dense(24, activation="tanh")(h)
    y = k.layers.Dense(6, activation="softmax")(h)
    return k.Model(x, y)


def _cnn(k: Any) -> Any:
    L = k.layers
    x = k.Input((12, 12, 3))
    c = L.Conv2D(16, 3, padding="same", activation="relu")(x)
    a = L.Conv2D(16, 3, padding="same")(c)  # 2,304 weights
    gate = L.Conv2D(16, 1, activation="sigmoid")(c)
    s = L.Add()([a, c])
    m = L.Multiply()([s, gate])
    cat = L.Concatenate()([m, c])
    avg = L.AveragePooling2D(2)(cat)
    mx = L.MaxPooling2D(3, strides=2, padding="same")(cat)
    both = L.Concatenate()([avg, mx])
    pooled = L.GlobalAveragePooling2D()(both)
    y = L.Dense(5, activation="softmax")(pooled)
    return k.Model(x, y)


def _dscnn(k: Any) -> Any:
    L = k.layers
    x = k.Input((20, 10, 1))
    h = L.Conv2D(32, (5, 3), strides=2, padding="same", activation="relu")(x)
    h = L.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = L.Conv2D(32, 1, activation="relu")(h)  # 1,024 weights
    h = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid",
                          activation="relu6")(h)
    h = L.Conv2D(32, 1, activation="relu")(h)
    h = L.AveragePooling2D(h.shape[1:3])(h)
    h = L.Flatten()(h)
    y = L.Dense(4, activation="softmax")(h)
    return k.Model(x, y)


def _lstm(k: Any) -> Any:
    x = k.Input((8, 6))
    h = k.layers.LSTM(16, unroll=True)(x)  # recurrent kernel 16x64 = 1,024 weights
    y = k.layers.Dense(4)(h)
    return k.Model(x, y)


def _padtr(k: Any) -> Any:
    L, ops = k.layers, k.ops
    x = k.Input((6, 8, 4))
    h = L.ZeroPadding2D(((1, 0), (2, 1)))(x)
    h = L.Conv2D(32, 3, activation=None)(h)  # 1,152 weights
    h = L.LeakyReLU(negative_slope=0.2)(h)
    h = L.Permute((2, 1, 3))(h)
    h = L.Activation("hard_swish")(h)
    h = L.Lambda(lambda t: ops.minimum(ops.maximum(t, -0.5), 1.5))(h)
    h = L.Lambda(lambda t: ops.pad(t, [[0, 0], [1, 1], [0, 0], [0, 2]], constant_values=0.25))(h)
    h = L.Reshape((-1, 34))(h)
    y = L.Dense(3)(L.Flatten()(h))
    return k.Model(x, y)


def _autoenc(k: Any) -> Any:
    L = k.layers
    x = k.Input((8, 8, 2))
    h = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    h = L.Conv2D(16, 3, padding="same", activation="relu")(h)  # 2,304 weights
    h = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
    near = L.Resizing(16, 16, interpolation="nearest")(h)
    bil = L.Resizing(16, 16, interpolation="bilinear")(h)
    h = L.Concatenate()([near, bil])
    y = L.Conv2D(2, 3, padding="same")(h)
    return k.Model(x, y)


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "mlp": _mlp, "cnn": _cnn, "dscnn": _dscnn, "lstm": _lstm, "padtr": _padtr,
    "autoenc": _autoenc,
}


def _seed(arch: str) -> int:
    """The seed of ``arch``'s weights and representative dataset."""
    return SEED + list(ARCHITECTURES).index(arch)


def _build(tf: Any, arch: str) -> Any:
    """``arch`` with seeded weights; biases (zero-initialised by Keras) drawn too, so that
    every bias path is exercised."""
    import numpy as np

    seed = _seed(arch)
    tf.keras.utils.set_random_seed(seed)
    model = BUILDERS[arch](tf.keras)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = np.asarray(weight.numpy())
        if not value.any():
            weight.assign(rng.normal(0.0, 0.1, value.shape).astype(value.dtype))
    return model


# ------------------------------------------------------------------------------------------------
# Conversion
# ------------------------------------------------------------------------------------------------


def _calibration(model: Any, seed: int) -> Callable[[], Iterator[list[Any]]]:
    """A representative dataset: standard normal inputs from a seeded RNG."""
    import numpy as np

    shape = tuple(1 if d is None else int(d) for d in model.inputs[0].shape)

    def samples() -> Iterator[list[Any]]:
        rng = np.random.default_rng(seed)
        for _ in range(CALIBRATION_SAMPLES):
            yield [rng.standard_normal(shape).astype(np.float32)]

    return samples


def _frozen(tf: Any, model: Any) -> Any:
    """``model``'s inference function on a dynamic batch, its variables made constants.

    Converting this frozen function takes about a third of the time ``from_keras_model`` takes
    (which exports a SavedModel on every call) and yields the same operators."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
    function = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return convert_variables_to_constants_v2(function.get_concrete_function())


def _convert(tf: Any, model: Any, frozen: Any, variant: str, seed: int) -> bytes:
    """``model`` (traced as ``frozen``) converted in ``variant``."""
    with _quiet():  # it warns that the frozen-graph path is deprecated
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    ops = tf.lite.OpsSet
    if variant != "float":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant in ("int8_float_io", "int8", "16x8"):
        converter.representative_dataset = _calibration(model, seed)
        converter.target_spec.supported_ops = [
            ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 if variant == "16x8"
            else ops.TFLITE_BUILTINS_INT8]
    if variant == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with _quiet():
        return bytes(converter.convert())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converter, which prints its exported signature and quantization settings
    (from Python and from C++) and warns about statistics it does not need."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _operators(data: bytes) -> list[str]:
    """The distinct builtin operators of the main subgraph, in first-use order."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tflitekit import load

    names = [op.opcode.name for op in load(data).main.operators]
    return list(dict.fromkeys(names))


def make_all(out_dir: Path, names: list[str] | None = None) -> dict[str, Any]:
    """Build and convert ``names`` (default: every model) into ``out_dir``; write and return
    the manifest. Raises :class:`MissingTensorFlow` without TensorFlow."""
    wanted = model_names() if names is None else names
    unknown = sorted(set(wanted) - set(model_names()))
    if unknown:
        raise ValueError(f"unknown models {unknown}; expected ARCH_VARIANT from {model_names()}")
    tf = _tensorflow()
    out_dir.mkdir(parents=True, exist_ok=True)
    models: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for arch in ARCHITECTURES:
        variants = [v for v in VARIANTS if f"{arch}_{v}" in wanted]
        if not variants:
            continue
        model = _build(tf, arch)
        frozen = _frozen(tf, model)
        for variant in variants:
            name = f"{arch}_{variant}"
            try:
                data = _convert(tf, model, frozen, variant, _seed(arch))
            except Exception as exc:  # the converter raises many types; the reason is kept
                reason = " ".join(str(exc).split())[:300] or type(exc).__name__
                print(f"skip {name}: the converter refused it: {reason}")
                skipped.append({"name": name, "reason": reason})
                continue
            path = out_dir / f"{name}.tflite"
            path.write_bytes(data)
            models.append({"name": name, "architecture": arch, "variant": variant,
                           "file": path.name, "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest(),
                           "operators": _operators(data)})
    manifest = {"manifest_version": MANIFEST_VERSION, "tensorflow": tf.__version__,
                "seed": SEED, "models": models, "skipped": skipped}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: $TFLITEKIT_CORPUS/keras)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"ARCH_VARIANT stems (default: all {len(model_names())})")
    args = parser.parse_args(argv)
    out_dir = args.out if args.out is not None else default_dir()
    start = time.monotonic()
    try:
        manifest = make_all(out_dir, args.names or None)
    except (MissingTensorFlow, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(manifest['models'])} models written with TensorFlow {manifest['tensorflow']} "
          f"into {out_dir} ({len(manifest['skipped'])} skipped) in "
          f"{time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

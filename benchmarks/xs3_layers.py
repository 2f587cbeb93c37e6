"""The XS3 emulator on whole layers: batched vs instruction-level engine speed, instructions, cycles

Usage::

    python benchmarks/xs3_layers.py [--batch 1000] [--samples 2] [--clock 800] [--threads 1]

Layers, with their TFLite weights and quantization, each run as ``tflitekit.xs3.conv`` runs it
(``tflitekit.xs3.lower``: VLMACCR accumulation and ``XC_conv2d_v2``'s output transform,
parameters derived from the layer's quantization):

- the micro_speech model's (``TFLITEKIT_CORPUS``, default ``~/.cache/tflitekit/corpus``, file
  ``models/tflite_micro_speech.tflite``) CONV_2D (10x8, stride 2, 49x40x1 -> 25x20x8) and
  FULLY_CONNECTED (4000 -> 4); their inputs are what the interpreter computes on the dev set
  (``TFLITEKIT_DATA``, file ``kws_espeak_dev.npz``) or, without it, on random features;
- a 3x3 convolution: ``image_example1.tflite``'s third CONV_2D (11x11x16 -> 9x9x24), on
  random images.

For each layer: the instructions one sample executes (vector and scalar, the engines' counts) and
their cost under :mod:`tflitekit.xs3.estimate`'s model (``--clock`` MHz, ``--threads`` active;
one instruction per thread cycle, dual issue ignored); the share of outputs that differ from
TFLite's (the interpreter's); and the wall time per sample of the batched engine (``BatchVPU``,
one run over ``--batch`` samples) against a per-sample loop on the instruction-level engine
(``VPU``, a fresh engine and memory per sample): only the first ``--samples`` samples are run
that way (it is slow), and the ratio scales their mean time per sample. Their outputs and
instruction counts are checked equal to the batched engine's. The target is a ratio of at
least 100 on every layer.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tflitekit
from tflitekit.options import Conv2DOptions
from tflitekit.testing import corpus_dir, data_dir
from tflitekit.xs3 import VPU, BatchVPU, CycleModel, Lowered, Memory, estimate, lower


@dataclass
class Layer:
    """One layer to run on the XS3 kernels, its int8 inputs ``x`` (leading batch) and the
    interpreter's outputs for them."""

    name: str
    shape: str
    lowered: Lowered
    x: np.ndarray
    tflite: np.ndarray


def _quantization(t: tflitekit.Tensor) -> tuple[float, int]:
    q = t.quantization
    assert q is not None and q.scale is not None and q.zero_point is not None
    return float(q.scale[0]), int(q.zero_point[0])


def _run(model: tflitekit.Model, inputs: np.ndarray) -> tflitekit.Interpreter:
    interpreter = tflitekit.Interpreter(model)
    interpreter.run([inputs], keep=True)
    return interpreter


def _layer(name: str, op: tflitekit.Operator, interpreter: tflitekit.Interpreter) -> Layer:
    """``op`` lowered (``tflitekit.xs3.lower``), with its inputs and outputs as the interpreter
    computed them."""
    x_t, w_t = op.inputs[0], op.inputs[1]
    assert x_t is not None and w_t is not None and w_t.shape is not None
    x, y = interpreter.tensor(x_t), interpreter.tensor(op.outputs[0])
    if op.opcode.name == "FULLY_CONNECTED":
        shape = f"{w_t.shape[1]} -> {w_t.shape[0]}"
    else:
        opts = op.options
        assert isinstance(opts, Conv2DOptions)
        shape = (f"{'x'.join(map(str, x.shape[2:]))} -> {'x'.join(map(str, y.shape[2:]))}, "
                 f"{w_t.shape[1]}x{w_t.shape[2]}/{opts.stride_h}")
    return Layer(name, shape, lower(op), x, y)


def layers(corpus: Path, data: Path, n: int) -> list[Layer]:
    rng = np.random.default_rng(0)
    speech = tflitekit.load(corpus / "models" / "tflite_micro_speech.tflite")
    dev = data / "kws_espeak_dev.npz"
    if dev.is_file():
        features = np.load(dev)["x"][:n]
        source = f"{len(features)} dev-set feature maps"
    else:
        features = rng.integers(-128, 128, (n, 49, 40), dtype=np.int8)
        source = "random feature maps (no dev set)"
    if len(features) < n:
        features = np.concatenate([features] * -(-n // len(features)))[:n]
    run = _run(speech, features.reshape(n, 1, 49, 40, 1))
    conv_op, _, fc_op = speech.main.operators[:3]
    image = tflitekit.load(corpus / "models" / "image_example1.tflite")
    quantize = image.main.operators[0]
    scale, zero = _quantization(quantize.outputs[0])
    lo, hi = scale * (-128 - zero), scale * (127 - zero)
    images = rng.uniform(lo, hi, (n, 1, 96, 96, 1)).astype(np.float32)
    print(f"inputs: micro_speech from {source}; image_example1 from {n} random images")
    return [_layer("micro_speech CONV_2D", conv_op, run),
            _layer("micro_speech FULLY_CONNECTED", fc_op, run),
            _layer("image_example1 CONV_2D 3x3", image.main.operators[4], _run(image, images))]


def measure(layer: Layer, samples: int, model: CycleModel) -> list[str]:
    """One table row: instructions, estimate, agreement with TFLite, times and their ratio."""
    batch = len(layer.x)
    engine = BatchVPU(Memory(batch=batch))
    start = time.perf_counter()
    out = layer.lowered.run(engine, layer.x)
    batched = (time.perf_counter() - start) / batch
    start = time.perf_counter()
    for s in range(samples):
        one = VPU(Memory(batch=1))
        if not np.array_equal(layer.lowered.run(one, layer.x[s:s + 1]), out[s:s + 1]):
            sys.exit(f"benchmarks/xs3_layers.py: {layer.name}: VPU and BatchVPU differ on "
                     f"sample {s}")
    single = (time.perf_counter() - start) / samples
    cost = estimate(engine.counts, model)
    if engine.counts != one.counts:
        sys.exit(f"benchmarks/xs3_layers.py: {layer.name}: the engines counted differently")
    differ = np.mean(out != layer.tflite)
    worst = int(np.abs(out.astype(np.int32) - layer.tflite).max())
    return [layer.name, layer.shape, f"{layer.lowered.macs:,}", f"{cost.vpu:,}", f"{cost.other:,}",
            f"{cost.microseconds:,.1f}", f"{100 * differ:.2f} % (max {worst})", f"{batch}",
            f"{1e6 * batched:,.0f}", f"{1e6 * single:,.0f} ({samples})", f"{single / batched:.0f}x"]


HEADER = ["layer", "shape", "MACs", "VPU instr", "scalar instr", "est. us",
          "differ from TFLite", "batch", "BatchVPU us/sample", "VPU us/sample (n)", "ratio"]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [HEADER, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="samples run on BatchVPU")
    parser.add_argument("--samples", type=int, default=2, help="samples run on VPU, per layer")
    parser.add_argument("--clock", type=float, default=800.0, help="core clock, MHz")
    parser.add_argument("--threads", type=int, default=1, help="threads active on the tile")
    args = parser.parse_args()
    if min(args.batch, args.samples) < 1 or args.samples > args.batch:
        parser.error("--batch and --samples must be at least 1, --samples at most --batch")
    corpus, data = corpus_dir(), data_dir()
    missing = [str(p) for p in (corpus / "models" / "tflite_micro_speech.tflite",
                                corpus / "models" / "image_example1.tflite") if not p.is_file()]
    if missing:
        sys.exit("benchmarks/xs3_layers.py: missing " + " and ".join(missing))
    model = CycleModel(clock_mhz=args.clock, threads=args.threads)
    rows: list[list[str]] = []
    for layer in layers(corpus, data, args.batch):
        rows.append(measure(layer, args.samples, model))
        print(f"  measured {layer.name}", file=sys.stderr)
    print(f"cycle model: {model.clock_mhz:g} MHz, {model.threads} active thread(s), "
          f"{model.clocks_per_thread_cycle} clocks per instruction, dual issue ignored; "
          "instructions and estimates are per sample")
    print(table(rows))


if __name__ == "__main__":
    main()

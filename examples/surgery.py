"""Graph surgery: make a converter-made model ready for a microcontroller, and prove it.

    python examples/surgery.py [IN.tflite] [-o OUT.tflite]

Without IN, the script builds a model the way the TFLite converter writes one: a float32 input
and output wrapped in QUANTIZE/DEQUANTIZE, and a SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE chain
that computes the flattened shape at run time (the converter's dynamic-batch pattern). The
passes strip the float interface so the device feeds int8 straight in, fold the shape chain,
prune what became unused and store identical buffers once. TFLite Micro then checks that the
new model computes exactly what the old one did.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import tflitekit
from tflitekit import Model, Quantization, Tensor
from tflitekit.options import (
    BuiltinOperator,
    Conv2DOptions,
    FullyConnectedOptions,
    PackOptions,
    Padding,
    ReshapeOptions,
    StridedSliceOptions,
    TensorType,
)
from tflitekit.passes import DedupeBuffers, FoldConstants, PassManager, Prune, StripFloatIO


def converter_style_model() -> Model:
    """float (1,8,8,1) -> QUANTIZE -> CONV_2D -> flatten (shape chain) -> FC -> DEQUANTIZE."""
    rng = np.random.default_rng(0)
    model = Model("converter-style keyword spotter")
    g = model.add_subgraph("main")
    image = g.add_input(Tensor("image", (1, 8, 8, 1), "float32", shape_signature=(-1, 8, 8, 1)))
    x = Tensor("image_int8", (1, 8, 8, 1), "int8", quantization=Quantization(1 / 255, -128))
    g.add_operator(BuiltinOperator.QUANTIZE, [image], [x])

    w = Tensor.constant("conv/weights", rng.integers(-127, 128, (4, 3, 3, 1), np.int8),
                        quantization=Quantization([0.02, 0.03, 0.01, 0.02], [0, 0, 0, 0]))
    b = Tensor.constant("conv/bias", rng.integers(-50, 50, 4, np.int32),
                        quantization=Quantization(np.array([0.02, 0.03, 0.01, 0.02]) / 255,
                                                  [0, 0, 0, 0]))
    features = Tensor("conv/out", (1, 4, 4, 4), "int8", quantization=Quantization(0.05, -10))
    g.add_operator(BuiltinOperator.CONV_2D, [x, w, b], [features],
                   Conv2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2))

    # Flatten the way the converter does when the batch is dynamic.
    shape = Tensor("flatten/shape", (4,), "int32")
    g.add_operator(BuiltinOperator.SHAPE, [features], [shape])
    batch = Tensor("flatten/batch", (), "int32")
    g.add_operator(BuiltinOperator.STRIDED_SLICE,
                   [shape, *(Tensor.constant(f"flatten/{n}", np.array([v], np.int32))
                             for n, v in (("begin", 0), ("end", 1), ("strides", 1)))],
                   [batch], StridedSliceOptions(shrink_axis_mask=1))
    new_shape = Tensor("flatten/new_shape", (2,), "int32")
    g.add_operator(BuiltinOperator.PACK, [batch, Tensor.constant("flatten/size", 64, "int32")],
                   [new_shape], PackOptions(values_count=2, axis=0))
    flat = Tensor("flatten/out", (1, 64), "int8", quantization=Quantization(0.05, -10))
    g.add_operator(BuiltinOperator.RESHAPE, [features, new_shape], [flat], ReshapeOptions())

    fc_w = Tensor.constant("dense/weights", rng.integers(-127, 128, (3, 64), np.int8),
                           quantization=Quantization(0.01, 0))
    fc_b = Tensor.constant("dense/bias", rng.integers(-50, 50, 3, np.int32),
                           quantization=Quantization(0.05 * 0.01, 0))
    logits = Tensor("dense/out", (1, 3), "int8", quantization=Quantization(0.1, 3))
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, [flat, fc_w, fc_b], [logits],
                   FullyConnectedOptions())
    scores = g.add_output(Tensor("scores", (1, 3), "float32", shape_signature=(-1, 3)))
    g.add_operator(BuiltinOperator.DEQUANTIZE, [logits], [scores])
    g.add_tensor(Tensor.constant("unused/leftover", np.zeros(3, np.int32)))
    return model


def prove(before: bytes, after: bytes, samples: int = 16) -> None:
    """For random integer inputs q: after(q) == quantize(before(dequantize(q))), in TFLite Micro,
    where the float interface was stripped (elsewhere the values pass unchanged)."""
    from tflitekit.runtimes import run_tflm

    old, new = tflitekit.load(before).main, tflitekit.load(after).main
    rng = np.random.default_rng(1)
    for _ in range(samples):
        q = [_random(t, rng) for t in new.inputs]
        x = [_dequantize(v, t) if _stripped(o, t) else v
             for v, t, o in zip(q, new.inputs, old.inputs, strict=True)]
        expected = [_quantize(y, t) if _stripped(o, t) else y
                    for y, t, o in zip(run_tflm(before, x), new.outputs, old.outputs, strict=True)]
        got = run_tflm(after, q)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(got, expected, strict=True))
    print(f"TFLite Micro: the new model matches the old one bit for bit on {samples} inputs")


def _stripped(old: Tensor, new: Tensor) -> bool:
    return old.dtype == TensorType.FLOAT32 and new.dtype != TensorType.FLOAT32


def _random(t: Tensor, rng: np.random.Generator) -> np.ndarray:
    dtype = t.numpy_dtype
    assert dtype is not None and t.shape is not None
    if dtype.kind == "f":
        return rng.uniform(-1, 1, t.shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, t.shape, dtype, endpoint=True)


def _dequantize(q: np.ndarray, t: Tensor) -> np.ndarray:
    scale, zero = _params(t)
    return ((q.astype(np.int32) - zero) * np.float32(scale)).astype(np.float32)


def _quantize(x: np.ndarray, t: Tensor) -> np.ndarray:
    scale, zero = _params(t)
    scaled = x.astype(np.float64) / np.float32(scale)
    rounded = np.trunc(scaled + np.copysign(0.5, scaled))  # half away from zero, as TFLite
    info = np.iinfo(t.numpy_dtype)
    return np.clip(rounded + zero, info.min, info.max).astype(t.numpy_dtype)


def _params(t: Tensor) -> tuple[float, int]:
    assert t.quantization is not None and t.quantization.scale is not None
    return float(t.quantization.scale[0]), int(t.quantization.zero_point[0])  # type: ignore[index]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a .tflite model (default: one built here)")
    parser.add_argument("-o", "--output", help="where to save the result (default: a temp dir)")
    args = parser.parse_args(argv)
    model = tflitekit.load(args.model) if args.model else converter_style_model()
    out = Path(args.output or Path(tempfile.mkdtemp()) / "surgery.tflite")
    before = model.to_bytes()

    pipeline = PassManager([StripFloatIO(), FoldConstants(allow_growth=False), Prune(),
                            DedupeBuffers()], fixed_point=True)
    result = pipeline(model)
    for step in result.results:
        for change in step.changes:
            print(f"{step.name}: {change}")
    assert model.check() == []
    model.save(out)
    print(f"{len(before):,} bytes -> {out.stat().st_size:,} bytes ({out})")
    print("operators:", " ".join(op.opcode.name for op in model.main.operators))
    print("interface:", ", ".join(f"{t.name} {t.dtype.name}"
                                  for t in (*model.main.inputs, *model.main.outputs)))
    try:
        prove(before, out.read_bytes())
    except ImportError:
        print("(pip install tflite-micro to check the result bit for bit)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

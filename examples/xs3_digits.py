"""A dense layer on xcore.ai, from TensorFlow to the vector unit: the flow of xmos' 2019
dense-layer notebook on scikit-learn's digits.

    python examples/xs3_digits.py

The models in ``examples/data`` (made by ``scripts/make_digits_model.py``): a dense layer
64 -> 10 with softmax, in float and in int8 with a float interface. The example

1. measures both models' test accuracy and compares them tensor by tensor
   (``tflitekit.analysis.quant_error``): the input's quantization, the weights, the bias, the
   pre-activation (the FULLY_CONNECTED output) and the output;
2. rebuilds the integer pre-activation with numpy from the int8 weights, the int32 bias and the
   fixed-point multipliers, and checks it equals the interpreter's;
3. runs the layer as xcore.ai runs it with the notebook's "BSO" output stage
   (``tflitekit.xs3.bso``): instruction by instruction for one image (its instruction count and
   cycle estimate), then on the whole test set at once, and compares with TFLite;
4. strips the float interface and prunes what it leaves, printing the sizes.

Needs scikit-learn (the digits). Runs in a few seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

import tflitekit
from tflitekit.analysis.quant_error import TensorError, quantization_error
from tflitekit.interpreter.fixedpoint import multiply_by_quantized_multiplier, quantize_multipliers
from tflitekit.passes import prune, strip_float_io
from tflitekit.xs3.batch_vpu import BatchVPU
from tflitekit.xs3.bso import bso_params, fully_connected_bso
from tflitekit.xs3.estimate import estimate
from tflitekit.xs3.memory import Memory
from tflitekit.xs3.output_transform import tflite_multipliers
from tflitekit.xs3.vpu import VPU

DATA = Path(__file__).resolve().parent / "data"
SEED, TEST_SIZE = 0, 360  # the split of scripts/make_digits_model.py


def digits_test_set() -> tuple[np.ndarray, np.ndarray]:
    """The test images (scaled to [0, 1], float32) and labels the models were not trained on."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("xs3_digits.py needs scikit-learn (pip install scikit-learn)")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    split: list[Any] = train_test_split(x, digits.target, test_size=TEST_SIZE,
                                        random_state=SEED, stratify=digits.target)
    return split[1], split[3]


def percent(scores: np.ndarray, labels: np.ndarray) -> str:
    """The accuracy of the best-scoring class, as a percentage."""
    return f"{100 * np.mean(scores.argmax(-1) == labels):.2f} %"


def _error(label: str, e: TensorError) -> str:
    return (f"  {label:<15} {e.quantized_dtype:<7} relative error {100 * e.rel_error:6.3f} %"
            f"  SQNR {e.sqnr_db:5.1f} dB  max |e| {e.max_abs_error:.4f}")


def compare(float_model: tflitekit.Model, int8_model: tflitekit.Model, x: np.ndarray) -> None:
    report = quantization_error(float_model, int8_model, [x])
    (fc, _softmax) = report.layers
    print(f"float vs int8, tensor by tensor ({report.samples} test images):")
    print(_error("input", report.inputs[0]))
    print(_error("weights", fc.weights[0]))
    print(_error("bias", fc.biases[0]))
    print(_error("pre-activation", fc.activations[0]))
    print(_error("output", report.outputs[0]))


def quantization(t: tflitekit.Tensor) -> tuple[np.ndarray, np.ndarray]:
    q = t.quantization
    assert q is not None and q.scale is not None and q.zero_point is not None
    return np.asarray(q.scale, np.float64), np.asarray(q.zero_point, np.int64)


def integer_preactivation(fc: tflitekit.Operator, x_q: np.ndarray) -> np.ndarray:
    """The int8 FULLY_CONNECTED output from its operands, as TFLite computes it: ``acc = Σ (x -
    zp_x) w + b`` in int32, times the per-channel multiplier ``s_x s_w / s_out`` in fixed point,
    plus the output zero point, clamped to int8."""
    x_t, w_t, b_t = fc.inputs
    assert x_t is not None and w_t is not None and b_t is not None
    (s_x,), (z_x,) = quantization(x_t)
    s_w, _ = quantization(w_t)
    (s_out,), (z_out,) = quantization(fc.outputs[0])
    acc = (x_q.astype(np.int64) - z_x) @ w_t.data.astype(np.int64).T + b_t.data
    multiplier, shift = quantize_multipliers(s_x * s_w / s_out)
    y = multiply_by_quantized_multiplier(acc, multiplier, shift) + z_out
    return np.clip(y, -128, 127).astype(np.int8)


def xs3(fc: tflitekit.Operator, x_q: np.ndarray, tflite_pre: np.ndarray, y: np.ndarray) -> None:
    """The layer on the XS3 vector unit with the BSO output stage: one image instruction by
    instruction, then the whole set on the batched engine."""
    x_t, w_t, b_t = fc.inputs
    assert x_t is not None and w_t is not None and b_t is not None
    (s_x,), (z_x,) = quantization(x_t)
    s_w, _ = quantization(w_t)
    (s_out,), (z_out,) = quantization(fc.outputs[0])
    weights = w_t.data
    params = bso_params(weights, b_t.data, int(z_x), tflite_multipliers(s_x, s_w, s_out),
                        int(z_out))
    one = VPU(Memory(batch=1))
    first = fully_connected_bso(one, weights, params, x_q[:1])
    cost = estimate(one.counts)
    vlmaccr = one.counts["VLMACCR"]
    print(f"XS3, BSO output stage, one image instruction by instruction: {cost.instructions}"
          f" instructions ({cost.vpu} vector, {vlmaccr} of them VLMACCR; {cost.other} scalar),"
          f" {cost.microseconds:.2f} us at {cost.model.clock_mhz:.0f} MHz"
          f" ({cost.model.clocks_per_thread_cycle} clocks per instruction, dual issue ignored)")
    batch = BatchVPU(Memory(batch=len(x_q)))
    out = fully_connected_bso(batch, weights, params, x_q)
    assert np.array_equal(out[:1], first), "the two engines must agree"
    differ = out != tflite_pre
    diff = np.abs(out.astype(np.int32) - tflite_pre)
    print(f"XS3 on all {len(x_q)} images at once: accuracy {percent(out, y)};"
          f" {differ.sum()} of {out.size} pre-activations ({100 * differ.mean():.2f} %) differ"
          f" from TFLite's, by at most {diff.max()}")


def main() -> int:
    x, y = digits_test_set()
    float_model = tflitekit.load(DATA / "digits_float.tflite")
    int8_model = tflitekit.load(DATA / "digits_int8.tflite")
    float_out = tflitekit.Interpreter(float_model).run([x])[0]
    interpreter = tflitekit.Interpreter(int8_model)
    int8_out = interpreter.run([x], keep=True)[0]
    print(f"digits: {len(x)} test images; accuracy float {percent(float_out, y)},"
          f" int8 {percent(int8_out, y)}")
    compare(float_model, int8_model, x)

    quantize, fc, softmax, _ = int8_model.main.operators
    x_q = interpreter.tensor(quantize.outputs[0])
    tflite_pre = interpreter.tensor(fc.outputs[0])
    numpy_pre = integer_preactivation(fc, x_q)
    same = np.array_equal(numpy_pre, tflite_pre)
    print(f"integer pre-activation rebuilt with numpy: {'equal to' if same else 'DIFFERENT from'}"
          f" the interpreter's on all {tflite_pre.size} values")
    xs3(fc, x_q.reshape(len(x), -1), tflite_pre.reshape(len(x), -1), y)

    size = len(int8_model.to_bytes())
    strip_float_io(int8_model)
    prune(int8_model)
    stripped = int8_model.to_bytes()
    print(f"float interface stripped and pruned: {size:,} -> {len(stripped):,} bytes; operators "
          + " ".join(op.opcode.name for op in int8_model.main.operators) + "; interface "
          + ", ".join(f"{t.dtype.name}{list(t.shape or ())}"
                      for t in (*int8_model.main.inputs, *int8_model.main.outputs)))
    int8_io = tflitekit.Interpreter(tflitekit.load(stripped)).run([x_q])[0]
    print("on the quantized test images it returns the int8 outputs of the original: "
          f"{np.array_equal(int8_io, interpreter.tensor(softmax.outputs[0]))}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Build a small int8 model from scratch, save it, load it back, print and validate it, see
what check() says about a broken copy, run it on tflitekit's interpreter (a batch of inputs
at once, then layer by layer), see what it costs on a microcontroller (MACs, ROM and the
TensorFlow Lite Micro arena), compress its weights into TFLite Micro's TFLM_DECODE form, and
run its layers on an emulated xcore.ai vector unit, counting instructions.

    python examples/quickstart.py [OUT.tflite]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import tflitekit
from tflitekit import Model, Quantization, Tensor, xs3
from tflitekit.codecs import KMeans
from tflitekit.options import ActivationFunctionType, BuiltinOperator, FullyConnectedOptions
from tflitekit.passes.compress_weights import compressed_tensors


def build() -> Model:
    """A 16 → 8 → 4 int8 classifier with random weights."""
    rng = np.random.default_rng(0)
    model = Model("tflitekit quick-start")
    graph = model.add_subgraph("main")
    x = graph.add_input(Tensor("input", (1, 16), "int8", quantization=Quantization(0.05, -3)))
    h = Tensor("hidden", (1, 8), "int8", quantization=Quantization(0.1, -128))
    y = Tensor("logits", (1, 4), "int8", quantization=Quantization(0.2, 5))
    for name, inp, out, relu in (("dense1", x, h, True), ("dense2", h, y, False)):
        n_out, n_in = out.shape[1], inp.shape[1]  # type: ignore[index]
        w = Tensor.constant(f"{name}/weights", rng.integers(-127, 128, (n_out, n_in), np.int8),
                            quantization=Quantization(0.01, 0))
        b = Tensor.constant(f"{name}/bias", rng.integers(-500, 500, n_out, np.int32),
                            quantization=Quantization(0.05 * 0.01, 0))
        activation = ActivationFunctionType.RELU if relu else ActivationFunctionType.NONE
        graph.add_operator(BuiltinOperator.FULLY_CONNECTED, [inp, w, b], [out],
                           FullyConnectedOptions(fused_activation_function=activation))
    graph.add_output(y)
    return model


def main(argv: list[str]) -> int:
    if argv:
        return show(Path(argv[0]))
    with tempfile.TemporaryDirectory() as tmp:  # removed again, file and all
        return show(Path(tmp) / "quickstart.tflite")


def show(out: Path) -> int:
    """Build, save to ``out``, load back and print the model."""
    model = build()
    problems = model.check()
    assert not problems, problems
    model.save(out)
    loaded = tflitekit.load(out)
    assert tflitekit.diff(model, loaded) == []
    graph = loaded.main
    print(f"saved {out} ({out.stat().st_size} bytes) and loaded it back: identical")
    for op in graph.operators:
        ins = ", ".join("-" if t is None else f"{t.name}{list(t.shape or ())}" for t in op.inputs)
        outs = ", ".join(f"{t.name}{list(t.shape or ())}" for t in op.outputs)
        print(f"  {op.opcode.name:16s} {ins} -> {outs}")
    weights = graph.tensor("dense1/weights")
    print(f"  dense1/weights: {weights.data.shape} {weights.data.dtype}, "  # type: ignore[union-attr]
          f"read by {[c.opcode.name for c in weights.consumers]}")

    report = tflitekit.validate_report(out)
    print(f"validate: {len(report.problems)} problems, "
          f"{report.unchecked_line() or 'every operator checked'}")
    assert loaded.to_bytes() == out.read_bytes()  # a plain re-save is the file, byte for byte
    print("re-saved unchanged: byte-identical")

    # Edit a copy (the loaded model is not touched): weights that no longer fit their input
    broken = loaded.copy()
    w = broken.main.tensor("dense2/weights")
    w.data = w.data[:, :6]  # type: ignore[index]
    for problem in broken.check():
        print(f"copy with cut weights: [{problem.kind}] {problem}")
    assert loaded.check() == []
    run(loaded)
    costs(loaded, out)
    compress(loaded, out.with_name("quickstart_2bit.tflite"))
    on_xcore(loaded)
    return 0


def run(model: Model) -> None:
    """Run 1,000 samples in one call, then look inside one of them layer by layer."""
    interpreter = tflitekit.Interpreter(model)  # bit-exact with TensorFlow Lite Micro
    x = np.random.default_rng(1).integers(-128, 128, (1000, 16), dtype=np.int8)
    (logits,) = interpreter.run([x])          # (1000, 4): one row per sample
    classes = np.bincount(logits.argmax(axis=1), minlength=4)
    print(f"interpreter: 1000 samples -> logits {logits.shape}, predicted classes {classes}")
    interpreter.run([x[:1]], keep=True)       # keep every intermediate tensor
    for tensor, value in interpreter.tensors():
        print(f"  {tensor.name:8s} {value.dtype} {value.shape}: {value.reshape(-1)[:6]}...")


def costs(model: Model, path: Path) -> None:
    """MACs and OPs (as Silicon Labs MLTK counts them), ROM, and RAM under TensorFlow Lite
    Micro: the arena its memory planner allocates, exactly, and the whole arena."""
    s = tflitekit.analysis.summary(model, path)
    for layer in s.layers:
        print(f"  #{layer.index} {layer.opcode:16s} {layer.options:18s} {layer.macs:4d} MACs "
              f"{layer.ops:4d} OPs, weights {layer.weight_bytes} bytes")
    print(f"summary: {s.total_macs} MACs, {s.total_ops} OPs; ROM {s.rom.file_bytes} bytes "
          f"({s.rom.weights_bytes} of weights); RAM: activations {s.memory.no_reuse_bytes} "
          f"bytes without reuse, TFLite Micro arena head {s.memory.arena_head_bytes} bytes, "
          f"{s.arena.total_bytes} bytes in all on this host")


def compress(model: Model, out: Path) -> None:
    """Cluster the weights to 4 values (2-bit look-up tables, per channel where the tensor is
    quantized per channel), store them in TFLite Micro's TFLM_DECODE form, and check that the
    compressed file computes what the clustered model computes."""
    small = tflitekit.passes.compress_weights(model.copy(), quantize=KMeans(k=4))
    small.save(out)
    plain = tflitekit.passes.decompress_weights(tflitekit.load(out))  # the clustered weights
    x = np.random.default_rng(2).integers(-128, 128, (100, 16), dtype=np.int8)
    (a,) = tflitekit.Interpreter(tflitekit.load(out)).run([x])  # runs compressed, as TFLM does
    (b,) = tflitekit.Interpreter(plain).run([x])
    assert (a == b).all()
    sizes = ", ".join(f"{c.name} {c.bytes_before} -> {c.bytes_after} bytes"
                      for c in compressed_tensors(small))
    print(f"compressed weights: {sizes} (header and tables included); the file goes "
          f"{len(model.to_bytes())} -> {out.stat().st_size} bytes, as the decode operators "
          "outweigh a model this small; same outputs as the clustered model on 100 samples")


def on_xcore(model: Model) -> None:
    """The model as xcore.ai would run it: its layers lowered to the kernels xmos runs on the
    XS3 vector unit (emulated, 1,000 samples in one batched run), each layer's outputs compared
    with TFLite's, and the instructions and time each layer takes on the device."""
    x = np.random.default_rng(3).integers(-128, 128, (1000, 16), dtype=np.int8)
    comparison = xs3.compare(model, [x])
    costs = {layer.index: layer for layer in xs3.profile(model).layers}
    for layer in comparison.layers:
        counts, cost = costs[layer.operator].counts, costs[layer.operator].cost
        assert counts is not None and cost is not None  # both layers run on the XS3 kernels
        print(f"xcore.ai: {layer.tensor}: {cost.instructions} instructions "
              f"({counts['VLMACCR']} VLMACCR), {cost.microseconds:.2f} us; {layer.ours} of "
              "outputs differ from TFLite's")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Corpus proof of strip_float_io (and add_float_io) on the 22 real models.

For each model whose float32 interface is a QUANTIZE / DEQUANTIZE wrapper (found by looking at
the graph, not by name), the stripped model must load in LiteRT and TFLite Micro with an integer
interface and compute, bit for bit, ``quantize(original(dequantize(q)))`` for integer inputs q
over the whole dtype range, with TFLite's own quantize / dequantize arithmetic. Fully float
models are left alone with the reasons given; integer models are not touched.

Run with ``pytest -m corpus``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_float_io import qparams, same, structure, tflite_dequantize, tflite_quantize

import tflitekit
from tflitekit import Model, Tensor, TensorType
from tflitekit.options import BuiltinOperator
from tflitekit.passes.add_float_io import AddFloatIO
from tflitekit.passes.strip_float_io import StripFloatIO

pytestmark = pytest.mark.corpus

SEEDS = (0, 1)
WRAPPED = 7  # anomaly_detection, autoencoder_example, image_example1, keyword_spotting,
#              rock_paper_scissors, tflite_micro_magic_wand, visual_wake_words
FULLY_FLOAT = 6  # the *.float32.tflite models
INTEGER = 22 - WRAPPED - FULLY_FLOAT


def _reference() -> Any:
    from tflitekit import runtimes as reference

    missing = [name for name, ok in reference.available().items() if not ok]
    if missing:
        pytest.fail(f"the corpus tier needs the reference runtimes; missing: {missing}",
                    pytrace=False)
    return reference


def _interface(model: Model) -> list[Tensor]:
    return [*model.main.inputs, *model.main.outputs]


def _inner(model: Model) -> list[Tensor]:
    """The integer tensors behind a float interface: what each input's QUANTIZE writes and
    each output's DEQUANTIZE reads."""
    g = model.main
    inner = [t.consumers[0].outputs[0] for t in g.inputs]
    for t in g.outputs:
        assert t.producer is not None and t.producer.inputs[0] is not None
        inner.append(t.producer.inputs[0])
    return inner


def kind(model: Model) -> str:
    """``wrapped`` when every float32 input is read by exactly one QUANTIZE and every float32
    output written by a DEQUANTIZE (and there is at least one); ``float`` when the interface is
    float32 otherwise; ``integer`` when it has no float32 tensor."""
    g = model.main
    floats = [t for t in _interface(model) if t.dtype == TensorType.FLOAT32]
    if not floats:
        return "integer"
    inputs_wrapped = all(
        len(t.uses) == 1 and t.uses[0][0].type == BuiltinOperator.QUANTIZE
        for t in g.inputs if t.dtype == TensorType.FLOAT32)
    outputs_wrapped = all(
        t.producer is not None and t.producer.type == BuiltinOperator.DEQUANTIZE
        for t in g.outputs if t.dtype == TensorType.FLOAT32)
    return "wrapped" if inputs_wrapped and outputs_wrapped else "float"


def test_corpus_census(corpus_paths: list[Path]) -> None:
    kinds: dict[str, list[str]] = {"wrapped": [], "float": [], "integer": []}
    for path in corpus_paths:
        kinds[kind(tflitekit.load(path))].append(path.name)
    assert len(kinds["wrapped"]) == WRAPPED, kinds["wrapped"]
    assert sorted(kinds["float"]) == sorted(p.name for p in corpus_paths
                                            if p.name.endswith(".float32.tflite"))
    assert len(kinds["float"]) == FULLY_FLOAT
    assert len(kinds["integer"]) == INTEGER, kinds["integer"]


def _runtime_interface(reference: Any, data: bytes) -> dict[str, list[np.dtype[Any]]]:
    """Input and output dtypes as each runtime loads them."""
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime

    litert = Interpreter(model_content=data)
    tflm = runtime.Interpreter.from_bytes(data, arena_size=16 << 20)
    n_in, n_out = len(litert.get_input_details()), len(litert.get_output_details())
    return {
        "litert": [np.dtype(d["dtype"]) for d in
                   (*litert.get_input_details(), *litert.get_output_details())],
        "tflm": [np.dtype(tflm.get_input_details(i)["dtype"]) for i in range(n_in)]
                + [np.dtype(tflm.get_output_details(i)["dtype"]) for i in range(n_out)],
    }


def test_strip_float_io(corpus_model: Path) -> None:
    reference = _reference()
    original = tflitekit.load(corpus_model)
    model = tflitekit.load(corpus_model)
    what = kind(model)
    result = StripFloatIO()(model)

    if what == "integer":
        assert not result.modified and result.skipped == []
        assert model.to_bytes() == original.to_bytes()
        return
    if what == "float":
        assert not result.modified
        assert model.to_bytes() == original.to_bytes()
        g = model.main
        assert result.skipped == [
            f"subgraph 0: input 0 {g.inputs[0].name!r} left float32: it is read by "
            f"{g.inputs[0].consumers[0].opcode.name}, not by a QUANTIZE",
            f"subgraph 0: output 0 {g.outputs[0].name!r} left float32: it is produced by "
            f"{g.outputs[0].producer.opcode.name}, not by a DEQUANTIZE",  # type: ignore[union-attr]
        ]
        return

    # wrapped: every interface tensor stripped, names and order kept, integer now
    n = len(_interface(original))
    assert len(result.changes) == n and result.skipped == []
    assert [t.name for t in _interface(model)] == [t.name for t in _interface(original)]
    assert all(t.dtype == TensorType.INT8 for t in _interface(model))
    assert len(model.main.operators) == len(original.main.operators) - n
    assert model.check() == []
    for sig, sig0 in zip(model.signature_defs, original.signature_defs, strict=True):
        assert {k: t.name for k, t in sig.inputs.items() if t} == {
            k: t.name for k, t in sig0.inputs.items() if t}
        assert all(any(t is i for i in model.main.inputs) for t in sig.inputs.values())
        assert all(any(t is o for o in model.main.outputs) for t in sig.outputs.values())
    stripped, data = model.to_bytes(), corpus_model.read_bytes()
    assert tflitekit.load(stripped).check() == []
    for runtime, dtypes in _runtime_interface(reference, stripped).items():
        assert dtypes == [np.dtype(np.int8)] * n, runtime

    ins = [qparams(t) for t in model.main.inputs]
    outs = [qparams(t) for t in model.main.outputs]
    for runtime, run in (("tflm", reference.run_tflm), ("litert", reference.run_litert)):
        for seed in SEEDS:
            q = reference.random_inputs(stripped, seed)
            assert all(x.dtype == np.int8 and x.min() < -100 and x.max() > 100 for x in q)
            floats = [tflite_dequantize(x, *p) for x, p in zip(q, ins, strict=True)]
            want = [tflite_quantize(y, *p, np.int8)
                    for y, p in zip(run(data, floats), outs, strict=True)]
            got = run(stripped, q)
            assert same(got, want), f"{runtime}, seed {seed}"


def test_add_float_io_restores_the_wrapped_models(corpus_model: Path) -> None:
    """add_float_io(strip_float_io(m)) has m's interface and operators and computes m's floats
    bit for bit; on an integer model strip_float_io(add_float_io(m)) is m again."""
    reference = _reference()
    original = tflitekit.load(corpus_model)
    what = kind(original)
    if what == "float":
        assert not AddFloatIO()(original).modified
        return
    model = tflitekit.load(corpus_model)
    if what == "wrapped":
        StripFloatIO()(model)
        AddFloatIO()(model)
        # the integer tensors got derived names; the converter may have used others
        inner = _inner(model)
        assert [t.name for t in inner] == [f"{t.name}_int8" for t in _interface(model)]
        for t, name in zip(inner, [t.name for t in _inner(original)], strict=True):
            t.name = name
    else:
        AddFloatIO()(model)
        assert all(t.dtype == TensorType.FLOAT32 for t in _interface(model))
        StripFloatIO()(model)
    assert structure(model) == structure(original)
    data, again = corpus_model.read_bytes(), model.to_bytes()
    for run in (reference.run_tflm, reference.run_litert):
        for seed in SEEDS:
            inputs = reference.random_inputs(data, seed)
            assert same(run(again, inputs), run(data, inputs))

"""strip_float_io and add_float_io: golden tests on builder-made models, every skip reason,
``names``, one side at a time, signature defs, interface order, and the edited models run in
TFLite Micro and LiteRT exactly as TFLite's own quantize / dequantize arithmetic predicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import tflitekit
from tflitekit import Model, Operator, OperatorCode, Quantization, SignatureDef, Subgraph, Tensor
from tflitekit.options import (
    AddOptions,
    BuiltinOperator,
    CallOnceOptions,
    ReshapeOptions,
    TensorType,
)
from tflitekit.passes import PassError
from tflitekit.passes.add_float_io import AddFloatIO, add_float_io
from tflitekit.passes.strip_float_io import StripFloatIO, strip_float_io
from tflitekit.runtimes import random_inputs, run_litert, run_tflm
from tflitekit.testing import build_runnable_model

Array = np.ndarray[Any, Any]
RUNTIMES: dict[str, Callable[..., list[Array]]] = {"tflm": run_tflm, "litert": run_litert}
SEEDS = (0, 1)

# ------------------------------------------------------------------------------------------------
# TFLite's arithmetic, transcribed (reference_ops::AffineQuantize and Dequantize)
# ------------------------------------------------------------------------------------------------


def tflite_quantize(x: Array, scale: float, zero_point: int, dtype: Any) -> Array:
    """``clamp(round_half_away_from_zero(x / float32(scale)) + zero_point)``; the division is
    float32 (the rounding is done in float64, where adding 0.5 to a float32 is exact)."""
    ratio = (np.asarray(x, np.float32) / np.float32(scale)).astype(np.float64)
    rounded = np.sign(ratio) * np.floor(np.abs(ratio) + 0.5)
    info = np.iinfo(dtype)
    return np.asarray(np.clip(rounded + zero_point, info.min, info.max), dtype)


def tflite_dequantize(q: Array, scale: float, zero_point: int) -> Array:
    """``float32(scale) * float32(q - zero_point)``: TFLite computes ``double(scale) * (q - zp)``
    and casts to float, which rounds the same exact product once, like this float32 product."""
    return np.asarray(np.float32(scale) * (q.astype(np.int32) - zero_point).astype(np.float32),
                      np.float32)


def qparams(tensor: Tensor) -> tuple[float, int]:
    q = tensor.quantization
    assert q is not None and q.scale is not None and q.zero_point is not None
    return float(q.scale[0]), int(q.zero_point[0])


def structure(model: Model) -> list[Any]:
    """Each subgraph's interface (name, type, shape, quantization) and operators (code and
    tensor names): what must match when tensor order or buffers may differ."""
    def tensor(t: Tensor | None) -> Any:
        if t is None:
            return None
        q = t.quantization
        params = None if q is None or q.scale is None else (q.scale.tolist(),
                                                           q.zero_point.tolist()
                                                           if q.zero_point is not None else None)
        return t.name, t.dtype, t.shape, t.shape_signature, params

    return [([tensor(t) for t in g.inputs], [tensor(t) for t in g.outputs],
             [(o.opcode.key(), [tensor(t) for t in o.inputs], [tensor(t) for t in o.outputs])
              for o in g.operators])
            for g in model.subgraphs]


def same(a: Sequence[Array], b: Sequence[Array]) -> bool:
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(a, b, strict=True))


def test_transcription_rounds_half_away_from_zero_and_clamps() -> None:
    x = np.array([0.25, -0.25, 0.75, -0.75, 0.2499, 100.0, -100.0], np.float32)
    assert tflite_quantize(x, 0.5, 0, np.int8).tolist() == [1, -1, 2, -2, 0, 127, -128]
    assert tflite_quantize(x, 0.5, 3, np.uint8).tolist() == [4, 2, 5, 1, 3, 203, 0]
    assert tflite_dequantize(np.array([-128, 127], np.int8), 0.5, -3).tolist() == [-62.5, 65.0]


# ------------------------------------------------------------------------------------------------
# Builders
# ------------------------------------------------------------------------------------------------


def wrap_float(model: Model) -> Model:
    """``model`` with a float32 interface on its main subgraph, made by hand the way TFLite's
    converter does it: a QUANTIZE (version 1) after each int8 input, first in the operator list,
    and a DEQUANTIZE (version 2) before each int8 output, last; the integer tensors are renamed
    ``<name>_int8`` and the float ones, appended to the tensor list, take their names."""
    g = model.main
    for i, x in enumerate(list(g.inputs)):
        f = g.add_tensor(Tensor(x.name, x.shape, "float32", shape_signature=x.shape_signature))
        x.name = f"{x.name}_int8"
        g.add_operator(Operator(OperatorCode(BuiltinOperator.QUANTIZE, version=1), [f], [x]),
                       before=g.operators[i])
        g.inputs[i] = f
    for i, y in enumerate(list(g.outputs)):
        f = g.add_tensor(Tensor(y.name, y.shape, "float32", shape_signature=y.shape_signature))
        y.name = f"{y.name}_int8"
        g.add_operator(Operator(OperatorCode(BuiltinOperator.DEQUANTIZE, version=2), [y], [f]))
        g.outputs[i] = f
    return model


def q8(scale: float = 0.1, zero_point: int = 0) -> Quantization:
    return Quantization(scale, zero_point)


def op(graph: Subgraph, kind: BuiltinOperator, source: Tensor, name: str,
       dtype: Any = None, quantization: Quantization | None = None, version: int = 1) -> Tensor:
    """Add ``kind`` (QUANTIZE, DEQUANTIZE, CAST or RESHAPE) reading ``source``; returns its
    output."""
    out = Tensor(name, source.shape, source.dtype if dtype is None else dtype,
                 quantization=quantization)
    if kind == BuiltinOperator.RESHAPE:
        shape = Tensor.constant(f"{name}/shape", np.array(source.shape, np.int32))
        graph.add_operator(BuiltinOperator.RESHAPE, [source, shape], [out],
                           ReshapeOptions(new_shape=list(source.shape or ())))
    else:
        graph.add_operator(Operator(OperatorCode(kind, version=version), [source], [out]))
    return out


Q, DQ, RESHAPE = BuiltinOperator.QUANTIZE, BuiltinOperator.DEQUANTIZE, BuiltinOperator.RESHAPE
CAST = BuiltinOperator.CAST  # changes the type (check() has no operand rule for it)


def new_graph() -> tuple[Model, Subgraph]:
    model = Model("float io")
    return model, model.add_subgraph("main")


def float_in(graph: Subgraph, name: str = "x", shape: tuple[int, ...] = (1, 2)) -> Tensor:
    return graph.add_input(Tensor(name, shape, "float32"))


def int_in(graph: Subgraph, name: str = "w", dtype: Any = "int8",
           quantization: Quantization | None = None) -> Tensor:
    return graph.add_input(Tensor(name, (1, 2), dtype,
                                  quantization=q8() if quantization is None else quantization))


def build_multi_io() -> Model:
    """Inputs a (float32, QUANTIZE), b (int8), c (float32, QUANTIZE); outputs t (float32,
    DEQUANTIZE), s (int8), u (float32, DEQUANTIZE); a signature def over all six."""
    model, g = new_graph()
    a = float_in(g, "a", (1, 4))
    b = g.add_input(Tensor("b", (1, 4), "int8", quantization=q8(0.1, 2)))
    c = float_in(g, "c", (1, 4))
    aq = op(g, Q, a, "a_int8", "int8", q8(0.05, -1))
    cq = op(g, Q, c, "c_int8", "int8", q8(0.2, 3))
    s = Tensor("s", (1, 4), "int8", quantization=q8(0.12, 0))
    g.add_operator(BuiltinOperator.ADD, [aq, b], [s], AddOptions())
    tq = Tensor("t_int8", (1, 4), "int8", quantization=q8(0.3, -4))
    g.add_operator(BuiltinOperator.ADD, [s, cq], [tq], AddOptions())
    uq = Tensor("u_int8", (1, 4), "int8", quantization=q8(0.25, 7))
    g.add_operator(BuiltinOperator.ADD, [cq, aq], [uq], AddOptions())
    t = op(g, DQ, tq, "t", "float32", version=2)
    u = op(g, DQ, uq, "u", "float32", version=2)
    for tensor in (t, s, u):
        g.add_output(tensor)
    model.signature_defs.append(SignatureDef(
        "serving_default", g, inputs={"in_a": a, "in_b": b, "in_c": c},
        outputs={"out_t": t, "out_s": s, "out_u": u}))
    return model


# ------------------------------------------------------------------------------------------------
# Golden tests on the runnable model
# ------------------------------------------------------------------------------------------------


def test_strip_float_io_golden() -> None:
    model = wrap_float(build_runnable_model())
    x_int8, y_int8 = model.main.tensor("x_int8"), model.main.tensor("y_int8")
    result = StripFloatIO()(model)
    assert result.changes == [
        "subgraph 0: input 0 'x': removed its QUANTIZE; it is now INT8 (scale 0.0500000007, "
        "zero point -3)",
        "subgraph 0: output 0 'y': removed its DEQUANTIZE; it is now INT8 (scale 0.200000003, "
        "zero point -1)",
    ]
    assert result.skipped == []
    assert model.main.inputs == [x_int8] and model.main.outputs == [y_int8]
    assert tflitekit.diff(model, build_runnable_model()) == []
    assert tflitekit.diff(tflitekit.load(model.to_bytes()), build_runnable_model()) == []


def test_add_float_io_golden() -> None:
    model = build_runnable_model()
    result = AddFloatIO()(model)
    assert result.changes == [
        "subgraph 0: input 0 'x': added a QUANTIZE (version 1) from float32 to 'x_int8', INT8 "
        "(scale 0.0500000007, zero point -3)",
        "subgraph 0: output 0 'y': added a DEQUANTIZE (version 2) to float32 from 'y_int8', "
        "INT8 (scale 0.200000003, zero point -1)",
    ]
    assert result.skipped == []
    assert tflitekit.diff(model, wrap_float(build_runnable_model())) == []
    assert [op.opcode.name for op in model.main.operators] == [
        "QUANTIZE", "CONV_2D", "RESHAPE", "FULLY_CONNECTED", "ADD", "DEQUANTIZE"]


def test_each_pass_undoes_the_other_structurally() -> None:
    assert tflitekit.diff(strip_float_io(add_float_io(build_runnable_model())),
                          build_runnable_model()) == []
    wrapped = wrap_float(build_runnable_model())
    assert tflitekit.diff(add_float_io(strip_float_io(wrapped)),
                          wrap_float(build_runnable_model())) == []


def test_function_forms_return_the_model_they_edit() -> None:
    model = build_runnable_model()
    assert add_float_io(model) is model
    assert strip_float_io(model) is model


def test_nothing_to_do() -> None:
    integer = build_runnable_model()
    result = StripFloatIO()(integer)
    assert not result.modified and result.skipped == []
    assert tflitekit.diff(integer, build_runnable_model()) == []
    floating = wrap_float(build_runnable_model())
    result = AddFloatIO()(floating)
    assert not result.modified and result.skipped == []
    assert tflitekit.diff(floating, wrap_float(build_runnable_model())) == []


def test_unused_operator_codes_are_left_alone() -> None:
    loaded = tflitekit.load(wrap_float(build_runnable_model()).to_bytes())
    codes = [(c.name, c.version) for c in loaded.operator_codes]
    assert ("QUANTIZE", 1) in codes and ("DEQUANTIZE", 2) in codes
    strip_float_io(loaded)
    assert [(c.name, c.version) for c in loaded.operator_codes] == codes
    again = tflitekit.load(loaded.to_bytes())
    assert [(c.name, c.version) for c in again.operator_codes] == codes
    assert {op.opcode.name for op in again.operators()}.isdisjoint({"QUANTIZE", "DEQUANTIZE"})


def test_add_reuses_the_models_operator_codes() -> None:
    model = build_runnable_model()
    quantize = OperatorCode(BuiltinOperator.QUANTIZE, version=1)
    dequantize_v1 = OperatorCode(BuiltinOperator.DEQUANTIZE, version=1)  # wrong version for int8
    model.operator_codes.extend([quantize, dequantize_v1])
    add_float_io(model)
    first, last = model.main.operators[0], model.main.operators[-1]
    assert first.opcode is quantize
    assert last.opcode is not dequantize_v1 and last.opcode.key() == (
        BuiltinOperator.DEQUANTIZE, None, 2)


# ------------------------------------------------------------------------------------------------
# Bit-exact behaviour in TFLite Micro and LiteRT
# ------------------------------------------------------------------------------------------------


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_stripped_model_is_the_float_model_between_dequantize_and_quantize(runtime: str) -> None:
    run = RUNTIMES[runtime]
    wrapped = wrap_float(build_runnable_model())
    stripped = strip_float_io(wrap_float(build_runnable_model()))
    (s_in, z_in), (s_out, z_out) = qparams(stripped.main.inputs[0]), qparams(
        stripped.main.outputs[0])
    wrapped_bytes, stripped_bytes = wrapped.to_bytes(), stripped.to_bytes()
    for seed in SEEDS:
        q = random_inputs(stripped_bytes, seed)
        assert q[0].dtype == np.int8
        got = run(stripped_bytes, q)
        floats = run(wrapped_bytes, [tflite_dequantize(q[0], s_in, z_in)])
        assert same(got, [tflite_quantize(floats[0], s_out, z_out, np.int8)])
        # ... which is the integer model it came from
        assert same(got, run(build_runnable_model().to_bytes(), q))


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_added_float_io_is_quantize_then_model_then_dequantize(runtime: str) -> None:
    run = RUNTIMES[runtime]
    original = build_runnable_model()
    (s_in, z_in), (s_out, z_out) = qparams(original.main.inputs[0]), qparams(
        original.main.outputs[0])
    added = add_float_io(build_runnable_model()).to_bytes()
    for seed in SEEDS:
        floats = random_inputs(added, seed)
        assert floats[0].dtype == np.float32
        got = run(added, floats)
        ints = run(original.to_bytes(), [tflite_quantize(floats[0], s_in, z_in, np.int8)])
        assert same(got, [tflite_dequantize(ints[0], s_out, z_out)])
        # the hand-made float model agrees
        assert same(got, run(wrap_float(build_runnable_model()).to_bytes(), floats))


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_round_trips_run_like_the_original(runtime: str) -> None:
    run = RUNTIMES[runtime]
    integer = build_runnable_model().to_bytes()
    floating = wrap_float(build_runnable_model()).to_bytes()
    integer_again = strip_float_io(add_float_io(build_runnable_model())).to_bytes()
    floating_again = add_float_io(strip_float_io(wrap_float(build_runnable_model()))).to_bytes()
    for seed in SEEDS:
        q = random_inputs(integer, seed)
        assert same(run(integer_again, q), run(integer, q))
        f = random_inputs(floating, seed)
        assert same(run(floating_again, f), run(floating, f))


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize(("dtype", "scale", "zero_point", "runtimes"), [
    ("int8", 0.5, -3, ("tflm", "litert")),
    ("int16", 0.25, 0, ("tflm", "litert")),
    # TFLite Micro has no float32 -> uint8 QUANTIZE kernel
    ("uint8", 0.5, 128, ("litert",)),
])
def test_quantize_and_dequantize_arithmetic_in_the_runtimes(
        dtype: str, scale: float, zero_point: int, runtimes: tuple[str, ...]) -> None:
    """A RESHAPE between the added operators: the float output is dequantize(quantize(x)).
    Inputs include exact halves (rounded away from zero) and values beyond the range."""
    model, g = new_graph()
    x = g.add_input(Tensor("x", (1, 8), dtype, quantization=q8(scale, zero_point)))
    g.add_output(op(g, RESHAPE, x, "y", quantization=q8(scale, zero_point)))
    result = AddFloatIO()(model)
    versions = {"int8": (1, 2), "int16": (2, 3), "uint8": (1, 1)}[dtype]
    assert [(o.opcode.name, o.opcode.version) for o in g.operators] == [
        ("QUANTIZE", versions[0]), ("RESHAPE", 1), ("DEQUANTIZE", versions[1])]
    assert len(result.changes) == 2
    assert [t.name for t in g.tensors if t.dtype == TensorType[dtype.upper()]] == [
        f"x_{dtype}", f"y_{dtype}"]
    data = model.to_bytes()
    # scale * (k + 0.5) is exact and so is its division by the scale: ties, rounded away from 0
    ties = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5]
    values = np.array([[*(scale * t for t in ties), 1e5, -1e5]], np.float32)
    want = [tflite_dequantize(tflite_quantize(values, scale, zero_point, np.dtype(dtype)),
                              scale, zero_point)]
    assert want[0][0, :6].tolist() == [scale * k for k in (1, -1, 2, -2, 3, -3)]
    for runtime in runtimes:
        assert same(RUNTIMES[runtime](data, [values]), want), runtime
        for seed in SEEDS:
            floats = random_inputs(data, seed)
            got = RUNTIMES[runtime](data, floats)
            assert same(got, [tflite_dequantize(
                tflite_quantize(floats[0], scale, zero_point, np.dtype(dtype)),
                scale, zero_point)]), (runtime, seed)
    assert tflitekit.diff(strip_float_io(model), _reshape_model(dtype, scale, zero_point)) == []


def _reshape_model(dtype: str, scale: float, zero_point: int) -> Model:
    model, g = new_graph()
    x = g.add_input(Tensor("x", (1, 8), dtype, quantization=q8(scale, zero_point)))
    g.add_output(op(g, RESHAPE, x, "y", quantization=q8(scale, zero_point)))
    return model


# ------------------------------------------------------------------------------------------------
# Several inputs and outputs, signature defs
# ------------------------------------------------------------------------------------------------


def test_multi_io_order_names_and_signature() -> None:
    model = build_multi_io()
    g = model.main
    aq, b, cq = g.tensor("a_int8"), g.tensor("b"), g.tensor("c_int8")
    tq, s, uq = g.tensor("t_int8"), g.tensor("s"), g.tensor("u_int8")
    result = StripFloatIO()(model)
    assert len(result.changes) == 4 and result.skipped == []
    assert g.inputs == [aq, b, cq] and g.outputs == [tq, s, uq]
    assert [t.name for t in g.inputs] == ["a", "b", "c"]
    assert [t.name for t in g.outputs] == ["t", "s", "u"]
    sig = model.signature_defs[0]
    assert sig.inputs == {"in_a": aq, "in_b": b, "in_c": cq}
    assert sig.outputs == {"out_t": tq, "out_s": s, "out_u": uq}
    assert [op.opcode.name for op in g.operators] == ["ADD", "ADD", "ADD"]
    assert {t.name for t in g.tensors} == {"a", "b", "c", "s", "t", "u"}


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_multi_io_runs(runtime: str) -> None:
    run = RUNTIMES[runtime]
    wrapped = build_multi_io()
    stripped = strip_float_io(build_multi_io())
    ins = [qparams(t) for t in stripped.main.inputs]
    outs = [qparams(t) for t in stripped.main.outputs]
    for seed in SEEDS:
        q = random_inputs(stripped.to_bytes(), seed)
        floats = [q[1] if i == 1 else tflite_dequantize(q[i], *ins[i]) for i in range(3)]
        want = run(wrapped.to_bytes(), floats)
        want = [w if j == 1 else tflite_quantize(w, *outs[j], np.int8)
                for j, w in enumerate(want)]
        assert same(run(stripped.to_bytes(), q), want)
        # and back (b and s were integer from the start): the float model's behaviour again
        again = add_float_io(strip_float_io(build_multi_io()), names=["a", "c", "t", "u"])
        assert structure(again) == structure(build_multi_io())
        f = random_inputs(wrapped.to_bytes(), seed)
        assert same(run(again.to_bytes(), f), run(wrapped.to_bytes(), f))


@pytest.mark.litert
def test_signature_runner_sees_the_stripped_interface() -> None:
    from ai_edge_litert.interpreter import Interpreter

    data = strip_float_io(build_multi_io()).to_bytes()
    interpreter = Interpreter(model_content=data)
    runner = interpreter.get_signature_runner("serving_default")
    details = runner.get_input_details()
    assert {k: v["dtype"] for k, v in details.items()} == {
        "in_a": np.int8, "in_b": np.int8, "in_c": np.int8}
    q = random_inputs(data, 0)
    named = runner(in_a=q[0], in_b=q[1], in_c=q[2])
    positional = run_litert(data, q, reference_kernels=False)
    assert same([named["out_t"], named["out_s"], named["out_u"]], positional)


def _second_subgraph_model(float_io: bool = True) -> Model:
    """Main: the runnable model; subgraph 1: a RESHAPE with its own signature def, wrapped in
    QUANTIZE / DEQUANTIZE when ``float_io``."""
    model = build_runnable_model()
    g = model.add_subgraph("second")
    if float_io:
        x = float_in(g)
        yq = op(g, RESHAPE, op(g, Q, x, "x_int8", "int8", q8()), "y_int8", quantization=q8())
        y = op(g, DQ, yq, "y", "float32", version=2)
    else:
        x = int_in(g, "x")
        y = op(g, RESHAPE, x, "y", quantization=q8())
    g.add_output(y)
    model.signature_defs.append(SignatureDef("second", g, inputs={"in": x}, outputs={"out": y}))
    return model


@pytest.mark.litert
def test_entry_subgraphs_include_signature_subgraphs() -> None:
    model = _second_subgraph_model()
    g = model.subgraphs[1]
    xq, yq = g.tensor("x_int8"), g.tensor("y_int8")
    result = StripFloatIO()(model)
    assert result.changes == [
        "subgraph 1: input 0 'x': removed its QUANTIZE; it is now INT8 (scale 0.100000001, "
        "zero point 0)",
        "subgraph 1: output 0 'y': removed its DEQUANTIZE; it is now INT8 (scale 0.100000001, "
        "zero point 0)",
    ]
    assert model.signature_defs[0].inputs == {"in": xq}
    assert model.signature_defs[0].outputs == {"out": yq}
    assert (xq.name, yq.name) == ("x", "y")
    data = model.to_bytes()
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=data).get_signature_runner("second")
    q = np.array([[-128, 127]], np.int8)
    assert runner(**{"in": q})["out"].tolist() == q.tolist()


CALLED = ("subgraph 1: left alone: it is also run by CALL_ONCE (subgraph 0, operator 0), whose "
          "tensors fix its interface types")


@pytest.mark.parametrize("float_io", [True, False])
def test_called_subgraph_is_left_alone(float_io: bool) -> None:
    model = _second_subgraph_model(float_io)
    model.main.add_operator(BuiltinOperator.CALL_ONCE, [], [],
                            CallOnceOptions(init_subgraph_index=1), before=model.main.operators[0])
    before = model.copy()
    result = (StripFloatIO() if float_io else AddFloatIO())(model)
    assert result.skipped == [CALLED]
    assert result.changes == ([] if float_io else [
        "subgraph 0: input 0 'x': added a QUANTIZE (version 1) from float32 to 'x_int8', INT8 "
        "(scale 0.0500000007, zero point -3)",
        "subgraph 0: output 0 'y': added a DEQUANTIZE (version 2) to float32 from 'y_int8', "
        "INT8 (scale 0.200000003, zero point -1)"])
    assert [(t.name, t.dtype) for t in (*model.subgraphs[1].inputs,
                                        *model.subgraphs[1].outputs)] == [
        (t.name, t.dtype) for t in (*before.subgraphs[1].inputs, *before.subgraphs[1].outputs)]
    assert len(model.subgraphs[1].operators) == len(before.subgraphs[1].operators)


# ------------------------------------------------------------------------------------------------
# names, inputs-only, outputs-only
# ------------------------------------------------------------------------------------------------


def test_names_restrict_strip_to_those_tensors() -> None:
    model = build_multi_io()
    result = StripFloatIO(names=["c", "u"])(model)
    assert [c.split(":")[1].strip() for c in result.changes] == ["input 2 'c'", "output 2 'u'"]
    g = model.main
    assert [t.dtype.name for t in g.inputs] == ["FLOAT32", "INT8", "INT8"]
    assert [t.dtype.name for t in g.outputs] == ["FLOAT32", "INT8", "INT8"]
    assert [t.name for t in g.inputs] == ["a", "b", "c"]
    # a single string is one name
    assert StripFloatIO(names="a")(model).changes[0].startswith("subgraph 0: input 0 'a'")


@pytest.mark.parametrize(("names", "kwargs", "message"), [
    (["nope"], {}, "strip_float_io: no float32 input or output named 'nope' in an entry "
                   "subgraph; there are ['a', 'c', 't', 'u']"),
    (["b", "s"], {}, "no float32 input or output named 'b', 's'"),  # integer already
    (["a"], {"inputs": False}, "no float32 output named 'a' in an entry subgraph; there are "
                               "['t', 'u']"),
    (["t"], {"outputs": False}, "no float32 input named 't'"),
])
def test_strip_names_that_are_not_float_interface_tensors_raise(
        names: list[str], kwargs: dict[str, bool], message: str) -> None:
    model = build_multi_io()
    before = model.copy()
    with pytest.raises(PassError, match=message.replace("[", r"\[").replace("]", r"\]")):
        StripFloatIO(names=names, **kwargs)(model)
    assert tflitekit.diff(model, before) == []


def test_add_names() -> None:
    model = build_multi_io()
    result = AddFloatIO(names={"s"})(model)
    assert [c.split(":")[1].strip() for c in result.changes] == ["output 1 's'"]
    assert model.main.outputs[1].dtype == TensorType.FLOAT32
    assert model.signature_defs[0].outputs["out_s"] is model.main.outputs[1]
    with pytest.raises(PassError, match=r"add_float_io: no INT8, INT16 or UINT8 input or output "
                                        r"named 'a' in an entry subgraph; there are \['b'\]"):
        AddFloatIO(names=["a"])(model)
    with pytest.raises(PassError, match="no INT8, INT16 or UINT8 output named 'b'"):
        AddFloatIO(names=["b"], inputs=False)(model)


@pytest.mark.tflm
@pytest.mark.parametrize("side", ["inputs", "outputs"])
def test_one_side_only(side: str) -> None:
    model = wrap_float(build_runnable_model())
    inputs, outputs = side == "inputs", side == "outputs"
    result = StripFloatIO(inputs=inputs, outputs=outputs)(model)
    assert len(result.changes) == 1 and result.skipped == []
    g = model.main
    assert g.inputs[0].dtype == (TensorType.INT8 if side == "inputs" else TensorType.FLOAT32)
    assert g.outputs[0].dtype == (TensorType.INT8 if side == "outputs" else TensorType.FLOAT32)
    assert [op.opcode.name for op in g.operators].count("QUANTIZE") == (side == "outputs")
    assert [op.opcode.name for op in g.operators].count("DEQUANTIZE") == (side == "inputs")
    # the other side is added back alone too
    back = AddFloatIO(inputs=inputs, outputs=outputs)(model)
    assert len(back.changes) == 1
    assert structure(model) == structure(wrap_float(build_runnable_model()))
    data = model.to_bytes()
    f = random_inputs(data, 0)
    assert same(run_tflm(data, f), run_tflm(wrap_float(build_runnable_model()).to_bytes(), f))


# ------------------------------------------------------------------------------------------------
# Every reason to leave an interface tensor alone
# ------------------------------------------------------------------------------------------------


def _input_case(change: Callable[[Model, Subgraph, Tensor], object]) -> Callable[[], Model]:
    """x (float32) -> QUANTIZE -> x_int8 -> RESHAPE -> z (int8 output), then ``change``."""
    def build() -> Model:
        model, g = new_graph()
        x = float_in(g)
        g.add_output(op(g, RESHAPE, op(g, Q, x, "x_int8", "int8", q8()), "z", quantization=q8()))
        change(model, g, x)
        return model
    return build


def _output_case(change: Callable[[Model, Subgraph, Tensor], object]) -> Callable[[], Model]:
    """w (int8 input) -> RESHAPE -> r -> DEQUANTIZE -> y (float32 output), then ``change``
    (given r)."""
    def build() -> Model:
        model, g = new_graph()
        r = op(g, RESHAPE, int_in(g), "r", quantization=q8())
        g.add_output(op(g, DQ, r, "y", "float32", version=2))
        change(model, g, r)
        return model
    return build


def _reshape_of(name: str) -> Callable[[Model, Subgraph, Tensor], object]:
    def change(model: Model, g: Subgraph, t: Tensor) -> None:
        g.add_output(op(g, RESHAPE, g.tensor(name), f"{name}/reshaped"))
    return change


def _quantize_to(dtype: str, quantization: Quantization | None) -> Callable[[], Model]:
    def build() -> Model:
        model, g = new_graph()
        x = float_in(g)
        g.add_output(op(g, RESHAPE, op(g, Q, x, "x_q", dtype, quantization), "z",
                        quantization=quantization))
        return model
    return build


def _dequantize_of(dtype: str, quantization: Quantization | None) -> Callable[[], Model]:
    def build() -> Model:
        model, g = new_graph()
        w = g.add_input(Tensor("w", (1, 2), dtype, quantization=quantization))
        r = op(g, RESHAPE, w, "r", quantization=quantization)
        g.add_output(op(g, DQ, r, "y", "float32"))
        return model
    return build


def _float_model() -> Model:
    model, g = new_graph()
    g.add_output(op(g, RESHAPE, float_in(g), "y"))
    return model


def _unread_input() -> Model:
    model, g = new_graph()
    float_in(g)
    g.add_output(op(g, RESHAPE, int_in(g), "z", quantization=q8()))
    return model


def _constant_dequantized() -> Model:
    model, g = new_graph()
    g.add_output(op(g, RESHAPE, int_in(g), "z", quantization=q8()))
    c = Tensor.constant("c", np.array([[1, 2]], np.int8), quantization=q8())
    g.add_output(op(g, DQ, c, "y", "float32", version=2))
    return model


def _round_trip_tensor() -> Model:
    """x -> QUANTIZE -> x_int8 -> DEQUANTIZE -> y: stripping both sides would make x_int8
    both the input and the output."""
    model, g = new_graph()
    g.add_output(op(g, DQ, op(g, Q, float_in(g), "x_int8", "int8", q8()), "y", "float32"))
    return model


def _same_tensor_dequantized_twice() -> Model:
    model, g = new_graph()
    r = op(g, RESHAPE, int_in(g), "r", quantization=q8())
    g.add_output(op(g, DQ, r, "y1", "float32"))
    g.add_output(op(g, DQ, r, "y2", "float32"))
    return model


def _io_dequantized() -> Model:
    model, g = new_graph()
    g.add_output(op(g, DQ, int_in(g), "y", "float32", version=2))
    return model


PER_CHANNEL = Quantization([0.1, 0.2], [0, 0], quantized_dimension=1)
LEFT = "subgraph 0: {} left float32: {}"

STRIP_SKIPS: list[tuple[str, Callable[[], Model], list[str]]] = [
    ("float model", _float_model, [
        LEFT.format("input 0 'x'", "it is read by RESHAPE, not by a QUANTIZE"),
        LEFT.format("output 0 'y'", "it is produced by RESHAPE, not by a DEQUANTIZE")]),
    ("unread input", _unread_input, [LEFT.format("input 0 'x'", "no operator reads it")]),
    ("input read by another operator too", _input_case(_reshape_of("x")), [
        LEFT.format("input 0 'x'", "besides its QUANTIZE, RESHAPE also reads it"),
        LEFT.format("output 1 'x/reshaped'", "it is produced by RESHAPE, not by a DEQUANTIZE")]),
    ("input quantized twice", _input_case(
        lambda m, g, x: g.add_output(op(g, Q, x, "x_int8_again", "int8", q8()))), [
        LEFT.format("input 0 'x'", "besides its QUANTIZE, QUANTIZE also reads it")]),
    ("input that is also an output", _input_case(lambda m, g, x: g.add_output(x)), [
        LEFT.format("input 0 'x'", "it is also a subgraph output"),
        LEFT.format("output 1 'x'", "no operator produces it")]),
    ("input listed twice", _input_case(lambda m, g, x: g.inputs.append(x)), [
        LEFT.format("input 0 'x'", "it is listed more than once among the inputs"),
        LEFT.format("input 1 'x'", "it is listed more than once among the inputs")]),
    ("per-channel input", _quantize_to("int8", PER_CHANNEL), [
        LEFT.format("input 0 'x'", "its QUANTIZE produces 'x_q', which is quantized per "
                                   "channel (2 scales along dimension 1)")]),
    ("input quantized to int32", _quantize_to("int32", q8()), [
        LEFT.format("input 0 'x'", "its QUANTIZE produces 'x_q', which is INT32, not INT8, "
                                   "INT16 or UINT8")]),
    ("quantized input without parameters", _quantize_to("int8", None), [
        LEFT.format("input 0 'x'", "its QUANTIZE produces 'x_q', which has no quantization "
                                   "parameters")]),
    ("integer input tensor is also an output", _input_case(
        lambda m, g, x: g.add_output(g.tensor("x_int8"))), [
        LEFT.format("input 0 'x'", "the integer tensor 'x_int8' is also a subgraph output: it "
                                   "would be both input and output")]),
    ("output read by another operator", _output_case(
        lambda m, g, r: g.add_output(op(g, RESHAPE, g.tensor("y"), "y2"))), [
        LEFT.format("output 0 'y'", "it is also read by RESHAPE"),
        LEFT.format("output 1 'y2'", "it is produced by RESHAPE, not by a DEQUANTIZE")]),
    ("output listed twice", _output_case(lambda m, g, r: g.outputs.append(g.outputs[0])), [
        LEFT.format("output 0 'y'", "it is listed more than once among the outputs"),
        LEFT.format("output 1 'y'", "it is listed more than once among the outputs")]),
    ("float16 dequantized", _dequantize_of("float16", None), [
        LEFT.format("output 0 'y'", "its DEQUANTIZE reads 'r', which is FLOAT16, not INT8, "
                                    "INT16 or UINT8")]),
    ("per-channel output", _dequantize_of("int8", PER_CHANNEL), [
        LEFT.format("output 0 'y'", "its DEQUANTIZE reads 'r', which is quantized per channel "
                                    "(2 scales along dimension 1)")]),
    ("dequantized constant", _constant_dequantized, [
        LEFT.format("output 1 'y'", "its DEQUANTIZE reads the constant 'c'")]),
    ("integer output tensor is an input", _io_dequantized, [
        LEFT.format("output 0 'y'", "the integer tensor 'w' is a subgraph input: it would be "
                                    "both input and output")]),
    ("integer output tensor is already an output", _output_case(
        lambda m, g, r: g.add_output(r)), [
        LEFT.format("output 0 'y'", "the integer tensor 'r' is already a subgraph output: it "
                                    "would be listed twice")]),
    ("one tensor dequantized to two outputs", _same_tensor_dequantized_twice, [
        LEFT.format("output 0 'y1'", "the integer tensor 'r' would be listed twice among the "
                                     "outputs (output 0 'y1', output 1 'y2')"),
        LEFT.format("output 1 'y2'", "the integer tensor 'r' would be listed twice among the "
                                     "outputs (output 0 'y1', output 1 'y2')")]),
    ("quantized then dequantized", _round_trip_tensor, [
        LEFT.format("input 0 'x'", "the integer tensor 'x_int8' would be both input and output "
                                   "(input 0 'x', output 0 'y')"),
        LEFT.format("output 0 'y'", "the integer tensor 'x_int8' would be both input and output "
                                    "(input 0 'x', output 0 'y')")]),
]


@pytest.mark.parametrize(("build", "skipped"), [case[1:] for case in STRIP_SKIPS],
                         ids=[case[0] for case in STRIP_SKIPS])
def test_strip_skips(build: Callable[[], Model], skipped: list[str]) -> None:
    model = build()
    assert model.check() == []
    result = StripFloatIO()(model)
    assert result.changes == []
    assert result.skipped == skipped
    assert tflitekit.diff(model, build()) == []


@pytest.mark.parametrize("side", ["inputs", "outputs"])
def test_quantized_then_dequantized_strips_one_side_at_a_time(side: str) -> None:
    model = _round_trip_tensor()
    xq = model.main.tensor("x_int8")
    result = StripFloatIO(inputs=side == "inputs", outputs=side == "outputs")(model)
    assert len(result.changes) == 1 and result.skipped == []
    if side == "inputs":
        assert model.main.inputs == [xq] and xq.name == "x"
    else:
        assert model.main.outputs == [xq] and xq.name == "y"


def _add_case(build: Callable[[Subgraph], object]) -> Callable[[], Model]:
    def make() -> Model:
        model, g = new_graph()
        build(g)
        return model
    return make


def _passthrough(g: Subgraph) -> None:
    g.add_output(int_in(g))


def _listed_twice(g: Subgraph) -> None:
    w = int_in(g)
    g.inputs.append(w)
    g.add_output(op(g, CAST, w, "z", "int32"))


def _int16_output(zero_point: int) -> Callable[[Subgraph], None]:
    def build(g: Subgraph) -> None:
        w = int_in(g, dtype="int16", quantization=q8(0.5, zero_point))
        g.add_output(op(g, RESHAPE, w, "z", quantization=q8(0.5, zero_point)))
    return build


LEFT_INT = "subgraph 0: {} left integer: {}"

ADD_SKIPS: list[tuple[str, Callable[[], Model], list[str]]] = [
    ("per-channel", _add_case(lambda g: g.add_output(op(g, DQ, int_in(
        g, quantization=PER_CHANNEL), "z", "float32"))), [
        LEFT_INT.format("input 0 'w'", "it is quantized per channel (2 scales along "
                                       "dimension 1)")]),
    ("no quantization", _add_case(lambda g: g.add_output(op(g, DQ, g.add_input(
        Tensor("w", (1, 2), "int8")), "z", "float32"))), [
        LEFT_INT.format("input 0 'w'", "it has no quantization parameters")]),
    ("input and output", _add_case(_passthrough), [
        LEFT_INT.format("input 0 'w'", "it is both a subgraph input and a subgraph output"),
        LEFT_INT.format("output 0 'w'", "it is both a subgraph input and a subgraph output")]),
    ("listed twice", _add_case(_listed_twice), [
        LEFT_INT.format("input 0 'w'", "it is listed more than once among the inputs"),
        LEFT_INT.format("input 1 'w'", "it is listed more than once among the inputs")]),
]


@pytest.mark.parametrize(("build", "skipped"), [case[1:] for case in ADD_SKIPS],
                         ids=[case[0] for case in ADD_SKIPS])
def test_add_skips(build: Callable[[], Model], skipped: list[str]) -> None:
    model = build()
    assert model.check() == []
    result = AddFloatIO()(model)
    assert result.changes == []
    assert result.skipped == skipped
    assert tflitekit.diff(model, build()) == []


@pytest.mark.litert
@pytest.mark.tflm
def test_add_skips_int16_outputs_whose_zero_point_litert_refuses() -> None:
    model = _add_case(_int16_output(5))()
    result = AddFloatIO()(model)
    assert result.skipped == [LEFT_INT.format(
        "output 0 'z'", "it is INT16 with zero point 5, and LiteRT's DEQUANTIZE takes INT16 "
                        "only with zero point 0")]
    assert result.changes == [
        "subgraph 0: input 0 'w': added a QUANTIZE (version 2) from float32 to 'w_int16', "
        "INT16 (scale 0.5, zero point 5)"]
    data = model.to_bytes()
    for run in RUNTIMES.values():
        values = np.array([[1.25, -1.25]], np.float32)
        assert run(data, [values])[0].tolist() == [[8, 2]]  # 2.5 -> 3 and -2.5 -> -3, + 5
    assert AddFloatIO()(_add_case(_int16_output(0))()).skipped == []


def test_add_derives_unique_names_and_copies_the_shape_signature() -> None:
    model, g = new_graph()
    w = g.add_input(Tensor("w", (1, 2), "int8", shape_signature=(-1, 2), has_rank=True,
                           quantization=q8()))
    g.add_tensor(Tensor("w_int8", (1,), "int32"))
    g.add_tensor(Tensor("w_int8_1", (1,), "int32"))
    g.add_output(op(g, CAST, w, "z", "int32"))
    add_float_io(model)
    f = g.inputs[0]
    assert (f.name, f.dtype, f.shape, f.shape_signature, f.has_rank) == (
        "w", TensorType.FLOAT32, (1, 2), (-1, 2), True)
    assert f.quantization is None and f.buffer is None
    assert w.name == "w_int8_2"
    assert f.consumers[0].outputs == (w,)

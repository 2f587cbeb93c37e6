"""check()'s operand rules (counts, types, shapes per operator), unchecked(), and the custom
operator rule; the operator facts table covers the interpreter's operators."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit import Model, Problem, Quantization, Tensor
from tflitekit.ir.check import KINDS, Unchecked, unchecked
from tflitekit.ir.opfacts import FACTS, INTERPRETER_OPERATORS, Batch, facts
from tflitekit.options import (
    BuiltinOperator,
    ConcatenationOptions,
    FullyConnectedOptions,
    ReshapeOptions,
    TensorType,
)
from tflitekit.validate import validate_report

Op = BuiltinOperator


def single(code: BuiltinOperator | str, inputs: Sequence[Tensor | None],
           outputs: Sequence[Tensor], options: object = None) -> Model:
    """A model of one operator; non-constant inputs become the subgraph's inputs."""
    m = Model()
    g = m.add_subgraph()
    for t in inputs:
        if t is not None and not t.is_constant:
            g.add_input(t)
    g.add_operator(code, list(inputs), list(outputs), options)  # type: ignore[arg-type]
    for t in outputs:
        g.add_output(t)
    return m


def q(scale: float = 0.1, zp: int = 0) -> Quantization:
    return Quantization(scale, zp)


def fc(x_shape: tuple[int, ...], w_shape: tuple[int, int], out_shape: tuple[int, ...],
       dtype: str = "float32", out_dtype: str | None = None) -> Model:
    quantized = dtype != "float32"
    bias_dtype = "int32" if quantized else "float32"
    w = Tensor.constant("w", np.ones(w_shape), "int8" if quantized else "float32",
                        quantization=q() if quantized else None)
    b = Tensor.constant("b", np.zeros(w_shape[0]), bias_dtype,
                        quantization=q(0.01) if quantized else None)
    x = Tensor("x", x_shape, dtype, quantization=q() if quantized else None)
    out_dtype = out_dtype or dtype
    y = Tensor("y", out_shape, out_dtype, quantization=q() if out_dtype != "float32" else None)
    return single(Op.FULLY_CONNECTED, [x, w, b], [y], FullyConnectedOptions())


def the(problems: list[Problem], kind: str, *fragments: str) -> Problem:
    assert len(problems) == 1, problems
    p = problems[0]
    assert p.kind == kind, p
    for fragment in fragments:
        assert fragment in p.message, (fragment, p.message)
    assert p.kind in KINDS
    return p


# -- the two cases a new user hit -----------------------------------------------------------------


def test_fully_connected_weights_that_do_not_fit_the_input() -> None:
    assert fc((1, 5), (3, 5), (1, 3)).check() == []
    p = the(fc((1, 4), (3, 5), (1, 3)).check(), "operand-shape", "(1, 4)", "depth 5")
    assert isinstance(p.subject, tflitekit.Operator)
    assert p.where == "subgraphs[0].operators[0] (FULLY_CONNECTED)"


def test_int8_operator_with_a_float32_output() -> None:
    assert fc((1, 4), (3, 4), (1, 3), "int8").check() == []
    the(fc((1, 4), (3, 4), (1, 3), "int8", "float32").check(), "operand-type",
        "'y' (FLOAT32)", "'x' (INT8)")


def _litert_accepts(model: Model) -> bool:
    from ai_edge_litert import interpreter as litert

    try:
        litert.Interpreter(model_content=model.to_bytes()).allocate_tensors()
    except (RuntimeError, ValueError):
        return False
    return True


@pytest.mark.litert
@pytest.mark.parametrize(("model", "sound"), [
    (fc((1, 5), (3, 5), (1, 3)), True), (fc((1, 4), (3, 5), (1, 3)), False),
    (fc((2, 4), (3, 4), (2, 3), "int8"), True),
    (fc((1, 4), (3, 4), (1, 3), "int8", "float32"), False),
], ids=["fc", "fc-3x5-on-1x4", "fc-int8", "fc-int8-float-output"])
def test_litert_agrees(model: Model, sound: bool) -> None:
    assert (model.check() == []) is sound
    assert _litert_accepts(model) is sound


# -- one rule family each ----------------------------------------------------------------------


def test_bias_type_follows_the_activations() -> None:
    m = fc((1, 4), (3, 4), (1, 3), "int8")
    op = m.main.operators[0]
    op.set_input(2, Tensor.constant("b64", np.zeros(3, np.int64), quantization=q(0.01)))
    the(m.check(), "operand-type", "'b64' (INT64)", "INT32")
    x16 = Tensor("x", (1, 4), "int16", quantization=q())
    w = Tensor.constant("w", np.ones((3, 4)), "int8", quantization=q())
    b = Tensor.constant("b", np.zeros(3), "int64", quantization=q(0.01))
    y = Tensor("y", (1, 3), "int16", quantization=q())
    assert single(Op.FULLY_CONNECTED, [x16, w, b], [y]).check() == []


def test_conv_channels() -> None:
    def conv(cin: int, filter_in: int, cout: int) -> Model:
        x = Tensor("x", (1, 4, 4, cin))
        w = Tensor.constant("w", np.ones((3, 2, 2, filter_in), np.float32))
        y = Tensor("y", (1, 4, 4, cout))
        return single(Op.CONV_2D, [x, w, None], [y])
    assert conv(2, 2, 3).check() == []
    assert conv(4, 2, 3).check() == []  # grouped
    the(conv(3, 2, 3).check(), "operand-shape", "input channels 3", "filter's 2")
    the(conv(2, 2, 4).check(), "operand-shape", "output channels and filters: 4 vs 3")


def test_elementwise_broadcasting_and_count() -> None:
    a, b = Tensor("a", (2, 1, 3)), Tensor("b", (4, 1))
    assert single(Op.ADD, [a, b], [Tensor("y", (2, 4, 3))]).check() == []
    the(single(Op.ADD, [Tensor("a", (2, 3)), Tensor("b", (4,))], [Tensor("y", (2, 3))]).check(),
        "operand-shape", "do not broadcast")
    the(single(Op.MUL, [Tensor("a", (2, 3)), Tensor("b", (3,))], [Tensor("y", (3, 3))]).check(),
        "operand-shape", "not the broadcast shape (2, 3)")
    the(single(Op.ADD, [Tensor("a", (2,))], [Tensor("y", (2,))]).check(), "operand-count",
        "has 1 inputs")
    the(single(Op.SUB, [Tensor("a", (2,)), Tensor("b", (2,), "int32")],
               [Tensor("y", (2,))]).check(), "operand-type", "input 1 'b' (INT32)")


def test_reshape_and_concatenation() -> None:
    shape = Tensor.constant("s", np.array([1, 6], np.int32))
    ok = single(Op.RESHAPE, [Tensor("x", (2, 3)), shape], [Tensor("y", (1, 6))],
                ReshapeOptions(new_shape=[1, 6]))
    assert ok.check() == []
    shape = Tensor.constant("s", np.array([1, 5], np.int32))
    the(single(Op.RESHAPE, [Tensor("x", (2, 3)), shape], [Tensor("y", (1, 5))]).check(),
        "operand-shape", "5 elements", "6 elements")
    cat = [Tensor("a", (1, 2, 3)), Tensor("b", (1, 4, 3))]
    assert single(Op.CONCATENATION, cat, [Tensor("y", (1, 6, 3))],
                  ConcatenationOptions(axis=-2)).check() == []
    the(single(Op.CONCATENATION, [Tensor("a", (1, 2, 3)), Tensor("b", (1, 4, 3))],
               [Tensor("y", (1, 7, 3))], ConcatenationOptions(axis=1)).check(),
        "operand-shape", "output dimension 1 and the inputs' sum: 7 vs 6")


def test_softmax_may_widen_int8_to_int16() -> None:
    x = Tensor("x", (1, 4), "int8", quantization=q())
    assert single(Op.SOFTMAX, [x], [Tensor("y", (1, 4), "int16", quantization=q())]).check() == []
    x = Tensor("x", (1, 4), "int8", quantization=q())
    the(single(Op.SOFTMAX, [x], [Tensor("y", (1, 4), "float32")]).check(), "operand-type")


def test_dynamic_dimensions_are_checked_at_their_static_size() -> None:
    """The runtimes allocate and check ``shape``; a -1 in ``shape_signature`` only marks a
    dimension a resize may change, so it is no wildcard."""
    x = Tensor("x", (1, 4), shape_signature=(-1, 4))
    y = Tensor("y", (3, 4), shape_signature=(-1, 4))
    the(single(Op.RELU, [x], [y]).check(), "operand-shape", "(3, 4)", "(1, 4)")
    x = Tensor("x", (1, 4), shape_signature=(-1, 4))
    assert single(Op.RELU, [x], [Tensor("y", (1, 4), shape_signature=(-1, 4))]).check() == []
    the(single(Op.RELU, [Tensor("x", (1, 4))], [Tensor("y", (3, 4))]).check(), "operand-shape")


def test_reshape_with_a_dynamic_batch_keeps_its_element_count() -> None:
    """The new user's case: TFLite Micro refuses a RESHAPE of 64 elements into 7."""
    x = Tensor("x", (1, 64), shape_signature=(-1, 64))
    y = Tensor("y", (1, 7), shape_signature=(-1, 64))
    problems = single(Op.RESHAPE, [x], [y], ReshapeOptions()).check()
    assert sorted(p.kind for p in problems) == ["operand-shape", "shape-signature"], problems
    reshape = next(p for p in problems if p.kind == "operand-shape")
    assert "(7 elements)" in reshape.message and "(64 elements)" in reshape.message


@pytest.mark.corpus
def test_a_broken_reshape_in_a_converter_model_is_found(corpus_model: Path) -> None:
    """Converter models mark the batch -1 in every ``shape_signature``: a RESHAPE output that
    loses elements is still found."""
    m = tflitekit.load(corpus_model)
    reshapes = [op for op in m.main.operators if op.type == Op.RESHAPE]
    if not reshapes:
        pytest.skip("no RESHAPE")
    out = reshapes[0].outputs[0]
    assert out.shape is not None
    out.shape = (*out.shape[:-1], out.shape[-1] + 1)
    the([p for p in m.check() if p.subject is reshapes[0]], "operand-shape", "elements")


def test_required_input_absent() -> None:
    the(single(Op.FULLY_CONNECTED, [Tensor("x", (1, 4)), None], [Tensor("y", (1, 3))]).check(),
        "operand-count", "input 1 is absent")


def test_faulty_operands_are_not_judged_again() -> None:
    m = fc((1, 4), (3, 4), (1, 3), "int8")
    m.main.tensor("b").dtype = TensorType.INT64  # its buffer is now the wrong size too
    the(m.check(), "buffer-size")


# -- custom operators and unchecked() ------------------------------------------------------------


def test_custom_operator_may_write_its_inputs() -> None:
    """xcore-opt's XC_conv2d_v2 takes a scratch tensor as input 4 that nothing else writes."""
    x, y = Tensor("x", (1, 4), "int8"), Tensor("y", (1, 4), "int8")
    scratch = Tensor("scratch", (16,), "int8")
    m = single("XC_conv2d_v2", [x, None, None, None, scratch], [y])
    m.main.add_operator("XC_conv2d_v2", [y, None, None, None, scratch],
                        [m.main.add_output(Tensor("z", (1, 4), "int8"))])
    assert m.check() == []
    assert unchecked(m) == [Unchecked("XC_conv2d_v2", "custom", 2)]
    assert str(unchecked(m)[0]) == "XC_conv2d_v2 x2: custom"
    # a builtin reading the same kind of tensor is still a problem
    m.main.add_operator(Op.RELU, [Tensor("orphan", (1, 4), "int8")],
                        [m.main.add_output(Tensor("r", (1, 4), "int8"))])
    the(m.check(), "no-producer", "'orphan'")


def test_unchecked_names_builtins_without_rules(tiny_model: object) -> None:
    m = tiny_model()  # type: ignore[operator]
    found = {u.operator: u.reason for u in unchecked(m)}
    assert found == {"MyCustomOp": "custom", "STABLEHLO_CONCATENATE": "no operand rule",
                     "CALL_ONCE": "no operand rule"}
    assert unchecked(fc((1, 5), (3, 5), (1, 3))) == []


def test_unchecked_names_builtin_codes_newer_than_the_schema() -> None:
    # a code newer than the schema is kept as a plain int (Subgraph.add_operator's annotation
    # does not admit int yet)
    m = single(12345, [Tensor("x", (1, 4))], [Tensor("y", (1, 4))])  # type: ignore[arg-type]
    m.main.add_operator(12345, [m.main.outputs[0]],  # type: ignore[arg-type]
                        [m.main.add_output(Tensor("z", (1, 4)))])
    assert m.check() == []
    assert unchecked(m) == [Unchecked("12345", "builtin code 12345 is newer than tflitekit's "
                                               "schema", 2)]


def test_validate_reports_what_it_did_not_check(tmp_path: Path) -> None:
    m = single("MyOp", [Tensor("x", (1,))], [Tensor("y", (1,))])
    path = tmp_path / "custom.tflite"
    m.save(path)
    result = validate_report(path)
    assert result.problems == [] and result.unchecked == unchecked(m)
    assert result.unchecked_line() == "not checked: 1 operator (MyOp x1: custom)"
    assert validate_report(fc((1, 5), (3, 5), (1, 3)).to_bytes()
                           ).unchecked_line() is None


# -- problems keep their identity across edits -----------------------------------------------------


def test_problem_identity_survives_renumbering(runnable_model: object) -> None:
    """A bad scale on tensors[2] that moves to tensors[1] when Prune removes an unused tensor
    is the same problem: the pass is not blamed for it."""
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 4)))
    g.add_tensor(Tensor("unused", (1, 4)))
    bad = g.add_tensor(Tensor("y", (1, 4), "int8", quantization=Quantization(-1.0, 0)))
    g.add_operator(Op.QUANTIZE, [x], [bad])
    g.add_output(bad)
    assert list(g.tensors).index(bad) == 2
    before = the(m.check(), "bad-scale")
    assert before.subject is bad and "tensors[2]" in before.where
    result = tflitekit.passes.Prune()(m, check=True)  # raises PassError if blamed
    assert result.modified and list(g.tensors).index(bad) == 1
    after = the(m.check(), "bad-scale")
    assert "tensors[1]" in after.where and after.key == before.key


def test_problem_identity_survives_renaming() -> None:
    """Messages name tensors, and passes rename them: the key does not read the message."""
    m = fc((1, 4), (3, 4), (1, 3), "int8", "float32")
    before = the(m.check(), "operand-type", "'x'")
    tflitekit.passes.StripStrings()(m, check=True)  # raises PassError if blamed
    after = the(m.check(), "operand-type")
    assert "'x'" not in after.message and after.key == before.key
    # a problem the edit causes is new
    m.main.operators[0].set_input(2, None)
    m.main.operators[0].outputs[0].dtype = TensorType.INT8
    m.main.operators[0].inputs[0].shape = (1, 5)  # type: ignore[union-attr]
    assert the(m.check(), "operand-shape").key != before.key


# -- the facts table -------------------------------------------------------------------------


def test_every_interpreter_operator_has_its_facts() -> None:
    assert len(INTERPRETER_OPERATORS) == 44
    for code in INTERPRETER_OPERATORS:
        known = FACTS.get(code)
        assert known is not None, code
        assert known.operands is not None, code  # check() has a rule for it
        assert isinstance(known.batch, Batch) and isinstance(known.side_effects, bool)
        assert not known.side_effects, code
    assert facts(Op.CUSTOM).side_effects and facts(Op.WHILE).side_effects
    assert facts(9999) is facts(Op.STABLEHLO_COMPOSITE)  # unknown: the defaults
    assert facts(Op.SHAPE).shape_only and facts(Op.RESHAPE).shape_operand == 1
    assert facts(Op.DEQUANTIZE).versions[TensorType.INT16] == 3


@pytest.mark.corpus
def test_no_problems_on_the_corpus(corpus_model: Path) -> None:
    m = tflitekit.load(corpus_model)
    assert m.check() == []
    assert unchecked(m) == []  # every operator of the corpus has a rule


@pytest.mark.corpus
@pytest.mark.xcore
def test_no_false_problems_on_xcore_output(xcore_models: dict[str, Path]) -> None:
    """xcore-opt output: XC_ custom operators (with scratch inputs nothing produces) are
    listed as unchecked, never reported as problems."""
    for name, path in xcore_models.items():
        m = tflitekit.load(path)
        assert m.check() == [], name
        assert unchecked(m) and all(u.reason == "custom" and u.operator.startswith("XC_")
                                    for u in unchecked(m)), name

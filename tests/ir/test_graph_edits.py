"""Graph links at scale: Usage-keyed uses, O(1) relinking, owned inputs/outputs, names."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import numpy as np
import pytest

import tflitekit
from tflitekit import Model, Operator, OperatorCode, Quantization, Tensor, TFLiteKitError, Usage
from tflitekit.options import BuiltinOperator, TensorType


def fan_out(n: int) -> tuple[Model, Tensor, list[Operator]]:
    """A constant read by ``n`` ADD operators."""
    m = Model("fan-out")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (4,), "float32"))
    c = Tensor.constant("c", np.ones(4, np.float32))
    ops = [g.add_operator(BuiltinOperator.ADD, [x, c], [Tensor(f"y{i}", (4,), "float32")])
           for i in range(n)]
    return m, c, ops


# ------------------------------------------------------------------------------------------------
# uses
# ------------------------------------------------------------------------------------------------


def test_uses_are_usage_tuples_in_link_order() -> None:
    _, c, ops = fan_out(3)
    assert c.uses == [Usage(op, 1) for op in ops]
    use = c.uses[0]
    assert use.operator is ops[0] and use.index == 1
    op, index = use  # still unpacks as an (operator, index) pair
    assert op is ops[0] and index == 1
    assert c.consumers == ops


def test_set_input_relinks_only_what_changed() -> None:
    m, c, ops = fan_out(3)
    x = m.main.inputs[0]
    before = list(x.uses)
    other = Tensor.constant("other", np.zeros(4, np.float32))
    ops[1].set_input(1, other)
    assert x.uses == before  # the untouched input keeps its links, in order
    assert c.uses == [Usage(ops[0], 1), Usage(ops[2], 1)]
    assert other.uses == [Usage(ops[1], 1)] and other.graph is m.main
    ops[1].inputs = [other, None, x]  # several positions at once
    assert other.uses == [Usage(ops[1], 0)]
    assert Usage(ops[1], 2) in x.uses and Usage(ops[1], 0) not in x.uses
    ops[1].outputs = [Tensor("z", (4,), "float32")]
    assert m.main.tensor("y1").producer is None and m.main.tensor("z").producer is ops[1]


def test_replace_all_uses_counts_operators_and_outputs() -> None:
    m, c, ops = fan_out(4)
    g = m.main
    g.add_output(c)
    new = Tensor.constant("new", np.zeros(4, np.float32))
    assert g.replace_all_uses(c, new) == 5
    assert c.uses == [] and [u.operator for u in new.uses] == ops
    assert list(g.outputs) == [new] and new.is_graph_output and not c.is_graph_output


def _best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_replace_all_uses_and_removal_scale_linearly() -> None:
    def replace(n: int) -> float:
        models = [fan_out(n) for _ in range(3)]
        it = iter(models)

        def once() -> None:
            m, c, _ = next(it)
            m.main.replace_all_uses(c, Tensor("fresh", (4,), "float32"))
        return _best_time(once)

    small, large = replace(500), replace(4000)  # 8x the uses: linear ~8x, quadratic ~64x
    assert large / small < 30, (small, large)


def test_owned_list_lookups_are_not_linear_scans() -> None:
    m, c, ops = fan_out(20000)
    g = m.main
    last = ops[-1]
    start = time.perf_counter()
    for _ in range(2000):
        assert last in g.operators and c in g.tensors
    assert time.perf_counter() - start < 0.5  # 2,000 scans of 20,000 items would take seconds
    stranger = Operator(BuiltinOperator.RELU)
    assert stranger not in g.operators
    with pytest.raises(ValueError):
        g.operators.index(stranger)
    assert g.operators.index(last) == len(ops) - 1


# ------------------------------------------------------------------------------------------------
# graph inputs and outputs are owned lists
# ------------------------------------------------------------------------------------------------


def test_appending_an_input_adopts_the_tensor() -> None:
    m = Model()
    g = m.add_subgraph()
    t = Tensor("t", (2,), "int8")
    assert not t.is_graph_input
    g.inputs.append(t)
    assert t.graph is g and t in g.tensors and t.is_graph_input and not t.is_graph_output
    u = Tensor("u", (2,), "int8")
    g.outputs = [u, t]  # assignment goes through the live list
    assert u.graph is g and u.is_graph_output and t.is_graph_output
    g.remove_output(t)
    assert not t.is_graph_output and t.is_graph_input
    g.inputs[0] = u
    assert not t.is_graph_input and u.is_graph_input and t.graph is g  # still a tensor of g
    assert g.inputs == [u] and g.inputs != [t]
    assert not [p for p in m.check() if "not a tensor of this subgraph" in p.message]


def test_a_tensor_of_another_subgraph_is_refused_as_input() -> None:
    m = Model()
    g, h = m.add_subgraph("g"), m.add_subgraph("h")
    t = h.add_tensor(Tensor("t", (1,)))
    with pytest.raises(TFLiteKitError, match="another subgraph"):
        g.inputs.append(t)
    assert list(g.inputs) == [] and t.graph is h


def test_inputs_keep_duplicates_and_order() -> None:
    m = Model()
    g = m.add_subgraph()
    a, b = Tensor("a", (1,)), Tensor("b", (1,))
    g.inputs = [a, b, a]
    assert list(g.inputs) == [a, b, a]
    del g.inputs[0]
    assert a.is_graph_input  # still listed once
    g.remove_input(a)
    assert not a.is_graph_input and list(g.inputs) == [b]


# ------------------------------------------------------------------------------------------------
# names that do not mislead
# ------------------------------------------------------------------------------------------------


def test_builtin_names_resolve_and_custom_operators_print_as_custom() -> None:
    conv = Operator("CONV_2D")
    assert conv.type == BuiltinOperator.CONV_2D and conv.opcode.custom_code is None
    assert repr(conv).startswith("Operator(CONV_2D,")
    custom = Operator("MY_OP")
    assert custom.type == BuiltinOperator.CUSTOM and custom.opcode.name == "MY_OP"
    assert repr(custom.opcode) == "OperatorCode(custom 'MY_OP', version=1)"
    assert repr(custom).startswith("Operator(custom 'MY_OP',")
    fake = Operator(OperatorCode(BuiltinOperator.CUSTOM, "CONV_2D"))
    assert repr(fake.opcode) != repr(conv.opcode)
    g = Model().add_subgraph()
    assert g.add_operator("RELU").type == BuiltinOperator.RELU


def test_public_classes_report_public_module_paths() -> None:
    for name in ("Model", "Subgraph", "Operator", "OperatorCode", "Tensor", "Buffer",
                 "Quantization", "SignatureDef", "Metadata", "Problem", "Usage"):
        cls = getattr(tflitekit, name)
        assert cls.__module__ == "tflitekit", name
        assert tflitekit.ir.__dict__[name] is cls
    assert repr(Tensor).endswith("'tflitekit.Tensor'>")


def test_dtypes_and_operators_print_as_names() -> None:
    w = Tensor("w", (2,), TensorType.INT8)
    assert str(w.dtype) == "INT8" and f"{w.dtype}" == "INT8" and f"{w.dtype:>5}" == " INT8"
    assert f"{w.dtype:d}" == "9" and w.dtype == 9
    assert str(BuiltinOperator.CONV_2D) == "CONV_2D"
    assert repr(TensorType.INT8) == "<TensorType.INT8: 9>"


# ------------------------------------------------------------------------------------------------
# Quantization methods
# ------------------------------------------------------------------------------------------------


def test_quantization_per_tensor_and_is_quantized() -> None:
    assert Quantization(0.5, -3).per_tensor() == (0.5, -3)
    assert Quantization(0.25).per_tensor() == (0.25, 0)
    assert Quantization(0.25).is_quantized
    empty = Quantization(min=[0.0], max=[1.0])
    assert not empty.is_quantized
    with pytest.raises(TFLiteKitError, match="no scale"):
        empty.per_tensor()
    with pytest.raises(TFLiteKitError, match="per channel"):
        Quantization([0.1, 0.2], [0, 0]).per_tensor()
    absent_zero = Quantization._restore(np.array([2.0], np.float32), None, 0, None, None, None)
    assert absent_zero.per_tensor() == (2.0, 0)
    copy = absent_zero.copy()
    assert copy == absent_zero and copy.zero_point is None  # absent stays absent
    assert copy.scale is not absent_zero.scale


def test_owned_list_index_agrees_with_a_plain_list() -> None:
    """Random edits (duplicates, negative indices, slices) against a list as the oracle."""
    from tflitekit.ir.graph import _OwnedList

    pool = [object() for _ in range(8)]
    for seed in range(200):
        rnd = random.Random(seed)
        owned: _OwnedList[object] = _OwnedList(lambda _: None, lambda _: None)
        ref: list[object] = []
        for _ in range(60):
            choice = rnd.random()
            if choice < 0.35 or not ref:
                i, v = rnd.randint(-len(ref) - 2, len(ref) + 2), rnd.choice(pool)
                owned.insert(i, v)
                ref.insert(i, v)
            elif choice < 0.5:
                i = rnd.randrange(-len(ref), len(ref))
                del owned[i]
                del ref[i]
            elif choice < 0.6:
                a, b = sorted(rnd.randrange(len(ref) + 1) for _ in range(2))
                values = [rnd.choice(pool) for _ in range(rnd.randint(0, 3))]
                owned[a:b] = values
                ref[a:b] = values
            elif choice < 0.7:
                span = slice(None, None, -2)
                values = [rnd.choice(pool) for _ in ref[span]]
                owned[span] = values
                ref[span] = values
            elif choice < 0.85:
                i, v = rnd.randrange(len(ref)), rnd.choice(pool)
                owned[i] = v
                ref[i] = v
            else:
                v = rnd.choice(ref)
                owned.remove(v)
                ref.remove(v)
            assert list(owned) == ref
            for v in pool:
                expected = next((i for i, x in enumerate(ref) if x is v), None)
                assert (v in owned) == (expected is not None)
                if expected is None:
                    with pytest.raises(ValueError):
                        owned.index(v)
                else:
                    assert owned.index(v) == expected

"""The object model and the builder: references, graph links, data views, operator codes."""

from __future__ import annotations

import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tflitekit
from tflitekit import (
    Buffer,
    Model,
    Operator,
    OperatorCode,
    Quantization,
    Subgraph,
    Tensor,
    UsageError,
)
from tflitekit.options import (
    AddOptions,
    BuiltinOperator,
    StablehloConcatenateOptions,
    TensorType,
)

# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def assert_links(graph: Subgraph) -> None:
    """producer / uses / consumers of every tensor agree with the operator list."""
    producers: dict[int, Operator] = {}
    uses: dict[int, list[tuple[int, int]]] = {}
    tensors = {id(t): t for t in graph.tensors}
    for k, op in enumerate(graph.operators):
        assert op.graph is graph
        for i, t in enumerate(op.inputs):
            if t is not None:
                assert id(t) in tensors, f"{t!r} read by {op!r} is not in the subgraph"
                uses.setdefault(id(t), []).append((k, i))
        for t in op.outputs:
            assert id(t) in tensors, f"{t!r} written by {op!r} is not in the subgraph"
            producers[id(t)] = op
    index = {id(op): k for k, op in enumerate(graph.operators)}
    for t in graph.tensors:
        assert t.graph is graph
        assert t.producer is producers.get(id(t)), f"producer of {t!r}"
        got = sorted((index[id(op)], i) for op, i in t.uses)
        assert got == sorted(uses.get(id(t), [])), f"uses of {t!r}"
        consumers = [id(o) for o in t.consumers]
        assert len(consumers) == len(set(consumers)), f"consumers of {t!r} repeat"
        assert set(consumers) == {id(graph.operators[k]) for k, _ in uses.get(id(t), [])}


def chain(n: int = 3) -> tuple[Model, list[Tensor], list[Operator]]:
    """x -> RELU -> t1 -> RELU -> t2 ... (float)"""
    m = Model("chain")
    g = m.add_subgraph("main")
    ts = [g.add_input(Tensor("t0", (1, 4), "float32"))]
    ops = []
    for k in range(1, n + 1):
        ts.append(Tensor(f"t{k}", (1, 4), "float32"))
        ops.append(g.add_operator(BuiltinOperator.RELU, [ts[k - 1]], [ts[k]]))
    g.add_output(ts[-1])
    return m, ts, ops


# ------------------------------------------------------------------------------------------------
# references, not indices
# ------------------------------------------------------------------------------------------------


def test_operators_hold_tensor_objects_and_none_for_absent_inputs(
        tiny_model: Callable[[], Model]) -> None:
    m = tflitekit.load(tiny_model().to_bytes())
    g = m.main
    custom = next(op for op in g.operators if op.type == BuiltinOperator.CUSTOM)
    assert isinstance(custom.inputs[0], Tensor)
    assert custom.inputs[1] is None  # index -1 in the file
    assert custom.inputs[0] is g.tensor("y")
    fc = next(op for op in g.operators if op.type == BuiltinOperator.FULLY_CONNECTED)
    w = fc.inputs[1]
    assert w is not None and isinstance(w.buffer, Buffer)
    assert any(b is w.buffer for b in m.buffers)
    # tensors without data hold None, not a reference to buffer 0
    assert g.tensor("x").buffer is None
    assert isinstance(fc.opcode, OperatorCode)
    assert fc.opcode.builtin_code is BuiltinOperator.FULLY_CONNECTED
    assert fc.opcode.name == "FULLY_CONNECTED"
    assert custom.opcode.name == "MyCustomOp" and custom.opcode.version == 2


def test_operator_codes_are_derived_from_operators_on_write() -> None:
    m, _, ops = chain(2)
    assert m.operator_codes == []
    ops[1].opcode = OperatorCode(BuiltinOperator.TANH)
    codes = [c.builtin_code for c in m.all_operator_codes()]
    assert codes == [BuiltinOperator.RELU, BuiltinOperator.TANH]
    loaded = tflitekit.load(m.to_bytes())
    assert [c.builtin_code for c in loaded.operator_codes] == codes
    assert [op.type for op in loaded.main.operators] == codes


def test_removing_an_operator_needs_no_renumbering(runnable_model: Callable[[], Model]) -> None:
    m = tflitekit.load(runnable_model().to_bytes())
    g = m.main
    reshape = next(op for op in g.operators if op.type == BuiltinOperator.RESHAPE)
    g.remove_operator(reshape)
    g.tensors.remove(reshape.inputs[1])  # drop the now unused shape constant
    m2 = tflitekit.load(m.to_bytes())
    assert tflitekit.diff(m, m2) == []
    names = [([t and t.name for t in op.inputs], [t.name for t in op.outputs])
             for op in m2.main.operators]
    assert names == [(["x", "conv/w", "conv/b"], ["conv/y"]),
                     (["flat", "fc/w", "fc/b"], ["fc/y"]),
                     (["fc/y", "add/c"], ["y"])]


def test_adding_an_operator_adopts_its_tensors() -> None:
    m, ts, _ = chain(1)
    g = m.main
    extra = Tensor.constant("extra", np.ones((1, 4), np.float32))
    z = Tensor("z", (1, 4))
    g.add_operator(BuiltinOperator.ADD, [ts[1], extra], [z], AddOptions())
    assert extra.graph is g and z.graph is g
    assert extra in g.tensors and z in g.tensors
    loaded = tflitekit.load(m.to_bytes())
    assert loaded.main.tensor("extra").data.tolist() == [[1, 1, 1, 1]]


def test_tensor_referenced_but_not_listed_is_still_written() -> None:
    m, ts, _ = chain(2)
    g = m.main
    g.tensors.remove(ts[1])  # still produced by ops[0] and read by ops[1]
    assert ts[1] not in g.tensors
    loaded = tflitekit.load(m.to_bytes())
    t1 = loaded.main.tensor("t1")
    assert loaded.main.operators[0].outputs == (t1,)
    assert loaded.main.operators[1].inputs == (t1,)


# ------------------------------------------------------------------------------------------------
# producer / uses / consumers under editing
# ------------------------------------------------------------------------------------------------


def test_links_after_building(tiny_model: Callable[[], Model]) -> None:
    m = tiny_model()
    for g in m.subgraphs:
        assert_links(g)
    ts = m.main
    y = ts.tensor("y")
    assert y.producer is not None and y.producer.type == BuiltinOperator.ADD
    assert [op.type for op in y.consumers] == [BuiltinOperator.CUSTOM]


def test_links_after_loading(tiny_bytes: bytes) -> None:
    m = tflitekit.load(tiny_bytes)
    for g in m.subgraphs:
        assert_links(g)
    assert m.main.tensor("x").producer is None
    assert m.main.tensor("flat").producer.type == BuiltinOperator.RESHAPE


def test_add_insert_remove_operator_keep_links() -> None:
    m, ts, ops = chain(2)
    g = m.main
    assert ts[1].producer is ops[0] and ts[1].uses == [(ops[1], 0)]
    # insert an operator in the middle: t1 -> TANH -> u -> (ops[1])
    u = Tensor("u", (1, 4))
    tanh = g.add_operator(BuiltinOperator.TANH, [ts[1]], [u], before=ops[1])
    assert list(g.operators) == [ops[0], tanh, ops[1]]
    assert u.graph is g and u in g.tensors
    ops[1].set_input(0, u)
    assert ts[1].uses == [(tanh, 0)]
    assert u.uses == [(ops[1], 0)] and u.producer is tanh
    assert_links(g)
    # remove it again and rewire
    ops[1].set_input(0, ts[1])
    g.remove_operator(tanh)
    assert tanh.graph is None
    assert u.producer is None and u.uses == []
    assert ts[1].uses == [(ops[1], 0)]
    assert_links(g)
    g.tensors.remove(u)
    assert u.graph is None
    assert m.check() == []


def test_same_tensor_twice_and_consumers_deduplicated() -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (2,)))
    y = Tensor("y", (2,))
    op = g.add_operator(BuiltinOperator.ADD, [x, x], [y], AddOptions())
    assert x.uses == [(op, 0), (op, 1)]
    assert x.consumers == [op]
    op.inputs = [x, None]
    assert x.uses == [(op, 0)]
    assert_links(g)


def test_inputs_and_outputs_setters_relink() -> None:
    m, ts, ops = chain(2)
    g = m.main
    other = g.add_tensor(Tensor("other", (1, 4)))
    ops[1].inputs = [other]
    assert ts[1].uses == [] and other.uses == [(ops[1], 0)]
    new_out = Tensor("new_out", (1, 4))
    ops[0].outputs = [new_out]
    assert ts[1].producer is None
    assert new_out.producer is ops[0] and new_out.graph is g
    assert_links(g)


def test_operator_outside_a_graph_has_no_links() -> None:
    a, b = Tensor("a", (1,)), Tensor("b", (1,))
    op = Operator(BuiltinOperator.RELU, [a], [b])
    assert op.graph is None
    assert a.uses == [] and b.producer is None
    op.set_input(0, None)
    assert op.inputs == (None,)


def test_replace_all_uses() -> None:
    m, ts, ops = chain(3)
    g = m.main
    # t2 is read by ops[2]; also make it a subgraph output and read twice by an ADD
    g.add_output(ts[2])
    add_out = Tensor("sum", (1, 4))
    add = g.add_operator(BuiltinOperator.ADD, [ts[2], ts[2]], [add_out], AddOptions())
    g.add_output(add_out)
    n = g.replace_all_uses(ts[2], ts[1])
    assert n == 4  # ops[2].in0, add.in0, add.in1, outputs[1]
    assert ts[2].uses == []
    assert ops[2].inputs == (ts[1],) and add.inputs == (ts[1], ts[1])
    assert g.outputs == [ts[3], ts[1], add_out]
    assert sorted((id(o), i) for o, i in ts[1].uses) == sorted(
        [(id(ops[1]), 0), (id(ops[2]), 0), (id(add), 0), (id(add), 1)])
    assert_links(g)
    # ts[2] is now dead; removing its producer leaves a sound model
    g.remove_operator(ops[1])
    g.tensors.remove(ts[2])
    g.replace_all_uses(ts[1], ts[0])
    g.remove_operator(ops[0])
    g.tensors.remove(ts[1])
    assert_links(g)
    assert m.check() == []
    assert tflitekit.diff(m, tflitekit.load(m.to_bytes())) == []


def test_replace_all_uses_with_none_makes_inputs_absent() -> None:
    m, ts, ops = chain(2)
    n = m.main.replace_all_uses(ts[1], None)
    assert n == 1
    assert ops[1].inputs == (None,)
    assert ts[1].uses == []


def test_subgraph_inputs_and_outputs() -> None:
    m, ts, _ = chain(2)
    g = m.main
    extra = Tensor("extra_in", (1,))
    g.add_input(extra, 0)
    assert g.inputs == [extra, ts[0]] and extra.graph is g
    g.add_output(ts[1], 0)
    assert g.outputs == [ts[1], ts[2]]
    g.remove_input(extra)
    g.remove_output(ts[1])
    assert g.inputs == [ts[0]] and g.outputs == [ts[2]]
    m2 = tflitekit.load(m.to_bytes())
    assert [t.name for t in m2.main.inputs] == ["t0"]
    assert [t.name for t in m2.main.outputs] == ["t2"]
    # removing an input that is not one is refused, like list.remove (it was a silent no-op)
    with pytest.raises(UsageError, match="'t2' is not an input of subgraph"):
        g.remove_input(ts[2])
    with pytest.raises(UsageError, match="'t0' is not an output of subgraph"):
        g.remove_output(ts[0])
    assert g.inputs == [ts[0]] and g.outputs == [ts[2]]


def test_operators_list_slicing_and_deletion() -> None:
    m, ts, ops = chain(4)
    g = m.main
    assert g.operators[1:3] == [ops[1], ops[2]]
    assert g.operators[-1] is ops[3]
    del g.operators[1:3]
    assert list(g.operators) == [ops[0], ops[3]]
    assert ops[1].graph is None and ops[2].graph is None
    assert ts[2].producer is None and ts[3].producer is None
    assert ts[1].uses == [] and ts[2].uses == []
    assert_links(g)
    # slice assignment puts them back (links restored)
    g.operators[1:1] = [ops[1], ops[2]]
    assert list(g.operators) == ops
    assert ts[2].producer is ops[1] and ts[3].uses == [(ops[3], 0)]
    assert_links(g)
    # item assignment replaces one operator
    repl = Operator(BuiltinOperator.TANH, [ts[0]], [ts[1]])
    g.operators[0] = repl
    assert ops[0].graph is None and repl.graph is g
    assert ts[1].producer is repl and ts[0].uses == [(repl, 0)]
    assert_links(g)
    # del by index and pop
    del g.operators[0]
    assert ts[1].producer is None and ts[0].uses == []
    popped = g.operators.pop()
    assert popped is ops[3] and ops[3].graph is None and ts[3].uses == []
    assert_links(g)
    # reversed order via slice assignment keeps links (order is not a link property)
    g.operators[:] = list(reversed(g.operators))
    assert_links(g)
    assert ops[1] in g.operators and repl not in g.operators


def test_operator_cannot_be_in_two_subgraphs() -> None:
    m, _, ops = chain(2)
    g2 = m.add_subgraph("other")
    with pytest.raises(tflitekit.TFLiteKitError):
        g2.operators.append(ops[0])
    assert ops[0].graph is m.main


def test_rejected_operator_is_not_left_in_the_list() -> None:
    m, _, ops = chain(2)
    g2 = m.add_subgraph("other")
    with pytest.raises(tflitekit.TFLiteKitError):
        g2.operators.append(ops[0])
    assert len(g2.operators) == 0


def test_replacing_a_tensor_in_the_list_releases_the_old_one() -> None:
    m, _, _ = chain(1)
    g = m.main
    lone = g.add_tensor(Tensor("lone", (1,)))
    i = g.tensors.index(lone)
    g.tensors[i] = Tensor("replacement", (1,))
    assert lone not in g.tensors
    assert lone.graph is None


def test_deleting_a_tensor_from_the_list_releases_it() -> None:
    m, _, _ = chain(1)
    g = m.main
    lone = g.add_tensor(Tensor("lone", (1,)))
    g.tensors.remove(lone)
    assert lone.graph is None
    m.add_subgraph("other").add_tensor(lone)
    assert lone.graph is m.subgraphs[1]


def test_tensor_cannot_join_two_subgraphs() -> None:
    m, ts, _ = chain(1)
    g2 = m.add_subgraph("other")
    with pytest.raises(tflitekit.TFLiteKitError):
        g2.add_tensor(ts[0])
    assert ts[0].graph is m.main


def test_subgraph_tensor_lookup() -> None:
    m, ts, _ = chain(1)
    assert m.main.tensor("t1") is ts[1]
    with pytest.raises(KeyError):
        m.main.tensor("nope")


def test_model_traversal(tiny_model: Callable[[], Model]) -> None:
    m = tiny_model()
    assert len(list(m.operators())) == sum(len(g.operators) for g in m.subgraphs)
    assert len(list(m.tensors())) == sum(len(g.tensors) for g in m.subgraphs)
    assert m.main is m.subgraphs[0]
    with pytest.raises(tflitekit.TFLiteKitError):
        _ = Model().main
    assert m.get_metadata("tflitekit.test") == bytes(range(256))
    assert m.get_metadata("absent") is None
    m.add_metadata("tflitekit.test", b"replaced")
    assert [e.name for e in m.metadata].count("tflitekit.test") == 1
    assert m.get_metadata("tflitekit.test") == b"replaced"


# ------------------------------------------------------------------------------------------------
# tensor data: zero-copy views
# ------------------------------------------------------------------------------------------------


def _base_chain(arr: np.ndarray) -> list[object]:
    chain_ = []
    base: object = arr
    while base is not None:
        chain_.append(base)
        base = getattr(base, "base", None)
        if isinstance(base, memoryview):
            base = base.obj
    return chain_


def test_data_views_loaded_bytes(runnable_bytes: bytes) -> None:
    data = bytes(runnable_bytes)
    m = tflitekit.load(data)
    w = m.main.tensor("fc/w")
    arr = w.data
    assert arr.dtype == np.int8 and arr.shape == (5, 48)
    assert any(b is data for b in _base_chain(arr)), "data is not a view of the loaded bytes"
    start = np.frombuffer(data, np.uint8).ctypes.data
    offset = arr.ctypes.data - start
    assert 0 <= offset < len(data)
    assert data[offset:offset + arr.nbytes] == arr.tobytes()
    assert offset % 16 == 0  # buffers are aligned in the file


def test_data_views_mapped_file(tmp_path: Path, runnable_bytes: bytes) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(runnable_bytes)
    m = tflitekit.load(path)
    arr = m.main.tensor("conv/w").data
    assert any(isinstance(b, mmap.mmap) for b in _base_chain(arr)), \
        "data of a model loaded from a path does not view the mapped file"
    assert arr.dtype == np.int8 and arr.shape == (3, 2, 2, 2)


def test_data_is_read_only(runnable_bytes: bytes) -> None:
    m = tflitekit.load(runnable_bytes)
    arr = m.main.tensor("fc/w").data
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0, 0] = 1
    assert not m.main.tensor("fc/w").buffer.data.flags.writeable
    # built constants are read-only too, and do not alias the caller's (writable) array
    src = np.ones((2, 2), np.float32)
    t = Tensor.constant("c", src)
    src[0, 0] = 5
    assert t.data[0, 0] == 1
    assert not t.data.flags.writeable


def test_assigning_data_changes_the_saved_file(tmp_path: Path, runnable_bytes: bytes) -> None:
    src = tmp_path / "in.tflite"
    src.write_bytes(runnable_bytes)
    m = tflitekit.load(src)
    w = m.main.tensor("fc/w")
    new = np.arange(-120, 120, dtype=np.int8)[:240].reshape(5, 48)
    w.data = new
    assert np.array_equal(w.data, new)
    dst = tmp_path / "out.tflite"
    m.save(dst)
    assert src.read_bytes() == runnable_bytes  # the source is untouched
    m2 = tflitekit.load(dst)
    assert np.array_equal(m2.main.tensor("fc/w").data, new)
    assert m2.main.tensor("fc/w").shape == (5, 48)
    # other constants still come through unchanged
    assert np.array_equal(m2.main.tensor("conv/w").data, m.main.tensor("conv/w").data)


def test_assigning_data_drops_the_old_bytes(runnable_bytes: bytes) -> None:
    m = tflitekit.load(runnable_bytes)
    w = m.main.tensor("fc/w")
    old = w.data.tobytes()
    w.data = np.full((5, 48), 7, np.int8)
    out = m.to_bytes()
    assert old not in out
    assert len(tflitekit.load(out).buffers) == len(tflitekit.load(runnable_bytes).buffers)


def test_data_setter_casts_and_rejects_lossy_values() -> None:
    t = Tensor("t", (2,), "int8")
    t.data = np.array([1, -2], np.int64)
    assert t.data.dtype == np.int8 and t.data.tolist() == [1, -2]
    with pytest.raises(tflitekit.TFLiteKitError):
        t.data = np.array([1000], np.int32)
    t.data = None
    assert t.buffer is None and t.data is None and not t.is_constant


def test_big_endian_input_is_stored_little_endian() -> None:
    t = Tensor.constant("be", np.array([1, 2], ">i4"))
    assert t.dtype == TensorType.INT32
    assert t.buffer.data.tobytes() == b"\x01\x00\x00\x00\x02\x00\x00\x00"
    assert t.data.tolist() == [1, 2]


# ------------------------------------------------------------------------------------------------
# quantization
# ------------------------------------------------------------------------------------------------


def test_quantization_none_vs_empty_preserved() -> None:
    m = Model()
    g = m.add_subgraph()
    none_q = g.add_tensor(Tensor("none", (1,), "float32"))
    g.add_tensor(Tensor("empty", (1,), "float32", quantization=Quantization()))
    empty_arrays = g.add_tensor(Tensor("empty_arrays", (1,), "float32", quantization=Quantization(
        np.zeros(0, np.float32), np.zeros(0, np.int64))))
    assert none_q.quantization is None
    m2 = tflitekit.load(m.to_bytes())
    a, b, c = (m2.main.tensor(n) for n in ("none", "empty", "empty_arrays"))
    assert a.quantization is None
    assert b.quantization is not None and b.quantization.is_empty()
    assert b.quantization.scale is None and b.quantization.zero_point is None
    assert c.quantization is not None and c.quantization.scale is not None
    assert c.quantization.scale.size == 0 and c.quantization.zero_point.size == 0
    assert tflitekit.diff(m, m2) == []
    # clearing quantization works
    m2.main.tensor("empty").quantization = None
    assert tflitekit.load(m2.to_bytes()).main.tensor("empty").quantization is None
    assert empty_arrays.quantization == Quantization(np.zeros(0), np.zeros(0))
    assert empty_arrays.quantization != Quantization()


def test_quantization_arrays() -> None:
    q = Quantization([0.5, 0.25], quantized_dimension=1)
    assert q.scale.dtype == np.float32 and q.zero_point.dtype == np.int64
    assert q.zero_point.tolist() == [0, 0] and q.per_channel
    assert not Quantization(0.5).per_channel
    assert q == q.copy() and q.copy() is not q
    assert Quantization(0.5, 1) != Quantization(0.5, 2)


# ------------------------------------------------------------------------------------------------
# operator codes: deprecated_builtin_code and codes >= 127
# ------------------------------------------------------------------------------------------------


def _drop_builtin_code(model: Any) -> None:
    """Edit a flatc ModelT so that its operator codes are stored the pre-2.5 way: in
    deprecated_builtin_code only (builtin_code left at its default, hence absent)."""
    for code in model.operatorCodes:
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.builtinCode = 0


def test_deprecated_builtin_code_resolution(runnable_model: Callable[[], Model],
                                            repack: Callable[..., bytes], flat: Any) -> None:
    m = runnable_model()
    old_style = repack(m.to_bytes(), _drop_builtin_code)
    stored = flat(old_style).opcodes()
    assert all(builtin is None for _, builtin, _ in stored), "builtin_code was written"
    assert sorted(dep or 0 for dep, _, _ in stored) == sorted(
        int(c) for c in (BuiltinOperator.CONV_2D, BuiltinOperator.RESHAPE,
                         BuiltinOperator.FULLY_CONNECTED, BuiltinOperator.ADD))
    loaded = tflitekit.load(old_style)
    assert [op.type for op in loaded.main.operators] == [
        BuiltinOperator.CONV_2D, BuiltinOperator.RESHAPE, BuiltinOperator.FULLY_CONNECTED,
        BuiltinOperator.ADD]
    assert all(isinstance(op.type, BuiltinOperator) for op in loaded.main.operators)
    assert tflitekit.diff(loaded, m) == []
    # written back consistently (either layout is valid for codes below 127)
    resaved = loaded.to_bytes()
    for dep, builtin, _ in flat(resaved).opcodes():
        assert (builtin or 0) in (0, dep or 0)
    assert [op.type for op in tflitekit.load(resaved).main.operators] == [
        op.type for op in loaded.main.operators]


@pytest.mark.litert
def test_deprecated_only_file_runs_in_litert(runnable_model: Callable[[], Model],
                                             repack: Callable[..., bytes]) -> None:
    reference = pytest.importorskip("tflitekit.runtimes")
    if not reference.available()["litert"]:
        pytest.skip("ai-edge-litert is not installed")
    old_style = repack(runnable_model().to_bytes(), _drop_builtin_code)
    resaved = tflitekit.load(old_style).to_bytes()
    inputs = reference.random_inputs(resaved, 0)
    want = reference.run_litert(old_style, inputs)
    got = reference.run_litert(resaved, inputs)
    assert all(np.array_equal(a, b) for a, b in zip(want, got, strict=True))


def test_opcodes_from_127_write_placeholder_in_deprecated_field(
        tiny_model: Callable[[], Model], flat: Any) -> None:
    data = tiny_model().to_bytes()
    stored = flat(data).opcodes()
    by_builtin = {builtin or 0: (dep or 0, custom) for dep, builtin, custom in stored}
    concat = int(BuiltinOperator.STABLEHLO_CONCATENATE)
    call_once = int(BuiltinOperator.CALL_ONCE)
    assert concat >= 127 and call_once >= 127
    assert by_builtin[concat][0] == 127
    assert by_builtin[call_once][0] == 127
    assert by_builtin[int(BuiltinOperator.FULLY_CONNECTED)][0] == int(
        BuiltinOperator.FULLY_CONNECTED)
    assert by_builtin[int(BuiltinOperator.CUSTOM)] == (int(BuiltinOperator.CUSTOM), "MyCustomOp")
    loaded = tflitekit.load(data)
    hlo = next(op for op in loaded.main.operators if op.options_2 is not None)
    assert hlo.type is BuiltinOperator.STABLEHLO_CONCATENATE
    assert hlo.options_2 == StablehloConcatenateOptions(dimension=1)


def test_unknown_builtin_code_kept_as_number(flat: Any) -> None:
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1,)))
    y = g.add_output(Tensor("y", (1,)))
    g.add_operator(Operator(OperatorCode(9999), [x], [y]))
    loaded = tflitekit.load(m.to_bytes())
    op = loaded.main.operators[0]
    assert int(op.type) == 9999 and op.opcode.name == "9999"
    assert flat(m.to_bytes()).opcodes()[0][:2] == (127, 9999)


def test_repr_of_tensor_with_unknown_type() -> None:
    t = Tensor("t", (1,), 200)
    assert int(t.dtype) == 200
    assert "200" in repr(t)


def test_equal_operator_codes_are_merged(runnable_model: Callable[[], Model]) -> None:
    m = runnable_model()
    g = m.main
    x = g.outputs[0]
    for k in range(3):  # three new OperatorCode objects that are equal
        out = Tensor(f"r{k}", x.shape, "int8", quantization=Quantization(0.2, -1))
        g.add_operator(Operator(OperatorCode(BuiltinOperator.RELU), [x], [out]))
        x = out
    codes = m.all_operator_codes()
    assert [c.builtin_code for c in codes].count(BuiltinOperator.RELU) == 1
    loaded = tflitekit.load(m.to_bytes())
    assert len(loaded.operator_codes) == 5
    relus = [op for op in loaded.main.operators if op.type == BuiltinOperator.RELU]
    assert len(relus) == 3 and relus[0].opcode is relus[1].opcode


# ------------------------------------------------------------------------------------------------
# copy
# ------------------------------------------------------------------------------------------------


def test_copy_is_independent(tiny_model: Callable[[], Model]) -> None:
    m = tiny_model()
    c = m.copy()
    assert tflitekit.diff(m, c) == []
    assert c.main is not m.main
    assert all(a is not b for a, b in zip(m.tensors(), c.tensors(), strict=True))
    assert all(a is not b for a, b in zip(m.operators(), c.operators(), strict=True))
    # edits on the copy do not show through
    c.main.tensor("fc/w").data = np.zeros((5, 48), np.int8)
    c.main.remove_operator(c.main.operators[-1])
    c.main.tensor("x").quantization = Quantization(9.0, 0)
    c.description = "changed"
    c.main.operators[1].options.stride_w = 5
    assert m.description == "tiny: every table of the schema"
    assert m.main.tensor("fc/w").data.any()
    assert m.main.operators[1].options.stride_w == 1
    assert m.main.tensor("x").quantization == Quantization(0.05, -3)
    assert tflitekit.diff(m, tflitekit.load(m.to_bytes())) == []
    assert tflitekit.diff(m, c) != []


def test_copies_share_constants_until_one_is_assigned(
        runnable_model: Callable[[], Model]) -> None:
    # Issue 7 changed this: copies share the read-only bytes (copy on write), never the Buffer.
    m = runnable_model()
    c = m.copy()
    w, cw = m.main.tensor("fc/w"), c.main.tensor("fc/w")
    assert w.buffer is not cw.buffer
    assert np.shares_memory(w.data, cw.data) and not cw.data.flags.writeable
    cw.data = np.zeros_like(cw.data)
    assert w.data.any() and not cw.data.any()


def test_equal_agrees_with_diff(runnable_model: Callable[[], Model]) -> None:
    from tflitekit.ir.compare import equal

    model = runnable_model()
    assert equal(model, model.copy()) and equal(model, tflitekit.load(model.to_bytes()))
    for edit in ("rename", "weights", "outputs"):
        other = model.copy()
        if edit == "rename":
            other.main.tensors[3].name = "other"
        elif edit == "weights":
            w = other.main.tensor("fc/w")
            w.data = np.zeros_like(w.data)
        else:
            other.main.remove_output(other.main.outputs[0])
        assert not equal(model, other) and tflitekit.diff(model, other), edit

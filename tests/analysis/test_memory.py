"""memory(): TFLite Micro's lifetimes, sizes, scratch buffers and plan, on builder-made models
with hand-computed figures; the ``tflm`` tests hold the same models against TFLite Micro."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from _memory_models import two_branches
from _tflm_arena import measured_arena
from flatbuffers import flexbuffers

from tflitekit import Model, Operator, Quantization, Tensor, UsageError
from tflitekit.analysis.memory import POINTER_BYTES, memory, scratch_requests, tensor_bytes
from tflitekit.errors import FormatError
from tflitekit.options import (
    AddNOptions,
    BuiltinOperator,
    ReducerOptions,
    SVDFOptions,
    TransposeConvOptions,
    UnidirectionalSequenceLSTMOptions,
)
from tflitekit.testing import build_while_model

# -- the two-branch model, saved in the bad order (see _memory_models) ----------------------------
# scope: 0 inputs, 1 A1, 2 B1, 3 A2, 4 B2, 5 ADD
LIFETIMES = {"x": (0, 2), "a1": (1, 3), "b1": (2, 4), "a2": (3, 5), "b2": (4, 5), "y": (5, 5)}
# Greedy placement: sizes 256 (b1 before a1: equal sizes go last-added first), 64, 16 (y, b2, a2)
# b1 -> 0; a1 meets b1 -> 256; x meets both -> 512; y meets nobody -> 0;
# b2 meets b1 and y -> 256; a2 meets b1, y, a1 (ends 512) and b2 -> 512.
OFFSETS = {"b1": 0, "a1": 256, "x": 512, "y": 0, "b2": 256, "a2": 512}
LIVE = [60, 60 + 256, 60 + 256 + 256, 256 + 256 + 16, 256 + 16 + 16, 16 + 16 + 16]


def _by_name(model: Model, order: list[int] | None = None) -> dict[str, tuple[int, int, int]]:
    return {a.name: (a.first, a.last, a.offset) for a in memory(model, order).allocations}


def test_lifetimes_offsets_and_totals_of_the_saved_order() -> None:
    result = memory(two_branches())
    assert _by_name(two_branches()) == {name: (*LIFETIMES[name], OFFSETS[name])
                                        for name in LIFETIMES}
    assert result.no_reuse_bytes == 60 + 2 * 256 + 3 * 16
    assert result.peak_live_bytes == 572
    assert result.arena_head_bytes == 576  # 512 + x's 64 (60 rounded up)
    assert [s.live_bytes for s in result.timeline] == LIVE
    assert [(s.time, s.operator, s.opcode) for s in result.timeline] == [
        (0, None, None), (1, 0, "FULLY_CONNECTED"), (2, 1, "FULLY_CONNECTED"),
        (3, 2, "FULLY_CONNECTED"), (4, 3, "FULLY_CONNECTED"), (5, 4, "ADD")]
    names = [a.name for a in result.allocations]
    assert [names[k] for k in result.timeline[2].allocations] == ["x", "a1", "b1"]
    assert result.timeline[2].extent == 576
    x = result.allocations[0]
    assert (x.kind, x.tensor, x.bytes, x.aligned_bytes) == ("tensor", 0, 60, 64)


def test_another_order() -> None:
    # A1, A2, B1, B2, ADD: x 0..3, a1 1..2, a2 2..5, b1 3..4, b2 4..5, y 5
    # b1 -> 0; a1 (never with b1) -> 0; x -> 256; y -> 0; b2 -> 256; a2 meets x (256..320) -> 320
    result = memory(two_branches(), [0, 2, 1, 3, 4])
    assert _by_name(two_branches(), [0, 2, 1, 3, 4]) == {
        "x": (0, 3, 256), "a1": (1, 2, 0), "a2": (2, 5, 320), "b1": (3, 4, 0),
        "b2": (4, 5, 256), "y": (5, 5, 0)}
    assert (result.peak_live_bytes, result.arena_head_bytes) == (60 + 256 + 16, 336)
    assert result.order == (0, 2, 1, 3, 4)
    assert [s.operator for s in result.timeline[1:]] == [0, 2, 1, 3, 4]


@pytest.mark.parametrize("order", [[0, 1, 2], [0, 0, 1, 2, 3], [2, 0, 1, 3, 4]])
def test_orders_must_be_valid(order: list[int]) -> None:
    with pytest.raises(UsageError):
        memory(two_branches(), order)


def test_constants_variables_and_empty_tensors_are_not_planned() -> None:
    model = two_branches()
    g = model.main
    state = Tensor("state", (1, 4), "float32", is_variable=True)
    empty = Tensor("empty", (0, 4), "float32")
    g.add_operator(BuiltinOperator.ADD, [g.outputs[0], state], [Tensor("z", (1, 4))])
    g.add_operator(BuiltinOperator.ADD, [g.outputs[0], empty], [Tensor("w", (1, 4))])
    names = {a.name for a in memory(model).allocations}
    assert names == {*LIFETIMES, "z", "w"}


def test_tensors_nothing_touches_live_together_at_scope_minus_one() -> None:
    model = two_branches()
    model.main.add_tensor(Tensor("lost", (1, 400), "float32"))
    model.main.add_tensor(Tensor("lost2", (1, 8), "float32"))
    result = memory(model)
    assert _by_name(model)["lost"] == (-1, -1, 0) and _by_name(model)["lost2"] == (-1, -1, 1600)
    assert result.arena_head_bytes == 1632
    assert (result.timeline[0].time, result.timeline[0].subgraph) == (-1, None)


def _offline(model: Model, offsets: dict[str, int]) -> Model:
    from tflitekit.serde.numbering import Numbering

    names = [t.name for t in Numbering(model).tensors(model.main)]
    table = [offsets.get(name, -1) for name in names]
    model.add_metadata("OfflineMemoryAllocation",
                       struct.pack(f"<{3 + len(table)}i", 0, 0, len(table), *table))
    return model


def test_offline_offsets_are_kept_and_planned_around() -> None:
    model = _offline(two_branches(), {"a1": 1000})
    # a1 sits at 1000 first; then b1 -> 0; x meets b1 -> 256; y -> 0; b2 meets b1, y -> 256;
    # a2 meets b1, y, x (256..320) and b2 -> 272 (b2 ends there; x ended at 2, before a2)
    assert {k: v[2] for k, v in _by_name(model).items()} == {
        "x": 256, "a1": 1000, "b1": 0, "a2": 272, "b2": 256, "y": 0}
    assert memory(model).arena_head_bytes == 1256
    wrong = two_branches()
    wrong.add_metadata("OfflineMemoryAllocation", struct.pack("<4i", 0, 0, 1, -1))
    with pytest.raises(FormatError, match="1 offsets for 10 tensors"):
        memory(wrong)


def test_subgraphs_are_planned_together() -> None:
    # main: WHILE(i, x) -> (i_out, x_out); cond: LESS(i, 5) -> keep; body: ADD, FC.
    # Scopes: 0 main inputs, 1 WHILE, 2 cond starts, 3 LESS, 4 body starts, 5 ADD, 6 FC; the
    # WHILE's own operands are read after its subgraphs: main's tensors live to 6.
    result = memory(build_while_model())
    spans = {(a.subgraph, a.name): (a.first, a.last) for a in result.allocations}
    assert spans == {(0, "i"): (0, 6), (0, "x"): (0, 6), (0, "i_out"): (1, 6),
                     (0, "x_out"): (1, 6), (1, "i"): (2, 3), (1, "x"): (2, 2),
                     (1, "keep"): (3, 3), (2, "i"): (4, 5), (2, "x"): (4, 6),
                     (2, "i_next"): (5, 6), (2, "x_next"): (6, 6)}
    assert result.arena_head_bytes == 7 * 16  # seven buffers of 16 alive in scope 6
    assert [(s.subgraph, s.operator) for s in result.timeline] == [
        (0, None), (0, 0), (1, None), (1, 0), (2, None), (2, 0), (2, 1)]


# -- sizes and scratch buffers --------------------------------------------------------------------


def test_tensor_bytes() -> None:
    assert tensor_bytes(Tensor("a", (2, 3), "int4")) == 6  # a byte per int4 element
    assert tensor_bytes(Tensor("b", (), "bool")) == 1
    assert tensor_bytes(Tensor("c", None, "float64")) == 8
    assert tensor_bytes(Tensor("d", (3,), "complex64")) == 24
    with pytest.raises(UsageError, match="STRING"):
        tensor_bytes(Tensor("s", (2,), "string"))
    with pytest.raises(UsageError, match="dynamic"):
        tensor_bytes(Tensor("e", (-1, 4), "float32"))


def _op(code: BuiltinOperator | str, inputs: list[Tensor | None], outputs: list[Tensor],
        options: object = None, **kwargs: object) -> Operator:
    return Operator(code, inputs, outputs, options, **kwargs)  # type: ignore[arg-type]


def _q(shape: tuple[int, ...], dtype: str = "int8") -> Tensor:
    return Tensor("t", shape, dtype, quantization=Quantization(0.1, 0))


def test_scratch_of_reductions() -> None:
    axis = Tensor.constant("axis", np.array([1, 2], np.int32))
    mean8 = _op(BuiltinOperator.MEAN, [_q((1, 5, 5, 8)), axis], [_q((1, 1, 1, 8))],
                ReducerOptions(keep_dims=True))
    assert scratch_requests(mean8) == (4 * 8, 4 * 4, 4 * 2)  # accumulators, iterator, axes
    mean_f = _op(BuiltinOperator.MEAN, [Tensor("x", (1, 5, 5, 8)), axis], [Tensor("y", (1, 8))])
    assert scratch_requests(mean_f) == (16, 8)
    rmax = _op(BuiltinOperator.REDUCE_MAX, [_q((2, 3, 4)), axis], [_q((2,))])
    assert scratch_requests(rmax) == (12, 8)


def test_scratch_of_add_n_depends_on_the_pointer_size() -> None:
    xs = [Tensor(f"x{k}", (1, 4)) for k in range(3)]
    add_n = _op(BuiltinOperator.ADD_N, list(xs), [Tensor("y", (1, 4))], AddNOptions())
    assert scratch_requests(add_n) == (3 * POINTER_BYTES["host"],) == (24,)
    assert scratch_requests(add_n, "target32") == (12,)
    with pytest.raises(UsageError):
        scratch_requests(add_n, "avr")
    ints = _op(BuiltinOperator.ADD_N, [Tensor("i", (2,), "int32")] * 2,
               [Tensor("o", (2,), "int32")])
    assert scratch_requests(ints) == ()


def test_scratch_of_weighted_operators() -> None:
    shape = Tensor.constant("shape", np.array([1, 8, 8, 4], np.int32))
    w = Tensor.constant("w", np.ones((4, 3, 3, 2), np.int8))
    x8, y8 = _q((1, 4, 4, 2)), _q((1, 8, 8, 4))
    tconv = _op(BuiltinOperator.TRANSPOSE_CONV, [shape, w, x8], [y8], TransposeConvOptions())
    assert scratch_requests(tconv) == (4 * 256,)
    x16, y16 = _q((1, 4, 4, 2), "int16"), _q((1, 8, 8, 4), "int16")
    bias16 = Tensor.constant("b", np.zeros(4, np.int16))
    tconv16 = _op(BuiltinOperator.TRANSPOSE_CONV, [shape, w, x16, bias16], [y16])
    assert scratch_requests(tconv16) == (8 * 256, 8 * 4)
    tconv_f = _op(BuiltinOperator.TRANSPOSE_CONV, [shape, w, Tensor("x", (1, 4, 4, 2))],
                  [Tensor("y", (1, 8, 8, 4))])
    assert scratch_requests(tconv_f) == ()
    w4 = Tensor("w4", (6, 10), "int4")
    fc4 = _op(BuiltinOperator.FULLY_CONNECTED, [_q((1, 10)), w4, None], [_q((1, 6))])
    assert scratch_requests(fc4) == (60,)
    fc8 = _op(BuiltinOperator.FULLY_CONNECTED, [_q((1, 10)), _q((6, 10)), None], [_q((1, 6))])
    assert scratch_requests(fc8) == ()


def test_scratch_of_recurrent_operators() -> None:
    svdf8 = _op(BuiltinOperator.SVDF, [_q((2, 5)), _q((6, 5)), _q((6, 4), "int16"), None,
                                       _q((2, 24), "int16")], [_q((2, 3))], SVDFOptions(rank=2))
    assert scratch_requests(svdf8) == (4 * 2 * 6, 4 * 2 * 3)
    svdf_f = _op(BuiltinOperator.SVDF, [Tensor("x", (2, 5)), Tensor("w", (6, 5))],
                 [Tensor("y", (2, 3))], SVDFOptions(rank=2))
    assert scratch_requests(svdf_f) == (48,)
    lstm_inputs: list[Tensor | None] = [None] * 24
    lstm_inputs[0] = Tensor("x", (7, 3, 5))  # time major: batch 3
    lstm_inputs[18] = Tensor("h", (3, 10), is_variable=True)
    lstm_inputs[19] = Tensor("c", (3, 10), is_variable=True)
    lstm = _op(BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM, lstm_inputs, [Tensor("y", (7, 3, 10))],
               UnidirectionalSequenceLSTMOptions(time_major=True))
    assert scratch_requests(lstm) == (3 * 10 * 4,) * 4


def test_scratch_of_mirror_pad_and_detection_postprocess() -> None:
    pads = Tensor.constant("p", np.ones((4, 2), np.int32))
    pad = _op(BuiltinOperator.MIRROR_PAD, [Tensor("x", (1, 4, 4, 2)), pads],
              [Tensor("y", (1, 6, 6, 4))])
    assert scratch_requests(pad) == (16, 16)
    options = flexbuffers.Dumps({"max_detections": 10, "num_classes": 90})
    post = _op("TFLite_Detection_PostProcess",
               [Tensor("boxes", (1, 100, 4)), Tensor("scores", (1, 100, 91)),
                Tensor("anchors", (100, 4))],
               [Tensor(f"o{k}", (1, 10)) for k in range(4)], custom_options=options)
    assert scratch_requests(post) == (100, 1600, 100 * 91 * 4, 400, 400, 4000, 4000, 400, 4000,
                                      90 * 100 * 4, 10 * 100 * 4)


def _mean_model() -> Model:
    m = Model("mean")
    g = m.add_subgraph("main")
    x = g.add_input(_q((1, 5, 5, 8)))
    axis = Tensor.constant("axis", np.array([1, 2], np.int32))
    y = g.add_output(Tensor("y", (1, 1, 1, 8), "int8", quantization=Quantization(0.1, 0)))
    g.add_operator(BuiltinOperator.MEAN, [x, axis], [y], ReducerOptions(keep_dims=True))
    return m


def _add_n_model() -> Model:
    m = Model("add_n")
    g = m.add_subgraph("main")
    xs = [g.add_input(Tensor(f"x{k}", (1, 2))) for k in range(3)]
    g.add_output(Tensor("y", (1, 2)))
    g.add_operator(BuiltinOperator.ADD_N, xs, [g.outputs[0]], AddNOptions())
    return m


def test_scratch_buffers_are_planned_after_tensors() -> None:
    # x 208 (aligned) -> 0; the scratch of 32 meets it -> 208; then the 16s, last added first:
    # scratch 2 -> 240, scratch 1 -> 256, y -> 272.
    result = memory(_mean_model())
    assert [(a.kind, a.name, a.bytes, a.first, a.last, a.offset) for a in result.allocations] == [
        ("tensor", "t", 200, 0, 1, 0), ("tensor", "y", 8, 1, 1, 272),
        ("scratch", "scratch 0 of operator 0 (MEAN)", 32, 1, 1, 208),
        ("scratch", "scratch 1 of operator 0 (MEAN)", 16, 1, 1, 256),
        ("scratch", "scratch 2 of operator 0 (MEAN)", 8, 1, 1, 240)]
    assert result.arena_head_bytes == 288
    assert result.allocations[2].operator == 0 and result.allocations[2].kind == "scratch"
    # ADD_N: four buffers of 16, and the pointers: 3 x 8 = 24 -> 32 on the host, 12 -> 16 on
    # a 32-bit target
    assert memory(_add_n_model()).arena_head_bytes == 4 * 16 + 32
    assert memory(_add_n_model(), target="target32").arena_head_bytes == 5 * 16


def test_to_json() -> None:
    result = memory(two_branches())
    data = json.loads(json.dumps(result.to_json()))
    assert data["arena_head_bytes"] == 576 and data["order"] == [0, 1, 2, 3, 4]
    assert data["allocations"][0] == {"kind": "tensor", "subgraph": 0, "tensor": 0,
                                      "operator": None, "name": "x", "bytes": 60,
                                      "aligned_bytes": 64, "first": 0, "last": 2, "offset": 512}
    assert data["timeline"][2]["allocations"] == [0, 1, 2]


# -- against TFLite Micro --------------------------------------------------------------------------


@pytest.mark.tflm
@pytest.mark.parametrize("make", [
    two_branches, build_while_model, lambda: _offline(two_branches(), {"a1": 1000}),
    lambda: _with_lost_tensors(two_branches()), _mean_model, _add_n_model],
    ids=["branches", "while", "offline", "lost", "mean", "add_n"])
def test_head_is_tflm_head(make: object) -> None:
    model = make()  # type: ignore[operator]
    assert memory(model).arena_head_bytes == measured_arena(model.to_bytes()).head


def _with_lost_tensors(model: Model) -> Model:
    model.main.add_tensor(Tensor("lost", (1, 400), "float32"))
    return model

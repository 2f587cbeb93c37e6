"""Model.check() and tflitekit.validate(): every problem class is reported, with its location."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tflitekit
from tflitekit import Buffer, Model, Problem, Quantization, SignatureDef, Tensor
from tflitekit.options import (
    AddOptions,
    BuiltinOperator,
    Conv2DOptions,
    FullyConnectedOptions,
    Pool2DOptions,
)

Factory = Callable[..., Model]


def only(problems: list[Problem], *fragments: str) -> Problem:
    """The single problem, which must mention every fragment."""
    assert len(problems) == 1, problems
    text = str(problems[0])
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return problems[0]


def test_sound_models_have_no_problems(runnable_model: Factory,
                                       tiny_model: Callable[[], Model]) -> None:
    assert runnable_model().check() == []
    assert tiny_model().check() == []
    assert tflitekit.load(tiny_model().to_bytes()).check() == []


# ------------------------------------------------------------------------------------------------
# Model.check(): one test per problem class
# ------------------------------------------------------------------------------------------------


def test_buffer_size_differs_from_shape_times_dtype(runnable_model: Factory) -> None:
    m = runnable_model()
    w = m.main.tensor("fc/w")
    w.buffer = Buffer(np.zeros(5 * 48 - 1, np.int8))
    p = only(m.check(), "239 bytes", "240")
    assert p.where.startswith("subgraphs[0].tensors[") and "'fc/w'" in p.where
    # the dtype matters, not only the element count
    m = runnable_model()
    b = m.main.tensor("fc/b")
    b.dtype = tflitekit.TensorType.INT64
    only(m.check(), "'fc/b'", "20 bytes", "40")


def test_int4_buffer_size(runnable_model: Factory) -> None:
    m = Model()
    g = m.add_subgraph()
    t = g.add_tensor(Tensor("packed", (5,), tflitekit.TensorType.INT4, buffer=Buffer(b"abc")))
    assert m.check() == []
    t.buffer = Buffer(b"abcd")
    only(m.check(), "'packed'", "4 bytes", "needs 3")


def test_wrong_number_of_zero_points(runnable_model: Factory) -> None:
    m = runnable_model()
    w = m.main.tensor("conv/w")
    w.quantization = Quantization([0.1, 0.2, 0.3], [0, 0], quantized_dimension=0)
    only(m.check(), "'conv/w'", "3 scales but 2 zero points")


def test_wrong_number_of_scales_for_the_channel_dimension(runnable_model: Factory) -> None:
    m = runnable_model()
    w = m.main.tensor("conv/w")
    w.quantization = Quantization([0.1, 0.2], [0, 0], quantized_dimension=0)
    only(m.check(), "'conv/w'", "2 scales for dimension 0 of size 3")


@pytest.mark.parametrize("dim", [4, -1, 100])
def test_quantized_dimension_out_of_range(runnable_model: Factory, dim: int) -> None:
    m = runnable_model()
    w = m.main.tensor("conv/w")
    w.quantization = Quantization([0.1, 0.2, 0.3], quantized_dimension=dim)
    only(m.check(), "'conv/w'", f"quantized_dimension {dim}", "rank 4")


def test_non_positive_scales(runnable_model: Factory) -> None:
    m = runnable_model()
    m.main.tensor("flat").quantization = Quantization(0.0, 2)
    only(m.check(), "'flat'", "finite and positive")
    m.main.tensor("flat").quantization = Quantization(float("nan"), 2)
    only(m.check(), "'flat'", "finite and positive")


@pytest.mark.parametrize(("signature", "fragment"), [
    ((1, 49), "(1, 49)"),           # a fixed dimension that disagrees
    ((-1, 48, 1), "(-1, 48, 1)"),   # another rank
])
def test_shape_signature_that_disagrees_with_the_shape(runnable_model: Factory,
                                                       signature: tuple[int, ...],
                                                       fragment: str) -> None:
    m = runnable_model()
    m.main.tensor("flat").shape_signature = signature
    p = only(m.check(), "'flat'", "(1, 48)", fragment)
    assert p.kind == "shape-signature" and p.subject is m.main.tensor("flat")
    m.main.tensor("flat").shape_signature = (-1, 48)  # resizable batch: sound
    assert m.check() == []


def test_shape_signature_problem_does_not_hide_operand_problems(runnable_model: Factory) -> None:
    """The operand rules read the static shape, sound even when the signature is not."""
    m = runnable_model()
    flat = m.main.tensor("flat")
    flat.shape, flat.shape_signature = (1, 7), (-1, 48)
    kinds = sorted(p.kind for p in m.check())
    assert "shape-signature" in kinds and "operand-shape" in kinds, kinds


@pytest.mark.parametrize(("name", "dtype", "zero_point", "fragment"), [
    ("flat", "int8", 300, "300 is outside INT8's range -128..127"),
    ("flat", "int8", -129, "-129 is outside INT8's range"),
    ("flat", "uint8", -1, "-1 is outside UINT8's range 0..255"),
    ("flat", "uint8", 256, "256 is outside UINT8's range"),
    ("flat", "int16", 40000, "40000 is outside INT16's range -32768..32767"),
    ("flat", "int16", 3, "INT16 zero point 3 is not 0"),
])
def test_zero_point_outside_the_type(runnable_model: Factory, name: str, dtype: str,
                                     zero_point: int, fragment: str) -> None:
    m = runnable_model()
    t = m.main.tensor(name)
    t.dtype = tflitekit.TensorType[dtype.upper()]
    t.quantization = Quantization(0.1, zero_point)
    problems = [p for p in m.check() if p.kind == "bad-zero-point"]
    p = only(problems, f"'{name}'", fragment)
    assert p.subject is t


def test_per_channel_zero_point_outside_the_type(runnable_model: Factory) -> None:
    m = runnable_model()
    m.main.tensor("conv/w").quantization = Quantization([0.1, 0.2, 0.3], [0, 0, 128])
    p = only(m.check(), "'conv/w'", "128 is outside INT8's range")
    assert p.kind == "bad-zero-point"


def test_int16_zero_point_is_free_only_around_quantize() -> None:
    """QUANTIZE requantizes any int16 zero point on both runtimes; other kernels (RELU, ADD,
    FULLY_CONNECTED, DEQUANTIZE on LiteRT, ...) refuse a non-zero one."""
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1, 4)))
    q16 = g.add_output(Tensor("q16", (1, 4), "int16", quantization=Quantization(0.01, 5)))
    g.add_operator(BuiltinOperator.QUANTIZE, [x], [q16])
    assert m.check() == []
    y = g.add_output(Tensor("y", (1, 4), "int16", quantization=Quantization(0.01, 0)))
    g.add_operator(BuiltinOperator.RELU, [q16], [y])
    p = only(m.check(), "'q16'", "INT16 zero point 5 is not 0", "RELU")
    assert p.kind == "bad-zero-point"
    q16.quantization = Quantization(0.01, 0)
    assert m.check() == []


def test_operators_out_of_topological_order(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    fc = g.operators[2]
    g.operators[:] = [g.operators[0], fc, g.operators[1], g.operators[3]]
    p = only(m.check(), "read before it is produced", "'flat'")
    assert p.where == "subgraphs[0].operators[1] (FULLY_CONNECTED)"


def test_tensor_read_that_nothing_produces(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    orphan = Tensor("orphan", (1, 5), "int8", quantization=Quantization(0.1, 1))
    g.operators[3].set_input(1, orphan)  # ADD reads it; it is not constant, input or produced
    g.tensors.remove(g.tensor("add/c"))
    p = only(m.check(), "'orphan'", "no producer, no data and is not a subgraph input")
    assert p.where == "subgraphs[0].operators[3] (ADD)"


def test_subgraph_output_never_produced(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    g.add_output(g.add_tensor(Tensor("dangling", (1,), "int8")))
    p = only(m.check(), "'dangling' is never produced")
    assert p.where == "subgraphs[0].outputs[1]"


def test_duplicated_producer(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    flat = g.tensor("flat")
    g.add_operator(BuiltinOperator.RESHAPE, [g.tensor("conv/y"), g.tensor("reshape/shape")],
                   [flat], before=g.operators[2])
    p = only(m.check(), "both write output 'flat'", "operators[1]")
    assert p.where.startswith("subgraphs[0].operators[2]")
    assert "operators[1]" in p.where and "[" not in p.message  # positions only in `where`


@pytest.mark.parametrize(("op_index", "options", "slot", "want"), [
    (0, FullyConnectedOptions(), "options", "takes Conv2DOptions"),  # CONV_2D
    (2, Pool2DOptions(), "options", "takes FullyConnectedOptions"),  # FULLY_CONNECTED
    (0, Conv2DOptions(), "options_2", "takes Conv2DOptions"),  # right class, wrong union
])
def test_options_of_the_wrong_type(runnable_model: Factory, op_index: int, options: object,
                                   slot: str, want: str) -> None:
    m = runnable_model()
    op = m.main.operators[op_index]
    setattr(op, slot, options)
    only(m.check(), type(options).__name__, want)


def test_options_given_to_an_operator_without_options() -> None:
    m = Model()
    g = m.add_subgraph()
    x, y = g.add_input(Tensor("x", (1,))), g.add_output(Tensor("y", (1,)))
    op = g.add_operator(BuiltinOperator.RELU, [x], [y], AddOptions())
    only(m.check(), "AddOptions given where the operator takes no options")
    op.options = None
    assert m.check() == []
    custom = g.add_operator("MyOp", [y], [g.add_output(Tensor("z", (1,)))], AddOptions())
    only(m.check(), "MyOp", "takes no options")
    custom.options = None
    assert m.check() == []


def test_tensors_of_another_subgraph(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    other = m.add_subgraph("other")
    c = g.tensor("add/c")
    g.tensors.remove(c)  # ADD still reads it ...
    other.add_tensor(c)  # ... but it now belongs to another subgraph
    assert c.graph is other
    only(m.check(), "subgraphs[0].operators[3] (ADD)", "input 1",
         "is not a tensor of this subgraph")
    # subgraph inputs and outputs too
    m = runnable_model()
    g = m.main
    other = m.add_subgraph("other")
    stray = other.add_tensor(Tensor("stray", (1,)))
    with pytest.raises(tflitekit.TFLiteKitError, match="another subgraph"):
        g.inputs.append(stray)  # the live list refuses it: only a bypass can do this
    g.inputs._extend_quietly([stray])
    only(m.check(), "subgraphs[0].inputs[1]", "'stray'", "not a tensor of this subgraph")
    g.inputs.remove(stray)
    g.outputs._extend_quietly([stray])
    problems = m.check()
    assert any("subgraphs[0].outputs[1]" in str(p) and "not a tensor of this subgraph" in str(p)
               for p in problems), problems


def test_operator_output_of_another_subgraph(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    other = m.add_subgraph("other")
    y = g.tensor("y")
    g.tensors.remove(y)
    other.add_tensor(y)
    problems = m.check()
    assert any("operators[3]" in str(p) and "output" in str(p) and
               "not a tensor of this subgraph" in str(p) for p in problems), problems


def test_signature_problems(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    m.signature_defs.append(SignatureDef("sig", g, {"x": g.tensor("x")}, {"y": g.tensor("y")}))
    assert m.check() == []
    other = m.add_subgraph("other")
    m.signature_defs[0].outputs["z"] = other.add_tensor(Tensor("z", (1,)))
    only(m.check(), "signature_defs[0] ('sig')", "output 'z'", "not a tensor of its subgraph")
    m.signature_defs[0] = SignatureDef("gone", Model().add_subgraph())
    only(m.check(), "signature_defs[0] ('gone')", "subgraph is not in the model")


def test_metadata_without_buffer(runnable_model: Factory) -> None:
    m = runnable_model()
    m.add_metadata("x", b"1").buffer = None
    only(m.check(), "metadata[0] ('x')", "has no buffer")


def test_negative_dimension(runnable_model: Factory) -> None:
    m = runnable_model()
    m.main.tensor("flat").shape = (1, -48)
    only(m.check(), "'flat'", "negative dimension")


def test_several_problems_are_all_reported(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    g.tensor("fc/w").buffer = Buffer(b"\x00")
    g.tensor("conv/w").quantization = Quantization([1.0, 2.0], quantized_dimension=9)
    g.operators[3].options = Conv2DOptions()
    assert len(m.check()) == 3


def test_tensor_listed_twice(runnable_model: Factory) -> None:
    m = runnable_model()
    flat = m.main.tensor("flat")
    with pytest.raises(tflitekit.TFLiteKitError, match="already in this subgraph"):
        m.main.tensors.append(flat)
    assert sum(t is flat for t in m.main.tensors) == 1
    m.main.tensors._extend_quietly([flat])  # what only a bypass of the list's checks can do
    assert any("listed more than once" in p.message for p in m.check())


# ------------------------------------------------------------------------------------------------
# validate() on bytes with out-of-range indices
# ------------------------------------------------------------------------------------------------


def patch_i32(data: bytes, pos: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<i", out, pos, value)
    return bytes(out)


def _index_of(data: bytes, name: str) -> int:
    return [t.name for t in tflitekit.load(data).main.tensors].index(name)


def _item(flat: Any, table: int, slot: int, item: int) -> int:
    """Position of element ``item`` of the int32 vector field ``slot`` of ``table``."""
    start, n = flat.vector(table, slot)
    assert item < n
    return start + 4 * item  # type: ignore[no-any-return]


def _scalar(flat: Any, table: int, slot: int) -> int:
    pos = flat.field_pos(table, slot)
    assert pos is not None, "field absent"
    return pos  # type: ignore[no-any-return]


@pytest.fixture
def crafted(runnable_bytes: bytes, flat: Any) -> dict[str, tuple[bytes, str]]:
    """Bytes with one bad index each, and the location the error must name."""
    f = flat(runnable_bytes)
    fc, add = f.operator(0, 2), f.operator(0, 3)
    w = _index_of(runnable_bytes, "fc/w")
    data = runnable_bytes
    return {
        "tensor": (patch_i32(data, _item(f, fc, 1, 1), 99),
                   "Model.subgraphs[0].operators[2].inputs[1]: tensor index 99 out of range"),
        "output tensor": (patch_i32(data, _item(f, add, 2, 0), 1000),
                          "Model.subgraphs[0].operators[3].outputs[0]: tensor index 1000"),
        "subgraph input": (patch_i32(data, _item(f, f.subgraph(0), 1, 0), -7),
                           "Model.subgraphs[0].inputs[0]: tensor index -7"),
        "buffer": (patch_i32(data, _scalar(f, f.tensor(0, w), 2), 77),
                   f"Model.subgraphs[0].tensors[{w}].buffer: buffer index 77 out of range"),
        "opcode": (patch_i32(data, _scalar(f, fc, 0), 42),
                   "Model.subgraphs[0].operators[2].opcode_index: operator code index 42 out "
                   "of range"),
    }


@pytest.mark.parametrize("kind", ["tensor", "output tensor", "subgraph input", "buffer",
                                  "opcode"])
def test_validate_reports_out_of_range_indices(crafted: dict[str, tuple[bytes, str]],
                                               kind: str, tmp_path: Path) -> None:
    data, message = crafted[kind]
    problems = tflitekit.validate(data)
    assert any(message in str(p) for p in problems), problems
    # the same from a path
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    assert any(message in str(p) for p in tflitekit.validate(path))
    # strict load refuses the file, naming the table, field and index
    with pytest.raises(tflitekit.FormatError) as info:
        tflitekit.load(data)
    assert message in str(info.value)
    # lenient load records it and leaves None in place of the reference
    recorded: list[str] = []
    tflitekit.load(data, strict=False, problems=recorded)
    assert any(message in r for r in recorded)


def test_lenient_load_leaves_none(crafted: dict[str, tuple[bytes, str]]) -> None:
    m = tflitekit.load(crafted["tensor"][0], strict=False, problems=[])
    assert m.main.operators[2].inputs[1] is None
    m = tflitekit.load(crafted["opcode"][0], strict=False, problems=[])
    code = m.main.operators[2].opcode
    assert code is None or "42" in code.name  # absent, or a stand-in naming the bad index
    m = tflitekit.load(crafted["buffer"][0], strict=False, problems=[])
    assert m.main.tensor("fc/w").buffer is None


def test_validate_clean_file(runnable_bytes: bytes, tmp_path: Path) -> None:
    assert tflitekit.validate(runnable_bytes) == []
    path = tmp_path / "ok.tflite"
    path.write_bytes(runnable_bytes)
    assert tflitekit.validate(path) == []


@pytest.mark.parametrize("data", [b"", b"TFL3", b"\x00" * 64, b"not a flatbuffer at all" * 3])
def test_validate_garbage_gives_one_file_problem(data: bytes, tmp_path: Path) -> None:
    problems = tflitekit.validate(data)
    assert len(problems) == 1 and problems[0].where == "file"
    with pytest.raises(tflitekit.FormatError):
        tflitekit.load(data)
    path = tmp_path / "garbage.tflite"  # from a (possibly empty, unmappable) file too
    path.write_bytes(data)
    assert len(tflitekit.validate(path)) == 1
    with pytest.raises(tflitekit.FormatError):
        tflitekit.load(path)


def test_validate_includes_structural_problems(runnable_model: Factory) -> None:
    m = runnable_model()
    g = m.main
    g.operators[:] = [g.operators[1], g.operators[0], g.operators[2], g.operators[3]]
    problems = tflitekit.validate(m.to_bytes())
    assert any("read before it is produced" in str(p) for p in problems), problems


def test_validate_first_buffer_not_empty(runnable_bytes: bytes, flat: Any) -> None:
    """Buffer 0 must be empty; crafted by pointing slot 0 of the buffers vector at a non-empty
    Buffer table."""
    f = flat(runnable_bytes)
    tables = f.tables(f.root(), 4)
    start, _ = f.vector(f.root(), 4)
    nonempty = next(t for t in tables if f.field_pos(t, 0) is not None)
    data = patch_i32(runnable_bytes, start, nonempty - start)
    assert any("buffers[0]" in str(p) for p in tflitekit.validate(data))
    with pytest.raises(tflitekit.FormatError, match=r"buffers\[0\]"):
        tflitekit.load(data)

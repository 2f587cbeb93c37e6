"""bytes ⇄ Model: round trips, options, byte-level layout, runtimes, saving, digests, big models."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tflitekit
from tflitekit import Model, Operator, OperatorCode, Quantization, Tensor, TFLiteKitError
from tflitekit._generated.schema import ENUMS, Table
from tflitekit.options import (
    OPERATOR_OPTIONS,
    BlockwiseQuantization,
    BuiltinOperator,
    CustomQuantization,
    MultiAxisQuantization,
)
from tflitekit.serde import write as serde_write

# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def reference_runtimes() -> Any:
    reference = pytest.importorskip("tflitekit.runtimes")
    missing = [k for k, ok in reference.available().items() if not ok]
    if missing:
        pytest.skip(f"reference runtime(s) not installed: {missing}")
    return reference


def same_outputs(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------------------------
# round trip of the tiny model
# ------------------------------------------------------------------------------------------------


def test_tiny_model_round_trip(tiny_model: Callable[[], Model]) -> None:
    m = tiny_model()
    data = m.to_bytes()
    assert data[4:8] == b"TFL3"
    m2 = tflitekit.load(data)
    assert tflitekit.diff(m, m2) == []
    assert tflitekit.diff(m2, m) == []

    # explicit checks of a handful of fields
    assert m2.version == 3 and m2.description == "tiny: every table of the schema"
    assert [g.name for g in m2.subgraphs] == ["main", "init"]
    assert m2.subgraphs[1].debug_metadata_index == 3
    g, body = m2.subgraphs
    assert [op.type for op in g.operators] == [
        BuiltinOperator.CALL_ONCE, BuiltinOperator.CONV_2D, BuiltinOperator.RESHAPE,
        BuiltinOperator.FULLY_CONNECTED, BuiltinOperator.ADD, BuiltinOperator.CUSTOM,
        BuiltinOperator.STABLEHLO_CONCATENATE]
    assert g.operators[0].options.init_subgraph_index == 1
    conv_w = g.tensor("conv/w")
    assert conv_w.quantization.scale.tolist() == pytest.approx([0.02, 0.011, 0.031])
    assert conv_w.quantization.quantized_dimension == 0
    assert np.array_equal(conv_w.data, m.main.tensor("conv/w").data)
    assert conv_w.data.dtype == np.int8 and conv_w.shape == (3, 2, 2, 2)
    custom = g.operators[5]
    assert custom.custom_options == b"\x01\x02custom\x00\xff"
    assert custom.opcode.custom_code == "MyCustomOp" and custom.opcode.version == 2
    assert custom.inputs[1] is None
    hlo = g.operators[6]
    assert hlo.mutating_variable_inputs == [False, True]
    assert [t.name for t in hlo.intermediates] == ["hlo/intermediate"]
    assert hlo.debug_metadata_index == 7 and hlo.options is None
    assert g.tensor("state").is_variable
    a = body.tensor("init/a")
    assert a.shape == (1, 4) and a.shape_signature == (-1, 4) and a.has_rank
    q = body.tensor("init/b").quantization
    assert q.min.tolist() == [-1, -2, -3, -4] and q.max.tolist() == [1, 2, 3, 4]
    assert q.zero_point.tolist() == [0, 1, 2, 3] and q.quantized_dimension == 1
    assert q.details == CustomQuantization(custom=b"\x07\x08")
    sparse = body.tensor("init/sparse")
    assert sparse.sparsity.traversal_order == [0, 1, 2]
    assert sparse.sparsity.dim_metadata[1].array_indices.values == [0, 0, 1, 1, 0, 1]
    assert sparse.sparsity.dim_metadata[2].array_segments.values == b"\x00\x01"
    assert sparse.sparsity == m.subgraphs[1].tensor("init/sparse").sparsity
    variant = body.tensor("init/variant")
    assert variant.dtype == tflitekit.TensorType.VARIANT
    assert variant.variant_tensors[0].shape == [2, 3] and variant.variant_tensors[0].has_rank
    nameless = [t for t in body.tensors if t.name is None]
    assert len(nameless) == 1 and nameless[0].shape is None
    assert body.tensor("init/f16").data.tolist() == [1.5, -2.0]
    assert body.tensor("init/i64").data[1, 1] == 2**40
    assert body.tensor("init/bool").data.dtype == np.bool_
    assert m2.get_metadata("tflitekit.test") == bytes(range(256))
    assert m2.metadata_buffer is not None and len(m2.metadata_buffer) == 1
    assert m2.metadata_buffer[0].data.tobytes() == b"orphan buffer"
    sig = m2.signature_defs[0]
    assert sig.key == "serving_default" and sig.subgraph is g
    assert sig.inputs == {"x": g.tensor("x")}
    assert sig.outputs == {"y": g.tensor("y"), "hlo": g.tensor("hlo/out")}


def test_round_trip_is_idempotent(tiny_bytes: bytes) -> None:
    once = tflitekit.load(tiny_bytes).to_bytes()
    assert once == tiny_bytes
    assert tflitekit.load(once).to_bytes() == once


def test_round_trip_of_a_file_written_by_another_writer(tiny_bytes: bytes,
                                                        repack: Callable[..., bytes]) -> None:
    foreign = repack(tiny_bytes)
    assert foreign != tiny_bytes
    m = tflitekit.load(foreign)
    assert tflitekit.diff(m, tflitekit.load(tiny_bytes)) == []
    assert tflitekit.diff(m, tflitekit.load(m.to_bytes())) == []


def test_load_from_path_bytes_and_file_object(tmp_path: Path, tiny_bytes: bytes) -> None:
    path = tmp_path / "t.tflite"
    path.write_bytes(tiny_bytes)
    ref = tflitekit.load(tiny_bytes)
    for source in (path, str(path), bytearray(tiny_bytes), memoryview(tiny_bytes),
                   io.BytesIO(tiny_bytes)):
        assert tflitekit.diff(tflitekit.load(source), ref) == [], type(source)
    with pytest.raises(TypeError):
        tflitekit.load(12345)
    with pytest.raises(tflitekit.FormatError):
        tflitekit.load(tmp_path / "missing.tflite")


@pytest.mark.parametrize("change", [
    "description", "tensor_name", "shape", "dtype", "quantization", "data", "options",
    "custom_options", "opcode_version", "metadata", "signature", "input_order", "sparsity",
])
def test_diff_sees_each_kind_of_change(tiny_model: Callable[[], Model], change: str) -> None:
    """diff is the oracle of the round-trip tests: it must notice every kind of change."""
    a = tiny_model()
    b = tflitekit.load(a.to_bytes())
    g = b.main
    if change == "description":
        b.description = "other"
    elif change == "tensor_name":
        g.tensor("flat").name = "flat2"
    elif change == "shape":
        g.tensor("flat").shape = (48, 1)
    elif change == "dtype":
        g.tensor("flat").dtype = tflitekit.TensorType.UINT8
    elif change == "quantization":
        g.tensor("flat").quantization = Quantization(0.04, 3)
    elif change == "data":
        g.tensor("fc/w").data = np.zeros((5, 48), np.int8)
    elif change == "options":
        g.operators[1].options.stride_h = 2
    elif change == "custom_options":
        g.operators[5].custom_options = b"other"
    elif change == "opcode_version":
        g.operators[3].opcode = OperatorCode(BuiltinOperator.FULLY_CONNECTED, version=9)
    elif change == "metadata":
        b.add_metadata("tflitekit.test", b"other")
    elif change == "signature":
        b.signature_defs[0].outputs["y"] = g.tensor("flat")
    elif change == "input_order":
        g.add_input(g.tensor("flat"))
    elif change == "sparsity":
        b.subgraphs[1].tensor("init/sparse").sparsity.block_map = [0]
    assert tflitekit.diff(a, b) != []


# ------------------------------------------------------------------------------------------------
# options
# ------------------------------------------------------------------------------------------------


def _non_default(field: Any, k: int) -> Any:
    """A value different from the field's default, derived from the field spec."""
    if field.kind == "scalar":
        if field.enum is not None:
            members = [e for e in ENUMS[field.enum] if int(e) != field.default]
            return members[k % len(members)] if members else field.default + 1 + k
        if field.type == "?":
            return not field.default
        if field.type == "f":
            return float(field.default) + 1.5 + k
        if field.type in "BIQH":
            return field.default + 3 + k
        return field.default - 3 - k if field.default > 0 else field.default + 3 + k
    if field.kind == "string":
        return f"value-{k}-é"
    if field.kind == "vector":
        if field.enum is not None:
            return [e for e in ENUMS[field.enum]][::-1][:3]
        if field.type in "Bb":
            return bytes([1, 2, 255, k % 256])
        if field.type == "?":
            return [True, False, True]
        if field.type == "f":
            return [0.5, -1.25, 3.0e5]
        if field.type in "IQH":
            return [1, 2**(8 * {"I": 4, "Q": 8, "H": 2}[field.type]) - 1, k]
        big = {"i": 2**31 - 1, "q": 2**63 - 1, "h": 2**15 - 1}.get(field.type, 100)
        return [-1, big, k, -big]
    raise AssertionError(f"unexpected options field kind {field.kind}")


_OPS_WITH_OPTIONS = sorted((op for op, spec in OPERATOR_OPTIONS.items() if spec is not None),
                           key=int)


def test_every_builtin_operator_is_mapped() -> None:
    assert set(OPERATOR_OPTIONS) == set(BuiltinOperator)
    for op, spec in OPERATOR_OPTIONS.items():
        if spec is not None:
            union, cls = spec
            assert union in ("BuiltinOptions", "BuiltinOptions2"), op
            assert issubclass(cls, Table), op


@pytest.mark.parametrize("op", _OPS_WITH_OPTIONS, ids=lambda op: op.name)
def test_options_round_trip_with_non_default_values(op: BuiltinOperator) -> None:
    union, cls = OPERATOR_OPTIONS[op]  # type: ignore[misc]
    options = cls()
    for k, field in enumerate(cls.FIELDS):
        setattr(options, field.name, _non_default(field, k))
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("x", (1,)))
    y = g.add_output(Tensor("y", (1,)))
    kw = {"options": options} if union == "BuiltinOptions" else {"options_2": options}
    g.add_operator(Operator(op, [x], [y], **kw))
    # one float input is not what every operator takes: only the operand rules may object
    assert [p for p in m.check() if not p.kind.startswith("operand-")] == []
    loaded = tflitekit.load(m.to_bytes())
    got = loaded.main.operators[0].options if union == "BuiltinOptions" else \
        loaded.main.operators[0].options_2
    assert type(got) is cls
    assert loaded.main.operators[0].type is op
    for field in cls.FIELDS:
        want, have = getattr(options, field.name), getattr(got, field.name)
        if field.type == "f":  # float32 scalars and vectors
            assert have == pytest.approx(want), field.name
        else:
            assert have == want, f"{cls.__name__}.{field.name}: {have!r} != {want!r}"
        if field.enum is not None and field.kind == "scalar" and isinstance(want, int) and \
                want in set(ENUMS[field.enum]):
            assert isinstance(have, ENUMS[field.enum]), field.name
        assert have != field.default or field.kind != "scalar", field.name
    assert got == options
    assert tflitekit.diff(m, loaded) == []


def test_default_options_round_trip_as_written() -> None:
    """Options with every field at its default still come back as an (empty) options table."""
    for op in (BuiltinOperator.CONV_2D, BuiltinOperator.SPACE_TO_BATCH_ND,
               BuiltinOperator.STABLEHLO_CONCATENATE):
        union, cls = OPERATOR_OPTIONS[op]  # type: ignore[misc]
        m = Model()
        g = m.add_subgraph()
        x, y = g.add_input(Tensor("x", (1,))), g.add_output(Tensor("y", (1,)))
        kw = {"options": cls()} if union == "BuiltinOptions" else {"options_2": cls()}
        g.add_operator(Operator(op, [x], [y], **kw))
        loaded = tflitekit.load(m.to_bytes()).main.operators[0]
        assert (loaded.options if union == "BuiltinOptions" else loaded.options_2) == cls()
        # and no options at all stays None
        m.main.operators[0].options = m.main.operators[0].options_2 = None
        loaded = tflitekit.load(m.to_bytes()).main.operators[0]
        assert loaded.options is None and loaded.options_2 is None


@pytest.mark.parametrize("what", [
    "scalar field",
    "shape",
    "shape_signature",
    "options vector",
])
def test_out_of_range_values_raise_tflitekit_errors(what: str) -> None:
    m = Model()
    g = m.add_subgraph()
    x, y = g.add_input(Tensor("x", (1,))), g.add_output(Tensor("y", (1,)))
    reshape_options = OPERATOR_OPTIONS[BuiltinOperator.RESHAPE][1]  # type: ignore[index]
    op = g.add_operator(BuiltinOperator.RESHAPE, [x], [y], reshape_options(new_shape=[1]))
    if what == "scalar field":
        op.opcode.version = 2**40
    elif what == "shape":
        x.shape = (2**31,)
    elif what == "shape_signature":
        x.shape_signature = (2**33,)
    else:
        op.options.new_shape = [2**31]  # type: ignore[union-attr]
    with pytest.raises(tflitekit.TFLiteKitError):
        m.to_bytes()


def test_options_of_the_wrong_union_are_refused() -> None:
    m = Model()
    g = m.add_subgraph()
    x, y = g.add_input(Tensor("x", (1,))), g.add_output(Tensor("y", (1,)))
    _, hlo_cls = OPERATOR_OPTIONS[BuiltinOperator.STABLEHLO_CONCATENATE]  # type: ignore[misc]
    g.add_operator(Operator(BuiltinOperator.ADD, [x, x], [y], hlo_cls()))
    with pytest.raises(tflitekit.TFLiteKitError):
        m.to_bytes()


# ------------------------------------------------------------------------------------------------
# quantization details
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("details", [
    pytest.param(BlockwiseQuantization(scales=1, zero_points=-1, block_size=32,
                                       block_shape=[1, 32]), id="blockwise"),
    pytest.param(MultiAxisQuantization(scales=1, zero_points=2, block_size=4,
                                       quantized_dimensions=[0, 1]), id="multi-axis"),
])
def test_quantization_details_of_every_kind_round_trip(details: Table) -> None:
    """Every member of the QuantizationDetails union survives (CustomQuantization is in the
    tiny model)."""
    m = Model()
    g = m.add_subgraph()
    g.add_tensor(Tensor("w", (2, 32), "int8", quantization=Quantization(
        [1.0], [0], details=details)))  # type: ignore[arg-type]
    loaded = tflitekit.load(m.to_bytes())
    assert loaded.main.tensor("w").quantization.details == details


# ------------------------------------------------------------------------------------------------
# byte-level layout
# ------------------------------------------------------------------------------------------------


def test_empty_buffers_are_written_absent(tiny_model: Callable[[], Model], flat: Any) -> None:
    m = tiny_model()
    assert any(t.buffer is not None and t.buffer.nbytes == 0 for t in m.tensors())
    data = m.to_bytes()
    tables = flat(data).buffers()
    assert tables[0] == {"data": None, "offset": None, "size": None}  # buffer 0
    lengths = [t["data"][1] for t in tables if t["data"] is not None]
    assert 0 not in lengths, "a zero-length data vector was written"
    n_empty = sum(t["data"] is None for t in tables)
    assert n_empty >= 2  # buffer 0 and the tensor's empty buffer
    # every non-empty buffer is aligned for any element type
    assert all(start % 16 == 0 for start, _ in (t["data"] for t in tables if t["data"]))
    loaded = tflitekit.load(data)
    assert tflitekit.diff(m, loaded) == []


def _zero_length_vectors(model: Any) -> None:
    """Edit a flatc ModelT the way tflite-micro's model_editor writes it: empty buffers as
    zero-length data vectors instead of absent ones."""
    for buf in model.buffers:
        if buf.data is None or len(buf.data) == 0:
            buf.data = []


def test_zero_length_data_vectors_are_repaired(runnable_model: Callable[[], Model],
                                               repack: Callable[..., bytes], flat: Any) -> None:
    """A file with zero-length data vectors (as other editors write) is read, and rewritten
    with absent ones."""
    m = runnable_model()
    bad = repack(m.to_bytes(), _zero_length_vectors)
    stored = flat(bad).buffers()
    assert stored[0]["data"] is not None and stored[0]["data"][1] == 0
    loaded = tflitekit.load(bad)
    assert tflitekit.diff(m, loaded) == []
    assert loaded.to_bytes() == bad  # a plain save reproduces the file; re-encoding repairs it
    fixed = flat(loaded.to_bytes(reencode=True)).buffers()
    assert fixed[0]["data"] is None
    assert all(t["data"] is None or t["data"][1] > 0 for t in fixed)


# ------------------------------------------------------------------------------------------------
# the output runs on LiteRT and TFLM exactly like the input
# ------------------------------------------------------------------------------------------------


@pytest.mark.litert
@pytest.mark.tflm
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_saved_model_runs_identically(runnable_model: Callable[..., Model], seed: int,
                                      repack: Callable[..., bytes]) -> None:
    reference = reference_runtimes()
    original = repack(runnable_model(seed).to_bytes())  # written by an independent writer
    saved = tflitekit.load(original).to_bytes(reencode=True)
    assert saved != original
    for input_seed in (seed, seed + 100):
        inputs = reference.random_inputs(original, input_seed)
        want_litert = reference.run_litert(original, inputs)
        got_litert = reference.run_litert(saved, inputs)
        assert same_outputs(want_litert, got_litert)
        want_tflm = reference.run_tflm(original, inputs)
        got_tflm = reference.run_tflm(saved, inputs)
        assert same_outputs(want_tflm, got_tflm)
        # the test model is not degenerate: outputs are not all saturated
        out = got_litert[0]
        assert len(np.unique(out)) > 1 and not np.all(np.abs(out.astype(int)) >= 127)


@pytest.mark.litert
@pytest.mark.tflm
def test_edited_model_runs_with_the_new_weights(runnable_model: Callable[[], Model]) -> None:
    reference = reference_runtimes()
    m = runnable_model()
    before = m.to_bytes()
    inputs = reference.random_inputs(before, 0)
    m.main.tensor("fc/w").data = np.zeros((5, 48), np.int8)
    m.main.tensor("fc/b").data = np.zeros(5, np.int32)
    after = m.to_bytes()
    out_before = reference.run_litert(before, inputs)[0]
    out_after = reference.run_litert(after, inputs)[0]
    assert not np.array_equal(out_before, out_after)
    assert np.array_equal(out_after, reference.run_tflm(after, inputs)[0])


# ------------------------------------------------------------------------------------------------
# saving: atomic, no accidental overwrite
# ------------------------------------------------------------------------------------------------


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        runnable_model: Callable[[], Model], tiny_bytes: bytes) -> None:
    target = tmp_path / "model.tflite"
    target.write_bytes(tiny_bytes)
    real_write_parts = serde_write.write_parts

    def failing_write_parts(parts: Any, out: Any) -> None:
        out.write(b"partial garbage")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serde_write, "write_parts", failing_write_parts)
    with pytest.raises(OSError, match="No space left"):
        runnable_model().save(target)
    assert target.read_bytes() == tiny_bytes, "the old file was damaged by a failed save"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"], "temp file left"

    # a successful save goes through a temporary file in the same directory, then a rename
    monkeypatch.setattr(serde_write, "write_parts", real_write_parts)
    renames: list[tuple[str, str, bytes]] = []
    real_replace = os.replace

    def spy_replace(src: Any, dst: Any, **kw: Any) -> None:
        renames.append((os.fspath(src), os.fspath(dst), Path(dst).read_bytes()))
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", spy_replace)
    runnable_model().save(target)
    assert len(renames) == 1
    src, dst, content_before = renames[0]
    assert Path(dst) == target and Path(src).parent == tmp_path and Path(src) != target
    assert content_before == tiny_bytes  # target untouched until the rename
    assert target.read_bytes() == runnable_model().to_bytes()
    assert not Path(src).exists()
    mode = target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_interrupted_save_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         runnable_model: Callable[[], Model]) -> None:
    def interrupted(parts: Any, out: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(serde_write, "write_parts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runnable_model().save(tmp_path / "new.tflite")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_to_overwrite_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              runnable_bytes: bytes) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(runnable_bytes)
    m = tflitekit.load(path)
    m.description = "edited"
    with pytest.raises(tflitekit.TFLiteKitError, match="overwrite"):
        m.save(path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(tflitekit.TFLiteKitError, match="overwrite"):
        m.save("m.tflite")  # same file, relative path
    (tmp_path / "sub").mkdir()
    with pytest.raises(tflitekit.TFLiteKitError, match="overwrite"):
        m.save(Path("sub/../m.tflite"))
    assert path.read_bytes() == runnable_bytes
    # a model built in memory, or loaded from elsewhere, saves over an existing file
    other = tmp_path / "other.tflite"
    other.write_bytes(b"old")
    m.save(other)
    assert tflitekit.load(other).description == "edited"
    # overwrite=True replaces the source; the loaded model stays usable afterwards
    w_before = m.main.tensor("fc/w").data.copy()
    m.save(path, overwrite=True)
    assert tflitekit.load(path).description == "edited"
    assert np.array_equal(m.main.tensor("fc/w").data, w_before)
    m.save(tmp_path / "again.tflite")
    assert tflitekit.diff(tflitekit.load(tmp_path / "again.tflite"), m) == []


def test_save_path_to_path_preserves_content(tmp_path: Path, tiny_bytes: bytes) -> None:
    src = tmp_path / "a.tflite"
    src.write_bytes(tiny_bytes)
    m = tflitekit.load(src)
    m.save(tmp_path / "b.tflite")
    assert (tmp_path / "b.tflite").read_bytes() == tiny_bytes


# ------------------------------------------------------------------------------------------------
# digest
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def digested(tmp_path: Path, runnable_model: Callable[[], Model]) -> bytes:
    path = tmp_path / "digest.tflite"
    runnable_model().save(path, digest=True)
    return path.read_bytes()


def test_digest_round_trip(tmp_path: Path, digested: bytes,
                           runnable_model: Callable[[], Model]) -> None:
    m = tflitekit.load(digested)
    assert tflitekit.diff(m, runnable_model()) == []  # the digest entry is not part of the model
    assert all(e.name != "tflitekit.sha256" for e in m.metadata)
    assert b"tflitekit.sha256" in digested
    assert tflitekit.load(tmp_path / "digest.tflite").description == m.description
    # to_bytes(digest=True) gives the same bytes as save(digest=True)
    assert serde_write.to_bytes(runnable_model(), digest=True) == digested
    # saving a loaded, digested model again without digest drops it
    assert b"tflitekit.sha256" not in m.to_bytes()


def _weight_positions(data: bytes, name: str) -> tuple[int, int]:
    arr = tflitekit.load(data).main.tensor(name).data
    start = arr.ctypes.data - np.frombuffer(data, np.uint8).ctypes.data
    return start, start + arr.nbytes


def test_digest_detects_flipped_bytes(digested: bytes) -> None:
    w0, w1 = _weight_positions(digested, "fc/w")
    digest_at = digested.find(b"tflitekit.sha256")
    positions = {
        "identifier": 5, "root table": 20, "fc weights first": w0, "fc weights middle":
        (w0 + w1) // 2, "fc weights last": w1 - 1, "last byte": len(digested) - 1,
        "description": digested.find(b"runnable"), "tensor name": digested.find(b"conv/w"),
        "quarter": len(digested) // 4, "half": len(digested) // 2,
    }
    assert digest_at > 0
    for what, pos in positions.items():
        for bit in (0x01, 0x80):
            bad = bytearray(digested)
            bad[pos] ^= bit
            with pytest.raises(tflitekit.FormatError):
                tflitekit.load(bytes(bad))
            problems = tflitekit.validate(bytes(bad))
            assert problems, f"validate missed a flip at {what} ({pos})"


def test_digest_detects_every_single_byte_flip(digested: bytes) -> None:
    missed = []
    for pos in range(len(digested)):
        bad = bytearray(digested)
        bad[pos] ^= 0x01
        try:
            tflitekit.load(bytes(bad))
        except tflitekit.FormatError:
            continue
        missed.append(pos)
    assert missed == [], f"flips at {missed} of {len(digested)} bytes went unnoticed"


def test_without_digest_nothing_is_verified(runnable_bytes: bytes) -> None:
    assert b"tflitekit.sha256" not in runnable_bytes
    w0, _ = _weight_positions(runnable_bytes, "fc/w")
    bad = bytearray(runnable_bytes)
    bad[w0] ^= 0x01
    m = tflitekit.load(bytes(bad))
    good = tflitekit.load(runnable_bytes)
    assert m.main.tensor("fc/w").data.flat[0] != good.main.tensor("fc/w").data.flat[0]


def test_data_that_ends_like_a_digest_trailer_is_padded() -> None:
    """The writer never makes a file that looks signed when it is not: a file whose last data
    happens to end with the trailer's marker gets 16 bytes of padding after it."""
    m = Model("x")
    g = m.add_subgraph("g")
    g.add_tensor(Tensor.constant("c", np.frombuffer(b"tflitekit.sha256", np.uint8)))
    data = m.to_bytes()
    assert data.endswith(bytes(16)) and b"tflitekit.sha256" in data
    assert tflitekit.diff(tflitekit.load(data), m) == []
    assert tflitekit.load(tflitekit.to_bytes(m, digest=True)).main.tensors[0].data.tobytes() == \
        b"tflitekit.sha256"


# ------------------------------------------------------------------------------------------------
# external buffers (Buffer.offset / Buffer.size), models over 2 GB
# ------------------------------------------------------------------------------------------------


def _external_bytes(monkeypatch: pytest.MonkeyPatch, model: Model, digest: bool = False) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(serde_write, "INLINE_LIMIT", 0)
        return serde_write.to_bytes(model, digest=digest, reencode=True)


def test_external_buffers_are_read_and_round_trip(monkeypatch: pytest.MonkeyPatch,
                                                  tiny_model: Callable[[], Model],
                                                  tmp_path: Path, flat: Any) -> None:
    m = tiny_model()
    ext = _external_bytes(monkeypatch, m)
    tables = flat(ext).buffers()
    assert all(t["data"] is None for t in tables), "data written inline"
    nonempty = [b for b in [None, *m.all_buffers()] if b is not None and b.nbytes]
    external = [t for t in tables if t["offset"] is not None]
    assert len(external) == len(nonempty)
    for t in external:
        assert t["offset"] % 16 == 0 and t["offset"] + t["size"] <= len(ext)
    loaded = tflitekit.load(ext)
    assert tflitekit.diff(loaded, m) == []
    # a plain save keeps the file as it is; re-encoded it goes back to the inline layout,
    # and external again when the limit is low
    assert loaded.to_bytes() == ext
    assert loaded.to_bytes(reencode=True) == m.to_bytes()
    assert _external_bytes(monkeypatch, loaded) == ext
    # path to path (buffers copied from the mapped file)
    path = tmp_path / "ext.tflite"
    path.write_bytes(ext)
    with monkeypatch.context() as patch:
        patch.setattr(serde_write, "INLINE_LIMIT", 0)
        tflitekit.load(path).save(tmp_path / "ext2.tflite", reencode=True)
    assert (tmp_path / "ext2.tflite").read_bytes() == ext


@pytest.mark.litert
@pytest.mark.tflm
def test_external_buffers_run_in_litert(monkeypatch: pytest.MonkeyPatch,
                                        runnable_model: Callable[[], Model]) -> None:
    reference = reference_runtimes()
    inline = runnable_model().to_bytes()
    ext = _external_bytes(monkeypatch, runnable_model())
    resaved = _external_bytes(monkeypatch, tflitekit.load(ext))
    for seed in (0, 1):
        inputs = reference.random_inputs(inline, seed)
        want = reference.run_litert(inline, inputs)
        assert same_outputs(want, reference.run_litert(ext, inputs))
        assert same_outputs(want, reference.run_litert(resaved, inputs))
        # inline again: TFLM runs it too
        assert same_outputs(reference.run_tflm(inline, inputs),
                            reference.run_tflm(tflitekit.load(ext).to_bytes(reencode=True),
                                               inputs))


def test_external_buffers_with_digest(monkeypatch: pytest.MonkeyPatch,
                                      runnable_model: Callable[[], Model]) -> None:
    ext = _external_bytes(monkeypatch, runnable_model(), digest=True)
    assert tflitekit.diff(tflitekit.load(ext), runnable_model()) == []
    w0, _ = _weight_positions(ext, "fc/w")
    bad = bytearray(ext)
    bad[w0] ^= 0x10
    with pytest.raises(tflitekit.FormatError):
        tflitekit.load(bytes(bad))


def test_external_buffer_past_the_end_is_a_format_error(monkeypatch: pytest.MonkeyPatch,
                                                        runnable_model: Callable[[], Model]
                                                        ) -> None:
    ext = _external_bytes(monkeypatch, runnable_model())
    truncated = ext[:-1]
    with pytest.raises(tflitekit.FormatError, match=r"buffers\[\d+\]"):
        tflitekit.load(truncated)


_BIG_N = 2**31 + 2**27  # bytes in the big tensor: more than 2 GiB

_BUILD_BIG = textwrap.dedent("""
    import sys
    import numpy as np
    import tflitekit
    from tflitekit import Buffer, Model, Tensor
    from tflitekit.options import OPERATOR_OPTIONS, BuiltinOperator

    n = int(sys.argv[2])
    zeros = np.zeros((2, n // 2), np.int8)  # calloc'd: the pages are never touched
    zeros.flags.writeable = False  # so the builder keeps a view instead of copying
    m = Model("big")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1,), "int32"))
    big = Tensor("big", zeros.shape, "int8", buffer=Buffer(zeros))
    y = g.add_output(Tensor("y", (1, n // 2), "int8"))
    g.add_operator(BuiltinOperator.GATHER, [big, x], [y],
                   OPERATOR_OPTIONS[BuiltinOperator.GATHER][1]())
    g.add_tensor(Tensor.constant("small", np.arange(16, dtype=np.int8)))
    m.save(sys.argv[1])
""")

_ROUND_TRIP_BIG = textwrap.dedent("""
    import sys
    import tflitekit
    tflitekit.load(sys.argv[1]).save(sys.argv[2])
""")

_PEAK = textwrap.dedent("""
    import atexit
    def _peak():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    print("PEAK", int(line.split()[1]) * 1024)
    atexit.register(_peak)
""")


def _run_measured(script: str, *args: str) -> int:
    """Run ``script`` in a fresh interpreter; its peak resident memory in bytes."""
    result = subprocess.run([sys.executable, "-c", _PEAK + script, *args],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split("PEAK")[-1])


def _need_disk(path: Path, gib: float) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("peak memory is measured through /proc/self/status (Linux only)")
    free = shutil.disk_usage(path).free
    if free < gib * 2**30:
        pytest.skip(f"needs {gib:g} GB of free disk in {path} for 2.2 GB model files, "
                    f"only {free / 2**30:.1f} GB free")


@pytest.fixture(scope="module")
def big_model_file(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("big")
    _need_disk(directory, 6)
    path = directory / "big1.tflite"
    _run_measured(_BUILD_BIG, str(path), str(_BIG_N))
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.slow
def test_model_over_2gib_round_trips_path_to_path(big_model_file: Path, flat: Any) -> None:
    first = big_model_file
    assert first.stat().st_size > _BIG_N > 2**31
    second = first.with_name("big2.tflite")
    try:
        peak = _run_measured(_ROUND_TRIP_BIG, str(first), str(second))
        assert peak < 2**30, f"path-to-path save of a 2.2 GB model peaked at {peak >> 20} MiB"
        loaded = tflitekit.load(second)
        assert loaded.main.tensor("big").shape == (2, _BIG_N // 2)
        assert loaded.main.tensor("big").buffer.nbytes == _BIG_N
        assert loaded.main.tensor("small").data.tolist() == list(range(16))
        head = second.read_bytes()[:1 << 16]
        assert any(t["offset"] for t in flat(head).buffers()), "buffers not stored externally"
        with open(first, "rb") as a, open(second, "rb") as b:
            while True:
                ca, cb = a.read(1 << 24), b.read(1 << 24)
                assert ca == cb, "the re-saved file differs from the original"
                if not ca:
                    break
    finally:
        second.unlink(missing_ok=True)


@pytest.mark.slow
def test_saving_a_big_in_memory_model_does_not_copy_it(tmp_path: Path) -> None:
    _need_disk(tmp_path, 3)
    path = tmp_path / "big.tflite"
    peak = _run_measured(_BUILD_BIG, str(path), str(_BIG_N))
    path.unlink()
    assert peak < 2**30, f"saving a 2.2 GB in-memory model peaked at {peak >> 20} MiB"


def test_data_alignment_follows_the_file(runnable_model: Callable[[], Model], flat: Any) -> None:
    model = runnable_model()
    assert model.data_alignment == 16
    model.data_alignment = 4  # as compact writers (e.g. flatbuffers' Python object API) leave it
    compact = model.to_bytes()
    loaded = tflitekit.load(compact)
    assert loaded.data_alignment == 4
    assert loaded.to_bytes() == compact  # saving does not pad a compact model
    loaded.data_alignment = 16
    padded = loaded.to_bytes()
    assert len(padded) > len(compact)
    starts = [b["data"][0] for b in flat(padded).buffers() if b["data"]]
    assert starts and all(start % 16 == 0 for start in starts)
    assert tflitekit.load(padded).data_alignment == 16
    for bad in (3, 0, 8192):
        loaded.data_alignment = bad
        with pytest.raises(TFLiteKitError, match="data_alignment must be a power of two"):
            loaded.to_bytes()

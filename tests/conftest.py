"""Shared fixtures: models built with the builder, and the real-model corpus.

Factories are exposed as session-scoped fixtures returning functions, so that every test gets a
fresh model and hypothesis tests may use them too.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tflitekit import Buffer, Model, Operator, OperatorCode, Quantization, SignatureDef, Tensor
from tflitekit.options import (
    ActivationFunctionType,
    AddOptions,
    BuiltinOperator,
    CallOnceOptions,
    Conv2DOptions,
    CustomOptionsFormat,
    CustomQuantization,
    DimensionMetadata,
    DimensionType,
    FullyConnectedOptions,
    Int32Vector,
    Padding,
    ReshapeOptions,
    SparsityParameters,
    StablehloConcatenateOptions,
    TensorType,
    Uint8Vector,
    Uint16Vector,
    VariantSubType,
)

REPO = Path(__file__).resolve().parent.parent

# Every pass checks the model before and after it runs (tflitekit.passes.CHECK_ENV).
os.environ["TFLITEKIT_CHECK_PASSES"] = "1"

ModelFactory = Callable[[], Model]


# ------------------------------------------------------------------------------------------------
# A runnable int8 model: CONV_2D (per-channel) -> RESHAPE -> FULLY_CONNECTED -> ADD
# ------------------------------------------------------------------------------------------------


def build_runnable_model(seed: int = 0) -> Model:
    """A small int8 model that LiteRT and TFLM both run, with sane quantization parameters."""
    rng = np.random.default_rng(seed)
    m = Model("runnable: conv -> reshape -> fc -> add")
    g = m.add_subgraph("main")

    in_scale, in_zp = 0.05, -3
    x = g.add_input(Tensor("x", (1, 4, 4, 2), "int8",
                           quantization=Quantization(in_scale, in_zp)))

    # CONV_2D, per-channel quantized weights along dimension 0 (output channels).
    cout = 3
    w_scales = np.array([0.02, 0.011, 0.031], np.float32)
    conv_w = Tensor.constant("conv/w", rng.integers(-127, 128, (cout, 2, 2, 2), dtype=np.int8),
                             quantization=Quantization(w_scales, np.zeros(cout, np.int64),
                                                       quantized_dimension=0))
    conv_b = Tensor.constant("conv/b", rng.integers(-300, 300, cout, dtype=np.int32),
                             quantization=Quantization(in_scale * w_scales,
                                                       np.zeros(cout, np.int64)))
    conv_y = Tensor("conv/y", (1, 4, 4, cout), "int8", quantization=Quantization(0.04, 2))
    g.add_operator(BuiltinOperator.CONV_2D, [x, conv_w, conv_b], [conv_y],
                   Conv2DOptions(padding=Padding.SAME, stride_w=1, stride_h=1,
                                 fused_activation_function=ActivationFunctionType.NONE))

    # RESHAPE to (1, 48).
    new_shape = Tensor.constant("reshape/shape", np.array([1, 48], np.int32))
    flat = Tensor("flat", (1, 48), "int8", quantization=Quantization(0.04, 2))
    g.add_operator(BuiltinOperator.RESHAPE, [conv_y, new_shape], [flat],
                   ReshapeOptions(new_shape=[1, 48]))

    # FULLY_CONNECTED, per-tensor weights.
    fc_w = Tensor.constant("fc/w", rng.integers(-127, 128, (5, 48), dtype=np.int8),
                           quantization=Quantization(0.01, 0))
    fc_b = Tensor.constant("fc/b", rng.integers(-500, 500, 5, dtype=np.int32),
                           quantization=Quantization(0.04 * 0.01, 0))
    fc_y = Tensor("fc/y", (1, 5), "int8", quantization=Quantization(0.15, -5))
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, [flat, fc_w, fc_b], [fc_y],
                   FullyConnectedOptions())

    # ADD a constant.
    c = Tensor.constant("add/c", rng.integers(-128, 128, (1, 5), dtype=np.int8),
                        quantization=Quantization(0.1, 1))
    y = Tensor("y", (1, 5), "int8", quantization=Quantization(0.2, -1))
    g.add_operator(BuiltinOperator.ADD, [fc_y, c], [y], AddOptions())
    g.add_output(y)
    return m


# ------------------------------------------------------------------------------------------------
# The "tiny" model: small, but every table and field of the schema that the IR models is used
# ------------------------------------------------------------------------------------------------


def build_tiny_model() -> Model:
    """Every table of the schema exercised somewhere; not meant to run on a runtime."""
    m = build_runnable_model()
    m.description = "tiny: every table of the schema"
    m.version = 3
    g = m.main
    y = g.outputs[0]

    # A custom operator with flexbuffer custom_options and an operator code of version 2.
    custom_out = Tensor("custom/out", (1, 5), "int8", quantization=Quantization(0.2, -1))
    g.add_operator(Operator(OperatorCode(BuiltinOperator.CUSTOM, "MyCustomOp", version=2),
                            [y, None], [custom_out],
                            custom_options=b"\x01\x02custom\x00\xff",
                            custom_options_format=CustomOptionsFormat.FLEXBUFFERS))
    g.add_output(custom_out)

    # A StableHLO operator (builtin code >= 127) with options in the second union, a variable
    # input it mutates, intermediates and a debug metadata index.
    var = Tensor("state", (1, 5), "int8", is_variable=True, quantization=Quantization(0.2, -1))
    inter = Tensor("hlo/intermediate", (1, 10), "int8", quantization=Quantization())
    hlo_out = Tensor("hlo/out", (1, 10), "int8", quantization=Quantization(0.2, -1))
    g.add_operator(BuiltinOperator.STABLEHLO_CONCATENATE, [custom_out, var], [hlo_out],
                   options_2=StablehloConcatenateOptions(dimension=1),
                   mutating_variable_inputs=[False, True], intermediates=[inter],
                   debug_metadata_index=7)
    g.add_output(hlo_out)

    # A second subgraph, called once from the main one.
    body = m.add_subgraph("init")
    body.debug_metadata_index = 3
    # shape_signature with a dynamic dimension, has_rank.
    a = body.add_input(Tensor("init/a", (1, 4), "float32", shape_signature=(-1, 4),
                              has_rank=True))
    # Quantization with every field: min/max, scale/zero point per channel along dimension 1,
    # custom details.
    q_full = Quantization([0.5, 0.25, 0.125, 1.0], [0, 1, 2, 3], quantized_dimension=1,
                          min=[-1.0, -2.0, -3.0, -4.0], max=[1.0, 2.0, 3.0, 4.0],
                          details=CustomQuantization(custom=b"\x07\x08"))
    b = Tensor.constant("init/b", np.arange(4, dtype=np.float32).reshape(1, 4))
    b.quantization = q_full
    s = Tensor("init/sum", (1, 4), "float32", shape_signature=(-1, 4))
    body.add_operator(BuiltinOperator.ADD, [a, b], [s],
                      AddOptions(fused_activation_function=ActivationFunctionType.RELU6,
                                 pot_scale_int16=False))
    body.add_output(s)
    # A sparse constant (sparsity parameters with all three index vector types).
    sparse = Tensor("init/sparse", (4, 4), "float32",
                    buffer=Buffer(np.arange(6, dtype=np.float32)))
    sparse.sparsity = SparsityParameters(
        traversal_order=[0, 1, 2], block_map=[1],
        dim_metadata=[
            DimensionMetadata(format=DimensionType.DENSE, dense_size=4),
            DimensionMetadata(format=DimensionType.SPARSE_CSR,
                              array_segments=Int32Vector(values=[0, 1, 3, 4, 6]),
                              array_indices=Uint16Vector(values=[0, 0, 1, 1, 0, 1])),
            DimensionMetadata(format=DimensionType.SPARSE_CSR,
                              array_segments=Uint8Vector(values=b"\x00\x01"),
                              array_indices=Uint8Vector(values=b"\x00")),
        ])
    body.add_tensor(sparse)
    # A VARIANT tensor describing its element type.
    body.add_tensor(Tensor("init/variant", (), TensorType.VARIANT, variant_tensors=[
        VariantSubType(shape=[2, 3], type=TensorType.INT8, has_rank=True)]))
    # A tensor without shape and without name, one with an empty (but present) quantization,
    # and one that holds an empty buffer (written as buffer without data).
    body.add_tensor(Tensor(None, None, "int32"))
    body.add_tensor(Tensor("init/empty_q", (2,), "int16", quantization=Quantization()))
    body.add_tensor(Tensor("init/empty_buffer", (0,), "float32", buffer=Buffer(b"")))
    body.add_tensor(Tensor.constant("init/f16", np.array([1.5, -2.0], np.float16)))
    body.add_tensor(Tensor.constant("init/bool", np.array([True, False, True])))
    body.add_tensor(Tensor.constant("init/i64", np.array([[1, -2], [3, 2**40]], np.int64)))

    g.add_operator(BuiltinOperator.CALL_ONCE, [], [], CallOnceOptions(init_subgraph_index=1),
                   before=g.operators[0])

    # Metadata (named entries and the legacy metadata_buffer list), an unreferenced buffer,
    # and a signature.
    m.add_metadata("min_runtime_version", b"1.14.0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    m.add_metadata("tflitekit.test", bytes(range(256)))
    orphan = Buffer(b"orphan buffer")
    m.buffers.append(orphan)
    m.metadata_buffer = [orphan]
    m.signature_defs.append(SignatureDef("serving_default", g, inputs={"x": g.inputs[0]},
                                         outputs={"y": y, "hlo": hlo_out}))
    return m


@pytest.fixture(scope="session")
def runnable_model() -> Callable[..., Model]:
    """Factory of the runnable int8 model (CONV_2D per-channel, RESHAPE, FC, ADD)."""
    return build_runnable_model


@pytest.fixture(scope="session")
def tiny_model() -> ModelFactory:
    """Factory of the tiny model that exercises every table of the schema."""
    return build_tiny_model


@pytest.fixture(scope="session")
def tiny_bytes() -> bytes:
    return build_tiny_model().to_bytes()


@pytest.fixture(scope="session")
def runnable_bytes() -> bytes:
    return build_runnable_model().to_bytes()


# ------------------------------------------------------------------------------------------------
# The corpus tier
# ------------------------------------------------------------------------------------------------


def corpus_dir() -> Path:
    env = os.environ.get("TFLITEKIT_CORPUS")
    return Path(env) if env else Path.home() / ".cache" / "tflitekit" / "corpus"


def corpus_models() -> list[Path]:
    models = corpus_dir() / "models"
    return sorted(models.glob("*.tflite")) if models.is_dir() else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus_model" not in metafunc.fixturenames:
        return
    paths = corpus_models()
    if paths:
        metafunc.parametrize("corpus_model", paths, ids=[p.name for p in paths], indirect=True)
    else:
        # One placeholder so that the tier fails loudly (see the fixture) instead of collecting
        # nothing when the corpus is missing.
        metafunc.parametrize("corpus_model", [None], ids=["corpus-missing"], indirect=True)


def _missing_corpus_message() -> str:
    return (f"the model corpus is missing: no {corpus_dir() / 'models'}/*.tflite. Run "
            f"`python {REPO / 'scripts' / 'fetch_corpus.py'} --cache {corpus_dir()}` "
            "(or point TFLITEKIT_CORPUS at an existing corpus directory)")


@pytest.fixture
def corpus_model(request: pytest.FixtureRequest) -> Path:
    path = request.param
    if path is None:
        pytest.fail(_missing_corpus_message(), pytrace=False)
    return path  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def corpus_paths() -> list[Path]:
    paths = corpus_models()
    if not paths:
        pytest.fail(_missing_corpus_message(), pytrace=False)
    return paths


# ------------------------------------------------------------------------------------------------
# An independent, minimal flatbuffer reader for byte-level assertions (no tflitekit code involved)
# ------------------------------------------------------------------------------------------------


class Flat:
    """Positions and raw values in a flatbuffer, for tests that look at the bytes themselves.

    Tables are addressed by their absolute position; fields by their schema slot (field id).
    Absent fields give None. Nothing is bounds-checked beyond what ``struct`` does: use it on
    files known to be well formed.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data

    def u32(self, pos: int) -> int:
        return int(struct.unpack_from("<I", self.data, pos)[0])

    def root(self) -> int:
        return self.u32(0)

    def field_pos(self, table: int, slot: int) -> int | None:
        """Absolute position of a field's value, None when absent."""
        vt = table - struct.unpack_from("<i", self.data, table)[0]
        vt_len = struct.unpack_from("<H", self.data, vt)[0]
        if 4 + 2 * slot >= vt_len:
            return None
        off = struct.unpack_from("<H", self.data, vt + 4 + 2 * slot)[0]
        return None if off == 0 else table + off

    def scalar(self, table: int, slot: int, fmt: str) -> int | float | None:
        pos = self.field_pos(table, slot)
        return None if pos is None else struct.unpack_from("<" + fmt, self.data, pos)[0]

    def ref(self, table: int, slot: int) -> int | None:
        """Where an offset field (table, vector, string) points."""
        pos = self.field_pos(table, slot)
        return None if pos is None else pos + self.u32(pos)

    def vector(self, table: int, slot: int) -> tuple[int, int] | None:
        """(start of the elements, element count) of a vector field."""
        at = self.ref(table, slot)
        return None if at is None else (at + 4, self.u32(at))

    def tables(self, table: int, slot: int) -> list[int]:
        """Positions of the tables of a vector-of-tables field."""
        vec = self.vector(table, slot)
        if vec is None:
            return []
        start, n = vec
        return [start + 4 * i + self.u32(start + 4 * i) for i in range(n)]

    def string(self, table: int, slot: int) -> str | None:
        vec = self.vector(table, slot)
        return None if vec is None else self.data[vec[0]:vec[0] + vec[1]].decode()

    # -- TFLite schema slots used by the tests --------------------------------------------------
    # Model: 1 operator_codes, 2 subgraphs, 4 buffers, 6 metadata
    # SubGraph: 0 tensors, 1 inputs, 2 outputs, 3 operators
    # Operator: 0 opcode_index, 1 inputs, 2 outputs
    # Tensor: 2 buffer; Buffer: 0 data, 1 offset, 2 size
    # OperatorCode: 0 deprecated_builtin_code, 1 custom_code, 3 builtin_code

    def buffers(self) -> list[dict[str, Any]]:
        out = []
        for b in self.tables(self.root(), 4):
            out.append({"data": self.vector(b, 0), "offset": self.scalar(b, 1, "Q"),
                        "size": self.scalar(b, 2, "Q")})
        return out

    def opcodes(self) -> list[tuple[Any, Any, str | None]]:
        """(deprecated_builtin_code, builtin_code, custom_code) as stored (None if absent)."""
        return [(self.scalar(c, 0, "b"), self.scalar(c, 3, "i"), self.string(c, 1))
                for c in self.tables(self.root(), 1)]

    def subgraph(self, i: int) -> int:
        return self.tables(self.root(), 2)[i]

    def operator(self, sg: int, k: int) -> int:
        return self.tables(self.subgraph(sg), 3)[k]

    def tensor(self, sg: int, k: int) -> int:
        return self.tables(self.subgraph(sg), 0)[k]


@pytest.fixture(scope="session")
def flat() -> type[Flat]:
    """The independent flatbuffer reader class (see :class:`Flat`)."""
    return Flat


def repack_with_flatbuffers(data: bytes, edit: Callable[[Any], None] | None = None) -> bytes:
    """The same model written by an independent writer: flatc's Python object API (the schema
    module shipped with tflite-micro), optionally after ``edit(ModelT)``."""
    flatbuffers = pytest.importorskip("flatbuffers")
    try:
        from tflite_micro.python.tflite_micro.runtime import schema_fb
    except ImportError:
        pytest.skip("tflite-micro is not installed")
    obj = schema_fb.ModelT.InitFromPackedBuf(data, 0)
    if edit is not None:
        edit(obj)
    builder = flatbuffers.Builder(0)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="session")
def repack() -> Callable[..., bytes]:
    """See :func:`repack_with_flatbuffers`."""
    return repack_with_flatbuffers

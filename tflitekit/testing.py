"""Builders and assertions for testing code that uses tflitekit (and for tflitekit's own tests).

Builders return a fresh :class:`~tflitekit.Model` each call, identical for the same ``seed``:

- :func:`build_runnable_model`: int8 CONV_2D (per channel) → RESHAPE → FULLY_CONNECTED → ADD,
  which LiteRT and TFLite Micro both run;
- :func:`build_tiny_model`: small, but every table and field of the schema is used somewhere;
- :func:`build_kws_model`: a keyword-spotting-like int8 DS-CNN ending in SOFTMAX;
- :func:`build_while_model`: a float WHILE loop over two more subgraphs.

Assertions raise ``AssertionError`` with a message saying what differs:

- :func:`assert_models_equal`: field by field, through :func:`tflitekit.diff`;
- :func:`assert_same_outputs`: bit-identical outputs on a reference runtime (``"tflm"`` or
  ``"litert"``). A missing runtime raises :class:`~tflitekit.RuntimeUnavailable`, or skips the
  test when called inside a pytest test.

pytest is not a dependency: it is imported only to skip a test that is already running under it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np
import numpy.typing as npt

from .errors import RuntimeUnavailable, UsageError
from .ir import Buffer, Model, Operator, OperatorCode, Quantization, SignatureDef, Tensor, diff
from .options import (
    ActivationFunctionType,
    AddOptions,
    BuiltinOperator,
    CallOnceOptions,
    Conv2DOptions,
    CustomOptionsFormat,
    CustomQuantization,
    DepthwiseConv2DOptions,
    DimensionMetadata,
    DimensionType,
    FullyConnectedOptions,
    Int32Vector,
    Padding,
    Pool2DOptions,
    ReshapeOptions,
    SoftmaxOptions,
    SparsityParameters,
    StablehloConcatenateOptions,
    Table,
    TensorType,
    Uint8Vector,
    Uint16Vector,
    VariantSubType,
    WhileOptions,
)
from .runtimes import random_inputs, require, run_litert, run_tflm
from .serde import load, to_bytes

__all__ = [
    "Runtime",
    "assert_models_equal",
    "assert_same_outputs",
    "build_kws_model",
    "build_runnable_model",
    "build_tiny_model",
    "build_while_model",
    "corpus_dir",
    "data_dir",
    "require_runtime",
    "single_op",
]

Array = npt.NDArray[Any]
Runtime = Literal["tflm", "litert"]
"""The reference runtimes :func:`assert_same_outputs` can run: TFLite Micro or LiteRT."""

# ------------------------------------------------------------------------------------------------
# Test data: the real-model corpus and the labelled features
# ------------------------------------------------------------------------------------------------


def corpus_dir() -> Path:
    """Where ``scripts/fetch_corpus.py`` keeps the real-model corpus (``models/``, and
    ``keras/`` from ``scripts/make_keras_models.py``): ``$TFLITEKIT_CORPUS``, else
    ``~/.cache/tflitekit/corpus``."""
    env = os.environ.get("TFLITEKIT_CORPUS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tflitekit" / "corpus"


def data_dir() -> Path:
    """Where the labelled micro_speech features (``kws_espeak_*.npz``) are:
    ``$TFLITEKIT_DATA``, else ``shared/data`` beside a source checkout of tflitekit."""
    env = os.environ.get("TFLITEKIT_DATA")
    checkout = Path(__file__).resolve().parents[1]
    return Path(env).expanduser() if env else checkout.parent / "shared" / "data"


# ------------------------------------------------------------------------------------------------
# Builders
# ------------------------------------------------------------------------------------------------


def single_op(opcode: BuiltinOperator | str, inputs: Sequence[Tensor | None],
              outputs: Sequence[Tensor], options: Table | None = None, **kwargs: Any) -> Model:
    """A model of one operator (a custom one when ``opcode`` is a string): its non-constant
    inputs are the graph's inputs, in order, and its outputs the graph's outputs. ``kwargs`` go
    to :meth:`~tflitekit.ir.Subgraph.add_operator`."""
    model = Model(f"single {opcode if isinstance(opcode, str) else opcode.name}")
    graph = model.add_subgraph("main")
    for t in inputs:
        if t is not None and not t.is_constant:
            graph.add_input(t)
    graph.add_operator(opcode, list(inputs), list(outputs), options, **kwargs)
    for t in outputs:
        graph.add_output(t)
    return model


def build_runnable_model(seed: int = 0) -> Model:
    """A small int8 model that LiteRT and TFLM both run, with sane quantization parameters:
    CONV_2D (per-channel weights) → RESHAPE → FULLY_CONNECTED → ADD of a constant; ``seed``
    draws the weights."""
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


def build_tiny_model(seed: int = 0) -> Model:
    """Every table and field of the schema that the IR models, used somewhere; the runnable
    model (of ``seed``) extended with operators no runtime runs."""
    m = build_runnable_model(seed)
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




def build_kws_model(seed: int = 7) -> Model:
    """A keyword-spotting-like int8 DS-CNN: CONV, DEPTHWISE_CONV, AVERAGE_POOL, FC, SOFTMAX,
    with a signature and metadata; ``seed`` draws the weights."""
    rng = np.random.default_rng(seed)
    m = Model("kws-like")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("input", (1, 10, 8, 1), "int8", quantization=Quantization(0.1, 0)))
    w = Tensor.constant("conv/w", rng.integers(-127, 128, (4, 3, 3, 1), dtype=np.int8),
                        quantization=Quantization([0.01, 0.02, 0.03, 0.04], [0, 0, 0, 0]))
    b = Tensor.constant("conv/b", rng.integers(-50, 50, 4, dtype=np.int32),
                        quantization=Quantization([0.001, 0.002, 0.003, 0.004], [0, 0, 0, 0]))
    c = Tensor("conv/out", (1, 5, 4, 4), "int8", quantization=Quantization(0.05, -128))
    g.add_operator(BuiltinOperator.CONV_2D, [x, w, b], [c], Conv2DOptions(
        padding=Padding.SAME, stride_w=2, stride_h=2,
        fused_activation_function=ActivationFunctionType.RELU))
    dw = Tensor.constant("dw/w", rng.integers(-127, 128, (1, 3, 3, 4), dtype=np.int8),
                         quantization=Quantization([0.02] * 4, [0] * 4, quantized_dimension=3))
    db = Tensor.constant("dw/b", np.zeros(4, np.int32),
                         quantization=Quantization([0.001] * 4, [0] * 4))
    d = Tensor("dw/out", (1, 5, 4, 4), "int8", quantization=Quantization(0.05, -128))
    g.add_operator(BuiltinOperator.DEPTHWISE_CONV_2D, [c, dw, db], [d], DepthwiseConv2DOptions(
        padding=Padding.SAME, stride_w=1, stride_h=1, depth_multiplier=1,
        fused_activation_function=ActivationFunctionType.RELU6))
    p = Tensor("pool/out", (1, 1, 1, 4), "int8", quantization=Quantization(0.05, -128))
    g.add_operator(BuiltinOperator.AVERAGE_POOL_2D, [d], [p], Pool2DOptions(
        padding=Padding.VALID, stride_w=4, stride_h=5, filter_width=4, filter_height=5))
    shape = Tensor.constant("shape", np.array([1, 4], np.int32))
    r = Tensor("flat", (1, 4), "int8", quantization=Quantization(0.05, -128))
    g.add_operator(BuiltinOperator.RESHAPE, [p, shape], [r], ReshapeOptions(new_shape=[1, 4]))
    fw = Tensor.constant("fc/w", rng.integers(-127, 128, (3, 4), dtype=np.int8),
                         quantization=Quantization(0.02, 0))
    fb = Tensor.constant("fc/b", np.array([1, -1, 2], np.int32),
                         quantization=Quantization(0.001, 0))
    f = Tensor("logits", (1, 3), "int8", quantization=Quantization(0.1, 10))
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, [r, fw, fb], [f], FullyConnectedOptions())
    y = g.add_output(Tensor("probs", (1, 3), "int8", quantization=Quantization(1 / 256, -128)))
    g.add_operator(BuiltinOperator.SOFTMAX, [f], [y], SoftmaxOptions(beta=1.0))
    m.signature_defs.append(SignatureDef("serving_default", g, {"input": x}, {"probs": y}))
    m.add_metadata("min_runtime_version", b"1.5.0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    return m


def build_while_model() -> Model:
    """A float model with a WHILE loop over two more subgraphs, shape signatures and metadata."""
    m = Model("while-loop")
    main, cond, body = m.add_subgraph("main"), m.add_subgraph("cond"), m.add_subgraph("body")
    i0 = main.add_input(Tensor("i", (), "int32"))
    x0 = main.add_input(Tensor("x", (1, 4), "float32", shape_signature=(-1, 4)))
    i1, x1 = Tensor("i_out", (), "int32"), Tensor("x_out", (1, 4), "float32")
    main.add_operator(BuiltinOperator.WHILE, [i0, x0], [i1, x1],
                      WhileOptions(cond_subgraph_index=1, body_subgraph_index=2))
    main.add_output(x1)
    ci = cond.add_input(Tensor("i", (), "int32"))
    cond.add_input(Tensor("x", (1, 4)))
    limit = Tensor.constant("limit", np.array(5, np.int32))
    keep = cond.add_output(Tensor("keep", (), "bool"))
    cond.add_operator(BuiltinOperator.LESS, [ci, limit], [keep])
    bi, bx = body.add_input(Tensor("i", (), "int32")), body.add_input(Tensor("x", (1, 4)))
    one = Tensor.constant("one", np.array(1, np.int32))
    w = Tensor.constant("w", np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4))
    bo_i, bo_x = Tensor("i_next", (), "int32"), Tensor("x_next", (1, 4))
    body.add_operator(BuiltinOperator.ADD, [bi, one], [bo_i])
    body.add_operator(BuiltinOperator.FULLY_CONNECTED, [bx, w, None], [bo_x],
                      FullyConnectedOptions(fused_activation_function=ActivationFunctionType.TANH))
    body.add_output(bo_i)
    body.add_output(bo_x)
    m.add_metadata("notes", b"fuzz seed")
    return m


# ------------------------------------------------------------------------------------------------
# Assertions
# ------------------------------------------------------------------------------------------------


def _unavailable(exc: RuntimeUnavailable) -> NoReturn:
    """Skip the running pytest test for a missing runtime; outside pytest, raise ``exc``."""
    if "pytest" in sys.modules and "PYTEST_CURRENT_TEST" in os.environ:
        import pytest

        pytest.skip(str(exc))
    raise exc


def require_runtime(runtime: Runtime) -> None:
    """Make sure ``runtime`` imports: raise :class:`~tflitekit.RuntimeUnavailable` (naming the
    pip package) when it does not, or skip the test when called inside a pytest test."""
    try:
        require(runtime)
    except RuntimeUnavailable as exc:
        _unavailable(exc)


def _as_model(model: Model | bytes) -> Model:
    return model if isinstance(model, Model) else load(bytes(model))


def assert_models_equal(a: Model | bytes, b: Model | bytes, *, limit: int = 20) -> None:
    """Assert that two models are equal field by field (:func:`tflitekit.diff` finds nothing);
    the message lists the first ``limit`` differences."""
    differences = diff(_as_model(a), _as_model(b))
    if differences:
        shown = "\n  ".join(differences[:limit])
        more = f"\n  ... and {len(differences) - limit} more" if len(differences) > limit else ""
        raise AssertionError(f"models differ in {len(differences)} places:\n  {shown}{more}")


def _mismatch(want: Array, got: Array) -> str | None:
    """Why ``got`` is not bit-identical to ``want``, or None when it is."""
    if want.dtype != got.dtype or want.shape != got.shape:
        return f"{got.dtype}{list(got.shape)} instead of {want.dtype}{list(want.shape)}"
    if want.tobytes() == got.tobytes():
        return None
    w, g = (np.ascontiguousarray(x).reshape(-1) for x in (want, got))
    differ = np.flatnonzero((w.view(np.uint8).reshape(w.size, -1)
                             != g.view(np.uint8).reshape(g.size, -1)).any(axis=1))
    at = int(differ[0])
    return (f"{differ.size} of {w.size} values differ, the first at flat index {at}: "
            f"{g[at].item()!r} instead of {w[at].item()!r}")


def assert_same_outputs(a: Model | bytes, b: Model | bytes, *, runtime: Runtime = "tflm",
                        inputs: Sequence[Array] | None = None,
                        seeds: Iterable[int] = (0,)) -> None:
    """Assert that ``a`` and ``b`` compute bit-identical outputs (dtype, shape and bytes).

    Both models run on ``runtime`` (TFLite Micro, or LiteRT with its reference kernels) on
    ``inputs``, or else on :func:`tflitekit.runtimes.random_inputs` of ``a`` for each of
    ``seeds`` (at least one; an unknown ``runtime`` or no seed raises
    :class:`~tflitekit.UsageError`). A missing runtime raises
    :class:`~tflitekit.RuntimeUnavailable` naming the pip package, or skips the test when called
    inside a pytest test.
    """
    if runtime not in ("tflm", "litert"):
        raise UsageError(f"runtime must be 'tflm' or 'litert', got {runtime!r}")
    run: Callable[[bytes, Sequence[Array]], list[Array]] = (
        run_tflm if runtime == "tflm" else run_litert)
    seeds = list(seeds) if inputs is None else []
    if inputs is None and not seeds:
        raise UsageError("seeds is empty: nothing would be compared (give a seed or inputs)")
    data_a = to_bytes(a) if isinstance(a, Model) else bytes(a)
    data_b = to_bytes(b) if isinstance(b, Model) else bytes(b)
    cases = ([("the given inputs", list(inputs))] if inputs is not None
             else [(f"random inputs of seed {s}", random_inputs(data_a, s)) for s in seeds])
    for label, arrays in cases:
        try:
            want, got = run(data_a, arrays), run(data_b, arrays)
        except RuntimeUnavailable as exc:
            _unavailable(exc)
        if len(want) != len(got):
            raise AssertionError(f"{runtime}, {label}: {len(got)} outputs instead of {len(want)}")
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            reason = _mismatch(w, g)
            if reason is not None:
                raise AssertionError(f"{runtime}, {label}: output {i}: {reason}")

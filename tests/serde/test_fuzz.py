"""Malformed input: the loader either succeeds or raises FormatError — never anything else, never
hangs, never allocates much more than the input. validate() never raises at all."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import flatbuffers
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tflitekit
from tflitekit import Model, Quantization, SignatureDef, Tensor
from tflitekit._generated.schema import UNIONS
from tflitekit.options import (
    ActivationFunctionType,
    BuiltinOperator,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Padding,
    Pool2DOptions,
    ReshapeOptions,
    SoftmaxOptions,
    WhileOptions,
)
from tflitekit.serde import write as serde_write

MAX_SECONDS = 2.0


def memory_limit(size: int) -> int:
    return 50 * size + (1 << 20)


# ------------------------------------------------------------------------------------------------
# seed models
# ------------------------------------------------------------------------------------------------


def build_kws_model() -> Model:
    """A keyword-spotting-like int8 DS-CNN: CONV, DEPTHWISE_CONV, AVERAGE_POOL, FC, SOFTMAX."""
    rng = np.random.default_rng(7)
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
    ci, cx = cond.add_input(Tensor("i", (), "int32")), cond.add_input(Tensor("x", (1, 4)))
    limit = Tensor.constant("limit", np.array(5, np.int32))
    keep = cond.add_output(Tensor("keep", (), "bool"))
    cond.add_operator(BuiltinOperator.LESS, [ci, limit], [keep])
    assert cx.graph is cond
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


@pytest.fixture(scope="module")
def seeds(tiny_bytes: bytes, runnable_bytes: bytes) -> dict[str, bytes]:
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(serde_write, "INLINE_LIMIT", 0)
        external = build_while_model().to_bytes()
    finally:
        mp.undo()
    return {
        "tiny": tiny_bytes,
        "runnable-digest": serde_write.to_bytes(tflitekit.load(runnable_bytes), digest=True),
        "kws": build_kws_model().to_bytes(),
        "while-external": external,
    }


def test_seeds_are_valid(seeds: dict[str, bytes]) -> None:
    for name, data in seeds.items():
        m = tflitekit.load(data)
        assert m.check() == [], name
        assert tflitekit.validate(data) == [], name


# ------------------------------------------------------------------------------------------------
# the contract, checked on one input
# ------------------------------------------------------------------------------------------------


def attempt(data: bytes, *, measure_memory: bool = False) -> tflitekit.Model | None:
    """Load ``data`` under the loader's contract; the model, or None after a FormatError."""
    model = None
    if measure_memory:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        model = tflitekit.load(data)
    except tflitekit.FormatError:
        pass
    finally:
        elapsed = time.perf_counter() - start
        if measure_memory:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    assert elapsed < MAX_SECONDS, f"load took {elapsed:.2f} s on {len(data)} bytes"
    if measure_memory:
        assert peak < memory_limit(len(data)), \
            f"load of {len(data)} bytes allocated {peak} bytes at peak"
    problems = tflitekit.validate(data)
    assert isinstance(problems, list)
    assert all(isinstance(p, tflitekit.Problem) for p in problems)
    if model is not None:
        model.check()
    return model


def _flip(data: bytes, pos: int, bit: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 1 << bit
    return bytes(out)


# ------------------------------------------------------------------------------------------------
# exhaustive, deterministic mutations
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["tiny", "runnable-digest", "kws", "while-external"])
def test_every_truncation(seeds: dict[str, bytes], seed: str) -> None:
    data = seeds[seed]
    for n in range(len(data)):
        try:
            attempt(data[:n])
        except AssertionError:
            raise
        except Exception as exc:  # pragma: no cover - reported with the input
            pytest.fail(f"{type(exc).__name__} on {seed}[:{n}]: {exc}")


@pytest.mark.parametrize("seed", ["tiny", "runnable-digest", "kws", "while-external"])
def test_every_byte_flipped(seeds: dict[str, bytes], seed: str) -> None:
    data = seeds[seed]
    for pos in range(len(data)):
        for bit in {pos % 8, 7} if pos % 4 == 3 else {pos % 8}:  # high bits of lengths/offsets
            bad = _flip(data, pos, bit)
            try:
                attempt(bad)
            except AssertionError:
                raise
            except Exception as exc:  # pragma: no cover - reported with the input
                pytest.fail(f"{type(exc).__name__} with bit {bit} of byte {pos} of {seed} "
                            f"flipped: {exc}")


def test_digest_turns_flips_into_format_errors(seeds: dict[str, bytes]) -> None:
    data = seeds["runnable-digest"]
    loaded = sum(attempt(_flip(data, pos, pos % 8)) is not None for pos in range(len(data)))
    # only a flip inside the digest entry's own bookkeeping can get through (see test_serde)
    assert loaded <= 32


# ------------------------------------------------------------------------------------------------
# random mutations (hypothesis)
# ------------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=250, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x10000, 0x3FFFFFFF]


@st.composite
def mutated(draw: st.DrawFn, seeds: dict[str, bytes]) -> bytes:
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "overwrite", "int32", "truncate", "insert",
                                     "delete", "splice"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[pos:pos + len(chunk)] = chunk
        elif kind == "int32":
            pos -= pos % 4
            value = draw(st.sampled_from(INTERESTING))
            data[pos:pos + 4] = value.to_bytes(4, "little")
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            other = seeds[draw(st.sampled_from(sorted(seeds)))]
            cut = draw(st.integers(0, len(other)))
            data[pos:] = other[cut:]
    return bytes(data)


def _fuzz(data: bytes) -> None:
    try:
        attempt(data, measure_memory=True)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} ({exc}) on input {data!r}") from exc


def test_random_mutations(seeds: dict[str, bytes]) -> None:
    @settings(FUZZ, max_examples=600)
    @given(mutated(seeds))
    def run(data: bytes) -> None:
        _fuzz(data)

    run()


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    _fuzz(data)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_with_a_plausible_header(data: bytes) -> None:
    # a root offset that lands inside the input, and the TFL3 identifier
    header = (8 + (len(data) // 2 & ~3)).to_bytes(4, "little") + b"TFL3"
    _fuzz(header + data)


# ------------------------------------------------------------------------------------------------
# crafted inputs found to break the contract
# ------------------------------------------------------------------------------------------------


def craft_shared_tables(kind: str, copies: int, length: int) -> bytes:
    """A valid flatbuffer whose vector of tables points ``copies`` times at one table: either a
    Tensor with a ``length``-element shape, or an Operator whose StableHLO options hold a
    ``length``-element int64 vector. Written with the reference flatbuffers Builder."""
    b = flatbuffers.Builder(0)

    def vector(values: list[int], prepend: Callable[[int], None], size: int) -> int:
        b.StartVector(size, len(values), size)
        for v in reversed(values):
            prepend(v)
        return int(b.EndVector())

    def table(fields: list[tuple[str, int, int]]) -> int:
        b.StartObject(max(slot for _, slot, _ in fields) + 1)
        for kind_, slot, value in fields:
            if kind_ == "ref":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind_ == "u8":
                b.PrependUint8Slot(slot, value, 0)
            elif kind_ == "i8":
                b.PrependInt8Slot(slot, value, 0)
            elif kind_ == "i32":
                b.PrependInt32Slot(slot, value, 0)
            else:
                b.PrependUint32Slot(slot, value, 0)
        return int(b.EndObject())

    def refs(target: int, n: int) -> int:
        b.StartVector(4, n, 4)
        for _ in range(n):
            b.PrependUOffsetTRelative(target)
        return int(b.EndVector())

    model: list[tuple[str, int, int]] = [("u32", 0, 3)]
    if kind == "tensors":
        shape = vector(list(range(1000, 1000 + length)), b.PrependInt32, 4)
        tensor = table([("ref", 0, shape)])
        subgraph = table([("ref", 0, refs(tensor, copies))])
    else:
        vec = vector([10**6 + i for i in range(length)], b.PrependInt64, 8)
        options = table([("ref", 0, vec)])
        member = next(k for k, v in UNIONS["BuiltinOptions2"].items()
                      if v == "StablehloBroadcastInDimOptions")
        op = table([("u8", 11, member), ("ref", 12, options)])
        subgraph = table([("ref", 3, refs(op, copies))])
        code = table([("i8", 0, 127),
                      ("i32", 3, int(BuiltinOperator.STABLEHLO_BROADCAST_IN_DIM))])
        model.append(("ref", 1, refs(code, 1)))
    model.append(("ref", 2, refs(subgraph, 1)))
    b.Finish(table(model), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize(("kind", "copies", "length"), [
    ("tensors", 20000, 0),
    ("operators", 32, 20000),
])
def test_shared_tables_do_not_amplify_memory(kind: str, copies: int, length: int) -> None:
    """Tables referenced over and over would decode into 100-160x the input: refused instead."""
    data = craft_shared_tables(kind, copies, length)
    assert len(data) < 200_000
    assert attempt(data, measure_memory=True) is None
    with pytest.raises(tflitekit.FormatError, match="referenced over and over"):
        tflitekit.load(data)


def test_shared_tables_load_and_validate() -> None:
    """Light sharing (legal in FlatBuffers) still loads: each reference becomes its own object."""
    for kind, copies, length in [("tensors", 2, 1), ("operators", 2, 100)]:
        data = craft_shared_tables(kind, copies, length)
        m = attempt(data)
        assert m is not None
        if kind == "tensors":
            assert len(m.main.tensors) == copies
            assert m.main.tensors[0] is not m.main.tensors[1]
        else:
            assert len(m.main.operators) == copies


def test_huge_vector_lengths_fail_fast() -> None:
    """A vector claiming 2**32-1 elements is rejected before anything is allocated."""
    data = craft_shared_tables("tensors", 1, 4)
    marker = (1000).to_bytes(4, "little")
    pos = data.find(marker) - 4  # the shape vector's length prefix
    assert int.from_bytes(data[pos:pos + 4], "little") == 4
    bad = bytearray(data)
    bad[pos:pos + 4] = (0xFFFFFFFF).to_bytes(4, "little")
    with pytest.raises(tflitekit.FormatError, match="shape"):
        tflitekit.load(bytes(bad))
    attempt(bytes(bad), measure_memory=True)


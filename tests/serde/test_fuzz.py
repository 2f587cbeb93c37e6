"""Malformed input: the loader either succeeds or raises FormatError — never anything else, never
hangs, never allocates much more than the input. validate() never raises at all.

The default tier flips a deterministic sample of the bytes and runs fewer random mutations; the
``slow`` tier flips every byte of every seed and runs the full mutation budget."""

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
from tflitekit._generated.schema import UNIONS
from tflitekit.options import BuiltinOperator
from tflitekit.serde import write as serde_write
from tflitekit.testing import build_kws_model, build_while_model

MAX_SECONDS = 2.0


def memory_limit(size: int) -> int:
    return 50 * size + (1 << 20)


# ------------------------------------------------------------------------------------------------
# seed models
# ------------------------------------------------------------------------------------------------


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
    cond = build_while_model().subgraphs[1]
    assert cond.inputs[1].graph is cond


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


SAMPLED_BYTES = 400  # per seed in the default tier; the slow tier flips every byte


def flipped_positions(data: bytes, exhaustive: bool) -> list[int]:
    """Every position, or the header plus a reproducible random sample of the rest."""
    if exhaustive or len(data) <= SAMPLED_BYTES:
        return list(range(len(data)))
    rng = np.random.default_rng(len(data))
    head = list(range(64))  # root offset, identifier, the root table and its vtable
    return head + sorted(rng.choice(np.arange(64, len(data)), SAMPLED_BYTES - 64,
                                    replace=False).tolist())


EXHAUSTIVE = [pytest.param(False, id="sampled"),
              pytest.param(True, id="every-byte", marks=pytest.mark.slow)]


@pytest.mark.parametrize("exhaustive", EXHAUSTIVE)
@pytest.mark.parametrize("seed", ["tiny", "runnable-digest", "kws", "while-external"])
def test_byte_flips(seeds: dict[str, bytes], seed: str, exhaustive: bool) -> None:
    data = seeds[seed]
    for pos in flipped_positions(data, exhaustive):
        for bit in {pos % 8, 7} if pos % 4 == 3 else {pos % 8}:  # high bits of lengths/offsets
            bad = _flip(data, pos, bit)
            try:
                attempt(bad)
            except AssertionError:
                raise
            except Exception as exc:  # pragma: no cover - reported with the input
                pytest.fail(f"{type(exc).__name__} with bit {bit} of byte {pos} of {seed} "
                            f"flipped: {exc}")


@pytest.mark.parametrize("exhaustive", EXHAUSTIVE)
def test_digest_turns_flips_into_format_errors(seeds: dict[str, bytes],
                                               exhaustive: bool) -> None:
    data = seeds["runnable-digest"]
    positions = flipped_positions(data, exhaustive)
    loaded = sum(attempt(_flip(data, pos, pos % 8)) is not None for pos in positions)
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


@pytest.mark.parametrize("examples", [
    pytest.param(150, id="sampled"), pytest.param(600, id="full", marks=pytest.mark.slow)])
def test_random_mutations(seeds: dict[str, bytes], examples: int) -> None:
    @settings(FUZZ, max_examples=examples)
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


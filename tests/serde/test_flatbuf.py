"""The bounds-checked reader's plan caches."""

from __future__ import annotations

from tflitekit.serde.flatbuf import Reader, TableSpec, Writer


def _buffer() -> bytes:
    """A flatbuffer whose root table holds int32 7 in slot 0 and 9 in slot 1."""
    w = Writer()
    w.finish(w.table([(0, "i", 7), (1, "i", 9)]), b"TEST")
    return b"".join(bytes(p) for p in w.parts())  # type: ignore[arg-type]  # no Chunk here


def test_plans_follow_the_spec_not_its_id() -> None:
    """Specs made and dropped on the fly reuse each other's ids; each must get its own plan."""
    buf = _buffer()
    shared = Reader(buf)
    for i in range(200):
        slot = i % 2
        spec = TableSpec([("x", slot, "i", 0)])
        fresh = Reader(buf)
        assert fresh.read(fresh.root(), spec, "T") == [7 + 2 * slot]
        assert shared.read(shared.root(), spec, "T") == [7 + 2 * slot]
        del spec


def test_a_spec_keeps_the_plans_compiled_for_it() -> None:
    buf = _buffer()
    spec = TableSpec([("a", 0, "i", 0), ("b", 1, "i", 0)])
    reader = Reader(buf)
    assert reader.read(reader.root(), spec, "T") == [7, 9]
    assert len(spec.plans) == 1
    assert TableSpec([("a", 0, "i", 0)]).plans == {}

"""Model.copy() as a structural clone, restore constructors leave no slot unset, Model.close()."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tflitekit
import tflitekit.ir
from tflitekit import Model, Quantization, Tensor, TFLiteKitError
from tflitekit.options import AddOptions, BuiltinOperator

IR_CLASSES = tuple(cls for cls in vars(tflitekit.ir).values()
                   if isinstance(cls, type) and cls.__module__ == "tflitekit"
                   and "__slots__" in vars(cls))


def ir_objects(root: Any) -> Iterator[Any]:
    """Every IR object reachable from ``root`` (through slots, lists, tuples and dicts)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, np.ndarray)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend(obj.values())
            continue
        if isinstance(obj, (list, tuple)) or type(obj).__name__ == "_OwnedList":
            stack.extend(obj)
            continue
        if isinstance(obj, IR_CLASSES):
            yield obj
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    stack.append(getattr(obj, slot, None))


def all_slots(obj: Any) -> list[str]:
    return [s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ())
            if s != "__weakref__"]


def test_every_slot_of_every_ir_object_is_set_after_load(
        tiny_model: Callable[[], Model], runnable_model: Callable[[], Model]) -> None:
    for build in (tiny_model, runnable_model):
        for model in (tflitekit.load(build().to_bytes()), build().copy()):
            kinds = set()
            for obj in ir_objects(model):
                kinds.add(type(obj).__name__)
                missing = [s for s in all_slots(obj) if not hasattr(obj, s)]
                assert not missing, f"{type(obj).__name__}: {missing}"
            assert {"Model", "Subgraph", "Operator", "OperatorCode", "Tensor", "Buffer",
                    "Quantization"} <= kinds


# ------------------------------------------------------------------------------------------------
# copy
# ------------------------------------------------------------------------------------------------


def test_copy_saves_the_same_bytes(tiny_model: Callable[[], Model],
                                   runnable_model: Callable[[], Model]) -> None:
    for model in (tiny_model(), runnable_model(), tflitekit.load(tiny_model().to_bytes())):
        assert model.copy().to_bytes() == model.to_bytes()


def test_copy_deep_copies_options_and_quantization(tiny_model: Callable[[], Model]) -> None:
    m = tiny_model()
    c = m.copy()
    for a, b in zip(m.operators(), c.operators(), strict=True):
        assert a.opcode is not b.opcode and a.opcode == b.opcode
        if a.options is not None:
            assert a.options is not b.options and a.options == b.options
    for a, b in zip(m.tensors(), c.tensors(), strict=True):
        if a.quantization is not None:
            assert a.quantization is not b.quantization and a.quantization == b.quantization
            assert a.quantization.scale is None or a.quantization.scale is not b.quantization.scale
    assert [s.subgraph for s in c.signature_defs] == [c.subgraphs[0]] * len(c.signature_defs)
    ga, gb = m.main, c.main
    for a, b in zip(ga.tensors, gb.tensors, strict=True):  # links follow to the copies
        assert [(ga.operators.index(u.operator), u.index) for u in a.uses] == [
            (gb.operators.index(u.operator), u.index) for u in b.uses]
        assert (a.producer is None and b.producer is None) or (
            ga.operators.index(a.producer) == gb.operators.index(b.producer))


def test_copy_of_a_model_check_rejects(runnable_model: Callable[[], Model]) -> None:
    m = runnable_model()
    g = m.main
    stray = Tensor("stray", (4,), "float32")  # an input of an operator, in no subgraph
    add = next(op for op in g.operators if op.type == BuiltinOperator.ADD)
    add.set_input(1, stray)
    g.tensors.remove(stray)
    g.operators[0].outputs[0].quantization = Quantization(-1.0, 0)  # a bad scale
    assert m.check()
    c = m.copy()
    assert [p.message for p in c.check()] == [p.message for p in m.check()]
    copied = c.main.operators[g.operators.index(add)].inputs[1]
    assert copied is not stray and copied is not None and copied.graph is None
    assert copied.uses[0].operator is c.main.operators[g.operators.index(add)]
    assert c.to_bytes() == m.to_bytes()


def test_copy_shares_loaded_data_copy_on_write(tmp_path: Path,
                                              runnable_model: Callable[[], Model]) -> None:
    path = tmp_path / "m.tflite"
    runnable_model().save(path)
    m = tflitekit.load(path)
    c = m.copy()
    w, cw = m.main.tensor("fc/w"), c.main.tensor("fc/w")
    assert w.buffer is not cw.buffer and np.shares_memory(w.data, cw.data)
    assert cw.buffer is not None and w.buffer is not None
    assert cw.buffer.source is w.buffer.source and c.source is m.source
    cw.data = np.ones_like(cw.data)
    assert w.data.tobytes() != cw.data.tobytes() and w.buffer.source is not None
    out = tmp_path / "copy.tflite"
    c.save(out)
    assert tflitekit.load(out).main.tensor("fc/w").data.tolist() == cw.data.tolist()
    with pytest.raises(TFLiteKitError, match="refusing to overwrite"):
        c.save(path)  # a copy still knows the file it came from


def test_copy_is_independent_both_ways(runnable_model: Callable[[], Model]) -> None:
    m = runnable_model()
    c = m.copy()
    before = m.to_bytes()
    c.main.add_operator(BuiltinOperator.ADD, [c.main.inputs[0], c.main.inputs[0]],
                        [Tensor("extra", (1, 4), "float32")], AddOptions())
    c.main.inputs.append(Tensor("new_input", (1,), "float32"))
    c.main.tensors[0].name = "renamed"
    assert m.to_bytes() == before
    m.main.operators[0].options = None
    assert c.main.operators[0].options is not None


@pytest.mark.corpus
def test_copy_of_every_corpus_model_saves_the_same_bytes(corpus_model: Path) -> None:
    m = tflitekit.load(corpus_model)
    c = m.copy()
    assert c.to_bytes() == m.to_bytes()
    assert tflitekit.diff(m, c) == []


# ------------------------------------------------------------------------------------------------
# close
# ------------------------------------------------------------------------------------------------


def open_fds() -> int:
    """Open descriptors, after collecting garbage other tests left (a model dropped earlier
    but not yet collected would close its file in the middle of a measurement)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_with_load_releases_the_file(tmp_path: Path, tiny_model: Callable[[], Model]) -> None:
    path = tmp_path / "m.tflite"
    tiny_model().save(path)
    before = open_fds()
    with tflitekit.load(path) as m:
        assert open_fds() > before
        assert m.main.tensor("fc/w").data is not None
    assert open_fds() == before
    with pytest.raises(TFLiteKitError, match="closed"):
        _ = m.main.tensor("fc/w").data
    assert m.main.tensor("fc/w").name == "fc/w"  # the rest of the model stays usable
    m.close()  # idempotent


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_views_and_copies_outlive_close(tmp_path: Path, tiny_model: Callable[[], Model]) -> None:
    path = tmp_path / "m.tflite"
    tiny_model().save(path)
    before = open_fds()
    m = tflitekit.load(path)
    kept = m.main.tensor("fc/w").data
    copy = m.copy()
    expected = kept.tolist()
    m.close()
    assert kept.tolist() == expected  # still mapped: never a dangling view
    assert copy.main.tensor("fc/w").data.tolist() == expected
    assert copy.to_bytes() == path.read_bytes()
    del kept
    copy.close()
    assert open_fds() == before


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_validate_releases_the_file(tmp_path: Path, tiny_model: Callable[[], Model]) -> None:
    """validate() closes the model it loads: with the collector off, nothing stays open."""
    path = tmp_path / "m.tflite"
    tiny_model().save(path)
    before = open_fds()
    gc.disable()
    try:
        report = tflitekit.validate_report(path)
        after = len(os.listdir("/proc/self/fd"))
    finally:
        gc.enable()
    assert report.ok and after == before

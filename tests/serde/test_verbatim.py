"""A plain load and save writes the file's own bytes back; any change is encoded anew."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit import Model
from tflitekit.serde.verbatim import verbatim_source


@pytest.fixture
def foreign(tmp_path: Path, runnable_model: Callable[[], Model]) -> Path:
    """A model file whose layout tflitekit's encoder would not reproduce: its data is aligned
    to 64 bytes, where a re-encoding aligns to 16."""
    model = runnable_model()
    model.data_alignment = 64
    path = tmp_path / "foreign.tflite"
    model.save(path)
    assert tflitekit.load(path).to_bytes(reencode=True) != path.read_bytes()
    return path


def test_plain_round_trip_reproduces_flatc_output(tmp_path: Path,
                                                  runnable_model: Callable[[], Model],
                                                  repack: Callable[..., bytes]) -> None:
    data = repack(runnable_model().to_bytes())  # laid out by flatc's object API
    assert tflitekit.load(data).to_bytes(reencode=True) != data
    assert tflitekit.load(data).to_bytes() == data


def test_plain_round_trip_reproduces_the_file(foreign: Path, tmp_path: Path) -> None:
    model = tflitekit.load(foreign)
    assert model.to_bytes() == foreign.read_bytes()
    model.save(tmp_path / "out.tflite")
    assert (tmp_path / "out.tflite").read_bytes() == foreign.read_bytes()
    with tflitekit.load(foreign.read_bytes()) as from_bytes:  # loaded from memory too
        assert from_bytes.to_bytes() == foreign.read_bytes()


@pytest.mark.parametrize("edit", ["rename", "weights", "alignment", "remove", "metadata"])
def test_any_change_is_encoded_anew(foreign: Path, edit: str) -> None:
    model = tflitekit.load(foreign)
    graph = model.main
    if edit == "rename":
        graph.tensors[0].name = "renamed"
    elif edit == "weights":
        w = next(t for t in graph.tensors if t.is_constant and t.dtype.name == "INT8")
        w.data = np.zeros_like(w.data)
    elif edit == "alignment":
        model.data_alignment = 4
    elif edit == "remove":
        graph.remove_output(graph.outputs[0])
    else:
        model.add_metadata("note", b"hello")
    assert verbatim_source(model) is None
    data = model.to_bytes()
    assert data != foreign.read_bytes()
    assert tflitekit.diff(tflitekit.load(data), model) == []


def test_an_undone_edit_is_no_change(foreign: Path) -> None:
    model = tflitekit.load(foreign)
    name = model.main.tensors[0].name
    model.main.tensors[0].name = "other"
    model.main.tensors[0].name = name
    assert model.to_bytes() == foreign.read_bytes()


def test_digests_and_damaged_files_are_encoded_anew(foreign: Path, tmp_path: Path) -> None:
    model = tflitekit.load(foreign)
    signed = tflitekit.to_bytes(model, digest=True)  # a digest is asked for: encoded with one
    assert signed != foreign.read_bytes() and tflitekit.load(signed) is not None
    # loading drops the digest, and a plain save writes none: the signed file is not copied
    assert tflitekit.load(signed).to_bytes() == tflitekit.load(signed).to_bytes(reencode=True)
    assert tflitekit.load(signed).to_bytes() != signed


def test_lenient_loads_with_problems_are_encoded_anew(runnable_model: Callable[[], Model],
                                                     repack: Callable[..., bytes]) -> None:
    def bad_operator_code(m: object) -> None:
        m.subgraphs[0].operators[0].opcodeIndex = 99  # type: ignore[attr-defined]

    broken = repack(runnable_model().to_bytes(), bad_operator_code)
    problems: list[str] = []
    model = tflitekit.load(broken, strict=False, problems=problems)
    assert problems and verbatim_source(model) is None
    assert model.to_bytes() != broken


def test_a_closed_model_has_no_source_to_copy(foreign: Path) -> None:
    model = tflitekit.load(foreign)
    model.close()
    assert verbatim_source(model) is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_checking_does_not_keep_the_file_open(foreign: Path) -> None:
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    with tflitekit.load(foreign) as model:
        assert model.to_bytes() == foreign.read_bytes()
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before

"""Real third-party files from a second writer: corpus models converted by xmos' xcore-opt.

The ``xcore`` tier (also marked ``corpus``: it converts corpus models) runs with
``pytest -m xcore`` and skips, naming ``xmos-ai-tools``, when the converter is not installed.
The conversion is scripts/convert_xcore.py, run once per session into a temporary directory
(the ``xcore_models`` fixture of conftest.py).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from conftest import convert_xcore

import tflitekit


def test_a_missing_converter_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(convert_xcore.ConvertError, match="xmos-ai-tools is not installed"):
        convert_xcore.find_converter()
    assert convert_xcore.main(["--out", "/nonexistent"]) == 1


@pytest.mark.xcore
@pytest.mark.corpus
def test_xcore_models_round_trip(xcore_models: dict[str, Path], tmp_path: Path) -> None:
    for path in xcore_models.values():
        original = tflitekit.load(path)
        assert any(c.custom_code and c.custom_code.startswith("XC_")
                   for c in original.operator_codes), f"{path.name}: not converted"
        saved = tmp_path / path.name
        original.save(saved, reencode=True)
        again = tflitekit.load(saved)
        assert tflitekit.diff(original, again) == [] and tflitekit.diff(again, original) == []
        for a, b in zip(original.buffers, again.buffers, strict=True):
            assert np.array_equal(a.data, b.data)
        # our own layout is a fixed point
        assert again.to_bytes(reencode=True) == saved.read_bytes()


@pytest.mark.xcore
@pytest.mark.corpus
def test_xcore_models_round_trip_byte_exactly(xcore_models: dict[str, Path],
                                              tmp_path: Path) -> None:
    """A plain load and save reproduces xcore-opt's file (its own layout: depth-first objects,
    shared Buffer tables, fields packed as the C++ builder packs them) byte for byte."""
    for path in xcore_models.values():
        assert tflitekit.load(path).to_bytes() == path.read_bytes(), path.name
        tflitekit.load(path).save(tmp_path / path.name)
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name

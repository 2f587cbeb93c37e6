"""Real third-party files from a second writer: corpus models converted by xmos' xcore-opt.

The ``xcore`` tier (also marked ``corpus``: it converts corpus models) runs with
``pytest -m xcore`` and skips, naming ``xmos-ai-tools``, when the converter is not installed.
The conversion is scripts/convert_xcore.py, run into a temporary directory.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import REPO, corpus_dir

import tflitekit


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("convert_xcore",
                                                  REPO / "scripts" / "convert_xcore.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("convert_xcore", module)
    spec.loader.exec_module(module)
    return module


convert_xcore = _script()


@pytest.fixture(scope="session")
def xcore_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    try:
        convert_xcore.find_converter()
    except convert_xcore.ConvertError as exc:
        pytest.skip(f"the xcore tier needs xmos-ai-tools: {exc}")
    if not (corpus_dir() / "models").is_dir():
        pytest.fail(f"the xcore tier converts corpus models: no {corpus_dir() / 'models'} "
                    "(run scripts/fetch_corpus.py)", pytrace=False)
    out = tmp_path_factory.mktemp("xcore")
    manifest = convert_xcore.convert_all(corpus_dir(), out, convert_xcore.MODELS)
    models = manifest["models"]
    assert isinstance(models, list)
    return [out / str(m["file"]) for m in models]


def test_a_missing_converter_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(convert_xcore.ConvertError, match="xmos-ai-tools is not installed"):
        convert_xcore.find_converter()
    assert convert_xcore.main(["--out", "/nonexistent"]) == 1


@pytest.mark.xcore
@pytest.mark.corpus
def test_xcore_models_round_trip(xcore_models: list[Path], tmp_path: Path) -> None:
    for path in xcore_models:
        original = tflitekit.load(path)
        assert any(c.custom_code and c.custom_code.startswith("XC_")
                   for c in original.operator_codes), f"{path.name}: not converted"
        saved = tmp_path / path.name
        original.save(saved)
        again = tflitekit.load(saved)
        assert tflitekit.diff(original, again) == [] and tflitekit.diff(again, original) == []
        for a, b in zip(original.buffers, again.buffers, strict=True):
            assert np.array_equal(a.data, b.data)
        assert again.to_bytes() == saved.read_bytes()  # our own layout is a fixed point


@pytest.mark.xcore
@pytest.mark.corpus
@pytest.mark.xfail(strict=True, reason="the writer lays objects out in its own order; xcore-opt "
                   "writes depth-first, shares identical Buffer tables and packs fields as "
                   "the C++ builder does (see the serde report)")
def test_xcore_models_round_trip_byte_exactly(xcore_models: list[Path]) -> None:
    for path in xcore_models:
        assert tflitekit.load(path).to_bytes() == path.read_bytes(), path.name

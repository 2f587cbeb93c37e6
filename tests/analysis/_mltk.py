"""Silicon Labs MLTK's own per-layer MAC/OP counts and options text: the oracle of the costs and
layers corpus tiers.

MLTK (``silabs-mltk``) needs TensorFlow and a dozen packages to import as a whole; its ``.tflite``
reader and MAC/OP counting need none of them. :func:`load` reads those modules straight from the
wheel the corpus keeps (``wheels/silabs_mltk-*.whl``, through zipimport) or from an installed
``silabs-mltk``, without running ``mltk.core``'s package initialisation, with MLTK's own
TensorFlow placeholder (its ``MLTK_DISABLE_TF`` mode) and the schema module of TFLite Micro's or
LiteRT's package standing in for ``tflite-support``. Everything this puts in ``sys.modules``
besides MLTK's own modules is removed again, so later imports of TensorFlow see the real one.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_SCHEMAS = ("tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
            "ai_edge_litert.schema_py_generated")
#: Packages MLTK imports that this module stands in for while loading (then removes).
_STAND_INS = ("tensorflow", "matplotlib", "prettytable", "tflite_support")


@dataclass(frozen=True)
class MltkLayer:
    """One layer as MLTK's summary sees it."""

    opcode: str
    macs: int
    ops: int
    options: str


class Mltk:
    """MLTK's TfliteModel and metrics."""

    def __init__(self, tflite_model: Any, parse_layer: Any, calculate: Any) -> None:
        self._model = tflite_model
        self._parse_layer = parse_layer
        self._calculate = calculate

    def layers(self, path: Path) -> list[MltkLayer]:
        model = self._model.load_flatbuffer_file(os.fspath(path))
        rows = []
        for layer in model.layers:
            metrics = self._parse_layer(layer)
            macs, ops = (0, 0) if metrics is None else (metrics.macs, metrics.ops)
            rows.append(MltkLayer(layer.opcode_str, macs, ops, str(layer.options)))
        return rows

    def totals(self, path: Path) -> tuple[int, int]:
        result = self._calculate(self._model.load_flatbuffer_file(os.fspath(path)))
        return result["total_macs"], result["total_ops"]


def _root(corpus: Path) -> str:
    """The directory (or the directory inside the wheel) that holds the ``mltk`` package."""
    for wheel in sorted((corpus / "wheels").glob("silabs_mltk-*.whl")):
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.endswith("mltk/__init__.py") and name.count("/") <= 3:
                    return f"{wheel}/{name[:-len('/mltk/__init__.py')]}"
    spec = importlib.util.find_spec("mltk")
    if spec is not None and spec.submodule_search_locations:
        return str(Path(next(iter(spec.submodule_search_locations))).parent)
    pytest.skip(f"needs silabs-mltk: its wheel in {corpus / 'wheels'} or "
                "`pip install --no-deps silabs-mltk`")


def _schema() -> types.ModuleType:
    for name in _SCHEMAS:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip("silabs-mltk reads models through a TFLite schema module: needs tflite-micro or "
                "ai-edge-litert")


def _package(name: str, path: str) -> types.ModuleType:
    """A package whose submodules load from ``path`` without running its ``__init__``."""
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
    return module


@functools.cache
def load(corpus: Path) -> Mltk:
    """MLTK, loaded once per session (skips the test, naming silabs-mltk, without it)."""
    root = _root(corpus)
    schema = _schema()
    before = set(sys.modules)
    saved_env = os.environ.get("TF_USE_LEGACY_KERAS")
    placeholder = f"{root}/mltk/core/keras/tensorflow_placeholder"
    sys.path[:0] = [root, placeholder]
    try:
        support = types.ModuleType("tflite_support")
        sys.modules["tflite_support"] = support
        sys.modules["tflite_support.schema_py_generated"] = schema
        sys.modules["prettytable"] = types.ModuleType("prettytable")
        sys.modules["prettytable"].PrettyTable = object  # type: ignore[attr-defined]
        importlib.import_module("mltk")
        core = _package("mltk.core", f"{root}/mltk/core")
        tflite_model = importlib.import_module("mltk.core.tflite_model")
        for name in dir(tflite_model):  # what mltk.core re-exports and the metrics import
            if not name.startswith("_"):
                setattr(core, name, getattr(tflite_model, name))
        _package("mltk.core.model", f"{root}/mltk/core/model")
        metrics = importlib.import_module("mltk.core.model.metrics.calculate_metrics")
        layers = importlib.import_module("mltk.core.model.metrics.layers")
        layers.load_layers()
    finally:
        sys.path[:] = [p for p in sys.path if p not in (root, placeholder)]
        for name in set(sys.modules) - before:
            top = name.partition(".")[0]
            if top in _STAND_INS and top not in before:
                del sys.modules[name]
        if saved_env is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = saved_env
    return Mltk(tflite_model.TfliteModel, layers.parse_layer, metrics.calculate_model_metrics)

"""Conformance (corpus tier): every tensor of real models, tflitekit against TFLite Micro.

For each of the 22 corpus models and each Keras model of ``scripts/make_keras_models.py``,
:data:`SAMPLES` inputs (the full range of integer inputs, standard normal for float ones) run
once, batched, through ``tflitekit.Interpreter(model).run(inputs, keep=True)``; every tensor the
main subgraph computes is compared with TFLite Micro's (``kPreserveAllTensors``, one sample at a
time), or with LiteRT's reference kernels for models with hybrid (dynamic-range) operators,
which TFLite Micro cannot run. Integer tensors must be bit-identical; float tensors must agree
within :data:`RTOL` relative, with an absolute floor of ``RTOL`` times the tensor's largest
magnitude (see :func:`_float_mismatch`). Models with operators the interpreter does not support
fail (they are never skipped); a failure names the first diverging operator and tensor.

The Keras models are read from ``$TFLITEKIT_CORPUS/keras`` (CI makes them before this tier);
when they are missing and TensorFlow is installed, the session makes them there; without
TensorFlow their tests are skipped, naming the extra to install.

Run with ``pytest -m corpus tests/interpreter/test_corpus_conformance.py``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _scripts import load_script

import tflitekit
from tflitekit import Interpreter, Model, UnsupportedOperatorError, runtimes
from tflitekit.passes import fold_constants

pytestmark = pytest.mark.corpus

SAMPLES = 20
RTOL = 1e-5
REPO = Path(__file__).resolve().parents[2]


keras_script = load_script("make_keras_models")  # importing it does not import TensorFlow


# ------------------------------------------------------------------------------------------------
# Inputs and oracles
# ------------------------------------------------------------------------------------------------


def _inputs(model: Model, n: int, seed: int) -> list[np.ndarray]:
    """``n`` samples per input, ``(n, *shape[1:])`` where the model's batch is 1: integers over
    the dtype's full range, floats standard normal."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.main.inputs:
        shape = tuple(t.shape or ())
        assert shape and shape[0] == 1, f"input {t.name!r} has no batch of 1: {list(shape)}"
        full = (n, *shape[1:])
        dtype = t.numpy_dtype
        assert dtype is not None, t.name
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, info.max, full, dtype=dtype, endpoint=True))
        elif dtype.kind == "f":
            arrays.append(rng.standard_normal(full).astype(dtype))
        else:
            pytest.fail(f"no input generator for {t.name!r} of type {dtype}")
    return arrays


def _oracle(data: bytes, inputs: list[np.ndarray]) -> tuple[str, str, dict[int, np.ndarray]]:
    """The oracle's name, why it was chosen (empty for TFLite Micro) and every tensor it
    computes.

    TFLite Micro, else TFLite Micro on the model with its constant chains folded (the
    converter's SHAPE -> STRIDED_SLICE -> PACK -> FILL for a dynamic batch, whose computed FILL
    dims TFLite Micro refuses: folded, those tensors become constants and drop out of the
    comparison, and every other tensor is still TFLite Micro's), else LiteRT's reference
    kernels (hybrid operators, int16 operators TFLite Micro lacks)."""
    try:
        return "tflm", "", runtimes.tflm_tensors(data, inputs)
    except RuntimeError as exc:
        why = f"TFLite Micro cannot run the model: {exc}"
    folded = fold_constants(tflitekit.load(data)).to_bytes()
    try:
        return "tflm", f" (on the folded model: {why})", runtimes.tflm_tensors(folded, inputs)
    except RuntimeError:
        pass
    return "litert", f" ({why})", runtimes.litert_tensors(data, inputs)


# ------------------------------------------------------------------------------------------------
# Comparison
# ------------------------------------------------------------------------------------------------


def _float_mismatch(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Where two float tensors disagree: ``|a - b| > RTOL * |b| + RTOL * max|b|``.

    The absolute floor: float kernels sum products in a different order than TFLM's, so their
    rounding error is relative to the magnitude of the summed terms, not of the result; where
    terms cancel (values near zero, such as a conv output crossing zero) a pure relative test
    would flag harmless differences. The tensor's largest magnitude is the scale of its terms,
    so the floor is RTOL of that scale; it vanishes for an all-zero tensor."""
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    finite = np.isfinite(b)
    scale = float(np.abs(b[finite]).max()) if finite.any() else 0.0
    close = np.abs(a - b) <= RTOL * np.abs(b) + RTOL * scale
    same_special = ~finite & ((a == b) | (np.isnan(a) & np.isnan(b)))
    return ~(close | same_special)


def _mismatch(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    if theirs.dtype.kind == "f":
        return _float_mismatch(ours, theirs)
    return ours != theirs


def _describe(where: str, name: str, ours: np.ndarray, theirs: np.ndarray, oracle: str) -> str:
    """One tensor's divergence: where, how many elements, the largest difference, the first."""
    if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
        return (f"{where} tensor {name!r}: tflitekit gives {ours.dtype}{list(ours.shape)}, "
                f"{oracle} {theirs.dtype}{list(theirs.shape)}")
    bad = _mismatch(ours, theirs)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))[bad]
    return (f"{where} tensor {name!r}: {int(bad.sum())} of {bad.size} elements differ from "
            f"{oracle} (max |diff| {diff.max():.6g}); first at sample {first[0]}, index "
            f"{first[1:]}: ours {ours[first].item()!r} vs {oracle} {theirs[first].item()!r}")


def _diverging(interp: Interpreter, model: Model, theirs: dict[int, np.ndarray],
               oracle: str) -> list[str]:
    """Every diverging tensor, in execution order (graph inputs first)."""
    graph = model.main
    index = {id(t): i for i, t in enumerate(graph.tensors)}
    order = [("input", t) for t in graph.inputs]
    order += [(f"operator {k} ({op.opcode.name})", t)
              for k, op in enumerate(graph.operators) for t in op.outputs
              if t is not None and not t.is_constant]
    assert set(theirs) <= {index[id(t)] for _, t in order}, "the oracle computes other tensors"
    found = []
    for where, t in order:
        if index[id(t)] not in theirs:  # folded into a constant for the oracle (see _oracle)
            continue
        ours, want = interp.tensor(t), theirs[index[id(t)]]
        if (ours.shape != want.shape or ours.dtype != want.dtype
                or _mismatch(ours, want).any()):
            found.append(_describe(where, t.name, ours, want, oracle))
    return found


def assert_conforms(path: Path, seed: int) -> None:
    """Every tensor of ``path`` on :data:`SAMPLES` inputs equals the oracle's (see the module)."""
    missing = [name for name, ok in runtimes.available().items() if not ok]
    if missing:
        pytest.fail(f"conformance needs the reference runtimes; missing {missing} "
                    "(pip install ai-edge-litert tflite-micro)", pytrace=False)
    data = path.read_bytes()
    model = tflitekit.load(data)
    try:
        interp = Interpreter(model)
    except UnsupportedOperatorError as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:
        pytest.fail(f"{path.name}: {refused}", pytrace=False)
    inputs = _inputs(model, SAMPLES, seed)
    oracle, why, theirs = _oracle(data, inputs)
    outputs = interp.run(inputs, keep=True)
    found = _diverging(interp, model, theirs, oracle)
    if found:
        pytest.fail(f"{path.name}: {len(found)} tensor(s) diverge from {oracle}{why}; first: "
                    + "\n  then: ".join(found[:3]), pytrace=False)
    for t, out in zip(model.main.outputs, outputs, strict=True):  # run() returns the kept values
        assert np.array_equal(out, interp.tensor(t).reshape(out.shape), equal_nan=True), t.name


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


# ------------------------------------------------------------------------------------------------
# The corpus
# ------------------------------------------------------------------------------------------------


def test_corpus_model_conforms(corpus_model: Path) -> None:
    assert_conforms(corpus_model, _seed(corpus_model.name))


# ------------------------------------------------------------------------------------------------
# Keras models of our own
# ------------------------------------------------------------------------------------------------


def _manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of ``directory`` if it accounts for every model of the script."""
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    names = {m["name"] for m in manifest["models"]} | {m["name"] for m in manifest["skipped"]}
    return manifest if names >= set(keras_script.model_names()) else None


@pytest.fixture(scope="session")
def keras_models() -> dict[str, Path | str]:
    """Keras model name to its file, or to the converter's reason for refusing it. Made by
    the script (in a subprocess) when missing and TensorFlow is installed."""
    directory: Path = keras_script.default_dir()
    manifest = _manifest(directory)
    if manifest is None:
        if importlib.util.find_spec("tensorflow") is None:
            pytest.skip(f"no Keras models in {directory} and no TensorFlow to make them "
                        '(pip install "tflitekit[train]")')
        script = REPO / "scripts" / "make_keras_models.py"
        subprocess.run([sys.executable, str(script), "--out", str(directory)], check=True)
        manifest = _manifest(directory)
        assert manifest is not None, f"{script} wrote no complete manifest"
    found: dict[str, Path | str] = {m["name"]: directory / m["file"] for m in manifest["models"]}
    found.update({m["name"]: m["reason"] for m in manifest["skipped"]})
    return found


@pytest.mark.parametrize("name", keras_script.model_names())
def test_keras_model_conforms(name: str, keras_models: dict[str, Path | str]) -> None:
    found = keras_models[name]
    if isinstance(found, str):
        pytest.skip(f"the TFLite converter refused {name}: {found}")
    assert_conforms(found, _seed(name))

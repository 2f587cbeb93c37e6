"""The quantization error report on real float / quantized twins (corpus tier).

The twins: MLTK's ``X.float32.tflite`` / ``X.tflite`` pairs of the corpus, and the Keras models
of ``scripts/make_keras_models.py`` (``ARCH_float`` against ``ARCH_int8``, ``ARCH_16x8`` and
``ARCH_int8_float_io``; skipped, naming why, when they were not made). For every pair:

- every operator of both models is matched to a layer, or is a QUANTIZE / DEQUANTIZE the
  quantizer inserted: nothing is unmatched;
- every weight and bias element, recomputed here from the files, is within half a quantization
  step of its float value (plus the float32 precision of the quotient the converter rounds),
  or is clipped to the type's range; the report's counts and maxima agree;
- activation errors are sane: on standard normal inputs (the Keras models' calibration data)
  every activation is within 10 % and the output SQNR above 20 dB; on inputs uniform over the
  quantized input's range (what the report draws by default; MLTK's calibration data is not at
  hand) MLTK's outputs are within 5 % and no activation reaches 100 % (which a wrong pairing
  would);
- the report's output error equals the one measured with the oracle runtimes: the float model
  and the quantized model run on TFLite Micro (after folding constant chains, or on LiteRT's
  reference kernels, where TFLite Micro refuses the model), inputs quantized here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

import tflitekit
from tflitekit import Model, runtimes
from tflitekit.analysis.quant_error import QuantizationError, quantization_error
from tflitekit.passes import fold_constants

pytestmark = pytest.mark.corpus

keras_script = load_script("make_keras_models")

MLTK_TWINS = ("autoencoder_example", "image_example1", "keyword_spotting_alexa",
              "keyword_spotting_on_off_v3", "keyword_spotting_pacman_v3", "rock_paper_scissors")
KERAS_VARIANTS = ("int8", "16x8", "int8_float_io")
KERAS_TWINS = tuple(f"{arch}_{variant}" for arch in keras_script.ARCHITECTURES
                    for variant in KERAS_VARIANTS)
SAMPLES = 16


def _mltk(stem: str, corpus_paths: list[Path]) -> tuple[Model, Model]:
    found = {p.name: p for p in corpus_paths}
    return (tflitekit.load(found[f"{stem}.float32.tflite"].read_bytes()),
            tflitekit.load(found[f"{stem}.tflite"].read_bytes()))


def _keras(name: str) -> tuple[Model, Model]:
    directory = keras_script.default_dir()
    arch = name.split("_", 1)[0]
    paths = directory / f"{arch}_float.tflite", directory / f"{name}.tflite"
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"no {missing} in {directory}: make them with scripts/make_keras_models.py "
                    "(needs TensorFlow; the converter refuses some variants)")
    return tflitekit.load(paths[0].read_bytes()), tflitekit.load(paths[1].read_bytes())


def _normal(model: Model, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((SAMPLES, *(t.shape or ()))).astype(np.float32)
            for t in model.main.inputs]


# ------------------------------------------------------------------------------------------------
# Independent checks
# ------------------------------------------------------------------------------------------------


def _scale_zero(tensor: tflitekit.Tensor, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    q = tensor.quantization
    assert q is not None and q.scale is not None, tensor.name
    shape = [1] * ndim
    if q.scale.size > 1:
        shape[q.quantized_dimension] = q.scale.size
    zero = np.zeros(q.scale.size) if q.zero_point is None else q.zero_point
    return (q.scale.astype(np.float64).reshape(shape),
            np.broadcast_to(zero.astype(np.float64), q.scale.shape).reshape(shape))


def _check_constants(report: QuantizationError, fm: Model, qm: Model) -> int:
    """Every constant pair of every layer, element by element (module docstring); returns how
    many were checked."""
    checked = 0
    for layer in report.layers:
        f, q = fm.main.operators[layer.float_index], qm.main.operators[layer.quantized_index]
        reported = {t.quantized_name: t for t in (*layer.weights, *layer.biases)}
        for tf, tq in zip(f.inputs, q.inputs, strict=False):
            if (tf is None or tq is None or not tf.is_constant or not tq.is_constant
                    or (tf.numpy_dtype or np.dtype(np.int8)).kind != "f"):
                continue
            where = f"{layer.opcode} {tq.name!r}"
            w_f = np.asarray(tf.data, np.float64)
            w_q = np.asarray(tq.data, np.float64)
            scale, zero = _scale_zero(tq, w_f.ndim)
            error = np.abs(w_f - scale * (w_q - zero))
            info = np.iinfo(tq.numpy_dtype)
            at_bound = (w_q == info.min) | (w_q == info.max)
            slack = np.abs(w_q - zero) * 2.0**-22 + 1e-6  # float32 quotients
            within = error <= scale * (0.5 + slack)
            clipped = ~within & at_bound & ((w_f < scale * (info.min - zero))
                                            | (w_f > scale * (info.max - zero)))
            assert (within | clipped).all(), (
                f"{where}: {int((~within & ~clipped).sum())} elements off by more than half a "
                f"step, up to {float((error / scale).max()):.4f} steps")
            t = reported[tq.name or ""]
            assert t.clipped == int(clipped.sum()), where
            assert t.max_abs_error == pytest.approx(float(error.max()), rel=1e-9, abs=1e-12)
            if not clipped.any():
                assert t.max_step_error is not None
                assert t.max_step_error <= 0.5 + float(slack.max()), where
            checked += 1
    return checked


def _accounted(report: QuantizationError, fm: Model, qm: Model) -> None:
    """Every operator of both models is in a layer or was inserted by the quantizer."""
    assert report.unmatched == (), "\n".join(
        f"{r.model} operator {r.index} {r.opcode} {r.name!r}: {r.reason}"
        for r in report.unmatched)
    assert not any(layer.fused for layer in report.layers)  # none of these twins needs one
    floats = {layer.float_index for layer in report.layers}
    quants = {layer.quantized_index for layer in report.layers}
    floats |= {r.index for r in report.inserted if r.model == "float"}
    quants |= {r.index for r in report.inserted if r.model == "quantized"}
    assert floats == set(range(len(fm.main.operators)))
    assert quants == set(range(len(qm.main.operators)))
    assert {r.opcode for r in report.inserted} <= {"QUANTIZE", "DEQUANTIZE"}


def _quantized_inputs(qm: Model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    fed = []
    for t, x in zip(qm.main.inputs, inputs, strict=True):
        dtype = t.numpy_dtype
        assert dtype is not None
        if dtype.kind == "f":
            fed.append(x)
            continue
        assert t.quantization is not None
        scale, zero = t.quantization.per_tensor()
        v = x / np.float32(scale)
        steps = np.trunc(v + np.copysign(np.float32(0.5), v))  # halves away from zero
        info = np.iinfo(dtype)
        fed.append(np.clip(steps.astype(np.int64) + zero, info.min, info.max).astype(dtype))
    return fed


def _run(model: Model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs on TFLite Micro; on TFLite Micro after folding constant chains when it
    refuses the model (the converter's SHAPE -> ... -> FILL of a dynamic batch); else on
    LiteRT's reference kernels (the samples in place of the batch of 1, as both take them)."""
    inputs = [x.reshape(len(x), *x.shape[2:]) for x in inputs]
    for candidate in (model, fold_constants(model.copy())):
        try:
            return runtimes.run_tflm(candidate.to_bytes(), inputs)
        except RuntimeError:
            pass
    return runtimes.run_litert(model.to_bytes(), inputs)


def _check_outputs_against_oracles(fm: Model, qm: Model, inputs: list[np.ndarray]) -> None:
    report = quantization_error(fm, qm, inputs)
    ref = _run(fm, inputs)
    got = _run(qm, _quantized_inputs(qm, inputs))
    for out, want, have, t in zip(report.outputs, ref, got, qm.main.outputs, strict=True):
        real = have.astype(np.float64)
        if have.dtype.kind in "iu":
            assert t.quantization is not None
            scale, zero = t.quantization.per_tensor()
            real = scale * (real - zero)
        error = real.reshape(want.shape) - want.astype(np.float64)
        rel = np.linalg.norm(error) / np.linalg.norm(want.astype(np.float64))
        assert out.rel_error == pytest.approx(rel, rel=1e-4, abs=1e-7), t.name


def _check(fm: Model, qm: Model, inputs: list[np.ndarray], *, activation_bound: float,
           output_bound: float) -> QuantizationError:
    report = quantization_error(fm, qm, inputs)
    _accounted(report, fm, qm)
    checked = _check_constants(report, fm, qm)
    assert checked == sum(len(layer.weights) + len(layer.biases) for layer in report.layers)
    assert checked > 0
    worst = max((a.rel_error, a.float_name) for layer in report.layers
                for a in layer.activations)
    assert worst[0] < activation_bound, worst
    assert report.outputs and all(o.rel_error < output_bound for o in report.outputs)
    json.dumps(report.to_json(), allow_nan=False)
    return report


def _uniform(fm: Model, qm: Model, seed: int) -> list[np.ndarray]:
    """Uniform over the real range of the quantized model's integer input."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tf, tq in zip(fm.main.inputs, qm.main.inputs, strict=True):
        if tq.numpy_dtype is not None and tq.numpy_dtype.kind == "f":
            (tq,) = (op.outputs[0] for op in tq.consumers)  # the QUANTIZE of a float interface
        assert tq.quantization is not None and tq.numpy_dtype is not None
        scale, zero = tq.quantization.per_tensor()
        info = np.iinfo(tq.numpy_dtype)
        low, high = scale * (int(info.min) - zero), scale * (int(info.max) - zero)
        arrays.append(rng.uniform(low, high, (SAMPLES, *(tf.shape or ()))).astype(np.float32))
    return arrays


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", MLTK_TWINS)
def test_mltk_twins(stem: str, corpus_paths: list[Path]) -> None:
    fm, qm = _mltk(stem, corpus_paths)
    _check(fm, qm, _uniform(fm, qm, 1), activation_bound=1.0, output_bound=0.05)


@pytest.mark.parametrize("name", KERAS_TWINS)
def test_keras_twins(name: str) -> None:
    fm, qm = _keras(name)
    report = _check(fm, qm, _normal(fm, 7), activation_bound=0.1, output_bound=0.1)
    assert all(o.sqnr_db > 20 for o in report.outputs)


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("stem", MLTK_TWINS)
def test_mltk_output_error_matches_the_oracles(stem: str, corpus_paths: list[Path]) -> None:
    fm, qm = _mltk(stem, corpus_paths)
    _check_outputs_against_oracles(fm, qm, _uniform(fm, qm, 2))


@pytest.mark.tflm
@pytest.mark.litert
@pytest.mark.parametrize("name", KERAS_TWINS)
def test_keras_output_error_matches_the_oracles(name: str) -> None:
    fm, qm = _keras(name)
    _check_outputs_against_oracles(fm, qm, _normal(fm, 8))

"""from_keras: a Keras model through the TFLite converter, set up for a quantization mode and an
interface, into a tflitekit :class:`~tflitekit.Model`.

======== =============================================================== ==================
mode     what the converter makes                                         io
======== =============================================================== ==================
float    float32 throughout (no optimization)                             float
float16  float16 weights, dequantized at load                             float
dynamic  int8 weights, float activations (dynamic-range, hybrid ops)      float
int8     int8 weights and activations (calibrated), TFLITE_BUILTINS_INT8  float, int8
int16x8  int16 activations, int8 weights (calibrated)                     float, int16
======== =============================================================== ==================

Every argument is checked before TensorFlow is imported, so a wrong combination fails fast
(and the same way) with or without TensorFlow.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ConversionError, TFLiteKitError, UsageError
from ..ir import Model
from ..passes import StripFloatIO
from ..serde import load
from ._tensorflow import captured, tensorflow

__all__ = ["IO_TYPES", "MODES", "RepresentativeData", "from_keras", "load_keras"]

MODES = ("int8", "int16x8", "float16", "dynamic", "float")
"""The conversion modes :func:`from_keras` accepts."""
IO_TYPES = ("float", "int8", "int16")
"""The interface types :func:`from_keras` accepts."""

_IO_OF_MODE = {"float": ("float",), "float16": ("float",), "dynamic": ("float",),
               "int8": ("float", "int8"), "int16x8": ("float", "int16")}
_CALIBRATED = ("int8", "int16x8")

Array = npt.NDArray[Any]
Sample = list[Array]
RepresentativeData = (Array | Sequence[Array] | Iterable[Array | Sequence[Array]]
                      | Callable[[], Iterable[Array | Sequence[Array]]])
"""An array with a leading sample axis (a model with one input), a sequence of such arrays
(one per model input, in order), or an iterable of samples -- or a function returning one --
where a sample is an array (one input) or a sequence of arrays (one per input), each with or
without its batch axis of 1."""


def from_keras(keras_model: Any, *, representative_data: RepresentativeData | None = None,
               mode: str = "int8", io: str = "float", strip_float_io: bool = False,
               samples: int | None = None, per_channel: bool = True) -> Model:
    """Convert ``keras_model`` with TensorFlow's TFLite converter (``from_keras_model``).

    ``mode`` is one of :data:`MODES` (see the module's table); ``int8`` and ``int16x8``
    calibrate their activations on ``representative_data`` (see :data:`RepresentativeData`;
    every sample is given to the converter as float32 with a batch of 1), of which the first
    ``samples`` are used (default: all). ``io`` sets the converter's inference input and output
    types: ``"float"`` keeps a float32 interface (a QUANTIZE after each input and a DEQUANTIZE
    before each output of a quantized model), ``"int8"`` (mode int8) and ``"int16"`` (mode
    int16x8) make the converter give an integer one. ``strip_float_io=True`` converts with a
    float interface and removes it with :func:`tflitekit.passes.strip_float_io` instead.
    ``per_channel=False`` quantizes every weight tensor of a quantized mode with one scale
    (the converter's default is a scale per output channel for convolutions and dense layers):
    weights clustered per tensor then keep at most k values per tensor, so one look-up table
    stores each of them. (TensorFlow 2.21's converter refuses it for int16x8 models with a
    depthwise convolution: a :class:`~tflitekit.ConversionError`.)

    Raises :class:`~tflitekit.UsageError` for a wrong argument, :class:`~tflitekit.ConversionError`
    (with the converter's reason) when the converter fails, and
    :class:`~tflitekit.RuntimeUnavailable` without TensorFlow.
    """
    _check_arguments(representative_data, mode, io, strip_float_io, samples, per_channel)
    dataset = (None if representative_data is None
               else _dataset(representative_data, _input_ranks(keras_model), samples))
    tf = tensorflow()
    model = load(_convert(tf, keras_model, mode, io, dataset, per_channel))
    if strip_float_io:
        _strip(model)
    return model


def load_keras(path: str | os.PathLike[str]) -> Any:
    """The Keras model saved at ``path`` (a ``.keras`` or ``.h5`` file), without its training
    configuration; :class:`~tflitekit.TFLiteKitError` naming the path when it is not one."""
    shown = os.fspath(path)
    if not os.path.isfile(shown):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), shown)
    tf = tensorflow()
    try:
        with captured():
            return tf.keras.models.load_model(shown, compile=False)
    except Exception as exc:  # Keras raises many types for a file it cannot read
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise TFLiteKitError(f"{shown}: not a Keras model Keras can load ({reason[:200]})"
                             ) from exc


# ------------------------------------------------------------------------------------------------
# Arguments
# ------------------------------------------------------------------------------------------------


def _check_arguments(data: RepresentativeData | None, mode: str, io: str, strip: bool,
                     samples: int | None, per_channel: bool) -> None:
    """Every check that needs no TensorFlow: the mode, the interface, the data's presence."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if io not in IO_TYPES:
        raise UsageError(f"unknown io {io!r}; expected one of {', '.join(IO_TYPES)}")
    if io not in _IO_OF_MODE[mode]:
        needs = next(m for m, types in _IO_OF_MODE.items() if io in types and m in _CALIBRATED)
        raise UsageError(f"io={io!r} needs mode={needs!r} (mode {mode!r} gives a float "
                         "interface only)" if mode not in _CALIBRATED else
                         f"io={io!r} needs mode={needs!r}, not {mode!r}")
    if strip and mode not in _CALIBRATED:
        raise UsageError(f"strip_float_io needs a quantized interface (mode int8 or int16x8), "
                         f"not mode {mode!r}")
    if strip and io != "float":
        raise UsageError(f"strip_float_io replaces io={io!r}: use one or the other (io='float' "
                         "with strip_float_io=True)")
    if mode in _CALIBRATED and data is None:
        raise UsageError(f"mode {mode!r} calibrates its activations: pass representative_data "
                         "(inputs the model will see, e.g. some training samples)")
    if mode not in _CALIBRATED and data is not None:
        raise UsageError(f"mode {mode!r} takes no representative_data (only int8 and int16x8 "
                         "calibrate)")
    if not per_channel and mode in ("float", "float16"):
        raise UsageError(f"per_channel=False needs quantized weights (mode int8, int16x8 or "
                         f"dynamic), not mode {mode!r}")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                or samples < 1):
        raise UsageError(f"samples must be a positive integer or None (all), not {samples!r}")


def _input_names(keras_model: Any) -> list[str] | None:
    """The names of a Keras model's inputs when it has several (the converter's signature
    keys them so), else None."""
    try:
        names = [str(tensor.name) for tensor in keras_model.inputs]
    except (AttributeError, TypeError, ValueError):
        return None
    return names if len(names) > 1 and len(set(names)) == len(names) else None


def _input_ranks(keras_model: Any) -> list[int] | None:
    """The rank (with the batch axis) of each of the Keras model's inputs, if it declares them."""
    try:
        return [len(tensor.shape) for tensor in keras_model.inputs]
    except (AttributeError, TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------
# The representative dataset
# ------------------------------------------------------------------------------------------------


def _dataset(data: RepresentativeData, ranks: list[int] | None,
             samples: int | None) -> Callable[[], Iterator[Sample]]:
    """The converter's ``representative_dataset``: a function returning an iterator of samples,
    each a list of float32 arrays with a batch of 1."""
    if isinstance(data, np.ndarray):
        return _stacked([data], samples)
    if isinstance(data, Sequence) and data and all(isinstance(a, np.ndarray) for a in data):
        return _stacked(list(data), samples)
    if isinstance(data, (str, bytes)) or not (callable(data) or isinstance(data, Iterable)):
        raise UsageError("representative_data must be an array, a list of arrays or an iterable "
                         f"of samples, not {type(data).__name__}")
    source = data

    def generate() -> Iterator[Sample]:
        items = source() if callable(source) else source
        for item in itertools.islice(items, samples):
            yield _sample(item, ranks)

    return generate


def _stacked(arrays: list[Array], samples: int | None) -> Callable[[], Iterator[Sample]]:
    """The samples of per-input arrays with a leading sample axis."""
    counts = {len(a) if a.ndim else 0 for a in arrays}
    if len(counts) != 1 or 0 in counts:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise UsageError("representative_data arrays need one leading sample axis of the same, "
                         f"non-zero length for every input; got shapes {shapes}")
    count = min(counts.pop(), samples or len(arrays[0]))
    floats = [np.asarray(a, np.float32) for a in arrays]

    def generate() -> Iterator[Sample]:
        for i in range(count):
            yield [a[i:i + 1] for a in floats]

    return generate


def _sample(item: Any, ranks: list[int] | None) -> Sample:
    """One sample of an iterable as float32 arrays, each given its batch axis if it lacks it."""
    arrays = [np.asarray(item, np.float32)] if isinstance(item, np.ndarray) else \
        [np.asarray(a, np.float32) for a in item]
    if ranks is None:
        return arrays
    if len(arrays) != len(ranks):
        raise UsageError(f"a representative sample has {len(arrays)} arrays; the model has "
                         f"{len(ranks)} inputs")
    return [a[None] if a.ndim == rank - 1 else a for a, rank in zip(arrays, ranks, strict=True)]


# ------------------------------------------------------------------------------------------------
# Conversion
# ------------------------------------------------------------------------------------------------


def _convert(tf: Any, keras_model: Any, mode: str, io: str,
             dataset: Callable[[], Iterator[Sample]] | None, per_channel: bool) -> bytes:
    """The converter's flatbuffer, or :class:`ConversionError` with its reason."""
    seen = [0]  # samples the converter drew
    names = _input_names(keras_model)

    def counted() -> Iterator[Sample | dict[str, Array]]:
        assert dataset is not None
        for sample in dataset():
            seen[0] += 1
            # the converter orders a model's inputs its own way (not Keras'): name them
            yield sample if names is None else dict(zip(names, sample, strict=True))

    try:
        with captured() as output:
            converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
            _configure(tf, converter, mode, io, None if dataset is None else counted)
            converter._experimental_disable_per_channel = not per_channel
            data = bytes(converter.convert())
    except UsageError:
        raise
    except Exception as exc:  # the converter raises many types; its reason is kept
        if dataset is not None and seen[0] == 0:
            raise UsageError("representative_data gave no samples") from exc
        raise ConversionError(f"the TFLite converter failed (mode {mode!r}, io {io!r}): "
                              f"{_reason(exc, output)}") from exc
    if dataset is not None and seen[0] == 0:  # the converter calibrates on nothing silently
        raise UsageError("representative_data gave no samples")
    return data


def _configure(tf: Any, converter: Any, mode: str, io: str,
               dataset: Callable[[], Iterator[Sample | dict[str, Array]]] | None) -> None:
    ops = tf.lite.OpsSet
    if mode != "float":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode in _CALIBRATED:
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [
            ops.TFLITE_BUILTINS_INT8 if mode == "int8"
            else ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if io != "float":
        converter.inference_input_type = converter.inference_output_type = getattr(tf, io)


_ERROR = re.compile(r"(?:^|\s)error:\s*(.*)", re.IGNORECASE)
_LOCATED = re.compile(r"^\s*(<unknown>|\S+:\d+):|^\s*Details:")


def _reason(exc: Exception, output: list[str]) -> str:
    """The converter's last meaningful message, on one line: its last ``error:`` (from the
    exception, else from what it printed), else the exception's last line."""
    text = str(exc).splitlines()
    found = _last_error(text) or _last_error(output)
    if found is None:
        lines = [line for line in text if line.strip()]
        found = lines[-1] if lines else type(exc).__name__
    reason = " ".join(found.split())
    return reason if len(reason) <= 300 else reason[:297] + "..."


def _last_error(lines: list[str]) -> str | None:
    """The last ``error:`` message of the MLIR diagnostics ``lines``, without its ``loc(...)``
    and with the lines that continue it (up to the next located line or the details)."""
    starts = [i for i, line in enumerate(lines) if _ERROR.search(line)]
    if not starts:
        return None
    match = _ERROR.search(lines[starts[-1]])
    assert match is not None
    message = match.group(1)
    if message.startswith("loc("):
        message = message.rsplit("): ", 1)[-1]
    for line in lines[starts[-1] + 1:]:
        if _LOCATED.match(line):
            break
        message += " " + line
    return message


def _strip(model: Model) -> None:
    """Remove the float interface; :class:`ConversionError` if some of it stays float."""
    result = StripFloatIO()(model)
    still = [str(t.name) for t in (*model.main.inputs, *model.main.outputs)
             if t.dtype.name == "FLOAT32"]
    if still:
        why = "; ".join(result.skipped) or "no QUANTIZE/DEQUANTIZE to remove"
        raise ConversionError(f"strip_float_io left {', '.join(still)} float32: {why}")

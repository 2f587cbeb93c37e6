"""Quantization error: a float model against its quantized twin, layer by layer.

:func:`quantization_error` matches the operators of the two main subgraphs, runs both models
on the same inputs with the interpreter (keeping every tensor) and measures, for every matched
layer, how far the quantized model's values are from the float model's:

- **weights**: every constant operand, ``dequantize(w_q)`` against ``w_f``, also per channel
  along the quantized tensor's quantized dimension, and the largest error in quantization steps
  (round-to-nearest keeps it at 0.5 unless a value was clipped);
- **biases**: the int32 / int64 constants, whose scale is the input's times the weights' (taken
  from the bias tensor, or computed so when it has none);
- **activations**: each float output of the layer on the inputs, against the dequantized
  integer output of its twin;
- and the model's inputs (the quantization of the input itself) and final outputs.

Errors are ``quantized - float``; each carries the relative error ``||e|| / ||float||``, the
largest ``|e|``, the mean of ``e``, the SQNR ``10 log10(||float||^2 / ||e||^2)`` in dB and a
histogram of ``e`` (what plots draw).

**Matching.** QUANTIZE and DEQUANTIZE are the quantizer's own operators (the float interface,
requantizations) and are listed apart as ``inserted``. The remaining operators are matched by
the name of an output first (the converter keeps most names; the quantizer moves a boundary
output's name to the DEQUANTIZE it adds, which counts for the operator it dequantizes), taking
name matches in order; the operators between two name matches are then aligned by their opcode
sequences. A pair must agree on opcode and output shapes. A float activation operator (RELU,
RELU6, RELU_N1_TO_1, TANH) that the quantized twin fused into its producer joins its producer's
layer. Everything else is reported as unmatched, with the reason, never guessed.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import UsageError
from ..interpreter import Interpreter
from ..interpreter.fixedpoint import round_half_away
from ..ir import Model, Operator, Subgraph, Tensor, dtypes
from ..options import BuiltinOperator
from .dequantize import broadcast_scales, real_values
from .jsonable import json_value

__all__ = [
    "ChannelErrors",
    "Histogram",
    "LayerError",
    "OperatorRef",
    "QuantizationError",
    "TensorError",
    "quantization_error",
]

Array = npt.NDArray[Any]
Role = Literal["input", "weight", "bias", "activation", "output"]

HISTOGRAM_BINS = 32
"""Bins of every error histogram."""

_INSERTED = frozenset({BuiltinOperator.QUANTIZE, BuiltinOperator.DEQUANTIZE})
_FUSABLE = frozenset({"RELU", "RELU6", "RELU_N1_TO_1", "TANH"})
"""Activation operators that are also fused activation functions, by the same name."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Counts of values in bins: ``counts[i]`` values in ``[edges[i], edges[i + 1])`` (the last
    bin closed)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"edges": json_value(list(self.edges)), "counts": list(self.counts)}


@dataclass(frozen=True)
class ChannelErrors:
    """A constant's error per channel along ``axis`` (one entry per index of that axis)."""

    axis: int
    rel_error: tuple[float, ...]
    max_abs_error: tuple[float, ...]
    sqnr_db: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"axis": self.axis, "rel_error": json_value(list(self.rel_error)),
                "max_abs_error": json_value(list(self.max_abs_error)),
                "sqnr_db": json_value(list(self.sqnr_db))}


@dataclass(frozen=True)
class TensorError:
    """How far a quantized tensor's real values are from its float twin's (module docstring).

    ``shape`` is the float tensor's (activations: without the run's batch). For constants:
    ``max_step_error`` is the largest ``|e| / scale`` elementwise, ``clipped`` counts the float
    values beyond the quantized type's range by more than half a step, and ``channels`` (rank 2
    and more) gives the error per channel along the quantized dimension.
    """

    role: Role
    float_name: str
    quantized_name: str
    quantized_dtype: str
    shape: tuple[int, ...]
    rel_error: float
    max_abs_error: float
    mean_error: float
    sqnr_db: float
    histogram: Histogram
    max_step_error: float | None = None
    clipped: int | None = None
    channels: ChannelErrors | None = None

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "float_name": self.float_name,
                "quantized_name": self.quantized_name, "quantized_dtype": self.quantized_dtype,
                "shape": list(self.shape), "rel_error": json_value(self.rel_error),
                "max_abs_error": json_value(self.max_abs_error),
                "mean_error": json_value(self.mean_error), "sqnr_db": json_value(self.sqnr_db),
                "max_step_error": json_value(self.max_step_error), "clipped": self.clipped,
                "channels": None if self.channels is None else self.channels.to_json(),
                "histogram": self.histogram.to_json()}


@dataclass(frozen=True)
class LayerError:
    """One matched pair of operators and its errors. ``matched_by`` is ``"name"`` or
    ``"structure"``; ``fused`` names float activation operators folded into this layer (its
    ``activations`` are then theirs)."""

    opcode: str
    float_index: int
    quantized_index: int
    matched_by: Literal["name", "structure"]
    fused: tuple[str, ...]
    weights: tuple[TensorError, ...]
    biases: tuple[TensorError, ...]
    activations: tuple[TensorError, ...]

    def to_json(self) -> dict[str, Any]:
        return {"opcode": self.opcode, "float_index": self.float_index,
                "quantized_index": self.quantized_index, "matched_by": self.matched_by,
                "fused": list(self.fused),
                "weights": [w.to_json() for w in self.weights],
                "biases": [b.to_json() for b in self.biases],
                "activations": [a.to_json() for a in self.activations]}


@dataclass(frozen=True)
class OperatorRef:
    """An operator of one of the two models (``model`` is ``"float"`` or ``"quantized"``)
    left out of the layers, and why."""

    model: Literal["float", "quantized"]
    index: int
    opcode: str
    name: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "index": self.index, "opcode": self.opcode,
                "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class QuantizationError:
    """The quantization error report of :func:`quantization_error` (module docstring)."""

    samples: int
    inputs: tuple[TensorError, ...]
    outputs: tuple[TensorError, ...]
    layers: tuple[LayerError, ...]
    unmatched: tuple[OperatorRef, ...]
    inserted: tuple[OperatorRef, ...]

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples,
                "inputs": [t.to_json() for t in self.inputs],
                "outputs": [t.to_json() for t in self.outputs],
                "layers": [layer.to_json() for layer in self.layers],
                "unmatched": [u.to_json() for u in self.unmatched],
                "inserted": [i.to_json() for i in self.inserted]}


# --------------------------------------------------------------------------------------------
# Quantization arithmetic
# --------------------------------------------------------------------------------------------


def _quantize(tensor: Tensor, x: Array) -> Array:
    """``x`` quantized to ``tensor`` as TFLite's QUANTIZE does: ``round(x / scale)`` in float32
    (halves away from zero), plus the zero point, clamped to the type."""
    dtype = tensor.numpy_dtype
    assert dtype is not None
    found = broadcast_scales(tensor, np.ndim(x), batched=np.ndim(x) > len(tensor.shape or ()))
    if found is None:
        return np.asarray(x).astype(dtype)
    scale, zero = found
    steps = round_half_away(np.asarray(x, np.float32) / scale.astype(np.float32))
    info = np.iinfo(dtype)
    return np.clip(steps.astype(np.float64) + zero, info.min, info.max).astype(dtype)


def _real_range(tensor: Tensor) -> tuple[float, float] | None:
    """The real range an integer per-tensor quantized tensor can represent."""
    dtype = tensor.numpy_dtype
    found = broadcast_scales(tensor, 0)
    if dtype is None or dtype.kind not in "iu" or found is None or found[0].size != 1:
        return None
    scale, zero = (float(v) for v in found)
    info = np.iinfo(dtype)
    return scale * (int(info.min) - zero), scale * (int(info.max) - zero)


def _integer_twin(tensor: Tensor) -> Tensor | None:
    """The integer version of a graph input of the quantized model: itself, or what the
    QUANTIZE reading it writes (a float interface)."""
    if (tensor.numpy_dtype or np.dtype(np.float32)).kind in "iu":
        return tensor
    for op in tensor.consumers:
        if op.opcode.builtin_code == BuiltinOperator.QUANTIZE and op.outputs:
            return op.outputs[0]
    return None


def _sample(float_graph: Subgraph, quantized_graph: Subgraph, samples: int,
            seed: int) -> list[Array]:
    """``samples`` float inputs per input, ``(samples, *shape)``: uniform over the range the
    quantized twin's integer input represents, else over [-1, 1]."""
    if samples < 1:
        raise UsageError(f"samples must be at least 1, not {samples}")
    rng = np.random.default_rng(seed)
    arrays = []
    for tf, tq in zip(float_graph.inputs, quantized_graph.inputs, strict=True):
        dtype = tf.numpy_dtype
        shape = (samples, *(tf.shape or ()))
        if dtype is None or dtype.kind != "f":
            raise UsageError(f"input {tf.name!r} of the float model is not float; pass inputs")
        twin = _integer_twin(tq)
        low, high = (_real_range(twin) if twin is not None else None) or (-1.0, 1.0)
        arrays.append(rng.uniform(low, high, shape).astype(dtype))
    return arrays


# --------------------------------------------------------------------------------------------
# Error statistics
# --------------------------------------------------------------------------------------------


def _ratio_db(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    return -math.inf if signal == 0.0 else 10.0 * math.log10(signal / noise)


def _relative(error_norm: float, norm: float) -> float:
    if error_norm == 0.0:
        return 0.0
    return math.inf if norm == 0.0 else error_norm / norm


def _histogram(error: Array) -> Histogram:
    finite = error[np.isfinite(error)]
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def _channels(reference: Array, error: Array, axis: int) -> ChannelErrors:
    ref = np.moveaxis(reference, axis, 0).reshape(reference.shape[axis], -1)
    err = np.moveaxis(error, axis, 0).reshape(error.shape[axis], -1)
    signal, noise = (ref * ref).sum(axis=1), (err * err).sum(axis=1)
    return ChannelErrors(
        axis=axis,
        rel_error=tuple(_relative(math.sqrt(n), math.sqrt(s)) for s, n in zip(
            signal.tolist(), noise.tolist(), strict=True)),
        max_abs_error=tuple(np.abs(err).max(axis=1).tolist()),
        sqnr_db=tuple(_ratio_db(s, n) for s, n in zip(signal.tolist(), noise.tolist(),
                                                      strict=True)))


def _clipped(tensor: Tensor, reference: Array, scale: Array, zero: Array) -> int:
    """How many of ``reference`` lie more than half a step beyond ``tensor``'s integer range."""
    dtype = tensor.numpy_dtype
    if dtype is None or dtype.kind not in "iu":
        return 0
    info = np.iinfo(dtype)
    low = scale * (float(info.min) - zero - 0.5)
    high = scale * (float(info.max) - zero + 0.5)
    return int(np.count_nonzero((reference < low) | (reference > high)))


def _error(role: Role, float_tensor: Tensor, quantized_tensor: Tensor, reference: Array,
           approximation: Array, *, quantization: tuple[Array, Array] | None = None
           ) -> TensorError:
    """The error of ``approximation`` against ``reference`` (float64 arrays);
    ``quantization`` (scale and zero point of a constant) broadcasts over them and gives the
    figures in steps and per channel."""
    error = approximation - reference
    signal, noise = float((reference * reference).sum()), float((error * error).sum())
    channels = steps = clipped = None
    if quantization is not None:
        scale, zero = quantization
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero scale: inf steps (or 0)
            in_steps = np.where(error == 0.0, 0.0, np.abs(error) / scale)
        steps = float(in_steps.max()) if error.size else 0.0
        clipped = _clipped(quantized_tensor, reference, scale, zero)
        q = quantized_tensor.quantization
        axis = 0 if q is None else q.quantized_dimension
        if reference.ndim >= 2 and axis < reference.ndim:
            channels = _channels(reference, error, axis)
    return TensorError(
        role=role, float_name=float_tensor.name or "", quantized_name=quantized_tensor.name or "",
        quantized_dtype=dtypes.name(quantized_tensor.dtype),
        shape=tuple(float_tensor.shape or ()),
        rel_error=_relative(math.sqrt(noise), math.sqrt(signal)),
        max_abs_error=float(np.abs(error).max()) if error.size else 0.0,
        mean_error=float(error.mean()) if error.size else 0.0,
        sqnr_db=_ratio_db(signal, noise), histogram=_histogram(error),
        max_step_error=steps, clipped=clipped, channels=channels)


def _comparable(float_tensor: Tensor, quantized_tensor: Tensor) -> bool:
    """Whether a pair of tensors is measured: a float one and a twin of the same shape (no
    shape is a scalar's)."""
    dtype = float_tensor.numpy_dtype
    return (dtype is not None and dtype.kind == "f"
            and tuple(float_tensor.shape or ()) == tuple(quantized_tensor.shape or ()))


def _bias_quantization(op: Operator, bias: Tensor) -> tuple[Array, Array] | None:
    """A bias's scale and zero point: its own, else the input's scale times the weights' (per
    channel) and zero."""
    found = broadcast_scales(bias, 1)
    if found is not None:
        return found
    scales = [t.quantization.scale.astype(np.float64) for t in op.inputs[:2]
              if t is not None and t.quantization is not None and t.quantization.is_quantized
              and t.quantization.scale is not None]
    return None if len(scales) != 2 else (scales[0] * scales[1], np.zeros(1))


def _constants(f: Operator, q: Operator) -> tuple[list[TensorError], list[TensorError]]:
    """The weight and bias errors of a matched pair: comparable operands both models hold as
    constants."""
    weights, biases = [], []
    for tf, tq in zip(f.inputs, q.inputs, strict=False):
        if (tf is None or tq is None or not tf.is_constant or not tq.is_constant
                or not _comparable(tf, tq)):
            continue
        reference, value = np.asarray(tf.data, np.float64), np.asarray(tq.data)
        if tq.dtype in (dtypes.from_numpy(np.int32), dtypes.from_numpy(np.int64)):
            found = _bias_quantization(q, tq)
            real = (real_values(tq, value) if found is None
                    else found[0] * (value.astype(np.float64) - found[1]))
            biases.append(_error("bias", tf, tq, reference, real, quantization=found))
        else:
            found = broadcast_scales(tq, reference.ndim)
            weights.append(_error("weight", tf, tq, reference, real_values(tq, value),
                                  quantization=found))
    return weights, biases


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------


def _shapes(op: Operator) -> list[tuple[int, ...]]:
    """The output shapes (no shape is a scalar's, as TFLite reads it)."""
    return [tuple(t.shape or ()) for t in op.outputs]


def _names(op: Operator) -> list[str]:
    """The names of ``op``'s outputs, and of the DEQUANTIZE outputs that read them."""
    names = [t.name for t in op.outputs if t.name]
    names += [d.outputs[0].name for t in op.outputs for d in t.consumers
              if d.opcode.builtin_code == BuiltinOperator.DEQUANTIZE and d.outputs
              and d.outputs[0].name]
    return names


def _ref(model: Literal["float", "quantized"], index: int, op: Operator,
         reason: str) -> OperatorRef:
    name = op.outputs[0].name if op.outputs and op.outputs[0].name else ""
    return OperatorRef(model, index, op.opcode.name, name, reason)


@dataclass
class _Matching:
    pairs: list[tuple[Operator, Operator, Literal["name", "structure"]]]
    position: dict[int, int]  # id(operator) -> its index in its graph
    fused: dict[int, Operator]  # id(float producer) -> float activation fused into its twin
    unmatched: list[OperatorRef]
    inserted: list[OperatorRef]


def _name_anchors(fs: list[Operator], qs: list[Operator]) -> list[tuple[int, int]]:
    """Positions (in ``fs``, in ``qs``) of operators matched by an output name, same opcode and
    output shapes, taken in order of both sequences."""
    counts: dict[str, int] = {}
    for op in qs:
        for name in set(_names(op)):
            counts[name] = counts.get(name, 0) + 1
    by_name = {name: j for j, op in enumerate(qs) for name in _names(op) if counts[name] == 1}
    anchors: list[tuple[int, int]] = []
    for i, f in enumerate(fs):
        found = {by_name[n] for n in _names(f) if n in by_name}
        if len(found) != 1:
            continue
        j = found.pop()
        if ((not anchors or j > anchors[-1][1]) and f.opcode == qs[j].opcode
                and _shapes(f) == _shapes(qs[j])):
            anchors.append((i, j))
    return anchors


def _match(fg: Subgraph, qg: Subgraph) -> _Matching:
    position = {id(op): i for g in (fg, qg) for i, op in enumerate(g.operators)}
    graphs: tuple[tuple[Literal["float", "quantized"], Subgraph], ...] = (
        ("float", fg), ("quantized", qg))
    inserted = [_ref(which, position[id(op)], op,
                     "inserted by the quantizer (a conversion between float and integer)"
                     if which == "quantized" else "a conversion, not a layer")
                for which, g in graphs for op in g.operators
                if op.opcode.builtin_code in _INSERTED]
    fs = [op for op in fg.operators if op.opcode.builtin_code not in _INSERTED]
    qs = [op for op in qg.operators if op.opcode.builtin_code not in _INSERTED]
    anchors = _name_anchors(fs, qs)
    pairs: list[tuple[Operator, Operator, Literal["name", "structure"]]] = []
    misfits: dict[int, Operator] = {}  # same opcode at the same place, other output shapes
    bounds = [(-1, -1), *anchors, (len(fs), len(qs))]
    for (i0, j0), (i1, j1) in itertools.pairwise(bounds):
        gap_f, gap_q = fs[i0 + 1:i1], qs[j0 + 1:j1]
        matcher = difflib.SequenceMatcher(None, [op.opcode.name for op in gap_f],
                                          [op.opcode.name for op in gap_q], autojunk=False)
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                f, q = gap_f[block.a + k], gap_q[block.b + k]
                if _shapes(f) == _shapes(q):
                    pairs.append((f, q, "structure"))
                else:
                    misfits[id(f)], misfits[id(q)] = q, f
        if i1 < len(fs):
            pairs.append((fs[i1], qs[j1], "name"))
    pairs.sort(key=lambda p: position[id(p[0])])
    fused = _fused(fs, pairs)
    paired = {id(op) for f, q, _ in pairs for op in (f, q)} | {id(op) for op in fused.values()}
    unmatched = []
    sides: tuple[tuple[Literal["float", "quantized"], list[Operator], str], ...] = (
        ("float", fs, "quantized"), ("quantized", qs, "float"))
    for which, ops, other in sides:
        for op in (op for op in ops if id(op) not in paired):
            twin = misfits.get(id(op))
            reason = (f"no {other} operator shares an output name with it or holds its place "
                      f"in the sequence of opcodes" if twin is None else
                      f"its counterpart by position ({other} operator {position[id(twin)]}) "
                      f"has outputs of other shapes: {_shapes(twin)}, not {_shapes(op)}")
            unmatched.append(_ref(which, position[id(op)], op, reason))
    return _Matching(pairs, position, fused, unmatched, inserted)


def _fused(fs: list[Operator], pairs: list[tuple[Operator, Operator, Any]]
           ) -> dict[int, Operator]:
    """Float activation operators the quantized model fused into their producer's twin, by
    ``id`` of the float producer."""
    twins = {id(f): q for f, q, _ in pairs}
    matched = {id(op) for f, q, _ in pairs for op in (f, q)}
    fused: dict[int, Operator] = {}
    for op in fs:
        if id(op) in matched or op.opcode.name not in _FUSABLE or not op.inputs:
            continue
        source = op.inputs[0]
        producer = source.producer if source is not None else None
        if (source is None or producer is None or id(producer) not in twins
                or len(source.consumers) != 1):
            continue
        own = getattr(producer.options, "fused_activation_function", None)
        twin = getattr(twins[id(producer)].options, "fused_activation_function", None)
        if (own is not None and own.name == "NONE" and twin is not None
                and twin.name == op.opcode.name and id(producer) not in fused):
            fused[id(producer)] = op
    return fused


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def _activations(role: Role, pairs: Sequence[tuple[Tensor, Tensor]], float_run: Interpreter,
                 quantized_run: Interpreter) -> list[TensorError]:
    """Errors of comparable computed tensors on the run."""
    found = []
    for tf, tq in pairs:
        if not _comparable(tf, tq):
            continue
        reference = float_run.tensor(tf).astype(np.float64)
        found.append(_error(role, tf, tq, reference,
                            real_values(tq, quantized_run.tensor(tq), batched=True)))
    return found


def quantization_error(float_model: Model, quantized_model: Model,
                       inputs: Sequence[Any] | None = None, *, samples: int = 16, seed: int = 0,
                       batch_size: int | None = None,
                       executor: Executor | None = None) -> QuantizationError:
    """The quantization error of ``quantized_model`` against ``float_model`` (module docstring).

    ``inputs``: one float array per input of the float model, optionally with a leading batch
    (see :meth:`Interpreter.run`); the quantized model gets them quantized by its input's
    quantization when its input is an integer one, as they are otherwise (a float interface).
    Without them, ``samples`` random inputs drawn with ``seed``: uniform over the real range of
    the quantized model's integer input. ``batch_size`` and ``executor`` are passed to both
    runs.
    """
    fg, qg = float_model.main, quantized_model.main
    if len(fg.inputs) != len(qg.inputs) or len(fg.outputs) != len(qg.outputs):
        raise UsageError(f"the models differ in their interfaces: {len(fg.inputs)} and "
                         f"{len(qg.inputs)} inputs, {len(fg.outputs)} and {len(qg.outputs)} "
                         "outputs")
    if inputs is None:
        arrays = _sample(fg, qg, samples, seed)
    elif len(inputs) != len(fg.inputs):
        raise UsageError(f"the models have {len(fg.inputs)} input(s), got {len(inputs)}")
    else:
        arrays = [np.asarray(x, t.numpy_dtype) for x, t in zip(inputs, fg.inputs, strict=True)]
    fed = [_quantize(tq, x) if (tq.numpy_dtype or x.dtype).kind in "iu" and x.dtype.kind == "f"
           else x for tq, x in zip(qg.inputs, arrays, strict=True)]
    float_run, quantized_run = Interpreter(float_model), Interpreter(quantized_model)
    float_run.run(arrays, keep=True, batch_size=batch_size, executor=executor)
    quantized_run.run(fed, keep=True, batch_size=batch_size, executor=executor)

    matching = _match(fg, qg)
    layers = []
    for f, q, how in matching.pairs:
        activation = matching.fused.get(id(f))
        weights, biases = _constants(f, q)
        outputs = (activation if activation is not None else f).outputs
        layers.append(LayerError(
            opcode=f.opcode.name, float_index=matching.position[id(f)],
            quantized_index=matching.position[id(q)], matched_by=how,
            fused=() if activation is None else (activation.opcode.name,),
            weights=tuple(weights), biases=tuple(biases),
            activations=tuple(_activations("activation", list(zip(outputs, q.outputs,
                                                                  strict=False)),
                                           float_run, quantized_run))))
    twins = [(tf, twin) for tf, tq in zip(fg.inputs, qg.inputs, strict=True)
             if (twin := _integer_twin(tq)) is not None]
    return QuantizationError(
        samples=len(float_run.tensor(fg.inputs[0])) if fg.inputs else 1,
        inputs=tuple(_activations("input", twins, float_run, quantized_run)),
        outputs=tuple(_activations("output", list(zip(fg.outputs, qg.outputs, strict=True)),
                                   float_run, quantized_run)),
        layers=tuple(layers), unmatched=tuple(matching.unmatched),
        inserted=tuple(matching.inserted))

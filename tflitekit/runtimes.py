"""Run models on the reference runtimes: LiteRT (``ai-edge-litert``) and TFLite Micro.

Both runtimes are optional and imported lazily; a missing one raises :class:`RuntimeUnavailable`,
whose message names the pip package to install. TFLM's reference kernels are the bit-exact oracle
for integer ops; LiteRT with ``reference_kernels=True`` (``OpResolverType.BUILTIN_REF``) matches
them on every corpus op except FULLY_CONNECTED, while LiteRT's default kernels (XNNPACK, ruy) may
differ by a few LSB.

:func:`run_tflm` and :func:`run_litert` give a model's outputs; :func:`tflm_tensors` and
:func:`litert_tensors` give every tensor the main subgraph computes (TFLM's
``kPreserveAllTensors``, LiteRT's ``experimental_preserve_all_tensors``), for comparing a model
layer by layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import RuntimeUnavailable, TFLiteKitError, UsageError
from .ir import Model, Subgraph, Tensor
from .options import BuiltinOperator
from .serde import load

__all__ = [
    "RuntimeUnavailable",
    "available",
    "computed_tensors",
    "input_specs",
    "litert_tensors",
    "package",
    "random_inputs",
    "random_samples",
    "require",
    "run_litert",
    "run_tflm",
    "tflm_tensors",
]

# (module, pip package) of each runtime, keyed by the names ``available()`` reports.
_RUNTIMES: dict[str, tuple[str, str]] = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflm": ("tflite_micro.python.tflite_micro.runtime", "tflite-micro"),
}

Array = npt.NDArray[Any]

_TFLM_MIN_ARENA = 8 << 20
_TFLM_MAX_ARENA = 256 << 20


def _import(runtime: str) -> ModuleType:
    if runtime not in _RUNTIMES:
        raise TFLiteKitError(f"unknown runtime {runtime!r}; expected one of {sorted(_RUNTIMES)}")
    module, package = _RUNTIMES[runtime]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeUnavailable(
            f"the {runtime} reference runtime is unavailable ({exc}); "
            f"install it with `pip install {package}`",
            name=module,
        ) from exc


def require(runtime: str) -> None:
    """Raise :class:`RuntimeUnavailable`, naming the pip package, unless ``runtime`` (``"litert"``
    or ``"tflm"``) imports."""
    _import(runtime)


def package(runtime: str) -> str:
    """The pip package that provides ``runtime`` (``"litert"`` or ``"tflm"``)."""
    if runtime not in _RUNTIMES:
        raise TFLiteKitError(f"unknown runtime {runtime!r}; expected one of {sorted(_RUNTIMES)}")
    return _RUNTIMES[runtime][1]


def available() -> dict[str, bool]:
    """Which reference runtimes import: ``{"litert": bool, "tflm": bool}``."""
    result: dict[str, bool] = {}
    for runtime in _RUNTIMES:
        try:
            _import(runtime)
        except Exception:  # a broken install can fail with more than ImportError
            result[runtime] = False
        else:
            result[runtime] = True
    return result


# --------------------------------------------------------------------------------------------
# LiteRT
# --------------------------------------------------------------------------------------------


def _litert(model: bytes, resolver: str, *, preserve: bool = False) -> Any:
    """A LiteRT interpreter for ``model`` using the named ``OpResolverType`` member;
    ``preserve`` keeps every intermediate tensor readable after ``invoke``."""
    mod = _import("litert")
    return mod.Interpreter(
        model_content=bytes(model),
        experimental_op_resolver_type=getattr(mod.OpResolverType, resolver),
        experimental_preserve_all_tensors=preserve,
    )


def _resizable(signature: Sequence[int], current: Sequence[int], wanted: tuple[int, ...]) -> bool:
    """True if ``wanted`` differs from ``current`` only in the batch or in dynamic dimensions."""
    if len(wanted) != len(current):
        return False
    return all(
        w == c or i == 0 or s < 0
        for i, (s, c, w) in enumerate(zip(signature, current, wanted, strict=True))
    )


def _check_count(expected: int, inputs: Sequence[Array]) -> list[Array]:
    """``inputs`` as C-contiguous arrays (0-d arrays stay 0-d), after checking their number."""
    if len(inputs) != expected:
        raise TFLiteKitError(f"model has {expected} inputs, got {len(inputs)}")
    return [np.require(x, requirements="C") for x in inputs]


def run_litert(
    model: bytes, inputs: Sequence[Array], *, reference_kernels: bool = True
) -> list[Array]:
    """Run ``model`` once on LiteRT and return copies of its outputs, in output order.

    ``reference_kernels`` selects ``OpResolverType.BUILTIN_REF`` (the reference kernels) instead
    of the default optimized kernels with the XNNPACK delegate. Inputs whose batch (or dynamic)
    dimensions differ from the model's are accepted by resizing the input tensors.
    """
    interpreter = _litert(model, "BUILTIN_REF" if reference_kernels else "AUTO")
    details = interpreter.get_input_details()
    arrays = _check_count(len(details), inputs)
    for detail, array in zip(details, arrays, strict=True):
        current = tuple(int(d) for d in detail["shape"])
        if array.shape != current and _resizable(detail["shape_signature"], current, array.shape):
            interpreter.resize_tensor_input(detail["index"], list(array.shape))
    interpreter.allocate_tensors()
    for detail, array in zip(details, arrays, strict=True):
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]


def _main_inputs(model: Model | bytes) -> tuple[Subgraph, list[Tensor]]:
    """The main subgraph of ``model`` (loaded when given as bytes) and its input tensors."""
    graph = (model if isinstance(model, Model) else load(bytes(model))).main
    return graph, list(graph.inputs)


def _spec(tensor: Tensor) -> tuple[np.dtype[Any], tuple[int, ...]]:
    dtype = tensor.numpy_dtype
    if dtype is None:
        raise TFLiteKitError(f"input {tensor.name!r} has type {tensor.dtype!r}, which numpy "
                             "cannot hold")
    shape = tensor.shape_signature if tensor.shape_signature is not None else tensor.shape
    return dtype, tuple(int(d) for d in shape or ())


def input_specs(model: Model | bytes) -> list[tuple[np.dtype[Any], tuple[int, ...]]]:
    """``(dtype, shape)`` of each input of the main subgraph; dynamic dimensions are ``-1``."""
    return [_spec(t) for t in _main_inputs(model)[1]]


def _quantized_range(tensor: Tensor) -> tuple[float, float] | None:
    """Real range covered by a per-tensor quantized integer tensor, if it is one."""
    q, dtype = tensor.quantization, tensor.numpy_dtype
    if (q is None or not q.is_quantized or q.per_channel or dtype is None
            or dtype.kind not in "iu"):
        return None
    scale, zero = q.per_tensor()
    info = np.iinfo(dtype)
    return scale * (int(info.min) - zero), scale * (int(info.max) - zero)


def _float_range(graph: Subgraph, tensor: Tensor) -> tuple[float, float]:
    """Sampling range of a float input: what its QUANTIZE consumer can represent, else [-1, 1]."""
    for op in graph.operators:
        if (op.opcode.builtin_code == BuiltinOperator.QUANTIZE and op.outputs
                and any(t is tensor for t in op.inputs)):
            found = _quantized_range(op.outputs[0])
            if found is not None:
                return found
    return -1.0, 1.0


def random_inputs(model: Model | bytes, seed: int = 0) -> list[Array]:
    """Reproducible random inputs for ``model``'s main subgraph (dynamic dimensions become 1).

    Integer inputs are uniform over the dtype's full range. Float inputs are uniform over the
    real range representable by the QUANTIZE op that consumes them (float-interface quantized
    models), else over [-1, 1]. Needs no runtime.
    """
    rng = np.random.default_rng(seed)
    graph, tensors = _main_inputs(model)
    arrays: list[Array] = []
    for tensor in tensors:
        dtype, signature = _spec(tensor)
        shape = tuple(1 if d < 0 else d for d in signature)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True))
        elif dtype.kind == "b":
            arrays.append(rng.integers(0, 1, shape, endpoint=True).astype(dtype))
        elif dtype.kind == "f":
            low, high = _float_range(graph, tensor)
            arrays.append(rng.uniform(low, high, shape).astype(dtype))
        else:
            raise TFLiteKitError(f"cannot generate random values for input {tensor.name!r} "
                                 f"of type {dtype}")
    return arrays


def random_samples(model: Model, samples: int, seed: int = 0) -> list[Array]:
    """``samples`` inputs of :func:`random_inputs` (sample ``i`` drawn with seed ``seed + i``,
    so each sample can be drawn again alone), stacked per input on a new leading axis: each
    array is ``(samples, *input.shape)``."""
    if samples < 1:
        raise UsageError(f"samples must be at least 1, not {samples}")
    drawn = [random_inputs(model, seed + i) for i in range(samples)]
    return [np.stack([d[k] for d in drawn]) for k in range(len(model.main.inputs))]



# --------------------------------------------------------------------------------------------
# TFLite Micro
# --------------------------------------------------------------------------------------------


def _tflm(model: bytes, arena_size: int | None, *, preserve: bool = False) -> Any:
    """A TFLM interpreter; without ``arena_size`` the arena starts generous and grows.
    ``preserve`` (``kPreserveAllTensors``) gives every tensor its own memory, readable after
    ``invoke``."""
    runtime = _import("tflm")
    config = runtime.InterpreterConfig
    size = arena_size if arena_size is not None else max(_TFLM_MIN_ARENA, 4 * len(model))
    while True:
        try:
            return runtime.Interpreter.from_bytes(
                bytes(model),
                arena_size=size,
                intrepreter_config=(config.kPreserveAllTensors if preserve
                                    else config.kAllocationRecording),
            )
        except RuntimeError as exc:
            if arena_size is not None or "allocate" not in str(exc) or size >= _TFLM_MAX_ARENA:
                raise
            size *= 2


def _tflm_io_counts(model: bytes) -> tuple[int, int]:
    """Numbers of inputs and outputs of the main subgraph (TFLM has no API for them)."""
    schema = _import("tflm").schema_fb
    subgraph = schema.Model.GetRootAsModel(model, 0).Subgraphs(0)
    return int(subgraph.InputsLength()), int(subgraph.OutputsLength())


def _samples(shapes: Sequence[tuple[int, ...]], arrays: Sequence[Array]
             ) -> tuple[int, list[Array]]:
    """N, the number of invocations, and the inputs stacked per sample, ``(N, *shape)`` each.
    An input may have the model's shape (N = 1), be such a stack, or carry N in place of the
    model's dimension 0 of 1; all inputs must agree on N."""
    if not arrays:
        return 1, []
    stacked = []
    for s, a in zip(shapes, arrays, strict=True):
        if a.shape == s:
            stacked.append(a[None])
        elif a.ndim == len(s) + 1 and a.shape[1:] == s:
            stacked.append(a)
        elif s and s[0] == 1 and a.ndim == len(s) and a.shape[1:] == s[1:]:
            stacked.append(a.reshape(a.shape[0], *s))
        else:
            stacked = []
            break
    if not stacked or len({a.shape[0] for a in stacked}) != 1 or stacked[0].shape[0] < 1:
        got = [a.shape for a in arrays]
        raise TFLiteKitError(f"input shapes {got} do not match the model's {list(shapes)}")
    return stacked[0].shape[0], stacked


def _tflm_runs(model: bytes, inputs: Sequence[Array], arena_size: int | None,
               preserve: bool) -> Iterator[tuple[Any, int]]:
    """Invoke TFLM once per sample; yields the interpreter after each invocation, with the
    number of outputs."""
    interpreter = _tflm(model, arena_size, preserve=preserve)
    n_inputs, n_outputs = _tflm_io_counts(model)
    arrays = _check_count(n_inputs, inputs)
    shapes = [
        tuple(int(d) for d in interpreter.get_input_details(i)["shape"]) for i in range(n_inputs)
    ]
    n, stacked = _samples(shapes, arrays)
    for sample in range(n):
        if sample:
            interpreter.reset()
        for i, array in enumerate(stacked):
            interpreter.set_input(array[sample], i)
        interpreter.invoke()
        yield interpreter, n_outputs


def run_tflm(
    model: bytes, inputs: Sequence[Array], *, arena_size: int | None = None
) -> list[Array]:
    """Run ``model`` on TFLite Micro and return copies of its outputs, in output order.

    TFLM cannot resize tensors, so ``n`` samples (inputs stacked as ``(n, *shape)``, or
    carrying ``n`` in place of the model's batch of 1) are ``n`` invocations (state reset in
    between), whose outputs are concatenated along axis 0. Without ``arena_size`` the arena
    starts at max(8 MiB, 4x model size) and doubles on allocation failure.
    """
    per_sample = [
        [np.array(interpreter.get_output(i)) for i in range(n_outputs)]
        for interpreter, n_outputs in _tflm_runs(bytes(model), inputs, arena_size, False)
    ]
    if len(per_sample) == 1:
        return per_sample[0]
    return [np.concatenate(outs) if outs[0].ndim else np.stack(outs)
            for outs in zip(*per_sample, strict=True)]


# --------------------------------------------------------------------------------------------
# Every tensor
# --------------------------------------------------------------------------------------------


def computed_tensors(model: Model | bytes) -> list[int]:
    """Indices, in the main subgraph, of the tensors a run computes: its inputs and the outputs
    of its operators that hold no constant data (the tensors :func:`tflm_tensors` returns)."""
    graph = (model if isinstance(model, Model) else load(bytes(model))).main
    index = {id(t): i for i, t in enumerate(graph.tensors)}
    found = {index[id(t)] for t in graph.inputs}
    found.update(index[id(t)] for op in graph.operators for t in op.outputs
                 if t is not None and not t.is_constant)
    return sorted(found)


def _stack(per_sample: list[dict[int, Array]]) -> dict[int, Array]:
    return {i: np.stack([values[i] for values in per_sample]) for i in per_sample[0]}


def tflm_tensors(
    model: bytes, inputs: Sequence[Array], *, arena_size: int | None = None
) -> dict[int, Array]:
    """Every tensor the main subgraph computes, on TFLite Micro: tensor index (see
    :func:`computed_tensors`) to its values stacked over the samples, ``(N, *tensor.shape)``.

    TFLM runs with ``kPreserveAllTensors`` (every tensor keeps its own memory) one sample at a
    time: the inputs have the model's shapes (N = 1), or hold N samples as for
    :func:`run_tflm`.
    """
    model = bytes(model)
    indices = computed_tensors(model)
    per_sample = [
        {i: np.array(interpreter.GetTensor(i, 0)["tensor_data"]) for i in indices}
        for interpreter, _ in _tflm_runs(model, inputs, arena_size, True)
    ]
    return _stack(per_sample)


def litert_tensors(model: bytes, inputs: Sequence[Array]) -> dict[int, Array]:
    """Every tensor the main subgraph computes, on LiteRT's reference kernels
    (``BUILTIN_REF``, ``experimental_preserve_all_tensors``): the oracle for models TFLite
    Micro cannot run, such as hybrid (dynamic-range) operators. Same inputs and result as
    :func:`tflm_tensors`; each sample runs separately.
    """
    model = bytes(model)
    indices = computed_tensors(model)
    interpreter = _litert(model, "BUILTIN_REF", preserve=True)
    details = interpreter.get_input_details()
    arrays = _check_count(len(details), inputs)
    n, stacked = _samples([tuple(int(d) for d in x["shape"]) for x in details], arrays)
    interpreter.allocate_tensors()
    per_sample = []
    for sample in range(n):
        for detail, array in zip(details, stacked, strict=True):
            interpreter.set_tensor(detail["index"], array[sample])
        interpreter.invoke()
        per_sample.append({i: np.array(interpreter.get_tensor(i)) for i in indices})
    return _stack(per_sample)

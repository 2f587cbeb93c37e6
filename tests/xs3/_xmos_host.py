"""Test-only oracle: xmos' host interpreter (TFLite Micro with xmos' XC operators, from
``xmos-ai-tools``), run one sample at a time.

Only the package's public Python class is used (``xinterpreters.TFLMHostInterpreter``), plus its
own C entry points for the per-sample loop, so that the loop costs what the library costs and
not what its Python wrapper re-parses on every call. The wrapper imports the ``tflite`` package
(``pip install --no-deps xmos-ai-tools tflite``).
"""

from __future__ import annotations

import ctypes
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tflitekit import Model, OperatorCode, Tensor
from tflitekit.options import BuiltinOperator, ReshapeOptions
from tflitekit.runtimes import random_samples

__all__ = ["HOST_MAX_OUTPUTS", "HostInterpreter", "compare_with_host", "host_tensors", "run_host",
           "samples_with_extremes"]

HOST_MAX_OUTPUTS = 40
"""Outputs xmos' host interpreter accepts (``NUM_OUTPUT_TENSORS`` of its ``xtflm_conf.h``)."""


class HostInterpreter:
    """One model on xmos' host interpreter; :meth:`run` invokes it once per sample."""

    def __init__(self, model: bytes) -> None:
        from xmos_ai_tools.xinterpreters import TFLMHostInterpreter, host_interpreter
        self._lib: Any = host_interpreter.lib
        self._ip = TFLMHostInterpreter()
        self._ip.set_model(model_content=bytes(model))
        self.inputs = [(np.dtype(d["dtype"]), tuple(int(s) for s in d["shape"]))
                       for d in self._ip.get_input_details()]
        self.outputs = [(np.dtype(d["dtype"]), tuple(int(s) for s in d["shape"]))
                        for d in self._ip.get_output_details()]

    def close(self) -> None:
        self._ip.close()

    def invoke(self, sample: Sequence[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
        """One invocation on one sample (each input with the model's shape)."""
        lib, obj = self._lib, self._ip.obj
        for i, ((dtype, shape), x) in enumerate(zip(self.inputs, sample, strict=True)):
            data = np.ascontiguousarray(x, dtype).reshape(shape)
            if lib.set_input_tensor(obj, i, data.ctypes.data_as(ctypes.c_void_p),
                                    data.nbytes) != 0:
                raise RuntimeError(f"xmos host interpreter: cannot set input {i}")
        if lib.invoke(obj) != 0:
            raise RuntimeError("xmos host interpreter: invoke failed")
        outs = []
        for i, (dtype, shape) in enumerate(self.outputs):
            out = np.empty(shape, dtype)
            if lib.get_output_tensor(obj, i, out.ctypes.data_as(ctypes.c_void_p),
                                     out.nbytes) != 0:
                raise RuntimeError(f"xmos host interpreter: cannot read output {i}")
            outs.append(out)
        return outs

    def run(self, inputs: Sequence[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
        """Every output, stacked over the samples: ``inputs`` hold N samples each,
        ``(N, *shape)``, or ``(N, *shape[1:])`` for a model batch of 1."""
        arrays = [np.asarray(x) for x in inputs]
        n = len(arrays[0])
        per_sample = [self.invoke([a[k] for a in arrays]) for k in range(n)]
        return [np.stack([s[i] for s in per_sample]) for i in range(len(self.outputs))]


def run_host(model: bytes, inputs: Sequence[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
    """:meth:`HostInterpreter.run` on a fresh interpreter."""
    host = HostInterpreter(model)
    try:
        return host.run(inputs)
    finally:
        host.close()


def host_tensors(model: Model, inputs: Sequence[npt.NDArray[Any]], tensors: Sequence[Tensor]
                 ) -> dict[int, npt.NDArray[Any]]:
    """``tensors`` of ``model``'s main subgraph as xmos' host interpreter computes them on
    ``inputs`` (N samples each), by ``id`` of the tensor: copies of the model whose outputs are
    those tensors, :data:`HOST_MAX_OUTPUTS` at a time, without xcore-opt's offline arena plan
    (made for the file's own outputs, it lets other tensors overwrite the new ones). Without
    that plan an ``XC_no_op`` (which copies nothing: its output aliases its input in the plan)
    would leave its output unwritten, so the copies run it as the RESHAPE it stands for."""
    copy = model.copy()
    copy.metadata = [m for m in copy.metadata if m.name != "OfflineMemoryAllocation"]
    for op in copy.main.operators:
        if op.opcode.custom_code == "XC_no_op":
            op.opcode = OperatorCode(BuiltinOperator.RESHAPE)
            op.options = ReshapeOptions(new_shape=list(op.outputs[0].shape or ()))
            op.custom_options = None
    index = {id(t): i for i, t in enumerate(model.main.tensors)}
    wanted = [copy.main.tensors[index[id(t)]] for t in tensors]
    values: dict[int, npt.NDArray[Any]] = {}
    for start in range(0, len(wanted), HOST_MAX_OUTPUTS):
        copy.main.outputs = wanted[start:start + HOST_MAX_OUTPUTS]
        outs = run_host(copy.to_bytes(), inputs)
        values.update((id(tensors[start + i]), o) for i, o in enumerate(outs))
    return values


def samples_with_extremes(model: Model, samples: int, seed: int = 0
                          ) -> list[npt.NDArray[Any]]:
    """``samples`` random inputs (:func:`~tflitekit.runtimes.random_samples`) followed by one
    all-minimum and one all-maximum sample (integer inputs: the dtype's range; float: ±4)."""
    out = []
    for x in random_samples(model, samples, seed):
        lo, hi = ((-4.0, 4.0) if x.dtype.kind == "f"
                  else (np.iinfo(x.dtype).min, np.iinfo(x.dtype).max))
        out.append(np.concatenate([x, np.full_like(x[:1], lo), np.full_like(x[:1], hi)]))
    return out


def _planned_outputs(model: Model, inputs: Sequence[npt.NDArray[Any]]
                     ) -> list[npt.NDArray[Any]]:
    """The file's own outputs as the host computes them with the file's offline plan (where
    ``XC_no_op`` aliases), :data:`HOST_MAX_OUTPUTS` at a time (more crash the host; a subset of
    the planned outputs keeps the plan valid)."""
    outputs = list(model.main.outputs)
    if len(outputs) <= HOST_MAX_OUTPUTS:
        return run_host(model.to_bytes(), inputs)
    copy = model.copy()
    index = {id(t): i for i, t in enumerate(model.main.tensors)}
    values = []
    for start in range(0, len(outputs), HOST_MAX_OUTPUTS):
        part = outputs[start:start + HOST_MAX_OUTPUTS]
        copy.main.outputs = [copy.main.tensors[index[id(t)]] for t in part]
        values += run_host(copy.to_bytes(), inputs)
    return values


@dataclass
class HostComparison:
    """What :func:`compare_with_host` compared: tensors by the operator computing them, and
    a line per tensor that differs."""

    by_operator: Counter[str] = field(default_factory=Counter)
    differing: list[str] = field(default_factory=list)


def compare_with_host(model: Model, inputs: Sequence[npt.NDArray[Any]]) -> HostComparison:
    """Run ``model`` (an xcore-opt conversion) on tflitekit's XS3 backend (no lowering) and on
    xmos' host interpreter, and compare every tensor tflitekit computes (through
    :func:`host_tensors`) and the file's own outputs (run as the file is, with its offline
    plan, where ``XC_no_op`` aliases) bit for bit."""
    from tflitekit.xs3.backend import xs3_interpreter

    interpreter = xs3_interpreter(model, lower=False)
    interpreter.run(inputs, keep=True)
    producers = {id(t): op.opcode.name for op in model.main.operators for t in op.outputs}
    ours = [(t, v) for t, v in interpreter.tensors() if id(t) in producers]
    theirs = host_tensors(model, inputs, [t for t, _ in ours])
    planned = _planned_outputs(model, inputs)
    result = HostComparison()
    checks = [(t, v, theirs[id(t)]) for t, v in ours]
    checks += [(t, interpreter.tensor(t), v)  # outputs an operator computes (not constants)
               for t, v in zip(model.main.outputs, planned, strict=True) if id(t) in producers]
    for tensor, a, b in checks:
        result.by_operator[producers[id(tensor)]] += 1
        a = np.asarray(a).reshape(b.shape)
        if not np.array_equal(a, b):
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            result.differing.append(f"{producers[id(tensor)]} -> {tensor.name!r}: "
                                    f"{int((diff != 0).sum())} of {diff.size} differ "
                                    f"(max {diff.max():g})")
    return result

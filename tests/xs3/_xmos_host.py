"""Test-only oracle: xmos' host interpreter (TFLite Micro with xmos' XC operators, from
``xmos-ai-tools``), run one sample at a time.

Only the package's public Python class is used (``xinterpreters.TFLMHostInterpreter``), plus its
own C entry points for the per-sample loop, so that the loop costs what the library costs and
not what its Python wrapper re-parses on every call. The wrapper imports the ``tflite`` package
(``pip install --no-deps xmos-ai-tools tflite``).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["HostInterpreter", "run_host"]


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

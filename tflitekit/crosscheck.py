"""Run a model on tflitekit's interpreter and on a reference runtime, and compare every tensor.

:func:`crosscheck` runs both on the same inputs and measures, for every tensor the main subgraph
computes (in execution order), the largest absolute difference and the share of bit-identical
elements, so the first operator where two runtimes part is plain to see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import TFLiteKitError, UsageError
from .interpreter import Interpreter, Progress, Rounding
from .ir import Model, dtypes
from .runtimes import litert_tensors, random_samples, tflm_tensors

__all__ = ["Agreement", "Oracle", "TensorAgreement", "crosscheck"]

Array = np.ndarray
Oracle = Literal["tflm", "litert"]
_ORACLES = {"tflm": "TFLite Micro", "litert": "LiteRT"}
"""``tflm``: TensorFlow Lite Micro; ``litert``: LiteRT's reference kernels (``BUILTIN_REF``)."""


@dataclass(frozen=True)
class TensorAgreement:
    """How one tensor compares: ``operator`` is the index of the operator computing it (None
    for a subgraph input), ``identical`` the number of bit-identical elements of ``elements``."""

    operator: int | None
    opcode: str
    tensor: str
    dtype: str
    elements: int
    identical: int
    max_abs_diff: float

    @property
    def identical_share(self) -> float:
        return self.identical / self.elements if self.elements else 1.0

    @property
    def exact(self) -> bool:
        return self.identical == self.elements

    def to_json(self) -> dict[str, Any]:
        return {"operator": self.operator, "opcode": self.opcode, "tensor": self.tensor,
                "dtype": self.dtype, "elements": self.elements, "identical": self.identical,
                "identical_share": self.identical_share, "max_abs_diff": self.max_abs_diff}


@dataclass(frozen=True)
class Agreement:
    """The comparison of every computed tensor, in execution order."""

    against: Oracle
    samples: int
    tensors: tuple[TensorAgreement, ...]

    @property
    def exact(self) -> bool:
        return all(t.exact for t in self.tensors)

    @property
    def first_difference(self) -> TensorAgreement | None:
        return next((t for t in self.tensors if not t.exact), None)

    def to_json(self) -> dict[str, Any]:
        first = self.first_difference
        return {"against": self.against, "samples": self.samples, "exact": self.exact,
                "first_difference": None if first is None else first.to_json(),
                "tensors": [t.to_json() for t in self.tensors]}


def crosscheck(model: Model, *, against: Oracle = "tflm", samples: int = 20, seed: int = 0,
               inputs: Sequence[Array] | None = None, rounding: Rounding = "double",
               progress: Progress | None = None) -> Agreement:
    """Compare every tensor computed by tflitekit's interpreter with ``against``'s, on
    ``inputs`` (a leading batch per input) or on
    :func:`~tflitekit.runtimes.random_samples`."""
    if against not in ("tflm", "litert"):
        raise UsageError(f"against must be 'tflm' or 'litert', not {against!r}")
    interpreter = Interpreter(model, rounding=rounding)
    arrays = list(inputs) if inputs is not None else random_samples(model, samples, seed)
    interpreter.run(arrays, keep=True, progress=progress)
    oracle = tflm_tensors if against == "tflm" else litert_tensors
    try:
        theirs = oracle(model.to_bytes(), arrays)
    except (RuntimeError, ValueError) as exc:  # the runtime refuses the model
        hint = (" (LiteRT's reference kernels run more models: against 'litert')"
                if against == "tflm" else "")
        raise TFLiteKitError(f"{_ORACLES[against]} cannot run the model: "
                             f"{str(exc).strip()}{hint}") from exc
    index = {id(t): i for i, t in enumerate(model.main.tensors)}
    producers = {id(t): (i, op.opcode.name) for i, op in enumerate(interpreter.operators)
                 for t in op.outputs}
    results = []
    n = 0
    for tensor, ours in interpreter.tensors():
        want = theirs[index[id(tensor)]].reshape(ours.shape)
        n = ours.shape[0]
        operator, opcode = producers.get(id(tensor), (None, "input"))
        results.append(_agreement(operator, opcode, tensor.name or "", dtypes.name(tensor.dtype),
                                  ours, want))
    return Agreement(against, n, tuple(results))


def _agreement(operator: int | None, opcode: str, name: str, dtype: str, ours: Array,
               theirs: Array) -> TensorAgreement:
    identical = 0
    if ours.dtype == theirs.dtype and ours.size:
        a, b = (np.ascontiguousarray(x).reshape(-1) for x in (ours, theirs))
        same = a.view(np.uint8).reshape(a.size, -1) == b.view(np.uint8).reshape(b.size, -1)
        identical = int(same.all(axis=1).sum())
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    return TensorAgreement(operator, opcode, name, dtype, int(ours.size), identical, worst)

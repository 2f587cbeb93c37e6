"""How far a model run on XS3 kernels is from TFLite Micro, layer by layer.

:func:`compare` runs a model with tflitekit's own XS3 lowering
(:func:`~tflitekit.xs3.backend.xs3_interpreter`) and on a reference, by default tflitekit's
reference interpreter (bit-exact with TFLite Micro), and for every tensor an operator computes
reports the share of elements that differ and the largest difference. Given the model's xcore-opt
conversion, it does the same for xmos' own lowering, tensor by tensor (matched by name), side by
side.

The statistics are **end to end**: each run feeds its own results to the next layer, as the
device does, so a layer's differences include those its inputs inherited from earlier layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tflitekit.errors import UnsupportedOperatorError, UsageError
from tflitekit.interpreter import Interpreter
from tflitekit.ir import Model, Tensor
from tflitekit.xs3.backend import xs3_interpreter
from tflitekit.xs3.lowering import lower_node

__all__ = ["Comparison", "Difference", "LayerComparison", "LayerMismatch", "Oracle", "compare",
           "lowered_mismatch"]

Array = npt.NDArray[Any]
TensorsOf = Callable[[bytes, Sequence[Array]], Mapping[int, Array]]
"""Every tensor a runtime computes for a model's bytes and inputs, by tensor index (the
signature of :func:`tflitekit.runtimes.tflm_tensors`)."""


@dataclass(frozen=True)
class Oracle:
    """A reference other than tflitekit's own interpreter: its ``name`` (``"tflm"``) and the
    function giving every tensor it computes, such as ``Oracle("tflm",
    runtimes.tflm_tensors)``."""

    name: str
    tensors: TensorsOf


@dataclass(frozen=True)
class Difference:
    """``differing`` of ``elements`` values are not equal to the reference; the largest
    absolute difference is ``max_abs_diff``."""

    elements: int
    differing: int
    max_abs_diff: float

    @property
    def share(self) -> float:
        """The share of differing elements (0 for no element)."""
        return self.differing / self.elements if self.elements else 0.0

    @property
    def max_diff(self) -> float | int:
        """:attr:`max_abs_diff`, as an int when it is whole (integer tensors)."""
        whole = float(self.max_abs_diff).is_integer()
        return int(self.max_abs_diff) if whole else self.max_abs_diff

    def __add__(self, other: Difference) -> Difference:
        return Difference(self.elements + other.elements, self.differing + other.differing,
                          max(self.max_abs_diff, other.max_abs_diff))

    def to_json(self) -> dict[str, Any]:
        return {"elements": self.elements, "differing": self.differing, "share": self.share,
                "max_abs_diff": self.max_diff}

    def __str__(self) -> str:
        return f"{100 * self.share:.2f}% (max {self.max_diff})"


@dataclass(frozen=True)
class LayerComparison:
    """One computed tensor: the ``operator`` (index) and ``opcode`` of the model computing it,
    the ``backend`` that ran it in our lowering and how ours differs; with an xcore-opt model,
    the operator that computes the tensor of the same name there (``xcore_opcode``) and how it
    differs, both None when no tensor of that name, shape and type is there."""

    operator: int
    opcode: str
    tensor: str
    backend: str
    ours: Difference
    xcore_opcode: str | None = None
    xcore: Difference | None = None

    def to_json(self) -> dict[str, Any]:
        return {"operator": self.operator, "opcode": self.opcode, "tensor": self.tensor,
                "backend": self.backend, "ours": self.ours.to_json(),
                "xcore_opcode": self.xcore_opcode,
                "xcore": None if self.xcore is None else self.xcore.to_json()}


@dataclass(frozen=True)
class Comparison:
    """Every computed tensor of a model, in execution order, against ``against`` (``reference``
    for tflitekit's interpreter, else the oracle's name) on ``samples`` inputs; ``with_xcore``
    when an xcore-opt model was compared too. Differences are end to end (module docstring)."""

    against: str
    samples: int
    layers: tuple[LayerComparison, ...]
    with_xcore: bool = False

    @property
    def ours(self) -> Difference:
        """Our lowering over every compared element."""
        return _sum(layer.ours for layer in self.layers)

    @property
    def matched(self) -> tuple[LayerComparison, ...]:
        """The layers compared on the xcore-opt model too."""
        return tuple(layer for layer in self.layers if layer.xcore is not None)

    @property
    def unmatched(self) -> tuple[str, ...]:
        """With an xcore-opt model: the tensors it does not compute under the same name."""
        if not self.with_xcore:
            return ()
        return tuple(layer.tensor for layer in self.layers if layer.xcore is None)

    @property
    def ours_on_matched(self) -> Difference:
        """Our lowering over the tensors the xcore-opt model was compared on (the fair
        comparison with :attr:`xcore`)."""
        return _sum(layer.ours for layer in self.matched)

    @property
    def xcore(self) -> Difference | None:
        """The xcore-opt model over its matched tensors; None without one."""
        if not self.with_xcore:
            return None
        return _sum(layer.xcore for layer in self.matched if layer.xcore is not None)

    def worst(self, side: str = "ours") -> LayerComparison | None:
        """The layer with the largest share of differing elements for ``side`` (``"ours"`` or
        ``"xcore"``); None when none differs."""
        if side not in ("ours", "xcore"):
            raise UsageError(f"side must be 'ours' or 'xcore', not {side!r}")
        scored = [(d.share, layer) for layer in self.layers
                  if (d := layer.ours if side == "ours" else layer.xcore) is not None
                  and d.differing]
        return max(scored, key=lambda s: s[0])[1] if scored else None

    def to_json(self) -> dict[str, Any]:
        worst, xworst = self.worst("ours"), self.worst("xcore")
        xcore = self.xcore
        return {
            "against": self.against, "samples": self.samples,
            "totals": {"ours": self.ours.to_json(),
                       "ours_on_matched": self.ours_on_matched.to_json()
                       if self.with_xcore else None,
                       "xcore": None if xcore is None else xcore.to_json()},
            "worst": {"ours": None if worst is None else worst.operator,
                      "xcore": None if xworst is None else xworst.operator},
            "unmatched": list(self.unmatched),
            "layers": [layer.to_json() for layer in self.layers]}

    def __str__(self) -> str:
        header = ["#", "operator", "backend", "tensor", "elements", "ours differ", "max"]
        if self.with_xcore:
            header += ["xcore-opt", "differ", "max"]
        rows = [[str(x.operator), x.opcode, x.backend, _short(x.tensor), f"{x.ours.elements:,}",
                 *_cells(x.ours)] + ([x.xcore_opcode or "not matched", *_cells(x.xcore)]
                                     if self.with_xcore else [])
                for x in self.layers]
        return "\n".join([*_table(header, rows, right={0, 4, 5, 6, 8, 9}), *self._summary()])

    def _summary(self) -> Iterator[str]:
        yield (f"ours (XS3 lowering) vs {self.against}, {self.samples} sample(s), end to end: "
               f"{self.ours} of {self.ours.elements:,} elements differ"
               + _worst_text(self.worst("ours")))
        xcore = self.xcore
        if xcore is not None:
            yield (f"xcore-opt vs {self.against} on {len(self.matched)} matched tensor(s): "
                   f"{xcore} differ" + _worst_text(self.worst("xcore"))
                   + f"; ours on the same tensors: {self.ours_on_matched}")
        if self.unmatched:
            yield (f"not in the xcore-opt model: {', '.join(self.unmatched)} (convert the "
                   "model after the expose-intermediates pass to match every tensor by name)")


def compare(model: Model, inputs: Sequence[Array], *, xcore: Model | None = None,
            against: Oracle | None = None) -> Comparison:
    """Compare, tensor by tensor, ``model`` run on our XS3 lowering with the reference
    (``against``; default tflitekit's interpreter, bit-exact with TFLite Micro), on ``inputs``
    (one array per input, with a leading batch).

    ``xcore`` is the model's xcore-opt conversion, made after
    :func:`~tflitekit.passes.expose_intermediates` so that every tensor of ``model`` is one of
    its outputs under the same name: it runs on xmos' operators (``xs3_interpreter(xcore,
    lower=False)``) and each tensor of the same name, shape and type is compared too.
    Differences are end to end: errors propagate from layer to layer, as on the device.
    """
    arrays = [np.asarray(a) for a in inputs]
    ours = xs3_interpreter(model)
    ours.run(arrays, keep=True)
    reference = _reference(model, arrays, against)
    theirs = _xcore_tensors(xcore, arrays) if xcore is not None else {}
    layers = []
    for i, (op, placement) in enumerate(zip(ours.operators, ours.plan.placements, strict=True)):
        for t in op.outputs:
            if t is None or t.is_constant:
                continue
            value = ours.tensor(t)
            want = reference(t).reshape(value.shape)
            opcode, found = theirs.get(_key(t), (None, None))
            layers.append(LayerComparison(
                i, op.opcode.name, t.name or "", placement.backend or "", _difference(value, want),
                opcode, None if found is None else _difference(found.reshape(value.shape), want)))
    samples = len(ours.tensor(ours.inputs[0])) if ours.inputs else 1
    return Comparison("reference" if against is None else against.name, samples, tuple(layers),
                      xcore is not None)


def _reference(model: Model, arrays: list[Array], against: Oracle | None
               ) -> Callable[[Tensor], Array]:
    """The reference value of each computed tensor of ``model``."""
    if against is None:
        interpreter = Interpreter(model)
        interpreter.run(arrays, keep=True)
        return interpreter.tensor
    values = against.tensors(model.to_bytes(), arrays)
    index = {id(t): i for i, t in enumerate(model.main.tensors)}
    return lambda t: np.asarray(values[index[id(t)]])


def _key(t: Tensor) -> tuple[str, tuple[int, ...], Any]:
    return t.name or "", tuple(t.shape or ()), t.numpy_dtype


def _xcore_tensors(xcore: Model, arrays: list[Array]) -> dict[tuple[str, tuple[int, ...], Any],
                                                               tuple[str, Array]]:
    """(opcode, value) of every tensor ``xcore`` computes, keyed by name, shape and type; a
    subgraph output wins over an inner tensor of the same key."""
    interpreter = xs3_interpreter(xcore, lower=False)
    interpreter.run(arrays, keep=True)
    producers = {id(t): op.opcode.name if op.opcode.custom_code is None
                 else op.opcode.custom_code for op in interpreter.operators for t in op.outputs}
    outputs = {id(t) for t in interpreter.outputs}
    found: dict[tuple[str, tuple[int, ...], Any], tuple[str, Array]] = {}
    ordered = sorted(interpreter.tensors(), key=lambda item: id(item[0]) in outputs)
    for t, value in ordered:  # outputs last, so they replace inner tensors of the same key
        if id(t) in producers:
            found[_key(t)] = producers[id(t)], value
    return found


def _difference(ours: Array, want: Array) -> Difference:
    if ours.dtype == want.dtype and ours.dtype.kind in "iub":
        differ = ours != want
    else:
        a, b = ours.astype(np.float64), want.astype(np.float64)
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    diff = np.abs(ours.astype(np.float64) - want.astype(np.float64))
    worst = float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else 0.0
    return Difference(int(ours.size), int(np.count_nonzero(differ)), worst)


def _sum(differences: Iterable[Difference]) -> Difference:
    total = Difference(0, 0, 0.0)
    for d in differences:
        total = total + d
    return total


def _cells(d: Difference | None) -> list[str]:
    return ["-", "-"] if d is None else [f"{100 * d.share:.2f}%", str(d.max_diff)]


def _short(name: str, width: int = 40) -> str:
    """A TensorFlow tensor name (``a;b;c``, one part per fused operation) as its last part, at
    most ``width`` characters."""
    last = name.rsplit(";", 1)[-1]
    return last if len(last) <= width else "..." + last[3 - width:]


def _worst_text(layer: LayerComparison | None) -> str:
    return "" if layer is None else f"; worst layer {layer.operator} {layer.opcode}"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in [header, *rows]]


@dataclass(frozen=True)
class LayerMismatch:
    """One lowered layer (operator ``index``) against the reference, isolated."""

    index: int
    opcode: str
    difference: Difference


def lowered_mismatch(model: Model, inputs: Sequence[Array]) -> list[LayerMismatch]:
    """Each layer our lowering takes, run on its input as the reference interpreter (bit-exact
    with TFLite Micro) computed it, against that interpreter's output: the differences of the
    lowering alone, not inherited from earlier layers (unlike :func:`compare`)."""
    reference = Interpreter(model)
    reference.run(inputs, keep=True)
    rows = []
    for i, (op, node) in enumerate(zip(reference.operators, reference.nodes, strict=True)):
        try:
            layer = lower_node(node)
        except UnsupportedOperatorError:
            continue
        source = op.inputs[0]
        assert source is not None
        got = layer.compute(reference.tensor(source))
        want = reference.tensor(op.outputs[0]).reshape(got.shape)
        rows.append(LayerMismatch(i, node.name, _difference(got, want)))
    return rows

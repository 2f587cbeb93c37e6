"""Where a model spends its time on xcore.ai: instructions and estimated cycles per layer.

:func:`profile` places a model as :func:`~tflitekit.xs3.backend.xs3_interpreter` does (our
lowering of a plain TFLite model, or xmos' XC operators of an xcore-opt file), counts the
instructions each layer's XS3 program executes per sample
(:func:`~tflitekit.xs3.backend.program_counts`), and turns them into cycles and time under a
:class:`~tflitekit.xs3.estimate.CycleModel` (see :mod:`tflitekit.xs3.estimate` for what the
estimate assumes). Operators left to the reference kernels would run on the scalar core as
plain C; they are listed, with the reason, but not estimated.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tflitekit.interpreter import Node, Placement, Progress
from tflitekit.ir import Model
from tflitekit.xs3.backend import XS3Backend, program_counts, xs3_interpreter
from tflitekit.xs3.estimate import CycleModel, Estimate, estimate
from tflitekit.xs3.lowering import Lowered
from tflitekit.xs3.xc.conv2d import Conv2dParams

__all__ = ["NOT_ESTIMATED", "UNMODELLED", "LayerProfile", "Profile", "macs", "profile"]

NOT_ESTIMATED = "runs on the reference kernels (C on the scalar core): not estimated"
UNMODELLED = "runs on an XS3 kernel whose instruction program is not modelled: not estimated"


@dataclass(frozen=True)
class LayerProfile:
    """One operator: its ``index``, ``opcode``, the ``backend`` that runs it and its ``macs``
    (see :func:`macs`); ``counts`` (mnemonic -> instructions per sample,
    ``other`` for scalar ones) and ``cost`` when it runs on the XS3 kernels, else the
    ``reason`` it is not estimated."""

    index: int
    opcode: str
    backend: str
    macs: int | None
    counts: dict[str, int] | None
    cost: Estimate | None
    reason: str | None = None

    @property
    def counted(self) -> bool:
        return self.cost is not None

    def to_json(self) -> dict[str, Any]:
        cost = self.cost
        return {"index": self.index, "opcode": self.opcode, "backend": self.backend,
                "macs": self.macs, "counts": self.counts,
                "instructions": None if cost is None else cost.instructions,
                "vector": None if cost is None else cost.vpu,
                "scalar": None if cost is None else cost.other,
                "thread_cycles": None if cost is None else cost.thread_cycles,
                "microseconds": None if cost is None else cost.microseconds,
                "reason": self.reason}


@dataclass(frozen=True)
class Profile:
    """Every operator of a model, in execution order, costed per sample under ``cycle_model``
    (module docstring)."""

    layers: tuple[LayerProfile, ...]
    cycle_model: CycleModel

    @property
    def total(self) -> Estimate:
        """The estimated layers together."""
        counts: dict[str, int] = {}
        for layer in self.counted:
            for name, n in (layer.counts or {}).items():
                counts[name] = counts.get(name, 0) + n
        return estimate(counts, self.cycle_model)

    @property
    def counted(self) -> tuple[LayerProfile, ...]:
        return tuple(layer for layer in self.layers if layer.counted)

    @property
    def not_counted(self) -> tuple[LayerProfile, ...]:
        return tuple(layer for layer in self.layers if not layer.counted)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of every layer with weights."""
        return sum(layer.macs or 0 for layer in self.layers)

    def share(self, layer: LayerProfile) -> float:
        """``layer``'s share of the estimated instructions (0 when not estimated)."""
        total = self.total.instructions
        return layer.cost.instructions / total if layer.cost is not None and total else 0.0

    def top(self, n: int = 3) -> tuple[LayerProfile, ...]:
        """The ``n`` estimated layers that cost most, costliest first."""
        ranked = sorted(self.counted, key=lambda x: -(x.cost.instructions if x.cost else 0))
        return tuple(ranked[:n])

    def to_json(self) -> dict[str, Any]:
        total = self.total
        return {"cycle_model": self.cycle_model.to_json(), "macs": self.macs,
                "total": total.to_json() | {"microseconds": total.microseconds},
                "top": [layer.index for layer in self.top()],
                "not_estimated": [layer.index for layer in self.not_counted],
                "layers": [layer.to_json() | {"share": self.share(layer)}
                           for layer in self.layers]}

    def __str__(self) -> str:
        header = ["#", "operator", "backend", "MACs", "vector", "scalar", "thread cycles", "µs",
                  "share"]
        rows = [self._row(layer) for layer in self.layers]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) if i in (1, 2) else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in [header, *rows]]
        return "\n".join([*lines, *self._summary()])

    def _row(self, layer: LayerProfile) -> list[str]:
        cost = layer.cost
        macs = "" if layer.macs is None else f"{layer.macs:,}"
        if cost is None:
            return [str(layer.index), layer.opcode, layer.backend, macs, "-", "-", "-", "-", "-"]
        return [str(layer.index), layer.opcode, layer.backend, macs, f"{cost.vpu:,}",
                f"{cost.other:,}", f"{cost.thread_cycles:,}", f"{cost.microseconds:.1f}",
                f"{100 * self.share(layer):.1f}%"]

    def _summary(self) -> Iterator[str]:
        total, model = self.total, self.cycle_model
        yield (f"total: {total.instructions:,} instructions ({total.vpu:,} vector, "
               f"{total.other:,} scalar) per sample = {total.core_clocks:,} core clocks = "
               f"{total.microseconds:,.1f} µs at {model.clock_mhz:g} MHz with "
               f"{model.threads} active thread(s); {self.macs:,} MACs")
        top = self.top()
        if top:
            yield "dominant: " + ", ".join(f"{x.index} {x.opcode} {100 * self.share(x):.1f}%"
                                           for x in top)
        for backend, where in (("reference", "on the reference kernels (C on the scalar core)"),
                               ("xs3", "on XS3 kernels whose program is not modelled")):
            kinds = Counter(x.opcode for x in self.not_counted if x.backend == backend)
            if kinds:
                ops = ", ".join(f"{n} {op}" for op, n in kinds.items())
                yield f"not estimated: {ops}, {where}"


def profile(model: Model, *, cycle_model: CycleModel | None = None,
            progress: Progress | None = None) -> Profile:
    """The per-sample instructions and estimated cycles of every operator of ``model``, placed
    as :func:`~tflitekit.xs3.backend.xs3_interpreter` places it (default cycle model: 800 MHz,
    one active thread). Counting runs each layer's program once (seconds for a large model);
    ``progress(done, total)`` is called after each operator."""
    timing = CycleModel() if cycle_model is None else cycle_model
    interpreter = xs3_interpreter(model)
    pairs = list(zip(interpreter.nodes, interpreter.plan.placements, strict=True))
    layers = []
    for node, placement in pairs:
        layers.append(_layer(node, placement, timing))
        if progress is not None:
            progress(len(layers), len(pairs))
    return Profile(tuple(layers), timing)


def _layer(node: Node, placement: Placement, timing: CycleModel) -> LayerProfile:
    backend = placement.backend or ""
    if backend != "xs3":
        why = "; ".join(f"{b} declined: {r}" for b, r in placement.declined)
        return LayerProfile(placement.index, node.name, backend, None, None, None,
                            NOT_ESTIMATED + (f" ({why})" if why else ""))
    params = XS3Backend().prepare(node).params  # placed on xs3: an XC operator or lowered
    work, counting = macs(params), program_counts(params)
    if counting is None:
        return LayerProfile(placement.index, node.name, backend, work, None, None, UNMODELLED)
    counts = dict(counting.counts)
    return LayerProfile(placement.index, node.name, backend, work, counts,
                        estimate(counts, timing))


def macs(params: Any) -> int | None:
    """The multiply-accumulates per sample of a layer prepared by the XS3 backend: a lowered
    layer's, or an ``XC_conv2d_v2``'s output pixels times its weights (xcore-opt's padded
    channels included: what the kernel computes); None for other operators."""
    if isinstance(params, Lowered):
        return params.macs
    if isinstance(params, Conv2dParams):
        return math.prod(params.window.output) * params.weights.size
    return None

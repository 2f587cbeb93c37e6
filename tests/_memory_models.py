"""Builder-made models for the memory, reordering and reorder_for_memory tests, with
hand-computed arenas.

:func:`two_branches`: ``x`` (float32 1x15, 60 bytes) feeds two branches of two
FULLY_CONNECTED each (1x64 float32 = 256 bytes, then 1x4 = 16 bytes), joined by an ADD into
``y``. Saved in the order A1, B1, A2, B2, ADD both 256-byte tensors are alive with ``x``; run
A1, A2, B1, B2, ADD, at most one is.
"""

from __future__ import annotations

import numpy as np

from tflitekit import Model, Tensor
from tflitekit.options import AddOptions, BuiltinOperator, FullyConnectedOptions

BAD_ORDER = ("a1", "b1", "a2", "b2", "y")  # tensors written by the operators, in saved order


def _fc(name: str, x: Tensor, units: int, seed: int) -> tuple[Tensor, list[Tensor | None]]:
    rng = np.random.default_rng(seed)
    width = (x.shape or (1,))[-1]
    w = Tensor.constant(f"{name}/w", (rng.standard_normal((units, width)) / 4).astype(np.float32))
    return Tensor(name, (1, units), "float32"), [x, w, None]


def two_branches() -> Model:
    """See the module; operators in the order A1, B1, A2, B2, ADD."""
    m = Model("two branches")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 15), "float32"))
    a1, a1_in = _fc("a1", x, 64, 1)
    a2, a2_in = _fc("a2", a1, 4, 2)
    b1, b1_in = _fc("b1", x, 64, 3)
    b2, b2_in = _fc("b2", b1, 4, 4)
    y = Tensor("y", (1, 4), "float32")
    for inputs, out in ((a1_in, a1), (b1_in, b1), (a2_in, a2), (b2_in, b2)):
        g.add_operator(BuiltinOperator.FULLY_CONNECTED, inputs, [out], FullyConnectedOptions())
    g.add_operator(BuiltinOperator.ADD, [a2, b2], [y], AddOptions())
    g.add_output(y)
    return m


def chain() -> Model:
    """x (1x15) -> FC 1x64 -> FC 1x4 = y: one valid order."""
    m = Model("chain")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 15), "float32"))
    h, h_in = _fc("h", x, 64, 1)
    y, y_in = _fc("y", h, 4, 2)
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, h_in, [h], FullyConnectedOptions())
    g.add_operator(BuiltinOperator.FULLY_CONNECTED, y_in, [y], FullyConnectedOptions())
    g.add_output(y)
    return m

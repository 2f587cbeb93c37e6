"""Single-operator models and the comparisons every kernel test makes.

- :func:`single_op` (from :mod:`tflitekit.testing`) builds a one-operator model whose
  non-constant inputs are graph inputs.
- :func:`run` runs it on tflitekit's interpreter.
- :func:`assert_matches` compares the interpreter with an oracle on the same inputs, bit for bit
  (``runtime="tflm"``: TFLite Micro; ``"litert"``: LiteRT's reference kernels), or within a
  relative tolerance for float outputs when ``rtol`` is given. The test must carry the runtime's
  marker (``@pytest.mark.tflm`` / ``@pytest.mark.litert``) so it skips without it.
- :func:`assert_batch_equals_single_runs`: N samples in one run give what N single runs give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tflitekit import Interpreter, Model, runtimes
from tflitekit.testing import single_op

__all__ = ["assert_batch_equals_single_runs", "assert_matches", "oracle", "run", "single_op"]

Array = np.ndarray


def run(model: Model, inputs: Sequence[Array], **kwargs: Any) -> list[Array]:
    """The model's outputs on tflitekit's interpreter."""
    return Interpreter(model, **kwargs).run(list(inputs))


def oracle(model: Model, inputs: Sequence[Array], runtime: str = "tflm") -> list[Array]:
    """The model's outputs on TFLite Micro or on LiteRT's reference kernels."""
    data = model.to_bytes()
    if runtime == "tflm":
        return runtimes.run_tflm(data, list(inputs))
    return runtimes.run_litert(data, list(inputs), reference_kernels=True)


def assert_matches(model: Model, inputs: Sequence[Array], runtime: str = "tflm", *,
                   rtol: float | None = None, **kwargs: Any) -> list[Array]:
    """Assert tflitekit's outputs equal the oracle's (bit-exact unless ``rtol``); returns ours."""
    ours = run(model, inputs, **kwargs)
    theirs = oracle(model, inputs, runtime)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.dtype == b.dtype and a.shape == b.shape, (
            f"output {i}: {a.dtype}{list(a.shape)} vs {runtime} {b.dtype}{list(b.shape)}")
        if rtol is None:
            same = a.reshape(-1) == b.reshape(-1)
            if a.dtype.kind == "f":  # NaN where the oracle has NaN is a match
                same |= np.isnan(a.reshape(-1)) & np.isnan(b.reshape(-1))
            bad = np.flatnonzero(~same)
            assert bad.size == 0, (
                f"output {i}: {bad.size} of {a.size} elements differ from {runtime}; first at "
                f"{bad[0]}: {a.reshape(-1)[bad[0]]} vs {b.reshape(-1)[bad[0]]}")
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=f"output {i}")
    return ours


def assert_batch_equals_single_runs(model: Model, batch: Sequence[Array],
                                    **kwargs: Any) -> list[Array]:
    """Assert the interpreter gives, bit for bit, the same outputs on a batch as on each of its
    samples alone; returns the batched outputs. ``batch`` holds each input's N samples, as
    ``(N, *shape)`` or, for a shape starting with 1, ``(N, *shape[1:])``."""
    interpreter = Interpreter(model, **kwargs)
    together = interpreter.run(list(batch))
    ranks = [len(t.shape) for t in model.main.inputs]
    singles = [interpreter.run([b[i] if b.ndim == rank + 1 else b[i:i + 1]
                                for b, rank in zip(batch, ranks, strict=True)])
               for i in range(len(batch[0]))]
    for k, got in enumerate(together):
        want = np.stack([single[k].reshape(got.shape[1:]) for single in singles])
        assert got.dtype == want.dtype and got.shape == want.shape, (k, got.shape, want.shape)
        assert got.tobytes() == want.tobytes(), f"output {k}: the batch differs from single runs"
    return together


def random_int(rng: np.random.Generator, shape: Sequence[int], dtype: Any) -> Array:
    """Values over the full range of an integer dtype."""
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=tuple(shape), endpoint=True).astype(dtype)

"""The corpus proof of the XS3 backend (issue 12), for every int8 corpus model:

(a) tflitekit runs its xcore-opt conversion (every intermediate tensor exposed as an output
    before converting) with every output bit-identical to xmos' host interpreter;
(b) our lowering's per-layer share of outputs differing from the reference (bit-exact with
    TFLite Micro) is printed next to xcore-opt's, and over the corpus ours is no larger.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _xmos_host import run_host
from conftest import XCORE_INT8_MODELS

import tflitekit
from tflitekit.runtimes import random_samples
from tflitekit.xs3.backend import xs3_interpreter
from tflitekit.xs3.compare import Difference, compare

pytestmark = [pytest.mark.corpus, pytest.mark.xcore]

SAMPLES = 5
Exposed = Callable[[str], tuple[Path, Path]]


@pytest.mark.parametrize("name", XCORE_INT8_MODELS)
def test_converted_model_is_bit_identical_to_xmos_host_interpreter(
        name: str, xcore_exposed: Exposed) -> None:
    _, converted_path = xcore_exposed(name)
    converted = tflitekit.load(converted_path)
    inputs = random_samples(converted, SAMPLES, seed=11)
    ours = xs3_interpreter(converted, lower=False).run(inputs)
    theirs = run_host(converted_path.read_bytes(), inputs)
    assert len(ours) == len(theirs) == len(converted.main.outputs)
    differing = []
    for tensor, a, b in zip(converted.main.outputs, ours, theirs, strict=True):
        a = np.asarray(a).reshape(b.shape)
        if not np.array_equal(a, b):
            diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
            differing.append(f"{tensor.name!r}: {int((diff != 0).sum())} of {diff.size} differ "
                             f"(max {int(diff.max())})")
    assert not differing, f"{name}: " + "; ".join(differing)


def test_our_lowering_differs_from_tflite_micro_no_more_than_xcore_opt(
        xcore_exposed: Exposed) -> None:
    if not XCORE_INT8_MODELS:
        pytest.fail("the corpus has no int8 model", pytrace=False)
    ours_total = theirs_total = Difference(0, 0, 0.0)
    lines = []
    for name in XCORE_INT8_MODELS:
        exposed_path, converted_path = xcore_exposed(name)
        model = tflitekit.load(exposed_path)
        result = compare(model, random_samples(model, SAMPLES, seed=11),
                         xcore=tflitekit.load(converted_path))
        print(f"\n== {name}\n{result}")
        assert result.xcore is not None and result.matched, f"{name}: no tensor matched"
        ours_total += result.ours_on_matched
        theirs_total += result.xcore
        lines.append(f"{name:42} ours {result.ours_on_matched}  xcore-opt {result.xcore}")
    print("\n".join(["", *lines, f"{'corpus':42} ours {ours_total}  xcore-opt {theirs_total}"]))
    assert ours_total.share <= theirs_total.share

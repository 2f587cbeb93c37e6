"""XC_maxpool2d (``tflitekit.xs3.xc.maxpool``): decoding hand-made options, refusals, the kernel
against loops. Every corpus layer against xmos' host interpreter: ``test_corpus_xcore``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _xc_layers import Spec, layer, region

from tflitekit.errors import UnsupportedOperatorError
from tflitekit.xs3.backend import instruction_counts
from tflitekit.xs3.xc.maxpool import prepare, run

SPECS = [Spec("maxpool", (7, 8, 20), 20, (2, 2), stride=(2, 2)),
         Spec("maxpool", (6, 5, 4), 4, (3, 2), stride=(1, 2))]


@pytest.mark.parametrize("spec", SPECS)
def test_decodes_and_runs(spec: Spec) -> None:
    built = layer(spec)
    params = prepare(built.node)
    win = params.window
    assert (win.input, win.kernel, win.stride, win.output) == (
        spec.input, spec.kernel, spec.stride, spec.output)
    x = np.random.default_rng(2).integers(-128, 128, (5, *spec.input), dtype=np.int8)
    got = run(params, [x, None])[0]
    np.testing.assert_array_equal(got[:, 0], built.reference(x))


@pytest.mark.parametrize(("options", "reason"), [
    ({"o": b"\0" * 4}, "option 'o' has 4 bytes"),
    ({"p": [region(SPECS[0], w1=2)]}, "do not cover"),
    ({"a": b"\0" * 20}, "tap row step of 0 bytes"),
    ({"mp": None}, "lack mp"),
])
def test_refusals_say_why(options: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match=reason):
        prepare(layer(SPECS[0], options=options).node)


def test_maxpool_has_no_modelled_instruction_program() -> None:
    node = layer(SPECS[0]).node
    assert instruction_counts(node) is None

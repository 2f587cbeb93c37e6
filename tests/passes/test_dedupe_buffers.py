"""dedupe_buffers: identical constant data is stored once."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tflitekit import Model, Quantization, Tensor
from tflitekit.options import AddOptions, BuiltinOperator
from tflitekit.passes import dedupe_buffers
from tflitekit.passes.dedupe_buffers import DedupeBuffers
from tflitekit.testing import assert_same_outputs


def _with_duplicates(model: Model) -> Model:
    """Two more ADDs of constants holding the same bytes as the existing ``add/c``."""
    g = model.main
    y = g.outputs[0]
    c = g.tensor("add/c")
    for k in (1, 2):
        twin = Tensor.constant(f"add{k}/c", np.array(c.data), quantization=Quantization(0.1, 1))
        out = Tensor(f"add{k}/y", (1, 5), "int8", quantization=Quantization(0.2, -1))
        g.add_operator(BuiltinOperator.ADD, [y, twin], [out], AddOptions())
        y = out
    g.outputs[:] = [y]
    return model


@pytest.mark.tflm
def test_identical_buffers_are_shared(runnable_model: Callable[[], Model]) -> None:
    model = _with_duplicates(runnable_model())
    data = model.to_bytes()
    result = DedupeBuffers()(model)
    assert result.changes == ["merged 2 buffers into identical ones (10 bytes)"]
    g = model.main
    shared = g.tensor("add/c").buffer
    assert g.tensor("add1/c").buffer is shared and g.tensor("add2/c").buffer is shared
    out = model.to_bytes()
    assert len(out) < len(data)
    assert_same_outputs(data, out)
    assert not DedupeBuffers()(model).modified


def test_variables_and_distinct_data_keep_their_buffers(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    g = model.main
    c = g.tensor("add/c")
    state = Tensor("state", c.shape, "int8", is_variable=True)
    state.data = np.array(c.data)
    g.add_tensor(state)
    other = g.add_tensor(Tensor.constant("other", np.array(c.data) ^ 1))
    assert dedupe_buffers(model).main.tensor("state").buffer is not c.buffer
    assert other.buffer is not c.buffer


def test_loaded_duplicates_shrink_the_file(runnable_model: Callable[[], Model]) -> None:
    import tflitekit

    data = _with_duplicates(runnable_model()).to_bytes()
    model = tflitekit.load(data)
    dedupe_buffers(model)
    assert len(tflitekit.load(model.to_bytes()).buffers) == len(model.all_buffers())
    assert len(model.to_bytes()) < len(data)

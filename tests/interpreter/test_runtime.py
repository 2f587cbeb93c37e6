"""The interpreter itself, on kernels of the test's own (so it needs none of the real ones):
batching, kept tensors and memory release, input checks, unsupported operators, placement."""

from __future__ import annotations

import gc
import pickle
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from tflitekit import (
    Interpreter,
    Model,
    Operator,
    OperatorCode,
    Tensor,
    UnsupportedOperatorError,
    UsageError,
)
from tflitekit.interpreter import Backend, Kernel, Node, Prepared, ReferenceBackend
from tflitekit.interpreter.kernel import unsupported
from tflitekit.options import BuiltinOperator as Op

Array = np.ndarray


def _negate(params: object, arrays: Sequence[Array | None]) -> list[Array]:
    (x,) = arrays
    assert x is not None
    return [-x]


def _add(params: object, arrays: Sequence[Array | None]) -> list[Array]:
    a, b = arrays
    assert a is not None and b is not None
    return [a + b]


def _refuse_int16(node: Node) -> None:
    if node.input(0).type_name == "INT16":
        unsupported(node, "int16 is not implemented here")


KERNELS = {Op.NEG: Kernel(_refuse_int16, _negate), Op.ADD: Kernel(lambda node: None, _add)}
TEST_BACKEND = ReferenceBackend(KERNELS)


def chain(dtype: str = "int32") -> Model:
    """y = -x + c; z = -(-x) (two outputs), with a (1, 3) constant c."""
    m = Model("chain")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 3), dtype))
    c = Tensor.constant("c", np.array([[10, 20, 30]], dtype))
    n = Tensor("n", (1, 3), dtype)
    y = Tensor("y", (1, 3), dtype)
    z = Tensor("z", (1, 3), dtype)
    g.add_operator(Op.NEG, [x], [n])
    g.add_operator(Op.ADD, [n, c], [y])
    g.add_operator(Op.NEG, [n], [z])
    g.add_output(y)
    g.add_output(z)
    return m


def interpreter(model: Model) -> Interpreter:
    return Interpreter(model, backends=[TEST_BACKEND])


def test_runs_one_sample_in_the_model_shape() -> None:
    y, z = interpreter(chain()).run([np.array([[1, 2, 3]], np.int32)])
    np.testing.assert_array_equal(y, [[9, 18, 27]])
    np.testing.assert_array_equal(z, [[1, 2, 3]])
    assert y.shape == (1, 3) and y.dtype == np.int32


@pytest.mark.parametrize("shape", [(5, 3), (5, 1, 3)])
def test_a_batch_gives_what_single_runs_give(shape: tuple[int, ...]) -> None:
    x = np.arange(15, dtype=np.int32).reshape(shape)
    it = interpreter(chain())
    y, z = it.run([x])
    assert y.shape == shape and z.shape == shape
    for i in range(5):
        yi, zi = it.run([x[i].reshape(1, 3)])
        np.testing.assert_array_equal(y[i].reshape(1, 3), yi)
        np.testing.assert_array_equal(z[i].reshape(1, 3), zi)


def test_chunked_runs_equal_one_run_and_report_progress() -> None:
    x = np.arange(21, dtype=np.int32).reshape(7, 3)
    it = interpreter(chain())
    seen: list[tuple[int, int]] = []
    chunked = it.run([x], batch_size=3, progress=lambda done, total: seen.append((done, total)))
    whole = it.run([x])
    for a, b in zip(chunked, whole, strict=True):
        np.testing.assert_array_equal(a, b)
    assert seen == [(3, 7), (6, 7), (7, 7)]


def test_inputs_by_name() -> None:
    y, _ = interpreter(chain()).run({"x": np.array([[1, 1, 1]], np.int32)})
    np.testing.assert_array_equal(y, [[9, 19, 29]])


@pytest.mark.parametrize(("inputs", "message"), [
    ([np.zeros((1, 3), np.int64)], "input 'x' must be INT32 (int32), not int64"),
    ([np.zeros((1, 4), np.int32)], "input 'x' has shape [1, 4]; expected [1, 3]"),
    ([], "the model has 1 input(s), got 0"),
    ({"y": np.zeros((1, 3), np.int32)}, "unknown ['y']; missing ['x']"),
])
def test_bad_inputs_name_the_input_and_what_was_expected(inputs: object, message: str) -> None:
    with pytest.raises(UsageError, match=None) as caught:
        interpreter(chain()).run(inputs)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_every_unsupported_operator_is_listed_at_construction() -> None:
    m = chain("int16")
    m.main.add_operator(Op.ABS, [m.main.outputs[0]], [Tensor("a", (1, 3), "int16")])
    with pytest.raises(UnsupportedOperatorError) as caught:
        interpreter(m)
    text = str(caught.value)
    assert "3 operator(s) cannot run" in text
    assert "operator 0 NEG: int16 is not implemented here" in text
    assert "operator 2 NEG: int16 is not implemented here" in text
    assert "operator 3 ABS: no kernel for ABS" in text


def test_kept_tensors_by_object_and_name() -> None:
    m = chain()
    it = interpreter(m)
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    it.run([x], keep=True)
    n = m.main.tensor("n")
    np.testing.assert_array_equal(it.tensor(n), -x.reshape(2, 1, 3))
    np.testing.assert_array_equal(it.tensor("n"), -x.reshape(2, 1, 3))
    np.testing.assert_array_equal(it.tensor("c"), np.broadcast_to([[[10, 20, 30]]], (2, 1, 3)))
    assert [t.name for t, _ in it.tensors()] == ["x", "n", "y", "z"]
    it.run([x])
    with pytest.raises(UsageError, match="keep=True"):
        it.tensor("n")
    with pytest.raises(UsageError, match="no tensor is named 'nope'"):
        it.tensor("nope")


def test_memory_is_released_after_the_last_use() -> None:
    released: list[bool] = []

    class Probe(np.ndarray):  # an array type whose deletion we can observe
        pass

    def negate(params: object, arrays: Sequence[Array | None]) -> list[Array]:
        out = (-arrays[0]).view(Probe)  # type: ignore[operator]
        weakref.finalize(out, released.append, True)
        return [out]

    def check_first_released(params: object, arrays: Sequence[Array | None]) -> list[Array]:
        gc.collect()
        released_before.append(bool(released))
        return _add(params, arrays)

    released_before: list[bool] = []
    m = Model("release")
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 3), "int32"))
    a, b, y = (Tensor(name, (1, 3), "int32") for name in "aby")
    g.add_operator(Op.NEG, [x], [a])
    g.add_operator(Op.ADD, [a, a], [b])   # last use of a
    g.add_operator(Op.SUB, [b, x], [y])   # a must be gone by now
    g.add_output(y)
    backend = ReferenceBackend({Op.NEG: Kernel(lambda n: None, negate),
                                Op.ADD: Kernel(lambda n: None, _add),
                                Op.SUB: Kernel(lambda n: None, check_first_released)})
    Interpreter(m, backends=[backend]).run([np.ones((1, 3), np.int32)])
    assert released_before == [True]
    released.clear()
    released_before.clear()
    Interpreter(m, backends=[backend]).run([np.ones((1, 3), np.int32)], keep=True)
    assert released_before == [False]


class OnlyAdd(Backend):
    """A backend that takes ADD and declines everything else."""

    name = "only-add"

    def prepare(self, node: Node) -> Prepared:
        if node.opcode != Op.ADD:
            unsupported(node, "only ADD runs here")
        return Prepared(KERNELS[Op.ADD], None)


def test_the_plan_says_where_each_operator_runs_and_why_the_others_declined() -> None:
    it = Interpreter(chain(), backends=[OnlyAdd(), TEST_BACKEND])
    plan = it.plan
    assert [(p.operator, p.backend) for p in plan.placements] == [
        ("NEG", "reference"), ("ADD", "only-add"), ("NEG", "reference")]
    assert plan.placements[0].declined == (("only-add", "only ADD runs here"),)
    assert plan.counts() == {"only-add": 1, "reference": 2}
    text = str(plan)
    assert "only-add declined: only ADD runs here" in text
    assert text.endswith("3 operators: 1 on only-add, 2 on reference")
    assert plan.to_json()["placements"][1] == {"index": 1, "operator": "ADD",
                                               "backend": "only-add", "declined": []}


def test_operators_out_of_execution_order_are_refused() -> None:
    m = chain()
    g = m.main
    g.operators.insert(0, g.operators.pop(1))  # ADD before the NEG that feeds it
    with pytest.raises(Exception, match="operator 0 \\(ADD\\) reads 'n', which nothing computes"):
        interpreter(m)


def test_a_custom_operator_may_read_a_scratch_tensor_nothing_computes() -> None:
    # xcore-opt gives XC_conv2d_v2 a scratch tensor: arena memory TFLite Micro leaves
    # uninitialised; the interpreter hands the kernel zeros of its shape.
    m = Model()
    g = m.add_subgraph("main")
    x = g.add_input(Tensor("x", (1, 3), "int8"))
    scratch, y = Tensor("scratch", (5,), "int8"), Tensor("y", (1, 3), "int8")
    g.add_operator(Operator(OperatorCode(Op.CUSTOM, "Scratchy"), [x, scratch], [y]))
    g.add_output(y)
    seen: list[Array] = []

    def run(params: object, arrays: Sequence[Array | None]) -> list[Array]:
        seen.append(np.asarray(arrays[1]))
        return [np.asarray(arrays[0])]

    it = Interpreter(m, backends=[ReferenceBackend({}, {"Scratchy": Kernel(lambda n: None, run)})])
    out = it.run([np.ones((4, 3), np.int8)])[0]
    assert out.shape == (4, 3) and seen[0].shape == (1, 5) and not seen[0].any()


def test_a_bad_kernel_result_is_caught() -> None:
    def wrong(params: object, arrays: Sequence[Array | None]) -> list[Array]:
        return [np.zeros((1, 2), np.int32)]

    it = Interpreter(chain(), backends=[ReferenceBackend({Op.NEG: Kernel(lambda n: None, wrong),
                                                          Op.ADD: KERNELS[Op.ADD]})])
    with pytest.raises(Exception, match="operator 0 \\(NEG\\): the kernel gave int32\\[1, 2\\]"):
        it.run([np.zeros((1, 3), np.int32)])


def test_rounding_must_be_known() -> None:
    with pytest.raises(UsageError, match="rounding must be"):
        Interpreter(chain(), backends=[TEST_BACKEND], rounding="half")  # type: ignore[arg-type]


def test_chunks_run_on_an_executor_give_what_one_run_gives(
        runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    it = Interpreter(model)
    x = np.random.default_rng(0).integers(-128, 128, (9, 4, 4, 2), dtype=np.int8)
    whole = it.run([x])[0]
    seen: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        threaded = it.run([x], batch_size=2, executor=pool,
                          progress=lambda done, total: seen.append(done))[0]
    assert seen == [2, 4, 6, 8, 9]
    with ProcessPoolExecutor(2) as pool:
        forked = it.run([x], batch_size=4, executor=pool, keep=True)[0]
    np.testing.assert_array_equal(threaded, whole)
    np.testing.assert_array_equal(forked, whole)
    assert it.tensor("conv/y").shape == (9, 1, 4, 4, 3)  # kept values come back from workers


def test_an_interpreter_pickles_as_its_model_and_options(
        runnable_model: Callable[[], Model]) -> None:
    it = Interpreter(runnable_model(), rounding="single")
    again = pickle.loads(pickle.dumps(it))
    assert again.rounding == "single" and str(again.plan) == str(it.plan)
    x = np.zeros((1, 4, 4, 2), np.int8)
    np.testing.assert_array_equal(again.run([x])[0], it.run([x])[0])


def test_every_operator_of_the_issue_has_a_reference_kernel() -> None:
    from tflitekit.interpreter.kernels import KERNELS
    from tflitekit.ir.opfacts import INTERPRETER_OPERATORS

    assert set(INTERPRETER_OPERATORS) <= set(KERNELS)

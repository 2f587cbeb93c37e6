"""The interpreter: runs a model's main subgraph on kernels placed per operator, batched."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from ..errors import TFLiteKitError, UnsupportedOperatorError, UsageError
from ..ir import Model, Operator, Subgraph, Tensor, dtypes
from .backend import Backend, Placement, Plan, Prepared, ReferenceBackend
from .kernel import refusal
from .kernels import CONSTANT_OUTPUTS, CUSTOM_KERNELS
from .node import Array, Node, Rounding, describe

__all__ = ["Interpreter", "Progress"]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with the samples done so far."""

Inputs = Sequence[Any] | Mapping[str, Any]


class Interpreter:
    """Run ``model`` (its main subgraph) with bit-exact TFLite Micro arithmetic.

    ``backends`` are asked in order for each operator (default: the reference backend only);
    every operator none of them takes is listed in one
    :class:`~tflitekit.UnsupportedOperatorError` raised here, never during a run. ``rounding``
    selects TFLite's ``double`` (default) or ``single`` fixed-point rounding.

    Operators run in the order the file stores them, as TFLite Micro runs them. A custom
    operator may read a tensor nothing computes (a scratch buffer, as xcore-opt gives
    ``XC_conv2d_v2``): it reads zeros. The model is
    read once, here (kernels are prepared and constants taken): after editing it, make a new
    interpreter.
    """

    def __init__(self, model: Model, *, backends: Sequence[Backend] | None = None,
                 rounding: Rounding = "double") -> None:
        if rounding not in ("double", "single"):
            raise UsageError(f"rounding must be 'double' or 'single', not {rounding!r}")
        if not model.subgraphs:
            raise UsageError("the model has no subgraph to run")
        self.model = model
        self.rounding = rounding
        self.graph: Subgraph = model.subgraphs[0]
        self._own_backends = bool(backends)
        self.backends: tuple[Backend, ...] = tuple(backends) if backends else (ReferenceBackend(),)
        self.operators: tuple[Operator, ...] = tuple(self.graph.operators)
        self._batched: set[int] = set()
        self._known: dict[int, Array] = {}
        self.nodes: tuple[Node, ...] = self._describe()
        self._prepared, self.plan = self._place()
        self._last_use = self._last_uses()
        self._constants = {id(t): _constant(t) for op in self.operators for t in op.inputs
                           if t is not None and t.is_constant}
        self._constants.update((id(t), _constant(t)) for t in self.graph.outputs
                               if t.is_constant)
        self._constants.update((k, v[None]) for k, v in self._known.items())
        # every value of a run, in the order a kept chunk returns them after the outputs
        values = [id(t) for t in self.graph.inputs] + list(self._constants)
        values += [id(t) for op in self.operators for t in op.outputs]
        self._values: tuple[int, ...] = tuple(dict.fromkeys(values))
        self._kept: dict[int, Array] = {}
        self._kept_n = 0

    # -- construction ---------------------------------------------------------------------

    def _describe(self) -> tuple[Node, ...]:
        graph = self.graph
        available = {id(t) for t in graph.inputs}
        batched = self._batched
        batched.update(available)
        nodes = []
        for i, op in enumerate(self.operators):
            where = f"operator {i} ({op.opcode.name})"
            for t in op.inputs:
                if t is None or t.is_constant or id(t) in available:
                    continue
                scratch = dtypes.to_numpy(t.dtype) if op.opcode.is_custom else None
                if scratch is not None and t.shape is not None:
                    # a custom operator's scratch tensor (xcore-opt's): uninitialised arena
                    # memory on the device, zeros here; the kernel writes before it reads
                    self._known[id(t)] = np.zeros(t.shape, scratch)
                    available.add(id(t))
                    continue
                raise TFLiteKitError(f"{where} reads {t.name!r}, which nothing computes "
                                     "before it (the operators are not in execution order)")
            node = describe(op, batched, rounding=self.rounding, where=where, known=self._known)
            nodes.append(node)
            if node.custom_code in CONSTANT_OUTPUTS and not node.batched:
                self._known.update(zip(map(id, op.outputs), _evaluate(node), strict=True))
            for t, o in zip(op.outputs, node.outputs, strict=True):
                available.add(id(t))
                if o.batched:
                    batched.add(id(t))
        for t in graph.outputs:
            if not t.is_constant and id(t) not in available:
                raise TFLiteKitError(f"subgraph output {t.name!r} is never computed")
        return tuple(nodes)

    def _place(self) -> tuple[list[Prepared], Plan]:
        prepared: list[Prepared] = []
        placements = []
        failures = []
        for i, node in enumerate(self.nodes):
            declined: list[tuple[str, str]] = []
            taken = None
            for backend in self.backends:
                try:
                    taken = backend.prepare(node)
                except UnsupportedOperatorError as exc:
                    declined.append((backend.name, refusal(exc, node)))
                    continue
                placements.append(Placement(i, node.name, backend.name, tuple(declined)))
                prepared.append(taken)
                break
            if taken is None:
                placements.append(Placement(i, node.name, None, tuple(declined)))
                failures.append(f"operator {i} {node.name}: "
                                + "; ".join(r for _, r in declined))
        if failures:
            raise UnsupportedOperatorError(
                f"{len(failures)} operator(s) cannot run: " + "; ".join(failures))
        return prepared, Plan(tuple(placements), tuple(b.name for b in self.backends))

    def _last_uses(self) -> dict[int, int]:
        last: dict[int, int] = {}
        for i, op in enumerate(self.operators):
            for t in op.inputs:
                if t is not None:
                    last[id(t)] = i
        return last

    # -- running --------------------------------------------------------------------------

    @property
    def inputs(self) -> list[Tensor]:
        return list(self.graph.inputs)

    @property
    def outputs(self) -> list[Tensor]:
        return list(self.graph.outputs)

    def run(self, inputs: Inputs, *, keep: bool = False, batch_size: int | None = None,
            progress: Progress | None = None, executor: Executor | None = None) -> list[Array]:
        """The outputs for ``inputs``: one array per subgraph input, in order, or a mapping
        from input names.

        An input may have the model's shape, or carry a leading batch of N: ``(N, *shape)``,
        or ``(N, *shape[1:])`` where the model's dimension 0 is 1. All inputs must agree on N;
        the outputs then carry the same N the same way, and equal N single runs exactly.
        ``batch_size`` splits a large batch into chunks run one after another (bounding the
        memory), or on ``executor`` when one is given: a ``ThreadPoolExecutor`` runs chunks in
        parallel (numpy releases the GIL), and process-based executors (``ProcessPoolExecutor``,
        Dask's, Ray's) receive a pickled interpreter. ``progress(done, total)`` is called as
        chunks finish, in order.

        With ``keep``, every tensor's value stays available afterwards through :meth:`tensor`
        and :meth:`tensors`; otherwise a tensor's memory is released after its last use.
        """
        arrays = self._arrays(inputs)
        n, forms = self._batch(arrays)
        if batch_size is not None and batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, not {batch_size}")
        step = n if batch_size is None else batch_size
        self._kept = {}
        self._kept_n = n
        bounds = [(start, min(n, start + step)) for start in range(0, n, step)]
        parts = [[a[start:stop] for a in arrays] for start, stop in bounds]
        if executor is None:
            results: Iterator[list[Array]] = (
                self._chunk(part, stop - start, keep) for part, (start, stop) in
                zip(parts, bounds, strict=True))
        else:
            futures = [executor.submit(self._chunk, part, stop - start, keep)
                       for part, (start, stop) in zip(parts, bounds, strict=True)]
            results = (future.result() for future in futures)
        chunks: list[list[Array]] = []
        for result, (_, stop) in zip(results, bounds, strict=True):
            chunks.append(result)
            if progress is not None:
                progress(stop, n)
        count = len(self.graph.outputs)
        if keep:
            self._kept = {key: self._join(key, [c[count + i] for c in chunks])
                          for i, key in enumerate(self._values)}
        outputs = [self._join(id(t), [c[i] for c in chunks])
                   for i, t in enumerate(self.graph.outputs)]
        return [self._unbatch(t, out, n, forms) for t, out in zip(self.graph.outputs, outputs,
                                                                 strict=True)]

    def _arrays(self, inputs: Inputs) -> list[Array]:
        graph_inputs = self.graph.inputs
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, Mapping):
            names = [t.name or "" for t in graph_inputs]
            unknown = sorted(set(inputs) - set(names))
            missing = [name for name in names if name not in inputs]
            if unknown or missing:
                raise UsageError(f"inputs by name: expected {names}"
                                 + (f"; unknown {unknown}" if unknown else "")
                                 + (f"; missing {missing}" if missing else ""))
            inputs = [inputs[name] for name in names]
        if len(inputs) != len(graph_inputs):
            raise UsageError(f"the model has {len(graph_inputs)} input(s), got {len(inputs)}")
        arrays = []
        for t, value in zip(graph_inputs, inputs, strict=True):
            array = np.asarray(value)
            if array.dtype != t.numpy_dtype:
                raise UsageError(f"input {t.name!r} must be {dtypes.name(t.dtype)} "
                                 f"({t.numpy_dtype}), not {array.dtype}")
            arrays.append(array)
        return arrays

    def _batch(self, arrays: list[Array]) -> tuple[int, list[bool]]:
        """The batch N, and for each input whether it carried the batch in place of the model's
        dimension 0 of 1; reshapes ``arrays`` to ``(N, *shape)`` in place."""
        sizes = set()
        replaced = []
        for i, (t, a) in enumerate(zip(self.graph.inputs, arrays, strict=True)):
            shape = tuple(t.shape or ())
            if a.shape == shape:
                arrays[i], n, instead = a[None], 1, False
            elif a.ndim == len(shape) + 1 and a.shape[1:] == shape:
                n, instead = a.shape[0], False
            elif shape and shape[0] == 1 and a.shape[1:] == shape[1:] and a.ndim == len(shape):
                arrays[i], n, instead = a.reshape(a.shape[0], *shape), a.shape[0], True
            else:
                raise UsageError(f"input {t.name!r} has shape {list(a.shape)}; expected "
                                 f"{list(shape)}, optionally with a leading batch")
            sizes.add(n)
            replaced.append(instead)
        if len(sizes) > 1:
            raise UsageError(f"the inputs disagree on the batch: {sorted(sizes)}")
        n = sizes.pop() if sizes else 1
        if n < 1:
            raise UsageError("the batch is empty")
        return n, replaced

    def _unbatch(self, tensor: Tensor, array: Array, n: int, forms: list[bool]) -> Array:
        shape = tuple(tensor.shape or ())
        if array.shape[0] != n:
            array = np.broadcast_to(array, (n, *array.shape[1:])).copy()
        if n == 1 and not any(forms):
            sample: Array = array[0]
            return sample
        if any(forms) and shape and shape[0] == 1:
            return array.reshape(n, *shape[1:])
        return array

    def _chunk(self, inputs: list[Array], n: int, keep: bool) -> list[Array]:
        """One chunk's outputs, followed with ``keep`` by every value of the run in the order of
        ``_values`` (plain lists of arrays pickle across processes)."""
        values = self._invoke(inputs, n, keep)
        results = [values[id(t)] for t in self.graph.outputs]
        if keep:
            results += [values[key] for key in self._values]
        return results

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the model's bytes and the options, prepared again where unpickled (for
        process-based executors)."""
        backends = self.backends if self._own_backends else None
        return _rebuild, (self.model.to_bytes(), backends, self.rounding)

    def _invoke(self, inputs: list[Array], n: int, keep: bool) -> dict[int, Array]:
        values = dict(self._constants)
        values.update((id(t), a) for t, a in zip(self.graph.inputs, inputs, strict=True))
        protected = {id(t) for t in self.graph.outputs}
        for i, (op, node, kernel) in enumerate(zip(self.operators, self.nodes, self._prepared,
                                                   strict=True)):
            arrays = [None if t is None else values[id(t)] for t in op.inputs]
            results = kernel(arrays)
            _check_results(node, results, n)
            for t, r in zip(op.outputs, results, strict=True):
                values[id(t)] = r
            if not keep:
                for read in op.inputs:
                    if (read is not None and self._last_use.get(id(read)) == i
                            and id(read) not in protected):
                        values.pop(id(read), None)
        return values

    def _join(self, key: int, parts: list[Array]) -> Array:
        """One tensor's values over the chunks of a run (an unbatched value is the same in
        every chunk)."""
        if len(parts) == 1 or key not in self._batched:
            return parts[0]
        return np.concatenate(parts)

    # -- kept tensors ---------------------------------------------------------------------

    def tensor(self, key: Tensor | str) -> Array:
        """The value of a tensor (object or unique name) in the last ``run(..., keep=True)``,
        with the run's leading batch axis: ``(N, *tensor.shape)``."""
        tensor = self._lookup(key)
        if id(tensor) in self._kept:
            return _full(self._kept[id(tensor)], self._kept_n)
        if tensor.is_constant:
            value = self._constants.get(id(tensor))
            return _full(_constant(tensor) if value is None else value, self._kept_n)
        if not self._kept:
            raise UsageError("no tensor was kept: call run(..., keep=True) first")
        raise UsageError(f"tensor {tensor.name!r} is not computed by the main subgraph")

    def tensors(self) -> Iterator[tuple[Tensor, Array]]:
        """Every tensor computed in the last ``run(..., keep=True)``, in execution order, with
        its value as :meth:`tensor` gives it."""
        if not self._kept:
            raise UsageError("no tensor was kept: call run(..., keep=True) first")
        seen = set()
        for t in [*self.graph.inputs, *(t for op in self.operators for t in op.outputs)]:
            if id(t) in self._kept and id(t) not in seen:
                seen.add(id(t))
                yield t, _full(self._kept[id(t)], self._kept_n)

    def _lookup(self, key: Tensor | str) -> Tensor:
        if isinstance(key, Tensor):
            if key.graph is not self.graph:
                raise UsageError(f"tensor {key.name!r} is not in the interpreted subgraph")
            tensor: Tensor = key
            return tensor
        found = [t for t in self.graph.tensors if t.name == key]
        if len(found) != 1:
            raise UsageError(f"{len(found)} tensors are named {key!r}" if found
                             else f"no tensor is named {key!r}")
        return found[0]


def _rebuild(data: bytes, backends: tuple[Backend, ...] | None, rounding: Rounding
             ) -> Interpreter:
    """An unpickled interpreter; with the default backend, a worker process prepares each
    model once for all the chunks it receives."""
    if backends is None:
        return _rebuild_default(data, rounding)
    from ..serde import load

    return Interpreter(load(data), backends=backends, rounding=rounding)


@functools.lru_cache(maxsize=4)
def _rebuild_default(data: bytes, rounding: Rounding) -> Interpreter:
    from ..serde import load

    return Interpreter(load(data), rounding=rounding)


def _evaluate(node: Node) -> list[Array]:
    """The outputs of a custom operator of :data:`CONSTANT_OUTPUTS` on its constant inputs, as
    one sample without the batch axis."""
    kernel = CUSTOM_KERNELS[node.custom_code or ""]
    params = kernel.prepare(node)
    arrays = [None if o is None or o.data is None else o.data[None] for o in node.inputs]
    return [r[0] for r in kernel.run(params, arrays)]


def _constant(tensor: Tensor) -> Array:
    data = tensor.data
    if data is None or data.dtype != tensor.numpy_dtype:
        raise TFLiteKitError(f"constant {tensor.name!r} holds no {dtypes.name(tensor.dtype)} "
                             f"data of shape {list(tensor.shape or ())}")
    shaped: Array = data.reshape(1, *(tensor.shape or ()))
    return shaped


def _check_results(node: Node, results: list[Array], n: int) -> None:
    if len(results) != len(node.outputs):
        raise TFLiteKitError(f"{node.where}: the kernel gave {len(results)} results for "
                             f"{len(node.outputs)} outputs")
    for operand, r in zip(node.outputs, results, strict=True):
        want = (n if operand.batched else 1, *operand.shape)
        if r.shape != want or r.dtype != operand.dtype:
            raise TFLiteKitError(f"{node.where}: the kernel gave {r.dtype}{list(r.shape)} for "
                                 f"{operand.name!r}, expected {operand.dtype}{list(want)}")


def _full(array: Array, n: int) -> Array:
    return array if array.shape[0] == n else np.broadcast_to(array, (n, *array.shape[1:]))

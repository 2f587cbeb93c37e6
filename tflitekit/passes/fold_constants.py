"""fold_constants: evaluate operators whose inputs are all constant, on the interpreter's
kernels, and store their results as constant tensors."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TFLiteKitError, UnsupportedOperatorError
from ..interpreter.kernel import refusal
from ..interpreter.kernels import KERNELS
from ..interpreter.node import SHAPE_ONLY, Array, describe
from ..ir import Model, Operator, Subgraph, Tensor, dtypes
from ._graph import has_side_effects, sorted_operators
from .base import Pass, Report

__all__ = ["FoldConstants", "evaluate", "fold_constants"]

_SHAPE_ENTRY_BYTES = 4  # a dimension of a tensor's shape is an int32 in the file


@dataclass
class FoldConstants(Pass):
    """Replace every operator whose inputs are all constant by its results, computed by the
    interpreter's kernel for it (:func:`evaluate`: every operator of
    :data:`tflitekit.interpreter.kernels.KERNELS` can fold). Each output tensor keeps its name,
    dtype, shape and quantization and receives the data, and the operator is removed. Operators
    are visited in topological order, so chains fold in one run. Tensors left unused stay in
    the model (:class:`~tflitekit.passes.Prune` removes them).

    SHAPE needs only its input's static shape, so folding it fixes the input's dynamic
    dimensions (-1 in ``shape_signature``, e.g. a dynamic batch) to their static sizes: the
    folded model no longer resizes. A folded output's dynamic ``shape_signature`` is dropped.
    With ``fold_shapes`` false, SHAPE operators are left as they are and the model keeps its
    dynamic dimensions.

    Left alone, with the reason in the report: operators with side effects, operators writing
    a subgraph output, operators or option combinations that the kernels refuse, results that
    disagree with the declared output type or shape, and, when ``allow_growth`` is false, results
    larger than the constants they read (a SHAPE reads its input's shape, 4 bytes a dimension).
    """

    name = "fold_constants"
    allow_growth: bool = True
    fold_shapes: bool = True

    def run(self, model: Model, report: Report) -> None:
        for index, graph in enumerate(model.subgraphs):
            for op in sorted_operators(graph):
                if _all_inputs_constant(op, self.fold_shapes):
                    self._fold(graph, index, op, report)

    def _fold(self, graph: Subgraph, index: int, op: Operator, report: Report) -> None:
        where = f"subgraph {index}: {op.opcode.name} -> {_names(op.outputs)}"
        try:
            _check_foldable(graph, op)
            results = evaluate(op)
            _check_results(op, results)
            if not self.allow_growth:
                _check_growth(op, results)
        except (TFLiteKitError, _NotFolded) as exc:
            report.skip(f"{where}: not folded: {exc}")
            return
        note = _fixed_dimensions(op)
        for tensor, result in zip(op.outputs, results, strict=True):
            tensor.data = result
            if tensor.shape_signature is not None and min(tensor.shape_signature, default=0) < 0:
                tensor.shape_signature = None
        graph.remove_operator(op)
        made = ", ".join(_describe(t) for t in op.outputs)
        report.change(f"subgraph {index}: folded {op.opcode.name} into constant {made}{note}")


class _NotFolded(Exception):
    """The pass leaves an operator it could evaluate alone: the message says why."""


def evaluate(op: Operator) -> list[Array]:
    """The outputs of ``op`` for its constant inputs, computed by the interpreter's kernel as
    one unbatched sample (SHAPE reads only its input's static shape). Raises
    :class:`~tflitekit.UnsupportedOperatorError` saying why when there is no kernel for the
    operator, an input holds no readable constant, or the kernel refuses the operator."""
    kernel = None if op.opcode.is_custom else KERNELS.get(op.type)
    if kernel is None:
        raise UnsupportedOperatorError(f"no kernel for {op.opcode.name}")
    values = [_value(t, op) for t in op.inputs]
    node = describe(op)
    try:
        params = kernel.prepare(node)
    except UnsupportedOperatorError as exc:
        raise UnsupportedOperatorError(refusal(exc, node)) from None
    results = kernel.run(params, [None if v is None else v[None] for v in values])
    return [r[0] for r in results]


def _names(tensors: tuple[Tensor, ...]) -> str:
    return ", ".join(repr(t.name) for t in tensors)


def _describe(tensor: Tensor) -> str:
    return f"{tensor.name!r} {list(tensor.shape or ())} {dtypes.name(tensor.dtype)}"


def _all_inputs_constant(op: Operator, shapes: bool) -> bool:
    """True when nothing but constants (or, for SHAPE when ``shapes``, static shapes) feeds
    ``op``."""
    if op.type in SHAPE_ONLY:
        return shapes
    return all(t is None or t.is_constant for t in op.inputs)


def _value(tensor: Tensor | None, op: Operator) -> Array | None:
    """The constant value of an input as an array (None where the kernel reads none)."""
    if tensor is None or op.type in SHAPE_ONLY:
        return None
    dtype = tensor.numpy_dtype
    if dtype is None or tensor.sparsity is not None:
        kind = "sparse" if tensor.sparsity is not None else dtypes.name(tensor.dtype)
        raise UnsupportedOperatorError(f"input {tensor.name!r} holds {kind} data")
    if not tensor.is_constant:
        raise UnsupportedOperatorError(f"input {tensor.name!r} is not constant")
    data = tensor.data
    if data is None or data.dtype != dtype:  # raw bytes: the size does not match the shape
        size = 0 if data is None else data.size
        raise UnsupportedOperatorError(f"input {tensor.name!r} holds {size} bytes, not shape "
                                       f"{tensor.shape or ()} of {dtypes.name(tensor.dtype)}")
    return data


def _check_foldable(graph: Subgraph, op: Operator) -> None:
    if has_side_effects(op):
        raise _NotFolded("the operator has side effects")
    for tensor in op.outputs:
        if any(tensor is t for t in graph.outputs):
            raise _NotFolded(f"{tensor.name!r} is a subgraph output")


def _check_results(op: Operator, results: list[Array]) -> None:
    """The results must be what the model declares: one per output, of its type and shape."""
    if len(results) != len(op.outputs):
        raise _NotFolded(f"{len(results)} results for {len(op.outputs)} outputs")
    for tensor, result in zip(op.outputs, results, strict=True):
        if result.dtype != tensor.numpy_dtype:
            raise _NotFolded(f"the result is {result.dtype} but {tensor.name!r} is "
                               f"{dtypes.name(tensor.dtype)}")
        if tensor.shape is not None and tensor.shape != result.shape:
            raise _NotFolded(f"the result has shape {list(result.shape)} but {tensor.name!r} "
                               f"has shape {list(tensor.shape)}")
        if result.size == 0:
            raise _NotFolded(f"the result {tensor.name!r} is empty, which a constant cannot be")


def _check_growth(op: Operator, results: list[Array]) -> None:
    written = sum(r.nbytes for r in results)
    read = _bytes_read(op)
    if written > read:
        raise _NotFolded(f"the result ({written} bytes) is larger than the constants it reads "
                           f"({read} bytes) and allow_growth is off")


def _bytes_read(op: Operator) -> int:
    inputs = {id(t): t for t in op.inputs if t is not None}.values()
    if op.type in SHAPE_ONLY:
        return sum(_SHAPE_ENTRY_BYTES * len(t.shape or ()) for t in inputs)
    buffers = {id(t.buffer): t.buffer for t in inputs if t.buffer is not None}
    return sum(b.nbytes for b in buffers.values())


def _fixed_dimensions(op: Operator) -> str:
    """For a SHAPE-like operator, which dynamic dimensions folding fixes (else '')."""
    if op.type not in SHAPE_ONLY:
        return ""
    dynamic = [t for t in op.inputs if t is not None and t.shape_signature is not None
               and min(t.shape_signature, default=0) < 0]
    return "".join(f"; fixes the dynamic dimensions of {t.name!r} (shape_signature "
                   f"{list(t.shape_signature or ())}) to {list(t.shape or ())}" for t in dynamic)


def fold_constants(model: Model, *, allow_growth: bool = True, fold_shapes: bool = True) -> Model:
    """Fold every operator whose inputs are all constant (see :class:`FoldConstants`); returns
    ``model``."""
    FoldConstants(allow_growth=allow_growth, fold_shapes=fold_shapes)(model)
    return model

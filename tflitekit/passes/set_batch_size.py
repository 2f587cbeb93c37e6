"""set_batch_size: give the model's inputs a new batch (dimension 0) and carry it forward through
every operator known to keep dimension 0 as the batch."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..ir import Model, Operator, Subgraph, Tensor
from ..ir.opfacts import Batch, facts
from ..options import BuiltinOperator, ReshapeOptions
from ._graph import entry_subgraphs, sorted_operators
from .base import Pass, PassError, Report

__all__ = ["SetBatchSize", "set_batch_size"]

Check = Callable[[Operator, Container[int]], str | None]
"""Why an operator reading batched tensors (ids in the set) cannot carry the batch, or None."""

Rank = Callable[[Operator], int]

_MAX_BATCH = 2**31 - 1


# -- checks -----------------------------------------------------------------------------------


def _all(*checks: Check) -> Check:
    def check(op: Operator, batched: Container[int]) -> str | None:
        return next((why for c in checks if (why := c(op, batched)) is not None), None)
    return check


def _only(*slots: int) -> Check:
    """Only the inputs at ``slots`` may carry the batch."""
    def check(op: Operator, batched: Container[int]) -> str | None:
        for i, t in enumerate(op.inputs):
            if t is not None and id(t) in batched and i not in slots:
                return f"its input {i} {t.name!r} carries the batch, which it does not allow"
        return None
    return check


def _every(op: Operator, batched: Container[int]) -> str | None:
    """Every input must carry the batch (they are joined along another axis)."""
    for i, t in enumerate(op.inputs):
        if t is not None and id(t) not in batched:
            return f"its input {i} {t.name!r} does not carry the batch"
    return None


def _broadcasts(op: Operator, batched: Container[int]) -> str | None:
    """Elementwise with broadcasting: batched inputs have the output's rank, the others must
    broadcast over dimension 0."""
    rank = _output_rank(op)
    for i, t in enumerate(op.inputs):
        if t is None:
            continue
        if id(t) in batched and len(t.shape or ()) != rank:
            return f"its batched input {i} {t.name!r} is broadcast to a higher rank"
        if id(t) not in batched and (t.shape is None or (len(t.shape) == rank and t.shape[0] != 1)):
            return f"its input {i} {t.name!r} of shape {t.shape} does not broadcast over a batch"
    return None


def _input_rank(slot: int) -> Rank:
    return lambda op: len(op.inputs[slot].shape or ())  # type: ignore[union-attr]


def _output_rank(op: Operator) -> int:
    return len(op.outputs[0].shape or ())


def _hits_batch(axes: Iterable[int], rank: int) -> bool:
    return any(int(a) % max(rank, 1) == 0 for a in axes)


def _axis_option(field: str, rank: Rank) -> Check:
    def check(op: Operator, batched: Container[int]) -> str | None:
        axes = np.atleast_1d(getattr(op.options, field, 0)).tolist()
        return f"its {field} {axes} includes the batch dimension" if _hits_batch(
            axes, rank(op)) else None
    return check


def _constant(op: Operator, slot: int) -> tuple[Tensor | None, np.ndarray | None]:
    """The operand at ``slot`` and its flattened value (None when it is not a constant)."""
    t = op.inputs[slot] if slot < len(op.inputs) else None
    data = None if t is None else t.data
    return t, None if data is None else data.reshape(-1)


def _operand(slot: int, what: str, bad: Callable[[np.ndarray, Operator], bool]) -> Check:
    """The operand at ``slot`` must be a constant whose value ``bad`` does not reject."""
    def check(op: Operator, batched: Container[int]) -> str | None:
        t, value = _constant(op, slot)
        name = None if t is None else t.name
        if value is None:
            return f"its {what} operand {name!r} is not a constant"
        if bad(value, op):
            return f"its {what} operand {name!r} {value.tolist()} touches the batch dimension"
        return None
    return check


def _axis_operand(slot: int, rank: Rank) -> Check:
    return _operand(slot, "axis", lambda axes, op: _hits_batch(axes, rank(op)))


def _leading(value: np.ndarray, op: Operator) -> bool:
    """A shape whose first element is neither the batch (the output's dimension 0) nor -1."""
    batch = (op.outputs[0].shape or (-1,))[0]
    return value.size == 0 or int(value[0]) not in (-1, batch)


def _reshape_shape(op: Operator, batched: Container[int]) -> str | None:
    """The optional shape operand of RESHAPE, when present, is a constant led by the batch."""
    if len(op.inputs) < 2 or op.inputs[1] is None:
        return None
    return _operand(1, "shape", _leading)(op, batched)


def _keeps_rows(op: Operator, batched: Container[int]) -> str | None:
    """RESHAPE moves no element from one batch row to another."""
    before, after = op.inputs[0].shape or (), op.outputs[0].shape or ()  # type: ignore[union-attr]
    if np.prod(before[1:], dtype=np.int64) != np.prod(after[1:], dtype=np.int64):
        return f"it reshapes {before} to {after}, which does not keep the batch in dimension 0"
    return None


def _fully_connected(op: Operator, batched: Container[int]) -> str | None:
    shape = op.inputs[0].shape or ()  # type: ignore[union-attr]
    if getattr(op.options, "keep_num_dims", False) or np.prod(shape[1:-1], dtype=np.int64) == 1:
        return None
    return f"it flattens the dimensions of its input {shape} before the last into the batch"


def _squeeze(op: Operator, batched: Container[int]) -> str | None:
    dims = getattr(op.options, "squeeze_dims", None)
    if not dims:
        return "it squeezes every dimension of size 1, which may be the batch"
    return _axis_option("squeeze_dims", _input_rank(0))(op, batched)


def _gather(op: Operator, batched: Container[int]) -> str | None:
    if int(getattr(op.options, "batch_dims", 0)):
        return "it gathers with batch_dims"
    return _axis_option("axis", _input_rank(0))(op, batched)


def _strided_slice(op: Operator, batched: Container[int]) -> str | None:
    options = op.options
    if any(int(getattr(options, f, 0)) for f in ("ellipsis_mask", "new_axis_mask", "offset")):
        return "it uses an ellipsis, new axis or offset slice"
    masks = {f: int(getattr(options, f, 0)) & 1 for f in ("begin_mask", "end_mask",
                                                           "shrink_axis_mask")}
    values = [_constant(op, slot)[1] for slot in (1, 2, 3)]
    if any(v is None or v.size == 0 for v in values):
        return "its begin, end and strides operands are not all constants"
    begin, _, strides = (v[0] for v in values)  # type: ignore[index]
    if masks["shrink_axis_mask"] or not masks["end_mask"] or strides != 1 or not (
            masks["begin_mask"] or begin == 0):
        return "it does not take the whole batch dimension"
    return None


_RULES: dict[Batch, Check] = {
    Batch.ELEMENTWISE: _broadcasts,
    Batch.PER_SAMPLE: _only(0),
    Batch.REDUCTION: _all(_only(0), _axis_operand(1, _input_rank(0))),
    Batch.PAD: _all(_only(0), _operand(1, "paddings", lambda p, op: bool(p[:2].any()))),
    Batch.JOIN: _every,
    Batch.JOIN_AXIS: _all(_every, _axis_option("axis", _output_rank)),
    Batch.FULLY_CONNECTED: _all(_only(0), _fully_connected),
    Batch.TRANSPOSE_CONV: _all(_only(2), _operand(0, "output shape", _leading)),
    Batch.RESHAPE: _all(_only(0), _keeps_rows, _reshape_shape),
    Batch.SPLIT: _all(_only(1), _axis_operand(0, _input_rank(1))),
    Batch.SPLIT_V: _all(_only(0), _axis_operand(2, _input_rank(0))),
    Batch.EXPAND_DIMS: _all(_only(0), _axis_operand(1, _output_rank)),
    Batch.SQUEEZE: _all(_only(0), _squeeze),
    Batch.GATHER: _all(_only(0), _gather),
    Batch.TRANSPOSE: _all(_only(0), _operand(1, "perm", lambda p, op: int(p[0]) != 0)),
    Batch.STRIDED_SLICE: _all(_only(0), _strided_slice),
}
"""How each batch rule of the operator facts is checked."""

_HINTS = {BuiltinOperator.SHAPE: "; run fold_constants first so that the shape it reads "
                                  "becomes a constant"}


# -- the pass ---------------------------------------------------------------------------------


@dataclass
class SetBatchSize(Pass):
    """Set dimension 0 of the entry subgraphs' inputs to ``batch`` and of every tensor computed
    from them, rewriting RESHAPE / TRANSPOSE_CONV shape constants that start with the old batch.

    Only operators known to keep dimension 0 as the batch may read a batched tensor; any other
    raises :class:`PassError` naming it, before anything is changed. Other constants stay as
    they are.
    """

    batch: int
    name = "set_batch_size"

    def __post_init__(self) -> None:
        batch = self.batch
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
            raise UsageError(f"the batch must be an int, got {type(batch).__name__} {batch!r:.40}")
        if batch < 1:
            raise UsageError(f"the batch must be at least 1, got {batch}")
        if batch > _MAX_BATCH:
            raise UsageError(f"the batch must be at most {_MAX_BATCH} (a TFLite dimension is an "
                             f"int32), got {batch}")
        self.batch = int(batch)

    def run(self, model: Model, report: Report) -> None:
        graphs = entry_subgraphs(model)
        where = {id(g): k for k, g in enumerate(model.subgraphs)}
        old = _common_batch(graphs, where)
        if old == self.batch:
            report.skip(f"the inputs already have batch {old}")
            return
        plans = [(where[id(g)], g, *_carriers(g, where[id(g)], old)) for g in graphs]
        for index, graph, tensors, ops in plans:
            for tensor in tensors:
                report.change(f"subgraph {index}: {_rebatch(tensor, self.batch)}")
            edits = [(op, slot) for op in ops
                     if (slot := facts(op.type).shape_operand) is not None
                     and _leads_with(op, slot, old)]
            _rewrite_operands(graph, index, edits, self.batch, report)
            for op in ops:
                _rewrite_new_shape(op, old, self.batch, f"subgraph {index}", report)


def _common_batch(graphs: list[Subgraph], where: dict[int, int]) -> int:
    """The batch every entry input shares."""
    found: dict[int, str] = {}
    for graph in graphs:
        for tensor in graph.inputs:
            if not tensor.shape:
                raise PassError(f"set_batch_size: input {tensor.name!r} of subgraph "
                                f"{where[id(graph)]} has no batch dimension (shape "
                                f"{tensor.shape})")
            found.setdefault(tensor.shape[0], repr(tensor.name))
    if not found:
        raise PassError("set_batch_size: the model has no inputs")
    if len(found) > 1:
        listing = ", ".join(f"{name} has {batch}" for batch, name in found.items())
        raise PassError(f"set_batch_size: the inputs do not share one batch: {listing}")
    return next(iter(found))


def _carriers(graph: Subgraph, index: int, old: int) -> tuple[list[Tensor], list[Operator]]:
    """The tensors that carry the batch, in order, and the operators that read them."""
    batched = {id(t): t for t in graph.inputs}
    ops: list[Operator] = []
    for op in sorted_operators(graph):
        reads = [t for t in op.inputs if t is not None and id(t) in batched]
        if not reads:
            continue
        why = _why_not(op, batched.keys(), old)
        if why is not None:
            raise PassError(f"set_batch_size: operator {graph.operators.index(op)} "
                            f"({op.opcode.name}) of subgraph {index} reads the batched tensor "
                            f"{reads[0].name!r}: {why}")
        ops.append(op)
        batched.update((id(t), t) for t in op.outputs)
    for tensor in batched.values():
        q = tensor.quantization
        if q is not None and q.per_channel and q.quantized_dimension == 0:
            raise PassError(f"set_batch_size: tensor {tensor.name!r} of subgraph {index} carries "
                            "the batch but is quantized per batch row (quantized_dimension 0)")
    return list(batched.values()), ops


def _why_not(op: Operator, batched: Container[int], old: int) -> str | None:
    """Why ``op`` cannot take batched inputs and give outputs batched like them, or None."""
    rule = _RULES.get(facts(op.type).batch)
    if rule is None:
        return (f"{op.opcode.name} is not known to keep the batch in dimension 0"
                f"{_HINTS.get(op.type, '')}")
    if not op.outputs:
        return "it has no outputs"
    shapeless = [t for t in op.outputs if not t.shape]
    if shapeless:
        return f"its output {shapeless[0].name!r} has no dimensions (shape {shapeless[0].shape})"
    try:
        why = rule(op, batched)
    except IndexError:  # fewer operands than the operator takes
        return f"it has {len(op.inputs)} inputs, too few for {op.opcode.name}"
    moved = [t for t in op.outputs if t.shape[0] != old]  # type: ignore[index]
    if why is None and moved:
        why = (f"its output {moved[0].name!r} of shape {moved[0].shape} does not have the "
               f"batch {old} in dimension 0")
    return why


def _rebatch(tensor: Tensor, batch: int) -> str:
    before = tensor.shape
    tensor.shape = (batch, *tensor.shape[1:])  # type: ignore[index]
    signature = tensor.shape_signature
    if signature and signature[0] != -1:
        tensor.shape_signature = (batch, *signature[1:])
    return f"tensor {tensor.name!r} shape {before} -> {tensor.shape}"


def _leads_with(op: Operator, slot: int, old: int) -> bool:
    """The operator's shape operand (at ``slot``) is present and starts with ``old``."""
    value = _constant(op, slot)[1]
    return value is not None and int(value[0]) == old


def _rewrite_operands(graph: Subgraph, index: int, edits: list[tuple[Operator, int]],
                      batch: int, report: Report) -> None:
    """Make each edited shape operand start with ``batch``: in place when nothing else reads
    the constant, else in a new constant for the edited operators."""
    groups: dict[int, list[tuple[Operator, int]]] = {}
    for op, slot in edits:
        groups.setdefault(id(op.inputs[slot]), []).append((op, slot))
    for uses in groups.values():
        tensor = uses[0][0].inputs[uses[0][1]]
        assert tensor is not None and tensor.data is not None
        before = tensor.data.reshape(-1).tolist()
        value = np.array(tensor.data)
        value.reshape(-1)[0] = batch
        if len(tensor.uses) == len(uses):
            tensor.data = value
            report.change(f"subgraph {index}: constant {tensor.name!r} {before} -> "
                          f"{value.tolist()}")
            continue
        q = tensor.quantization
        clone = graph.add_tensor(Tensor.constant(f"{tensor.name}/batch_{batch}", value,
                                                 tensor.dtype,
                                                 quantization=None if q is None else q.copy()))
        for op, slot in uses:
            op.set_input(slot, clone)
        report.change(f"subgraph {index}: new constant {clone.name!r} {value.tolist()} replaces "
                      f"{tensor.name!r} {before} in {len(uses)} operator(s)")


def _rewrite_new_shape(op: Operator, old: int, batch: int, where: str, report: Report) -> None:
    """RESHAPE's new_shape option, when it starts with ``old``, starts with ``batch``."""
    if not isinstance(op.options, ReshapeOptions) or not op.options.new_shape:
        return
    before = list(op.options.new_shape)
    if before[0] == old:
        op.options = ReshapeOptions(new_shape=[batch, *before[1:]])
        report.change(f"{where}: RESHAPE new_shape option {before} -> {op.options.new_shape}")


def set_batch_size(model: Model, batch: int) -> Model:
    """Give ``model`` the batch ``batch`` (see :class:`SetBatchSize`); returns ``model``."""
    SetBatchSize(batch)(model)
    return model

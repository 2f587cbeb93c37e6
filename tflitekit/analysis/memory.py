"""Tensor lifetimes and the arena head TFLite Micro plans for a model, in a given operator order.

TFLite Micro keeps every activation in the non-persistent "head" of its arena, placed once by
its GreedyMemoryPlanner (:mod:`.planner`). What it plans and when each buffer lives follows
``micro_allocation_info.cc`` and ``micro_allocator.cc``:

- One plan holds every subgraph's tensors and every scratch buffer a kernel requests in
  Prepare. Buffers are numbered subgraph 0's tensors in file order, then subgraph 1's, and so
  on, then the scratch buffers in request order (subgraph, operator, request); the planner
  breaks ties between equal sizes by that number.
- A tensor is planned when it has no constant data, is not a variable (variables live in the
  persistent tail, unless an ``OfflineMemoryAllocation`` entry places them) and is not empty.
- Lifetimes count allocation scopes. Scope 0 holds the main subgraph's inputs; each operator
  opens the next scope, and a control-flow operator (IF, WHILE, CALL_ONCE) one more for each
  subgraph it calls, whose lifetimes are marked there before the operator's inputs are marked
  read. A tensor lives from the scope of its producer (a subgraph's inputs: from the scope
  that subgraph starts in) to the scope of its last reader; a subgraph's outputs to the last
  scope of that subgraph. A scratch buffer lives through its operator's scopes. Tensors that
  no operator of a reached subgraph touches keep TFLite Micro's unset lifetime (-1, -1), where
  all of them coexist.
- A buffer's size is its element count times TFLite Micro's byte size of the type, rounded
  up to 16 bytes for the plan.

Byte counts: :attr:`Memory.no_reuse_bytes` and :attr:`Memory.peak_live_bytes` add the buffers'
own sizes (no alignment); :attr:`Memory.arena_head_bytes` is the planner's head, aligned.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import FormatError, UsageError
from ..ir import Model, Operator, Subgraph, Tensor
from ..options import BuiltinOperator as Op
from ..options import TensorType as T
from ..serde.numbering import Numbering
from .planner import Request, align, greedy_plan

__all__ = ["POINTER_BYTES", "TARGETS", "Allocation", "Memory", "Step", "Target", "check_target",
           "memory", "scratch_requests",
           "tensor_bytes"]

Target = Literal["host", "target32"]
"""A TFLite Micro build: the 64-bit host build of the Python runtime, or a 32-bit
microcontroller."""

POINTER_BYTES: dict[Target, int] = {"host": 8, "target32": 4}
"""Pointer size of each build. Of the head, only ADD_N's scratch buffer (a pointer per input)
depends on it; :mod:`.arena` has the struct sizes of each build's tail."""

TARGETS: tuple[Target, ...] = tuple(POINTER_BYTES)

OFFLINE_METADATA = "OfflineMemoryAllocation"

# TFLite Micro's TfLiteTypeSizeOf; it refuses the other types.
_TYPE_BYTES = {T.FLOAT16: 2, T.BFLOAT16: 2, T.FLOAT32: 4, T.FLOAT64: 8, T.INT16: 2, T.INT32: 4,
               T.UINT32: 4, T.UINT8: 1, T.UINT16: 2, T.INT8: 1, T.INT64: 8, T.UINT64: 8,
               T.BOOL: 1, T.RESOURCE: 4, T.COMPLEX64: 8, T.COMPLEX128: 16, T.INT4: 1}


def tensor_bytes(tensor: Tensor) -> int:
    """Bytes TFLite Micro gives ``tensor``: elements times its size of the type (an INT4
    element takes a byte). :class:`UsageError` for types and shapes it cannot hold."""
    size = _TYPE_BYTES.get(tensor.dtype)
    if size is None:
        raise UsageError(f"tensor {tensor.name!r}: TFLite Micro has no buffers of type "
                         f"{tensor.dtype.name}")
    shape = tensor.shape or ()
    if any(d < 0 for d in shape):
        raise UsageError(f"tensor {tensor.name!r} has a dynamic shape {list(shape)}; TFLite "
                         "Micro plans static shapes only")
    return math.prod(shape) * size


# ------------------------------------------------------------------------------------------------
# Scratch buffers: what each reference kernel of TFLite Micro requests in Prepare
# ------------------------------------------------------------------------------------------------


def _elements(tensor: Tensor | None) -> int:
    return 0 if tensor is None else math.prod(tensor.shape or ())


def _rank(tensor: Tensor | None) -> int:
    return 0 if tensor is None else len(tensor.shape or ())


def _operand(op: Operator, index: int) -> Tensor | None:
    return op.inputs[index] if index < len(op.inputs) else None


def _dim(tensor: Tensor | None, axis: int) -> int:
    shape = () if tensor is None else tensor.shape or ()
    return shape[axis] if -len(shape) <= axis < len(shape) else 0


def _add_n(op: Operator, pointer: int) -> list[int]:
    """A pointer per input (float32 and int8 outputs)."""
    return [pointer * len(op.inputs)] if op.outputs[0].dtype in (T.FLOAT32, T.INT8) else []


def _int4_filter(op: Operator, pointer: int) -> list[int]:
    """CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: a byte per element to unpack int4 weights."""
    weights = _operand(op, 1)
    return [_elements(weights)] if weights is not None and weights.dtype == T.INT4 else []


def _mirror_pad(op: Operator, pointer: int) -> list[int]:
    """Two int arrays of the input's rank."""
    return [4 * _rank(op.inputs[0])] * 2


def _mean_sum(op: Operator, pointer: int) -> list[int]:
    """An int32 accumulator per output element (8- and 16-bit inputs), then the iterator and
    the resolved axes (ints)."""
    x = op.inputs[0]
    accumulator = [4 * _elements(op.outputs[0])] if x is not None and x.dtype in (
        T.INT8, T.INT16) else []
    return [*accumulator, 4 * _rank(x), 4 * _elements(_operand(op, 1))]


def _reduce(op: Operator, pointer: int) -> list[int]:
    """REDUCE_MAX, REDUCE_MIN, REDUCE_ALL: the iterator and the resolved axes (ints)."""
    return [4 * _rank(op.inputs[0]), 4 * _elements(_operand(op, 1))]


def _svdf(op: Operator, pointer: int) -> list[int]:
    """int32 (or float) state per batch and filter; int8 also an int32 output per unit."""
    batch, filters = _dim(op.inputs[0], 0), _dim(_operand(op, 1), 0)
    rank = getattr(op.options, "rank", 0) or 1
    x = op.inputs[0]
    if x is not None and x.dtype == T.INT8:
        return [4 * batch * filters, 4 * batch * (filters // rank)]
    return [4 * batch * filters]


def _transpose_conv(op: Operator, pointer: int) -> list[int]:
    """An int32 (int8 inputs) or int64 (int16 inputs) accumulator per output element; int16
    with an int16 bias also an int64 copy of the bias."""
    x, bias, y = _operand(op, 2), _operand(op, 3), op.outputs[0]
    if x is None or x.dtype not in (T.INT8, T.INT16):
        return []
    if x.dtype == T.INT8:
        return [4 * _elements(y)]
    converted = [8 * _elements(bias)] if bias is not None and bias.dtype == T.INT16 else []
    return [8 * _elements(y), *converted]


def _lstm(op: Operator, pointer: int) -> list[int]:
    """Four gate buffers of batch x state elements of the cell state's type."""
    cell = _operand(op, 19)
    if cell is None or cell.dtype not in (T.FLOAT32, T.INT16):
        return []
    batch = _dim(op.inputs[0], 1 if getattr(op.options, "time_major", False) else 0)
    return [batch * _dim(_operand(op, 18), 1) * _TYPE_BYTES[cell.dtype]] * 4


def _detection_postprocess(op: Operator, pointer: int) -> list[int]:
    """Candidates, decoded boxes, scores and the non-max-suppression work arrays."""
    from flatbuffers import flexbuffers  # type: ignore[import-untyped]

    options: Any = flexbuffers.Loads(op.custom_options or b"")
    boxes, detections = _dim(op.inputs[0], 1), int(options["max_detections"])
    scores = op.inputs[1]
    return [boxes, boxes * 4 * 4, _dim(scores, 1) * _dim(scores, 2) * 4, boxes * 4, boxes * 4,
            detections * boxes * 4, detections * boxes * 4, boxes * 4, detections * boxes * 4,
            max(int(options["num_classes"]), detections) * boxes * 4,
            min(boxes, detections) * boxes * 4]


_Rule = Callable[[Operator, int], list[int]]
_SCRATCH: dict[Op | str, _Rule] = {
    Op.ADD_N: _add_n, Op.CONV_2D: _int4_filter, Op.DEPTHWISE_CONV_2D: _int4_filter,
    Op.FULLY_CONNECTED: _int4_filter, Op.MIRROR_PAD: _mirror_pad, Op.MEAN: _mean_sum,
    Op.SUM: _mean_sum, Op.REDUCE_MAX: _reduce, Op.REDUCE_MIN: _reduce, Op.REDUCE_ALL: _reduce,
    Op.SVDF: _svdf, Op.TRANSPOSE_CONV: _transpose_conv,
    Op.UNIDIRECTIONAL_SEQUENCE_LSTM: _lstm, "TFLite_Detection_PostProcess": _detection_postprocess,
}


def scratch_requests(op: Operator, target: str = "host") -> tuple[int, ...]:
    """Bytes of each scratch buffer TFLite Micro's reference kernel for ``op`` requests in
    Prepare, in request order (none for most operators). ``target`` is a key of
    :data:`TARGETS`."""
    key: Op | str | None = op.opcode.custom_code if op.opcode.is_custom else op.type
    rule = _SCRATCH.get(key) if key is not None else None
    return tuple(rule(op, POINTER_BYTES[check_target(target)])) if rule is not None else ()


def check_target(target: str) -> Target:
    """``target`` if it names a build of :data:`TARGETS`; :class:`UsageError` otherwise."""
    if target not in POINTER_BYTES:
        raise UsageError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    return target


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """One planned buffer: a tensor (``tensor`` is its index in ``subgraph``) or a scratch
    buffer of operator ``operator``. ``first`` and ``last`` are the allocation scopes it lives
    in (see :class:`Step`); ``offset`` is where the planner puts it in the head."""

    subgraph: int
    tensor: int | None
    operator: int | None
    name: str
    bytes: int
    aligned_bytes: int
    first: int
    last: int
    offset: int

    @property
    def kind(self) -> str:
        return "scratch" if self.tensor is None else "tensor"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subgraph": self.subgraph, "tensor": self.tensor,
                "operator": self.operator, "name": self.name, "bytes": self.bytes,
                "aligned_bytes": self.aligned_bytes, "first": self.first, "last": self.last,
                "offset": self.offset}


@dataclass(frozen=True)
class Step:
    """One allocation scope: an operator (``operator`` is its index in ``subgraph``), the start
    of a subgraph (``operator`` None), or scope -1 of never-touched tensors (``subgraph``
    None too). ``allocations`` index :attr:`Memory.allocations` alive in it; ``live_bytes``
    adds their sizes; ``extent`` is the end of the highest of them in the head."""

    time: int
    subgraph: int | None
    operator: int | None
    opcode: str | None
    live_bytes: int
    extent: int
    allocations: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "subgraph": self.subgraph, "operator": self.operator,
                "opcode": self.opcode, "live_bytes": self.live_bytes, "extent": self.extent,
                "allocations": list(self.allocations)}


@dataclass(frozen=True)
class Memory:
    """Activation memory of a model under TFLite Micro (see the module for the rules).

    ``no_reuse_bytes``: every planned buffer at once (the worst case, no reuse);
    ``peak_live_bytes``: the most bytes alive in one scope for this order (the best any
    planner could do, before alignment); ``arena_head_bytes``: the head TFLite Micro's
    GreedyMemoryPlanner allocates, exact. ``order`` is the operator order of ``subgraph`` used.
    """

    no_reuse_bytes: int
    peak_live_bytes: int
    arena_head_bytes: int
    subgraph: int
    order: tuple[int, ...]
    allocations: tuple[Allocation, ...]
    timeline: tuple[Step, ...]

    def to_json(self) -> dict[str, Any]:
        return {"no_reuse_bytes": self.no_reuse_bytes, "peak_live_bytes": self.peak_live_bytes,
                "arena_head_bytes": self.arena_head_bytes, "subgraph": self.subgraph,
                "order": list(self.order),
                "allocations": [a.to_json() for a in self.allocations],
                "timeline": [s.to_json() for s in self.timeline]}


# ------------------------------------------------------------------------------------------------
# Lifetimes
# ------------------------------------------------------------------------------------------------


_CALLS = {Op.IF: ("then_subgraph_index", "else_subgraph_index"),
          Op.WHILE: ("cond_subgraph_index", "body_subgraph_index"),
          Op.CALL_ONCE: ("init_subgraph_index",)}


def subgraphs_run_by(model: Model, op: Operator) -> list[int]:
    """Indices of the subgraphs a control-flow operator runs, in TFLite Micro's order."""
    called = [getattr(op.options, name) for name in _CALLS.get(op.type, ())]
    for index in called:
        if not 0 <= index < len(model.subgraphs):
            raise FormatError(f"{op.opcode.name} calls subgraph {index}; the model has "
                              f"{len(model.subgraphs)}")
    return called


class _Buffer:
    """A planned buffer while lifetimes are marked (TFLite Micro's AllocationInfo)."""

    __slots__ = ("bytes", "first", "last", "name", "offline", "operator", "subgraph", "tensor")

    def __init__(self, subgraph: int, tensor: int | None, operator: int | None, name: str,
                 size: int, offline: int | None) -> None:
        self.subgraph, self.tensor, self.operator, self.name = subgraph, tensor, operator, name
        self.bytes, self.offline = size, offline
        self.first = self.last = -1

    def created(self, scope: int) -> None:
        if self.first == -1:
            self.first = scope

    def used(self, scope: int) -> None:
        self.last = scope


class _Lifetimes:
    """TFLite Micro's lifetime marking over every subgraph, with operators in ``orders``."""

    def __init__(self, model: Model, orders: list[list[Operator]], target: str) -> None:
        self.model, self.orders = model, orders
        self.positions = [{id(op): k for k, op in enumerate(g.operators)}
                          for g in model.subgraphs]
        numbering = Numbering(model)
        self.files = [numbering.tensors(g) for g in model.subgraphs]
        offline = _offline_offsets(model, sum(map(len, self.files)))
        self.buffers: list[_Buffer | None] = []  # per tensor of every subgraph, then scratch
        self.index: list[dict[int, int]] = []
        for s, tensors in enumerate(self.files):
            self.index.append({id(t): len(self.buffers) + k for k, t in enumerate(tensors)})
            for k, t in enumerate(tensors):
                place = offline[len(self.buffers)] if offline else None
                self.buffers.append(_tensor_buffer(s, k, t, place))
        self.scratch: dict[tuple[int, int], list[_Buffer]] = {}
        for s, ops in enumerate(orders):
            for op in ops:
                position = self.positions[s][id(op)]
                made = [_Buffer(s, None, position, f"scratch {r} of operator {position} "
                                f"({op.opcode.name})", size, None)
                        for r, size in enumerate(scratch_requests(op, target))]
                self.scratch[(s, id(op))] = made
                self.buffers += made
        self.scope = 0
        self.scopes: dict[int, tuple[int, int | None]] = {0: (0, None)}
        self._mark(0, set())

    def _tensor(self, s: int, tensor: Tensor | None) -> _Buffer | None:
        return None if tensor is None else self.buffers[self.index[s][id(tensor)]]

    def _mark(self, s: int, active: set[int]) -> None:
        if s in active:
            raise UsageError(f"subgraph {s} calls itself; TFLite Micro cannot plan it")
        graph = self.model.subgraphs[s]
        for t in graph.inputs:
            b = self._tensor(s, t)
            if b is not None:
                b.created(self.scope)
                b.used(self.scope)
        for op in self.orders[s]:
            self.scope += 1
            self.scopes[self.scope] = (s, self.positions[s][id(op)])
            for t in op.outputs:
                b = self._tensor(s, t)
                if b is not None:
                    b.created(self.scope)
            start = self.scope
            for called in subgraphs_run_by(self.model, op):
                self.scope += 1
                self.scopes[self.scope] = (called, None)
                self._mark(called, active | {s})
            for operand in (*op.inputs, *op.outputs):
                b = self._tensor(s, operand)
                if b is not None:
                    b.used(self.scope)
            for b in self.scratch[(s, id(op))]:
                b.created(start)
                b.used(self.scope)
        for t in graph.outputs:
            b = self._tensor(s, t)
            if b is not None:
                b.created(self.scope)
                b.used(self.scope)


def _tensor_buffer(subgraph: int, index: int, tensor: Tensor, offline: int | None
                   ) -> _Buffer | None:
    """The planned buffer of ``tensor``, or None when TFLite Micro does not plan it."""
    if offline == -1:
        offline = None
    if tensor.is_constant or (tensor.is_variable and offline is None):
        return None
    size = tensor_bytes(tensor)
    if size == 0:
        return None
    return _Buffer(subgraph, index, None, tensor.name or f"tensor {index}", size, offline)


def _offline_offsets(model: Model, tensors: int) -> list[int] | None:
    """Offsets of the ``OfflineMemoryAllocation`` metadata, one per tensor of every subgraph
    (-1: planned online), or None without it."""
    data = model.get_metadata(OFFLINE_METADATA)
    if data is None:
        return None
    if len(data) < 12 or len(data) % 4:
        raise FormatError(f"metadata {OFFLINE_METADATA}: {len(data)} bytes is no offset table")
    words = struct.unpack(f"<{len(data) // 4}i", data)
    count = words[2]
    if count != tensors or len(words) < 3 + count:
        raise FormatError(f"metadata {OFFLINE_METADATA} has {count} offsets for {tensors} "
                          "tensors")
    return list(words[3:3 + count])


# ------------------------------------------------------------------------------------------------
# memory()
# ------------------------------------------------------------------------------------------------


def _orders(model: Model, order: Sequence[int] | None, subgraph: int) -> list[list[Operator]]:
    if not 0 <= subgraph < len(model.subgraphs):
        raise UsageError(f"subgraph {subgraph} does not exist; the model has "
                         f"{len(model.subgraphs)}")
    orders = [list(g.operators) for g in model.subgraphs]
    if order is not None:
        graph = model.subgraphs[subgraph]
        positions = [int(k) for k in order]
        if sorted(positions) != list(range(len(graph.operators))):
            raise UsageError(f"order must be a permutation of the {len(graph.operators)} "
                             f"operator indices of subgraph {subgraph}")
        orders[subgraph] = [graph.operators[k] for k in positions]
        _check_topological(graph, orders[subgraph])
    return orders


def _check_topological(graph: Subgraph, ops: list[Operator]) -> None:
    position = {id(op): k for k, op in enumerate(graph.operators)}
    done: set[int] = set()
    for op in ops:
        for t in filter(None, op.inputs):
            producer = t.producer
            if producer is not None and producer is not op and id(producer) not in done:
                raise UsageError(f"order runs operator {position[id(op)]} ({op.opcode.name}) "
                                 f"before operator {position[id(producer)]}, which produces "
                                 f"{t.name!r}")
        done.add(id(op))


def memory(model: Model, order: Sequence[int] | None = None, *, subgraph: int = 0,
           target: str = "host") -> Memory:
    """Lifetimes, the greedy plan and the arena head of ``model`` under TFLite Micro.

    ``order`` runs the operators of ``subgraph`` in that order (a permutation of their
    indices that keeps producers first), as if the model were saved so; by default the
    model's own order. ``target`` (a key of :data:`TARGETS`) sets the pointer size that
    scratch buffers may depend on.
    """
    marked = _Lifetimes(model, _orders(model, order, subgraph), target)
    buffers = [b for b in marked.buffers if b is not None]
    plan = greedy_plan([Request(align(b.bytes), b.first, b.last, b.offline) for b in buffers])
    allocations = tuple(
        Allocation(b.subgraph, b.tensor, b.operator, b.name, b.bytes, align(b.bytes), b.first,
                   b.last, offset) for b, offset in zip(buffers, plan.offsets, strict=True))
    timeline = tuple(_step(model, time, marked.scopes.get(time), allocations)
                     for time in range(min([0, *(a.first for a in allocations)]),
                                       max([marked.scope, *(a.last for a in allocations)]) + 1))
    return Memory(
        no_reuse_bytes=sum(a.bytes for a in allocations),
        peak_live_bytes=max((s.live_bytes for s in timeline), default=0),
        arena_head_bytes=plan.head, subgraph=subgraph,
        order=tuple(marked.positions[subgraph][id(op)] for op in marked.orders[subgraph]),
        allocations=allocations, timeline=timeline)


def _step(model: Model, time: int, scope: tuple[int, int | None] | None,
          allocations: tuple[Allocation, ...]) -> Step:
    live = tuple(k for k, a in enumerate(allocations) if a.first <= time <= a.last)
    subgraph, operator = scope if scope is not None else (None, None)
    opcode = None
    if subgraph is not None and operator is not None:
        opcode = model.subgraphs[subgraph].operators[operator].opcode.name
    return Step(time, subgraph, operator, opcode,
                live_bytes=sum(allocations[k].bytes for k in live),
                extent=max((allocations[k].offset + allocations[k].aligned_bytes for k in live),
                           default=0),
                allocations=live)

"""The TFLite Micro arena: the planned head plus the persistent tail, modelled per operator.

``AllocateTensors`` fills the arena from both ends. The head holds the activations the memory
planner lays out (:mod:`tflitekit.analysis.memory` computes it exactly). The tail grows down
from the arena's end, one persistent allocation after another, each aligned down to its own
alignment, so padding depends on the order. This module replays that order:

1. the allocator's own objects (buffer allocator, greedy memory planner, micro allocator), the
   builtin-data allocator and one ``SubgraphAllocations`` per subgraph;
2. per subgraph, the ``TfLiteEvalTensor`` array (one per tensor of the file), then per subgraph
   the ``NodeAndRegistration`` array (one per operator);
3. each operator's parsed builtin options (``TfLiteConvParams``...), in subgraph then operator
   order;
4. each kernel's ``Init``: its op-data struct (``OpDataConv``...), aligned to 16;
5. each kernel's ``Prepare``: per-channel output multipliers and shifts (conv, depthwise conv,
   per-channel fully connected), softmax's int16 lookup tables, ..., aligned to 16;
   ``TFLM_DECODE`` (no ``Init``): its ``DecodeState*`` array (one per output), then per output
   its ``DecodeStateLut`` / ``DecodeStateHuffman`` / ``DecodeStatePrune`` (by the ancillary
   tensor's type byte), and a prune's int8 zero points when per channel and not all zero
   (``decode.cc``, ``decode_state*.cc``). The decoded tensors are planned in the head, as
   ``AllocateDecompressionMemory`` finds no alternate decompression region by default;
6. one ``ScratchBufferHandle`` per scratch buffer the kernels requested, then the buffers of
   variable tensors (aligned to 16);
7. the interpreter's input and output ``TfLiteTensor`` pointer arrays (aligned to 16), each
   followed by the persistent ``TfLiteTensor`` and, for a quantized tensor, its
   ``TfLiteAffineQuantization`` and zero-point array.

Two builds, whose struct sizes differ:

- ``"host"``: the 64-bit build of the ``tflite-micro`` Python wheel (0.dev20261023, built with
  ``USE_TFLM_COMPRESSION``) and its recording allocator. Sizes were read from that wheel: the
  option structs from the allocation its parse functions make, the op-data structs from the
  persistent bytes single-operator models record. Exact on every corpus model.
- ``"target32"``: a Cortex-M build (``arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb``, its default
  short enums; 4-byte pointers; no compression) of tflite-micro's sources at commit 90b983c
  (August 2026), with the plain ``MicroAllocator`` an application creates. Sizes are
  ``sizeof``/``alignof`` of those sources compiled for that target (``_TARGET32`` lists them:
  e.g. ``TfLiteEvalTensor`` 12, ``NodeAndRegistration`` 32, ``TfLiteTensor`` 32, ``OpDataConv``
  56, ``SoftmaxParams`` 56 and 8-aligned for its double; short enums make
  ``TfLiteFullyConnectedParams`` 5 bytes; ``DecodeStateLut`` / ``Huffman`` / ``Prune`` 36 / 28 /
  40 from ``arm-none-eabi-g++`` 12.2, against 72 / 56 / 80 from the host's ``g++`` and the
  wheel alike; ``TFLM_DECODE`` needs no ``USE_TFLM_COMPRESSION``, which leaves these classes
  unchanged). A model, not measured: both assume the arena's end is 16-byte aligned. The wheel
  is two months newer than those sources; one host struct already differs from them
  (``TfLiteFullyConnectedParams``: 32 bytes, 8-aligned, with a pointer and a count after
  ``quantized_bias_type``, vs 16), so ``target32`` may lag the newest tflite-micro by such a
  field.

Operators outside the tables are counted with no op data and listed in ``Arena.unmodelled``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..codecs import tflm
from ..ir import Model, Operator, Tensor, dtypes
from ..options import BuiltinOperator as Op
from ..options import TensorType
from ..serde.numbering import Numbering
from .memory import TARGETS, Target, check_target, memory

#: Alignment of ``MicroAllocator::AllocatePersistentBuffer`` (kernel buffers, tensor arrays).
BUFFER_ALIGNMENT = 16
#: Entries of softmax's int16 exp and 1/(1+x) lookup tables (``LUTSize<int16_t>()``).
SOFTMAX_INT16_LUT = 513
#: ``DecodeState::kDcmTypePrune``, the third decode type (tflitekit writes LUT and Huffman).
DECODE_PRUNE = 2

_REDUCERS = (Op.MEAN, Op.SUM, Op.REDUCE_MAX, Op.REDUCE_MIN)


@dataclass(frozen=True)
class _Build:
    """Struct sizes (bytes) and alignments of one build of TFLite Micro."""

    pointer: int
    allocator_objects: tuple[tuple[str, int], ...]  # pointer-aligned, in allocation order
    builtin_data_allocator: int
    subgraph_allocations: int
    eval_tensor: int
    node_and_registration: int
    tflite_tensor: int
    affine_quantization: int
    options: dict[Op, tuple[str, int, int]]  # parsed builtin options: struct, size, alignment
    op_data: dict[Op, tuple[str, int]]  # what Init allocates: struct, size (0: nothing)
    decode_states: dict[int, tuple[str, int]]  # TFLM_DECODE's state per decode type byte


_CONV = ("OpDataConv", 80)
_HOST = _Build(
    pointer=8,
    allocator_objects=(("RecordingSingleArenaBufferAllocator", 104), ("GreedyMemoryPlanner", 72),
                       ("RecordingMicroAllocator", 272)),
    builtin_data_allocator=16, subgraph_allocations=24, eval_tensor=24,
    node_and_registration=64, tflite_tensor=64, affine_quantization=24,
    options={
        Op.ADD: ("TfLiteAddParams", 8, 4), Op.SUB: ("TfLiteSubParams", 8, 4),
        Op.MUL: ("TfLiteMulParams", 4, 4),
        Op.CONV_2D: ("TfLiteConvParams", 28, 4),
        Op.DEPTHWISE_CONV_2D: ("TfLiteDepthwiseConvParams", 28, 4),
        Op.FULLY_CONNECTED: ("TfLiteFullyConnectedParams", 32, 8),
        Op.SOFTMAX: ("TfLiteSoftmaxParams", 4, 4),
        Op.AVERAGE_POOL_2D: ("TfLitePoolParams", 40, 4),
        Op.MAX_POOL_2D: ("TfLitePoolParams", 40, 4),
        Op.RESHAPE: ("TfLiteReshapeParams", 36, 4), Op.SQUEEZE: ("TfLiteSqueezeParams", 36, 4),
        **{op: ("TfLiteReducerParams", 1, 1) for op in _REDUCERS},
        Op.STRIDED_SLICE: ("TfLiteStridedSliceParams", 24, 4),
        Op.PACK: ("TfLitePackParams", 8, 4), Op.SHAPE: ("TfLiteShapeParams", 4, 4),
        Op.CONCATENATION: ("TfLiteConcatenationParams", 8, 4),
        Op.LEAKY_RELU: ("TfLiteLeakyReluParams", 4, 4),
        Op.RESIZE_NEAREST_NEIGHBOR: ("TfLiteResizeNearestNeighborParams", 2, 1),
        Op.RESIZE_BILINEAR: ("TfLiteResizeBilinearParams", 2, 1),
        Op.TRANSPOSE_CONV: ("TfLiteTransposeConvParams", 20, 4),
    },
    op_data={
        Op.ADD: ("OpDataAdd", 60), Op.SUB: ("OpDataSub", 52), Op.MUL: ("OpDataMul", 36),
        Op.CONV_2D: _CONV, Op.DEPTHWISE_CONV_2D: _CONV,
        Op.FULLY_CONNECTED: ("OpDataFullyConnected", 72), Op.SOFTMAX: ("SoftmaxParams", 80),
        Op.AVERAGE_POOL_2D: ("OpDataPooling", 32), Op.MAX_POOL_2D: ("OpDataPooling", 32),
        Op.QUANTIZE: ("OpDataQuantizeReference", 32), Op.DEQUANTIZE: ("DequantizeOpData", 32),
        Op.LOGISTIC: ("OpDataLogistic", 16), Op.TANH: ("OpData (tanh)", 16),
        Op.RELU: ("ReluOpData", 28), Op.RELU6: ("Relu6OpData", 8),
        Op.HARD_SWISH: ("HardSwishParams", 20), Op.LEAKY_RELU: ("LeakyReluOpData", 24),
        Op.ELU: ("OpData (elu)", 256), Op.CONCATENATION: ("OpData (concatenation)", 80),
        **{op: ("OpDataReduce", 44) for op in _REDUCERS},
        Op.STRIDED_SLICE: ("StridedSliceParams", 84), Op.PAD: ("OpData (pad)", 56),
        Op.PADV2: ("OpData (pad)", 56), Op.TRANSPOSE_CONV: ("OpData (transpose conv)", 88),
        **{op: ("", 0) for op in (Op.RESHAPE, Op.SHAPE, Op.PACK, Op.MAXIMUM, Op.MINIMUM,
                                   Op.EXP, Op.TRANSPOSE, Op.SQUEEZE,
                                   Op.RESIZE_NEAREST_NEIGHBOR, Op.RESIZE_BILINEAR)},
    },
    decode_states={tflm.LUT: ("DecodeStateLut", 72), tflm.HUFFMAN: ("DecodeStateHuffman", 56),
                   DECODE_PRUNE: ("DecodeStatePrune", 80)},
)

_TARGET32 = _Build(
    pointer=4,
    allocator_objects=(("SingleArenaBufferAllocator", 36), ("GreedyMemoryPlanner", 44),
                       ("MicroAllocator", 36)),
    builtin_data_allocator=8, subgraph_allocations=8, eval_tensor=12,
    node_and_registration=32, tflite_tensor=32, affine_quantization=12,
    options={
        **_HOST.options,
        Op.ADD: ("TfLiteAddParams", 2, 1), Op.SUB: ("TfLiteSubParams", 2, 1),
        Op.MUL: ("TfLiteMulParams", 1, 1),
        Op.FULLY_CONNECTED: ("TfLiteFullyConnectedParams", 5, 1),
        Op.SHAPE: ("TfLiteShapeParams", 1, 1),
        Op.TRANSPOSE_CONV: ("TfLiteTransposeConvParams", 16, 4),
    },
    op_data={
        **_HOST.op_data,
        Op.CONV_2D: ("OpDataConv", 56), Op.DEPTHWISE_CONV_2D: ("OpDataConv", 56),
        Op.FULLY_CONNECTED: ("OpDataFullyConnected", 48), Op.SOFTMAX: ("SoftmaxParams", 56),
        Op.CONCATENATION: ("OpData (concatenation)", 24),
        Op.TRANSPOSE_CONV: ("OpData (transpose conv)", 72),
    },
    decode_states={tflm.LUT: ("DecodeStateLut", 36), tflm.HUFFMAN: ("DecodeStateHuffman", 28),
                   DECODE_PRUNE: ("DecodeStatePrune", 40)},
)

_BUILDS: dict[Target, _Build] = {"host": _HOST, "target32": _TARGET32}


@dataclass(frozen=True)
class ArenaItem:
    """One persistent allocation (or one array of them), with the padding it caused."""

    what: str
    bytes: int  # alignment padding included
    requested: int
    subgraph: int | None = None  # the operator's, for an allocation an operator caused
    operator: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"what": self.what, "bytes": self.bytes, "requested": self.requested,
                "subgraph": self.subgraph, "operator": self.operator}


@dataclass(frozen=True)
class OperatorTail:
    """The tail bytes one operator causes: node, options, op data, kernel buffers."""

    subgraph: int
    index: int
    opcode: str
    bytes: int

    def to_json(self) -> dict[str, object]:
        return {"subgraph": self.subgraph, "index": self.index, "opcode": self.opcode,
                "bytes": self.bytes}


@dataclass(frozen=True)
class Arena:
    """TFLite Micro's arena for a model: the planner's head plus the persistent tail."""

    target: Target
    head_bytes: int
    tail_bytes: int
    items: tuple[ArenaItem, ...]
    operators: tuple[OperatorTail, ...]
    unmodelled: tuple[str, ...] = field(default=())  # opcodes counted without op data

    @property
    def total_bytes(self) -> int:
        return self.head_bytes + self.tail_bytes

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "head_bytes": self.head_bytes,
                "tail_bytes": self.tail_bytes, "total_bytes": self.total_bytes,
                "items": [i.to_json() for i in self.items],
                "operators": [o.to_json() for o in self.operators],
                "unmodelled": list(self.unmodelled)}


def arena(model: Model, target: Target = "host", head: int | None = None) -> Arena:
    """The arena ``AllocateTensors`` takes for ``model`` on ``target``; ``head`` overrides the
    planned head (by default :func:`tflitekit.analysis.memory.memory`'s ``arena_head_bytes``)."""
    build = _BUILDS[check_target(target)]
    if head is None:
        head = memory(model, target=target).arena_head_bytes
    tail = _Tail()
    unmodelled = _replay(model, build, tail)
    per_op: dict[tuple[int, int], int] = {}
    for item in tail.items:
        if item.operator is not None and item.subgraph is not None:
            key = (item.subgraph, item.operator)
            per_op[key] = per_op.get(key, 0) + item.bytes
    operators = tuple(
        OperatorTail(s, i, _opname(op), per_op.get((s, i), 0))
        for s, graph in enumerate(model.subgraphs) for i, op in enumerate(graph.operators))
    return Arena(target, head, tail.used, tuple(tail.items), operators, unmodelled)


class _Tail:
    """The tail as TFLite Micro grows it: each allocation aligned down below the last."""

    def __init__(self) -> None:
        self.used = 0
        self.items: list[ArenaItem] = []

    def allocate(self, what: str, size: int, alignment: int,
                 where: tuple[int, int] | None = None) -> None:
        start = self.used
        self.used = -(-(start + size) // alignment) * alignment
        subgraph, operator = where if where is not None else (None, None)
        self.items.append(ArenaItem(what, self.used - start, size, subgraph, operator))


def _replay(model: Model, build: _Build, tail: _Tail) -> tuple[str, ...]:
    """Allocate ``model``'s tail on ``tail`` in TFLite Micro's order; the unmodelled opcodes."""
    word = build.pointer
    for what, size in build.allocator_objects:
        tail.allocate(what, size, word)
    tail.allocate("MicroBuiltinDataAllocator", build.builtin_data_allocator, word)
    graphs = model.subgraphs
    tail.allocate(f"SubgraphAllocations x{len(graphs)}",
                  build.subgraph_allocations * len(graphs), word)
    numbering = Numbering(model)
    for graph in graphs:
        count = len(numbering.tensors(graph))
        tail.allocate(f"TfLiteEvalTensor x{count}", build.eval_tensor * count, word)
    for graph in graphs:
        count = len(graph.operators)
        tail.allocate(f"NodeAndRegistration x{count}", build.node_and_registration * count, word)
    unmodelled: dict[str, None] = {}
    for where, op in _operators(model):
        options = build.options.get(op.type)
        if options is not None:
            tail.allocate(options[0], options[1], options[2], where)
    for where, op in _operators(model):
        struct, size = build.op_data.get(op.type, ("", 0))
        if _is_decode(op):  # registered without Init
            if not set(_decode_types(op)) <= set(build.decode_states):
                unmodelled[_opname(op)] = None  # a decode type TFLite Micro refuses
        elif op.type not in build.op_data:
            unmodelled[_opname(op)] = None
        if size:
            tail.allocate(struct, size, BUFFER_ALIGNMENT, where)
    scratch = 0
    for where, op in _operators(model):
        buffers, requests = (_decode(op, build), 0) if _is_decode(op) else _prepare(op)
        for what, size in buffers:
            tail.allocate(what, size, BUFFER_ALIGNMENT, where)
        scratch += requests
    if scratch:
        tail.allocate(f"ScratchBufferHandle x{scratch}", word * scratch, word)
    for graph in graphs:
        for tensor in numbering.tensors(graph):
            if tensor.is_variable:
                tail.allocate(f"variable tensor {tensor.name}", _nbytes(tensor), BUFFER_ALIGNMENT)
    main = graphs[0] if graphs else None
    for role, tensors in (("input", main.inputs if main else []),
                          ("output", main.outputs if main else [])):
        tail.allocate(f"TfLiteTensor* x{len(tensors)} ({role}s)", word * len(tensors),
                      BUFFER_ALIGNMENT)
        for tensor in tensors:
            _persistent_tensor(tail, build, tensor, role)
    return tuple(unmodelled)


def _persistent_tensor(tail: _Tail, build: _Build, tensor: Tensor, role: str) -> None:
    """The persistent ``TfLiteTensor`` of a graph input or output, with its quantization."""
    word = build.pointer
    tail.allocate(f"TfLiteTensor ({role} {tensor.name})", build.tflite_tensor, word)
    channels = _scales(tensor)
    q = tensor.quantization
    if channels and q is not None and q.zero_point is not None and q.zero_point.size:
        tail.allocate("TfLiteAffineQuantization", build.affine_quantization, word)
        tail.allocate("zero points (TfLiteIntArray)", 4 + 4 * channels, 4)


def _scales(tensor: Tensor | None) -> int:
    """How many scales the tensor's quantization holds (0 without)."""
    q = tensor.quantization if tensor is not None else None
    return 0 if q is None or q.scale is None else int(q.scale.size)


def _operators(model: Model) -> Iterator[tuple[tuple[int, int], Operator]]:
    for s, graph in enumerate(model.subgraphs):
        for i, op in enumerate(graph.operators):
            yield (s, i), op


def _opname(op: Operator) -> str:
    if op.opcode.custom_code is not None:
        return op.opcode.custom_code
    return op.type.name


def _is_decode(op: Operator) -> bool:
    return op.opcode.custom_code == tflm.DECODE


def _decode_types(op: Operator) -> list[int | None]:
    """Each output's decode type: byte 0 of its ancillary tensor (None when not constant)."""
    types: list[int | None] = []
    for k in range(len(op.outputs)):
        ancillary = _input(op, 2 * k + 1)
        data = ancillary.data if ancillary is not None else None
        types.append(int(data.reshape(-1)[0]) if data is not None and data.size else None)
    return types


def _decode(op: Operator, build: _Build) -> list[tuple[str, int]]:
    """``TFLM_DECODE``'s ``Prepare``: the ``DecodeState*`` array, then per ``[encoded,
    ancillary]`` pair its decode state and, for a prune, a copy of the decoded tensor's int8
    zero points when it has several and one is not zero; stops where TFLite Micro fails."""
    buffers = [(f"DecodeState* x{len(op.outputs)}", build.pointer * len(op.outputs))]
    for output, kind in zip(op.outputs, _decode_types(op), strict=True):
        if kind not in build.decode_states:
            break
        buffers.append(build.decode_states[kind])
        q, channels = output.quantization, _scales(output)
        if kind == DECODE_PRUNE and channels > 1 and q is not None and q.zero_point is not None \
                and q.zero_point.any():
            buffers.append(("prune zero points", channels))
    return buffers


def _nbytes(tensor: Tensor) -> int:
    """A variable tensor's bytes (TfLiteEvalTensorByteLength)."""
    count = 1
    for dim in tensor.shape or ():
        count *= dim
    return count * (dtypes.itemsize(tensor.dtype) or 0)


def _input(op: Operator, index: int) -> Tensor | None:
    return op.inputs[index] if index < len(op.inputs) else None


def _channels(op: Operator, axis: int) -> list[tuple[str, int]]:
    """Per-channel output multipliers and shifts: two int32 arrays of the filter's channels."""
    filter_ = _input(op, 1)
    channels = filter_.shape[axis] if filter_ is not None and filter_.shape else 0
    return [("per-channel output multipliers", 4 * channels),
            ("per-channel output shifts", 4 * channels)]


def _int4_filter(op: Operator) -> int:
    """A scratch buffer for unpacking an int4 filter."""
    filter_ = _input(op, 1)
    return int(filter_ is not None and filter_.dtype == TensorType.INT4)


def _conv(op: Operator) -> tuple[list[tuple[str, int]], int]:
    return _channels(op, 0), _int4_filter(op)


def _depthwise(op: Operator) -> tuple[list[tuple[str, int]], int]:
    return _channels(op, 3), _int4_filter(op)


def _fully_connected(op: Operator) -> tuple[list[tuple[str, int]], int]:
    x, channels = _input(op, 0), _scales(_input(op, 1))
    if x is None or x.dtype == TensorType.FLOAT32 or channels < 2:
        return [], _int4_filter(op)
    return [("per-channel output multipliers", 4 * channels),
            ("per-channel output shifts", 4 * channels)], _int4_filter(op)


def _transpose_conv(op: Operator) -> tuple[list[tuple[str, int]], int]:
    """Inputs (output shape, filter, input, bias): multipliers and shifts per output channel; an
    accumulator scratch when quantized, and a 64-bit copy of an int16 bias."""
    x, bias = _input(op, 2), _input(op, 3)
    dtype = x.dtype if x is not None else None
    requests = int(dtype in (TensorType.INT8, TensorType.INT16))
    if dtype == TensorType.INT16 and bias is not None and bias.dtype == TensorType.INT16:
        requests += 1
    return _channels(op, 0), requests


def _softmax(op: Operator) -> tuple[list[tuple[str, int]], int]:
    x = _input(op, 0)
    if x is not None and x.dtype == TensorType.INT16:
        lut = 2 * SOFTMAX_INT16_LUT
        return [("int16 exp lookup table", lut), ("int16 1/(1+x) lookup table", lut)], 0
    return [], 0


def _reduce(op: Operator) -> tuple[list[tuple[str, int]], int]:
    """MEAN and SUM ask for iterator and axis scratch (plus an accumulator when quantized),
    REDUCE_MAX/MIN for the iterator and the axes."""
    x = _input(op, 0)
    quantized = x is not None and x.dtype in (TensorType.INT8, TensorType.INT16)
    return [], 3 if quantized and op.type in (Op.MEAN, Op.SUM) else 2


_PREPARE: dict[Op, Callable[[Operator], tuple[list[tuple[str, int]], int]]] = {
    Op.CONV_2D: _conv, Op.DEPTHWISE_CONV_2D: _depthwise,
    Op.FULLY_CONNECTED: _fully_connected, Op.SOFTMAX: _softmax,
    Op.TRANSPOSE_CONV: _transpose_conv,
    **{op: _reduce for op in _REDUCERS},
}


def _prepare(op: Operator) -> tuple[list[tuple[str, int]], int]:
    """What the kernel's ``Prepare`` allocates: persistent buffers and scratch requests."""
    rule = _PREPARE.get(op.type)
    return rule(op) if rule is not None else ([], 0)


__all__ = ["TARGETS", "Arena", "ArenaItem", "OperatorTail", "Target", "arena"]


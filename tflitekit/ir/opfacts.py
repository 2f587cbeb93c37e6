"""Per-operator facts: one table, keyed by :class:`BuiltinOperator`, read by ``check()``, the
passes, and later the interpreter and analysis, instead of each keeping its own list.

Each entry is data, not code: enums name *what* holds (how an operator treats a batch, how its
operand types and shapes relate) and the module that needs a fact implements *how* to test it
(``set_batch_size`` for :class:`Batch`, :mod:`tflitekit.ir.check_operands` for
:class:`Types` and :class:`Shapes`). An operator without an entry gets :data:`UNKNOWN`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..options import BuiltinOperator as Op
from ..options import TensorType

__all__ = ["FACTS", "INTERPRETER_OPERATORS", "UNKNOWN", "Batch", "OpFacts", "Operands", "Shapes",
           "Types", "facts"]


class Batch(enum.Enum):
    """How an operator treats dimension 0 of its operands as a batch (the value says when an
    operator reading batched tensors gives outputs batched like them)."""

    UNKNOWN = "not known to keep the batch in dimension 0"
    ELEMENTWISE = "elementwise with broadcasting; unbatched inputs broadcast over dimension 0"
    PER_SAMPLE = "input 0 carries the batch; the other inputs are parameters"
    REDUCTION = "input 0 carries the batch; the axis operand (input 1) must not include it"
    PAD = "input 0 carries the batch; the paddings (input 1) must not pad dimension 0"
    JOIN = "every input carries the batch (no broadcasting)"
    JOIN_AXIS = "every input carries the batch; the axis option must not be dimension 0"
    FULLY_CONNECTED = "input 0 carries the batch when the input is 2-D or keep_num_dims is set"
    TRANSPOSE_CONV = "input 2 carries the batch; the output shape (input 0) starts with it"
    RESHAPE = "input 0 carries the batch when no element moves between batch rows"
    SPLIT = "input 1 carries the batch; the axis (input 0) must not be dimension 0"
    SPLIT_V = "input 0 carries the batch; the axis (input 2) must not be dimension 0"
    EXPAND_DIMS = "input 0 carries the batch; the new axis (input 1) must not be dimension 0"
    SQUEEZE = "input 0 carries the batch; squeeze_dims must be given and exclude dimension 0"
    GATHER = "input 0 carries the batch; the axis must not be dimension 0, no batch_dims"
    TRANSPOSE = "input 0 carries the batch; the permutation must keep dimension 0 first"
    STRIDED_SLICE = "input 0 carries the batch; the slice must take all of dimension 0"


class Types(enum.Enum):
    """How an operator's operand types relate (beyond :attr:`Operands.data` and
    :attr:`Operands.index`)."""

    SAME = "the data inputs and every output share one type"
    WEIGHTED = ("output of the input's type; 8-bit activations take int8/int4 weights and an "
                "INT32 bias, int16 activations int8 weights and an INT32 or INT64 bias")
    HYBRID_RHS = "input 1 has input 0's type, or is int8 when input 0 is FLOAT32"
    SOFTMAX = "output of the input's type, or INT16 for an INT8 input"
    QUANTIZE = "an integer output"
    DEQUANTIZE = "a FLOAT32 output from a non-FLOAT32 input"
    INDEX_OUTPUT = "every output is INT32 or INT64"


class Shapes(enum.Enum):
    """Which shape agreement ``check()`` verifies (only what is cheap and certain)."""

    NONE = "no shape rule"
    SAME = "the output has input 0's shape"
    BROADCAST = "the output has the broadcast shape of inputs 0 and 1"
    POOL = "4-D input and output of the same batch and channels"
    CONV = "4-D input, filter (O,H,W,I) and output; channels agree; one bias per output channel"
    DEPTHWISE = "4-D input, filter (1,H,W,O) and output; O a multiple of the input channels"
    FULLY_CONNECTED = ("2-D weights (units, depth): input elements a multiple of depth, output "
                       "last dimension units, one bias per unit")
    TRANSPOSE_CONV = "4-D weights (O,H,W,I) and input of I channels; output as input 0 says"
    RESHAPE = "the element count is preserved"
    TRANSPOSE = "the output is the input permuted by input 1"
    PAD = "each output dimension is the input's plus its paddings"
    CONCATENATION = "inputs agree except along the axis, whose sizes add up to the output's"
    SPLIT = "outputs split the input evenly along the axis (input 0)"
    SPLIT_V = "outputs' sizes along the axis (input 2) add up to the input's"
    PACK = "inputs of one shape stacked along a new axis"
    UNPACK = "one output per slice along the axis, each the input without it"
    SHAPE = "a 1-D output as long as the input's rank"
    FILL = "the output shape is the value of input 0"
    SLICE = "output sizes as input 2 says (-1: to the end)"
    GATHER = "output = params[:axis] + indices[batch_dims:] + params[axis + 1:]"
    ARG = "the input without the reduced axis (input 1)"
    REDUCE = "the input with the axes (input 1) removed, or kept as 1 with keep_dims"
    BATCH_MATMUL = "contraction dimensions agree; batch dimensions broadcast"
    RESIZE = "4-D input and output of the same batch and channels; spatial size as input 1"


@dataclass(frozen=True)
class Operands:
    """What an operator requires of its operands (the source of truth: the kernels' Prepare
    checks in LiteRT and TFLite Micro)."""

    inputs: tuple[int, int | None]
    """Least and most inputs (None: no limit); inputs past the least may be absent (None)."""
    outputs: tuple[int, int | None] = (1, 1)
    data: tuple[int, ...] | None = (0,)
    """Input slots whose type is the output's (None: every input), under :attr:`types` SAME."""
    index: tuple[int, ...] = ()
    """Input slots holding axes, shapes, sizes or positions: INT16, INT32 or INT64."""
    types: Types = Types.SAME
    shapes: Shapes = Shapes.NONE


@dataclass(frozen=True)
class OpFacts:
    """Everything the project knows about one builtin operator."""

    side_effects: bool = False
    """Running it may matter even when nothing reads its outputs (control flow, resources,
    custom operators)."""
    batch: Batch = Batch.UNKNOWN
    operands: Operands | None = None
    """The operand rule ``check()`` applies; None: the operator is not checked."""
    shape_only: bool = False
    """It reads only its inputs' static shapes, never their values."""
    shape_operand: int | None = None
    """The input slot holding the output's shape, when it has one."""
    versions: Mapping[TensorType, int] = field(default_factory=dict)
    """The version TFLite's op_version.cc gives a per-tensor instance by its integer type."""


UNKNOWN = OpFacts()
"""The facts of an operator the table does not list."""


def _unary(types: Types = Types.SAME) -> Operands:
    return Operands((1, 1), types=types, shapes=Shapes.SAME)


def _binary(shapes: Shapes = Shapes.BROADCAST) -> Operands:
    return Operands((2, 2), data=(0, 1), shapes=shapes)


def _weighted(shapes: Shapes, inputs: tuple[int, int] = (2, 3), outputs: int = 1) -> Operands:
    return Operands(inputs, (1, outputs), types=Types.WEIGHTED, shapes=shapes)


_POOL = Operands((1, 1), shapes=Shapes.POOL)
_REDUCE = Operands((2, 2), index=(1,), shapes=Shapes.REDUCE)
_ARG = Operands((2, 2), index=(1,), types=Types.INDEX_OUTPUT, shapes=Shapes.ARG)
_RESIZE = Operands((2, 2), index=(1,), shapes=Shapes.RESIZE)

FACTS: Mapping[Op, OpFacts] = {
    # -- the interpreter's operators: every fact -----------------------------------------------
    Op.CONV_2D: OpFacts(batch=Batch.PER_SAMPLE, operands=_weighted(Shapes.CONV)),
    Op.DEPTHWISE_CONV_2D: OpFacts(batch=Batch.PER_SAMPLE, operands=_weighted(Shapes.DEPTHWISE)),
    Op.FULLY_CONNECTED: OpFacts(batch=Batch.FULLY_CONNECTED,
                                operands=_weighted(Shapes.FULLY_CONNECTED, outputs=2)),
    Op.TRANSPOSE_CONV: OpFacts(batch=Batch.TRANSPOSE_CONV, shape_operand=0, operands=Operands(
        (3, 4), data=(2,), index=(0,), types=Types.WEIGHTED, shapes=Shapes.TRANSPOSE_CONV)),
    Op.ADD: OpFacts(batch=Batch.ELEMENTWISE, operands=_binary()),
    Op.SUB: OpFacts(batch=Batch.ELEMENTWISE, operands=_binary()),
    Op.MUL: OpFacts(batch=Batch.ELEMENTWISE, operands=_binary()),
    Op.MAXIMUM: OpFacts(batch=Batch.ELEMENTWISE, operands=_binary()),
    Op.MINIMUM: OpFacts(batch=Batch.ELEMENTWISE, operands=_binary()),
    Op.PRELU: OpFacts(batch=Batch.ELEMENTWISE, operands=_binary()),
    Op.AVERAGE_POOL_2D: OpFacts(batch=Batch.PER_SAMPLE, operands=_POOL),
    Op.MAX_POOL_2D: OpFacts(batch=Batch.PER_SAMPLE, operands=_POOL),
    Op.MEAN: OpFacts(batch=Batch.REDUCTION, operands=_REDUCE),
    Op.SUM: OpFacts(batch=Batch.REDUCTION, operands=_REDUCE),
    Op.ARG_MAX: OpFacts(batch=Batch.REDUCTION, operands=_ARG),
    Op.ARG_MIN: OpFacts(batch=Batch.REDUCTION, operands=_ARG),
    Op.SOFTMAX: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary(types=Types.SOFTMAX)),
    Op.LOGISTIC: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary()),
    Op.TANH: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary()),
    Op.RELU: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary()),
    Op.RELU6: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary()),
    Op.LEAKY_RELU: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary()),
    Op.HARD_SWISH: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary()),
    Op.QUANTIZE: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary(types=Types.QUANTIZE),
                         versions={TensorType.INT8: 1, TensorType.UINT8: 1, TensorType.INT16: 2}),
    Op.DEQUANTIZE: OpFacts(batch=Batch.ELEMENTWISE, operands=_unary(types=Types.DEQUANTIZE),
                           versions={TensorType.INT8: 2, TensorType.UINT8: 1,
                                     TensorType.INT16: 3}),
    Op.RESHAPE: OpFacts(batch=Batch.RESHAPE, shape_operand=1,
                        operands=Operands((1, 2), index=(1,), shapes=Shapes.RESHAPE)),
    Op.SQUEEZE: OpFacts(batch=Batch.SQUEEZE, operands=Operands((1, 1), shapes=Shapes.RESHAPE)),
    Op.EXPAND_DIMS: OpFacts(batch=Batch.EXPAND_DIMS,
                            operands=Operands((2, 2), index=(1,), shapes=Shapes.RESHAPE)),
    Op.TRANSPOSE: OpFacts(batch=Batch.TRANSPOSE,
                          operands=Operands((2, 2), index=(1,), shapes=Shapes.TRANSPOSE)),
    Op.PAD: OpFacts(batch=Batch.PAD, operands=Operands((2, 3), data=(0, 2), index=(1,),
                                                       shapes=Shapes.PAD)),
    Op.PADV2: OpFacts(batch=Batch.PAD, operands=Operands((2, 3), data=(0, 2), index=(1,),
                                                         shapes=Shapes.PAD)),
    Op.CONCATENATION: OpFacts(batch=Batch.JOIN_AXIS, operands=Operands(
        (1, None), data=None, shapes=Shapes.CONCATENATION)),
    Op.PACK: OpFacts(batch=Batch.JOIN_AXIS, operands=Operands((1, None), data=None,
                                                              shapes=Shapes.PACK)),
    Op.UNPACK: OpFacts(operands=Operands((1, 1), (1, None), shapes=Shapes.UNPACK)),
    Op.SPLIT: OpFacts(batch=Batch.SPLIT, operands=Operands((2, 2), (1, None), data=(1,),
                                                           index=(0,), shapes=Shapes.SPLIT)),
    Op.SPLIT_V: OpFacts(batch=Batch.SPLIT_V, operands=Operands((3, 3), (1, None), index=(1, 2),
                                                               shapes=Shapes.SPLIT_V)),
    Op.SHAPE: OpFacts(shape_only=True, operands=Operands((1, 1), data=(),
                                                         types=Types.INDEX_OUTPUT,
                                                         shapes=Shapes.SHAPE)),
    Op.FILL: OpFacts(shape_operand=0, operands=Operands((2, 2), data=(1,), index=(0,),
                                                        shapes=Shapes.FILL)),
    Op.STRIDED_SLICE: OpFacts(batch=Batch.STRIDED_SLICE,
                              operands=Operands((4, 4), index=(1, 2, 3))),
    Op.SLICE: OpFacts(operands=Operands((3, 3), index=(1, 2), shapes=Shapes.SLICE)),
    Op.GATHER: OpFacts(batch=Batch.GATHER, operands=Operands((2, 2), index=(1,),
                                                             shapes=Shapes.GATHER)),
    Op.BATCH_MATMUL: OpFacts(operands=Operands((2, 2), types=Types.HYBRID_RHS,
                                               shapes=Shapes.BATCH_MATMUL)),
    Op.RESIZE_NEAREST_NEIGHBOR: OpFacts(batch=Batch.PER_SAMPLE, operands=_RESIZE),
    Op.RESIZE_BILINEAR: OpFacts(batch=Batch.PER_SAMPLE, operands=_RESIZE),
    # -- other operators: the facts known so far -------------------------------------------------
    **{code: OpFacts(side_effects=True) for code in (
        Op.ASSIGN_VARIABLE, Op.READ_VARIABLE, Op.VAR_HANDLE, Op.CALL_ONCE, Op.WHILE, Op.IF,
        Op.CALL, Op.CUSTOM, Op.DELEGATE)},
    **{code: OpFacts(batch=Batch.ELEMENTWISE) for code in (
        Op.ABS, Op.CAST, Op.CEIL, Op.COS, Op.ELU, Op.EXP, Op.FLOOR, Op.GELU, Op.LOG,
        Op.LOGICAL_NOT, Op.NEG, Op.RELU_N1_TO_1, Op.RELU_0_TO_1, Op.ROUND, Op.RSQRT, Op.SIGN,
        Op.SIN, Op.SQRT, Op.SQUARE, Op.ZEROS_LIKE, Op.FAKE_QUANT, Op.LOG_SOFTMAX,
        Op.L2_NORMALIZATION, Op.LOCAL_RESPONSE_NORMALIZATION, Op.DIV, Op.FLOOR_DIV,
        Op.FLOOR_MOD, Op.POW, Op.SQUARED_DIFFERENCE, Op.EQUAL, Op.NOT_EQUAL, Op.LESS,
        Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL, Op.LOGICAL_AND, Op.LOGICAL_OR,
        Op.SELECT_V2)},
    **{code: OpFacts(batch=Batch.PER_SAMPLE) for code in (
        Op.CONV_3D, Op.L2_POOL_2D, Op.SPACE_TO_DEPTH, Op.DEPTH_TO_SPACE)},
    **{code: OpFacts(batch=Batch.REDUCTION) for code in (
        Op.REDUCE_PROD, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_ANY, Op.REDUCE_ALL)},
    Op.MIRROR_PAD: OpFacts(batch=Batch.PAD),
    Op.ADD_N: OpFacts(batch=Batch.JOIN),
    Op.ATAN2: OpFacts(batch=Batch.JOIN),
}
"""The facts of each operator the project knows something about."""

INTERPRETER_OPERATORS: frozenset[Op] = frozenset({
    Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED, Op.ADD, Op.SUB, Op.MUL,
    Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D, Op.MEAN, Op.SUM, Op.SOFTMAX, Op.LOGISTIC, Op.TANH,
    Op.RELU, Op.RELU6, Op.LEAKY_RELU, Op.HARD_SWISH, Op.PRELU, Op.QUANTIZE, Op.DEQUANTIZE,
    Op.RESHAPE, Op.SQUEEZE, Op.EXPAND_DIMS, Op.TRANSPOSE, Op.PAD, Op.PADV2, Op.CONCATENATION,
    Op.SPLIT, Op.SPLIT_V, Op.PACK, Op.UNPACK, Op.SHAPE, Op.FILL, Op.STRIDED_SLICE, Op.SLICE,
    Op.GATHER, Op.ARG_MAX, Op.ARG_MIN, Op.MAXIMUM, Op.MINIMUM, Op.BATCH_MATMUL,
    Op.TRANSPOSE_CONV, Op.RESIZE_NEAREST_NEIGHBOR, Op.RESIZE_BILINEAR,
})
"""The builtin operators the interpreter supports; ``check()`` has an operand rule for each."""


def facts(code: Op | int) -> OpFacts:
    """The facts of builtin operator ``code`` (:data:`UNKNOWN` when the table has none)."""
    return FACTS.get(code, UNKNOWN)  # type: ignore[arg-type]

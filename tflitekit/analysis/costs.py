"""Multiply-accumulates (MACs) and operations (OPs) per operator, as Silicon Labs MLTK counts them.

MLTK's model summary (``mltk summarize``, ``mltk.core.model.metrics``) counts a handful of
operators of a ``.tflite`` file; :data:`CONVENTIONS` reproduces those counts exactly and gives
every operator the interpreter runs a convention in the same spirit. Its conventions:

- Shapes are read from the operands; the leading (batch) dimension is left out of nearly every
  count (``n(x)`` below is the element count of ``x`` without its first dimension, ``|x|`` with
  it).
- Convolutions and FULLY_CONNECTED count one MAC per weight use and two OPs per MAC, plus one OP
  per output element for the bias add, counted whenever the operator has a bias slot (even one
  marked absent, as MLTK reads the operand count).
- Element-wise operators count OPs only: one per element for arithmetic, two per element for
  activations (a clamp is ``min(max(lo, x), hi)``), a few per element for (de)quantization.
- Operators MLTK lists as costless (CONCATENATION, SPLIT, MEAN) and those it has no count for
  cost nothing.

Each entry records its ``source``: ``"mltk"`` when MLTK's ``.tflite`` summary counts the operator
so (its totals equal ours on models of such operators only; the corpus tier checks it operator
by operator), ``"nearest"`` when MLTK's ``.tflite`` summary counts nothing but MLTK has a
convention for the same computation (its Keras layers, or a sibling operator) that we apply, and
``"none"`` when MLTK has nothing to borrow (cost 0). Operators missing from the table, and
operators whose operands lack what their convention reads (an absent tensor, an unknown or
negative dimension, a smaller rank), cost nothing; no operator raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ..ir import Operator, Tensor
from ..options import BuiltinOperator as Op
from ..options import Pool2DOptions

__all__ = ["CONVENTIONS", "Convention", "Cost", "operator_cost"]


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates and operations of one operator (or a sum of them)."""

    macs: int
    ops: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.ops + other.ops)

    def to_json(self) -> dict[str, Any]:
        return {"macs": self.macs, "ops": self.ops}


ZERO = Cost(0, 0)

Source = Literal["mltk", "nearest", "none"]


@dataclass(frozen=True)
class Convention:
    """How one operator is counted: ``count`` (its docstring states the rule) and where the rule
    comes from (see the module docstring)."""

    count: Callable[[Operator], Cost]
    source: Source

    @property
    def rule(self) -> str:
        """The rule in one line."""
        return (self.count.__doc__ or "").strip().splitlines()[0]


class _Unknown(Exception):
    """An operand the convention reads is absent or its shape is unknown."""


def _dims(t: Tensor | None, rank: int = 0) -> tuple[int, ...]:
    """The shape of ``t``, of at least ``rank`` dimensions."""
    if t is None or t.shape is None or len(t.shape) < rank or any(d < 0 for d in t.shape):
        raise _Unknown
    return t.shape


def _nhwc(t: Tensor | None) -> tuple[int, int, int, int]:
    """The shape of a 4-D ``t``."""
    n, h, w, c, *rest = _dims(t, 4)
    if rest:
        raise _Unknown
    return n, h, w, c


def _input(op: Operator, i: int) -> Tensor | None:
    return op.inputs[i] if i < len(op.inputs) else None


def _output(op: Operator) -> Tensor | None:
    return op.outputs[0] if op.outputs else None


def _inner(t: Tensor | None) -> int:
    """Elements of ``t`` without its first (batch) dimension (1 for a scalar)."""
    return math.prod(_dims(t)[1:])


def _bias(op: Operator, slot: int, elements: int) -> int:
    """The bias add's OPs: ``elements`` when the operator lists input ``slot``, absent or not."""
    return elements if len(op.inputs) > slot else 0


# -- counted by MLTK's .tflite summary ------------------------------------------------------------

def _conv(op: Operator) -> Cost:
    """MACs kh*kw*in_c*oh*ow*oc (filter [oc, kh, kw, in_c]); OPs 2*MACs + oh*ow*oc with a bias."""
    _, _, _, in_c = _nhwc(_input(op, 0))
    _, kh, kw, _ = _nhwc(_input(op, 1))
    _, oh, ow, oc = _nhwc(_output(op))
    macs = kh * kw * in_c * oh * ow * oc
    return Cost(macs, 2 * macs + _bias(op, 2, oh * ow * oc))


def _depthwise(op: Operator) -> Cost:
    """MACs kh*kw*m*in_c*oh*ow (m = oc // in_c); OPs 2*MACs + m*in_c*oh*ow with a bias."""
    _, _, _, in_c = _nhwc(_input(op, 0))
    _, kh, kw, _ = _nhwc(_input(op, 1))
    _, oh, ow, oc = _nhwc(_output(op))
    channels = oc // in_c * in_c if in_c else 0
    macs = kh * kw * channels * oh * ow
    return Cost(macs, 2 * macs + _bias(op, 2, channels * oh * ow))


def _fully_connected(op: Operator) -> Cost:
    """MACs depth*units (weights [units, depth]; rows and batch left out); OPs 2*MACs + |output|
    with a bias (every row, the batch included).

    MLTK reads the depth from the input's last dimension: the same unless TFLite flattens the
    input (a [1, 5, 5, 8] input into rows of 200), where the weights' depth is the real one.
    """
    depth = _dims(_input(op, 1), 1)[-1]
    out = _dims(_output(op), 1)
    macs = depth * out[-1]
    return Cost(macs, 2 * macs + _bias(op, 2, math.prod(out)))


def _average_pool(op: Operator) -> Cost:
    """OPs n(output) * (fh*fw + 1): the window's adds and one division."""
    return _pool(op, 1)


def _max_pool(op: Operator) -> Cost:
    """OPs n(output) * fh*fw: the window's comparisons."""
    return _pool(op, 0)


def _pool(op: Operator, extra: int) -> Cost:
    if not isinstance(op.options, Pool2DOptions):
        raise _Unknown
    window = op.options.filter_height * op.options.filter_width
    return Cost(0, _inner(_output(op)) * (window + extra))


def _per_first_input(op: Operator) -> Cost:
    """OPs n(input 0): one per element of the first input."""
    return Cost(0, _inner(_input(op, 0)))


def _per_output(op: Operator) -> Cost:
    """OPs n(output): one per output element."""
    return Cost(0, _inner(_output(op)))


def _activation(op: Operator) -> Cost:
    """OPs 2*n(output): a clamp, min(max(lo, x), hi), per element."""
    return Cost(0, 2 * _inner(_output(op)))


def _softmax(op: Operator) -> Cost:
    """OPs 2*n(input): an exponential and a division per element."""
    return Cost(0, 2 * _inner(_input(op, 0)))


def _quantize(op: Operator) -> Cost:
    """OPs 4*n(input): a division, an add, a min and a max per element."""
    return Cost(0, 4 * _inner(_input(op, 0)))


def _dequantize(op: Operator) -> Cost:
    """OPs 2*n(input): a subtraction and a multiplication per element."""
    return Cost(0, 2 * _inner(_input(op, 0)))


def _pad(op: Operator) -> Cost:
    """OPs 6*n(output): a move and five comparisons per element (TFLite's reference pad)."""
    return Cost(0, 6 * _inner(_output(op)))


def _copy(op: Operator) -> Cost:
    """OPs |input|: one move per element (the batch included), none when input is output."""
    source = _input(op, 0)
    return Cost(0, 0 if source is _output(op) else math.prod(_dims(source)))


def _costless(op: Operator) -> Cost:
    """Nothing: MLTK lists the operator as costless."""
    return ZERO


# -- MLTK's nearest convention --------------------------------------------------------------------

def _transpose_conv(op: Operator) -> Cost:
    """MACs kh*kw*in_c*oh*ow*oc (MLTK's Keras Conv2DTranspose: per output element, so stride^2
    above the real work); OPs 2*MACs + oh*ow*oc with a bias (input 3)."""
    _, _, _, in_c = _nhwc(_input(op, 2))
    _, kh, kw, _ = _nhwc(_input(op, 1))
    _, oh, ow, oc = _nhwc(_output(op))
    macs = kh * kw * in_c * oh * ow * oc
    return Cost(macs, 2 * macs + _bias(op, 3, oh * ow * oc))


def _batch_matmul(op: Operator) -> Cost:
    """MACs depth*n(output) (as FULLY_CONNECTED: the depth per output element, the leading
    dimension left out); OPs 2*MACs."""
    lhs = _dims(_input(op, 0), 2)
    adj_x = bool(getattr(op.options, "adj_x", False))
    macs = (lhs[-2] if adj_x else lhs[-1]) * _inner(_output(op))
    return Cost(macs, 2 * macs)


# -- no convention --------------------------------------------------------------------------------

def _uncounted(op: Operator) -> Cost:
    """Nothing: MLTK has no count for the operator, nor for its computation."""
    return ZERO


#: Every operator the interpreter runs (and the few more MLTK counts), keyed by builtin code.
CONVENTIONS: Mapping[Op, Convention] = MappingProxyType({
    # MLTK's .tflite summary.
    Op.CONV_2D: Convention(_conv, "mltk"),
    Op.DEPTHWISE_CONV_2D: Convention(_depthwise, "mltk"),
    Op.FULLY_CONNECTED: Convention(_fully_connected, "mltk"),
    Op.AVERAGE_POOL_2D: Convention(_average_pool, "mltk"),
    Op.MAX_POOL_2D: Convention(_max_pool, "mltk"),
    Op.ADD: Convention(_per_first_input, "mltk"),
    Op.MUL: Convention(_per_output, "mltk"),  # assumes equal shapes, as MLTK says
    Op.RELU: Convention(_activation, "mltk"),
    Op.SOFTMAX: Convention(_softmax, "mltk"),
    Op.QUANTIZE: Convention(_quantize, "mltk"),
    Op.DEQUANTIZE: Convention(_dequantize, "mltk"),
    Op.PAD: Convention(_pad, "mltk"),
    Op.PADV2: Convention(_pad, "mltk"),
    Op.RESHAPE: Convention(_copy, "mltk"),
    Op.CONCATENATION: Convention(_costless, "mltk"),
    Op.SPLIT: Convention(_costless, "mltk"),
    Op.MEAN: Convention(_costless, "mltk"),  # MLTK's GlobalAveragePooling2D
    Op.REDUCE_MAX: Convention(_costless, "mltk"),  # MLTK's GlobalMaxPool2D
    # MLTK's nearest convention: its Keras layers, or a sibling operator.
    Op.TRANSPOSE_CONV: Convention(_transpose_conv, "nearest"),  # Keras Conv2DTranspose
    Op.BATCH_MATMUL: Convention(_batch_matmul, "nearest"),  # FULLY_CONNECTED
    Op.SUB: Convention(_per_first_input, "nearest"),  # ADD
    Op.MAXIMUM: Convention(_per_output, "nearest"),  # MUL: one binary operation per element
    Op.MINIMUM: Convention(_per_output, "nearest"),  # MUL
    Op.RELU6: Convention(_activation, "nearest"),  # Keras ReLU(max_value=6) / Activation
    Op.LEAKY_RELU: Convention(_activation, "nearest"),  # Keras Activation
    Op.PRELU: Convention(_activation, "nearest"),  # Keras Activation
    Op.LOGISTIC: Convention(_activation, "nearest"),  # Keras Activation('sigmoid')
    Op.TANH: Convention(_activation, "nearest"),  # Keras Activation('tanh')
    Op.HARD_SWISH: Convention(_activation, "nearest"),  # Keras Activation('hard_swish')
    Op.SQUEEZE: Convention(_copy, "nearest"),  # RESHAPE: TFLite Micro copies the data
    Op.EXPAND_DIMS: Convention(_copy, "nearest"),  # RESHAPE
    Op.PACK: Convention(_costless, "nearest"),  # CONCATENATION
    Op.UNPACK: Convention(_costless, "nearest"),  # SPLIT
    Op.SPLIT_V: Convention(_costless, "nearest"),  # SPLIT
    Op.SUM: Convention(_costless, "nearest"),  # MEAN
    # No convention anywhere in MLTK: data movement, indexing, casts, shapes and resizing.
    Op.ARG_MAX: Convention(_uncounted, "none"),
    Op.ARG_MIN: Convention(_uncounted, "none"),
    Op.CAST: Convention(_uncounted, "none"),
    Op.FILL: Convention(_uncounted, "none"),
    Op.GATHER: Convention(_uncounted, "none"),
    Op.RESIZE_BILINEAR: Convention(_uncounted, "none"),  # nor Keras UpSampling2D
    Op.RESIZE_NEAREST_NEIGHBOR: Convention(_uncounted, "none"),
    Op.SHAPE: Convention(_uncounted, "none"),
    Op.SLICE: Convention(_uncounted, "none"),
    Op.STRIDED_SLICE: Convention(_uncounted, "none"),
    Op.TRANSPOSE: Convention(_uncounted, "none"),
})


def operator_cost(op: Operator) -> Cost:
    """The MACs and OPs of ``op`` by :data:`CONVENTIONS` (nothing for operators it lacks)."""
    convention = None if op.opcode is None else CONVENTIONS.get(op.opcode.builtin_code)
    if convention is None:
        return ZERO
    try:
        return convention.count(op)
    except _Unknown:
        return ZERO

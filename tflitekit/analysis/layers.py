"""Per-operator rows of a model summary: operands, options in MLTK's compact form, MACs and OPs,
weight and activation bytes.

Options read as Silicon Labs MLTK's summary prints them for the operators it formats (CONV_2D,
DEPTHWISE_CONV_2D, TRANSPOSE_CONV, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, MUL, FULLY_CONNECTED,
UNIDIRECTIONAL_SEQUENCE_LSTM), e.g. ``Padding:same stride:2x2 activation:relu`` (strides and
windows width first, values in lower case as MLTK's published summaries show them); a dilation
other than 1x1, which MLTK leaves out, is appended. For the other operators MLTK prints only the
options table's type; the rows give :func:`~tflitekit.analysis.info.options_text` instead (the
fields that differ from their defaults, ``-`` when none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..ir import Model, Operator, Tensor, dtypes
from ..options import (
    OPERATOR_OPTIONS,
    AddOptions,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    MulOptions,
    Pool2DOptions,
    TransposeConvOptions,
    UnidirectionalSequenceLSTMOptions,
)
from ..options import BuiltinOperator as Op
from ..serde.numbering import Numbering
from .costs import operator_cost
from .info import options_text

__all__ = ["Layer", "Operand", "OperandQuantization", "layers", "mltk_options"]


@dataclass(frozen=True)
class OperandQuantization:
    """How an operand is quantized: one ``scale`` and ``zero_point`` per tensor, or ``channels``
    scales along dimension ``axis``."""

    kind: Literal["per-tensor", "per-channel"]
    scale: float | None = None
    zero_point: int | None = None
    channels: int | None = None
    axis: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind == "per-tensor":
            return {"kind": self.kind, "scale": self.scale, "zero_point": self.zero_point}
        return {"kind": self.kind, "channels": self.channels, "axis": self.axis}


@dataclass(frozen=True)
class Operand:
    """An input or output of an operator: ``index`` as saved; ``constant`` when its data is in
    the file; ``bytes`` its data's size (elements times element size for other tensors, 0 for
    types without a whole byte size); ``quantization`` None when it is not quantized."""

    index: int
    name: str | None
    shape: tuple[int, ...] | None
    dtype: str
    constant: bool
    bytes: int
    quantization: OperandQuantization | None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name,
                "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype,
                "constant": self.constant, "bytes": self.bytes,
                "quantization": None if self.quantization is None
                else self.quantization.to_json()}


@dataclass(frozen=True)
class Layer:
    """One operator of a subgraph, as a summary row.

    ``inputs`` holds None for an absent optional input. ``weight_bytes`` sums the constant
    inputs' data and ``activation_bytes`` the other inputs and the outputs, each tensor once
    (ADD(x, x) counts x once); a buffer that several operators read counts in each of them.
    """

    index: int
    opcode: str
    version: int
    inputs: tuple[Operand | None, ...]
    outputs: tuple[Operand, ...]
    options: str
    macs: int
    ops: int
    weight_bytes: int
    activation_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "opcode": self.opcode, "version": self.version,
                "inputs": [None if t is None else t.to_json() for t in self.inputs],
                "outputs": [t.to_json() for t in self.outputs], "options": self.options,
                "macs": self.macs, "ops": self.ops, "weight_bytes": self.weight_bytes,
                "activation_bytes": self.activation_bytes}


def layers(model: Model, subgraph: int = 0) -> tuple[Layer, ...]:
    """A row for every operator of subgraph ``subgraph``, in execution order."""
    graph = model.subgraphs[subgraph]
    index = Numbering(model).tensor_index(graph)

    def operand(t: Tensor) -> Operand:
        return Operand(index.get(id(t), -1), t.name, t.shape, dtypes.name(t.dtype),
                       t.is_constant, _bytes(t), _quantization(t))

    rows = []
    for k, op in enumerate(graph.operators):
        inputs = tuple(None if t is None else operand(t) for t in op.inputs)
        outputs = tuple(operand(t) for t in op.outputs)
        tensors = {o.index: o for o in (*inputs, *outputs) if o is not None}.values()
        cost = operator_cost(op)
        rows.append(Layer(
            index=k, opcode="?" if op.opcode is None else op.opcode.name,
            version=0 if op.opcode is None else op.opcode.version,
            inputs=inputs, outputs=outputs, options=mltk_options(op),
            macs=cost.macs, ops=cost.ops,
            weight_bytes=sum(o.bytes for o in tensors if o.constant),
            activation_bytes=sum(o.bytes for o in tensors if not o.constant)))
    return tuple(rows)


def _bytes(t: Tensor) -> int:
    if t.buffer is not None and t.is_constant:
        return t.buffer.nbytes
    elements = 1
    for d in t.shape or ():
        elements *= max(d, 0)
    return elements * (dtypes.itemsize(t.dtype) or 0)


def _quantization(t: Tensor) -> OperandQuantization | None:
    q = t.quantization
    if q is None or not q.is_quantized:
        return None
    if q.per_channel:
        assert q.scale is not None
        return OperandQuantization("per-channel", channels=int(q.scale.size),
                                   axis=q.quantized_dimension)
    zero = q.zero_point
    return OperandQuantization("per-tensor", scale=float(q.scale[0]),  # type: ignore[index]
                               zero_point=int(zero[0]) if zero is not None and zero.size else 0)


# -- options as MLTK prints them ------------------------------------------------------------------

def _word(value: Any) -> str:
    """An enum value (padding, activation) as MLTK's published summaries print it."""
    return str(getattr(value, "name", value)).lower()


def _dilation(w: int, h: int) -> str:
    return "" if (w, h) == (1, 1) else f" dilation:{w}x{h}"


def _conv(o: Conv2DOptions) -> str:
    return (f"Padding:{_word(o.padding)} stride:{o.stride_w}x{o.stride_h} "
            f"activation:{_word(o.fused_activation_function)}"
            f"{_dilation(o.dilation_w_factor, o.dilation_h_factor)}")


def _depthwise(o: DepthwiseConv2DOptions) -> str:
    return (f"Multiplier:{o.depth_multiplier} padding:{_word(o.padding)} "
            f"stride:{o.stride_w}x{o.stride_h} activation:{_word(o.fused_activation_function)}"
            f"{_dilation(o.dilation_w_factor, o.dilation_h_factor)}")


def _transpose_conv(o: TransposeConvOptions) -> str:
    act = o.fused_activation_function
    return (f"Padding:{_word(o.padding)} stride:{o.stride_w}x{o.stride_h}"
            + (f" activation:{_word(act)}" if act else ""))


def _pool(o: Pool2DOptions) -> str:
    return (f"Padding:{_word(o.padding)} stride:{o.stride_w}x{o.stride_h} "
            f"filter:{o.filter_width}x{o.filter_height} "
            f"activation:{_word(o.fused_activation_function)}")


def _fused(o: AddOptions | MulOptions | FullyConnectedOptions) -> str:
    return f"Activation:{_word(o.fused_activation_function)}"


def _lstm(o: UnidirectionalSequenceLSTMOptions) -> str:
    return (f"Time major:{bool(o.time_major)}, Activation:{_word(o.fused_activation_function)}, "
            f"Cell clip:{float(o.cell_clip)}")


_FORMATS: Mapping[Op, Callable[[Any], str]] = {
    Op.CONV_2D: _conv,
    Op.DEPTHWISE_CONV_2D: _depthwise,
    Op.TRANSPOSE_CONV: _transpose_conv,
    Op.AVERAGE_POOL_2D: _pool,
    Op.MAX_POOL_2D: _pool,
    Op.ADD: _fused,
    Op.MUL: _fused,
    Op.FULLY_CONNECTED: _fused,
    Op.UNIDIRECTIONAL_SEQUENCE_LSTM: _lstm,
}


def mltk_options(op: Operator) -> str:
    """``op``'s options in MLTK's compact form (see the module docstring); an operator without
    options shows its options table's defaults, as TFLite reads them."""
    code = None if op.opcode is None else op.opcode.builtin_code
    fmt = _FORMATS.get(code)
    kind = OPERATOR_OPTIONS.get(code)
    options = op.options if op.options is not None or kind is None else kind[1]()
    if fmt is None or kind is None or not isinstance(options, kind[1]):
        return options_text(op)
    return fmt(options)

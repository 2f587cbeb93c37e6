"""What each operator requires of its operands: counts, types and shapes.

The rules are those of :data:`tflitekit.ir.opfacts.FACTS` (:class:`Operands`); this module tests
them, following the Prepare checks of LiteRT's and TFLite Micro's kernels. Shape rules check
only what is cheap and certain, and read each tensor's static ``shape``: that is what both
runtimes allocate and what their Prepare checks compare (``shape_signature`` only says which
dimensions a later resize may change, and ``check()`` verifies that the two agree). A
non-constant tensor with an empty shape (a scalar, or a shape the file does not know) skips the
rules that read it; a dimension the rule cannot know (a slice size of -1 on an unknown input,
say) is None and matches anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..options import TensorType
from .graph import Operator
from .opfacts import Operands, Shapes, Types, facts
from .tensor import Tensor

__all__ = ["has_rule", "operand_problems"]

Dims = tuple[int | None, ...]
"""A shape whose dimensions a rule could not work out are None."""

_INDEX = frozenset({TensorType.INT16, TensorType.INT32, TensorType.INT64})
_INTEGER = frozenset({TensorType.INT4, TensorType.INT8, TensorType.UINT8, TensorType.INT16,
                      TensorType.INT32})
_BIAS = {TensorType.INT8: {TensorType.INT32}, TensorType.UINT8: {TensorType.INT32},
         TensorType.INT16: {TensorType.INT32, TensorType.INT64}}
_WEIGHTS = {TensorType.INT8: {TensorType.INT8, TensorType.INT4},
            TensorType.UINT8: {TensorType.UINT8}, TensorType.INT16: {TensorType.INT8}}


def has_rule(op: Operator) -> bool:
    """True when the facts give ``op`` an operand rule (custom operators have none)."""
    return facts(op.type).operands is not None and op.opcode.custom_code is None


def operand_problems(op: Operator) -> list[tuple[str, str]]:
    """``(kind, message)`` for each way ``op``'s operands break its rule (none when the
    operator has no rule: see :func:`has_rule`)."""
    rule = facts(op.type).operands
    if rule is None or op.opcode.custom_code is not None:
        return []
    counted = _count_problem(op, rule)
    if counted is not None:
        return [("operand-count", counted)]
    problems = []
    typed = _type_problem(op, rule)
    if typed is not None:
        problems.append(("operand-type", typed))
    shaped = _SHAPES[rule.shapes](op, [_dims(t) for t in op.inputs], [_dims(t) for t in op.outputs])
    if shaped is not None:
        problems.append(("operand-shape", shaped))
    return problems


# -- counts and types ----------------------------------------------------------------------------


def _count_problem(op: Operator, rule: Operands) -> str | None:
    for side, (least, most), have in (("inputs", rule.inputs, op.inputs),
                                      ("outputs", rule.outputs, op.outputs)):
        if len(have) < least or (most is not None and len(have) > most):
            want = (f"{least}" if least == most else f"{least} or more" if most is None
                    else f"{least} to {most}")
            return f"has {len(have)} {side}; {op.opcode.name} takes {want}"
    missing = [i for i in range(rule.inputs[0]) if op.inputs[i] is None]
    if missing:
        return f"input {missing[0]} is absent but required"
    return None


def _name(t: Tensor) -> str:
    dtype = getattr(t.dtype, "name", t.dtype)
    return f"{t.name!r} ({dtype})"


def _type_problem(op: Operator, rule: Operands) -> str | None:
    ins = op.inputs
    out = op.outputs[0]
    for slot in rule.index:
        t = ins[slot] if slot < len(ins) else None
        if t is not None and t.dtype not in _INDEX:
            return f"input {slot} {_name(t)} must be INT32 or INT64"
    if rule.types is Types.SAME:
        slots = range(len(ins)) if rule.data is None else rule.data
        operands = [(f"input {i}", ins[i]) for i in slots if i < len(ins)]
        operands += [(f"output {i}", t) for i, t in enumerate(op.outputs)][1:]
        for what, t in operands:
            if t is not None and t.dtype != out.dtype:
                return f"{what} {_name(t)} differs from output 0 {_name(out)}"
        return None
    return _TYPES[rule.types](op, rule)


def _weighted_types(op: Operator, rule: Operands) -> str | None:
    data = (rule.data or (0,))[0]
    x = op.inputs[data]
    weights = op.inputs[1]
    bias_slot = data + 1 if data else 2
    bias = op.inputs[bias_slot] if bias_slot < len(op.inputs) else None
    out = op.outputs[0]
    assert x is not None and weights is not None
    if out.dtype != x.dtype:
        return f"output {_name(out)} differs from input {data} {_name(x)}"
    if x.dtype in _WEIGHTS and weights.dtype not in _WEIGHTS[x.dtype]:
        return f"weights {_name(weights)} do not suit {x.dtype.name} activations"
    if bias is not None and x.dtype in _BIAS and bias.dtype not in _BIAS[x.dtype]:
        want = " or ".join(sorted(t.name for t in _BIAS[x.dtype]))
        return f"bias {_name(bias)} must be {want} for {x.dtype.name} activations"
    if bias is not None and x.dtype == TensorType.FLOAT32 and bias.dtype != TensorType.FLOAT32:
        return f"bias {_name(bias)} must be FLOAT32 for FLOAT32 activations"
    return None


def _hybrid_rhs_types(op: Operator, rule: Operands) -> str | None:
    lhs, rhs, out = op.inputs[0], op.inputs[1], op.outputs[0]
    assert lhs is not None and rhs is not None
    if out.dtype != lhs.dtype:
        return f"output {_name(out)} differs from input 0 {_name(lhs)}"
    hybrid = lhs.dtype == TensorType.FLOAT32 and rhs.dtype == TensorType.INT8
    if rhs.dtype != lhs.dtype and not hybrid:
        return f"input 1 {_name(rhs)} differs from input 0 {_name(lhs)}"
    return None


def _softmax_types(op: Operator, rule: Operands) -> str | None:
    x, out = op.inputs[0], op.outputs[0]
    assert x is not None
    if out.dtype != x.dtype and not (x.dtype == TensorType.INT8
                                     and out.dtype == TensorType.INT16):
        return f"output {_name(out)} does not suit input {_name(x)}"
    return None


def _quantize_types(op: Operator, rule: Operands) -> str | None:
    out = op.outputs[0]
    return None if out.dtype in _INTEGER else f"output {_name(out)} is not an integer type"


def _dequantize_types(op: Operator, rule: Operands) -> str | None:
    x, out = op.inputs[0], op.outputs[0]
    assert x is not None
    if out.dtype != TensorType.FLOAT32:
        return f"output {_name(out)} is not FLOAT32"
    if x.dtype == TensorType.FLOAT32:
        return f"input {_name(x)} is already FLOAT32"
    return None


def _index_output_types(op: Operator, rule: Operands) -> str | None:
    bad = next((t for t in op.outputs if t.dtype not in (TensorType.INT32, TensorType.INT64)),
               None)
    return None if bad is None else f"output {_name(bad)} must be INT32 or INT64"


_TYPES: dict[Types, Callable[[Operator, Operands], str | None]] = {
    Types.WEIGHTED: _weighted_types,
    Types.HYBRID_RHS: _hybrid_rhs_types,
    Types.SOFTMAX: _softmax_types,
    Types.QUANTIZE: _quantize_types,
    Types.DEQUANTIZE: _dequantize_types,
    Types.INDEX_OUTPUT: _index_output_types,
}


# -- shapes --------------------------------------------------------------------------------------


def _dims(t: Tensor | None) -> Dims | None:
    """The tensor's static shape; None when the shape is unknown. A -1 in ``shape_signature``
    is no wildcard: the runtimes allocate and check the static shape, and a resize recomputes
    every shape consistently, so the file's shapes must fit together as they are."""
    if t is None or t.shape is None or (t.shape == () and not t.is_constant and not t.has_rank):
        return None
    return t.shape


def _show(dims: Dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _agree(a: Dims, b: Dims) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y
                                    for x, y in zip(a, b, strict=True))


def _count(dims: Dims) -> int | None:
    return None if None in dims else int(np.prod(dims, dtype=np.int64))  # type: ignore[arg-type]


def _value(op: Operator, slot: int) -> list[int] | None:
    """The constant integer operand at ``slot``, flattened; None when it is not a constant."""
    t = op.inputs[slot] if slot < len(op.inputs) else None
    data = None if t is None else t.data
    if data is None or data.dtype.kind not in "iu":
        return None
    return [int(v) for v in data.reshape(-1)]


def _axis(axis: int, rank: int) -> int | None:
    return axis + rank if -rank <= axis < 0 else axis if 0 <= axis < rank else None


def _known(*operands: Dims | None) -> bool:
    return all(d is not None for d in operands)


Rule = Callable[[Operator, list["Dims | None"], list["Dims | None"]], "str | None"]


def _none(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    return None


def _same(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y = i[0], o[0]
    if x is None or y is None or _agree(x, y):
        return None
    return f"output shape {_show(y)} differs from input shape {_show(x)}"


def _broadcast_dims(a: Dims, b: Dims) -> Dims | None:
    """The broadcast of ``a`` and ``b``; None when they do not broadcast."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out: list[int | None] = []
    for x, y in zip(a, b, strict=True):
        if x is not None and y is not None and x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x if y == 1 else x if y is None else y)
    return tuple(out)


def _broadcast(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    a, b, y = i[0], i[1], o[0]
    if a is None or b is None or y is None:
        return None
    both = _broadcast_dims(a, b)
    if both is None:
        return f"input shapes {_show(a)} and {_show(b)} do not broadcast"
    if not _agree(both, y):
        return f"output shape {_show(y)} is not the broadcast shape {_show(both)}"
    return None


def _rank(what: str, dims: Dims, rank: int) -> str | None:
    return None if len(dims) == rank else f"{what} shape {_show(dims)} is not {rank}-D"


def _mismatch(what: str, a: int | None, b: int | None) -> str | None:
    return None if a is None or b is None or a == b else f"{what}: {a} vs {b}"


def _first(*checks: str | None) -> str | None:
    return next((c for c in checks if c is not None), None)


def _pool(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y = i[0], o[0]
    if x is None or y is None:
        return None
    return _first(_rank("input", x, 4), _rank("output", y, 4)) or _first(
        _mismatch("batch of input and output", x[0], y[0]),
        _mismatch("channels of input and output", x[3], y[3]))


def _bias(i: list[Dims | None], slot: int, units: int | None) -> str | None:
    bias = i[slot] if slot < len(i) else None
    count = None if bias is None else _count(bias)
    return _mismatch("bias elements and output channels", count, units)


def _conv(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, w, y = i[0], i[1], o[0]
    if x is None or w is None or y is None:
        return None
    ranks = _first(_rank("input", x, 4), _rank("filter", w, 4), _rank("output", y, 4))
    if ranks is not None:
        return ranks
    if x[3] is not None and w[3] is not None and (w[3] == 0 or x[3] % w[3]):
        return f"input channels {x[3]} are not a multiple of the filter's {w[3]}"
    return _first(_mismatch("batch of input and output", x[0], y[0]),
                  _mismatch("output channels and filters", y[3], w[0]), _bias(i, 2, w[0]))


def _depthwise(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, w, y = i[0], i[1], o[0]
    if x is None or w is None or y is None:
        return None
    ranks = _first(_rank("input", x, 4), _rank("filter", w, 4), _rank("output", y, 4))
    if ranks is not None:
        return ranks
    if x[3] is not None and w[3] is not None and (x[3] == 0 or w[3] % x[3]):
        return f"filter channels {w[3]} are not a multiple of the input's {x[3]}"
    return _first(_mismatch("filter dimension 0 (must be 1)", w[0], 1),
                  _mismatch("batch of input and output", x[0], y[0]),
                  _mismatch("output channels and filter channels", y[3], w[3]),
                  _bias(i, 2, w[3]))


def _fully_connected(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, w, y = i[0], i[1], o[0]
    if x is None or w is None or y is None:
        return None
    if len(w) != 2:
        return f"weights shape {_show(w)} is not 2-D"
    units, depth = w
    elements = _count(x)
    if elements is not None and depth is not None and (depth == 0 or elements % depth):
        return (f"input shape {_show(x)} ({elements} elements) is not a whole number of rows "
                f"of the weights' depth {depth} (weights {_show(w)})")
    if not y:
        return "output has no dimensions"
    rows = None if elements is None or depth is None else elements // depth
    out = _count(y)
    return _first(_mismatch("output last dimension and weights' units", y[-1], units),
                  None if rows is None or units is None or out is None or out == rows * units
                  else f"output shape {_show(y)} does not hold {rows} rows of {units}",
                  _bias(i, 2, units))


def _transpose_conv(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    w, x, y = i[1], i[2], o[0]
    if w is None or x is None or y is None:
        return None
    ranks = _first(_rank("weights", w, 4), _rank("input", x, 4), _rank("output", y, 4))
    shape = _value(op, 0)
    return ranks or _first(
        _mismatch("input channels and weights' input channels", x[3], w[3]),
        _mismatch("output channels and weights' output channels", y[3], w[0]),
        None if shape is None or _agree(tuple(shape), y)
        else f"output shape {_show(y)} differs from the output_shape operand {shape}",
        _bias(i, 3, w[0]))


def _reshape(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y = i[0], o[0]
    if x is None or y is None:
        return None
    a, b = _count(x), _count(y)
    return (None if a is None or b is None or a == b else
            f"output shape {_show(y)} ({b} elements) does not hold the input's {_show(x)} "
            f"({a} elements)")


def _transpose(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y, perm = i[0], o[0], _value(op, 1)
    if x is None or y is None:
        return None
    if len(x) != len(y):
        return f"output shape {_show(y)} and input shape {_show(x)} differ in rank"
    if perm is None:
        return None
    if sorted(perm) != list(range(len(x))):
        return f"perm {perm} is not a permutation of {len(x)} dimensions"
    moved = tuple(x[p] for p in perm)
    return None if _agree(moved, y) else (
        f"output shape {_show(y)} is not input {_show(x)} permuted by {perm}")


def _pad(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y, pads = i[0], o[0], _value(op, 1)
    if x is None or y is None:
        return None
    if len(x) != len(y):
        return f"output shape {_show(y)} and input shape {_show(x)} differ in rank"
    if pads is None or len(pads) != 2 * len(x):
        return None
    want = tuple(None if d is None else d + pads[2 * k] + pads[2 * k + 1]
                 for k, d in enumerate(x))
    return None if _agree(want, y) else (
        f"output shape {_show(y)} is not input {_show(x)} padded by {pads}")


def _concatenation(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    y = o[0]
    if y is None or not _known(*i):
        return None
    axis = _axis(int(getattr(op.options, "axis", 0)), len(y))
    if axis is None:
        return f"axis {getattr(op.options, 'axis', 0)} is outside rank {len(y)}"
    total: int | None = 0
    for k, x in enumerate(i):
        assert x is not None
        if len(x) != len(y) or not _agree(x[:axis] + x[axis + 1:], y[:axis] + y[axis + 1:]):
            return f"input {k} shape {_show(x)} does not fit output {_show(y)} along axis {axis}"
        total = None if total is None or x[axis] is None else total + x[axis]  # type: ignore[operator]
    return _mismatch(f"output dimension {axis} and the inputs' sum", y[axis], total)


def _split_along(x: Dims, outs: list[Dims | None], axis_value: list[int] | None,
                 sizes: Callable[[int], list[int | None] | str]) -> str | None:
    if axis_value is None or len(axis_value) != 1 or not _known(*outs):
        return None
    axis = _axis(axis_value[0], len(x))
    if axis is None:
        return f"axis {axis_value[0]} is outside rank {len(x)}"
    want = sizes(axis)
    if isinstance(want, str):
        return want
    for k, (y, size) in enumerate(zip(outs, want, strict=True)):
        assert y is not None
        if not _agree(y, (*x[:axis], size, *x[axis + 1:])):
            return f"output {k} shape {_show(y)} is not a part of input {_show(x)} along {axis}"
    return None


def _split(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x = i[1]
    if x is None:
        return None

    def sizes(axis: int) -> list[int | None] | str:
        d = x[axis]
        if d is not None and d % len(o):
            return f"input dimension {axis} of {d} does not split into {len(o)} equal parts"
        return [None if d is None else d // len(o)] * len(o)
    return _split_along(x, o, _value(op, 0), sizes)


def _split_v(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x = i[0]
    if x is None or not _known(*o):
        return None

    def sizes(axis: int) -> list[int | None] | str:
        parts = [y[axis] if y is not None and len(y) == len(x) else None for y in o]
        known = [p for p in parts if p is not None]
        total = sum(known) if len(known) == len(parts) else None
        why = _mismatch(f"input dimension {axis} and the outputs' sum", x[axis], total)
        return parts if why is None else why
    return _split_along(x, o, _value(op, 2), sizes)


def _stacked(x: Dims, y: Dims, axis_option: int, count: int, what: str) -> str | None:
    axis = _axis(axis_option, len(y))
    if axis is None:
        return f"axis {axis_option} is outside rank {len(y)}"
    if not _agree(y[:axis] + y[axis + 1:], x):
        return f"{what} shape {_show(x)} is not {_show(y)} without dimension {axis}"
    return _mismatch(f"dimension {axis} and the number of slices", y[axis], count)


def _pack(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    y = o[0]
    if y is None or not _known(*i):
        return None
    axis = int(getattr(op.options, "axis", 0))
    return _first(*(_stacked(x, y, axis, len(i), f"input {k}")  # type: ignore[arg-type]
                    for k, x in enumerate(i)))


def _unpack(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x = i[0]
    if x is None or not _known(*o):
        return None
    axis = int(getattr(op.options, "axis", 0))
    return _first(*(_stacked(y, x, axis, len(o), f"output {k}")  # type: ignore[arg-type]
                    for k, y in enumerate(o)))


def _shape(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y = i[0], o[0]
    if x is None or y is None or _agree(y, (len(x),)):
        return None
    return f"output shape {_show(y)} is not ({len(x)},) for a {len(x)}-D input"


def _fill(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    y, dims = o[0], _value(op, 0)
    if y is None or dims is None or _agree(tuple(dims), y):
        return None
    return f"output shape {_show(y)} differs from the dims operand {dims}"


def _slice(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y, begin, size = i[0], o[0], _value(op, 1), _value(op, 2)
    if x is None or y is None:
        return None
    if len(x) != len(y):
        return f"output shape {_show(y)} and input shape {_show(x)} differ in rank"
    if begin is None or size is None or len(begin) != len(x) or len(size) != len(x):
        return None
    want = tuple(d - b if s == -1 and d is not None else None if s == -1 else s
                 for d, b, s in zip(x, begin, size, strict=True))
    return None if _agree(want, y) else f"output shape {_show(y)} is not the slice size {size}"


def _gather(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, idx, y = i[0], i[1], o[0]
    if x is None or idx is None or y is None:
        return None
    axis = _axis(int(getattr(op.options, "axis", 0)), len(x))
    batch_dims = int(getattr(op.options, "batch_dims", 0))
    if axis is None or not 0 <= batch_dims <= len(idx):
        return None
    want = x[:axis] + idx[batch_dims:] + x[axis + 1:]
    return None if _agree(want, y) else (
        f"output shape {_show(y)} is not {_show(want)} (params {_show(x)}, indices "
        f"{_show(idx)}, axis {axis})")


def _reduced(op: Operator, x: Dims, y: Dims, axes: Sequence[int], keep: bool) -> str | None:
    normal = {_axis(a, len(x)) for a in axes}
    if None in normal:
        return f"axes {list(axes)} are outside rank {len(x)}"
    want = tuple(1 if k in normal else d for k, d in enumerate(x) if keep or k not in normal)
    return None if _agree(want, y) else (
        f"output shape {_show(y)} is not {_show(x)} reduced over {sorted(normal)}")  # type: ignore[type-var]


def _arg(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y, axis = i[0], o[0], _value(op, 1)
    if x is None or y is None or axis is None or len(axis) != 1:
        return None
    return _reduced(op, x, y, axis, keep=False)


def _reduce(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y, axes = i[0], o[0], _value(op, 1)
    if x is None or y is None or axes is None:
        return None
    return _reduced(op, x, y, axes, keep=bool(getattr(op.options, "keep_dims", False)))


def _batch_matmul(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    a, b, y = i[0], i[1], o[0]
    if a is None or b is None or y is None:
        return None
    if len(a) < 2 or len(b) < 2:
        return f"input shapes {_show(a)} and {_show(b)} are not both at least 2-D"
    adj_x, adj_y = (bool(getattr(op.options, f, False)) for f in ("adj_x", "adj_y"))
    rows, inner_a = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    inner_b, cols = (b[-1], b[-2]) if adj_y else (b[-2], b[-1])
    if inner_a is not None and inner_b is not None and inner_a != inner_b:
        return f"contraction dimensions differ: {_show(a)} x {_show(b)}"
    batch = _broadcast_dims(a[:-2], b[:-2])
    if batch is None:
        return f"batch dimensions of {_show(a)} and {_show(b)} do not broadcast"
    want = (*batch, rows, cols)
    return None if _agree(want, y) else f"output shape {_show(y)} is not {_show(want)}"


def _resize(op: Operator, i: list[Dims | None], o: list[Dims | None]) -> str | None:
    x, y, size = i[0], o[0], _value(op, 1)
    if x is None or y is None:
        return None
    return _pool(op, i, o) or (
        None if size is None or len(size) != 2 or _agree(tuple(size), y[1:3])
        else f"output shape {_show(y)} does not have the size operand {size}")


_SHAPES: dict[Shapes, Rule] = {
    Shapes.NONE: _none, Shapes.SAME: _same, Shapes.BROADCAST: _broadcast, Shapes.POOL: _pool,
    Shapes.CONV: _conv, Shapes.DEPTHWISE: _depthwise, Shapes.FULLY_CONNECTED: _fully_connected,
    Shapes.TRANSPOSE_CONV: _transpose_conv, Shapes.RESHAPE: _reshape,
    Shapes.TRANSPOSE: _transpose, Shapes.PAD: _pad, Shapes.CONCATENATION: _concatenation,
    Shapes.SPLIT: _split, Shapes.SPLIT_V: _split_v, Shapes.PACK: _pack, Shapes.UNPACK: _unpack,
    Shapes.SHAPE: _shape, Shapes.FILL: _fill, Shapes.SLICE: _slice, Shapes.GATHER: _gather,
    Shapes.ARG: _arg, Shapes.REDUCE: _reduce, Shapes.BATCH_MATMUL: _batch_matmul,
    Shapes.RESIZE: _resize,
}

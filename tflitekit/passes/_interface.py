"""Queries shared by the passes that change a subgraph's interface types (strip_float_io and
add_float_io): which tensors may be an integer interface, how to name them, how to report them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, MutableSequence, Sequence

from ..errors import PassError
from ..ir import Subgraph, Tensor, dtypes
from ..options import TensorType

__all__ = ["INTEGER_TYPES", "called_note", "count_of", "describe_quantized", "interface_problem",
           "name_set", "require_names", "side_tensors", "zero_point"]

INTEGER_TYPES = (TensorType.INT8, TensorType.INT16, TensorType.UINT8)
"""Integer types a float interface is quantized to (and dequantized from)."""


def interface_problem(tensor: Tensor) -> str | None:
    """Why ``tensor`` cannot be an integer interface tensor, as a predicate ("has no
    quantization parameters"), or None when it can: it must be INT8, INT16 or UINT8 and
    quantized per tensor."""
    if tensor.dtype not in INTEGER_TYPES:
        return f"is {dtypes.name(tensor.dtype)}, not INT8, INT16 or UINT8"
    q = tensor.quantization
    if q is None or q.scale is None or not q.is_quantized:
        return "has no quantization parameters"
    if q.scale.size > 1 or (q.zero_point is not None and q.zero_point.size > 1):
        return (f"is quantized per channel ({q.scale.size} scales along dimension "
                f"{q.quantized_dimension})")
    return None


def describe_quantized(tensor: Tensor) -> str:
    """``INT8 (scale 0.05, zero point -3)`` for a per-tensor quantized tensor."""
    assert tensor.quantization is not None
    scale, zero = tensor.quantization.per_tensor()
    return f"{dtypes.name(tensor.dtype)} (scale {scale:.9g}, zero point {zero})"


def zero_point(tensor: Tensor) -> int:
    """The zero point of a per-tensor quantized tensor (0 when the file gives none)."""
    q = tensor.quantization
    return 0 if q is None or not q.is_quantized else q.per_tensor()[1]


def name_set(names: Collection[str] | None) -> set[str] | None:
    """``names`` as a set (a single string is one name); None stays None (every tensor)."""
    if names is None:
        return None
    return {names} if isinstance(names, str) else set(names)


def require_names(names: Collection[str] | None, graphs: Sequence[Subgraph], inputs: bool,
                  outputs: bool, eligible: Callable[[Tensor], bool], kind: str) -> None:
    """Raise :class:`PassError` unless each of ``names`` names an interface tensor of a chosen
    side of ``graphs`` for which ``eligible(tensor)`` holds; ``kind`` describes such tensors."""
    wanted = name_set(names)
    if wanted is None:
        return
    sides = [side for side, enabled in (("input", inputs), ("output", outputs)) if enabled]
    found = {t.name for graph in graphs for side in sides for t in side_tensors(graph, side)
             if eligible(t)}
    missing = sorted(wanted - found, key=str)
    if missing:
        where = " or ".join(sides) or "interface tensor (neither side chosen)"
        raise PassError(f"no {kind} {where} named {', '.join(map(repr, missing))} in an entry "
                        f"subgraph; there are {sorted(n for n in found if n is not None)}")


def called_note(where: str, caller: str) -> str:
    """The skip message for an entry subgraph that ``caller`` also runs."""
    return f"{where}: left alone: it is also run by {caller}, whose tensors fix its interface types"


def side_tensors(graph: Subgraph, side: str) -> MutableSequence[Tensor]:
    """The subgraph's ``"input"`` or ``"output"`` tensors (its live list)."""
    return graph.inputs if side == "input" else graph.outputs


def count_of(tensors: Iterable[Tensor], tensor: Tensor) -> int:
    """How many times ``tensor`` itself is in ``tensors``."""
    return sum(t is tensor for t in tensors)

"""Field-by-field structural comparison of two models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .graph import Operator, Subgraph
from .model import Model
from .tensor import Buffer, Tensor

__all__ = ["diff", "equal"]


def diff(a: Model, b: Model) -> list[str]:
    """Every difference between two models, compared field by field with references followed
    by position (tensor i of subgraph j, buffer k, ...). Empty when the models are equal."""
    out: list[str] = []
    _compare(a, b, out)
    return out


def equal(a: Model, b: Model) -> bool:
    """``not diff(a, b)``, but stopping at the first difference."""
    try:
        _compare(a, b, _FirstDifference())
    except _Different:
        return False
    return True


class _Different(Exception):
    pass


class _FirstDifference(list[str]):
    """A list of differences that ends the comparison when the first one is added."""

    def append(self, item: str) -> None:
        raise _Different


def _compare(a: Model, b: Model, out: list[str]) -> None:
    index = _TensorIndex()
    _fields(a, b, "model", ("version", "description", "external_buffer_groups",
                            "external_buffers"), out)
    _buffers(a.all_buffers(), b.all_buffers(), "model.buffers", out)
    _same([c.key() for c in a.all_operator_codes()], [c.key() for c in b.all_operator_codes()],
          "model.operator_codes", out)
    _same(len(a.subgraphs), len(b.subgraphs), "len(model.subgraphs)", out)
    for i, (ga, gb) in enumerate(zip(a.subgraphs, b.subgraphs, strict=False)):
        _graph(ga, gb, f"subgraphs[{i}]", index, out)
    _same(len(a.metadata), len(b.metadata), "len(model.metadata)", out)
    for i, (ma, mb) in enumerate(zip(a.metadata, b.metadata, strict=False)):
        _same(ma.name, mb.name, f"metadata[{i}].name", out)
        _buffers([ma.buffer], [mb.buffer], f"metadata[{i}].buffer", out)
    _same(a.metadata_buffer is None, b.metadata_buffer is None, "metadata_buffer is None", out)
    _buffers(a.metadata_buffer or [], b.metadata_buffer or [], "metadata_buffer", out)
    _same(len(a.signature_defs), len(b.signature_defs), "len(signature_defs)", out)
    for i, (sa, sb) in enumerate(zip(a.signature_defs, b.signature_defs, strict=False)):
        where = f"signature_defs[{i}]"
        _same(sa.key, sb.key, f"{where}.key", out)
        _same(_position(a.subgraphs, sa.subgraph), _position(b.subgraphs, sb.subgraph),
              f"{where}.subgraph", out)
        for side in ("inputs", "outputs"):
            ta, tb = getattr(sa, side), getattr(sb, side)
            _same(list(ta), list(tb), f"{where}.{side}", out)
            for name in set(ta) & set(tb):
                _same(index(sa.subgraph, ta[name]), index(sb.subgraph, tb[name]),
                      f"{where}.{side}[{name!r}]", out)


class _TensorIndex:
    """Position of a tensor in a subgraph's tensor list, each list indexed once."""

    def __init__(self) -> None:
        self.graphs: dict[int, dict[int, int]] = {}

    def __call__(self, graph: Subgraph | None, tensor: Tensor | None) -> int | None:
        if graph is None or tensor is None:
            return None
        positions = self.graphs.get(id(graph))
        if positions is None:
            positions = self.graphs[id(graph)] = {id(t): i for i, t in enumerate(graph.tensors)}
        return positions.get(id(tensor))


def _graph(a: Subgraph, b: Subgraph, where: str, index: _TensorIndex, out: list[str]) -> None:
    _fields(a, b, where, ("name", "debug_metadata_index"), out)
    _same(len(a.tensors), len(b.tensors), f"len({where}.tensors)", out)
    for i, (ta, tb) in enumerate(zip(a.tensors, b.tensors, strict=False)):
        _tensor(ta, tb, f"{where}.tensors[{i}]", out)
    for side in ("inputs", "outputs"):
        _same([index(a, t) for t in getattr(a, side)],
              [index(b, t) for t in getattr(b, side)], f"{where}.{side}", out)
    _same(len(a.operators), len(b.operators), f"len({where}.operators)", out)
    for i, (oa, ob) in enumerate(zip(a.operators, b.operators, strict=False)):
        _operator(a, b, oa, ob, f"{where}.operators[{i}]", index, out)


def _tensor(a: Tensor, b: Tensor, where: str, out: list[str]) -> None:
    _fields(a, b, where, ("name", "shape", "dtype", "is_variable", "shape_signature", "has_rank",
                          "quantization", "sparsity", "variant_tensors", "external_buffer"),
            out)
    _buffers([a.buffer], [b.buffer], f"{where}.buffer", out)


def _operator(ga: Subgraph, gb: Subgraph, a: Operator, b: Operator, where: str,
              index: _TensorIndex, out: list[str]) -> None:
    _same(a.opcode.key(), b.opcode.key(), f"{where}.opcode", out)
    for side in ("inputs", "outputs"):
        _same([index(ga, t) for t in getattr(a, side)],
              [index(gb, t) for t in getattr(b, side)], f"{where}.{side}", out)
    _same(None if a.intermediates is None else [index(ga, t) for t in a.intermediates],
          None if b.intermediates is None else [index(gb, t) for t in b.intermediates],
          f"{where}.intermediates", out)
    _fields(a, b, where, ("options", "options_2", "custom_options", "custom_options_format",
                          "mutating_variable_inputs", "debug_metadata_index"), out)


def _buffers(a: Sequence[Buffer | None], b: Sequence[Buffer | None], where: str,
             out: list[str]) -> None:
    _same(len(a), len(b), f"len({where})", out)
    for i, (ba, bb) in enumerate(zip(a, b, strict=False)):
        if (ba is None) != (bb is None):
            out.append(f"{where}[{i}]: {ba!r} != {bb!r}")
        elif ba is not None and bb is not None and ba != bb:
            out.append(f"{where}[{i}]: contents differ ({ba.nbytes} vs {bb.nbytes} bytes)")


def _fields(a: Any, b: Any, where: str, names: tuple[str, ...], out: list[str]) -> None:
    for name in names:
        _same(getattr(a, name), getattr(b, name), f"{where}.{name}", out)


def _same(a: Any, b: Any, where: str, out: list[str]) -> None:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        equal = np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    else:
        equal = bool(a == b)
    if not equal:
        out.append(f"{where}: {a!r} != {b!r}")


def _position(items: list[Any], item: Any) -> int | None:
    return next((i for i, x in enumerate(items) if x is item), None)

"""How a save numbers the objects of a model: buffers, operator codes and tensors.

The IR holds references; a file holds indices. This is the one place that turns the first into
the second, used by the writer and by everything that shows indices (``tflitekit info``,
``dump``), so that what is shown is what a save writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.graph import Operator, OperatorCode, Subgraph
from ..ir.model import Model
from ..ir.tensor import Buffer, Tensor

__all__ = ["Numbering"]


class Numbering:
    """File indices of a model's buffers, operator codes and tensors.

    ``buffers`` is the file's buffer list: the schema's empty buffer 0 (``None``), then
    :meth:`Model.all_buffers`, then ``extra_buffers`` (written after, such as a digest entry's).
    ``opcodes`` is :meth:`Model.all_operator_codes`; operators using equal codes share the first.
    A subgraph's tensors are its ``tensors`` followed by tensors that are referenced (as input,
    output, operand or intermediate, in that order) but not listed. ``buffer_index`` and
    ``opcode_index`` map ``id()`` of a buffer / operator code to its index.
    """

    __slots__ = ("_tensors", "buffer_index", "buffers", "opcode_index", "opcodes")

    def __init__(self, model: Model, extra_buffers: Sequence[Buffer] = ()) -> None:
        self.buffers: list[Buffer | None] = [None, *model.all_buffers(), *extra_buffers]
        self.buffer_index = {id(b): i for i, b in enumerate(self.buffers) if b is not None}
        self.opcodes: list[OperatorCode] = model.all_operator_codes()
        first = {c.key(): i for i, c in reversed(list(enumerate(self.opcodes)))}
        self.opcode_index = {id(c): first[c.key()] for c in self.opcodes}
        for op in model.operators():
            if op.opcode is not None and id(op.opcode) not in self.opcode_index:
                self.opcode_index[id(op.opcode)] = first[op.opcode.key()]
        self._tensors: dict[int, tuple[list[Tensor], dict[int, int]]] = {}

    def buffer(self, buf: Buffer | None) -> int:
        """The index of ``buf`` (0 for none, -1 for a buffer the model does not hold)."""
        return 0 if buf is None else self.buffer_index.get(id(buf), -1)

    def opcode(self, op: Operator) -> int | None:
        """The operator code index ``op`` is written with (None when it has no code)."""
        return None if op.opcode is None else self.opcode_index[id(op.opcode)]

    def tensors(self, graph: Subgraph) -> list[Tensor]:
        """The subgraph's tensors in file order."""
        return self._graph(graph)[0]

    def tensor_index(self, graph: Subgraph) -> dict[int, int]:
        """File index of each tensor of ``graph``, keyed by ``id(tensor)``."""
        return self._graph(graph)[1]

    def tensor(self, graph: Subgraph | None, tensor: Tensor | None) -> int:
        """The index of ``tensor`` in ``graph`` (-1 for none or a tensor not in the graph)."""
        if graph is None or tensor is None:
            return -1
        return self._graph(graph)[1].get(id(tensor), -1)

    def _graph(self, graph: Subgraph) -> tuple[list[Tensor], dict[int, int]]:
        found = self._tensors.get(id(graph))
        if found is None:
            tensors = list(graph.tensors)
            index = {id(t): i for i, t in enumerate(tensors)}
            referenced: list[Tensor | None] = [*graph.inputs, *graph.outputs]
            for op in graph.operators:
                referenced += op.inputs
                referenced += op.outputs
                referenced += op.intermediates or ()
            for t in referenced:
                if t is not None and id(t) not in index:
                    index[id(t)] = len(tensors)
                    tensors.append(t)
            found = self._tensors[id(graph)] = (tensors, index)
        return found

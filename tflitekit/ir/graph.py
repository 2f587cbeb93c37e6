"""Operator codes, operators and subgraphs, linked by object references."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from typing import Any, TypeVar, overload

from .._generated.schema import BuiltinOperator, CustomOptionsFormat, Table
from ..errors import TFLiteKitError
from .tensor import Tensor

__all__ = ["Operator", "OperatorCode", "Subgraph"]

T = TypeVar("T")


class OperatorCode:
    """Which operator (builtin or custom) and which version of its kernel.

    ``builtin_code`` is the resolved code: files written before opcode 127 store it only in the
    schema's ``deprecated_builtin_code`` field, which serde reads and writes for you.
    """

    __slots__ = ("_legacy", "builtin_code", "custom_code", "version")

    def __init__(self, builtin_code: BuiltinOperator | int = BuiltinOperator.CUSTOM,
                 custom_code: str | None = None, version: int = 1) -> None:
        self.builtin_code = _builtin(builtin_code)
        self.custom_code = custom_code
        self.version = version
        self._legacy = False  # read from a file that stored the code only in the old field

    @property
    def name(self) -> str:
        """``CONV_2D``, or the custom code for custom operators."""
        if self.builtin_code == BuiltinOperator.CUSTOM and self.custom_code is not None:
            return self.custom_code
        return getattr(self.builtin_code, "name", str(int(self.builtin_code)))

    def key(self) -> tuple[int, str | None, int]:
        return int(self.builtin_code), self.custom_code, self.version

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OperatorCode):
            return NotImplemented
        return self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"OperatorCode({self.name}, version={self.version})"


def _builtin(code: BuiltinOperator | int) -> BuiltinOperator:
    try:
        return BuiltinOperator(code)
    except ValueError:
        return code  # type: ignore[return-value]  # newer than our schema: kept as a number


class Operator:
    """One node of a subgraph. ``inputs`` may hold None for an absent optional input.

    ``options`` holds the typed builtin options (``builtin_options`` in the schema) and
    ``options_2`` the second union (``builtin_options_2``, used by StableHLO operators).
    """

    __slots__ = ("_graph", "_inputs", "_outputs", "custom_options", "custom_options_format",
                 "debug_metadata_index", "intermediates", "mutating_variable_inputs", "opcode",
                 "options", "options_2")

    def __init__(self, opcode: OperatorCode | BuiltinOperator | int | str,
                 inputs: Iterable[Tensor | None] = (), outputs: Iterable[Tensor] = (),
                 options: Table | None = None, *, options_2: Table | None = None,
                 custom_options: bytes | None = None,
                 custom_options_format: CustomOptionsFormat = CustomOptionsFormat.FLEXBUFFERS,
                 mutating_variable_inputs: list[bool] | None = None,
                 intermediates: list[Tensor] | None = None,
                 debug_metadata_index: int = -1) -> None:
        if isinstance(opcode, str):
            opcode = OperatorCode(BuiltinOperator.CUSTOM, opcode)
        elif not isinstance(opcode, OperatorCode):
            opcode = OperatorCode(opcode)
        self.opcode = opcode
        self._graph: Subgraph | None = None
        self._inputs: tuple[Tensor | None, ...] = tuple(inputs)
        self._outputs: tuple[Tensor, ...] = tuple(outputs)
        self.options = options
        self.options_2 = options_2
        self.custom_options = custom_options
        self.custom_options_format = custom_options_format
        self.mutating_variable_inputs = mutating_variable_inputs
        self.intermediates = intermediates
        self.debug_metadata_index = debug_metadata_index

    @property
    def type(self) -> BuiltinOperator:
        """The builtin operator (``BuiltinOperator.CUSTOM`` for custom operators)."""
        return self.opcode.builtin_code

    @property
    def graph(self) -> Subgraph | None:
        return self._graph

    @property
    def inputs(self) -> tuple[Tensor | None, ...]:
        return self._inputs

    @inputs.setter
    def inputs(self, tensors: Iterable[Tensor | None]) -> None:
        graph = self._graph
        if graph is not None:
            graph._unlink(self)
        self._inputs = tuple(tensors)
        if graph is not None:
            graph._link(self)

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        return self._outputs

    @outputs.setter
    def outputs(self, tensors: Iterable[Tensor]) -> None:
        graph = self._graph
        if graph is not None:
            graph._unlink(self)
        self._outputs = tuple(tensors)
        if graph is not None:
            graph._link(self)

    def set_input(self, index: int, tensor: Tensor | None) -> None:
        inputs = list(self._inputs)
        inputs[index] = tensor
        self.inputs = inputs

    def __repr__(self) -> str:
        ins = ", ".join("-" if t is None else repr(t.name) for t in self._inputs)
        outs = ", ".join(repr(t.name) for t in self._outputs)
        return f"Operator({self.opcode.name}, [{ins}] -> [{outs}])"


class _OwnedList(MutableSequence[T]):
    """A list that tells its owner about every item added or removed."""

    __slots__ = ("_added", "_items", "_removed")

    def __init__(self, added: Callable[[T], None], removed: Callable[[T], None]) -> None:
        self._items: list[T] = []
        self._added = added
        self._removed = removed

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __contains__(self, item: object) -> bool:
        return any(x is item for x in self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        return self._items[index]

    @overload
    def __setitem__(self, index: int, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...
    def __setitem__(self, index: int | slice, value: Any) -> None:
        old = self._items[index] if isinstance(index, slice) else [self._items[index]]
        new = list(value) if isinstance(index, slice) else [value]
        for item in new:  # items that stay in place are neither added nor removed
            if not any(item is x for x in old):
                self._added(item)
        if isinstance(index, slice):
            self._items[index] = new
        else:
            self._items[index] = value
        for item in old:
            if not any(item is x for x in new):
                self._removed(item)

    def __delitem__(self, index: int | slice) -> None:
        old = self._items[index] if isinstance(index, slice) else [self._items[index]]
        del self._items[index]
        for item in old:
            self._removed(item)

    def insert(self, index: int, value: T) -> None:
        self._added(value)  # may refuse the item: then the list stays as it was
        self._items.insert(index, value)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        for i in range(start, len(self._items) if stop is None else stop):
            if self._items[i] is value:
                return i
        raise ValueError(f"{value!r} is not in the list")

    def remove(self, value: T) -> None:
        del self[self.index(value)]

    def _extend_quietly(self, items: Iterable[T]) -> None:
        self._items.extend(items)

    def __repr__(self) -> str:
        return repr(self._items)


class Subgraph:
    """A graph of operators over tensors.

    ``operators`` and ``tensors`` are live lists: adding an operator registers it as producer and
    user of its tensors (and adds tensors the subgraph does not have yet); removing it undoes that.
    """

    __slots__ = ("__weakref__", "debug_metadata_index", "inputs", "name", "operators", "outputs",
                 "tensors")

    def __init__(self, name: str | None = None, *, debug_metadata_index: int = -1) -> None:
        self.name = name
        self.debug_metadata_index = debug_metadata_index
        self.tensors: _OwnedList[Tensor] = _OwnedList(self._adopt, self._release)
        self.operators: _OwnedList[Operator] = _OwnedList(self._attach, self._detach)
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []

    # -- list hooks ----------------------------------------------------------------------------
    def _adopt(self, tensor: Tensor) -> None:
        if tensor._graph is self:
            raise TFLiteKitError(f"{tensor!r} is already in this subgraph")
        if tensor._graph is not None:
            raise TFLiteKitError(f"{tensor!r} already belongs to another subgraph")
        tensor._graph = self

    def _release(self, tensor: Tensor) -> None:
        tensor._graph = None

    def _attach(self, op: Operator) -> None:
        if op._graph is not None:
            raise TFLiteKitError(f"{op!r} is already in a subgraph")
        op._graph = self
        self._link(op)

    def _detach(self, op: Operator) -> None:
        self._unlink(op)
        op._graph = None

    def _link(self, op: Operator) -> None:
        for tensor in (*op._inputs, *op._outputs, *(op.intermediates or ())):
            if tensor is not None and tensor._graph is not self:
                self.tensors.append(tensor)
        for index, tensor in enumerate(op._inputs):
            if tensor is not None:
                tensor._uses.append((op, index))
        for tensor in op._outputs:
            tensor._producer = op

    def _unlink(self, op: Operator) -> None:
        for tensor in op._inputs:
            if tensor is not None:
                tensor._uses = [(o, i) for o, i in tensor._uses if o is not op]
        for tensor in op._outputs:
            if tensor._producer is op:
                tensor._producer = None

    # -- editing helpers -----------------------------------------------------------------------
    def add_tensor(self, tensor: Tensor) -> Tensor:
        if tensor._graph is not self:
            self.tensors.append(tensor)
        return tensor

    def add_operator(self, op: Operator | BuiltinOperator | str,
                     inputs: Sequence[Tensor | None] = (), outputs: Sequence[Tensor] = (),
                     options: Table | None = None, *,
                     before: Operator | None = None, **kwargs: Any) -> Operator:
        """Append (or insert ``before`` another) an operator; returns it.

        ``op`` is an Operator, or a BuiltinOperator / custom code from which one is made.
        """
        if not isinstance(op, Operator):
            op = Operator(op, inputs, outputs, options, **kwargs)
        index = len(self.operators) if before is None else self.operators.index(before)
        self.operators.insert(index, op)
        return op

    def remove_operator(self, op: Operator) -> None:
        self.operators.remove(op)

    def add_input(self, tensor: Tensor, index: int | None = None) -> Tensor:
        self.add_tensor(tensor)
        self.inputs.insert(len(self.inputs) if index is None else index, tensor)
        return tensor

    def add_output(self, tensor: Tensor, index: int | None = None) -> Tensor:
        self.add_tensor(tensor)
        self.outputs.insert(len(self.outputs) if index is None else index, tensor)
        return tensor

    def remove_input(self, tensor: Tensor) -> None:
        self.inputs[:] = [t for t in self.inputs if t is not tensor]

    def remove_output(self, tensor: Tensor) -> None:
        self.outputs[:] = [t for t in self.outputs if t is not tensor]

    def replace_all_uses(self, old: Tensor, new: Tensor | None) -> int:
        """Make every reader of ``old`` (operators and subgraph outputs) read ``new`` instead.
        Returns how many references changed."""
        count = 0
        for op, index in old.uses:
            op.set_input(index, new)
            count += 1
        for i, tensor in enumerate(self.outputs):
            if tensor is old and new is not None:
                self.outputs[i] = self.add_tensor(new)
                count += 1
        return count

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``."""
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        raise KeyError(f"no tensor named {name!r} in subgraph {self.name!r}")

    def __repr__(self) -> str:
        return (f"Subgraph({self.name!r}, {len(self.operators)} operators, "
                f"{len(self.tensors)} tensors)")

"""Operator codes, operators and subgraphs, linked by object references."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from typing import Any, TypeVar, overload

from ..errors import TFLiteKitError, UsageError
from ..options import BuiltinOperator, CustomOptionsFormat, Table
from .tensor import Tensor, Usage

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

    @classmethod
    def _restore(cls, builtin_code: BuiltinOperator, custom_code: str | None, version: int, *,
                 legacy: bool) -> OperatorCode:
        """An operator code holding exactly the given fields."""
        code = cls.__new__(cls)
        code.builtin_code = builtin_code
        code.custom_code = custom_code
        code.version = version
        code._legacy = legacy
        return code

    @property
    def legacy(self) -> bool:
        """True when read from a file that stored the code only in ``deprecated_builtin_code``
        (files written before opcode 127); saving keeps it so."""
        return self._legacy

    @property
    def is_custom(self) -> bool:
        return self.builtin_code == BuiltinOperator.CUSTOM

    @property
    def name(self) -> str:
        """``CONV_2D``, or the custom code for custom operators."""
        if self.is_custom and self.custom_code is not None:
            return self.custom_code
        return getattr(self.builtin_code, "name", str(int(self.builtin_code)))

    def describe(self) -> str:
        """``CONV_2D``, or ``custom 'MY_OP'`` (never confusable with a builtin)."""
        return f"custom {self.custom_code!r}" if self.is_custom else self.name

    def key(self) -> tuple[int, str | None, int]:
        return int(self.builtin_code), self.custom_code, self.version

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OperatorCode):
            return NotImplemented
        return self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"OperatorCode({self.describe()}, version={self.version})"


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
        if isinstance(opcode, str):  # a builtin's name, else a custom code
            builtin = BuiltinOperator.__members__.get(opcode, BuiltinOperator.CUSTOM)
            opcode = OperatorCode(builtin, opcode if builtin == BuiltinOperator.CUSTOM else None)
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

    @classmethod
    def _restore(cls, opcode: OperatorCode, inputs: tuple[Tensor | None, ...],
                 outputs: tuple[Tensor, ...], options: Table | None, options_2: Table | None,
                 custom_options: bytes | None, custom_options_format: CustomOptionsFormat,
                 mutating_variable_inputs: list[bool] | None,
                 intermediates: list[Tensor] | None, debug_metadata_index: int) -> Operator:
        """An operator holding exactly the given fields, in no subgraph yet."""
        op = cls.__new__(cls)
        op.opcode = opcode
        op._graph = None
        op._inputs = inputs
        op._outputs = outputs
        op.options = options
        op.options_2 = options_2
        op.custom_options = custom_options
        op.custom_options_format = custom_options_format
        op.mutating_variable_inputs = mutating_variable_inputs
        op.intermediates = intermediates
        op.debug_metadata_index = debug_metadata_index
        return op

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
        new, old = tuple(tensors), self._inputs
        graph = self._graph
        if graph is not None:
            graph._include(new)
            for index in range(max(len(old), len(new))):  # relink only what changed
                was = old[index] if index < len(old) else None
                now = new[index] if index < len(new) else None
                if was is not now:
                    if was is not None:
                        was._uses.pop(Usage(self, index), None)
                    if now is not None:
                        now._link(Usage(self, index))
        self._inputs = new

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        return self._outputs

    @outputs.setter
    def outputs(self, tensors: Iterable[Tensor]) -> None:
        new = tuple(tensors)
        graph = self._graph
        if graph is not None:
            graph._include(new)
            kept = {id(t) for t in new}
            for tensor in self._outputs:
                if id(tensor) not in kept and tensor._producer is self:
                    tensor._producer = None
            for tensor in new:
                tensor._producer = self
        self._outputs = new

    def set_input(self, index: int, tensor: Tensor | None) -> None:
        inputs = list(self._inputs)
        inputs[index] = tensor
        self.inputs = inputs

    def __repr__(self) -> str:
        ins = ", ".join("-" if t is None else repr(t.name) for t in self._inputs)
        outs = ", ".join(repr(t.name) for t in self._outputs)
        return f"Operator({self.opcode.describe()}, [{ins}] -> [{outs}])"


class _OwnedList(MutableSequence[T]):
    """A list that tells its owner about every item added or removed.

    Items compare by identity. Membership is a dict lookup (the list counts each item, from the
    first question on), and so is ``index`` while the positions it cached still hold: an edit at
    position i invalidates only the cached positions from i on, which the next lookup re-scans
    as far as it needs.
    """

    __slots__ = ("_added", "_counts", "_items", "_positions", "_removed", "_valid")

    def __init__(self, added: Callable[[T], object], removed: Callable[[T], object]) -> None:
        self._items: list[T] = []
        self._counts: dict[int, int] | None = None  # id(item) -> occurrences, once asked
        self._positions: dict[int, int] = {}  # id(item) -> first position, right below _valid
        self._valid = 0
        self._added = added
        self._removed = removed

    def _edited(self, index: int | slice) -> None:
        """Forget cached positions from ``index`` on (before the edit is made)."""
        n = len(self._items)
        if isinstance(index, slice):
            span = range(n)[index]
            first = (span[-1] if span.step < 0 else span[0]) if span else index.indices(n)[0]
        else:
            first = max(0, min(n, index + n if index < 0 else index))
        self._valid = min(self._valid, first)

    def _count(self, items: Iterable[T], step: int) -> None:
        counts = self._counts
        if counts is None:
            return
        for item in items:
            key = id(item)
            n = counts.get(key, 0) + step
            if n:
                counts[key] = n
            else:
                del counts[key]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def _counted(self) -> dict[int, int]:
        if self._counts is None:
            self._counts = {}
            self._count(self._items, 1)
        return self._counts

    def __contains__(self, item: object) -> bool:
        return id(item) in self._counted()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_OwnedList, list, tuple)):
            return len(self) == len(other) and all(a is b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

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
        old_ids, new_ids = {id(x) for x in old}, {id(x) for x in new}
        for item in new:  # items that stay in place are neither added nor removed
            if id(item) not in old_ids:
                self._added(item)
        self._edited(index)
        if isinstance(index, slice):
            self._items[index] = new
        else:
            self._items[index] = value
        self._count(old, -1)
        self._count(new, 1)
        for item in old:
            if id(item) not in new_ids:
                self._removed(item)

    def __delitem__(self, index: int | slice) -> None:
        old = self._items[index] if isinstance(index, slice) else [self._items[index]]
        self._edited(index)
        del self._items[index]
        self._count(old, -1)
        for item in old:
            self._removed(item)

    def insert(self, index: int, value: T) -> None:
        self._added(value)  # may refuse the item: then the list stays as it was
        self._edited(index)
        self._items.insert(index, value)
        self._count((value,), 1)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        if id(value) not in self._counted():
            raise ValueError(f"{value!r} is not in the list")
        if start or stop is not None:  # items have identity equality: list.index finds them
            return self._items.index(value, start, len(self._items) if stop is None else stop)
        items, positions = self._items, self._positions
        at = positions.get(id(value))
        if at is not None and at < self._valid and items[at] is value:
            return at
        for i in range(self._valid, len(items)):  # extend the valid prefix up to ``value``
            item = items[i]
            first = positions.get(id(item))
            if first is None or first >= i or items[first] is not item:
                positions[id(item)] = i
            self._valid = i + 1
            if item is value:
                return i
        raise AssertionError("unreachable: counted items are in the list")

    def remove(self, value: T) -> None:
        del self[self.index(value)]

    def _extend_quietly(self, items: Iterable[T]) -> None:
        """Append without telling the owner (for restore constructors)."""
        items = list(items)
        self._items.extend(items)
        self._count(items, 1)

    def __repr__(self) -> str:
        return repr(self._items)


def _name(tensor: object) -> str:
    """How messages name a tensor (or whatever was passed in its place)."""
    if isinstance(tensor, Tensor):
        return f"tensor {tensor.name!r}"
    return f"{tensor!r:.60} (a {type(tensor).__name__}, not a Tensor)"


def _ignore(item: Any) -> None:
    """A list hook with nothing to do."""


class Subgraph:
    """A graph of operators over tensors.

    ``operators``, ``tensors``, ``inputs`` and ``outputs`` are live lists: adding an operator
    registers it as producer and user of its tensors (and adds tensors the subgraph does not have
    yet); removing it undoes that. A tensor added to ``inputs`` or ``outputs`` joins the subgraph.
    """

    __slots__ = ("__weakref__", "_inputs", "_outputs", "debug_metadata_index", "name",
                 "operators", "tensors")

    def __init__(self, name: str | None = None, *, debug_metadata_index: int = -1) -> None:
        self.name = name
        self.debug_metadata_index = debug_metadata_index
        self.tensors: _OwnedList[Tensor] = _OwnedList(self._adopt, self._release)
        self.operators: _OwnedList[Operator] = _OwnedList(self._attach, self._detach)
        self._inputs: _OwnedList[Tensor] = _OwnedList(self.add_tensor, _ignore)
        self._outputs: _OwnedList[Tensor] = _OwnedList(self.add_tensor, _ignore)

    @classmethod
    def _restore(cls, name: str | None, debug_metadata_index: int, tensors: list[Tensor],
                 inputs: list[Tensor], outputs: list[Tensor],
                 operators: list[Operator]) -> Subgraph:
        """A subgraph owning ``tensors`` and ``operators`` exactly as given (no tensor is added
        or refused), with every operator linked to the tensors it reads and writes."""
        graph = cls(name, debug_metadata_index=debug_metadata_index)
        for tensor in tensors:
            tensor._graph = graph
        graph.tensors._extend_quietly(tensors)
        graph._inputs._extend_quietly(inputs)
        graph._outputs._extend_quietly(outputs)
        graph.operators._extend_quietly(operators)
        for op in operators:
            op._graph = graph
            graph._connect(op)
        return graph

    @property
    def inputs(self) -> _OwnedList[Tensor]:
        """The subgraph's input tensors (a live list)."""
        return self._inputs

    @inputs.setter
    def inputs(self, tensors: Iterable[Tensor]) -> None:
        self._inputs[:] = tensors

    @property
    def outputs(self) -> _OwnedList[Tensor]:
        """The subgraph's output tensors (a live list)."""
        return self._outputs

    @outputs.setter
    def outputs(self, tensors: Iterable[Tensor]) -> None:
        self._outputs[:] = tensors

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
        self._include((*op._inputs, *op._outputs, *(op.intermediates or ())))
        op._graph = self
        self._connect(op)

    def _detach(self, op: Operator) -> None:
        for index, tensor in enumerate(op._inputs):
            if tensor is not None:
                tensor._uses.pop(Usage(op, index), None)
        for tensor in op._outputs:
            if tensor._producer is op:
                tensor._producer = None
        op._graph = None

    def _include(self, tensors: Iterable[Tensor | None]) -> None:
        """Add the tensors the subgraph does not have yet."""
        for tensor in tensors:
            if tensor is not None and tensor._graph is not self:
                self.tensors.append(tensor)

    def _connect(self, op: Operator) -> None:
        """Record ``op`` as user of its inputs and producer of its outputs."""
        for index, tensor in enumerate(op._inputs):
            if tensor is not None:
                tensor._link(Usage(op, index))
        for tensor in op._outputs:
            tensor._producer = op

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

        ``op`` is an Operator, or a BuiltinOperator, builtin name or custom code from which one
        is made.
        """
        if not isinstance(op, Operator):
            op = Operator(op, inputs, outputs, options, **kwargs)
        index = len(self.operators) if before is None else self.operators.index(before)
        self.operators.insert(index, op)
        return op

    def remove_operator(self, op: Operator) -> None:
        """Remove ``op`` (an operator of this subgraph, else :class:`UsageError`)."""
        if not isinstance(op, Operator) or op._graph is not self:
            raise UsageError(f"{op!r} is not an operator of {self._describe()}")
        self.operators.remove(op)

    def add_input(self, tensor: Tensor, index: int | None = None) -> Tensor:
        self.inputs.insert(len(self.inputs) if index is None else index, tensor)
        return tensor

    def add_output(self, tensor: Tensor, index: int | None = None) -> Tensor:
        self.outputs.insert(len(self.outputs) if index is None else index, tensor)
        return tensor

    def remove_input(self, tensor: Tensor) -> None:
        """Remove every occurrence of ``tensor`` from ``inputs`` (the tensor stays in the
        subgraph). A tensor that is not an input raises :class:`UsageError`."""
        if tensor not in self.inputs:
            raise UsageError(f"{_name(tensor)} is not an input of {self._describe()}")
        self.inputs[:] = [t for t in self.inputs if t is not tensor]

    def remove_output(self, tensor: Tensor) -> None:
        """Remove every occurrence of ``tensor`` from ``outputs`` (the tensor stays in the
        subgraph). A tensor that is not an output raises :class:`UsageError`."""
        if tensor not in self.outputs:
            raise UsageError(f"{_name(tensor)} is not an output of {self._describe()}")
        self.outputs[:] = [t for t in self.outputs if t is not tensor]

    def replace_all_uses(self, old: Tensor, new: Tensor | None) -> int:
        """Make every reader of ``old`` (operators and subgraph outputs) read ``new`` instead.
        Returns how many references changed. Costs O(1) per reference.

        ``old`` must be a tensor of this subgraph and ``new`` one of it, a tensor of no subgraph
        yet (it joins this one) or None; anything else raises :class:`UsageError`."""
        if not isinstance(old, Tensor) or old._graph is not self:
            raise UsageError(f"{_name(old)} is not in {self._describe()}")
        if new is not None and (not isinstance(new, Tensor)
                                or new._graph not in (None, self)):
            raise UsageError(f"replacement {_name(new)} is not in {self._describe()}")
        count = 0
        for op, index in old.uses:
            op.set_input(index, new)
            count += 1
        if new is not None and old in self.outputs:
            for i, tensor in enumerate(self.outputs):
                if tensor is old:
                    self.outputs[i] = new
                    count += 1
        return count

    def _describe(self) -> str:
        return "this subgraph" if self.name is None else f"subgraph {self.name!r}"

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``."""
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        raise KeyError(f"no tensor named {name!r} in subgraph {self.name!r}")

    def __repr__(self) -> str:
        return (f"Subgraph({self.name!r}, {len(self.operators)} operators, "
                f"{len(self.tensors)} tensors)")

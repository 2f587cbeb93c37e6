"""Buffers, quantization parameters and tensors."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import TFLiteKitError, UsageError
from ..options import CustomQuantization, SparsityParameters, TensorType, VariantSubType
from . import dtypes

if TYPE_CHECKING:
    from .graph import Operator, Subgraph

__all__ = ["Buffer", "Quantization", "Tensor", "Usage"]

_EMPTY = np.zeros(0, np.uint8)
_EMPTY.flags.writeable = False


def _readonly_bytes(data: Any) -> np.ndarray:
    """A read-only 1-D uint8 view of ``data`` (bytes-like or a numpy array, little endian)."""
    if isinstance(data, np.ndarray):
        arr = np.ascontiguousarray(data)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        arr = arr.reshape(-1).view(np.uint8)
        if arr.flags.writeable:
            arr = arr.copy()
    else:
        arr = np.frombuffer(bytes(data), np.uint8)
    arr.flags.writeable = False
    return arr


class Buffer:
    """Raw bytes of a constant (or a metadata entry). ``None`` in place of a Buffer is buffer 0.

    ``data`` is a read-only uint8 array; after :func:`tflitekit.load` it views the file's bytes
    without copying until a new value is assigned. Once the model is closed
    (:meth:`Model.close`), data that viewed the file is gone and reading it raises.
    """

    __slots__ = ("_data", "_replaced", "_source")

    def __init__(self, data: Any = None) -> None:
        self._data: np.ndarray | None = _EMPTY if data is None else _readonly_bytes(data)
        self._source: Any = None  # serde's record of where unchanged bytes live in the input
        self._replaced = False  # set when a tensor dropped it for new data (see Model.buffers)

    @classmethod
    def _restore(cls, data: np.ndarray | None, source: Any, replaced: bool = False) -> Buffer:
        """A buffer over the read-only ``data`` (None: empty) that ``source`` (serde's record)
        locates."""
        buf = cls.__new__(cls)
        buf._data = _EMPTY if data is None else data
        buf._source = source
        buf._replaced = replaced
        return buf

    def _clone(self) -> Buffer:
        """A new Buffer sharing this one's read-only bytes (copy on write)."""
        clone = Buffer._restore(None, self._source, self._replaced)
        clone._data = self._data  # None too when the model was closed
        return clone

    def _close(self) -> None:
        """Forget data that views the model's input (see :meth:`Model.close`)."""
        if self._source is not None:
            self._data = None
            self._source = None

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            raise TFLiteKitError("this buffer's data was in a model file that has been closed")
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = _EMPTY if value is None else _readonly_bytes(value)
        self._source = None

    @property
    def source(self) -> Any:
        """Where the unchanged bytes live in the input the model was read from (serde's opaque
        record), or None for data assigned since."""
        return self._source

    @property
    def nbytes(self) -> int:
        return int(self.data.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Buffer):
            return NotImplemented
        if self is other:
            return True
        a, b = self.data, other.data
        if a.size == b.size and a.size and a.ctypes.data == b.ctypes.data:
            return True  # the same bytes in memory (two decodings of one file)
        return bool(np.array_equal(a, b))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "Buffer(closed)" if self._data is None else f"Buffer({self.nbytes} bytes)"


class Quantization:
    """Quantization parameters: ``real = scale * (q - zero_point)`` along ``quantized_dimension``.

    Every field keeps the difference between absent (None) and empty, so files round-trip exactly.
    The arrays of a loaded model (and of its :meth:`Model.copy`) are read-only: assign new arrays
    to change them; :meth:`copy` gives writeable ones.
    """

    __slots__ = ("details", "max", "min", "quantized_dimension", "scale", "zero_point")

    def __init__(self, scale: Any = None, zero_point: Any = None, *, quantized_dimension: int = 0,
                 min: Any = None, max: Any = None,
                 details: CustomQuantization | None = None) -> None:
        self.scale = _numbers("scale", scale, np.float32)
        if zero_point is None and self.scale is not None:
            zero_point = np.zeros(self.scale.shape, np.int64)
        self.zero_point = _numbers("zero_point", zero_point, np.int64)
        self.quantized_dimension = _index("quantized_dimension", quantized_dimension)
        self.min = _numbers("min", min, np.float32)
        self.max = _numbers("max", max, np.float32)
        self.details = details

    @classmethod
    def _restore(cls, scale: np.ndarray | None, zero_point: np.ndarray | None,
                 quantized_dimension: int, min: np.ndarray | None, max: np.ndarray | None,
                 details: CustomQuantization | None) -> Quantization:
        """Quantization holding exactly the given fields (no defaults filled in)."""
        q = cls.__new__(cls)
        q.scale = scale
        q.zero_point = zero_point
        q.quantized_dimension = quantized_dimension
        q.min = min
        q.max = max
        q.details = details
        return q

    def _own(self) -> None:
        """Copy arrays that view memory owned elsewhere (the file a model was read from)."""
        for name in ("scale", "zero_point", "min", "max"):
            a = getattr(self, name)
            if a is not None and not a.flags.owndata:
                setattr(self, name, _copied(a, keep_flags=True))

    def _clone(self) -> Quantization:
        """A copy for :meth:`Model.copy`: like :meth:`copy`, but arrays that were read-only
        (those of a loaded model) stay read-only, so a copy behaves as its original does."""
        return Quantization._restore(
            _copied(self.scale, keep_flags=True), _copied(self.zero_point, keep_flags=True),
            self.quantized_dimension, _copied(self.min, keep_flags=True),
            _copied(self.max, keep_flags=True),
            None if self.details is None else self.details.copy())

    @property
    def per_channel(self) -> bool:
        return self.scale is not None and self.scale.size > 1

    @property
    def is_quantized(self) -> bool:
        """True when there is at least one scale (what makes TFLite treat values as quantized)."""
        return self.scale is not None and self.scale.size > 0

    def per_tensor(self) -> tuple[float, int]:
        """The single (scale, zero point) of a per-tensor quantization (zero point 0 when absent).

        Raises TFLiteKitError when there is no scale or more than one (per channel).
        """
        scale, zero = self.scale, self.zero_point
        if scale is None or scale.size == 0:
            raise TFLiteKitError("the quantization has no scale")
        zeros = 0 if zero is None else zero.size
        if scale.size > 1 or zeros > 1:
            raise TFLiteKitError(f"the quantization is per channel ({scale.size} scales, "
                                 f"{zeros} zero points)")
        return float(scale[0]), int(zero[0]) if zero is not None and zeros else 0

    def is_empty(self) -> bool:
        """True when no field carries information (TFLite treats the tensor as not quantized)."""
        return (all(a is None or a.size == 0 for a in (self.scale, self.zero_point, self.min,
                                                        self.max))
                and self.details is None)

    def copy(self) -> Quantization:
        """An independent copy (arrays and details copied, absent and empty fields kept)."""
        return Quantization._restore(
            _copied(self.scale), _copied(self.zero_point), self.quantized_dimension,
            _copied(self.min), _copied(self.max),
            None if self.details is None else self.details.copy())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantization):
            return NotImplemented
        return (self.quantized_dimension == other.quantized_dimension
                and self.details == other.details
                and all(_same_array(getattr(self, f), getattr(other, f))
                        for f in ("scale", "zero_point", "min", "max")))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"{f}={_short(getattr(self, f))}" for f in ("scale", "zero_point", "min", "max")
                 if getattr(self, f) is not None]
        if self.quantized_dimension:
            parts.append(f"quantized_dimension={self.quantized_dimension}")
        return f"Quantization({', '.join(parts)})"


def _numbers(field: str, value: Any, dtype: type) -> np.ndarray | None:
    """``value`` as a 1-D array of ``dtype`` (None stays None); UsageError when it is not
    numbers."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise UsageError(f"Quantization {field} must be numbers, got {type(value).__name__} "
                         f"{value!r:.40}")
    try:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf" or (dtype is np.int64 and arr.dtype.kind == "f"
                                             and not np.array_equal(arr, np.round(arr))):
            raise ValueError
        return np.atleast_1d(arr.astype(dtype))
    except (ValueError, TypeError):
        raise UsageError(f"Quantization {field} must be "
                         f"{'integers' if dtype is np.int64 else 'numbers'}, "
                         f"got {value!r:.40}") from None


def _index(field: str, value: Any) -> int:
    """``value`` as an int (bool refused); UsageError otherwise."""
    if isinstance(value, bool):
        raise UsageError(f"{field} must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise UsageError(f"{field} must be an int, got {type(value).__name__} "
                         f"{value!r:.40}") from None


def _dims(field: str, shape: Any) -> tuple[int, ...] | None:
    """``shape`` as a tuple of ints (None stays None); UsageError otherwise."""
    if shape is None:
        return None
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise UsageError(f"a tensor {field} must be a sequence of ints, got "
                         f"{type(shape).__name__} {shape!r:.40}")
    try:
        return tuple(_index(f"each dimension of a tensor {field}", d) for d in shape)
    except UsageError as exc:
        raise UsageError(f"{exc} (in {field} {shape!r:.40})") from None


def _copied(a: np.ndarray | None, *, keep_flags: bool = False) -> np.ndarray | None:
    """A copy of ``a`` (writeable, or read-only like ``a`` with ``keep_flags``)."""
    if a is None:
        return None
    copy: np.ndarray = a.copy()
    if keep_flags and not a.flags.writeable:
        copy.flags.writeable = False
    return copy


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def _short(a: np.ndarray) -> str:
    return str(a.tolist()) if a.size <= 4 else f"[{a.size} values]"


class Usage(NamedTuple):
    """One read of a tensor: input ``index`` of ``operator``."""

    operator: Operator
    index: int  # type: ignore[assignment]  # shadows tuple.index, as the name reads best


# The uses of a tensor nothing reads: shared, never written (the first link gives the tensor its
# own dict), so that a model of many unread tensors costs no dict for each.
_NO_USES: dict[Usage, None] = {}


class Tensor:
    """A tensor of a subgraph. ``buffer`` is None for a tensor without constant data.

    ``producer`` and ``uses`` are maintained by the subgraph the tensor belongs to.
    """

    __slots__ = ("_dtype", "_graph", "_producer", "_uses", "buffer", "external_buffer",
                 "has_rank", "is_variable", "name", "quantization", "shape", "shape_signature",
                 "sparsity", "variant_tensors")

    def __init__(self, name: str | None = None, shape: Sequence[int] | None = (),
                 dtype: TensorType | int | str | np.dtype | type = TensorType.FLOAT32, *,
                 buffer: Buffer | None = None, quantization: Quantization | None = None,
                 is_variable: bool = False, sparsity: SparsityParameters | None = None,
                 shape_signature: Sequence[int] | None = None, has_rank: bool = False,
                 variant_tensors: list[VariantSubType] | None = None,
                 external_buffer: int = 0) -> None:
        self.name = name
        self.shape: tuple[int, ...] | None = _dims("shape", shape)
        self._dtype = _tensor_type(dtype)
        self.buffer = buffer
        self.quantization = quantization
        self.is_variable = is_variable
        self.sparsity = sparsity
        self.shape_signature: tuple[int, ...] | None = _dims("shape_signature", shape_signature)
        self.has_rank = has_rank
        self.variant_tensors = variant_tensors
        self.external_buffer = external_buffer  # id in Model.external_buffers; 0 for none
        self._graph: Subgraph | None = None
        self._producer: Operator | None = None
        self._uses: dict[Usage, None] = _NO_USES  # an insertion-ordered set: O(1) link, unlink

    @classmethod
    def _restore(cls, name: str | None, shape: tuple[int, ...] | None, dtype: TensorType,
                 buffer: Buffer | None, quantization: Quantization | None, is_variable: bool,
                 sparsity: SparsityParameters | None, shape_signature: tuple[int, ...] | None,
                 has_rank: bool, variant_tensors: list[VariantSubType] | None,
                 external_buffer: int) -> Tensor:
        """A tensor holding exactly the given fields, in no subgraph yet."""
        t = cls.__new__(cls)
        t.name = name
        t.shape = shape
        t._dtype = dtype
        t.buffer = buffer
        t.quantization = quantization
        t.is_variable = is_variable
        t.sparsity = sparsity
        t.shape_signature = shape_signature
        t.has_rank = has_rank
        t.variant_tensors = variant_tensors
        t.external_buffer = external_buffer
        t._graph = None
        t._producer = None
        t._uses = _NO_USES
        return t

    def _link(self, use: Usage) -> None:
        """Record a read (for the subgraph's bookkeeping)."""
        if self._uses is _NO_USES:
            self._uses = {}
        self._uses[use] = None

    @classmethod
    def constant(cls, name: str | None, value: Any, dtype: Any = None, *,
                 quantization: Quantization | None = None) -> Tensor:
        """A tensor holding ``value`` (converted to ``dtype`` when given)."""
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtypes.to_numpy(
            _tensor_type(dtype)))
        tensor = cls(name, arr.shape, dtypes.from_numpy(arr.dtype), quantization=quantization)
        tensor.data = arr
        return tensor

    @property
    def dtype(self) -> TensorType:
        """The element type. Assigning converts as the constructor does (a TensorType, its
        number, a name such as ``"int8"`` or a numpy dtype); anything else raises
        :class:`UsageError`."""
        return self._dtype

    @dtype.setter
    def dtype(self, value: TensorType | int | str | np.dtype | type) -> None:
        self._dtype = _tensor_type(value)

    # -- data ---------------------------------------------------------------------------------
    @property
    def numpy_dtype(self) -> np.dtype | None:
        return dtypes.to_numpy(self.dtype)

    @property
    def data(self) -> np.ndarray | None:
        """The constant value as a read-only array of the tensor's dtype and shape (None when
        the tensor has no data; a scalar when it has no shape). Packed or variable-size types,
        and data whose size does not match the shape, come back as raw uint8 bytes."""
        if self.buffer is None or self.buffer.nbytes == 0:
            return None
        raw = self.buffer.data
        np_dtype = self.numpy_dtype
        if np_dtype is None:
            return raw
        shape = () if self.shape is None else self.shape  # no shape: TFLite reads a scalar
        count = int(np.prod(shape, dtype=np.int64))
        if raw.size != count * np_dtype.itemsize:
            return raw
        return raw.view(np_dtype).reshape(shape)

    @data.setter
    def data(self, value: Any) -> None:
        if value is None:
            if self.buffer is not None:
                self.buffer._replaced = True
            self.buffer = None
            return
        arr = np.asarray(value)
        np_dtype = self.numpy_dtype
        if np_dtype is not None and arr.dtype != np_dtype:
            cast = arr.astype(np_dtype)
            if not np.array_equal(cast, arr) and not (arr.dtype.kind == np_dtype.kind == "f"):
                raise TFLiteKitError(
                    f"tensor {self.name!r}: {arr.dtype} values do not fit {self.dtype.name}")
            arr = cast
        self.shape = tuple(arr.shape)
        if self.buffer is not None:
            self.buffer._replaced = True
        self.buffer = Buffer(arr)

    @property
    def is_constant(self) -> bool:
        return self.buffer is not None and self.buffer.nbytes > 0

    # -- graph links --------------------------------------------------------------------------
    @property
    def graph(self) -> Subgraph | None:
        """The subgraph this tensor belongs to."""
        return self._graph

    @property
    def producer(self) -> Operator | None:
        """The operator of the graph that writes this tensor."""
        return self._producer

    @property
    def uses(self) -> list[Usage]:
        """A :class:`Usage` (operator, input index) for every operator input reading this
        tensor, in the order the reads were linked."""
        return list(self._uses)

    @property
    def consumers(self) -> list[Operator]:
        """Operators that read this tensor, each once, in order of first use."""
        return list(dict.fromkeys(use.operator for use in self._uses))

    @property
    def is_graph_input(self) -> bool:
        """True when the tensor is listed in its subgraph's ``inputs``."""
        return self._graph is not None and self in self._graph.inputs

    @property
    def is_graph_output(self) -> bool:
        """True when the tensor is listed in its subgraph's ``outputs``."""
        return self._graph is not None and self in self._graph.outputs

    def __repr__(self) -> str:
        shape = "?" if self.shape is None else "x".join(map(str, self.shape)) or "scalar"
        kind = " const" if self.is_constant else ""
        dtype = getattr(self.dtype, "name", self.dtype)  # a plain int when newer than our schema
        return f"Tensor({self.name!r}, {shape}, {dtype}{kind})"


def _tensor_type(dtype: Any) -> TensorType:
    if isinstance(dtype, TensorType):
        return dtype
    if isinstance(dtype, bool) or dtype is None:
        raise UsageError(f"no TFLite tensor type for {dtype!r}")
    if isinstance(dtype, int):
        try:
            return TensorType(dtype)
        except ValueError:
            return dtype  # type: ignore[return-value]  # unknown (newer) type: kept as a number
    if isinstance(dtype, str) and dtype.upper() in TensorType.__members__:
        return TensorType[dtype.upper()]
    return dtypes.from_numpy(dtype)

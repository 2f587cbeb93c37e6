"""TensorType ⇄ numpy dtype."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..options import TensorType

__all__ = ["from_numpy", "itemsize", "name", "to_numpy"]

_NUMPY = {
    "FLOAT32": "<f4", "FLOAT16": "<f2", "FLOAT64": "<f8", "INT8": "i1", "UINT8": "u1",
    "INT16": "<i2", "UINT16": "<u2", "INT32": "<i4", "UINT32": "<u4", "INT64": "<i8",
    "UINT64": "<u8", "BOOL": "?", "COMPLEX64": "<c8", "COMPLEX128": "<c16",
}
_TO_NUMPY: dict[int, np.dtype] = {
    TensorType[name]: np.dtype(code) for name, code in _NUMPY.items()
    if name in TensorType.__members__
}
_FROM_NUMPY = {dtype.newbyteorder("="): t for t, dtype in _TO_NUMPY.items()}


def to_numpy(dtype: TensorType | int) -> np.dtype | None:
    """The numpy dtype holding one element of ``dtype``, or None when elements are not
    byte-addressable numbers (STRING, RESOURCE, VARIANT, packed INT4/INT2, BFLOAT16)."""
    return _TO_NUMPY.get(dtype)


def from_numpy(dtype: np.dtype | type | str) -> TensorType:
    """The TensorType of a numpy dtype (``"int8"``, ``np.float32``, ...)."""
    try:
        return TensorType(_FROM_NUMPY[np.dtype(dtype).newbyteorder("=")])
    except (KeyError, TypeError):
        raise UsageError(f"no TFLite tensor type for numpy dtype {dtype!r}") from None


def itemsize(dtype: TensorType | int) -> int | None:
    """Bytes per element, or None where it is not a whole number of bytes or varies."""
    np_dtype = to_numpy(dtype)
    if np_dtype is not None:
        return np_dtype.itemsize
    return 2 if dtype == getattr(TensorType, "BFLOAT16", None) else None


def name(dtype: TensorType | int) -> str:
    """``INT8``; a type newer than our schema (kept as a plain number) as ``TensorType(42)``."""
    return getattr(dtype, "name", f"TensorType({int(dtype)})")

"""Real values of quantized tensors: ``scale * (q - zero_point)``, per tensor or per channel."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import FormatError
from ..ir import Tensor

__all__ = ["broadcast_scales", "real_values"]

Array = npt.NDArray[Any]


def broadcast_scales(tensor: Tensor, ndim: int, *, batched: bool = False
                     ) -> tuple[Array, Array] | None:
    """``tensor``'s scales and zero points (float64) shaped to broadcast over a value of
    ``ndim`` dimensions (with a leading batch when ``batched``); None when it is not quantized.
    :class:`FormatError` when per-channel parameters do not fit the value's dimensions."""
    q = tensor.quantization
    if q is None or not q.is_quantized or q.scale is None:
        return None
    scale = q.scale.astype(np.float64)
    zero = (np.zeros(scale.shape) if q.zero_point is None or q.zero_point.size == 0
            else q.zero_point.astype(np.float64))
    if scale.size == 1:
        return scale.reshape(()), np.asarray(zero.reshape(-1)[0])
    axis = q.quantized_dimension + (1 if batched else 0)
    if axis >= ndim or zero.size not in (1, scale.size):
        raise FormatError(f"tensor {tensor.name!r} is quantized per channel along dimension "
                          f"{q.quantized_dimension} with {scale.size} scales and {zero.size} "
                          f"zero points, which a value of {ndim} dimensions "
                          f"{'(with a batch) ' if batched else ''}cannot take")
    shape = [1] * ndim
    shape[axis] = scale.size
    return scale.reshape(shape), np.broadcast_to(zero, scale.shape).reshape(shape)


def real_values(tensor: Tensor, value: Array, *, batched: bool = False) -> Array:
    """The real values (float64) of ``value``, a value of ``tensor`` (with a leading batch when
    ``batched``): dequantized when it is an integer value of a quantized tensor, else as they
    are. :class:`FormatError` when a per-channel axis does not match the value's shape."""
    found = broadcast_scales(tensor, value.ndim, batched=batched) if value.dtype.kind in "iu" \
        else None
    if found is None:
        return value.astype(np.float64)
    scale, zero = found
    if scale.ndim and value.shape[int(np.argmax(scale.shape))] != scale.size:
        raise FormatError(f"tensor {tensor.name!r} has {scale.size} per-channel scales for "
                          f"a dimension of {value.shape[int(np.argmax(scale.shape))]}")
    return np.asarray(scale * (value.astype(np.float64) - zero))

"""A small stand-in quantizer for the compression tests: each channel (the tensor's quantized
dimension when per channel) keeps at most ``k`` distinct values, taken at its quantiles."""

from __future__ import annotations

from typing import Any

import numpy as np

from tflitekit import Model


def cluster_array(values: np.ndarray, k: int, axis: int | None) -> np.ndarray:
    moved = values.reshape(1, -1) if axis is None else np.moveaxis(values, axis, 0).reshape(
        values.shape[axis], -1)
    out = np.empty_like(moved)
    for i, row in enumerate(moved):
        centres = np.unique(np.quantile(row, (np.arange(k) + 0.5) / k, method="nearest"))
        out[i] = centres[np.abs(row[:, None].astype(np.int64) - centres[None]).argmin(1)]
    if axis is None:
        return out.reshape(values.shape)
    rest = tuple(np.delete(np.asarray(values.shape), axis))
    return np.moveaxis(out.reshape((values.shape[axis], *rest)), 0, axis)


def weight_axis(tensor: Any) -> int | None:
    q = tensor.quantization
    per_channel = q is not None and q.scale is not None and q.scale.size > 1
    return q.quantized_dimension if per_channel else None


def cluster(model: Model, bits: int) -> list[str]:
    """Cluster every int8 constant of at least 16 elements read by an operator, in place;
    returns their names."""
    names = []
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            data = tensor.data
            if (tensor.is_constant and tensor.dtype.name == "INT8" and data is not None
                    and data.size >= 16 and tensor.consumers):
                tensor.data = cluster_array(data, 1 << bits, weight_axis(tensor))
                names.append(tensor.name)
    return names

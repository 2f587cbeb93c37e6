"""TFLite Micro's ``TFLM_DECODE`` custom operator: inputs in pairs ``[encoded, ancillary]``, one
decoded output per pair (LUT and Huffman, as :mod:`tflitekit.codecs.tflm` describes them).

Both inputs of a pair are constants, so the values are decoded once, in ``prepare``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...codecs import tflm
from ...errors import CodecError
from ..kernel import Kernel, unsupported
from ..node import Array, Node

__all__ = ["CUSTOM_KERNELS"]


def _prepare(node: Node) -> list[Array]:
    if len(node.inputs) != 2 * len(node.outputs) or not node.outputs:
        unsupported(node, f"{len(node.inputs)} inputs and {len(node.outputs)} outputs; expected "
                          "an [encoded, ancillary] pair per output")
    decoded = []
    for i, out in enumerate(node.outputs):
        encoded, ancillary = node.input(2 * i), node.input(2 * i + 1)
        if encoded.data is None or ancillary.data is None:
            unsupported(node, f"pair {i} ({encoded.name!r}, {ancillary.name!r}) is not constant")
        if out.dtype is None:
            unsupported(node, f"output {out.name!r} has type {out.type_name}")
        try:
            layout = tflm.channels(out.shape, 0 if out.scale is None else out.scale.size,
                                   out.quantized_dimension)
            values = tflm.decode(encoded.data, ancillary.data, out.shape, out.dtype, layout)
        except CodecError as exc:
            unsupported(node, f"output {out.name!r}: {exc}")
        decoded.append(values[None])
    return decoded


def _run(params: list[Array], arrays: Sequence[Array | None]) -> list[Array]:
    return params


CUSTOM_KERNELS: Mapping[str, Kernel] = {tflm.DECODE: Kernel(_prepare, _run)}

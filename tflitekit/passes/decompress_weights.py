"""decompress_weights: turn the compressed weights of either form of :mod:`.compress_weights`
back into plain constant tensors.

TFLite Micro form: every ``TFLM_DECODE`` operator goes; each encoded tensor takes back the
description of the tensor it decodes to (shape, type, quantization, ...) and holds the decoded
values, and the decoded and ancillary tensors leave the model. Models compressed by TFLite
Micro's own compressor decode the same way. Container form: each tensor its
``TFLITEKIT_COMPRESSION`` entry lists is decoded, and the entry removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import codecs
from ..codecs import tflm
from ..errors import CodecError, PassError
from ..ir import Model, Operator, Subgraph, Tensor
from ..options import TensorType
from .base import Pass, Report
from .compress_weights import CONTAINER_METADATA, read_container

__all__ = ["DecompressWeights", "decompress_weights"]


@dataclass
class DecompressWeights(Pass):
    """Decode every compressed tensor of ``model`` (both forms) into a plain constant."""

    name = "decompress_weights"

    def run(self, model: Model, report: Report) -> None:
        for graph in model.subgraphs:
            _decode_graph(graph, report)
        if not any(op.opcode.custom_code == tflm.DECODE for op in model.operators()):
            model.operator_codes = [c for c in model.operator_codes
                                    if not (c.is_custom and c.custom_code == tflm.DECODE)]
        _decode_container(model, report)


def _is_decode(op: Operator) -> bool:
    return op.opcode.is_custom and op.opcode.custom_code == tflm.DECODE


def _decode_graph(graph: Subgraph, report: Report) -> None:
    restored: dict[int, Tensor] = {}
    for op in [op for op in graph.operators if _is_decode(op)]:
        where = f"TFLM_DECODE at operator {graph.operators.index(op)}"
        if len(op.inputs) != 2 * len(op.outputs):
            raise PassError(f"{where}: {len(op.inputs)} inputs for {len(op.outputs)} outputs")
        pairs = [(op.inputs[2 * i], op.inputs[2 * i + 1], out)
                 for i, out in enumerate(op.outputs)]
        graph.remove_operator(op)
        for encoded, ancillary, decoded in pairs:
            if encoded is None or ancillary is None or encoded.data is None or (
                    ancillary.data is None):
                raise PassError(f"{where}: the inputs of {decoded.name!r} are not constants")
            if id(encoded) not in restored:
                _restore(encoded, ancillary, decoded, where)
                restored[id(encoded)] = encoded
                report.change(f"{encoded.name!r}: decoded ({tflm_kind(ancillary)})")
            graph.replace_all_uses(decoded, encoded)
            graph.tensors.remove(decoded)
            if not ancillary.uses:
                ancillary.data = None
                graph.tensors.remove(ancillary)


def tflm_kind(ancillary: Tensor) -> str:
    data = ancillary.data
    assert data is not None
    return {tflm.LUT: "LUT", tflm.HUFFMAN: "Huffman"}.get(int(data.reshape(-1)[0]), "?")


def _restore(encoded: Tensor, ancillary: Tensor, decoded: Tensor, where: str) -> None:
    """Give ``encoded`` the description of ``decoded`` and the decoded values."""
    q = decoded.quantization
    dtype = decoded.numpy_dtype
    assert encoded.data is not None and ancillary.data is not None
    if decoded.shape is None or dtype is None:
        raise PassError(f"{where}: {decoded.name!r} has no static shape or numeric type")
    try:
        layout = tflm.channels(decoded.shape, 0 if q is None or q.scale is None else q.scale.size,
                               0 if q is None else q.quantized_dimension)
        values = tflm.decode(encoded.data, ancillary.data, decoded.shape, dtype, layout)
    except CodecError as exc:
        raise PassError(f"{where}: {decoded.name!r}: {exc}") from exc
    assert encoded.buffer is not None
    encoded.buffer.data = np.ascontiguousarray(values).view(np.uint8).reshape(-1)
    encoded.dtype = decoded.dtype
    encoded.shape = decoded.shape
    encoded.quantization = q
    for field in ("is_variable", "sparsity", "shape_signature", "has_rank", "variant_tensors"):
        setattr(encoded, field, getattr(decoded, field))


def _decode_container(model: Model, report: Report) -> None:
    entry = read_container(model)
    if entry is None:
        return
    for item in entry["tensors"]:
        try:
            tensor = model.subgraphs[item["subgraph"]].tensors[item["tensor"]]
        except IndexError:
            raise PassError(f"{CONTAINER_METADATA} names subgraph {item['subgraph']} tensor "
                            f"{item['tensor']}, which the model lacks") from None
        if tensor.name != item["name"] or tensor.data is None:
            raise PassError(f"{CONTAINER_METADATA}: tensor {item['tensor']} is {tensor.name!r} "
                            f"without its encoding, expected {item['name']!r}")
        try:
            values = codecs.decode(codecs.Encoded.from_bytes(tensor.data.tobytes()))
        except CodecError as exc:
            raise PassError(f"{item['name']!r}: {exc}") from exc
        tensor.dtype = TensorType[item["dtype"]]
        if values.dtype != tensor.numpy_dtype or list(values.shape) != item["shape"]:
            raise PassError(f"{item['name']!r} decodes to {values.dtype}{list(values.shape)}, "
                            f"expected {item['dtype']}{item['shape']}")
        assert tensor.buffer is not None
        tensor.buffer.data = np.ascontiguousarray(values).view(np.uint8).reshape(-1)
        tensor.shape = tuple(item["shape"])
        signature = item["shape_signature"]
        tensor.shape_signature = None if signature is None else tuple(signature)
        report.change(f"{item['name']!r}: decoded ({item['codec']})")
    gone = {id(m.buffer) for m in model.metadata if m.name == CONTAINER_METADATA}
    model.metadata = [m for m in model.metadata if m.name != CONTAINER_METADATA]
    model.buffers = [b for b in model.buffers if id(b) not in gone]


def decompress_weights(model: Model) -> Model:
    """Decode ``model``'s compressed weights in place (see :class:`DecompressWeights`)."""
    DecompressWeights()(model)
    return model

"""The whole model as JSON, field by field with the schema's names (``tflitekit dump``)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from ..ir import Model, Operator, Quantization, Subgraph, Tensor
from ..serde.numbering import Numbering
from .jsonable import enum_value, json_value

__all__ = ["dump"]


def dump(model: Model, *, buffers: bool = False) -> dict[str, Any]:
    """Every table and field of ``model`` as a JSON-ready dict, numbered as a save numbers it.

    Buffers are ``{index, size, sha256}`` (plus base64 ``data`` with ``buffers``); index 0 is the
    schema's empty buffer. References (tensors, buffers, operator codes, subgraphs) are indices.
    """
    num = Numbering(model)
    buffer_list = []
    for i, buf in enumerate(num.buffers):
        data = b"" if buf is None else buf.data.tobytes()
        entry: dict[str, Any] = {"index": i, "size": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()}
        if buffers:
            entry["data"] = base64.b64encode(data).decode()
        buffer_list.append(entry)
    return {
        "version": model.version,
        "description": model.description,
        "operator_codes": [
            {"index": i, "builtin_code": enum_value("BuiltinOperator", c.builtin_code),
             "custom_code": c.custom_code, "version": c.version, "name": c.name}
            for i, c in enumerate(num.opcodes)],
        "subgraphs": [_subgraph(g, i, num) for i, g in enumerate(model.subgraphs)],
        "buffers": buffer_list,
        "metadata_buffer": None if model.metadata_buffer is None else [
            num.buffer(b) for b in model.metadata_buffer],
        "metadata": [{"name": m.name, "buffer": num.buffer(m.buffer),
                      "size": 0 if m.buffer is None else m.buffer.nbytes}
                     for m in model.metadata],
        "signature_defs": [
            {"signature_key": s.key,
             "subgraph_index": index_of(model.subgraphs, s.subgraph),
             "inputs": [{"name": n, "tensor_index": num.tensor(s.subgraph, t)}
                        for n, t in s.inputs.items()],
             "outputs": [{"name": n, "tensor_index": num.tensor(s.subgraph, t)}
                         for n, t in s.outputs.items()]}
            for s in model.signature_defs],
        "external_buffer_groups": json_value(model.external_buffer_groups),
        "external_buffers": json_value(model.external_buffers),
    }


def index_of(items: Sequence[Any], item: Any) -> int:
    """The position of ``item`` (by identity) in ``items``, or -1."""
    return next((i for i, x in enumerate(items) if x is item), -1)


def _subgraph(graph: Subgraph, index: int, num: Numbering) -> dict[str, Any]:
    return {
        "index": index,
        "name": graph.name,
        "debug_metadata_index": graph.debug_metadata_index,
        "inputs": [num.tensor(graph, t) for t in graph.inputs],
        "outputs": [num.tensor(graph, t) for t in graph.outputs],
        "tensors": [_tensor(t, i, num) for i, t in enumerate(num.tensors(graph))],
        "operators": [_operator(graph, op, i, num) for i, op in enumerate(graph.operators)],
    }


def _tensor(t: Tensor, index: int, num: Numbering) -> dict[str, Any]:
    return {
        "index": index,
        "name": t.name,
        "shape": None if t.shape is None else list(t.shape),
        "type": enum_value("TensorType", t.dtype),
        "buffer": num.buffer(t.buffer),
        "quantization": None if t.quantization is None else _quantization(t.quantization),
        "is_variable": t.is_variable,
        "sparsity": json_value(t.sparsity),
        "shape_signature": None if t.shape_signature is None else list(t.shape_signature),
        "has_rank": t.has_rank,
        "variant_tensors": json_value(t.variant_tensors),
        "external_buffer": t.external_buffer,
    }


def _quantization(q: Quantization) -> dict[str, Any]:
    return {
        "min": json_value(q.min),
        "max": json_value(q.max),
        "scale": json_value(q.scale),
        "zero_point": json_value(q.zero_point),
        "details_type": "NONE" if q.details is None else type(q.details).__name__,
        "details": json_value(q.details),
        "quantized_dimension": q.quantized_dimension,
    }


def _operator(graph: Subgraph, op: Operator, index: int, num: Numbering) -> dict[str, Any]:
    return {
        "index": index,
        "opcode_index": num.opcode(op),
        "opcode": None if op.opcode is None else op.opcode.name,
        "inputs": [num.tensor(graph, t) for t in op.inputs],
        "outputs": [num.tensor(graph, t) for t in op.outputs],
        "builtin_options_type": "NONE" if op.options is None else type(op.options).__name__,
        "builtin_options": json_value(op.options),
        "custom_options": json_value(op.custom_options),
        "custom_options_format": enum_value("CustomOptionsFormat", op.custom_options_format),
        "mutating_variable_inputs": json_value(op.mutating_variable_inputs),
        "intermediates": None if op.intermediates is None else [
            num.tensor(graph, t) for t in op.intermediates],
        "builtin_options_2_type": "NONE" if op.options_2 is None else type(op.options_2).__name__,
        "builtin_options_2": json_value(op.options_2),
        "debug_metadata_index": op.debug_metadata_index,
    }

"""Inspection commands: ``info``, ``dump`` and ``validate``."""

from __future__ import annotations

import argparse
import base64
import enum
import hashlib
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir import Buffer, Model, Operator, Quantization, Subgraph, Tensor
from ..options import ENUMS, Table
from ..validate import validate
from ._common import check_file, load_model, num, plural, print_json

__all__ = ["dump_model", "info_model", "register"]

_NAME_WIDTH = 40  # tensor names longer than this are shortened in text tables (not with --wide)
_ALWAYS_SHOWN = ("padding", "fused_activation_function")  # option fields shown even at default


# -- commands ------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``info``, ``dump`` and ``validate`` commands."""
    info = sub.add_parser("info", help="summarise a model: inputs, outputs, operators, metadata",
                          description="Summarise a model: per subgraph its inputs, outputs and "
                                      "operators; model-wide operator codes, buffers, metadata "
                                      "and signatures.")
    info.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("-w", "--wide", action="store_true",
                      help=f"do not shorten tensor names longer than {_NAME_WIDTH} characters")
    info.set_defaults(command=_cmd_info)

    dump = sub.add_parser("dump", help="print the whole model as JSON",
                          description="Print every field of every table of the model as JSON. "
                                      "Buffers are summarised as size and SHA-256 unless "
                                      "--buffers is given.")
    dump.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    dump.add_argument("--json", action="store_true",
                      help="JSON output (the default and only format)")
    dump.add_argument("--buffers", action="store_true",
                      help="include buffer contents (base64)")
    dump.set_defaults(command=_cmd_dump)

    check = sub.add_parser("validate", help="report every structural problem of a model",
                           description="Report every problem the loader and Model.check find; "
                                       "exit status 1 when there is any.")
    check.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.set_defaults(command=_cmd_validate)


# -- JSON conversion of values and generated tables ------------------------------------------------


def json_value(value: Any) -> Any:
    """``value`` as strict JSON: enums by name, bytes as hex, non-finite floats as strings."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, np.ndarray):
        return [json_value(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, Table):
        return table_json(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def _enum_value(enum_name: str | None, value: Any) -> Any:
    """A plain int of an enum-typed field as its member name, when it has one."""
    if enum_name is None or isinstance(value, (enum.Enum, bool)) or not isinstance(value, int):
        return json_value(value)
    try:
        return ENUMS[enum_name](value).name
    except (KeyError, ValueError):
        return value


def table_json(obj: Table) -> dict[str, Any]:
    """Every schema field of a generated table, by name. A union field ``f`` is written as
    ``f_type`` (member name or ``NONE``) and ``f`` (the member table or null), as flatc does."""
    out: dict[str, Any] = {}
    for f in obj.FIELDS:
        value = getattr(obj, f.name)
        if f.kind == "union":
            out[f"{f.name}_type"] = "NONE" if value is None else type(value).__name__
            out[f.name] = None if value is None else table_json(value)
        elif f.enum is not None and isinstance(value, (list, tuple)):
            out[f.name] = [_enum_value(f.enum, v) for v in value]
        else:
            out[f.name] = _enum_value(f.enum, value)
    return out


# -- the model's numbering (as a save would write it) ----------------------------------------------


class _Numbering:
    """File indices of buffers, operator codes and tensors, numbered as a save numbers them."""

    def __init__(self, model: Model) -> None:
        self.buffers: list[Buffer] = model.all_buffers()
        self._buffer = {id(b): i + 1 for i, b in enumerate(self.buffers)}
        self.opcodes = model.all_operator_codes()
        first = {c.key(): i for i, c in reversed(list(enumerate(self.opcodes)))}
        self._first = first
        self._tensors: dict[int, tuple[list[Tensor], dict[int, int]]] = {}

    def buffer(self, buf: Buffer | None) -> int:
        return 0 if buf is None else self._buffer.get(id(buf), -1)

    def opcode(self, op: Operator) -> int | None:
        return None if op.opcode is None else self._first.get(op.opcode.key())

    def tensors(self, graph: Subgraph) -> list[Tensor]:
        """The subgraph's tensors plus any referenced but unlisted (appended, as on save)."""
        key = id(graph)
        if key not in self._tensors:
            tensors = list(graph.tensors)
            index = {id(t): i for i, t in enumerate(tensors)}
            referenced: list[Tensor | None] = [*graph.inputs, *graph.outputs]
            for op in graph.operators:
                referenced += [*op.inputs, *op.outputs, *(op.intermediates or ())]
            for t in referenced:
                if t is not None and id(t) not in index:
                    index[id(t)] = len(tensors)
                    tensors.append(t)
            self._tensors[key] = (tensors, index)
        return self._tensors[key][0]

    def tensor(self, graph: Subgraph | None, tensor: Tensor | None) -> int:
        if graph is None or tensor is None:
            return -1
        self.tensors(graph)
        return self._tensors[id(graph)][1].get(id(tensor), -1)


def _sha256(buf: Buffer) -> str:
    return hashlib.sha256(buf.data.tobytes()).hexdigest()


# -- dump ------------------------------------------------------------------------------------------


def dump_model(model: Model, *, buffers: bool = False) -> dict[str, Any]:
    """The whole model as a JSON-ready dict, using the schema's field names.

    Buffers are ``{index, size, sha256}`` (plus base64 ``data`` with ``buffers``); index 0 is the
    schema's empty buffer. References (tensors, buffers, operator codes, subgraphs) are indices.
    """
    num = _Numbering(model)
    all_buffers: list[Buffer | None] = [None, *num.buffers]
    buffer_list = []
    for i, buf in enumerate(all_buffers):
        entry: dict[str, Any] = {"index": i, "size": 0 if buf is None else buf.nbytes,
                                 "sha256": _sha256(Buffer() if buf is None else buf)}
        if buffers:
            entry["data"] = "" if buf is None else base64.b64encode(buf.data.tobytes()).decode()
        buffer_list.append(entry)
    return {
        "version": model.version,
        "description": model.description,
        "operator_codes": [
            {"index": i, "builtin_code": _enum_value("BuiltinOperator", c.builtin_code),
             "custom_code": c.custom_code, "version": c.version, "name": c.name}
            for i, c in enumerate(num.opcodes)],
        "subgraphs": [_dump_subgraph(g, i, num) for i, g in enumerate(model.subgraphs)],
        "buffers": buffer_list,
        "metadata_buffer": None if model.metadata_buffer is None else [
            num.buffer(b) for b in model.metadata_buffer],
        "metadata": [{"name": m.name, "buffer": num.buffer(m.buffer),
                      "size": 0 if m.buffer is None else m.buffer.nbytes}
                     for m in model.metadata],
        "signature_defs": [
            {"signature_key": s.key,
             "subgraph_index": _index_of(model.subgraphs, s.subgraph),
             "inputs": [{"name": n, "tensor_index": num.tensor(s.subgraph, t)}
                        for n, t in s.inputs.items()],
             "outputs": [{"name": n, "tensor_index": num.tensor(s.subgraph, t)}
                         for n, t in s.outputs.items()]}
            for s in model.signature_defs],
        "external_buffer_groups": json_value(model.external_buffer_groups),
        "external_buffers": json_value(model.external_buffers),
    }


def _index_of(items: Sequence[Any], item: Any) -> int:
    return next((i for i, x in enumerate(items) if x is item), -1)


def _dump_subgraph(graph: Subgraph, index: int, num: _Numbering) -> dict[str, Any]:
    tensors = num.tensors(graph)
    return {
        "index": index,
        "name": graph.name,
        "debug_metadata_index": graph.debug_metadata_index,
        "inputs": [num.tensor(graph, t) for t in graph.inputs],
        "outputs": [num.tensor(graph, t) for t in graph.outputs],
        "tensors": [_dump_tensor(t, i, num) for i, t in enumerate(tensors)],
        "operators": [_dump_operator(graph, op, i, num) for i, op in enumerate(graph.operators)],
    }


def _dump_tensor(t: Tensor, index: int, num: _Numbering) -> dict[str, Any]:
    return {
        "index": index,
        "name": t.name,
        "shape": None if t.shape is None else list(t.shape),
        "type": _enum_value("TensorType", t.dtype),
        "buffer": num.buffer(t.buffer),
        "quantization": None if t.quantization is None else _dump_quantization(t.quantization),
        "is_variable": t.is_variable,
        "sparsity": json_value(t.sparsity),
        "shape_signature": None if t.shape_signature is None else list(t.shape_signature),
        "has_rank": t.has_rank,
        "variant_tensors": json_value(t.variant_tensors),
        "external_buffer": t.external_buffer,
    }


def _dump_quantization(q: Quantization) -> dict[str, Any]:
    return {
        "min": json_value(q.min),
        "max": json_value(q.max),
        "scale": json_value(q.scale),
        "zero_point": json_value(q.zero_point),
        "details_type": "NONE" if q.details is None else type(q.details).__name__,
        "details": json_value(q.details),
        "quantized_dimension": q.quantized_dimension,
    }


def _dump_operator(graph: Subgraph, op: Operator, index: int, num: _Numbering) -> dict[str, Any]:
    return {
        "index": index,
        "opcode_index": num.opcode(op),
        "opcode": None if op.opcode is None else op.opcode.name,
        "inputs": [num.tensor(graph, t) for t in op.inputs],
        "outputs": [num.tensor(graph, t) for t in op.outputs],
        "builtin_options_type": "NONE" if op.options is None else type(op.options).__name__,
        "builtin_options": json_value(op.options),
        "custom_options": json_value(op.custom_options),
        "custom_options_format": _enum_value("CustomOptionsFormat", op.custom_options_format),
        "mutating_variable_inputs": json_value(op.mutating_variable_inputs),
        "intermediates": None if op.intermediates is None else [
            num.tensor(graph, t) for t in op.intermediates],
        "builtin_options_2_type": "NONE" if op.options_2 is None else type(op.options_2).__name__,
        "builtin_options_2": json_value(op.options_2),
        "debug_metadata_index": op.debug_metadata_index,
    }


def _cmd_dump(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    print_json(dump_model(model, buffers=args.buffers))
    return 0


# -- info ------------------------------------------------------------------------------------------


def _name(value: Any) -> str:
    """An enum member's name, or the number of a value newer than the schema."""
    return str(getattr(value, "name", value))


def _shape(shape: Sequence[int] | None) -> str:
    return "?" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def _quant_json(q: Quantization | None) -> dict[str, Any] | None:
    if q is None or q.is_empty():
        return None
    out: dict[str, Any] = {}
    if q.scale is not None and q.scale.size > 1:
        out["per_channel"] = int(q.scale.size)
        out["quantized_dimension"] = q.quantized_dimension
    elif q.scale is not None and q.scale.size == 1:
        out["scale"] = json_value(q.scale[0])
        zp = q.zero_point
        out["zero_point"] = int(zp[0]) if zp is not None and zp.size else 0
    if q.min is not None and q.max is not None and q.min.size == q.max.size == 1:
        out["min"], out["max"] = json_value(q.min[0]), json_value(q.max[0])
    if q.details is not None:
        out["details"] = type(q.details).__name__
    return out


def _tensor_json(graph: Subgraph, t: Tensor, num: _Numbering) -> dict[str, Any]:
    return {
        "index": num.tensor(graph, t),
        "name": t.name,
        "dtype": _name(t.dtype),
        "shape": None if t.shape is None else list(t.shape),
        "shape_signature": None if t.shape_signature is None else list(t.shape_signature),
        "quantization": _quant_json(t.quantization),
    }


def _options_text(op: Operator) -> str:
    """The options fields that say something: non-default ones, plus padding and activation."""
    parts = []
    for options in (op.options, op.options_2):
        if options is None:
            continue
        values = table_json(options)
        for f in options.FIELDS:
            if f.kind == "union":
                value = getattr(options, f.name)
                if value is not None:
                    parts.append(f"{f.name}={type(value).__name__}")
                continue
            default = _enum_value(f.enum, f.default) if f.kind == "scalar" else f.default
            if values[f.name] != default or f.name in _ALWAYS_SHOWN:
                parts.append(f"{f.name}={_short_value(values[f.name])}")
    if op.custom_options is not None:
        parts.append(f"custom_options=<{len(op.custom_options)} bytes, "
                     f"{_name(op.custom_options_format)}>")
    return " ".join(parts) or "-"


def _short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        if len(value) > 8:
            return f"[{len(value)} values]"
        return "[" + ",".join(_short_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_short_value(v)}" for k, v in value.items()
                              if v is not None) + "}"
    return str(value)


def _op_json(graph: Subgraph, op: Operator, index: int, num: _Numbering) -> dict[str, Any]:
    code = op.opcode
    return {
        "index": index,
        "op": None if code is None else _name(code.builtin_code),
        "custom_code": None if code is None else code.custom_code,
        "version": None if code is None else code.version,
        "inputs": [None if t is None else t.name for t in op.inputs],
        "input_indices": [num.tensor(graph, t) for t in op.inputs],
        "outputs": [t.name for t in op.outputs],
        "output_indices": [num.tensor(graph, t) for t in op.outputs],
        "options_type": None if op.options is None else type(op.options).__name__,
        "options": json_value(op.options),
        "options_2_type": None if op.options_2 is None else type(op.options_2).__name__,
        "options_2": json_value(op.options_2),
        "custom_options_size": None if op.custom_options is None else len(op.custom_options),
        "summary": _options_text(op),
    }


def _printable(data: bytes) -> str | None:
    """Short metadata that is plain text (like ``min_runtime_version``), else None."""
    text = data.rstrip(b"\0")
    if not text or len(text) > 32 or not all(32 <= c < 127 for c in text):
        return None
    return text.decode("ascii")


def info_model(model: Model, path: str, size: int) -> dict[str, Any]:
    """The ``info`` summary of a model as a JSON-ready dict."""
    num = _Numbering(model)
    constant: dict[int, int] = {}
    for t in model.tensors():
        if t.buffer is not None and t.buffer.nbytes:
            constant[id(t.buffer)] = t.buffer.nbytes
    subgraphs = []
    for i, g in enumerate(model.subgraphs):
        subgraphs.append({
            "index": i,
            "name": g.name,
            "tensor_count": len(num.tensors(g)),
            "operator_count": len(g.operators),
            "inputs": [_tensor_json(g, t, num) for t in g.inputs],
            "outputs": [_tensor_json(g, t, num) for t in g.outputs],
            "operators": [_op_json(g, op, k, num) for k, op in enumerate(g.operators)],
        })
    metadata = []
    for m in model.metadata:
        data = b"" if m.buffer is None else m.buffer.data.tobytes()
        metadata.append({"name": m.name, "size": len(data), "text": _printable(data)})
    signatures = []
    for s in model.signature_defs:
        signatures.append({
            "key": s.key,
            "subgraph": _index_of(model.subgraphs, s.subgraph),
            "inputs": [{"name": n, "tensor": num.tensor(s.subgraph, t),
                        "tensor_name": None if t is None else t.name}
                       for n, t in s.inputs.items()],
            "outputs": [{"name": n, "tensor": num.tensor(s.subgraph, t),
                         "tensor_name": None if t is None else t.name}
                        for n, t in s.outputs.items()],
        })
    return {
        "file": path,
        "size": size,
        "version": model.version,
        "description": model.description,
        "subgraph_count": len(model.subgraphs),
        "tensor_count": sum(len(num.tensors(g)) for g in model.subgraphs),
        "operator_count": sum(len(g.operators) for g in model.subgraphs),
        "operator_codes": [
            {"index": i, "name": c.name, "builtin_code": _name(c.builtin_code),
             "custom_code": c.custom_code, "version": c.version}
            for i, c in enumerate(num.opcodes)],
        "buffers": {
            "count": len(num.buffers) + 1,  # with the schema's empty buffer 0
            "non_empty": sum(1 for b in num.buffers if b.nbytes),
            "total_bytes": sum(b.nbytes for b in num.buffers),
            "constant_bytes": sum(constant.values()),
        },
        "metadata": metadata,
        "signature_defs": signatures,
        "subgraphs": subgraphs,
    }


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: str = "  ",
           right: Sequence[int] = ()) -> list[str]:
    """Rows aligned in columns under ``headers``; columns in ``right`` are right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in (headers, *rows):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def info_text(info: dict[str, Any], *, wide: bool = False) -> str:
    """The ``info`` summary rendered as aligned text tables."""

    def short(name: str | None) -> str:
        if name is None:
            return "-"
        if wide or len(name) <= _NAME_WIDTH:
            return name
        if ";" in name:  # converters fuse names as "a;b;c": the first part names the tensor
            name = name.split(";", 1)[0] + ";..."
        return name if len(name) <= _NAME_WIDTH else name[:_NAME_WIDTH - 3] + "..."

    buffers = info["buffers"]
    lines = _table(("", ""), [
        ("file", info["file"]),
        ("size", f"{num(info['size'])} bytes"),
        ("version", str(info["version"])),
        ("description", "-" if info["description"] is None else repr(info["description"])),
        ("subgraphs", str(info["subgraph_count"])),
        ("tensors", str(info["tensor_count"])),
        ("operators", str(info["operator_count"])),
        ("buffers", f"{buffers['count']} ({buffers['non_empty']} with data, "
                    f"{num(buffers['total_bytes'])} bytes; constants "
                    f"{num(buffers['constant_bytes'])} bytes)"),
    ], indent="")[1:]

    lines += ["", f"Operator codes ({len(info['operator_codes'])})"]
    lines += _table(("#", "operator", "version"), [
        (str(c["index"]), _op_label(c["builtin_code"], c["custom_code"]), str(c["version"]))
        for c in info["operator_codes"]], right=(0, 2))

    lines += ["", f"Metadata ({len(info['metadata'])})"]
    if info["metadata"]:
        lines += _table(("name", "size", "value"), [
            ("-" if m["name"] is None else m["name"], num(m["size"]), m["text"] or "")
            for m in info["metadata"]], right=(1,))

    lines += ["", f"Signature defs ({len(info['signature_defs'])})"]
    for s in info["signature_defs"]:
        lines.append(f"  {s['key']!r} (subgraph {s['subgraph']})")
        rows = [(side, e["name"], str(e["tensor"]), short(e["tensor_name"]))
                for side in ("inputs", "outputs") for e in s[side]]
        if rows:
            lines += _table(("", "name", "tensor", "tensor name"), rows, indent="    ",
                            right=(2,))

    for g in info["subgraphs"]:
        name = "" if g["name"] is None else f" {g['name']!r}"
        lines += ["", f"Subgraph {g['index']}{name}: {plural(g['tensor_count'], 'tensor')}, "
                      f"{plural(g['operator_count'], 'operator')}"]
        for side in ("inputs", "outputs"):
            lines.append(f"  {side.capitalize()} ({len(g[side])})")
            if g[side]:
                lines += _table(("#", "name", "dtype", "shape", "quantization"), [
                    (str(t["index"]), short(t["name"]), t["dtype"], _shape_text(t),
                     _quant_text_json(t["quantization"])) for t in g[side]],
                    indent="    ", right=(0,))
        lines.append(f"  Operators ({g['operator_count']})")
        if g["operators"]:
            lines += _table(("#", "operator", "inputs", "outputs", "options"), [
                (str(op["index"]), _op_label(op["op"], op["custom_code"]),
                 ", ".join(short(n) for n in op["inputs"]),
                 ", ".join(short(n) for n in op["outputs"]), op["summary"])
                for op in g["operators"]], indent="    ", right=(0,))
    return "\n".join(lines)


def _op_label(builtin: str | None, custom: str | None) -> str:
    if builtin is None:
        return "?"
    return f"{builtin}({custom})" if custom is not None else builtin


def _shape_text(t: dict[str, Any]) -> str:
    text = _shape(t["shape"])
    signature = t["shape_signature"]
    if signature is not None and signature != t["shape"]:
        text += " sig " + _shape(signature)
    return text


def _quant_text_json(info: dict[str, Any] | None) -> str:
    if info is None:
        return "-"
    parts = []
    if "per_channel" in info:
        parts.append(f"per-channel x{info['per_channel']} (dim {info['quantized_dimension']})")
    if "scale" in info:
        scale = info["scale"]
        parts.append(f"scale={scale:.6g}" if isinstance(scale, float) else f"scale={scale}")
        parts.append(f"zp={info['zero_point']}")
    elif "min" in info and "per_channel" not in info:
        parts.append(f"min={_short_value(info['min'])} max={_short_value(info['max'])}")
    if "details" in info:
        parts.append(info["details"])
    return " ".join(parts) or "-"


def _cmd_info(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    info = info_model(model, args.model, os.path.getsize(args.model))
    if args.json:
        print_json(info)
    else:
        print(info_text(info, wide=args.wide))
    return 0


# -- validate --------------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    check_file(args.model)
    problems = validate(args.model)
    if args.json:
        print_json({"file": args.model, "ok": not problems,
                     "problems": [{"where": p.where, "message": p.message} for p in problems]})
    elif problems:
        for p in problems:
            print(p)
        print(f"{plural(len(problems), 'problem')} found", file=sys.stderr)
    else:
        print("OK: no problems found")
    return 1 if problems else 0

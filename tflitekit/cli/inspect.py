"""Inspection commands: ``info``, ``dump`` and ``validate``. The summaries are computed by
:mod:`tflitekit.analysis`; this module parses arguments and renders."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from ..analysis import (
    MetadataEntry,
    ModelInfo,
    SubgraphSummary,
    TensorRef,
    TensorSummary,
    dump,
    info,
)
from ..analysis.info import Budget, short_value
from ..validate import validate_report
from ._common import Subparsers, add_command, check_file, load_model, num, plural, print_json
from ._table import Cell, Column, abbreviations, table

__all__ = ["info_text", "register"]

_NAME_WIDTH = 40  # names longer than this are shortened in the middle (not with --wide)
_MIN_NAME_WIDTH = 12  # ... and shorter ones too where the terminal is narrow


def register(sub: Subparsers) -> None:
    """Add the ``info``, ``dump`` and ``validate`` commands."""
    info_cmd = add_command(
        sub, "info", _cmd_info, "summarise a model: inputs, outputs, operators, metadata",
        "Summarise a model: per subgraph its inputs, outputs and operators (with tensor indices); "
        "model-wide operator codes (unused ones flagged), buffers, integrity digest, metadata "
        "(Silicon Labs SL_PARAMSv1 and TensorFlow CONVERSION_METADATA decoded) and signatures. "
        "Text fits the terminal width.")
    info_cmd.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    info_cmd.add_argument("--json", action="store_true", help="print JSON instead of text")
    info_cmd.add_argument("-w", "--wide", action="store_true",
                          help="do not fit the terminal: full names, one line per operator")

    dumped = add_command(sub, "dump", _cmd_dump, "print the whole model as JSON",
                         "Print every field of every table of the model as JSON. Buffers are "
                         "summarised as size and SHA-256 unless --buffers is given.")
    dumped.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    dumped.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # JSON is all
    dumped.add_argument("--buffers", action="store_true", help="include buffer contents (base64)")

    check = add_command(sub, "validate", _cmd_validate,
                        "report every structural problem of a model",
                        "Report every problem the loader and Model.check find; exit status 1 "
                        "when there is any. A file that can be read but is not a valid model "
                        "is a finding: its problem is listed (as 'file: ...') like any other. A "
                        "path that cannot be read at all (missing, a directory, no permission) "
                        "is an error: one 'tflitekit: error:' line on stderr, exit status 1, "
                        "and with --json {\"error\": ...} instead of a report.")
    check.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    check.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_dump(args: argparse.Namespace) -> int:
    print_json(dump(load_model(args.model), buffers=args.buffers))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    summary = info(load_model(args.model), args.model)
    if args.json:
        print_json(summary.to_json())
    else:
        print(info_text(summary, width=None if args.wide else shutil.get_terminal_size().columns))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    check_file(args.model)
    report = validate_report(args.model)
    problems = report.problems
    if args.json:
        print_json({"file": args.model, "ok": not problems,
                    "problems": [{"where": p.where, "kind": p.kind, "message": p.message}
                                 for p in problems],
                    "unchecked": [{"operator": u.operator, "reason": u.reason, "count": u.count}
                                  for u in report.unchecked]})
    elif problems:
        for p in problems:
            print(p)
        print(f"{plural(len(problems), 'problem')} found", file=sys.stderr)
    else:
        print("OK: no problems found")
    if not args.json and report.unchecked_line() is not None:
        print(report.unchecked_line())
    return 1 if problems else 0


# -- rendering info --------------------------------------------------------------------------------


def info_text(info: ModelInfo, *, width: int | None = None) -> str:
    """The summary as aligned text; with ``width`` names are shortened and long cells wrapped
    to fit that many columns, without it everything is shown in full."""
    names = _Names(info, width)
    buffers = info.buffers
    facts: list[tuple[str, Cell]] = [
             ("file", "-" if info.file is None else info.file),
             ("size", "-" if info.size is None else f"{num(info.size)} bytes"),
             ("integrity", _digest_text(info)),
             ("version", str(info.version)),
             ("description", "-" if info.description is None  # words wrap to the width
              else tuple(repr(info.description).split(" "))),
             ("subgraphs", str(len(info.subgraphs))),
             ("tensors", str(info.tensor_count)),
             ("operators", str(info.operator_count)),
             ("buffers", f"{buffers.count} ({buffers.non_empty} with data, "
                         f"{num(buffers.total_bytes)} bytes; constants "
                         f"{num(buffers.constant_bytes)} bytes)"),
             *_budget_facts(info.budget)]
    lines = table([Column(""), Column("", sep=" ")], facts, indent="", width=width)[1:]

    unused = sum(1 for c in info.operator_codes if not c.uses)
    lines += ["", f"Operator codes ({len(info.operator_codes)}"
                  + (f", {unused} unused" if unused else "") + ")"]
    lines += table([Column("#", right=True), Column("operator"), Column("version", right=True),
                    Column("")],
                   [(str(c.index), _op_label(c.builtin_code, c.custom_code), str(c.version),
                     "" if c.uses else "unused (prune removes it)")
                    for c in info.operator_codes], width=width)

    lines += ["", f"Metadata ({len(info.metadata)})"]
    if info.metadata:
        lines += table([Column("name"), Column("size", right=True), Column("value", sep=" ")],
                       [("-" if m.name is None else m.name, num(m.size), _metadata_cell(m))
                        for m in info.metadata], width=width)
    for m in info.metadata:
        if m.format is not None and m.values:
            lines += ["", f"{m.name} ({len(m.values)} values)"]
            lines += table([Column("key"), Column("value")],
                           [(key, _param_cell(value)) for key, value in m.values.items()],
                           width=width)

    lines += ["", f"Signature defs ({len(info.signature_defs)})"]
    for s in info.signature_defs:
        lines.append(f"  {s.key!r} (subgraph {s.subgraph})")
        rows = [(side, name, names.ref(s.subgraph, TensorRef(index, tensor)))
                for side, entries in (("inputs", s.inputs), ("outputs", s.outputs))
                for name, index, tensor in entries]
        if rows:
            lines += table([Column(""), Column("name"), Column("tensor")], rows, indent="    ",
                           width=width)

    for g in info.subgraphs:
        name = "" if g.name is None else f" {g.name!r}"
        lines += ["", f"Subgraph {g.index}{name}: {plural(g.tensor_count, 'tensor')}, "
                      f"{plural(len(g.operators), 'operator')}"]
        for side, tensors in (("Inputs", g.inputs), ("Outputs", g.outputs)):
            lines.append(f"  {side} ({len(tensors)})")
            if tensors:
                lines += table([Column("#", right=True), Column("name"), Column("dtype"),
                                Column("shape"), Column("quantization", sep=" ")],
                               [(str(t.index), names.name(g.index, t.name), t.dtype, _shape(t),
                                 _quantization(t.quantization)) for t in tensors],
                               indent="    ", width=width)
        lines.append(f"  Operators ({len(g.operators)})")
        if g.operators:
            lines += table([Column("#", right=True), Column("operator"), Column("inputs"),
                            Column("outputs"), Column("options", sep=" ")],
                           [(str(op.index), _op_label(op.op, op.custom_code),
                             tuple(names.ref(g.index, t) for t in op.inputs),
                             tuple(names.ref(g.index, t) for t in op.outputs),
                             tuple(op.options_text.split(" ")))
                            for op in g.operators], indent="    ", width=width, spill=True)
    return "\n".join(lines)


def _budget_facts(budget: Budget) -> list[tuple[str, Cell]]:
    if budget.problem is not None:
        return [("costs", f"not computed: {budget.problem}")]
    assert budget.total_macs is not None and budget.total_ops is not None
    assert budget.arena_head_bytes is not None and budget.arena_total_bytes is not None
    totals = budget.arena_total_bytes
    return [("compute", f"{num(budget.total_macs)} MACs, {num(budget.total_ops)} OPs "
                        "(subgraph 0, MLTK's conventions)"),
            ("TFLM arena", tuple(f"head {num(budget.arena_head_bytes)} bytes; total "
                                 f"{num(totals['host'])} bytes on the 64-bit host build, "
                                 f"{num(totals['target32'])} on a 32-bit target "
                                 "(tflitekit summary / memory for more)".split(" ")))]


class _Names:
    """Tensor names as shown: shortened in the middle (distinct names stay distinct) unless the
    output is wide, and operands as ``#index name``."""

    def __init__(self, info: ModelInfo, width: int | None) -> None:
        self._short: dict[int, dict[str, str]] = {}
        for g in info.subgraphs:
            found = {t.name for t in (*g.inputs, *g.outputs)}
            found |= {t.name for op in g.operators for t in (*op.inputs, *op.outputs)
                      if t is not None}
            found |= {t for s in info.signature_defs if s.subgraph == g.index
                      for _, _, t in (*s.inputs, *s.outputs)}
            found.discard(None)
            if width is not None:
                self._short[g.index] = abbreviations(
                    found, _name_width(g, width))  # type: ignore[arg-type]

    def name(self, graph: int, name: str | None) -> str:
        if name is None:
            return "-"
        return self._short.get(graph, {}).get(name, name)

    def ref(self, graph: int, ref: TensorRef | None) -> str:
        if ref is None:
            return "-"
        return f"#{ref.index}" if ref.name is None else f"#{ref.index} {self.name(graph, ref.name)}"


def _name_width(graph: SubgraphSummary, width: int) -> int:
    """How long names may be for the operator table (index, operator, inputs and outputs
    columns, options on their own lines when needed) to fit in ``width`` columns."""
    index = len(str(len(graph.operators)))
    label = max([8, *(len(_op_label(op.op, op.custom_code)) for op in graph.operators)])
    digits = len(str(graph.tensor_count))
    room = (width - 4 - index - label - 3 * 2) // 2 - digits - 3  # "#12 " and ","
    return max(_MIN_NAME_WIDTH, min(_NAME_WIDTH, room))


def _digest_text(info: ModelInfo) -> str:
    if info.digest is None:
        return "-"
    if info.digest.present:
        return "SHA-256 digest present, verified"
    return "no digest (save with digest=True to record one)"


def _metadata_cell(m: MetadataEntry) -> Cell:
    if m.error is not None:
        return m.error
    if m.format is not None:
        return f"{m.format} (decoded below)" if m.values else f"{m.format} (empty)"
    return m.text or ""


def _param_cell(value: Any) -> Cell:
    if isinstance(value, list):
        return tuple(short_value(v) for v in value) or "[]"
    return short_value(value)


def _op_label(builtin: str | None, custom: str | None) -> str:
    if builtin is None:
        return "?"
    return f"{builtin}({custom})" if custom is not None else builtin


def _shape_list(shape: Sequence[int] | None) -> str:
    return "?" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def _shape(t: TensorSummary) -> str:
    text = _shape_list(t.shape)
    if t.shape_signature is not None and t.shape_signature != t.shape:
        text += " sig " + _shape_list(t.shape_signature)
    return text


def _quantization(info: dict[str, Any] | None) -> Cell:
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
        parts.append(f"min={short_value(info['min'])} max={short_value(info['max'])}")
    if "details" in info:
        parts.append(info["details"])
    return tuple(parts) or "-"

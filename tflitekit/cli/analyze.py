"""Analysis commands: ``summary`` (layers, MACs/OPs, ROM, RAM), ``memory`` (TFLite Micro's
arena plan, the live-memory timeline, and a memory-minimising operator order) and
``quant-error`` (a quantized model against its float twin, layer by layer)."""

from __future__ import annotations

import argparse
import shutil

from ..analysis.layers import Layer, Operand
from ..analysis.memory import TARGETS, Memory, memory
from ..analysis.quant_error import QuantizationError, TensorError, quantization_error
from ..analysis.summary import Summary, summary
from ..errors import UsageError
from ..passes.reorder_for_memory import ReorderForMemory
from ..serde.files import refuse_overwrite
from ._common import Subparsers, add_command, load_model, num, print_json, read_inputs, shown
from ._table import Cell, Column, abbreviations, table

__all__ = ["memory_text", "quant_error_text", "register", "summary_text"]

_BUILDS = {"host": "64-bit host", "target32": "32-bit target"}
_BUILD_NOTES = {"host": "the tflite-micro wheel's build, as it measures", "target32": "modelled"}


def register(sub: Subparsers) -> None:
    """Add the ``summary`` and ``memory`` commands."""
    cmd = add_command(
        sub, "summary", _cmd_summary, "layers with MACs/OPs, ROM and RAM (the TFLM arena)",
        "Summarise what the model costs on a microcontroller: per layer its operator, options "
        "(as Silicon Labs MLTK prints them), output, MACs and OPs (MLTK's conventions), weight "
        "and activation bytes; the totals; ROM (file, weights, metadata, flatbuffer overhead); "
        "RAM under TensorFlow Lite Micro: activations with no reuse, the peak live set, the "
        "arena head its GreedyMemoryPlanner allocates and the whole arena (head and persistent "
        "tail) for the 64-bit host build and a 32-bit target.")
    cmd.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    cmd.add_argument("--target", choices=TARGETS, default="host",
                     help="the build whose arena total is ram.arena_total_bytes in --json "
                          "(default host; both are shown and given)")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")

    mem = add_command(
        sub, "memory", _cmd_memory, "TFLM arena plan, live-memory timeline, best order",
        "Show how TensorFlow Lite Micro lays out the model's activations: every planned "
        "buffer with its lifetime (in operator steps) and offset from its GreedyMemoryPlanner, "
        "and the bytes alive at each operator. --reorder OUT searches the valid operator orders "
        "for the one with the smallest arena head and writes the reordered model to OUT.")
    mem.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    mem.add_argument("--reorder", metavar="OUT",
                     help="write the model with the operator order that needs the smallest "
                          "arena head to OUT")
    mem.add_argument("--overwrite", action="store_true",
                     help="allow OUT to be the same file as MODEL")
    mem.add_argument("--time-limit", type=float, default=10.0, metavar="SECONDS",
                     help="time bound of the order search per subgraph (default 10 s)")
    mem.add_argument("--json", action="store_true", help="print JSON instead of text")

    qe = add_command(
        sub, "quant-error", _cmd_quant_error, "a quantized model's error against its float twin",
        "Run a float model and its quantized twin on the same inputs (tflitekit's interpreter, "
        "every tensor kept), match their operators, and print per layer the relative error of "
        "its weights (and the largest error in quantization steps), biases and output, with "
        "the SQNR; then the model outputs' error. Random inputs span the quantized input's "
        "whole range, which overstates activation errors: give real inputs with --input.")
    qe.add_argument("float_model", metavar="FLOAT", help="path of the float .tflite file")
    qe.add_argument("model", metavar="QUANTIZED", help="path of the quantized .tflite file")
    qe.add_argument("--input", metavar="PATH",
                    help="float inputs: a .npy (one-input models) or a .npz keyed by input "
                         "name (or arr_0, ...), with a leading batch")
    qe.add_argument("--samples", type=int, default=16, metavar="N",
                    help="random samples when no --input is given (default 16)")
    qe.add_argument("--seed", type=int, default=0, help="seed of the random samples")
    qe.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_summary(args: argparse.Namespace) -> int:
    result = summary(load_model(args.model), args.model, target=args.target)
    if args.json:
        print_json(result.to_json())
    else:
        print(summary_text(result, width=shutil.get_terminal_size().columns))
    return 0


def _cmd_memory(args: argparse.Namespace) -> int:
    if args.reorder is not None and not args.overwrite:
        refuse_overwrite(args.model, args.reorder, advice="pass --overwrite to replace it")
    model = load_model(args.model)
    before = memory(model)
    out: dict[str, object] = {"file": args.model, **before.to_json()}
    lines = [memory_text(before, width=shutil.get_terminal_size().columns)]
    if args.reorder is not None:
        result = ReorderForMemory(time_limit=args.time_limit)(model)
        model.save(args.reorder, overwrite=True)
        after = memory(model)
        out["reordered"] = {"file": args.reorder, "changes": list(result.changes),
                            "skipped": list(result.skipped),
                            "arena_head_bytes": after.arena_head_bytes,
                            "peak_live_bytes": after.peak_live_bytes,
                            "saving_bytes": before.arena_head_bytes - after.arena_head_bytes}
        lines.append("")
        lines.extend(f"reorder: {line}" for line in (*result.changes, *result.skipped))
        lines.append(f"wrote {args.reorder}: arena head {num(before.arena_head_bytes)} -> "
                     f"{num(after.arena_head_bytes)} bytes")
    if args.json:
        print_json(out)
    else:
        print("\n".join(lines))
    return 0


def _cmd_quant_error(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, not {args.samples}")
    float_model, model = load_model(args.float_model), load_model(args.model)
    inputs = None if args.input is None else read_inputs(args.input, float_model)
    result = quantization_error(float_model, model, inputs, samples=args.samples,
                                seed=args.seed)
    if args.json:
        print_json(result.to_json())
    else:
        print(quant_error_text(result, width=shutil.get_terminal_size().columns))
    return 0


# -- rendering -------------------------------------------------------------------------------------


def summary_text(result: Summary, *, width: int | None = None) -> str:
    """The summary as the terminal shows it: a table of layers, then totals, ROM and RAM."""
    names = abbreviations((o.name or "" for layer in result.layers for o in layer.outputs), 28)
    rows = [_row(layer, names) for layer in result.layers]
    lines = [f"{shown(result.file)}" if result.file is not None else "model",
             *table([Column("#", right=True), Column("operator"), Column("options", sep=" "),
                     Column("output", sep=" "), Column("MACs", right=True),
                     Column("OPs", right=True), Column("weights", right=True),
                     Column("activations", right=True)], rows, width=width),
             f"total: {num(result.total_macs)} MACs ({_k(result.total_macs)}), "
             f"{num(result.total_ops)} OPs ({_k(result.total_ops)})"]
    r, m = result.rom, result.memory
    facts: list[tuple[str, int, str]] = [
        ("ROM (the file)", r.file_bytes, ""),
        ("  weights", r.weights_bytes, ""),
        ("  metadata", r.metadata_bytes, ""),
        *((("  unreferenced buffers", r.unreferenced_bytes, ""),) if r.unreferenced_bytes
          else ()),
        ("  flatbuffer overhead", r.flatbuffer_overhead_bytes,
         f" (quantization vectors {num(r.quantization_bytes)})"),
        ("RAM (TensorFlow Lite Micro, this operator order)", -1, ""),
        ("  no reuse (every activation at once)", m.no_reuse_bytes, ""),
        ("  peak live set", m.peak_live_bytes, ""),
        ("  arena head (GreedyMemoryPlanner)", m.arena_head_bytes, ""),
        *((f"  arena, {_BUILDS[a.target]}", a.total_bytes,
           f" (tail {num(a.tail_bytes)}; {_BUILD_NOTES[a.target]})") for a in result.arenas),
        *_cases(result)]
    label = max(len(what) for what, n, _ in facts if n >= 0)
    lines += [what if n < 0 else f"{what:<{label}}  {num(n):>9} bytes{more}"
              for what, n, more in facts]
    return "\n".join(lines)


def _cases(result: Summary) -> list[tuple[str, int, str]]:
    """RAM's best and worst case on the summary's build, and the arena of the best order."""
    build = _BUILDS[result.target]
    facts = [(f"RAM on the {build} build, best and worst case", -1, ""),
             ("  best: the arena TFLite Micro allocates", result.ram_best_bytes, ""),
             ("  worst: no reuse (LinearMemoryPlanner)", result.ram_worst_bytes,
              f" (head {num(result.no_reuse_head_bytes)})")]
    found, best = result.reordering, result.best_order_arena
    if found is not None and best is not None:
        note = ("this order is already the best" if not found.changed else
                f"saves {num(result.ram_best_bytes - best.total_bytes)} bytes"
                + ("" if found.exact else "; the best found"))
        facts.append(("  with the best operator order", best.total_bytes, f" ({note})"))
    return facts


def memory_text(result: Memory, *, width: int | None = None) -> str:
    """The plan: every buffer with lifetime and offset, then the live bytes per step."""
    names = abbreviations((a.name for a in result.allocations), 40)
    plan = table(
        [Column("buffer"), Column("bytes", right=True), Column("aligned", right=True),
         Column("lives", right=True), Column("offset", right=True)],
        [(names[a.name], num(a.bytes), num(a.aligned_bytes), f"{a.first}..{a.last}",
          num(a.offset)) for a in result.allocations], width=width)
    steps = table(
        [Column("step", right=True), Column("operator"), Column("live", right=True),
         Column("extent", right=True), Column("buffers alive")],
        [(str(s.time), "-" if s.opcode is None else f"#{s.operator} {s.opcode}",
          num(s.live_bytes), num(s.extent),
          tuple(names[result.allocations[k].name] for k in s.allocations))
         for s in result.timeline], width=width)
    return "\n".join([
        "planned buffers (TensorFlow Lite Micro's GreedyMemoryPlanner; sizes aligned to 16):",
        *plan, "", "live memory per step (extent: the highest planned byte in use):", *steps, "",
        f"no reuse {num(result.no_reuse_bytes)} bytes, peak live set "
        f"{num(result.peak_live_bytes)} bytes, arena head {num(result.arena_head_bytes)} bytes"])


def _row(layer: Layer, names: dict[str, str]) -> tuple[Cell, ...]:
    return (str(layer.index), f"{layer.opcode} v{layer.version}", tuple(layer.options.split()),
            tuple(part for o in layer.outputs for part in _operand(o, names)), num(layer.macs),
            num(layer.ops), num(layer.weight_bytes), num(layer.activation_bytes))


def _operand(o: Operand, names: dict[str, str]) -> tuple[str, str]:
    shape = "?" if o.shape is None else "x".join(map(str, o.shape))
    return f"{o.dtype.lower()}[{shape}]", names.get(o.name or "", o.name or "-")


def _k(n: int) -> str:
    """A count as MLTK prints it: thousands with three decimals (``680.012 k``)."""
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(n)


def quant_error_text(result: QuantizationError, *, width: int | None = None) -> str:
    """Per layer the worst weight, bias and output errors; then inputs and outputs."""
    def worst(errors: tuple[TensorError, ...]) -> TensorError | None:
        return max(errors, key=lambda e: e.rel_error, default=None)

    def cell(e: TensorError | None) -> str:
        return "-" if e is None else f"{e.rel_error:.2%} ({e.sqnr_db:.1f} dB)"

    rows = []
    for layer in result.layers:
        w = worst(layer.weights)
        steps = "-" if w is None or w.max_step_error is None else f"{w.max_step_error:.2f}"
        rows.append((f"{layer.float_index}/{layer.quantized_index}",
                     "+".join((layer.opcode, *layer.fused)), cell(w), steps,
                     cell(worst(layer.biases)), cell(worst(layer.activations))))
    lines = [f"{result.samples} samples; relative error ||q - f|| / ||f|| (SQNR)",
             *table([Column("#f/#q"), Column("operator"), Column("weights", right=True),
                     Column("steps", right=True), Column("bias", right=True),
                     Column("output", right=True)], rows, width=width)]
    for side, errors in (("input", result.inputs), ("output", result.outputs)):
        lines += [f"model {side} {e.float_name}: {cell(e)}, max |error| {e.max_abs_error:.4g}"
                  for e in errors]
    lines += [f"unmatched: {u.model} #{u.index} {u.opcode} {u.name}: {u.reason}"
              for u in result.unmatched]
    return "\n".join(lines)

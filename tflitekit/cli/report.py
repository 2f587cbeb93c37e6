"""Report commands: ``plot`` (one chart of a model as PNG or SVG, or its graph as SVG or DOT) and
``report`` (a self-contained HTML page). The results come from :mod:`tflitekit.analysis`; the
drawing from :mod:`tflitekit.analysis.plots`, :mod:`~tflitekit.analysis.graph` and
:mod:`~tflitekit.analysis.report`."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from ..analysis.graph import graph_svg, graphviz_available, operator_graph
from ..analysis.layers import layers
from ..analysis.memory import memory
from ..analysis.report import html_report, matplotlib_available
from ..analysis.summary import summary
from ..analysis.weights import WeightTensor, weights
from ..errors import UsageError
from ..ir import Model
from ..serde.files import refuse_overwrite, write_chunks
from ._common import Subparsers, add_command, load_model, num, print_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["KINDS", "register"]

KINDS = {
    "weights": "histogram of each weight tensor's values",
    "channels": "histograms per output channel of each weight tensor",
    "dense-image": "the weight matrix of each FULLY_CONNECTED layer as an image",
    "memory": "the arena head over time: buffers at their offsets, live bytes",
    "macs": "MACs and weight/activation bytes per layer",
    "graph": "the operator graph (.svg, or .dot for Graphviz's source)",
    "quant-error": "quantization error per layer against --float MODEL",
}
_ENGINES = ("auto", "graphviz", "builtin")


def register(sub: Subparsers) -> None:
    """Add the ``plot`` and ``report`` commands."""
    kinds = "; ".join(f"{k}: {v}" for k, v in KINDS.items())
    plot = add_command(sub, "plot", _cmd_plot, "draw one chart of a model (PNG or SVG)",
                       f"Draw one chart of MODEL into FILE, as PNG or SVG by its suffix. KIND "
                       f"is one of: {kinds}. Charts need matplotlib (pip install "
                       "'tflitekit[plots]'); the graph does not, and uses Graphviz's dot when "
                       "it is installed.")
    plot.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    plot.add_argument("kind", metavar="KIND", choices=list(KINDS), help=", ".join(KINDS))
    plot.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="the file to write: .png or .svg (graph: .svg or .dot)")
    plot.add_argument("--tensor", action="append", metavar="NAME",
                      help="weights, channels, dense-image: only this tensor (repeatable)")
    plot.add_argument("--float", dest="float_model", metavar="MODEL",
                      help="quant-error: the float model MODEL was quantized from")
    plot.add_argument("--samples", type=int, default=16,
                      help="quant-error: random inputs to run both models on (default 16)")
    plot.add_argument("--engine", choices=_ENGINES, default="auto",
                      help="graph: Graphviz's dot, the builtin layout, or dot when installed "
                           "(default auto)")
    plot.add_argument("--json", action="store_true", help="print JSON instead of text")

    report = add_command(sub, "report", _cmd_report, "write a self-contained HTML report",
                         "Write one HTML page about MODEL: MAC/OP and memory figures, the "
                         "per-layer summary table, ROM and RAM (TensorFlow Lite Micro's arena "
                         "head and total for the 64-bit host build and a 32-bit target), "
                         "charts (memory timeline, per-layer bars, weight histograms; they need "
                         "matplotlib) and the operator graph. Everything is inline: opening "
                         "the page fetches nothing.")
    report.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    report.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the page to write, e.g. report.html")
    report.add_argument("--no-charts", action="store_true",
                        help="leave the charts out (no matplotlib needed)")
    report.add_argument("--engine", choices=_ENGINES, default="auto",
                        help="how to draw the graph (see plot --engine)")
    report.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_plot(args: argparse.Namespace) -> int:
    refuse_overwrite(args.model, args.output, advice="choose another output")
    if args.float_model is not None:
        refuse_overwrite(args.float_model, args.output, advice="choose another output")
    kind_of_file = os.path.splitext(args.output)[1].lower().lstrip(".")
    allowed = ("svg", "dot") if args.kind == "graph" else ("png", "svg")
    if kind_of_file not in allowed:
        raise UsageError(f"{args.output}: {args.kind} is written as "
                         + " or ".join(f".{k}" for k in allowed))
    if args.kind == "quant-error" and args.float_model is None:
        raise UsageError("quant-error needs --float MODEL, the float model to compare with")
    if args.kind != "graph":
        from ..analysis.plots import require_matplotlib

        require_matplotlib()  # before any work
    model = load_model(args.model)
    report: dict[str, Any] = {"model": args.model, "kind": args.kind, "output": args.output,
                              "format": kind_of_file}
    if args.kind == "graph":
        graph = operator_graph(model)
        text = graph.to_dot() if kind_of_file == "dot" else graph_svg(graph, args.engine)
        write_chunks(args.output, [text.encode()])
        report["engine"] = None if kind_of_file == "dot" else _engine(args.engine)
    else:
        from ..analysis import plots

        fig, count = _figure(args, model)
        plots.save(fig, args.output)
        report["panels"] = count
    if args.json:
        print_json(report)
    else:
        print(f"{args.model}: {args.kind} -> {args.output} ({kind_of_file})")
    return 0


def _figure(args: argparse.Namespace, model: Model) -> tuple[Figure, int]:
    """The chart of ``args.kind`` and how many panels or items it shows."""
    from ..analysis import plots

    if args.kind == "memory":
        mem = memory(model)
        return plots.memory_timeline(mem), len(mem.allocations)
    if args.kind == "macs":
        rows = layers(model)
        return plots.layer_bars(rows), len(rows)
    if args.kind == "quant-error":
        from ..analysis.quant_error import quantization_error

        if args.samples < 1:
            raise UsageError(f"--samples must be at least 1, not {args.samples}")
        result = quantization_error(load_model(args.float_model), model, samples=args.samples)
        return plots.quant_error_plot(result), len(result.layers)
    tensors = _tensors(args, weights(model).tensors)
    if args.kind == "weights":
        return plots.weight_histograms(tensors), len(tensors)
    if args.kind == "channels":
        return plots.channel_histograms(tensors), len(tensors)
    return plots.dense_images(tensors), len(tensors)


def _tensors(args: argparse.Namespace, found: tuple[WeightTensor, ...]
             ) -> tuple[WeightTensor, ...]:
    if args.tensor:
        by_name = {t.name: t for t in found}
        missing = [n for n in args.tensor if n not in by_name]
        if missing:
            raise UsageError(f"no constant operand named {missing[0]!r} (see tflitekit info)")
        return tuple(by_name[n] for n in args.tensor)
    if args.kind == "dense-image":
        return tuple(t for t in found if t.role == "weights" and t.opcode == "FULLY_CONNECTED")
    return tuple(t for t in found if t.role == "weights")


def _engine(engine: str) -> str:
    if engine == "auto":
        return "graphviz" if graphviz_available() else "builtin"
    return engine


def _cmd_report(args: argparse.Namespace) -> int:
    refuse_overwrite(args.model, args.output, advice="choose another output")
    model = load_model(args.model)
    result = summary(model, args.model)
    page = html_report(
        os.path.basename(args.model), layers=result.layers, rom=result.rom,
        memory=result.memory, arenas=result.arenas, weights=weights(model),
        graph=operator_graph(model), charts=False if args.no_charts else None,
        graph_engine=args.engine)
    data = page.encode()
    write_chunks(args.output, [data])
    drawn = not args.no_charts and matplotlib_available()
    report = {"model": args.model, "output": args.output, "bytes": len(data), "charts": drawn,
              "graph_engine": _engine(args.engine)}
    if args.json:
        print_json(report)
    else:
        note = "" if drawn or args.no_charts else \
            "; charts left out: matplotlib is not installed (pip install 'tflitekit[plots]')"
        print(f"{args.model} -> {args.output} ({num(len(data))} bytes{note})")
    return 0

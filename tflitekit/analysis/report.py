"""A self-contained HTML report of a model's analysis results.

:func:`html_report` assembles one page from results (never a model): the key figures, any titled
:class:`Table` of figures the caller computed (such as before and after an optimization), the
per-layer summary table with totals, ROM and RAM (TFLite Micro's arena) figures, charts drawn by
:mod:`.plots` (the memory timeline, per-layer MACs and memory, weight histograms) and the
operator graph as inline SVG. Everything is inline: styles, SVG, PNG images as ``data:`` URLs;
the page has no scripts and its Content-Security-Policy forbids loading anything else, so
opening it never touches the network.
"""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from .graph import Engine, OperatorGraph, graph_svg, shape_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .arena import Arena
    from .layers import Layer, Operand
    from .memory import Memory
    from .rom import Rom
    from .weights import Weights

__all__ = ["CSP", "Cell", "Table", "html_report", "matplotlib_available"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page's Content-Security-Policy: inline styles and ``data:`` images only."""

Cell = str | int | float | None
"""A table cell: text, a number (integers with thousands separators, floats with two decimals)
or None (shown as ``-``)."""


@dataclass(frozen=True)
class Table:
    """A titled table of figures for :func:`html_report`: ``columns`` (their titles), ``rows``
    of :data:`Cell` values (a column whose cells are all numbers or None is right-aligned) and
    an optional ``note`` under it."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1d2330;background:#f6f7f9}
main{max-width:1280px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #d5d9e0;padding-bottom:4px}
.sub{color:#5b6475;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:8px 12px;
min-width:150px}
.card .k{color:#5b6475;font-size:12px}.card .v{font-size:18px;font-weight:600}
.card .x{color:#5b6475;font-size:12px}
table{border-collapse:collapse;background:#fff;font-size:12px}
th,td{border:1px solid #d5d9e0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;background:#eef1f5}
.scroll{overflow-x:auto;background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:6px}
.scroll table{border:0}
img{max-width:100%;height:auto;display:block}
.note{color:#8a5a00;background:#fff7e0;border:1px solid #f0d890;border-radius:6px;
padding:6px 10px}
code{font-size:12px}td span{white-space:nowrap}
"""


def matplotlib_available() -> bool:
    """Whether the charts can be drawn (matplotlib, the ``plots`` extra, is installed)."""
    return importlib.util.find_spec("matplotlib") is not None


def html_report(title: str, *, layers: Sequence[Layer] = (), rom: Rom | None = None,
                memory: Memory | None = None, arenas: Sequence[Arena] = (),
                weights: Weights | None = None, graph: OperatorGraph | None = None,
                tables: Sequence[Table] = (), subtitle: str = "tflitekit analysis report",
                charts: bool | None = None, graph_engine: Engine = "auto") -> str:
    """The report page as HTML text; sections appear for the results given.

    ``tables``: sections of the caller's own figures, after the key figures, in order.

    ``arenas``: TFLite Micro's arena per target (e.g. host and target32). ``charts``: draw the
    charts with matplotlib (True: required, raising
    :class:`~tflitekit.RuntimeUnavailable` without it; False: no charts; None: when it is
    installed, else the page says how to get them). ``graph_engine``: see
    :func:`~.graph.graph_svg`.
    """
    draw = matplotlib_available() if charts is None else charts
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">'
             f"<title>{escape(title)} · tflitekit report</title><style>{_STYLE}</style>"
             f"</head><body><main>",
             f"<h1>{escape(title)}</h1><p class=\"sub\">{escape(subtitle)}</p>",
             _cards(layers, rom, memory, arenas)]
    if charts is None and not draw:
        parts.append('<p class="note">Charts are left out: they need matplotlib '
                     "(<code>pip install 'tflitekit[plots]'</code>).</p>")
    parts += (_section(f"table-{i}", t) for i, t in enumerate(tables, 1))
    if layers:
        parts.append("<h2 id=\"layers\">Layers</h2>" + _layers_table(layers))
        if draw:
            from .plots import layer_bars
            parts.append(_chart(layer_bars, layers, "MACs and memory per layer"))
    if rom is not None:
        parts.append("<h2 id=\"rom\">ROM</h2>" + _rom(rom))
    if memory is not None or arenas:
        parts.append("<h2 id=\"ram\">RAM (TensorFlow Lite Micro arena)</h2>"
                     + _ram(memory, arenas))
        if memory is not None and draw:
            from .plots import memory_timeline
            parts.append(_chart(memory_timeline, memory, "memory timeline"))
    if weights is not None and draw:
        from .plots import weight_histograms
        shown = weights.of_role("weights")
        parts.append("<h2 id=\"weights\">Weights</h2>"
                     + _chart(weight_histograms, shown, "weight histograms"))
    if graph is not None:
        parts.append(f"<h2 id=\"graph\">Graph</h2><div class=\"scroll\">"
                     f"{graph_svg(graph, graph_engine)}</div>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _chart(plot: Callable[..., Figure], result: object, alt: str) -> str:
    from .plots import png_bytes

    fig = plot(result)
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<div class="scroll"><img alt="{escape(alt)}" src="data:image/png;base64,{data}">' \
           "</div>"


def _n(value: int) -> str:
    return f"{value:,}"


def _short(value: float, unit: str = "") -> str:
    """``336.0 k``: three significant digits with a decimal prefix."""
    for size, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g} {prefix}{unit}"
    return f"{value:g} {unit}".rstrip()


def _card(key: str, value: str, extra: str = "") -> str:
    return (f'<div class="card"><div class="k">{escape(key)}</div>'
            f'<div class="v">{escape(value)}</div>'
            + (f'<div class="x">{escape(extra)}</div>' if extra else "") + "</div>")


def _cards(layers: Sequence[Layer], rom: Rom | None, memory: Memory | None,
           arenas: Sequence[Arena]) -> str:
    cards = []
    if layers:
        macs, ops = sum(row.macs for row in layers), sum(row.ops for row in layers)
        cards += [_card("MACs", _short(macs), f"{_n(macs)} in {len(layers)} layers"),
                  _card("OPs", _short(ops), _n(ops))]
    if rom is not None:
        cards += [_card("file (ROM)", _short(rom.file_bytes, "B"), f"{_n(rom.file_bytes)} B"),
                  _card("weights", _short(rom.weights_bytes, "B"),
                        f"{_n(rom.weights_bytes)} B")]
    if memory is not None:
        cards.append(_card("arena head", _short(memory.arena_head_bytes, "B"),
                           f"{_n(memory.arena_head_bytes)} B planned"))
    for a in arenas:
        cards.append(_card(f"arena total ({a.target})", _short(a.total_bytes, "B"),
                           f"{_n(a.head_bytes)} head + {_n(a.tail_bytes)} tail"))
    return f'<div class="cards">{"".join(cards)}</div>' if cards else ""


def _table(head: Iterable[tuple[str, bool]], rows: Iterable[Iterable[str]],
           total: Iterable[str] | None = None) -> str:
    """A table; ``head`` gives each column's title and whether it holds numbers (right
    aligned). Cells are HTML already."""
    numeric = [n for _, n in head]
    out = ["<div class=\"scroll\"><table><thead><tr>"
           + "".join(f'<th class="n">{escape(h)}</th>' if n else f"<th>{escape(h)}</th>"
                     for h, n in head) + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
                                    for c, n in zip(row, numeric, strict=True)) + "</tr>")
    if total is not None:
        out.append('<tr class="total">' + "".join(
            f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
            for c, n in zip(total, numeric, strict=True)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return escape(value)
    return _n(value) if isinstance(value, int) else f"{value:,.2f}"


def _section(anchor: str, table: Table) -> str:
    numeric = [all(r[i] is None or isinstance(r[i], (int, float)) for r in table.rows)
               for i in range(len(table.columns))]
    body = _table(list(zip(table.columns, numeric, strict=True)),
                  ([_cell(c) for c in row] for row in table.rows))
    note = f'<p class="sub">{escape(table.note)}</p>' if table.note else ""
    return f'<h2 id="{anchor}">{escape(table.title)}</h2>{body}{note}'


def _operand(o: Operand | None) -> str:
    if o is None:
        return "-"
    q = o.quantization
    quant = "" if q is None else (f" q:{q.scale:.4g}/{q.zero_point}" if q.kind == "per-tensor"
                                  else f" q:{q.channels}ch@{q.axis}")
    text = f"{shape_text(o.shape)} {o.dtype}{quant}" + (" const" if o.constant else "")
    return f'<span title="{escape(o.name or "")}">{escape(text)}</span>'


def _layers_table(layers: Sequence[Layer]) -> str:
    head = [("#", True), ("operator", False), ("inputs", False), ("outputs", False),
            ("options", False), ("MACs", True), ("OPs", True), ("weight bytes", True),
            ("activation bytes", True)]
    rows = ([str(r.index), f"{escape(r.opcode)} v{r.version}",
             "<br>".join(_operand(o) for o in r.inputs),
             "<br>".join(_operand(o) for o in r.outputs), escape(r.options),
             _n(r.macs), _n(r.ops), _n(r.weight_bytes), _n(r.activation_bytes)]
            for r in layers)
    total = ["", "total", "", "", "", _n(sum(r.macs for r in layers)),
             _n(sum(r.ops for r in layers)), _n(sum(r.weight_bytes for r in layers)),
             _n(sum(r.activation_bytes for r in layers))]
    return _table(head, rows, total)


def _rom(rom: Rom) -> str:
    parts = [("file", rom.file_bytes), ("constant data (weights)", rom.weights_bytes),
             ("metadata", rom.metadata_bytes), ("unreferenced buffers", rom.unreferenced_bytes),
             ("flatbuffer overhead", rom.flatbuffer_overhead_bytes),
             ("of which quantization parameters", rom.quantization_bytes)]
    figures = _table([("", False), ("bytes", True), ("share of the file", True)],
                     ([escape(k), _n(v), f"{100 * v / rom.file_bytes:.1f} %"
                       if rom.file_bytes else "-"] for k, v in parts))
    by_dtype = _table([("dtype", False), ("tensors", True), ("bytes", True)],
                      ([escape(d.dtype), _n(d.tensors), _n(d.bytes)] for d in rom.by_dtype))
    return f"{figures}<h3>Constant data by type</h3>{by_dtype}"


def _ram(memory: Memory | None, arenas: Sequence[Arena]) -> str:
    out = []
    if memory is not None:
        rows = [("no reuse (every activation at once)", memory.no_reuse_bytes),
                ("peak live (best case for this order)", memory.peak_live_bytes),
                ("arena head (TFLite Micro's greedy planner)", memory.arena_head_bytes)]
        out.append(_table([("", False), ("bytes", True)],
                          ([escape(k), _n(v)] for k, v in rows)))
    if arenas:
        out.append("<h3>Arena total</h3>" + _table(
            [("target", False), ("head", True), ("tail (persistent)", True), ("total", True)],
            ([escape(a.target), _n(a.head_bytes), _n(a.tail_bytes), _n(a.total_bytes)]
             for a in arenas)))
    return "".join(out)

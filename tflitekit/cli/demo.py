"""The ``demo`` command: :func:`tflitekit.demo.run` on the bundled model, rendered."""

from __future__ import annotations

import argparse
import shutil

from ..demo import MAX_DROP, OUTPUT, Demo, figure_rows, run
from ..demo.tables import points
from ._common import Subparsers, add_command, num, print_json
from ._progress import progress_bar
from ._table import Column, table

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add the ``demo`` command."""
    cmd = add_command(
        sub, "demo", _cmd_demo, "run the whole product on the model bundled with tflitekit",
        "On a small int8 digits classifier that ships with tflitekit: summarise it (MACs, ROM, "
        "TensorFlow Lite Micro's arena), optimize it and strip its float interface, compress "
        f"its weights (k-means per tensor, top-1 agreement within {points(MAX_DROP)}, stored "
        "as TFLite Micro's lookup tables), check the result bit for bit against the "
        "decompressed model and TFLite Micro (when installed), profile and compare it on "
        "the XS3 emulator, and write both models and a self-contained HTML report into DIR. "
        "Needs no network and no TensorFlow.")
    cmd.add_argument("-o", "--output", default=OUTPUT, metavar="DIR",
                     help=f"directory to write into (default {OUTPUT})")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_demo(args: argparse.Namespace) -> int:
    result = run(args.output, progress=progress_bar("tflitekit demo"))
    if args.json:
        print_json(result.to_json())
    else:
        print(_text(result))
    return 0


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return num(value) if isinstance(value, int) else str(value)


def _text(demo: Demo) -> str:
    lines = table([Column(""), *(Column(m.name, right=True) for m in demo.models)],
                  [[_cell(c) for c in row] for row in figure_rows(demo.models)],
                  width=shutil.get_terminal_size().columns)
    allocation, exact = demo.allocation, demo.bit_exact
    before = sum(t.bytes_before for t in demo.tensors)
    after = sum(t.bytes_after for t in demo.tensors)
    lines.append(f"compressed {len(demo.tensors)} of {len(allocation.choices)} weight tensors "
                 f"({num(before)} -> {num(after)} bytes) keeping {allocation.metric_name} "
                 f"within {points(allocation.max_drop)}: {allocation.metric:.2f} %")
    tflm = (exact.tflm_note if exact.tflm_differing is None
            else f"TFLite Micro differs on {num(exact.tflm_differing)}")
    lines.append(f"bit-exact: {'yes' if exact.exact else 'NO'} on {num(exact.elements)} output "
                 f"values ({exact.samples} samples): the decompressed model differs on "
                 f"{num(exact.decompressed_differing)}, {tflm}")
    ours = demo.comparison.ours
    lines.append(f"XS3: {demo.model('compressed').xs3_microseconds:,.1f} µs per sample at "
                 f"{demo.profile.cycle_model.clock_mhz:g} MHz; outputs of its layers differing "
                 f"from TFLite's: {100 * ours.share:.2f} %")
    lines.append(f"report: {demo.report}")
    return "\n".join(lines)

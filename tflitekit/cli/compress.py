"""Compression commands: ``compress`` (weights into the TFLite Micro-runnable form or the
tflitekit container, optionally chosen by a search on labelled data) and ``decompress``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
from typing import Any

from ..codecs import BQ, Huffman, KMeans
from ..codecs.metrics import Metric, accuracy, agreement, load_labelled
from ..codecs.search import bq_search, weight_tensors
from ..errors import UsageError
from ..ir import Model
from ..passes import DecompressWeights
from ..passes.compress_plan import compress_plan, compress_step, search_bits
from ..passes.compress_weights import Format, compressed_tensors
from ..serde.files import refuse_overwrite
from ._common import Subparsers, add_command, load_model, num, print_json
from ._progress import progress_bar
from ._table import Column, abbreviations, table

__all__ = ["register"]

_CODECS = ("lut", "huffman", "bq", "cluster")


def register(sub: Subparsers) -> None:
    """Add the ``compress`` and ``decompress`` commands."""
    cmd = add_command(
        sub, "compress", _cmd_compress, "compress the weights inside the .tflite",
        "Compress constant weight tensors. --format tflm (the default for lut and huffman) "
        "writes TFLite Micro's TFLM_DECODE form, which TFLite Micro and tflitekit run as it is: "
        "lut packs 1-7 bit indices into value tables (per channel when the tensor is quantized "
        "per channel), huffman codes the values themselves. --format container (the default "
        "for bq and cluster) stores any tflitekit codec in the file; run 'tflitekit "
        "decompress' before running it. --bits N clusters each tensor to 2^N values first "
        "(k-means); --search chooses bins (bq) or per-tensor bit widths on --data so that the "
        "metric drops by at most --max-drop points.")
    cmd.add_argument("model", metavar="IN", help="path of the .tflite file to read")
    cmd.add_argument("output", metavar="OUT", help="path of the .tflite file to write")
    cmd.add_argument("--codec", choices=_CODECS, default="lut",
                     help="lut, huffman (TFLite Micro's), bq (bins and quantize) or cluster "
                          "(k-means); default lut")
    cmd.add_argument("--bits", type=int, metavar="N",
                     help="cluster each tensor to 2^N values first (lut: also the index width)")
    cmd.add_argument("--tensors", nargs="+", metavar="NAME",
                     help="the tensors to compress (default: every weight tensor it shrinks)")
    cmd.add_argument("--format", choices=("tflm", "container"),
                     help="tflm (runs in TFLite Micro) or container (any codec)")
    cmd.add_argument("--search", action="store_true",
                     help="search the bins (bq) or each tensor's bit width (others) on --data")
    cmd.add_argument("--data", metavar="NPZ",
                     help="labelled data: an .npz with x (and y for accuracy)")
    cmd.add_argument("--metric", choices=("accuracy", "agreement"),
                     help="accuracy on y, or top-1 agreement with the original model (default: "
                          "accuracy when the data has y)")
    cmd.add_argument("--max-drop", type=float, default=0.2, metavar="POINTS",
                     help="--search: largest metric drop allowed, in percentage points "
                          "(default 0.2)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the clustering (default 0)")
    cmd.add_argument("--overwrite", action="store_true", help="allow OUT to be IN")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")

    dec = add_command(
        sub, "decompress", _cmd_decompress, "decode compressed weights into plain tensors",
        "Decode every compressed tensor (the TFLM_DECODE form, TFLite Micro's own compressor's "
        "output included, and the tflitekit container) back into plain constant tensors: a "
        "model any runtime runs.")
    dec.add_argument("model", metavar="IN", help="path of the .tflite file to read")
    dec.add_argument("output", metavar="OUT", help="path of the .tflite file to write")
    dec.add_argument("--overwrite", action="store_true", help="allow OUT to be IN")
    dec.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_compress(args: argparse.Namespace) -> int:
    fmt: Format = args.format or ("tflm" if args.codec in ("lut", "huffman") else "container")
    _check(args, fmt)
    if not args.overwrite:
        refuse_overwrite(args.model, args.output, advice="pass --overwrite to replace it")
    model = load_model(args.model)
    metric = None if args.data is None else _metric(model, args)
    before = None if metric is None else metric(model)
    search: dict[str, Any] | None = None
    compressed = model.copy()
    if args.search:
        assert metric is not None
        names = args.tensors or [t.name for t in weight_tensors(model)]
        plan, search = _search(model, metric, names, args, fmt)
        compress_plan(compressed, plan, codec=args.codec, format=fmt, bits=args.bits)
    else:
        compress_step(args.codec, fmt, _default_params(args), args.bits, args.tensors)(compressed)
    compressed.save(args.output, overwrite=True)
    after = None
    if metric is not None:
        runnable = compressed if fmt == "tflm" else DecompressWeights()(compressed.copy()).model
        after = metric(runnable)
    report = {"input": args.model, "output": args.output, "format": fmt, "codec": args.codec,
              "bytes_before": os.path.getsize(args.model),
              "bytes_after": os.path.getsize(args.output),
              "tensors": [c.to_json() for c in compressed_tensors(compressed)],
              "metric": None if metric is None else {"name": metric.name, "before": before,
                                                     "after": after},
              "search": search}
    if args.json:
        print_json(report)
    else:
        print(_text(report))
    return 0


def _cmd_decompress(args: argparse.Namespace) -> int:
    if not args.overwrite:
        refuse_overwrite(args.model, args.output, advice="pass --overwrite to replace it")
    model = load_model(args.model)
    found = compressed_tensors(model)
    result = DecompressWeights()(model)
    model.save(args.output, overwrite=True)
    report = {"input": args.model, "output": args.output,
              "bytes_before": os.path.getsize(args.model),
              "bytes_after": os.path.getsize(args.output),
              "tensors": [c.to_json() for c in found], "changes": list(result.changes)}
    if args.json:
        print_json(report)
    else:
        print(f"decoded {len(found)} tensors: {args.model} ({num(report['bytes_before'])} "
              f"bytes) -> {args.output} ({num(report['bytes_after'])} bytes)")
    return 0


def _check(args: argparse.Namespace, fmt: Format) -> None:
    if args.bits is not None and not 1 <= args.bits <= (7 if fmt == "tflm" else 16):
        raise UsageError(f"--bits must be 1 to {7 if fmt == 'tflm' else 16} for the {fmt} "
                         f"format, not {args.bits}")
    if fmt == "container" and args.codec == "lut":
        raise UsageError("lut is TFLite Micro's form: use --format tflm, or --codec cluster "
                         "for the container")
    if args.codec == "cluster" and args.bits is None and not args.search:
        raise UsageError("--codec cluster needs --bits N (k = 2^N) or --search")
    if args.search and args.bits is not None:
        raise UsageError("--search chooses each tensor's bit width (bq: its bins): leave out "
                         "--bits")
    if args.search and args.data is None:
        raise UsageError("--search needs --data (an .npz with x, and y for accuracy)")
    if args.metric is not None and args.data is None:
        raise UsageError("--metric needs --data")


def _metric(model: Model, args: argparse.Namespace) -> Metric:
    kind = args.metric
    if kind is None or kind == "accuracy":
        try:
            x, y = load_labelled(args.data)
        except UsageError:
            if kind == "accuracy":
                raise
            return agreement(model, args.data)
        return accuracy(model, x, y)
    return agreement(model, args.data)


def _default_params(args: argparse.Namespace) -> Any:
    if args.codec == "bq":
        return BQ(then=Huffman())
    if args.bits is not None:
        return KMeans(k=2 ** args.bits, seed=args.seed, then=Huffman())
    return None


def _search(model: Model, metric: Metric, names: list[str], args: argparse.Namespace,
            fmt: Format) -> tuple[dict[str, Any], dict[str, Any]]:
    if args.codec == "bq":
        plan: dict[str, Any] = {}
        steps = []
        for name in names:
            found = bq_search(model, name, metric, max_drop=args.max_drop,
                              progress=progress_bar(f"searching bins of {name}"))
            plan[name] = dataclasses.replace(found.params, then=Huffman())
            steps.append(found.to_json())
        return plan, {"kind": "bq", "tensors": steps}
    allocation = search_bits(model, metric, codec=args.codec, format=fmt,
                             max_drop=args.max_drop, seed=args.seed, tensors=names,
                             progress=progress_bar("searching bit widths"))
    return dict(allocation.params), {"kind": "bits", **allocation.to_json()}


def _text(report: dict[str, Any]) -> str:
    rows = report["tensors"]
    names = abbreviations((r["name"] for r in rows), 40)
    lines = table([Column("tensor"), Column("shape"), Column("codec"),
                   Column("bytes before", right=True), Column("after", right=True),
                   Column("bits/weight", right=True)],
                  [(names[r["name"]], "x".join(map(str, r["shape"])), r["codec"],
                    num(r["bytes_before"]), num(r["bytes_after"]),
                    f"{r['bits_per_weight']:.2f}") for r in rows],
                  width=shutil.get_terminal_size().columns)
    lines.append(f"{report['input']} ({num(report['bytes_before'])} bytes) -> "
                 f"{report['output']} ({num(report['bytes_after'])} bytes, {report['format']} "
                 "form)")
    metric = report["metric"]
    if metric is not None:
        lines.append(f"{metric['name']}: {metric['before']:.2f} -> {metric['after']:.2f}")
    return "\n".join(lines)

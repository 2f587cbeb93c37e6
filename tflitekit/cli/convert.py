"""The ``convert`` command: a saved Keras model through :func:`tflitekit.training.from_keras`."""

from __future__ import annotations

import argparse

from ..analysis.summary import summary
from ..serde.files import refuse_overwrite
from ..training.convert import IO_TYPES, MODES, from_keras, load_keras
from ._common import Subparsers, add_command, check_file, num, print_json, read_arrays

__all__ = ["register"]


def register(sub: Subparsers) -> None:
    """Add the ``convert`` command."""
    cmd = add_command(
        sub, "convert", _cmd_convert, "convert a Keras model with the TFLite converter",
        "Convert a saved Keras model (.keras or .h5) with TensorFlow's TFLite converter, set "
        "up for --mode (int8 and int16x8 calibrate on --data: an .npy, or an .npz keyed by "
        "input name, or arr_0, arr_1, ..., or x for one input) and --io, and print the "
        "result's MACs, ROM and RAM (TensorFlow Lite Micro's arena: best case with its memory "
        "planner, worst case with no reuse). Needs TensorFlow (pip install "
        "\"tflitekit[train]\").")
    cmd.add_argument("model", metavar="KERAS", help="the saved Keras model (.keras or .h5)")
    cmd.add_argument("output", metavar="OUT", help="path of the .tflite file to write")
    cmd.add_argument("--mode", choices=MODES, default="int8",
                     help="quantization: int8 (default), int16x8, float16, dynamic or float")
    cmd.add_argument("--io", choices=IO_TYPES, default="float",
                     help="interface type: float (default), int8 (mode int8) or int16 "
                          "(mode int16x8)")
    cmd.add_argument("--strip-float-io", action="store_true",
                     help="convert with a float interface, then remove it with our pass")
    cmd.add_argument("--data", metavar="NPY|NPZ",
                     help="representative inputs (int8, int16x8), a leading sample axis")
    cmd.add_argument("--samples", type=int, metavar="N",
                     help="calibrate on the first N samples of --data (default: all)")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_convert(args: argparse.Namespace) -> int:
    for path in (args.model, *([args.data] if args.data else [])):
        check_file(path)
    refuse_overwrite(args.model, args.output, advice="choose another output")
    keras_model = load_keras(args.model)
    data = None if args.data is None else read_arrays(
        args.data, [str(t.name) for t in keras_model.inputs])
    model = from_keras(keras_model, representative_data=data, mode=args.mode,
                       io=args.io, strip_float_io=args.strip_float_io, samples=args.samples)
    model.save(args.output, overwrite=True)
    result = summary(model, args.output)
    graph = model.main
    report = {"input": args.model, "output": args.output, "mode": args.mode, "io": args.io,
              "strip_float_io": args.strip_float_io, "operators": len(graph.operators),
              "interface": {"inputs": [t.dtype.name for t in graph.inputs],
                            "outputs": [t.dtype.name for t in graph.outputs]},
              "summary": result.to_json()}
    if args.json:
        print_json(report)
        return 0
    interface = report["interface"]
    print(f"{args.model} -> {args.output} ({num(result.rom.file_bytes)} bytes, mode "
          f"{args.mode}): {len(graph.operators)} operators, interface "
          f"{', '.join(interface['inputs'])} -> {', '.join(interface['outputs'])}")
    print(f"MACs {num(result.total_macs)}; ROM {num(result.rom.file_bytes)} bytes "
          f"({num(result.rom.weights_bytes)} of weights); RAM on the {result.target} build: best "
          f"case {num(result.ram_best_bytes)} bytes (TensorFlow Lite Micro's arena), worst case "
          f"{num(result.ram_worst_bytes)} (no reuse)")
    return 0

"""Export commands: ``export-c`` (the model as a C array for TensorFlow Lite Micro)."""

from __future__ import annotations

import argparse
import os

from ..errors import TFLiteKitError
from ..serde.c_array import c_header, c_source
from ..serde.files import refuse_overwrite, write_chunks
from ._common import Subparsers, add_command, load_model, num, print_json

__all__ = ["register"]

_C_SUFFIXES = (".c",)


def register(sub: Subparsers) -> None:
    """Add the ``export-c`` command."""
    export = add_command(sub, "export-c", _cmd_export_c,
                         "write the model as an aligned C array and its header",
                         "Write the model's bytes, unchanged, as C/C++ source defining "
                         "'alignas(ALIGN) const unsigned char NAME[]' and 'const unsigned int "
                         "NAME_len', and a header declaring both (what TensorFlow Lite Micro "
                         "projects compile a model in; an aligned 'xxd -i'). An OUT ending in "
                         ".c is written as C, anything else as C++.")
    export.add_argument("model", metavar="MODEL", help="path of the .tflite file")
    export.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="the source file to write, e.g. model_data.cc")
    export.add_argument("--header", metavar="PATH",
                        help="the header to write (default: OUT with the suffix .h)")
    export.add_argument("--name", default="g_model",
                        help="the array's name (default g_model; the length is NAME_len)")
    export.add_argument("--align", type=int, default=16,
                        help="the array's alignment in bytes (default 16)")
    export.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_export_c(args: argparse.Namespace) -> int:
    language = "c" if args.output.endswith(_C_SUFFIXES) else "c++"
    # the name and alignment (UsageError: bad usage) before any file is read or written
    next(c_source(b"", name=args.name, align=args.align, header=None, language=language))
    header = args.header or os.path.splitext(args.output)[0] + ".h"
    for path in (args.output, header):
        refuse_overwrite(args.model, path, advice="choose another output")
    if os.path.abspath(header) == os.path.abspath(args.output):
        raise TFLiteKitError(f"the header and the source would both be {header}")
    load_model(args.model).close()  # a readable TFLite model (its digest, if any, verified)
    with open(args.model, "rb") as f:
        data = f.read()
    include = os.path.relpath(os.path.abspath(header), os.path.dirname(os.path.abspath(
        args.output)))
    source = c_source(data, name=args.name, align=args.align, header=include, language=language)
    first = next(source)  # validates the options before any file is written
    write_chunks(header, [c_header(args.name, header=header).encode()])
    write_chunks(args.output, [first, *source])
    report = {"input": args.model, "source": args.output, "header": header, "name": args.name,
              "bytes": len(data), "align": args.align, "language": language}
    if args.json:
        print_json(report)
    else:
        print(f"{args.model} ({num(len(data))} bytes) -> {args.output} and {header}: "
              f"alignas({args.align}) {args.name}[{len(data)}], {args.name}_len")
    return 0

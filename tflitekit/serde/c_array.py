"""A model's bytes as C/C++ source: an aligned array and its length, plus a header declaring
them, the form TensorFlow Lite Micro projects compile a model in (what ``xxd -i`` gives, but
aligned, as TFLite Micro requires of the model's data).

This is another serialization of the same bytes, so it lives beside the flatbuffer writer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import UsageError

__all__ = ["c_header", "c_source", "check_c_name"]

_PER_LINE = 12  # bytes per source line, as xxd -i writes them
_LINES_PER_CHUNK = 1 << 14
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_C_KEYWORDS = frozenset({
    "alignas", "alignof", "auto", "bool", "break", "case", "char", "class", "const",
    "constexpr", "continue", "default", "delete", "do", "double", "else", "enum", "extern",
    "false", "float", "for", "goto", "if", "inline", "int", "long", "namespace", "new",
    "nullptr", "operator", "private", "protected", "public", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw",
    "true", "try", "typedef", "typename", "typeof", "union", "unsigned", "using", "virtual",
    "void", "volatile", "while",
})
# "0x00, " .. "0xff, " as rows of bytes, for turning data into source text with numpy.
_HEX = np.frombuffer("".join(f"0x{b:02x}, " for b in range(256)).encode(), np.uint8).reshape(256, 6)


def check_c_name(name: str) -> str:
    """``name`` if it can name a C/C++ variable, else :class:`UsageError`."""
    if not _IDENTIFIER.match(name) or name in _C_KEYWORDS:
        raise UsageError(f"{name!r} is not a valid C identifier")
    return name


def _check_align(align: int) -> int:
    if not (isinstance(align, int) and 1 <= align <= 4096 and align & (align - 1) == 0):
        raise UsageError(f"the alignment must be a power of two from 1 to 4096, not {align}")
    return align


def c_source(data: Any, *, name: str = "g_model", align: int = 16,
             header: str | None = "model_data.h", language: str = "c++") -> Iterator[bytes]:
    """The source defining ``alignas(align) const unsigned char name[]`` holding ``data`` (any
    bytes-like object) and ``const unsigned int name_len``, in pieces to write one after
    another. ``header`` is included first (it gives the definitions external linkage in C++);
    ``language`` is ``"c++"`` or ``"c"`` (which includes ``<stdalign.h>`` for ``alignas``)."""
    check_c_name(name)
    _check_align(align)
    if language not in ("c", "c++"):
        raise UsageError(f"the language must be 'c' or 'c++', not {language!r}")
    view = np.frombuffer(memoryview(data).cast("B"), np.uint8)
    lines = [f"// {view.size:,} bytes of a TensorFlow Lite model, written by tflitekit export-c.",
             "// TensorFlow Lite Micro reads the model in place: keep it aligned."]
    if language == "c":
        lines.append("#include <stdalign.h>")
    if header is not None:
        lines.append(f'#include "{header}"')
    lines += ["", f"alignas({align}) const unsigned char {name}[] = {{", ""]
    yield "\n".join(lines).encode()
    step = _PER_LINE * _LINES_PER_CHUNK
    for start in range(0, view.size, step):
        yield _rows(view[start:start + step])
    yield f"}};\nconst unsigned int {name}_len = {view.size};\n".encode()


def _rows(data: np.ndarray) -> bytes:
    """``data`` as lines of ``  0x1c, 0x00, ...,`` (the last element's comma is legal C)."""
    text = _HEX[data]  # (n, 6): "0xNN, "
    full = data.size // _PER_LINE * _PER_LINE
    out = []
    if full:
        rows = text[:full].reshape(-1, 6 * _PER_LINE)
        lines = np.full((rows.shape[0], 2 + rows.shape[1]), ord(" "), np.uint8)
        lines[:, 2:] = rows
        lines[:, -1] = ord("\n")
        out.append(lines.tobytes())
    if data.size > full:
        tail = text[full:].reshape(-1).tobytes()
        out.append(b"  " + tail[:-1] + b"\n")
    return b"".join(out)


def c_header(name: str = "g_model", *, header: str = "model_data.h") -> str:
    """The header declaring what :func:`c_source` defines; its include guard is derived from
    the header's file name."""
    check_c_name(name)
    guard = re.sub(r"[^A-Za-z0-9]", "_", os.path.basename(header)).upper().lstrip("_") + "_"
    if guard[0].isdigit():
        guard = "_" + guard
    return (f"// Declares the TensorFlow Lite model written by tflitekit export-c.\n"
            f"#ifndef {guard}\n#define {guard}\n\n"
            f"extern const unsigned char {name}[];\n"
            f"extern const unsigned int {name}_len;\n\n"
            f"#endif  // {guard}\n")

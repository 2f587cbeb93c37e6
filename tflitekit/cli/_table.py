"""Text tables for the terminal: aligned columns, cells wrapped to fit a width, and names
shortened in the middle so that different names stay different."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Column", "abbreviate", "abbreviations", "table"]

_ELLIPSIS = "..."


@dataclass(frozen=True)
class Column:
    """A column: its header, alignment, and for cells given as a tuple of items the separator
    they are joined with (such cells wrap between items when the table is too wide)."""

    header: str
    right: bool = False
    sep: str = ", "


Cell = str | tuple[str, ...]


def abbreviate(name: str, width: int) -> str:
    """``name`` shortened to ``width`` characters by cutting out its middle."""
    if len(name) <= width:
        return name
    keep = max(width - len(_ELLIPSIS), 2)
    head = (keep + 1) // 2
    return name[:head] + _ELLIPSIS + name[len(name) - (keep - head):]


def abbreviations(names: Iterable[str], width: int) -> dict[str, str]:
    """Each name shortened to ``width`` characters (see :func:`abbreviate`). Names that would
    come out alike show instead the part around where they differ (``...ion_1/Fused...``), or,
    when that is not enough, more of themselves: different names are shown differently."""
    out = {name: abbreviate(name, width) for name in set(names)}
    longest = max(map(len, out), default=0)
    size = max(width, 12)
    while clashes := _clashes(out):
        involved = sorted({name for members in clashes for name in members})
        for anchored in (False, True):
            trial = {**out, **_distinguish(involved, size, anchored)}
            for _ in range(4):  # names still alike: tell those apart among themselves
                still = {name for members in _clashes(trial) for name in members}
                if not still & set(involved):
                    return trial
                trial.update(_distinguish(sorted(still), size, anchored))
        size += max(4, size // 4)
        out.update({name: abbreviate(name, size) for name in involved})
        if size >= longest:
            out.update({name: name for name in involved})
    return out


def _clashes(short: dict[str, str]) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name, shown in short.items():
        groups[shown].append(name)
    return [members for members in groups.values() if len(members) > 1]


def _distinguish(names: list[str], width: int, anchored: bool) -> dict[str, str]:
    """For each name, the part of ``width`` characters around where it differs from the names
    most like it (its neighbours in sorted order) and where it differs from the one less like
    it (or, ``anchored``, where all the names first differ): one window when the two places
    are close, else two of half the width each (``...ck_8_de...rmV3;mobilen...``)."""
    ordered = sorted(names)
    shared = [_common_prefix(a, b) for a, b in itertools.pairwise(ordered)]
    lead = width // 4
    out = {}
    for k, name in enumerate(ordered):
        near = (shared[k - 1] if k else 0, shared[k] if k < len(shared) else 0)
        common = _common_prefix(ordered[0], ordered[-1]) if anchored else min(near)
        spot = max(near)
        if spot - common < width - lead - 2 * len(_ELLIPSIS):
            out[name] = _window(name, _start(name, spot - lead, width), width)
        else:
            half = width // 2
            first = _window(name, _start(name, common - half // 4, half), half)
            first = first.removesuffix(_ELLIPSIS)
            rest = width - len(first)
            out[name] = first + _window(name, _start(name, spot - rest // 4, rest), rest)
    return out


def _start(name: str, start: int, width: int) -> int:
    """``start`` moved back so that a window of ``width`` reaching the end of ``name`` is full."""
    return max(0, min(start, len(name) - width + len(_ELLIPSIS)))


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest prefix ``a`` and ``b`` share."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _window(name: str, start: int, width: int) -> str:
    left = _ELLIPSIS if start else ""
    room = width - len(left)
    if len(name) - start <= room:
        return left + name[start:]
    return left + name[start:start + room - len(_ELLIPSIS)] + _ELLIPSIS


def _tokens(cell: Cell, sep: str) -> list[str]:
    """A cell as the pieces it may wrap between (the separator's visible part kept on the left
    piece, e.g. ``"a,"`` ``"b"`` for ``", "``)."""
    if isinstance(cell, str):
        return [cell]
    mark = sep.rstrip()
    return [item + (mark if k < len(cell) - 1 else "") for k, item in enumerate(cell)]


def _joined(cell: Cell, sep: str) -> str:
    return cell if isinstance(cell, str) else sep.join(cell)


def _wrap(tokens: list[str], width: int, space: str) -> list[str]:
    lines: list[str] = []
    for token in tokens:
        if lines and len(lines[-1]) + len(space) + len(token) <= width:
            lines[-1] += space + token
        else:
            lines.append(token)
    return lines or [""]


def table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, indent: str = "  ",
          width: int | None = None, spill: bool = False) -> list[str]:
    """Rows aligned under the column headers. With ``width``, tuple cells wrap (a row taking
    several lines) so that the table fits in ``width`` characters where it can; with ``spill``
    the last column moves to lines of its own under each row when it cannot fit beside the
    others."""
    widths = _fit(columns, rows, indent, width)
    if width is None or not spill or sum(widths) + len(indent) + 2 * len(widths) - 2 <= width:
        return _lines(columns, rows, widths, indent)
    head = _fit(columns[:-1], [r[:-1] for r in rows], indent, width)
    offset = len(indent) + sum(head[:2]) + 4
    last = columns[-1]
    lines = _lines(columns[:-1], [], head, indent)
    for row in rows:
        lines += _lines(columns[:-1], [row[:-1]], head, indent)[1:]
        cell = row[-1]
        if cell not in ("", "-", ()):
            room = max(width - offset, 1)
            space = last.sep[len(last.sep.rstrip()):] or " "
            lines += [" " * offset + text for text in _wrap(_tokens(cell, last.sep), room, space)]
    return lines


def _fit(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], indent: str,
         width: int | None) -> list[int]:
    """Column widths: each column's widest cell, then, with ``width``, columns narrowed from
    the right (not below their widest item) until the table fits."""
    widths = [max([len(c.header), *(len(_joined(r[i], c.sep)) for r in rows)])
              for i, c in enumerate(columns)]
    if width is not None:
        floors = [max([len(c.header), *(len(t) for r in rows for t in _tokens(r[i], c.sep))])
                  for i, c in enumerate(columns)]
        excess = sum(widths) - (width - len(indent) - 2 * (len(columns) - 1))
        for i in reversed(range(len(columns))):  # the rightmost columns wrap first
            cut = max(0, min(excess, widths[i] - floors[i]))
            widths[i] -= cut
            excess -= cut
    return widths


def _lines(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], widths: list[int],
           indent: str) -> list[str]:
    lines = []
    for row in ([c.header for c in columns], *rows):
        cells = []
        for cell, column, w in zip(row, columns, widths, strict=True):
            space = column.sep[len(column.sep.rstrip()):] or " "
            fits = len(_joined(cell, column.sep)) <= w
            cells.append([_joined(cell, column.sep)] if fits
                         else _wrap(_tokens(cell, column.sep), w, space))
        for k in range(max(len(c) for c in cells)):
            parts = []
            for lines_of, column, w in zip(cells, columns, widths, strict=True):
                text = lines_of[k] if k < len(lines_of) else ""
                parts.append(text.rjust(w) if column.right else text.ljust(w))
            lines.append((indent + "  ".join(parts)).rstrip())
    return lines

"""Validate a model file: everything the loader and :meth:`Model.check` can find."""

from __future__ import annotations

from typing import Any

from .errors import FormatError
from .ir import Problem
from .serde import load

__all__ = ["validate"]


def validate(source: Any) -> list[Problem]:
    """Every problem of the model at ``source`` (path, bytes or file object).

    Malformed references (indices out of range) are reported instead of raised; bytes that are
    not a flatbuffer at all give one problem carrying the :class:`FormatError` message.
    """
    problems: list[str] = []
    try:
        model = load(source, strict=False, problems=problems)
    except FormatError as exc:
        return [Problem("file", str(exc))]
    return [Problem("file", message) for message in problems] + model.check()

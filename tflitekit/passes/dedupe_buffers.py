"""dedupe_buffers: constant data that several tensors hold identically is stored once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..ir import Buffer, Model
from .base import Pass, Report

__all__ = ["DedupeBuffers", "dedupe_buffers"]


@dataclass
class DedupeBuffers(Pass):
    """Make constant tensors whose buffers hold the same bytes share one buffer.

    Variable tensors keep their own buffers (their data is the initial value of mutable state).
    Buffers left without a tensor are dropped from ``model.buffers``.
    """

    name = "dedupe_buffers"

    def run(self, model: Model, report: Report) -> None:
        kept: dict[bytes, Buffer] = {}
        dropped: dict[int, tuple[Buffer, Buffer]] = {}  # id -> (dropped buffer, buffer kept)
        for tensor in model.tensors():
            buf = tensor.buffer
            if buf is None or buf.nbytes == 0 or tensor.is_variable:
                continue
            if id(buf) not in dropped:
                digest = hashlib.blake2b(buf.data.data, digest_size=32).digest()
                first = kept.setdefault(digest, buf)
                if first is buf or first != buf:  # != compares the bytes themselves
                    continue
                dropped[id(buf)] = (buf, first)
            tensor.buffer = dropped[id(buf)][1]
        if dropped:
            model.buffers = [b for b in model.buffers if id(b) not in dropped]
            size = sum(buf.nbytes for buf, _ in dropped.values())
            report.change(f"merged {len(dropped)} buffers into identical ones ({size} bytes)")


def dedupe_buffers(model: Model) -> Model:
    """Store identical constant data once; returns ``model``."""
    DedupeBuffers()(model)
    return model

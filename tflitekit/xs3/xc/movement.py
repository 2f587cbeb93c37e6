"""The XC operators that move bytes: ``XC_pad``, ``XC_pad_1_to_4``, ``XC_pad_3_to_4``,
``XC_slice`` and ``XC_no_op``.

Each output byte is an input byte or a fill byte, whatever the tensors' type: the pads copy
runs of input bytes between runs of fill bytes by slice assignments, ``XC_slice`` gathers
through a byte index map built once. The layouts, as xmos' runtime writes them:

- ``XC_pad`` (options ``s l n p e z``): ``s`` fill bytes, then ``n`` times (``l`` input
  bytes, ``p`` fill bytes), the last ``l`` input bytes and ``e`` fill bytes; the fill is ``z``,
  the zero point's byte repeated in a 32-bit word. (``v`` only picks the copy routine.)
- ``XC_pad_1_to_4`` (``pv``): every input byte becomes a word, the byte then three pad bytes.
- ``XC_pad_3_to_4`` (``pv``): every 3-byte pixel gets a fourth, pad byte.
- ``XC_slice`` (``s o l n``): ``n`` runs of ``l`` bytes, the k-th from input byte ``s + k·o``.
- ``XC_no_op``: the input's bytes as they are (a reshape).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...interpreter.kernel import Kernel, expect_arity, run_unary, unsupported
from ...interpreter.node import Array, Node, Operand
from .custom_options import custom_options, replicated_byte

__all__ = ["KERNELS"]

_Index = npt.NDArray[np.intp]


@dataclass(frozen=True)
class _Gather:
    shape: tuple[int, ...]
    dtype: np.dtype[np.generic]
    index: _Index

    def __call__(self, x: Array) -> Array:
        data = np.ascontiguousarray(x).view(np.uint8).reshape(x.shape[0], -1)
        return np.take(data, self.index, axis=1).view(self.dtype)


@dataclass(frozen=True)
class _Bytes:
    """A movement's operands: the output's sample shape and dtype, and both byte counts."""

    shape: tuple[int, ...]
    dtype: np.dtype[np.generic]
    size: int  # input bytes
    out: int  # output bytes


def _bytes(node: Node) -> _Bytes:
    expect_arity(node, 1)
    source, result = node.input(0), node.outputs[0]
    if source.dtype is None or source.dtype != result.dtype:
        unsupported(node, f"input type {source.type_name} and output type "
                          f"{result.type_name} differ (the operator moves bytes)")
    return _Bytes(result.shape, source.dtype, _nbytes(source), _nbytes(result))


def _nbytes(operand: Operand) -> int:
    assert operand.dtype is not None
    return math.prod(operand.shape) * operand.dtype.itemsize


def _ints(node: Node, *keys: str) -> list[int]:
    opts = custom_options(node, *keys)
    values = [opts[k] for k in keys]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        unsupported(node, f"options {', '.join(keys)} are not all integers: {values}")
    return values


@dataclass(frozen=True)
class _Runs:
    """Bytes copied in ``runs`` (a count, each of ``size`` input bytes) of period ``period``
    from output byte ``start``, the rest of the output the ``fill`` byte; then ``tail``
    input bytes at ``tail_start``."""

    shape: tuple[int, ...]
    dtype: np.dtype[np.generic]
    out: int
    start: int
    runs: int
    size: int
    period: int
    tail: int
    tail_start: int
    fill: int

    def __call__(self, x: Array) -> Array:
        n = x.shape[0]
        data = np.ascontiguousarray(x).view(np.uint8).reshape(n, -1)
        out = np.full((n, self.out), self.fill, np.uint8)
        body = out[:, self.start:self.start + self.runs * self.period]
        body.reshape(n, self.runs, self.period)[:, :, :self.size] = data[
            :, :self.runs * self.size].reshape(n, self.runs, self.size)
        out[:, self.tail_start:self.tail_start + self.tail] = data[:, self.runs * self.size:]
        return out.view(self.dtype)


def _prepare_pad(node: Node) -> _Runs:
    io = _bytes(node)
    start, size, copies, gap, end, word = _ints(node, "s", "l", "n", "p", "e", "z")
    if min(start, size, copies, gap, end) < 0:
        unsupported(node, f"negative layout s={start} l={size} n={copies} p={gap} e={end}")
    if io.size != (copies + 1) * size or io.out != start + io.size + copies * gap + end:
        unsupported(node, f"layout s={start} l={size} n={copies} p={gap} e={end} does not "
                          f"map {io.size} input bytes to {io.out} output bytes")
    return _Runs(io.shape, io.dtype, io.out, start, copies, size, size + gap, size,
                 start + copies * (size + gap), replicated_byte(node, word, "z"))


def _prepare_n_to_4(n: int) -> Callable[[Node], _Runs]:
    """XC_pad_1_to_4 (n = 1) or XC_pad_3_to_4 (n = 3): groups of n bytes widened to 4."""
    def prepare(node: Node) -> _Runs:
        io = _bytes(node)
        (word,) = _ints(node, "pv")
        if io.dtype.itemsize != 1 or io.size % n or io.out != io.size // n * 4:
            unsupported(node, f"{io.size} input bytes of {io.dtype} cannot be padded from "
                              f"{n} to 4 bytes per pixel into {io.out}")
        return _Runs(io.shape, io.dtype, io.out, 0, io.size // n, n, 4, 0, io.out,
                     replicated_byte(node, word, "pv"))
    return prepare


def _prepare_slice(node: Node) -> _Gather:
    io = _bytes(node)
    start, step, size, copies = _ints(node, "s", "o", "l", "n")
    index = (start + np.arange(copies)[:, None] * step + np.arange(size)).ravel()
    if (min(start, step, size, copies) < 0 or io.out != len(index)
            or (len(index) and index.max() >= io.size)):
        unsupported(node, f"slice s={start} o={step} l={size} n={copies} does not map "
                          f"{io.size} input bytes to {io.out} output bytes")
    return _Gather(io.shape, io.dtype, index.astype(np.intp))


@dataclass(frozen=True)
class _Same:
    shape: tuple[int, ...]

    def __call__(self, x: Array) -> Array:
        return x


def _prepare_no_op(node: Node) -> _Same:
    io = _bytes(node)
    if io.size != io.out:
        unsupported(node, f"{io.size} input bytes and {io.out} output bytes differ")
    return _Same(io.shape)


KERNELS: dict[str, Kernel] = {
    "XC_pad": Kernel(_prepare_pad, run_unary),
    "XC_pad_1_to_4": Kernel(_prepare_n_to_4(1), run_unary),
    "XC_pad_3_to_4": Kernel(_prepare_n_to_4(3), run_unary),
    "XC_slice": Kernel(_prepare_slice, run_unary),
    "XC_no_op": Kernel(_prepare_no_op, run_unary),
}

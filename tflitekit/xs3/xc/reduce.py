"""The XC operators that reduce: ``XC_mean`` and ``XC_softmax``, in float32 as xmos' runtime
computes them (lib_nn's ``mean_int8`` and ``softmax_*``), operation for operation: numpy's
float32 arithmetic is IEEE single precision, as the runtime's is on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...interpreter.fixedpoint import round_half_away
from ...interpreter.kernel import Kernel, expect_arity, run_unary, unsupported
from ...interpreter.node import Array, Node, Operand
from ...options import TensorType
from .custom_options import custom_options

__all__ = ["KERNELS"]

_F32 = np.float32


def _operands(node: Node, inputs: int) -> tuple[Operand, Operand]:
    """The int8 first input and output of a node with ``inputs`` inputs and one output."""
    expect_arity(node, inputs)
    source, result = node.input(0), node.outputs[0]
    if source.type != TensorType.INT8 or result.type != TensorType.INT8:
        unsupported(node, f"input {source.type_name} and output {result.type_name}, "
                          "expected INT8")
    return source, result


def _to_int8(value: npt.NDArray[np.float32]) -> npt.NDArray[np.int8]:
    """Whole float32 values saturated to int8 (the runtime clamps a softmax output of 128);
    NaN gives 0, as the host's x86 float-to-integer conversion does."""
    return np.clip(np.nan_to_num(value, nan=0.0), -128, 127).astype(np.int8)


@dataclass(frozen=True)
class _Mean:
    shape: tuple[int, ...]
    dims: tuple[int, int, int]  # before, reduced, after
    start: int
    scale: np.float32
    offset: np.float32

    def __call__(self, x: Array) -> Array:
        acc = x.reshape(x.shape[0], *self.dims).sum(axis=2, dtype=np.int32) + self.start
        return _to_int8(round_half_away(acc.astype(_F32) * self.scale + self.offset))


def _prepare_mean(node: Node) -> _Mean:
    """Options ``s m e`` (the input as [s, m, e], the mean over m), ``i`` and ``o`` (the zero
    points, as floats) and ``sm`` (input scale / output scale, float). Per output: the int32
    sum of the m inputs plus ``(int32)(-i · m)``; times ``sm`` plus ``o`` in float32;
    rounded half away from zero and saturated to int8 (the runtime clamps, then rounds: the
    same)."""
    source, result = _operands(node, 1)
    opts = custom_options(node, "s", "m", "e", "i", "o", "sm")
    dims = (int(opts["s"]), int(opts["m"]), int(opts["e"]))
    if (min(dims) < 1 or math.prod(dims) != math.prod(source.shape)
            or dims[0] * dims[2] != math.prod(result.shape)):
        unsupported(node, f"dimensions s, m, e = {dims} do not fit input "
                          f"{list(source.shape)} and output {list(result.shape)}")
    start = int(-_F32(opts["i"]) * _F32(dims[1]))  # the C float-to-int32 conversion truncates
    return _Mean(result.shape, dims, start, _F32(opts["sm"]), _F32(opts["o"]))


@dataclass(frozen=True)
class _Softmax:
    shape: tuple[int, ...]
    table: npt.NDArray[np.float32]

    def __call__(self, x: Array) -> Array:
        exps = self.table[np.ascontiguousarray(x).view(np.uint8).reshape(x.shape[0], -1)]
        total = np.add.accumulate(exps, axis=1, dtype=_F32)[:, -1:]  # in order, as the C loop
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # infinite table entries (large logits) make sums of inf, 0 · inf = NaN: kept
            inverse = _F32(1) / total * _F32(256)
            return _to_int8(round_half_away(exps * inverse) - _F32(128))


def _prepare_softmax(node: Node) -> _Softmax:
    """Inputs int8 and a constant 256-entry float32 table of ``exp((q - zero) · scale)`` by
    int8 value q. Over the whole tensor (one row): the table values summed in order in
    float32 (the runtime's one-thread split, which xcore-opt's thread count 1 gives; other
    counts sum in per-thread parts), ``1 / sum · 256``, and each output ``round(exp · that)
    - 128`` (rounded half away from zero, in float32) saturated to int8."""
    source, _ = _operands(node, 2)
    table = node.input(1)
    if table.data is None or table.type != TensorType.FLOAT32 or table.data.size != 256:
        unsupported(node, f"table {table.name!r} is not a constant 256-entry FLOAT32 tensor")
    if math.prod(source.shape) == 0:
        unsupported(node, "empty input")
    # the table is indexed by q + 128; reorder it for indexing by q's byte (q mod 256)
    by_byte = np.roll(np.ascontiguousarray(table.data, _F32).reshape(256), -128)
    return _Softmax(node.outputs[0].shape, by_byte)


KERNELS: dict[str, Kernel] = {
    "XC_mean": Kernel(_prepare_mean, run_unary),
    "XC_softmax": Kernel(_prepare_softmax, run_unary),
}

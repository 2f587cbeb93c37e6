"""The element-wise XC operators: ``XC_add``, ``XC_mul`` and ``XC_lookup``, as xmos' host
interpreter computes them (lib_nn's reference C and its VPU model; facts in the functions).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...interpreter.kernel import Kernel, expect_arity, run_unary, unsupported
from ...interpreter.kernels.conv import chunks
from ...interpreter.node import Array, Node
from ...options import TensorType
from .custom_options import custom_options

__all__ = ["KERNELS"]

_INT32_MAX = 2**31 - 1


def _binary_int8(node: Node) -> tuple[int, ...]:
    """The output's sample shape of an int8 element-wise operator of two same-sized inputs."""
    expect_arity(node, 2)
    operands = [node.input(0), node.input(1), node.outputs[0]]
    if any(o.type != TensorType.INT8 for o in operands):
        unsupported(node, "types " + ", ".join(o.type_name for o in operands)
                    + ", expected INT8 (the int16 forms are other operators)")
    sizes = {math.prod(o.shape) for o in operands}
    if len(sizes) != 1:
        unsupported(node, "operands of " + ", ".join(str(list(o.shape)) for o in operands)
                    + " elements: the kernel does not broadcast")
    return operands[2].shape


def _flat(x: Array | None) -> Array:
    assert x is not None
    return x.reshape(x.shape[0], -1)


def _int16(value: int) -> int:
    """``(int16_t) value``."""
    return (value + 2**15) % 2**16 - 2**15


@dataclass(frozen=True)
class _Add:
    shape: tuple[int, ...]
    m1: int
    m2: int
    bias: int
    shift: int


def _prepare_add(node: Node) -> _Add:
    """Options ``m1 m2 bias shift``: the runtime keeps the multipliers as int16 and the
    shift as a VLSAT shift, which must be positive."""
    shape = _binary_int8(node)
    opts = custom_options(node, "m1", "m2", "bias", "shift")
    m1, m2, bias, shift = (int(opts[k]) for k in ("m1", "m2", "bias", "shift"))
    if not 1 <= shift <= 31:
        unsupported(node, f"shift {shift} outside 1..31 (the runtime's rounding shift is "
                          "undefined there)")
    m1, m2 = _int16(m1), _int16(m2)
    if abs(bias) + 128 * (abs(m1) + abs(m2)) + (1 << (shift - 1)) > _INT32_MAX:
        unsupported(node, f"bias {bias} with multipliers {m1}, {m2} can overflow the 32-bit "
                          "accumulator (never seen from xcore-opt; not implemented)")
    return _Add(shape, m1, m2, bias, shift)


def _run_add(p: _Add, arrays: Sequence[Array | None]) -> list[Array]:
    """On the VPU's 32-bit accumulators (which ``prepare`` ensures cannot saturate):
    ``bias + x1·m1 + x2·m2``, then VLSAT ``shift`` (add 2^(shift-1), shift right) saturated to
    [-128, 127] (the runtime's "fixed" 8-bit saturation, not the symmetric one); in place, in
    cache-sized chunks of the batch."""
    x1, x2 = _flat(arrays[0]), _flat(arrays[1])
    y = np.empty(x1.shape, np.int8)
    for part in chunks(len(x1), 8 * x1.shape[1]):
        acc = x1[part].astype(np.int32)
        acc *= p.m1
        other = x2[part].astype(np.int32)
        other *= p.m2
        acc += other
        acc += p.bias + (1 << (p.shift - 1))
        acc >>= p.shift
        np.clip(acc, -128, 127, out=y[part], casting="unsafe")
    return [y.reshape(len(x1), *p.shape)]


@dataclass(frozen=True)
class _Mul:
    shape: tuple[int, ...]
    a: int  # -(first input's zero point) - 1
    b: int  # -(second input's zero point) - 1
    bias: int
    scalar: int
    shr: int  # VLASHR shift (right when positive)


def _prepare_mul(node: Node) -> _Mul:
    """Option ``mp``: lib_nn's nn_mul_params_t (int8, int8, int16 bias, int16 scalar, int16
    shift; little-endian, 8 bytes)."""
    shape = _binary_int8(node)
    blob = custom_options(node, "mp")["mp"]
    if not isinstance(blob, bytes) or len(blob) != 8:
        unsupported(node, f"option 'mp' is not an 8-byte block: {blob!r}")
    a, b, bias, scalar, shr = struct.unpack("<bbhhh", blob)
    if shr < -16:
        unsupported(node, f"left shift {-shr} overflows the runtime's int32 arithmetic")
    return _Mul(shape, a, b, bias, scalar, shr)


def _run_mul(p: _Mul, arrays: Sequence[Array | None]) -> list[Array]:
    """lib_nn's reference: ``acc = (x1 + a + 1)(x2 + b + 1) - 1 = (x1 - z1)(x2 - z2) - 1``;
    ``(acc + 1) >> 1``; ``(· scalar + 2^13) >> 14`` (neither saturated; all fits int32);
    add ``bias`` saturated to ±32767; arithmetic shift by ``shr`` (left when negative)
    saturated to ±32767; ``(· + 128) >> 8`` saturated to [-128, 127]."""
    x1, x2 = _flat(arrays[0]).astype(np.int32), _flat(arrays[1]).astype(np.int32)
    acc = (x1 + p.a + 1) * (x2 + p.b + 1) - 1
    v = (p.scalar * ((acc + 1) >> 1) + (1 << 13)) >> 14
    v = np.clip(v + p.bias, -32767, 32767)
    v = np.clip(v >> p.shr if p.shr > 0 else v << -p.shr, -32767, 32767)
    y = np.clip((v + 128) >> 8, -128, 127).astype(np.int8)
    return [y.reshape(y.shape[0], *p.shape)]


@dataclass(frozen=True)
class _Lookup:
    shape: tuple[int, ...]
    table: npt.NDArray[np.uint8]
    dtype: np.dtype[np.generic]

    def __call__(self, x: Array) -> Array:
        """In cache-sized chunks of the batch (numpy widens the indices to intp)."""
        data = np.ascontiguousarray(x).view(np.uint8)
        out = np.empty(data.shape, np.uint8)
        for part in chunks(len(data), 9 * data[0].size):
            np.take(self.table, data[part], out=out[part])
        return out.view(self.dtype)


def _prepare_lookup(node: Node) -> _Lookup:
    """``y = table[x as uint8]``: inputs int8 and a constant 256-entry uint8 table (the
    int16 form, which interpolates, is not implemented)."""
    expect_arity(node, 2)
    source, table, result = node.input(0), node.input(1), node.outputs[0]
    if source.type != TensorType.INT8 or result.type != TensorType.INT8:
        unsupported(node, f"input {source.type_name} and output {result.type_name}: only the "
                          "int8 table look-up is implemented")
    if table.data is None or table.type != TensorType.UINT8 or table.data.size != 256:
        unsupported(node, f"table {table.name!r} is not a constant 256-entry UINT8 tensor")
    assert result.dtype is not None
    return _Lookup(result.shape, np.ascontiguousarray(table.data).reshape(256), result.dtype)


KERNELS: dict[str, Kernel] = {
    "XC_add": Kernel(_prepare_add, _run_add),
    "XC_mul": Kernel(_prepare_mul, _run_mul),
    "XC_lookup": Kernel(_prepare_lookup, run_unary),
}

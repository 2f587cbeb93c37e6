"""Test-only oracle: xmos' C VPU simulator and lib_nn's int8 output transforms, through ctypes.

``xmos-ai-tools`` ships them inside ``xinterpreters/libs/linux/xtflm_python.so``. Nothing here is
copied from it: we only call its exported functions. The library is found with
:func:`importlib.util.find_spec` (the package is not imported) and loaded on first use, so this
module imports where the package is absent (the ``xcore`` marker skips its tests there).

Layouts (from lib_nn's public headers ``vpu_sim.h``, ``vpu.hpp``, ``OutputTransformFn.hpp``):

- ``xs3_vpu``: ``{int32 mode; uint8 vR[32]; uint8 vD[32]; uint8 vC[32]}`` (100 bytes); every
  instruction takes an ``xs3_vpu*`` first, memory operands as ``const void*`` (32 bytes read),
  ``VLASHR`` an ``int32`` shift, ``VSTRPV`` an ``unsigned`` byte mask.
- ``VPURingBuffer``: ``{int16 vR[16]; int16 vD[16]}``, accumulator ``i`` = ``vD[i] << 16 | vR[i]``.
- ``otfn_int8_params_t``: ``{int32 output_slice_channel_count; int16 initial_shift; int16
  final_shr}``; its int16 table holds, per group ``g`` of 16 channels at ``32 * g``, the group's
  ``n`` multipliers then its ``n`` biases (``n`` < 16 only in the last group).
- ``otfn_int8_channelwise_params_t``: ``{int32 output_slice_channel_count; int16 final_shr}``; its
  table holds, per group at ``48 * g``, ``n`` initial shifts, ``n`` multipliers, ``n`` biases.
- ``int8* otfn(params*, int8* Y, VPURingBuffer* A, int32 output_channel_group, int16* table)``
  writes the group's ``n`` outputs at ``Y`` and returns ``Y + n``.
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["MODES", "Simulator", "library_path", "otfn_int8", "otfn_int8_channelwise"]

#: VSETC control values of the three lane widths, by lane bits.
MODES = {32: 0x000, 16: 0x100, 8: 0x200}
_GROUP = 16
_VEC = ctypes.c_uint8 * 32
_LIB_RELATIVE = Path("xinterpreters", "libs", "linux", "xtflm_python.so")

#: Instruction name -> extra argument types after ``xs3_vpu*`` (``None``: the memory operand).
_INSTRUCTIONS: dict[str, tuple[object, ...]] = {
    "VSETC": (ctypes.c_int,), "VCLRDR": (),
    **{name: (ctypes.c_void_p,) for name in (
        "VLDR", "VLDD", "VLDC", "VSTR", "VSTD", "VSTC", "VLMACC", "VLMACCR", "VLMACCR1",
        "VLSAT", "VLADD", "VLSUB", "VLMUL")},
    "VSTRPV": (ctypes.c_void_p, ctypes.c_uint), "VLASHR": (ctypes.c_void_p, ctypes.c_int32),
    "VPOS": (), "VDEPTH1": (), "VDEPTH8": (), "VDEPTH16": ()}


class _XS3VPU(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int32), ("vR", _VEC), ("vD", _VEC), ("vC", _VEC)]


class _RingBuffer(ctypes.Structure):
    _fields_ = [("vR", ctypes.c_int16 * _GROUP), ("vD", ctypes.c_int16 * _GROUP)]


class _OtfnInt8Params(ctypes.Structure):
    _fields_ = [("output_slice_channel_count", ctypes.c_int32),
                ("initial_shift", ctypes.c_int16), ("final_shr", ctypes.c_int16)]


class _OtfnChannelwiseParams(ctypes.Structure):
    _fields_ = [("output_slice_channel_count", ctypes.c_int32), ("final_shr", ctypes.c_int16)]


def library_path() -> Path | None:
    """``xtflm_python.so`` of the installed ``xmos_ai_tools`` (without importing it), or None."""
    try:
        spec = importlib.util.find_spec("xmos_ai_tools")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / _LIB_RELATIVE
        if path.is_file():
            return path
    return None


@cache
def _library() -> ctypes.CDLL:
    path = library_path()
    if path is None:
        raise RuntimeError("xmos-ai-tools is not installed (pip install --no-deps xmos-ai-tools)")
    lib = ctypes.CDLL(str(path))
    vpu_p = ctypes.POINTER(_XS3VPU)
    for name, args in _INSTRUCTIONS.items():
        fn = getattr(lib, name)
        fn.argtypes = [vpu_p, *args]
        fn.restype = None
    otfn_args = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_RingBuffer), ctypes.c_int32,
                 ctypes.c_void_p]
    for symbol in (_OTFN_INT8, _OTFN_CHANNELWISE):
        fn = getattr(lib, symbol)
        fn.argtypes = otfn_args
        fn.restype = ctypes.c_void_p
    return lib


_OTFN_INT8 = "_ZN2nn9otfn_int8EPKNS_18otfn_int8_params_tEPaP13VPURingBufferiPs"
_OTFN_CHANNELWISE = ("_ZN2nn21otfn_int8_channelwiseEPKNS_30otfn_int8_channelwise_params_tEPaP"
                     "13VPURingBufferiPs")


def _vector(data: bytes) -> ctypes.Array[ctypes.c_uint8]:
    if len(data) != 32:
        raise ValueError(f"a vector operand is 32 bytes, got {len(data)}")
    return _VEC.from_buffer_copy(data)


class Simulator:
    """One ``xs3_vpu`` of the C simulator. Registers and memory operands are 32-byte values;
    stores return the 32 bytes written (``vstrpv`` over the given prior memory contents)."""

    def __init__(self) -> None:
        self._lib = _library()
        self._vpu = _XS3VPU()

    @property
    def mode(self) -> int:
        return int(self._vpu.mode)

    def registers(self) -> dict[str, bytes]:
        return {name: bytes(getattr(self._vpu, name)) for name in ("vC", "vD", "vR")}

    def set_registers(self, *, vC: bytes | None = None, vD: bytes | None = None,
                      vR: bytes | None = None) -> None:
        for name, value in (("vC", vC), ("vD", vD), ("vR", vR)):
            if value is not None:
                setattr(self._vpu, name, _vector(value))

    def _call(self, name: str, *args: object) -> None:
        getattr(self._lib, name)(ctypes.byref(self._vpu), *args)

    def _load(self, name: str, operand: bytes, *args: object) -> None:
        buffer = _vector(operand)  # alive for the call
        self._call(name, ctypes.addressof(buffer), *args)

    def _store(self, name: str, *args: object, before: bytes = bytes(32)) -> bytes:
        out = _vector(before)
        self._call(name, ctypes.addressof(out), *args)
        return bytes(out)

    def vsetc(self, mode: int) -> None:
        self._call("VSETC", mode)

    def vclrdr(self) -> None:
        self._call("VCLRDR")

    def vldr(self, operand: bytes) -> None:
        self._load("VLDR", operand)

    def vldd(self, operand: bytes) -> None:
        self._load("VLDD", operand)

    def vldc(self, operand: bytes) -> None:
        self._load("VLDC", operand)

    def vstr(self) -> bytes:
        return self._store("VSTR")

    def vstd(self) -> bytes:
        return self._store("VSTD")

    def vstc(self) -> bytes:
        return self._store("VSTC")

    def vstrpv(self, mask: int, before: bytes) -> bytes:
        return self._store("VSTRPV", mask, before=before)

    def vlmacc(self, operand: bytes) -> None:
        self._load("VLMACC", operand)

    def vlmaccr(self, operand: bytes) -> None:
        self._load("VLMACCR", operand)

    def vlmaccr1(self, operand: bytes) -> None:
        self._load("VLMACCR1", operand)

    def vlsat(self, operand: bytes) -> None:
        self._load("VLSAT", operand)

    def vlashr(self, operand: bytes, shr: int) -> None:
        self._load("VLASHR", operand, shr)

    def vladd(self, operand: bytes) -> None:
        self._load("VLADD", operand)

    def vlsub(self, operand: bytes) -> None:
        self._load("VLSUB", operand)

    def vlmul(self, operand: bytes) -> None:
        self._load("VLMUL", operand)

    def vpos(self) -> None:
        self._call("VPOS")

    def vdepth1(self) -> None:
        self._call("VDEPTH1")

    def vdepth8(self) -> None:
        self._call("VDEPTH8")

    def vdepth16(self) -> None:
        self._call("VDEPTH16")


def _run_groups(symbol: str, params: ctypes.Structure, accumulators: npt.ArrayLike,
                table: npt.NDArray[np.int16]) -> npt.NDArray[np.int8]:
    """Call an output transform once per group of 16 channels of ``accumulators`` (C,)."""
    acc = np.asarray(accumulators, dtype=np.int64).astype(np.int32)
    count = acc.shape[0]
    fn = getattr(_library(), symbol)
    # Padded: the channelwise form reads 16 shifts even in a short last group.
    table_c = np.ascontiguousarray(np.concatenate([table, np.zeros(3 * _GROUP, np.int16)]))
    out = (ctypes.c_int8 * (count + 32))()
    ring = _RingBuffer()
    for group in range(-(-count // _GROUP)):
        lanes = np.zeros(_GROUP, np.int32)
        chunk = acc[group * _GROUP:(group + 1) * _GROUP]
        lanes[:chunk.shape[0]] = chunk
        ring.vR[:] = (lanes & 0xFFFF).astype(np.uint16).view(np.int16).tolist()
        ring.vD[:] = (lanes >> 16).astype(np.int16).tolist()
        end = fn(ctypes.byref(params), ctypes.addressof(out) + group * _GROUP,
                 ctypes.byref(ring), group, table_c.ctypes.data)
        assert end == ctypes.addressof(out) + group * _GROUP + chunk.shape[0]
    return np.frombuffer(bytes(out), dtype=np.int8)[:count].copy()


def _table(columns: list[npt.ArrayLike], count: int) -> npt.NDArray[np.int16]:
    """Per group of 16 channels: each column's slice for the group, at a stride of
    ``len(columns) * 16`` int16 per group."""
    arrays = [np.asarray(c, dtype=np.int64) for c in columns]
    for a in arrays:
        if a.shape != (count,):
            raise ValueError(f"expected {count} per-channel values, got shape {a.shape}")
    stride = len(arrays) * _GROUP
    table = np.zeros(stride * -(-count // _GROUP), np.int16)
    for start in range(0, count, _GROUP):
        parts = [a[start:start + _GROUP] for a in arrays]
        packed = np.concatenate(parts).astype(np.int16)
        base = start // _GROUP * stride
        table[base:base + packed.shape[0]] = packed
    return table


def otfn_int8(accumulators: npt.ArrayLike, multipliers: npt.ArrayLike, biases: npt.ArrayLike,
              initial_shift: int, final_shr: int) -> npt.NDArray[np.int8]:
    """``nn::otfn_int8`` (group form) over int32 ``accumulators`` (C,) -> int8 (C,)."""
    count = np.shape(accumulators)[0]
    params = _OtfnInt8Params(count, initial_shift, final_shr)
    return _run_groups(_OTFN_INT8, params, accumulators,
                       _table([multipliers, biases], count))


def otfn_int8_channelwise(accumulators: npt.ArrayLike, initial_shifts: npt.ArrayLike,
                          multipliers: npt.ArrayLike, biases: npt.ArrayLike,
                          final_shr: int) -> npt.NDArray[np.int8]:
    """``nn::otfn_int8_channelwise`` over int32 ``accumulators`` (C,) -> int8 (C,)."""
    count = np.shape(accumulators)[0]
    params = _OtfnChannelwiseParams(count, final_shr)
    return _run_groups(_OTFN_CHANNELWISE, params, accumulators,
                       _table([initial_shifts, multipliers, biases], count))

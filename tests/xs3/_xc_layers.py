"""Hand-made XC_conv2d_v2 / XC_maxpool2d nodes for the default tier: the option blocks, weights
and transform table in the layouts lib_nn documents (written here independently of
``tflitekit.xs3.xc.params``, which decodes them), and a loop reference of the layer."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from flatbuffers import flexbuffers  # type: ignore[import-untyped]

from tflitekit.interpreter.node import Node, Operand
from tflitekit.options import BuiltinOperator, TensorType
from tflitekit.xs3.output_transform import OutputTransform

Int8s = npt.NDArray[np.int8]
_DTYPES: dict[TensorType, np.dtype[Any]] = {TensorType.INT8: np.dtype(np.int8),
                                             TensorType.INT16: np.dtype(np.int16)}


@dataclass(frozen=True)
class Spec:
    """A layer: kernel type ``k`` (0-4, or "maxpool"), input ``(H, W, C)``, ``OC`` outputs
    (the input's C for depthwise and pooling), kernel, strides, dilations, top/left padding
    (padded kernels), pad byte, transform type ``t``."""

    k: int | str
    input: tuple[int, int, int]
    oc: int
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int] = (0, 0)
    pad_value: int = 0
    t: int = 0

    @property
    def output(self) -> tuple[int, int]:
        (h, w, _), (kh, kw), (sh, sw), (dh, dw) = self.input, self.kernel, self.stride, \
            self.dilation
        top, left = self.pads
        # padded layers pad symmetrically (TFLite SAME-like)
        return ((h + 2 * top - (kh - 1) * dh - 1) // sh + 1,
                (w + 2 * left - (kw - 1) * dw - 1) // sw + 1)


def mp_block(s: Spec) -> bytes:
    (h, w, c), (kh, kw), (sh, sw), (dh, dw) = s.input, s.kernel, s.stride, s.dilation
    if s.k in (2, 4):
        copy = 16 if s.k == 4 else c
        return struct.pack("<16i", kh, h, kw, w, c * dw, dw, dh * w * c - c * dw * kw, dh, copy,
                           s.pad_value, w * c, c, s.pads[1], s.pads[0], sh, sw)
    if s.k == 1:
        groups = -(-c // 32)
        mask = (1 << (c % 32)) - 1 if c % 32 else 0xFFFFFFFF
        return struct.pack("<9iI", w * c * sh, c * sw, kh - 1, kw - 1, groups - 1,
                           groups * 32 - c - 32, c * dw - groups * 32, w * c * dh - kw * c * dw,
                           mask, 0)
    return struct.pack("<2i", w * c * sh, c * sw)


def _a(s: Spec) -> bytes:
    (_, w, c), (kh, kw), (dh, dw) = s.input, s.kernel, s.dilation
    if s.k == 0:
        return struct.pack("<6i", kh * kw * c * 16, kh - 1, kw - 1, c // 32 - 1, c * dw - c,
                           w * c * dh - kw * c * dw)
    if s.k == 4:
        return struct.pack("<5i", kh * kw * 16, 0, kh * kw - 1, 16, 0)
    if s.k in (3, "maxpool"):
        return struct.pack("<5i", kh * kw * 16, kh - 1, kw - 1, c * dw, w * c * dh - kw * c * dw)
    return struct.pack("<2i", s.oc, kh * kw * c)


def region(s: Spec, **changes: int) -> bytes:
    """The whole output as one thread's region (fields overridable by name)."""
    oh, ow = s.output
    fields = {"h0": 0, "h1": oh, "w0": 0, "w1": ow, "g0": 0, "g1": -(-s.oc // 16), "channel": 0,
              "row_step": 0, "pixel_step": s.oc, "input_offset": 0} | changes
    return struct.pack("<10i", *fields.values()) + b"00"


def dense_layout(w: Int8s) -> Int8s:
    """``(OC, K)`` weights in lib_nn's order: per 16 channels, per 32-byte chunk, the rows last
    channel first; then pad bytes to a 16-row block past the last chunk."""
    oc, k = w.shape
    out: list[int] = []
    for g in range(0, oc, 16):
        rows = w[g:g + 16]
        for c in range(0, k, 32):
            for row in rows[::-1]:
                out.extend(row[c:c + 32].tolist())
    last = len(rows) * (k - 32 * ((k - 1) // 32))
    return np.array(out + [0] * (512 - last), np.int8)


def depthwise_layout(w: Int8s) -> Int8s:
    """``(KH, KW, C)`` weights: per 16 channels, per tap, 16 weights (zero-padded), then 16."""
    kh, kw, c = w.shape
    groups = -(-c // 16)
    padded = np.zeros((kh, kw, groups * 16), np.int8)
    padded[..., :c] = w
    blocks = padded.reshape(kh, kw, groups, 16).transpose(2, 0, 1, 3).reshape(-1)
    return np.concatenate([blocks, np.zeros(16, np.int8)])


def table(transform: OutputTransform, channelwise: bool) -> npt.NDArray[np.int16]:
    """The int16 table: per group, (shifts,) multipliers, biases of its channels."""
    parts = [transform.multiplier, transform.bias]
    if channelwise:
        parts.insert(0, transform.initial_shift)
    out: list[int] = []
    for g in range(0, transform.channels, 16):
        for p in parts:
            out.extend(p[g:g + 16].tolist())
    return np.array(out + [0] * 16, np.int16)


def _operand(name: str, kind: TensorType, shape: tuple[int, ...], data: Any = None,
             batched: bool = False) -> Operand:
    return Operand(name, kind, _DTYPES[kind], shape, data=data, batched=batched)


@dataclass(frozen=True)
class Layer:
    """A spec with its weights (standard layout) and transform, and its node."""

    spec: Spec
    weights: Int8s | None
    transform: OutputTransform | None
    node: Node

    def reference(self, x: Int8s) -> Int8s:
        """The layer by loops: ``x`` ``(N, H, W, C)`` → ``(N, OH, OW, OC)``."""
        s = self.spec
        (kh, kw), (sh, sw), (dh, dw), (top, left) = s.kernel, s.stride, s.dilation, s.pads
        img = np.pad(x.astype(np.int64), ((0, 0), (top, top), (left, left), (0, 0)),
                     constant_values=s.pad_value)
        oh, ow = s.output
        acc = np.zeros((len(x), oh, ow, s.oc), np.int64)
        for i in range(oh):
            for j in range(ow):
                win = img[:, i * sh:i * sh + (kh - 1) * dh + 1:dh,
                          j * sw:j * sw + (kw - 1) * dw + 1:dw]
                if self.weights is None:
                    acc[:, i, j] = win.max(axis=(1, 2))
                elif s.k in (3, 4):
                    acc[:, i, j] = (win * self.weights).sum(axis=(1, 2))
                else:
                    acc[:, i, j] = np.einsum("nabc,oabc->no", win,
                                             self.weights.astype(np.int64))
        if self.transform is None:
            return acc.astype(np.int8)
        return self.transform.apply(acc)


def layer(spec: Spec, seed: int = 0, *, options: dict[str, Any] | None = None,
          weights_data: Int8s | None = None, table_data: npt.NDArray[np.int16] | None = None,
          input_type: TensorType = TensorType.INT8) -> Layer:
    """A random layer of ``spec``; ``options`` override option entries (None deletes one)."""
    rng = np.random.default_rng(seed)
    s = spec
    oh, ow = s.output
    opts: dict[str, Any] = {"mp": mp_block(s), "a": _a(s), "p": [region(s)], "s": 0}
    x_op = _operand("x", input_type, (1, *s.input), batched=True)
    y_op = _operand("y", TensorType.INT8, (1, oh, ow, s.oc))
    weights = transform = None
    if s.k == "maxpool":
        opts["o"] = struct.pack("<ih2x", s.oc, 0)
        inputs: tuple[Operand | None, ...] = (x_op, None)
        code = "XC_maxpool2d"
    else:
        depthwise = s.k in (3, 4)
        kh, kw = s.kernel
        shape = (kh, kw, s.oc) if depthwise else (s.oc, kh, kw, s.input[2])
        weights = rng.integers(-128, 128, shape, dtype=np.int8)
        cw = s.t == 1
        shifts = rng.integers(0, 8, s.oc) if cw else np.full(s.oc, rng.integers(-2, 8))
        transform = OutputTransform(shifts.astype(np.int16),
                                    rng.integers(1, 32768, s.oc).astype(np.int16),
                                    rng.integers(-20000, 20000, s.oc).astype(np.int16),
                                    np.full(s.oc, rng.integers(-3, 1), np.int16))
        opts |= {"k": s.k, "t": s.t,
                 "o": struct.pack("<ih2x", s.oc, int(transform.final_shift[0])) if cw else
                 struct.pack("<ihh", s.oc, int(transform.initial_shift[0]),
                             int(transform.final_shift[0]))}
        wdata = weights_data if weights_data is not None else (
            depthwise_layout(weights) if depthwise else dense_layout(weights.reshape(s.oc, -1)))
        tdata = table_data if table_data is not None else table(transform, cw)
        inputs = (x_op, _operand("w", TensorType.INT8, wdata.shape, wdata),
                  _operand("m", TensorType.INT16, tdata.shape, tdata), None, None)
        code = "XC_conv2d_v2"
    for key, value in (options or {}).items():
        if value is None:
            opts.pop(key)
        else:
            opts[key] = value
    node = Node(BuiltinOperator.CUSTOM, 1, None, inputs, (y_op,), custom_code=code,
                custom_options=bytes(flexbuffers.Dumps(opts)), where="test layer")
    return Layer(spec, weights, transform, node)


def with_spec(spec: Spec, **changes: Any) -> Spec:
    return replace(spec, **changes)

"""Hand-made XC_conv2d_v2 / XC_maxpool2d nodes for the default tier: the option blocks, weights
and transform table written as lib_nn lays them out (a transcription of its constructors and
reorderings, independent of ``tflitekit.xs3.xc.params``), and a loop reference of the layer;
for the xcore tier, corpus layers with the inputs and outputs xmos' host interpreter gives
them (:func:`host_layers`)."""

from __future__ import annotations

import functools
import struct
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from flatbuffers import flexbuffers  # type: ignore[import-untyped]

from tflitekit import Tensor, load
from tflitekit.interpreter.node import Node, Operand, describe
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


# -- the xcore tier: corpus layers' inputs and outputs from xmos' host interpreter -------------

HOST_OUTPUTS = 40
"""Outputs xmos' host interpreter accepts (``NUM_OUTPUT_TENSORS`` of its ``xtflm_conf.h``)."""


@functools.cache
def converted(name: str) -> Path:
    """Corpus model ``name`` converted by xcore-opt (once per process); skips, naming
    xmos-ai-tools, without the converter. The plain model, not the exposed one: xcore-opt
    crashes on some exposed models, and :func:`host_layers` exposes what it needs itself."""
    from conftest import convert_xcore, corpus_dir
    try:
        converter, _ = convert_xcore.find_converter()
    except convert_xcore.ConvertError as exc:
        pytest.skip(f"the xcore tier needs xmos-ai-tools: {exc}")
    target = Path(tempfile.mkdtemp(prefix="xc-layers-")) / f"{name}.xcore.tflite"
    convert_xcore.convert(corpus_dir() / "models" / f"{name}.tflite", target, converter)
    return target


def _random_input(t: Tensor, samples: int, rng: np.random.Generator) -> npt.NDArray[Any]:
    """Uniform integers; for a float input quantized by its consumer, int8 values dequantized."""
    shape = (samples, *(t.shape or ())[1:])
    dtype = t.numpy_dtype
    assert dtype is not None
    if dtype.kind in "iu":
        return rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    q = next(op.outputs[0].quantization for op in t.consumers
             if op.outputs[0].quantization is not None)
    assert q.scale is not None and q.zero_point is not None
    codes = rng.integers(-128, 128, shape)
    values: npt.NDArray[Any] = ((codes - q.zero_point[0]) * q.scale[0]).astype(dtype)
    return values


def host_layers(path: Path, codes: Collection[str], samples: int = 5, seed: int = 0
                ) -> list[tuple[Node, Int8s, Int8s]]:
    """Each operator of ``codes`` in the converted model at ``path``: its node and the input
    and output xmos' host interpreter gives it on ``samples`` random model inputs
    (``(samples, *shape)`` each). The model is run with those tensors as its outputs, 40 at a
    time, without the converter's arena plan (made for the file's own outputs, it would let
    the new outputs be overwritten)."""
    from _xmos_host import run_host

    model = load(path)
    model.metadata = [m for m in model.metadata if m.name != "OfflineMemoryAllocation"]
    graph = model.main
    ops = [op for op in graph.operators if op.opcode.is_custom and op.opcode.custom_code in codes]
    rng = np.random.default_rng(seed)
    inputs = [_random_input(t, samples, rng) for t in graph.inputs]
    values: dict[int, Int8s] = {id(t): x for t, x in zip(graph.inputs, inputs, strict=True)}
    wanted = list({id(t): t for op in ops for t in (op.inputs[0], op.outputs[0])
                   if t is not None and id(t) not in values}.values())
    for start in range(0, len(wanted), HOST_OUTPUTS):
        graph.outputs = wanted[start:start + HOST_OUTPUTS]
        outs = run_host(model.to_bytes(), inputs)
        values.update((id(t), o) for t, o in zip(graph.outputs, outs, strict=True))
    graph_ops = list(graph.operators)
    return [(describe(op, {id(op.inputs[0])}, where=f"operator {graph_ops.index(op)}"),
             values[id(op.inputs[0])], values[id(op.outputs[0])]) for op in ops]

"""compress_weights: encode constant weight tensors inside the model, in one of two forms.

**TFLite Micro form** (``format="tflm"``, codecs ``"lut"`` and ``"huffman"``): the model runs in
TFLite Micro, which decodes the weights itself. Each compressed tensor keeps its place and name
but becomes a UINT8 ``[nbytes]`` tensor of encoded bytes (no quantization); an ancillary UINT8
tensor ``<name>_ancillary`` holds the 16-byte header and tables (:mod:`tflitekit.codecs.tflm`);
before each operator that reads compressed tensors, one ``TFLM_DECODE`` custom operator (no
custom options) takes an ``[encoded, ancillary]`` pair per tensor and writes ``<name>_decoded``,
a copy of the original tensor without data. LUT tables are per channel exactly when the tensor
is quantized per channel (on its quantized dimension, 0 or the last), as the runtime decodes.

**tflitekit container** (``format="container"``, any :mod:`tflitekit.codecs` parameters): the
file is still a valid ``.tflite`` but does not run until ``decompress_weights``. Each compressed
tensor keeps its place, name and quantization; its type becomes UINT8, its shape ``[nbytes]``
and its buffer the bytes of :meth:`~tflitekit.codecs.Encoded.to_bytes`. The metadata entry
``TFLITEKIT_COMPRESSION`` (UTF-8 JSON) lists them::

    {"version": 1,
     "tensors": [{"subgraph": 0, "tensor": 3, "name": "w", "dtype": "INT8",
                  "shape": [8, 3, 3, 1], "shape_signature": null, "codec": "kmeans"}]}

``subgraph`` and ``tensor`` are indices in the file, ``dtype`` the original TensorType name,
``shape`` / ``shape_signature`` the original ones. A reader that sees an unknown ``version``
must refuse the file.

Values are stored losslessly: a LUT needs at most ``2**bits`` distinct values per channel (at
most 128), so cluster the weights first, here with ``quantize=`` (codec parameters whose
``decode(encode(w))`` replaces each tensor's values before it is stored).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .. import codecs
from ..codecs import tflm
from ..errors import CodecError, PassError
from ..ir import Model, Operator, Subgraph, Tensor, dtypes
from ..options import TensorType
from .base import Pass, PassResult, Report

__all__ = ["CONTAINER_METADATA", "CONTAINER_VERSION", "CompressWeights", "CompressedTensor",
           "compress_weights", "compressed_tensors", "following_quantization", "tflm_encode"]

CONTAINER_METADATA = "TFLITEKIT_COMPRESSION"
CONTAINER_VERSION = 1
_WEIGHT_TYPES = (TensorType.INT8, TensorType.INT16)
_CONTAINER_TYPES = (TensorType.INT8, TensorType.INT16, TensorType.FLOAT32)

Format = Literal["tflm", "container"]


@dataclass
class CompressWeights(Pass):
    """Encode constant tensors (see the module docstring for both storage forms).

    ``tensors``: names to compress (each must be a constant read by operators; a tensor that
    cannot be compressed raises :class:`PassError`), or None for every constant weight tensor
    (INT8 / INT16, FLOAT32 too in the container) whose encoding is smaller than its data;
    the others are skipped with the reason. ``codec``: ``"lut"`` or ``"huffman"`` in the
    TFLite Micro form, codec parameters in the container. ``bits``: the LUT index width
    (default: the fewest that fit). ``quantize``: codec parameters applied to the values first
    (``decode(encode(values))``), e.g. a k-means clustering.
    """

    tensors: Collection[str] | None = None
    codec: Any = "lut"
    bits: int | None = None
    quantize: Any = None
    format: Format = "tflm"

    name = "compress_weights"

    def __call__(self, model: Model, *, check: bool | None = None) -> PassResult:
        """Run the pass; a container model does not pass :meth:`Model.check` (its encoded
        tensors do not suit their readers until decompressed), so that form is not checked."""
        return super().__call__(model, check=False if self.format == "container" else check)

    def requires(self, model: Model) -> None:
        if self.format == "tflm":
            if self.codec not in ("lut", "huffman"):
                raise PassError(f"the tflm format takes codec 'lut' or 'huffman', not "
                                f"{self.codec!r} (use format='container')")
            if self.bits is not None and (self.codec != "lut" or not 1 <= self.bits <= 7):
                raise PassError("bits is the LUT index width, 1 to 7")
        elif self.format == "container":
            if type(self.codec) not in codecs.CODECS:
                raise PassError(f"the container format takes codec parameters (one of "
                                f"{sorted(p.__name__ for p in codecs.CODECS)}), not "
                                f"{self.codec!r}")
        else:
            raise PassError(f"format {self.format!r}: expected 'tflm' or 'container'")
        if self.quantize is not None and type(self.quantize) not in codecs.CODECS:
            raise PassError(f"quantize takes codec parameters, not {self.quantize!r}")
        if self.tensors is not None:
            known = {t.name for t in model.tensors()}
            missing = sorted(set(self.tensors) - known)
            if missing:
                raise PassError(f"no tensor named {', '.join(map(repr, missing))}")

    def run(self, model: Model, report: Report) -> None:
        shared = _buffer_users(model)
        for g, graph in enumerate(model.subgraphs):
            pending: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
            for t, tensor in enumerate(graph.tensors):
                why = self._refusal(tensor, shared)
                if why is None:
                    why = self._encode(model, (g, t), tensor, pending, report)
                    if why is None:
                        continue
                if self.tensors is not None and tensor.name in self.tensors:
                    raise PassError(f"cannot compress {tensor.name!r}: {why}")
                if why and self.tensors is None and tensor.is_constant:
                    report.skip(f"{tensor.name!r}: {why}")
            if pending:
                _insert_decodes(graph, pending)

    def _refusal(self, tensor: Tensor, shared: dict[int, int]) -> str | None:
        """Why ``tensor`` is not a candidate ('' when it is silently not one)."""
        if self.tensors is not None and tensor.name not in self.tensors:
            return ""
        if not tensor.is_constant or tensor.buffer is None:
            return "" if self.tensors is None else "it is not a constant"
        allowed = _WEIGHT_TYPES if self.format == "tflm" else _CONTAINER_TYPES
        if self.tensors is None and tensor.dtype not in allowed:
            return ""
        if not tensor.consumers or tensor.is_graph_output or tensor.is_graph_input:
            return "no operator reads it, or it is a subgraph input or output"
        if shared[id(tensor.buffer)] > 1:
            return "its buffer is shared with another tensor"
        return None

    def _values(self, tensor: Tensor) -> np.ndarray:
        values = tensor.data
        assert values is not None
        if self.quantize is not None:
            params = following_quantization(self.quantize, tensor)
            values = codecs.decode(codecs.encode(values, params)).astype(values.dtype)
        return np.asarray(values)

    def _encode(self, model: Model, where: tuple[int, int], tensor: Tensor,
                pending: dict[int, tuple[Tensor, Tensor, Tensor]], report: Report) -> str | None:
        """Compress ``tensor`` (at ``where``: subgraph, tensor index) in place, adding its
        decoded template and ancillary tensor to ``pending`` in the tflm form; the reason when
        it is not compressed."""
        try:
            values = self._values(tensor)
            if self.format == "container":
                payload = codecs.encode(values,
                                        following_quantization(self.codec, tensor)).to_bytes()
                size = len(payload)
            else:
                encoded, ancillary = tflm_encode(values, tensor, self.codec, self.bits)
                size = len(encoded) + len(ancillary)
        except CodecError as exc:
            return str(exc)
        before = int(values.nbytes)
        if self.tensors is None and size >= before:
            return f"its encoding ({size} bytes) is no smaller than its data ({before} bytes)"
        assert tensor.buffer is not None
        if self.format == "container":
            _add_entry(model, {"subgraph": where[0], "tensor": where[1], "name": tensor.name,
                               "dtype": dtypes.name(tensor.dtype), "shape": list(values.shape),
                               "shape_signature": None if tensor.shape_signature is None
                               else list(tensor.shape_signature), "codec": self.codec_name})
            tensor.buffer.data = np.frombuffer(payload, np.uint8)
        else:
            template = _clone(tensor, f"{tensor.name}_decoded")
            tensor.buffer.data = np.frombuffer(encoded, np.uint8)
            anc = Tensor.constant(f"{tensor.name}_ancillary", np.frombuffer(ancillary, np.uint8))
            pending[id(tensor)] = (tensor, template, anc)
            tensor.quantization = None
        tensor.dtype = TensorType.UINT8
        tensor.shape = (size if self.format == "container" else len(encoded),)
        tensor.shape_signature = None
        report.change(f"{tensor.name!r}: {before} -> {size} bytes "
                      f"({8 * size / max(values.size, 1):.2f} bits per weight, {self.codec_name})")
        return None

    @property
    def codec_name(self) -> str:
        if isinstance(self.codec, str):
            return self.codec
        return str(codecs.CODECS[type(self.codec)].name)


def following_quantization(params: Any, tensor: Tensor) -> Any:
    """``params`` for ``tensor``: codec parameters with an ``axis`` left at None take the
    tensor's per-channel quantized dimension, so that values are quantized per channel exactly
    when the tensor is (as its scales are)."""
    q = tensor.quantization
    per_channel = q is not None and q.scale is not None and q.scale.size > 1
    if (per_channel and dataclasses.is_dataclass(params) and hasattr(params, "axis")
            and params.axis is None):
        assert q is not None
        return dataclasses.replace(params, axis=q.quantized_dimension)  # type: ignore[type-var]
    return params


@dataclass(frozen=True)
class CompressedTensor:
    """A compressed tensor as the model holds it: its name, original type and shape, the
    bytes it took and takes now (encoded data plus, in the TFLite Micro form, its ancillary
    header and tables), and how it is coded (``lut``, ``huffman``, or a codec's name)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    bytes_before: int
    bytes_after: int
    codec: str

    @property
    def bits_per_weight(self) -> float:
        elements = int(np.prod(self.shape, dtype=np.int64))
        return 8 * self.bytes_after / elements if elements else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "bytes_before": self.bytes_before, "bytes_after": self.bytes_after,
                "bits_per_weight": self.bits_per_weight, "codec": self.codec}


def compressed_tensors(model: Model) -> tuple[CompressedTensor, ...]:
    """Every compressed tensor of ``model``, in either form (each once)."""
    found: dict[str, CompressedTensor] = {}
    for op in model.operators():
        if not (op.opcode.is_custom and op.opcode.custom_code == tflm.DECODE):
            continue
        for encoded, ancillary, decoded in zip(op.inputs[::2], op.inputs[1::2], op.outputs,
                                               strict=False):
            if encoded is None or ancillary is None or encoded.buffer is None:
                continue
            shape = tuple(decoded.shape or ())
            size = int(np.prod(shape, dtype=np.int64)) * (dtypes.itemsize(decoded.dtype) or 0)
            kind = "huffman" if ancillary.data is not None and ancillary.data.size and \
                int(ancillary.data.reshape(-1)[0]) == 1 else "lut"
            found.setdefault(encoded.name or "", CompressedTensor(
                encoded.name or "", dtypes.name(decoded.dtype), shape, size,
                encoded.buffer.nbytes + (0 if ancillary.buffer is None
                                         else ancillary.buffer.nbytes), kind))
    entry = read_container(model)
    for item in [] if entry is None else entry["tensors"]:
        tensor = model.subgraphs[item["subgraph"]].tensors[item["tensor"]]
        shape = tuple(item["shape"])
        itemsize = dtypes.itemsize(TensorType[item["dtype"]]) or 0
        found.setdefault(item["name"], CompressedTensor(
            item["name"], item["dtype"], shape, int(np.prod(shape, dtype=np.int64)) * itemsize,
            0 if tensor.buffer is None else tensor.buffer.nbytes, item["codec"]))
    return tuple(found.values())


def tflm_encode(values: np.ndarray, tensor: Tensor, codec: str,
                bits: int | None) -> tuple[bytes, bytes]:
    """``values`` of ``tensor`` in TFLite Micro's ``TFLM_DECODE`` form: the encoded data and the
    ancillary data (header and tables), as ``codec`` (``lut``, with ``bits``-bit indices or the
    fewest that fit, per channel as the tensor is quantized; or ``huffman``) stores them."""
    if codec == "huffman":
        return tflm.encode_huffman(values)
    q = tensor.quantization
    scales = 0 if q is None or q.scale is None else q.scale.size
    layout = tflm.channels(values.shape, scales, 0 if q is None else q.quantized_dimension)
    return tflm.encode_lut(values, layout, bits)


def _insert_decodes(graph: Subgraph, pairs: dict[int, tuple[Tensor, Tensor, Tensor]]) -> None:
    """One TFLM_DECODE before each operator reading compressed tensors, one pair per tensor
    (``pairs``: compressed tensor id -> (tensor, decoded template, ancillary tensor))."""
    for anc in (p[2] for p in pairs.values()):
        graph.add_tensor(anc)
    for op in list(graph.operators):
        reads = [t for t in dict.fromkeys(op.inputs) if t is not None and id(t) in pairs]
        if not reads:
            continue
        inputs: list[Tensor | None] = []
        outputs = []
        for tensor in reads:
            _, template, anc = pairs[id(tensor)]
            decoded = graph.add_tensor(_clone(template, template.name))
            inputs += [tensor, anc]
            outputs.append(decoded)
            for index, t in enumerate(op.inputs):
                if t is tensor:
                    op.set_input(index, decoded)
        graph.add_operator(Operator(tflm.DECODE, inputs, outputs), before=op)


def _clone(tensor: Tensor, name: str | None) -> Tensor:
    """A copy of ``tensor``'s description (no data, no graph)."""
    return Tensor(name, tensor.shape, tensor.dtype,
                  quantization=None if tensor.quantization is None else tensor.quantization.copy(),
                  is_variable=tensor.is_variable, sparsity=tensor.sparsity,
                  shape_signature=tensor.shape_signature, has_rank=tensor.has_rank,
                  variant_tensors=tensor.variant_tensors)


def _buffer_users(model: Model) -> dict[int, int]:
    users: dict[int, int] = {}
    for tensor in model.tensors():
        if tensor.buffer is not None:
            users[id(tensor.buffer)] = users.get(id(tensor.buffer), 0) + 1
    return users


def read_container(model: Model) -> dict[str, Any] | None:
    """The ``TFLITEKIT_COMPRESSION`` entry of ``model`` (None when it has none)."""
    raw = model.get_metadata(CONTAINER_METADATA)
    if raw is None:
        return None
    entry: dict[str, Any] = json.loads(raw)
    if entry.get("version") != CONTAINER_VERSION:
        raise PassError(f"{CONTAINER_METADATA} version {entry.get('version')!r}; this tflitekit "
                        f"reads version {CONTAINER_VERSION}")
    return entry


def _add_entry(model: Model, tensor: dict[str, Any]) -> None:
    entry = read_container(model) or {"version": CONTAINER_VERSION, "tensors": []}
    entry["tensors"].append(tensor)
    model.add_metadata(CONTAINER_METADATA, json.dumps(entry, separators=(",", ":")).encode())


def compress_weights(model: Model, *, tensors: Collection[str] | None = None,
                     codec: Any = "lut", bits: int | None = None, quantize: Any = None,
                     format: Format = "tflm") -> Model:
    """Compress ``model``'s weights in place (see :class:`CompressWeights`); returns it."""
    CompressWeights(tensors, codec, bits, quantize, format)(model)
    return model

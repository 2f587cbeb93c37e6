"""Compress weights with codec parameters chosen tensor by tensor, as a search chooses them.

:func:`search_bits` runs :func:`~tflitekit.codecs.search.allocate_bits` with the bit widths of
the form the weights will be stored in (a LUT index has 1 to 7 bits), each option sized as that
form stores it (in the ``tflm`` form the pass's own encoder: indices, ancillary header and
tables; in the container the codec's whole encoding), and
:func:`compress_plan` stores each tensor with its own parameters. :func:`compress_step` is the
:class:`~.compress_weights.CompressWeights` pass of one set of parameters, in either form.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from ..codecs import Huffman, KMeans, Packed
from ..codecs.base import CodecParams
from ..codecs.metrics import Metric
from ..codecs.search import Allocation, Sizer, allocate_bits
from ..interpreter import Progress
from ..ir import Model, Tensor
from .base import PassResult
from .compress_weights import CompressWeights, Format, tflm_encode

__all__ = ["compress_plan", "compress_step", "search_bits", "stored_size"]


def compress_step(codec: str, format: Format, params: CodecParams | None,
                  bits: int | None = None, tensors: Collection[str] | None = None
                  ) -> CompressWeights:
    """The pass storing ``tensors`` (None: every weight it shrinks) with ``codec``: in the
    ``tflm`` form ``params`` quantize the values first (e.g. a k-means) and a LUT with
    ``bits``-bit indices (or Huffman) stores them; in the container ``params`` is the codec
    itself (None: Huffman)."""
    if format == "tflm":
        return CompressWeights(tensors, "huffman" if codec == "huffman" else "lut",
                               bits if codec == "lut" else None, params, "tflm")
    return CompressWeights(tensors, Huffman() if params is None else params, format=format)


def compress_plan(model: Model, plan: Mapping[str, CodecParams], *, codec: str = "lut",
                  format: Format = "tflm", bits: int | None = None) -> list[PassResult]:
    """Compress each tensor named in ``plan`` with its parameters (:func:`compress_step`), in
    place; the result of each step."""
    return [compress_step(codec, format, params, bits, [name])(model)
            for name, params in plan.items()]


def search_bits(model: Model, metric: Metric, *, codec: str = "lut", format: Format = "tflm",
                max_drop: float = 0.2, tensors: Sequence[Tensor | str] | None = None,
                seed: int = 0, executor: Executor | None = None,
                progress: Progress | None = None) -> Allocation:
    """:func:`~tflitekit.codecs.search.allocate_bits` for weights stored with ``codec`` in
    ``format`` by :func:`compress_plan`: k-means widths 2 to 7 bits (a LUT's most) for
    ``lut``, 2 to 8 otherwise; each option's size is the bytes the stored tensor takes
    (:attr:`~.compress_weights.CompressedTensor.bytes_after`)."""
    lut = format == "tflm" and codec == "lut"
    coder: Any = Packed() if lut else Huffman()
    return allocate_bits(model, metric, max_drop=max_drop, bits=range(2, 8 if lut else 9),
                         coder=coder, tensors=tensors, seed=seed,
                         size=stored_size(codec) if format == "tflm" else None,
                         executor=executor, progress=progress)


def stored_size(codec: str) -> Sizer:
    """The bytes :func:`compress_step` stores a tensor in, quantized, as TFLite Micro's
    ``codec`` (``lut``: indices of the fewest bits that fit, or ``huffman``): its encoded data,
    ancillary header and tables."""
    def size(tensor: Tensor, quantized: np.ndarray, params: KMeans) -> int:
        encoded, ancillary = tflm_encode(quantized, tensor, codec, None)
        return len(encoded) + len(ancillary)
    return size

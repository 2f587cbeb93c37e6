"""Weight codecs on numpy arrays: value quantizers (B&Q, k-means clustering), index coders
(fixed-width packing, canonical Huffman, rANS) and their composition. See :mod:`.base` for the
contract; placing encoded tensors inside a model is the job of the ``compress_weights`` pass."""

from __future__ import annotations

from .base import CODECS, Codec, CodecParams, Encoded, decode, encode, register

__all__ = ["CODECS", "Codec", "CodecParams", "Encoded", "decode", "encode", "register"]

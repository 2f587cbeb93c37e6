"""Weight codecs on numpy arrays: value quantizers (B&Q, k-means clustering), index coders
(fixed-width packing, canonical Huffman, rANS) and their composition. See :mod:`.base` for the
contract; placing encoded tensors inside a model is the job of the ``compress_weights`` pass."""

from __future__ import annotations

from .base import CODECS, Codec, CodecParams, Encoded, decode, encode, register
from .bq import BQ, bin_edges, bin_of
from .cluster import KMeans, kmeans_1d
from .huffman import Huffman
from .packing import Packed, pack_indices, unpack_indices
from .rans import RANS

__all__ = ["BQ", "CODECS", "RANS", "Codec", "CodecParams", "Encoded", "Huffman", "KMeans",
           "Packed", "bin_edges", "bin_of", "decode", "encode", "kmeans_1d", "pack_indices",
           "register", "unpack_indices"]

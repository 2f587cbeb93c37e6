"""Weight compression on micro_speech, side by side with TFLite Micro's compressor and zlib/lzma.

Usage::

    python benchmarks/codecs.py [--bits 2 3 4] [--repeat 5]

Inputs as in ``examples/bq_micro_speech.py`` (``TFLITEKIT_CORPUS``, ``TFLITEKIT_DATA``).

1. **File size at equal accuracy.** The FC weights (per tensor) and the conv weights (per
   channel) are clustered with k-means to 2^b values (seeded); the clustered model's accuracy
   on the dev set is the accuracy every form below reproduces (checked by decompressing each
   file with ``decompress_weights`` and running it).
   Contestants: TFLite Micro's own ``compression.compress`` (LUT at b bits, the mode following
   the quantization) on the clustered model; tflitekit's TFLM-runnable form (``TFLM_DECODE``,
   LUT and Huffman); the tflitekit container (k-means values + rANS indices).
2. **Coder throughput.** The B&Q indices of the FC weights (from the search) coded by packing,
   canonical Huffman and rANS, against ``zlib`` (level 9) and ``lzma`` (preset 9) of the same
   index bytes: size, encode and decode MB/s (of the index bytes, best of ``--repeat``).
3. **Search wall time.** ``bq_search`` on the FC weights (a process pool on every core) and
   ``allocate_bits`` over both weight tensors, each with a 0.2 pp tolerance.
"""

from __future__ import annotations

import argparse
import lzma
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tflitekit
from tflitekit.codecs import decode, encode
from tflitekit.codecs.bq import bin_of
from tflitekit.codecs.cluster import KMeans
from tflitekit.codecs.huffman import Huffman
from tflitekit.codecs.metrics import Metric, accuracy
from tflitekit.codecs.packing import Packed
from tflitekit.codecs.rans import RANS
from tflitekit.codecs.search import allocate_bits, bq_search, channel_axis
from tflitekit.passes.compress_weights import compress_weights
from tflitekit.passes.decompress_weights import decompress_weights
from tflitekit.testing import corpus_dir, data_dir

FC, CONV = "tflite_micro_speech/dense/MatMul", "tflite_micro_speech/conv2d/Conv2D"


def _paths() -> tuple[Path, Path]:
    corpus, data = corpus_dir(), data_dir()
    model, dev = corpus / "models" / "tflite_micro_speech.tflite", data / "kws_espeak_dev.npz"
    missing = [str(p) for p in (model, dev) if not p.is_file()]
    if missing:
        sys.exit("benchmarks/codecs.py: missing " + " and ".join(missing))
    return model, dev


def _tflm_compress(clustered: tflitekit.Model, bits: int) -> bytes | str:
    """TFLite Micro's compressor on the clustered model, or why it is unavailable."""
    try:
        from tflite_micro.tensorflow.lite.micro.compression import SpecBuilder, compress, spec
    except ImportError as exc:
        return f"unavailable ({exc})"
    builder = SpecBuilder()
    for index, tensor in enumerate(clustered.main.tensors):
        if tensor.name in (FC, CONV):
            axis = channel_axis(tensor)
            mode = spec.PerTensor() if axis is None else spec.PerChannel(axis=axis)
            builder.add_tensor(subgraph=0, tensor=index).with_lut(index_bitwidth=bits, mode=mode)
    return bytes(compress(clustered.to_bytes(), builder.build()))


def sizes_at_equal_accuracy(path: Path, metric: Metric, bits: int) -> None:
    model = tflitekit.load(path)
    quantize = {t.name: KMeans(k=2 ** bits, axis=channel_axis(t))
                for t in model.main.tensors if t.name in (FC, CONV)}
    for t in model.main.tensors:
        if t.name in quantize:
            t.data = decode(encode(np.array(t.data), quantize[t.name]))
    clustered = tflitekit.load(model.to_bytes())
    target = metric(clustered)
    print(f"\n{bits}-bit k-means: clustered model accuracy {target:.2f} % "
          f"({len(clustered.to_bytes())} bytes uncompressed)")
    theirs = _tflm_compress(clustered, bits)
    if isinstance(theirs, str):
        print(f"  TFLite Micro compressor (LUT)        {theirs}")
    else:
        score = metric(decompress_weights(tflitekit.load(theirs)))
        print(f"  TFLite Micro compressor (LUT)        {len(theirs):6d} bytes  {score:.2f} %")
    for codec in ("lut", "huffman"):
        m = compress_weights(tflitekit.load(clustered.to_bytes()), tensors=list(quantize),
                             codec=codec, bits=bits if codec == "lut" else None)
        data = m.to_bytes()
        score = metric(decompress_weights(tflitekit.load(data)))
        print(f"  tflitekit TFLM form ({codec:7s})        {len(data):6d} bytes  {score:.2f} %")
    container = tflitekit.load(path)
    for name, params in quantize.items():
        compress_weights(container, tensors=[name], format="container",
                         codec=KMeans(k=params.k, axis=params.axis, then=RANS()))
    data = container.to_bytes()
    score = metric(decompress_weights(tflitekit.load(data)))
    print(f"  tflitekit container (k-means + rANS) {len(data):6d} bytes  {score:.2f} %")


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def coder_throughput(indices: np.ndarray, repeat: int) -> None:
    raw = indices.astype(np.uint8).tobytes()
    mb = len(raw) / 1e6
    print(f"\ncoders on the FC's B&Q indices ({indices.size} indices, {len(raw)} bytes)")
    print("  coder     bytes   encode MB/s  decode MB/s")
    for params in (Packed(), Huffman(), RANS()):
        t_enc, encoded = _best(lambda p=params: encode(indices, p), repeat)
        t_dec, back = _best(lambda e=encoded: decode(e), repeat)
        assert np.array_equal(back, indices)
        print(f"  {type(params).__name__:8s} {encoded.nbytes:6d}  {mb / t_enc:11.3g}  "
              f"{mb / t_dec:11.3g}")
    for name, comp, decomp in (("zlib-9", lambda: zlib.compress(raw, 9), zlib.decompress),
                               ("lzma-9", lambda: lzma.compress(raw, preset=9), lzma.decompress)):
        t_enc, packed = _best(comp, repeat)
        t_dec, back = _best(lambda p=packed, d=decomp: d(p), repeat)
        assert back == raw
        print(f"  {name:8s} {len(packed):6d}  {mb / t_enc:11.3g}  {mb / t_dec:11.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path, dev = _paths()
    model = tflitekit.load(path)
    metric = accuracy(model, dev)
    print(f"micro_speech: {path.stat().st_size} bytes, accuracy {metric(model):.2f} % "
          f"on {metric.samples} dev samples")

    start = time.perf_counter()
    search = bq_search(model, FC, metric, max_drop=0.2)
    searched = time.perf_counter() - start
    start = time.perf_counter()
    allocation = allocate_bits(model, metric, max_drop=0.2, tensors=[FC, CONV])
    allocated = time.perf_counter() - start
    print(f"bq_search: {search.final.bins} bins, {search.final.metric:.2f} %, "
          f"{search.evaluations} evaluations, {searched:.1f} s wall (target < 30 s)")
    print(f"allocate_bits: {allocation.bytes_before} -> {allocation.bytes_after} weight bytes, "
          f"{allocation.metric:.2f} %, {allocation.evaluations} evaluations, "
          f"{allocated:.1f} s wall")
    bq = tflitekit.load(path)
    compress_weights(bq, tensors=[FC], codec="huffman", quantize=search.params)
    print(f"B&Q FC in the TFLM form (Huffman): {len(bq.to_bytes())} bytes, "
          f"{metric(tflitekit.load(bq.to_bytes())):.2f} %")

    for bits in args.bits:
        sizes_at_equal_accuracy(path, metric, bits)

    w = np.array(next(t for t in model.main.tensors if t.name == FC).data)
    coder_throughput(bin_of(w, np.asarray(search.final.edges)).astype(np.uint8), args.repeat)


if __name__ == "__main__":
    main()

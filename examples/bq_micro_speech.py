"""B&Q on micro_speech, end to end: search the bins, compress, save, load, decompress, run.

    python examples/bq_micro_speech.py [-o OUT_DIR] [--max-drop 0.2]

The automated B&Q search (tflitekit.codecs.search.bq_search) bins the fully connected weights
of TFLite Micro's micro_speech model, starting from [min, mean-std, mean, mean+std, max] and
splitting the most sensitive bin until the accuracy on the dev set is within --max-drop
percentage points of the model's. The bins are then stored two ways: the tflitekit container
(B&Q values table + rANS-coded indices in a metadata-described tensor; decompress_weights makes
it runnable again) and the TFLite Micro-runnable form (TFLM_DECODE with Huffman-coded values).

Inputs: the corpus model (TFLITEKIT_CORPUS, default ~/.cache/tflitekit/corpus, file
models/tflite_micro_speech.tflite) and the dev set (TFLITEKIT_DATA, default ../shared/data
next to the repository, file kws_espeak_dev.npz).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import tflitekit
from tflitekit.codecs import encode
from tflitekit.codecs.bq import BQ
from tflitekit.codecs.huffman import Huffman
from tflitekit.codecs.metrics import accuracy
from tflitekit.codecs.packing import Packed
from tflitekit.codecs.rans import RANS
from tflitekit.codecs.search import bq_search
from tflitekit.passes.compress_weights import compress_weights
from tflitekit.passes.decompress_weights import decompress_weights
from tflitekit.testing import corpus_dir, data_dir

FC = "tflite_micro_speech/dense/MatMul"


def inputs() -> tuple[Path, Path]:
    corpus, data = corpus_dir(), data_dir()
    model, dev = corpus / "models" / "tflite_micro_speech.tflite", data / "kws_espeak_dev.npz"
    missing = [str(p) for p in (model, dev) if not p.is_file()]
    if missing:
        sys.exit("bq_micro_speech: missing " + " and ".join(missing)
                 + " (set TFLITEKIT_CORPUS / TFLITEKIT_DATA)")
    return model, dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, help="directory for the .tflite files")
    parser.add_argument("--max-drop", type=float, default=0.2, help="percentage points")
    args = parser.parse_args()
    model_path, dev = inputs()
    model = tflitekit.load(model_path)
    metric = accuracy(model, dev)

    start = time.perf_counter()
    result = bq_search(model, FC, metric, max_drop=args.max_drop)
    print(f"baseline accuracy {result.baseline:.2f} % on {metric.samples} samples")
    print("bins  accuracy  bits/weight  entropy  split")
    for step in result.steps:
        split = "" if step.split is None else f"bin {step.split}"
        print(f"{step.bins:4d}  {step.metric:7.2f} %  {step.bits_per_weight:11.3f}  "
              f"{step.entropy:7.3f}  {split}")
    print(f"search: {result.evaluations} evaluations in {time.perf_counter() - start:.1f} s, "
          f"stopped at {result.stopped}")
    final = result.final
    print("edges: " + ", ".join(f"{e:.2f}" for e in final.edges))
    print("values: " + ", ".join(f"{v:g}" for v in final.values))

    weights = next(t for t in model.main.tensors if t.name == FC).data
    print(f"FC weights: {weights.size} int8 = {weights.nbytes} bytes")
    for coder in (Packed(), Huffman(), RANS()):
        encoded = encode(weights, BQ(edges=final.edges, then=coder))
        print(f"  B&Q + {type(coder).__name__:8s} {encoded.nbytes:6d} bytes "
              f"{encoded.bits_per_value:.3f} bits/weight (header and tables included)")

    with tempfile.TemporaryDirectory() as temp:
        out = args.out or Path(temp)
        out.mkdir(parents=True, exist_ok=True)
        original = out / "micro_speech.tflite"
        model.save(original, overwrite=True)
        forms = {
            "container": dict(codec=BQ(edges=final.edges, then=RANS()), format="container"),
            "tflm": dict(codec="huffman", quantize=BQ(edges=final.edges), format="tflm"),
        }
        print(f"original {original.stat().st_size} bytes")
        for form, options in forms.items():
            path = out / f"micro_speech_bq_{form}.tflite"
            compress_weights(tflitekit.load(model_path), tensors=[FC], **options).save(
                path, overwrite=True)
            loaded = tflitekit.load(path)
            runnable = decompress_weights(tflitekit.load(path))
            score = metric(runnable)
            direct = f", runs as stored: {metric(loaded):.2f} %" if form == "tflm" else ""
            print(f"{form}: {path.stat().st_size} bytes; decompressed accuracy {score:.2f} % "
                  f"({score - result.baseline:+.2f} pp){direct}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Per layer of every int8 corpus model, how far our XS3 lowering is from TFLite Micro.

    python scripts/xs3_lowering_mismatch.py [--samples 200] [--corpus DIR]

Each lowered layer (``tflitekit.xs3.compare.lowered_mismatch``) runs on its input as the reference
interpreter computed it, so the shares are the lowering's own, not inherited; the inputs are
``tflitekit.runtimes.random_samples``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tflitekit import load
from tflitekit.runtimes import random_samples
from tflitekit.testing import corpus_dir
from tflitekit.xs3.compare import Difference, lowered_mismatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus directory (default: $TFLITEKIT_CORPUS or "
                             "~/.cache/tflitekit/corpus)")
    args = parser.parse_args()
    corpus = args.corpus or corpus_dir()
    print(f"{'model':42s} {'op':>3s} {'operator':18s} {'differ':>9s} {'max':>4s}")
    for path in sorted((corpus / "models").glob("*.tflite")):
        if path.stem.endswith(".float32"):
            continue
        model = load(path)
        rows = lowered_mismatch(model, random_samples(model, args.samples))
        for r in rows:
            d = r.difference
            print(f"{path.stem:42s} {r.index:3d} {r.opcode:18s} {100 * d.share:8.3f}% "
                  f"{d.max_abs_diff:4g}")
        if rows:
            total = sum((r.difference for r in rows), Difference(0, 0, 0.0))
            print(f"{path.stem:42s} all {f'({len(rows)} layers)':18s} {100 * total.share:8.3f}% "
                  f"{total.max_abs_diff:4g}")


if __name__ == "__main__":
    main()

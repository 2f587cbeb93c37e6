#!/usr/bin/env python3
"""Per layer of every int8 corpus model, how far our XS3 lowering is from TFLite Micro.

    python scripts/xs3_lowering_mismatch.py [--samples 200] [--corpus DIR]

Each lowered layer (``tflitekit.xs3.backend.lowered_mismatch``) runs on its input as the reference
interpreter computed it, so the shares are the lowering's own, not inherited; the inputs are
uniform random int8.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tflitekit import Interpreter, load
from tflitekit.xs3.backend import lowered_mismatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--corpus", type=Path,
                        default=Path.home() / ".cache" / "tflitekit" / "corpus" / "models")
    args = parser.parse_args()
    print(f"{'model':42s} {'op':>3s} {'operator':18s} {'differ %':>9s} {'max':>4s}")
    for path in sorted(args.corpus.glob("*.tflite")):
        if path.stem.endswith(".float32"):
            continue
        model = load(path)
        rng = np.random.default_rng(0)
        inputs = []
        for t in Interpreter(model).inputs:
            dtype = np.dtype(t.numpy_dtype)
            shape = (args.samples, *(t.shape or ())[1:])
            if dtype.kind in "iu":
                info = np.iinfo(dtype)
                inputs.append(rng.integers(info.min, info.max + 1, shape).astype(dtype))
            else:
                inputs.append(rng.uniform(-1, 1, shape).astype(dtype))
        rows = lowered_mismatch(model, inputs)
        total = sum(r.elements for r in rows)
        for r in rows:
            print(f"{path.stem:42s} {r.index:3d} {r.opcode:18s} {100 * r.share:9.3f} "
                  f"{r.max_abs_diff:4d}")
        if total:
            share = sum(r.differing for r in rows) / total
            print(f"{path.stem:42s} all {'(' + str(len(rows)) + ' layers)':18s} "
                  f"{100 * share:9.3f} {max(r.max_abs_diff for r in rows):4d}")


if __name__ == "__main__":
    main()

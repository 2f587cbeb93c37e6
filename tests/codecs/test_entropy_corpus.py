"""Corpus tier: Huffman and rANS on every constant int8 tensor of at least 1,000 elements of the
corpus models, against the empirical (order-0) entropy H of each tensor.

What is compared: the payload (Huffman: the bitstream; rANS: the words plus the lanes' final
states, within 0.5 % of H plus 64 bits) against H; tables and the self-describing header are
reported separately (``nbytes``).
Huffman cannot code a symbol in less than one bit, so on tensors dominated by one value (most
frequent value above half the elements, e.g. visual_wake_words' last 1x1 convolutions, H down to
0.23 bits/weight) it is held to Gallager's bound H + p_max + 0.086 bits per element instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import tflitekit
from tflitekit.codecs import decode, encode
from tflitekit.codecs._symbols import entropy_bits
from tflitekit.codecs.huffman import Huffman
from tflitekit.codecs.rans import RANS

pytestmark = pytest.mark.corpus


def _weights(path: Path) -> list[np.ndarray]:
    model = tflitekit.load(path.read_bytes())
    return [t.data for g in model.subgraphs for t in g.tensors
            if t.is_constant and t.data is not None and t.data.dtype == np.int8
            and t.data.size >= 1000]


def test_entropy_coders_on_corpus_weights(corpus_paths: list[Path]) -> None:
    totals = dict.fromkeys(("n", "H", "huffman", "rans", "huffman_all", "rans_all"), 0.0)
    tensors = 0
    for path in corpus_paths:
        for array in _weights(path):
            counts = np.unique(array, return_counts=True)[1]
            h, p_max, n = entropy_bits(counts), counts.max() / array.size, array.size
            huffman, rans = encode(array, Huffman()), encode(array, RANS())
            np.testing.assert_array_equal(decode(huffman), array)
            np.testing.assert_array_equal(decode(rans), array)
            huffman_bits = 8 * len(huffman.payload)
            rans_bits = 8 * (len(rans.payload) + rans.table("states").nbytes)
            if p_max < 0.5:
                assert huffman_bits <= 1.01 * h, (path.name, n, h / n, huffman_bits / n)
            assert huffman_bits <= h + (p_max + 0.086) * n + 7
            # one lane's 64-bit state on top (more lanes only past 2**15 bits: <= 0.2 %)
            assert rans_bits <= 1.005 * h + 64, (path.name, n, h / n, rans_bits / n)
            for key, value in (("n", n), ("H", h), ("huffman", huffman_bits), ("rans", rans_bits),
                               ("huffman_all", 8 * huffman.nbytes),
                               ("rans_all", 8 * rans.nbytes)):
                totals[key] += value
            tensors += 1
    per = {k: v / totals["n"] for k, v in totals.items() if k != "n"}
    print(f"\n{tensors} tensors, {int(totals['n'])} weights; bits/weight: "
          + ", ".join(f"{k} {v:.4f}" for k, v in per.items()))
    assert totals["rans"] <= 1.005 * totals["H"]


def test_throughput_on_keyword_spotting(corpus_paths: list[Path]) -> None:
    path = next((p for p in corpus_paths if p.name == "keyword_spotting_on_off_v3.tflite"), None)
    if path is None:
        pytest.skip("keyword_spotting_on_off_v3.tflite is not in the corpus")
    weights = np.concatenate([w.ravel() for w in _weights(path)])
    for params in (Huffman(), RANS()):
        start = time.perf_counter()
        encoded = encode(weights, params)
        middle = time.perf_counter()
        np.testing.assert_array_equal(decode(encoded), weights)
        end = time.perf_counter()
        mb = weights.nbytes / 1e6
        print(f"\n{type(params).__name__}: {weights.size} weights, {encoded.bits_per_value:.3f} "
              f"bits/weight, encode {mb / (middle - start):.1f} MB/s, "
              f"decode {mb / (end - middle):.1f} MB/s")

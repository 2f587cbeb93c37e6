"""The corpus proof of the XS3 backend (issue 12), for every int8 corpus model:

(a) tflitekit runs its xcore-opt conversion with every tensor the model computes (its outputs
    and every intermediate one) bit-identical to xmos' host interpreter. The host returns only
    graph outputs, at most 40, so the intermediates are exposed in the converted file, 40 at a
    time (exposing them before converting changes what xcore-opt emits); the conversion made
    after ``expose_intermediates``, which (b) uses, is checked the same way;
(b) our lowering's per-layer share of outputs differing from the reference (bit-exact with
    TFLite Micro) is printed next to xcore-opt's (on the conversion of the model with every
    intermediate exposed, so that tensors match by name), and over the corpus ours is no
    larger;
(c) the profile of the converted model counts every XC_conv2d_v2 (and only those).
"""

from __future__ import annotations

import pytest
from _xmos_host import compare_with_host, samples_with_extremes
from conftest import XCORE_INT8_MODELS, XcoreCorpus

import tflitekit
from tflitekit.runtimes import random_samples
from tflitekit.xs3.compare import Difference, compare
from tflitekit.xs3.profile import profile

pytestmark = [pytest.mark.corpus, pytest.mark.xcore]

SAMPLES = 5


@pytest.mark.parametrize("name", XCORE_INT8_MODELS)
def test_every_tensor_of_the_converted_model_is_bit_identical_to_xmos_host_interpreter(
        name: str, xcore_corpus: XcoreCorpus) -> None:
    converted = tflitekit.load(xcore_corpus.converted(name))
    result = compare_with_host(converted, samples_with_extremes(converted, SAMPLES, seed=11))
    print(f"{name}: {sum(result.by_operator.values())} tensors compared "
          f"{dict(sorted(result.by_operator.items()))}, {len(result.differing)} differ")
    assert result.by_operator and not result.differing, f"{name}: {result.differing}"


@pytest.mark.parametrize("name", XCORE_INT8_MODELS)
def test_the_exposed_conversion_is_bit_identical_to_xmos_host_interpreter_too(
        name: str, xcore_corpus: XcoreCorpus) -> None:
    """The conversion (b) compares with: xcore-opt's own numbers, not ours."""
    converted = tflitekit.load(xcore_corpus.exposed(name)[1])
    result = compare_with_host(converted, samples_with_extremes(converted, SAMPLES, seed=11))
    assert result.by_operator and not result.differing, f"{name}: {result.differing}"


def test_our_lowering_differs_from_tflite_micro_no_more_than_xcore_opt(
        xcore_corpus: XcoreCorpus) -> None:
    if not XCORE_INT8_MODELS:
        pytest.fail("the corpus has no int8 model", pytrace=False)
    ours_total = theirs_total = Difference(0, 0, 0.0)
    lines = []
    for name in XCORE_INT8_MODELS:
        exposed_path, converted_path = xcore_corpus.exposed(name)
        model = tflitekit.load(exposed_path)
        result = compare(model, random_samples(model, SAMPLES, seed=11),
                         xcore=tflitekit.load(converted_path))
        print(f"\n== {name}\n{result}")
        assert result.xcore is not None and result.matched, f"{name}: no tensor matched"
        ours_total += result.ours_on_matched
        theirs_total += result.xcore
        lines.append(f"{name:42} ours {result.ours_on_matched}  xcore-opt {result.xcore}")
    print("\n".join(["", *lines, f"{'corpus':42} ours {ours_total}  xcore-opt {theirs_total}"]))
    assert ours_total.share <= theirs_total.share


@pytest.mark.parametrize("name", XCORE_INT8_MODELS)
def test_the_profile_counts_every_xc_conv2d_of_the_converted_model(
        name: str, xcore_corpus: XcoreCorpus) -> None:
    converted = tflitekit.load(xcore_corpus.converted(name))
    result = profile(converted)
    convs = [i for i, op in enumerate(converted.main.operators)
             if op.opcode.custom_code == "XC_conv2d_v2"]
    assert [layer.index for layer in result.counted] == convs
    assert result.total.instructions > 0 and result.macs > 0

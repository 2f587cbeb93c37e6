"""tflitekit.training.evaluate on builder models: scores against scikit-learn and a direct
computation from the interpreter, every executor alike, agreement, input quantization, errors."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tflitekit import Interpreter, Model, UsageError
from tflitekit.testing import build_kws_model, build_runnable_model
from tflitekit.training.evaluate import Evaluation, evaluate

CLASSES = 5  # build_runnable_model's output scores


def _samples(n: int = 300, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, (n, 4, 4, 2)).astype(np.float32)


def _quantized(model: Model, x: np.ndarray) -> np.ndarray:
    """``x`` quantized by hand with the model's input scale and zero point."""
    q = model.main.inputs[0].quantization
    assert q is not None and q.scale is not None and q.zero_point is not None
    return np.clip(np.rint(x / q.scale[0]) + q.zero_point[0], -128, 127).astype(np.int8)


def _top1(model: Model, x: np.ndarray) -> np.ndarray:
    return Interpreter(model).run([_quantized(model, x)])[0].reshape(len(x), -1).argmax(axis=1)


def _labels(predictions: np.ndarray, seed: int = 2) -> np.ndarray:
    """Labels that agree with ``predictions`` on about 60% of the samples; class 4 has none."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(len(predictions)) < 0.4,
                      rng.integers(0, CLASSES, len(predictions)), predictions)
    return np.where(labels == 4, 3, labels)


def _perturbed(model: Model) -> Model:
    other = model.copy()
    w = other.main.tensor("fc/w")
    assert w.data is not None
    w.data = (w.data // 2).astype(np.int8)
    return other


@pytest.fixture(scope="module")
def model() -> Model:
    return build_runnable_model()


@pytest.fixture(scope="module")
def data(model: Model) -> tuple[np.ndarray, np.ndarray]:
    x = _samples()
    return x, _labels(_top1(model, x))


def test_scores_are_a_direct_computation_from_the_interpreter(
        model: Model, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    result = evaluate(model, x, y)
    predicted = _top1(model, x)  # float x quantized as the interpreter expects
    np.testing.assert_array_equal(result.predictions, predicted)
    confusion = np.zeros((CLASSES, CLASSES), np.int64)
    for true, guess in zip(y, predicted, strict=True):
        confusion[true, guess] += 1
    np.testing.assert_array_equal(result.confusion, confusion)
    assert result.confusion.dtype == np.int64
    assert result.samples == len(x) and result.classes == ("0", "1", "2", "3", "4")
    assert result.accuracy == pytest.approx(100 * np.mean(predicted == y))
    for c in range(CLASSES):
        tp = np.sum((predicted == c) & (y == c))
        predicted_c, actual_c = np.sum(predicted == c), np.sum(y == c)
        assert result.precision[c] == pytest.approx(tp / predicted_c if predicted_c else 0.0)
        assert result.recall[c] == pytest.approx(tp / actual_c if actual_c else 0.0)
        assert result.support[c] == actual_c
    assert result.support[4] == 0 and result.recall[4] == 0  # a class without samples
    assert result.agreement is None


def test_scores_equal_scikit_learn(model: Model, data: tuple[np.ndarray, np.ndarray]) -> None:
    metrics = pytest.importorskip("sklearn.metrics", reason="pip install scikit-learn")
    x, y = data
    result = evaluate(model, x, y)
    _assert_sklearn(metrics, result, y)


def test_undefined_scores_are_zero_as_scikit_learn_gives_them() -> None:
    """A class never predicted (precision), one without samples (recall), one with neither."""
    metrics = pytest.importorskip("sklearn.metrics", reason="pip install scikit-learn")
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 3, 0])  # 2 never predicted, 3 never true, 4 neither
    confusion = np.zeros((5, 5), np.int64)
    np.add.at(confusion, (y, p), 1)
    result = Evaluation(tuple("abcde"), confusion, p)
    assert result.precision[2] == 0 and result.recall[3] == 0 and result.f1[4] == 0
    _assert_sklearn(metrics, result, y)


def _assert_sklearn(metrics: Any, result: Evaluation, y: np.ndarray) -> None:
    labels = list(range(len(result.classes)))
    p = result.predictions
    np.testing.assert_array_equal(result.confusion, metrics.confusion_matrix(y, p, labels=labels))
    assert result.accuracy == pytest.approx(100 * metrics.accuracy_score(y, p))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y, p, labels=labels, zero_division=0)
    np.testing.assert_allclose(result.precision, precision)
    np.testing.assert_allclose(result.recall, recall)
    np.testing.assert_allclose(result.f1, f1)
    np.testing.assert_array_equal(result.support, support)
    macro = metrics.precision_recall_fscore_support(y, p, labels=labels, average="macro",
                                                    zero_division=0)
    assert (result.macro_precision, result.macro_recall, result.macro_f1) == pytest.approx(
        macro[:3])


def test_every_executor_gives_the_same_result(model: Model,
                                              data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    other = _perturbed(model)
    want = evaluate(model, x, y, reference=other).to_json()
    calls: list[tuple[int, int]] = []
    with ProcessPoolExecutor(2) as pool:
        in_processes = evaluate(model, x, y, reference=other, executor=pool, batch_size=37,
                                progress=lambda d, t: calls.append((d, t)))
    with ThreadPoolExecutor(2) as threads:
        in_threads = evaluate(model, x, y, reference=other, executor=threads, batch_size=64)
    assert in_processes.to_json() == want and in_threads.to_json() == want
    n = len(x)
    assert calls[-1] == (2 * n, 2 * n) and all(t == 2 * n for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) == 2 * -(-n // 37)  # one call per chunk of each model


@pytest.mark.dask
def test_a_dask_executor_gives_the_same_result(model: Model,
                                               data: tuple[np.ndarray, np.ndarray]) -> None:
    import distributed
    x, y = data
    with distributed.Client(processes=False, dashboard_address=None) as client:
        result = evaluate(model, x, y, executor=client.get_executor(), batch_size=100)
    assert result.to_json() == evaluate(model, x, y).to_json()


def test_agreement(model: Model, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    assert evaluate(model, x, y, reference=model.copy()).agreement == 100.0
    other = _perturbed(model)
    result = evaluate(model, x, y, reference=other)
    expected = 100 * np.mean(_top1(model, x) == _top1(other, x))
    assert result.agreement == pytest.approx(expected) and expected < 100


def test_models_from_paths_and_bytes(tmp_path: Path, model: Model,
                                     data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    path = tmp_path / "m.tflite"
    model.save(path)
    want = evaluate(model, x, y).to_json()
    assert evaluate(path, x, y).to_json() == want
    assert evaluate(str(path), x, y, reference=model.to_bytes()).to_json() == {
        **want, "agreement": 100.0}


def test_integer_samples_and_other_layouts_run_as_given(model: Model,
                                                        data: tuple[np.ndarray, np.ndarray]
                                                        ) -> None:
    x, y = data
    q = _quantized(model, x)
    want = evaluate(model, x, y).to_json()
    assert evaluate(model, q, y).to_json() == want
    assert evaluate(model, q.reshape(len(q), -1), y.reshape(-1, 1)).to_json() == want


def test_a_multi_output_model_is_scored_on_its_first_output() -> None:
    model = build_runnable_model()
    graph = model.main
    fc = graph.tensor("fc/y")
    graph.add_output(fc, index=0)  # outputs: fc/y (scores), then y
    x = _samples(50)
    first = Interpreter(model).run([_quantized(model, x)])[0]
    result = evaluate(model, x, np.zeros(50, np.int64))
    np.testing.assert_array_equal(result.predictions, first.argmax(axis=1))


def test_a_softmax_model_with_names() -> None:
    model = build_kws_model()
    x = np.random.default_rng(3).normal(0, 3, (40, 10, 8, 1)).astype(np.float32)
    y = np.arange(40) % 3
    result = evaluate(model, x, y, classes=["yes", "no", "silence"])
    q = model.main.inputs[0].quantization
    assert q is not None and q.scale is not None
    quantized = np.clip(np.rint(x / q.scale[0]), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(
        result.predictions, Interpreter(model).run([quantized])[0].argmax(axis=1))
    text = str(result)
    assert f"accuracy {result.accuracy:.2f}%" in text and "silence" in text
    assert result.to_json()["per_class"][2]["class"] == "silence"


@pytest.mark.parametrize(("y", "classes", "message"), [
    (np.zeros(9, np.int64), None, "10 samples but 9 labels"),
    (np.full(10, 5), None, "label 5 is out of range: the model's first output scores 5 classes"),
    (np.full(10, -1), None, "label -1 is out of range"),
    (np.zeros(10), None, "labels must be integer class indices, not float64"),
    (np.eye(5, dtype=np.int64)[np.zeros(10, np.int64)], None, "y.argmax(axis=1)"),
    (np.zeros(10, np.int64), ["a", "b"], "2 class names for the 5 classes"),
])
def test_errors_are_one_line(model: Model, y: np.ndarray, classes: list[str] | None,
                             message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")
                       ) as info:
        evaluate(model, _samples(10), y, classes=classes)
    assert "\n" not in str(info.value)


def test_a_reference_of_other_classes_is_refused(model: Model) -> None:
    x = _samples(10)
    with pytest.raises(UsageError, match="the reference scores 3 classes, the model 5"):
        evaluate(model, x, np.zeros(10, np.int64), reference=build_kws_model())

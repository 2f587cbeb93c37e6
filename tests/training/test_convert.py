"""tflitekit.training.from_keras: each mode and interface on small Keras models, checked against
TFLite Micro (integer modes, bit-exact) and LiteRT (float modes); the argument checks run without
TensorFlow."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import tflitekit
from tflitekit import ConversionError, Model, RuntimeUnavailable, UsageError
from tflitekit.runtimes import run_litert, run_tflm
from tflitekit.training import from_keras

SEED = 7
SAMPLES = 16

VALID = [("float", "float"), ("float16", "float"), ("dynamic", "float"), ("int8", "float"),
         ("int8", "int8"), ("int16x8", "float"), ("int16x8", "int16")]
ACTIVATIONS = {"float": "FLOAT32", "float16": "FLOAT32", "dynamic": "FLOAT32", "int8": "INT8",
               "int16x8": "INT16"}
WEIGHTS = {"float": "FLOAT32", "float16": "FLOAT16", "dynamic": "INT8", "int8": "INT8",
           "int16x8": "INT8"}
DYNAMIC_MIN = 1024
"""The converter's dynamic-range mode quantizes weights of at least this many elements."""
INTERFACE = {"float": "FLOAT32", "int8": "INT8", "int16": "INT16"}


# ------------------------------------------------------------------------------------------------
# Argument checks: before TensorFlow is imported, so they hold without it
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def no_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """TensorFlow fails to import, installed or not."""
    monkeypatch.setitem(sys.modules, "tensorflow", None)


DATA = np.zeros((4, 3), np.float32)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "int4", "representative_data": DATA}, "unknown mode 'int4'"),
    ({"io": "uint8", "representative_data": DATA}, "unknown io 'uint8'"),
    ({"mode": "float", "io": "int8"}, "io='int8' needs mode='int8'"),
    ({"mode": "dynamic", "io": "int16"}, "io='int16' needs mode='int16x8'"),
    ({"mode": "int8", "io": "int16", "representative_data": DATA},
     "io='int16' needs mode='int16x8', not 'int8'"),
    ({"mode": "int16x8", "io": "int8", "representative_data": DATA},
     "io='int8' needs mode='int8', not 'int16x8'"),
    ({"mode": "int8"}, "pass representative_data"),
    ({"mode": "int16x8"}, "pass representative_data"),
    ({"mode": "dynamic", "representative_data": DATA}, "takes no representative_data"),
    ({"mode": "float", "strip_float_io": True}, "strip_float_io needs a quantized interface"),
    ({"io": "int8", "strip_float_io": True, "representative_data": DATA},
     "strip_float_io replaces io='int8'"),
    ({"representative_data": DATA, "samples": 0}, "samples must be a positive integer"),
    ({"mode": "float16", "per_channel": False}, "per_channel=False needs quantized weights"),
    ({"representative_data": [DATA, DATA[:2]]}, "same, non-zero length"),
    ({"representative_data": DATA[:0]}, "same, non-zero length"),
    ({"representative_data": 3.0}, "representative_data must be"),
])
def test_wrong_arguments_are_usage_errors_before_tensorflow(
        no_tensorflow: None, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        from_keras(object(), **kwargs)


def test_without_tensorflow_it_names_the_train_extra(no_tensorflow: None) -> None:
    with pytest.raises(RuntimeUnavailable, match=r'pip install "tflitekit\[train\]"'):
        from_keras(object(), representative_data=DATA)


def test_importing_the_adapter_does_not_import_tensorflow(
        no_tensorflow: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.startswith("tflitekit.training")]:
        monkeypatch.delitem(sys.modules, name)  # restored afterwards
    monkeypatch.delattr(tflitekit, "training", raising=False)
    training = importlib.import_module("tflitekit.training")

    assert training.from_keras.__module__ == "tflitekit.training"


# ------------------------------------------------------------------------------------------------
# Conversions (train tier)
# ------------------------------------------------------------------------------------------------


def _cnn(k: Any) -> Any:
    x = k.Input((10, 8, 2))
    h = k.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    h = k.layers.DepthwiseConv2D(3, activation="relu6")(h)
    h = k.layers.Flatten()(h)
    return k.Model(x, k.layers.Dense(5, activation="softmax")(h))


def _mlp(k: Any) -> Any:
    x = k.Input((12,))
    h = k.layers.Dense(96, activation="relu")(x)  # 1,152 weights: dynamic range quantizes them
    return k.Model(x, k.layers.Dense(4)(h))


def _two_inputs(k: Any) -> Any:
    a, b = k.Input((6,)), k.Input((3,))
    h = k.layers.Concatenate()([k.layers.Dense(5, activation="relu")(a), b])
    return k.Model([a, b], k.layers.Dense(2)(h))


ARCHITECTURES: dict[str, Callable[[Any], Any]] = {"cnn": _cnn, "mlp": _mlp}


@pytest.fixture(scope="module")
def tf() -> Any:
    return pytest.importorskip("tensorflow", reason="needs tensorflow (pip install tensorflow)")


@pytest.fixture(scope="module")
def keras_models(tf: Any) -> dict[str, Any]:
    """Each architecture with seeded weights (biases drawn too)."""
    tf.keras.utils.set_random_seed(SEED)
    models = {name: build(tf.keras) for name, build in ARCHITECTURES.items()}
    rng = np.random.default_rng(SEED)
    for model in models.values():
        for weight in model.weights:
            if not np.asarray(weight.numpy()).any():
                weight.assign(rng.normal(0.0, 0.2, weight.shape).astype(np.float32))
    return models


@pytest.fixture(scope="module")
def converted(keras_models: dict[str, Any]) -> Callable[..., Model]:
    """``from_keras`` of an architecture on its :func:`_data` (calibrated modes), each
    conversion made once per module; a fresh copy every call."""
    made: dict[tuple[str, str, str, bool], Model] = {}

    def convert(arch: str, mode: str, io: str = "float", strip: bool = False) -> Model:
        key = (arch, mode, io, strip)
        if key not in made:
            keras_model = keras_models[arch]
            data = _data(keras_model)[0] if mode in ("int8", "int16x8") else None
            made[key] = from_keras(keras_model, representative_data=data, mode=mode, io=io,
                                   strip_float_io=strip)
        return made[key].copy()

    return convert


def _data(keras_model: Any, n: int = SAMPLES, seed: int = SEED) -> list[np.ndarray]:
    """Standard normal inputs, ``(n, *input shape)`` per model input."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, *t.shape[1:])).astype(np.float32)
            for t in keras_model.inputs]


def _inputs(model: Model, floats: list[np.ndarray]) -> list[np.ndarray]:
    """``floats`` as ``model``'s inputs take them (quantized for an integer interface)."""
    arrays = []
    for tensor, x in zip(model.main.inputs, floats, strict=True):
        dtype = tensor.numpy_dtype
        assert dtype is not None
        if dtype.kind == "f":
            arrays.append(x.astype(dtype))
            continue
        assert tensor.quantization is not None
        scale, zero = tensor.quantization.per_tensor()
        info = np.iinfo(dtype)
        arrays.append(np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype))
    return arrays


def _operand_dtypes(model: Model, index: int, small: bool = False) -> set[str]:
    """Dtypes of input ``index`` (1: the weights) of the conv and dense operators, following a
    DEQUANTIZE back to its constant: of those under :data:`DYNAMIC_MIN` elements if ``small``,
    else of the others."""
    found = set()
    for op in model.main.operators:
        if op.opcode.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            tensor = op.inputs[index]
            assert tensor is not None
            producer = tensor.producer
            if producer is not None and producer.opcode.name == "DEQUANTIZE":
                tensor = producer.inputs[0]
                assert tensor is not None
            assert tensor.is_constant
            if (int(np.prod(tensor.shape or ())) < DYNAMIC_MIN) == small:
                found.add(tensor.dtype.name)
    return found


def _activations(model: Model) -> set[str]:
    """Dtypes of what the compute operators produce (shape arithmetic and the float interface's
    QUANTIZE / DEQUANTIZE aside)."""
    return {t.dtype.name for op in model.main.operators
            if op.opcode.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX",
                                  "RESHAPE")
            for t in op.outputs if t is not None}


@pytest.mark.train
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize(("mode", "io"), VALID)
def test_each_mode_and_io_makes_what_it_promises(
        keras_models: dict[str, Any], converted: Callable[..., Model], arch: str, mode: str,
        io: str) -> None:
    data = _data(keras_models[arch])
    model = converted(arch, mode, io)
    assert model.check() == []
    interface = [t.dtype.name for t in (*model.main.inputs, *model.main.outputs)]
    assert interface == [INTERFACE[io]] * 2
    assert _activations(model) == {ACTIVATIONS[mode]}
    assert _operand_dtypes(model, 1) == {WEIGHTS[mode]}
    small = _operand_dtypes(model, 1, small=True)
    assert small == ({"FLOAT32"} if mode == "dynamic" else {WEIGHTS[mode]})
    if mode == "int16x8":
        assert _operand_dtypes(model, 2) | _operand_dtypes(model, 2, small=True) == {"INT64"}
    x = _inputs(model, data)
    ours = tflitekit.Interpreter(model).run(x)
    if mode in ("int8", "int16x8"):
        oracle = run_tflm(model.to_bytes(), x)
        np.testing.assert_array_equal(ours[0], oracle[0])
    else:
        oracle = [np.concatenate([run_litert(model.to_bytes(), [s[None]])[0] for s in x[0]])]
        np.testing.assert_allclose(ours[0], oracle[0], rtol=1e-5, atol=1e-6)


@pytest.mark.train
@pytest.mark.tflm
def test_per_tensor_weights_when_asked(keras_models: dict[str, Any],
                                       converted: Callable[..., Model]) -> None:
    """per_channel=False: one scale per weight tensor (the default has one per channel); the
    model still runs as TFLite Micro runs it."""
    mode = "int8"
    keras_model = keras_models["cnn"]
    data = _data(keras_model)
    model = from_keras(keras_model, representative_data=data[0], mode=mode, per_channel=False)
    scales = {op.opcode.name: op.inputs[1].quantization.scale.size  # type: ignore[union-attr]
              for op in model.main.operators
              if op.opcode.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    default = {op.opcode.name: op.inputs[1].quantization.scale.size  # type: ignore[union-attr]
               for op in converted("cnn", mode).main.operators if op.opcode.name in scales}
    assert set(scales.values()) == {1} and max(default.values()) > 1
    x = _inputs(model, data)
    np.testing.assert_array_equal(tflitekit.Interpreter(model).run(x)[0],
                                  run_tflm(model.to_bytes(), x)[0])


@pytest.mark.train
@pytest.mark.tflm
@pytest.mark.parametrize(("mode", "io"), [("int8", "int8"), ("int16x8", "int16")])
def test_strip_float_io_gives_the_converters_integer_interface(
        keras_models: dict[str, Any], converted: Callable[..., Model], mode: str,
        io: str) -> None:
    data = _data(keras_models["cnn"])
    stripped, native = converted("cnn", mode, strip=True), converted("cnn", mode, io)
    assert stripped.check() == []
    assert [t.dtype.name for t in (*stripped.main.inputs, *stripped.main.outputs)] == \
        [INTERFACE[io]] * 2
    assert "QUANTIZE" not in [op.opcode.name for op in stripped.main.operators]
    x = _inputs(stripped, data)
    np.testing.assert_array_equal(_inputs(native, data)[0], x[0])
    ours = tflitekit.Interpreter(stripped).run(x)
    np.testing.assert_array_equal(ours[0], run_tflm(stripped.to_bytes(), x)[0])
    np.testing.assert_array_equal(ours[0], run_tflm(native.to_bytes(), x)[0])


@pytest.mark.train
def test_representative_data_forms_give_the_same_model(tf: Any) -> None:
    keras_model = _two_inputs(tf.keras)
    a, b = _data(keras_model)

    def generate() -> Iterator[list[np.ndarray]]:
        for i in range(SAMPLES):
            yield [a[i], b[i][None]]  # with and without the batch axis

    made = [from_keras(keras_model, representative_data=form).to_bytes()
            for form in ([a, b], generate, generate(),
                         [[a[i:i + 1], b[i:i + 1]] for i in range(SAMPLES)])]
    assert all(m == made[0] for m in made)
    capped = from_keras(keras_model, representative_data=[a, b], samples=4).to_bytes()
    assert capped == from_keras(keras_model, representative_data=[a[:4], b[:4]]).to_bytes()
    assert capped != made[0]


@pytest.mark.train
@pytest.mark.tflm
def test_inputs_the_converter_reorders_are_calibrated_on_their_own_data(tf: Any) -> None:
    """The converter orders a model's inputs its own way (TensorFlow 2.21: "zeta" before
    "alpha"); representative data given in Keras' order still reaches the right input, so the
    result is the converter's own when its samples name the inputs (the model then takes its
    inputs in TFLite's order)."""
    k = tf.keras
    alpha, zeta = k.Input((6,), name="alpha"), k.Input((3,), name="zeta")
    hidden = k.layers.Concatenate()([k.layers.Dense(5, activation="relu")(alpha), 10 * zeta])
    keras_model = k.Model([alpha, zeta], k.layers.Dense(2)(hidden))
    a, z = _data(keras_model)
    model = from_keras(keras_model, representative_data=[a, z])

    def by_name() -> Iterator[dict[str, np.ndarray]]:
        for i in range(SAMPLES):
            yield {"alpha": a[i:i + 1], "zeta": z[i:i + 1]}

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)  # calibrated by name
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = by_name
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    assert model.to_bytes() == bytes(converter.convert())
    order = [str(t.name) for t in model.main.inputs]
    x = [{"alpha": a, "zeta": z}[next(n for n in ("alpha", "zeta") if n in name)]
         for name in order]
    ours = tflitekit.Interpreter(model).run(x)[0]
    np.testing.assert_array_equal(ours, run_tflm(model.to_bytes(), x)[0])
    np.testing.assert_allclose(ours, keras_model([a, z]).numpy(), atol=0.5)


@pytest.mark.train
def test_one_array_is_the_samples_of_the_only_input(
        keras_models: dict[str, Any], converted: Callable[..., Model]) -> None:
    (x,) = _data(keras_models["mlp"])
    from_array = converted("mlp", "int8").to_bytes()
    assert from_array == from_keras(keras_models["mlp"],
                                    representative_data=lambda: iter(x)).to_bytes()


@pytest.mark.train
def test_a_sample_of_the_wrong_arity_is_a_usage_error(keras_models: dict[str, Any]) -> None:
    (x,) = _data(keras_models["mlp"])
    with pytest.raises(UsageError, match="has 2 arrays; the model has 1 inputs"):
        from_keras(keras_models["mlp"], representative_data=[[s, s] for s in x])
    with pytest.raises(UsageError, match="gave no samples"):
        from_keras(keras_models["mlp"], representative_data=iter([]))


@pytest.mark.train
def test_converter_failures_are_one_line_conversion_errors(tf: Any) -> None:
    k = tf.keras
    x = k.Input((4,))
    keras_model = k.Model(x, k.layers.Lambda(lambda t: tf.math.bessel_i0e(t))(x))
    with pytest.raises(ConversionError) as caught:
        from_keras(keras_model, mode="float")
    message = str(caught.value)
    assert "\n" not in message
    assert "the TFLite converter failed (mode 'float', io 'float'): " in message
    assert "Custom ops: BesselI0e" in message  # the converter's reason, not its trace

"""The quantization error report on the builder-made twins of ``_quant_twins`` (see there for
the models and the values), against errors computed by hand."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _quant_twins import B_F, W_F, Y_F, Y_Q, X, float_twin, quantized_twin

from tflitekit import Model, UsageError
from tflitekit.analysis.quant_error import QuantizationError, quantization_error


def _norm(values: list[float]) -> float:
    return math.sqrt(sum(v * v for v in values))


def _report(float_model: Model, quantized_model: Model) -> QuantizationError:
    return quantization_error(float_model, quantized_model, [X])


# ------------------------------------------------------------------------------------------------
# Errors by hand
# ------------------------------------------------------------------------------------------------


def test_weight_errors_by_hand() -> None:
    (layer,) = _report(float_twin(), quantized_twin()).layers
    (w,) = layer.weights
    error = [-0.004, 0.0, 0.0, 0.008]  # W_q * scale - W_f, row by row
    flat = [v for row in W_F for v in row]
    assert (w.role, w.float_name, w.quantized_name, w.shape) == ("weight", "w", "w", (2, 2))
    assert w.rel_error == pytest.approx(_norm(error) / _norm(flat), rel=1e-5)
    assert w.max_abs_error == pytest.approx(0.008, rel=1e-5)
    assert w.mean_error == pytest.approx(sum(error) / 4, rel=1e-4)
    assert w.sqnr_db == pytest.approx(20 * math.log10(_norm(flat) / _norm(error)), rel=1e-5)
    assert w.max_step_error == pytest.approx(0.4, rel=1e-4)  # 0.004 / 0.01 and 0.008 / 0.02
    assert w.clipped == 0
    assert w.channels is not None and w.channels.axis == 0
    assert w.channels.rel_error == pytest.approx(
        [0.004 / _norm(W_F[0]), 0.008 / _norm(W_F[1])], rel=1e-4)
    assert w.channels.max_abs_error == pytest.approx([0.004, 0.008], rel=1e-4)
    assert w.channels.sqnr_db == pytest.approx(
        [20 * math.log10(_norm(W_F[0]) / 0.004), 20 * math.log10(_norm(W_F[1]) / 0.008)],
        rel=1e-5)
    assert sum(w.histogram.counts) == 4 and len(w.histogram.edges) == 33
    assert w.histogram.edges[0] == pytest.approx(-0.004, rel=1e-4)
    assert w.histogram.edges[-1] == pytest.approx(0.008, rel=1e-4)


def test_bias_error_by_hand() -> None:
    (layer,) = _report(float_twin(), quantized_twin()).layers
    (b,) = layer.biases
    assert (b.role, b.quantized_dtype, b.shape) == ("bias", "INT32", (2,))
    assert b.max_abs_error == pytest.approx(0.0004, rel=1e-3)  # 13 * 0.001 - 0.0134
    assert b.rel_error == pytest.approx(0.0004 / _norm(B_F), rel=1e-3)
    assert b.max_step_error == pytest.approx(0.4, rel=1e-3)
    assert b.channels is None  # rank 1


def test_bias_scale_defaults_to_input_times_weight_scale() -> None:
    quantized = quantized_twin()
    bias = quantized.main.operators[0].inputs[2]
    assert bias is not None
    bias.quantization = None
    (layer,) = _report(float_twin(), quantized).layers
    assert layer.biases[0].max_step_error == pytest.approx(0.4, rel=1e-3)
    assert layer.biases[0].max_abs_error == pytest.approx(0.0004, rel=1e-3)


def test_activation_and_output_errors_by_hand() -> None:
    report = _report(float_twin(), quantized_twin())
    (layer,) = report.layers
    (act,) = layer.activations
    error = [q - f for q, f in zip(Y_Q, Y_F, strict=True)]
    assert (act.role, act.float_name, act.quantized_name, act.shape) == (
        "activation", "y", "y", (1, 2))
    assert act.rel_error == pytest.approx(_norm(error) / _norm(Y_F), rel=1e-5)
    assert act.max_abs_error == pytest.approx(max(map(abs, error)), rel=1e-5)
    assert act.mean_error == pytest.approx(sum(error) / 2, rel=1e-4)
    assert act.sqnr_db == pytest.approx(20 * math.log10(_norm(Y_F) / _norm(error)), rel=1e-5)
    assert act.max_step_error is None and act.clipped is None and act.channels is None
    (out,) = report.outputs
    assert (out.role, out.rel_error) == ("output", act.rel_error)
    (inp,) = report.inputs
    assert inp.role == "input" and inp.max_abs_error < 1e-7  # 0.3 and -0.2 are whole steps
    assert report.samples == 1 and report.unmatched == () and report.inserted == ()


def test_inputs_are_quantized_for_an_integer_interface() -> None:
    x = np.array([[0.26, -0.34]], np.float32)  # 2.6 -> 3 steps, -3.4 -> -3
    report = quantization_error(float_twin(), quantized_twin(), [x])
    (inp,) = report.inputs
    assert inp.max_abs_error == pytest.approx(0.04, rel=1e-5)
    assert inp.mean_error == pytest.approx((0.04 + 0.04) / 2, rel=1e-5)


def test_clipped_weights_are_counted() -> None:
    w_f = [[1.5, -0.5], [0.3, 0.612]]  # 1.5 / 0.01 = 150 steps, clamped to 127
    w_q = [[127, -50], [15, 31]]
    (layer,) = _report(float_twin(w=w_f), quantized_twin(w=w_q)).layers
    (w,) = layer.weights
    assert w.clipped == 1
    assert w.max_step_error == pytest.approx(23.0, rel=1e-4)
    assert w.max_abs_error == pytest.approx(0.23, rel=1e-4)


# ------------------------------------------------------------------------------------------------
# Matching
# ------------------------------------------------------------------------------------------------


def test_matched_by_name_and_by_structure() -> None:
    (by_name,) = _report(float_twin(), quantized_twin()).layers
    assert (by_name.opcode, by_name.matched_by, by_name.float_index,
            by_name.quantized_index) == ("FULLY_CONNECTED", "name", 0, 0)
    (by_structure,) = _report(float_twin(), quantized_twin(names="renamed/")).layers
    assert by_structure.matched_by == "structure"
    assert by_structure.weights[0].quantized_name == "renamed/w"
    assert by_structure.activations[0].rel_error == by_name.activations[0].rel_error


def test_float_interface_twin() -> None:
    report = _report(float_twin(), quantized_twin(float_io=True))
    (layer,) = report.layers
    # the quantizer moved the output's name to its DEQUANTIZE: still a name match
    assert (layer.matched_by, layer.quantized_index) == ("name", 1)
    assert layer.activations[0].quantized_name == "y_int8"
    assert [(r.model, r.index, r.opcode) for r in report.inserted] == [
        ("quantized", 0, "QUANTIZE"), ("quantized", 2, "DEQUANTIZE")]
    assert report.outputs[0].quantized_dtype == "FLOAT32"
    assert report.outputs[0].rel_error == pytest.approx(layer.activations[0].rel_error)
    assert report.inputs[0].quantized_name == "x_int8"
    assert report.inputs[0].max_abs_error < 1e-7


def test_fused_activation_joins_its_producer() -> None:
    report = _report(float_twin(relu_op=True), quantized_twin(fused_relu=True))
    (layer,) = report.layers
    assert layer.fused == ("RELU",) and report.unmatched == ()
    (act,) = layer.activations
    assert act.float_name == "relu"  # the float model's value after its RELU
    assert act.rel_error == pytest.approx(abs(Y_Q[0] - Y_F[0]) / Y_F[0], rel=1e-5)


def test_unfused_activation_is_unmatched() -> None:
    report = _report(float_twin(relu_op=True), quantized_twin())
    assert [(r.model, r.index, r.opcode) for r in report.unmatched] == [("float", 1, "RELU")]
    assert "no quantized operator" in report.unmatched[0].reason


def test_an_extra_operator_is_unmatched_with_its_reason() -> None:
    report = _report(float_twin(reshape=True), quantized_twin())
    (layer,) = report.layers
    assert layer.opcode == "FULLY_CONNECTED"
    (extra,) = report.unmatched
    assert (extra.model, extra.index, extra.opcode, extra.name) == (
        "float", 1, "RESHAPE", "reshaped")
    assert "shares an output name" in extra.reason


def test_same_opcode_of_another_shape_is_not_matched() -> None:
    report = _report(float_twin(units=3), quantized_twin(names="q/"))
    assert report.layers == () and report.outputs == ()
    assert [(r.model, r.opcode) for r in report.unmatched] == [
        ("float", "FULLY_CONNECTED"), ("quantized", "FULLY_CONNECTED")]
    assert "other shapes" in report.unmatched[0].reason
    assert "[(1, 2)], not [(1, 3)]" in report.unmatched[0].reason


# ------------------------------------------------------------------------------------------------
# Inputs, arguments and JSON
# ------------------------------------------------------------------------------------------------


def test_default_inputs_cover_the_quantized_input_range() -> None:
    report = quantization_error(float_twin(), quantized_twin(), samples=50, seed=3)
    assert report.samples == 50
    (inp,) = report.inputs
    # uniform over [-12.8, 12.7]: rounding to steps of 0.1, never clipping
    assert 0.04 < inp.max_abs_error <= 0.05 + 1e-6
    again = quantization_error(float_twin(), quantized_twin(), samples=50, seed=3)
    assert again == report


def test_arguments_are_checked() -> None:
    with pytest.raises(UsageError, match="samples must be at least 1"):
        quantization_error(float_twin(), quantized_twin(), samples=0)
    with pytest.raises(UsageError, match="1 input"):
        quantization_error(float_twin(), quantized_twin(), [X, X])


def test_to_json_is_strict_json() -> None:
    report = quantization_error(float_twin(), quantized_twin(float_io=True),
                                [np.zeros((1, 2), np.float32)])
    data = report.to_json()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    (layer,) = data["layers"]
    (inp,) = data["inputs"]
    assert (inp["rel_error"], inp["sqnr_db"]) == (0.0, "inf")  # zeros quantize exactly
    assert set(data) == {"samples", "inputs", "outputs", "layers", "unmatched", "inserted"}
    assert set(layer["weights"][0]) >= {"rel_error", "max_abs_error", "sqnr_db",
                                        "max_step_error", "clipped", "channels", "histogram"}


def test_chunks_on_an_executor_give_the_same_report() -> None:
    plain = quantization_error(float_twin(), quantized_twin(), samples=6, seed=2)
    with ThreadPoolExecutor(2) as pool:
        chunked = quantization_error(float_twin(), quantized_twin(), samples=6, seed=2,
                                     batch_size=2, executor=pool)
    assert chunked == plain and chunked.samples == 6

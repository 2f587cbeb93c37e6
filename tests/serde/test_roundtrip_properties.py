"""Property tests: random builder-made models survive serialization exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tflitekit
from tflitekit import Buffer, Model, Operator, OperatorCode, Quantization, SignatureDef, Tensor
from tflitekit._generated.schema import ENUMS, Field, Table
from tflitekit.options import (
    OPERATOR_OPTIONS,
    BuiltinOperator,
    CustomOptionsFormat,
    CustomQuantization,
    TensorType,
)

SETTINGS = settings(max_examples=60, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_INT_RANGES = {
    "b": (-(2**7), 2**7 - 1), "B": (0, 2**8 - 1), "h": (-(2**15), 2**15 - 1),
    "H": (0, 2**16 - 1), "i": (-(2**31), 2**31 - 1), "I": (0, 2**32 - 1),
    "q": (-(2**63), 2**63 - 1), "Q": (0, 2**64 - 1),
}

NUMERIC_TYPES = [TensorType.FLOAT32, TensorType.FLOAT16, TensorType.INT8, TensorType.UINT8,
                 TensorType.INT16, TensorType.INT32, TensorType.INT64, TensorType.BOOL,
                 TensorType.FLOAT64, TensorType.UINT32, TensorType.COMPLEX64]
RAW_TYPES = [TensorType.STRING, TensorType.INT4, TensorType.RESOURCE]

names = st.one_of(st.none(), st.text(max_size=12))
shapes = st.lists(st.integers(0, 5), max_size=4).map(tuple)


def scalar_value(field: Field) -> st.SearchStrategy[Any]:
    if field.enum is not None:
        return st.sampled_from(list(ENUMS[field.enum]))
    if field.type == "?":
        return st.booleans()
    if field.type == "f":
        return st.floats(width=32)
    if field.type == "d":
        return st.floats()
    lo, hi = _INT_RANGES[field.type]
    return st.integers(lo, hi)


def field_value(field: Field) -> st.SearchStrategy[Any]:
    if field.kind == "scalar":
        return scalar_value(field)
    if field.kind == "string":
        return st.one_of(st.none(), st.text(max_size=8))
    if field.kind == "vector":
        if field.type in "Bb" and field.enum is None:
            return st.one_of(st.none(), st.binary(max_size=8))
        return st.one_of(st.none(), st.lists(scalar_value(field), max_size=4))
    raise AssertionError(field)


@st.composite
def options_for(draw: st.DrawFn, cls: type[Table]) -> Table:
    obj = cls()
    for field in cls.FIELDS:
        setattr(obj, field.name, draw(field_value(field)))
    return obj


@st.composite
def quantizations(draw: st.DrawFn, shape: tuple[int, ...] | None) -> Quantization | None:
    kind = draw(st.sampled_from(["none", "empty", "tensor", "channel"]))
    if kind == "none":
        return None
    if kind == "empty":
        return Quantization()
    n = 1
    dim = 0
    if kind == "channel" and shape:
        dim = draw(st.integers(0, len(shape) - 1))
        n = max(shape[dim], 1)
    scale = draw(st.lists(st.floats(0.0009765625, 10, width=32), min_size=n, max_size=n))
    zero = draw(st.lists(st.integers(-128, 127), min_size=n, max_size=n))
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["min"] = draw(st.lists(st.floats(-10, 0, width=32), min_size=n, max_size=n))
        extra["max"] = draw(st.lists(st.floats(0, 10, width=32), min_size=n, max_size=n))
    if draw(st.booleans()):
        extra["details"] = CustomQuantization(custom=draw(st.binary(max_size=4)))
    return Quantization(scale, zero, quantized_dimension=dim, **extra)


@st.composite
def tensors(draw: st.DrawFn, constant: bool) -> Tensor:
    raw = draw(st.integers(0, 9)) == 0
    dtype = draw(st.sampled_from(RAW_TYPES if raw else NUMERIC_TYPES))
    shape = draw(st.one_of(shapes, st.none()) if not constant else shapes)
    t = Tensor(draw(names), shape, dtype)
    if constant:
        if raw or shape is None:
            t.buffer = Buffer(draw(st.binary(min_size=1, max_size=16)))
        else:
            np_dtype = t.numpy_dtype
            t.data = draw(hnp.arrays(np_dtype, shape))
    t.quantization = draw(quantizations(t.shape))
    if draw(st.integers(0, 4)) == 0:
        t.shape_signature = tuple(-1 if draw(st.booleans()) else d for d in (t.shape or ()))
    t.is_variable = draw(st.integers(0, 9)) == 0
    t.has_rank = draw(st.booleans())
    return t


_OPS = sorted(OPERATOR_OPTIONS, key=int)


@st.composite
def operators(draw: st.DrawFn, available: list[Tensor]) -> Operator:
    custom = draw(st.integers(0, 5)) == 0
    if custom:
        code = OperatorCode(BuiltinOperator.CUSTOM, draw(st.text(min_size=1, max_size=8)),
                            version=draw(st.integers(1, 3)))
        options = options_2 = None
    else:
        op = draw(st.sampled_from(_OPS))
        code = OperatorCode(op, version=draw(st.integers(1, 4)))
        spec = OPERATOR_OPTIONS[op]
        options = options_2 = None
        if spec is not None and draw(st.integers(0, 4)) > 0:
            value = draw(options_for(spec[1]))
            if spec[0] == "BuiltinOptions":
                options = value
            else:
                options_2 = value
    picks = draw(st.lists(st.one_of(st.none(), st.sampled_from(available)), max_size=3)
                 if available else st.just([]))
    n_out = draw(st.integers(0, 2))
    outputs = [draw(tensors(constant=False)) for _ in range(n_out)]
    kw: dict[str, Any] = {}
    if custom and draw(st.booleans()):
        kw["custom_options"] = draw(st.binary(max_size=12))
        kw["custom_options_format"] = CustomOptionsFormat.FLEXBUFFERS
    if draw(st.integers(0, 4)) == 0:
        kw["mutating_variable_inputs"] = draw(st.lists(st.booleans(), max_size=3))
    if draw(st.integers(0, 5)) == 0:
        kw["debug_metadata_index"] = draw(st.integers(0, 100))
    return Operator(code, picks, outputs, options, options_2=options_2, **kw)


@st.composite
def models(draw: st.DrawFn) -> Model:
    m = Model(draw(names), version=draw(st.integers(0, 5)))
    for k in range(draw(st.integers(1, 2))):
        g = m.add_subgraph(draw(names))
        pool: list[Tensor] = []
        for _ in range(draw(st.integers(0, 3))):
            pool.append(g.add_input(draw(tensors(constant=False))))
        for _ in range(draw(st.integers(0, 3))):
            pool.append(g.add_tensor(draw(tensors(constant=True))))
        for _ in range(draw(st.integers(0, 4))):
            op = g.add_operator(draw(operators(pool)))
            pool.extend(op.outputs)
        if pool:
            for t in draw(st.lists(st.sampled_from(pool), max_size=2)):
                g.add_output(t)
        if k == 0 and pool and draw(st.booleans()):
            m.signature_defs.append(SignatureDef(
                draw(names), g, {"in": pool[0]}, {"out": pool[-1]}))
    for i in range(draw(st.integers(0, 2))):
        m.add_metadata(f"meta{i}", draw(st.binary(max_size=8)))
    if draw(st.integers(0, 3)) == 0:
        m.buffers.append(Buffer(draw(st.binary(max_size=8))))
    return m


@SETTINGS
@given(models())
def test_random_models_round_trip(m: Model) -> None:
    data = m.to_bytes()
    loaded = tflitekit.load(data)
    assert tflitekit.diff(loaded, m) == []
    assert tflitekit.diff(m, loaded) == []
    again = loaded.to_bytes()
    assert again == data
    assert tflitekit.load(again).to_bytes() == again


@SETTINGS
@given(st.sampled_from([op for op in _OPS if OPERATOR_OPTIONS[op] is not None]), st.data())
def test_random_options_round_trip(op: BuiltinOperator, data: st.DataObject) -> None:
    union, cls = OPERATOR_OPTIONS[op]  # type: ignore[misc]
    options = data.draw(options_for(cls))
    m = Model()
    g = m.add_subgraph()
    x, y = g.add_input(Tensor("x", (1,))), g.add_output(Tensor("y", (1,)))
    kw = {"options": options} if union == "BuiltinOptions" else {"options_2": options}
    g.add_operator(Operator(op, [x], [y], **kw))
    loaded = tflitekit.load(m.to_bytes()).main.operators[0]
    got = loaded.options if union == "BuiltinOptions" else loaded.options_2
    assert got == options


@SETTINGS
@given(hnp.arrays(st.sampled_from([np.int8, np.uint8, np.int16, np.int32, np.int64,
                                   np.float16, np.float32, np.float64, np.bool_]),
                  hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)))
def test_constant_data_round_trips_bit_exactly(arr: np.ndarray) -> None:
    m = Model()
    g = m.add_subgraph()
    t = g.add_tensor(Tensor.constant("c", arr))
    assert t.shape == arr.shape
    loaded = tflitekit.load(m.to_bytes()).main.tensor("c")
    assert loaded.shape == arr.shape and loaded.dtype == t.dtype
    if arr.size:
        assert loaded.data.dtype == arr.dtype.newbyteorder("<")
        assert loaded.data.tobytes() == np.ascontiguousarray(arr).astype(
            arr.dtype.newbyteorder("<")).tobytes()
    else:
        assert loaded.data is None  # an empty constant has no data

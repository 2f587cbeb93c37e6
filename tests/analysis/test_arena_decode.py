"""The arena tail of ``TFLM_DECODE`` (TFLite Micro's decompression of compressed weights).

``Prepare`` allocates a ``DecodeState*`` per output, then per output its decode state (host:
``DecodeStateLut`` 72, ``DecodeStateHuffman`` 56, ``DecodeStatePrune`` 80 bytes; target32: 36,
28, 40), each aligned to 16, and a prune's per-channel int8 zero points. Unit tests sum a
DECODE's bytes by hand; ``tflm`` tests compare whole arenas (head and tail) of compressed
builder models with TFLite Micro's recording allocator.
"""

from __future__ import annotations

import numpy as np
import pytest
from _clustering import cluster
from _decode_models import Pair, decode_model

import tflitekit
from tflitekit import Model, Quantization
from tflitekit.analysis.arena import DECODE_PRUNE, Arena, arena
from tflitekit.codecs import tflm
from tflitekit.passes import compress_weights
from tflitekit.testing import build_kws_model

ZEROS = np.zeros(4, np.int64)


def _lut() -> Pair:
    values = np.tile(np.array([-3, 1, 5, 9], np.int8), (4, 2))  # (4, 8), per channel on axis 0
    quant = Quantization(np.full(4, 0.1, np.float32), ZEROS)
    return (values, quant, *tflm.encode_lut(values, tflm.channels(values.shape, 4, 0), 2))


def _huffman() -> Pair:
    values = np.arange(37, dtype=np.int8) % 5
    return (values, None, *tflm.encode_huffman(values))


def _prune(zero_points: list[int]) -> Pair:
    """A prune header and table (TFLite Micro's Prepare reads no more than the header)."""
    values = np.zeros((4, 8), np.int8)
    header = bytes([DECODE_PRUNE, 1, 0, 0, 1]) + bytes(tflm.HEADER - 5)
    quant = Quantization(np.full(4, 0.1, np.float32), np.array(zero_points, np.int64))
    return values, quant, bytes(4), header + values.tobytes()


def _decode_items(a: Arena) -> list[tuple[str, int, int]]:
    return [(i.what, i.requested, i.bytes) for i in a.items if i.operator == 1]


def test_decode_lut_and_huffman_host() -> None:
    a = arena(decode_model(_lut(), _huffman()), head=0)
    assert a.unmodelled == ()
    # after ADD's 16-aligned op data: two 8-byte pointers, then the states, each up to 16
    assert _decode_items(a) == [("DecodeState* x2", 16, 16), ("DecodeStateLut", 72, 80),
                                ("DecodeStateHuffman", 56, 64)]
    assert a.operators[1].opcode == "TFLM_DECODE" and a.operators[1].bytes == 160


def test_decode_states_target32() -> None:
    a = arena(decode_model(_lut(), _huffman(), _prune([0, 0, 0, 0])), "target32", head=0)
    assert _decode_items(a) == [("DecodeState* x3", 12, 16), ("DecodeStateLut", 36, 48),
                                ("DecodeStateHuffman", 28, 32), ("DecodeStatePrune", 40, 48)]


def test_prune_copies_nonzero_per_channel_zero_points() -> None:
    items = _decode_items(arena(decode_model(_prune([0, 1, 0, -2])), head=0))
    assert items == [("DecodeState* x1", 8, 16), ("DecodeStatePrune", 80, 80),
                     ("prune zero points", 4, 16)]
    assert len(_decode_items(arena(decode_model(_prune([0, 0, 0, 0])), head=0))) == 2


def test_unknown_decode_type_is_unmodelled() -> None:
    values, quant, encoded, ancillary = _huffman()
    custom = bytes([127]) + ancillary[1:]  # kDcmTypeCustom: TFLite Micro refuses it
    a = arena(decode_model(_lut(), (values, quant, encoded, custom)), head=0)
    assert a.unmodelled == ("TFLM_DECODE",)
    assert [w for w, _, _ in _decode_items(a)] == ["DecodeState* x2", "DecodeStateLut"]


# ------------------------------------------------------------------------------------------------
# Against TFLite Micro
# ------------------------------------------------------------------------------------------------


def _kws(codec: str, bits: int) -> Model:
    """The builder keyword-spotting model, clustered to ``2**bits`` values, its conv and
    depthwise filters compressed: a single-output DECODE before each."""
    model = build_kws_model()
    cluster(model, bits)
    model = tflitekit.load(model.to_bytes())
    compress_weights(model, tensors=["conv/w", "dw/w"], codec=codec,
                     bits=bits if codec == "lut" else None)
    return model


def _compressed_models() -> dict[str, Model]:
    return {
        "kws_lut2": _kws("lut", 2), "kws_lut4": _kws("lut", 4), "kws_huffman": _kws("huffman", 3),
        "lut_huffman_prune": decode_model(_lut(), _huffman(), _prune([0, 0, 0, 0])),
        "prune_zero_points": decode_model(_prune([3, 0, -1, 0]), _lut()),
    }


@pytest.mark.tflm
@pytest.mark.parametrize("name", sorted(_compressed_models()))
def test_compressed_arena_equals_tflm(name: str) -> None:
    from _tflm_arena import measured_arena
    model = _compressed_models()[name]
    assert any(op.opcode.custom_code == tflm.DECODE for op in model.operators())
    measured = measured_arena(model.to_bytes())
    predicted = arena(model)
    assert predicted.unmodelled == ()
    assert predicted.tail_bytes == measured.tail, predicted.items
    assert predicted.total_bytes == measured.total

"""Whether a loaded model is still exactly what its file says, so that saving it can write the
file's own bytes back instead of re-encoding them.

Every writer lays a flatbuffer out its own way (object order, field packing, shared tables,
padding): the TFLite converter, xcore-opt and tflitekit's encoder all differ, so re-encoding an
unchanged model gives an equivalent file of another size. A plain ``load`` → ``save`` therefore
reproduces the input byte for byte; a model that was edited is encoded anew.
"""

from __future__ import annotations

from ..ir.compare import equal
from ..ir.model import Model
from .read import Source, decode_source

__all__ = ["unchanged", "verbatim_source"]


def verbatim_source(model: Model) -> Source | None:
    """The source ``model`` was loaded from, when writing those bytes back is a faithful save
    of the model as it is now; otherwise None."""
    src = model.source
    if not isinstance(src, Source) or not src.pristine or not len(src.buf):
        return None
    return src if unchanged(model, src) else None


def unchanged(model: Model, src: Source) -> bool:
    """True when ``model`` equals, field by field, a fresh decoding of ``src`` and would be
    written with the same data alignment and operator-code encoding."""
    with decode_source(src) as fresh:  # closed at once: its views must not pin the file
        if model.data_alignment != fresh.data_alignment:
            return False
        codes = [(c.key(), c.legacy) for c in model.all_operator_codes()]
        if codes != [(c.key(), c.legacy) for c in fresh.all_operator_codes()]:
            return False
        return equal(model, fresh)

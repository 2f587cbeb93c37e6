"""The names ``test_conv.py`` imports from ``_scalar`` (delete once it imports ``_scalar``)."""

from _scalar import f32, mbqm, quantize_multiplier, round_away, wrap

__all__ = ["f32", "mbqm", "quantize_multiplier", "round_away", "wrap"]

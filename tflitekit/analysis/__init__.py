"""Analysis of models: results computed from a Model, for people and tools to read.

- :func:`summary`: layers with MACs/OPs (:func:`layers`, :func:`operator_cost`), :func:`rom`,
  and RAM under TensorFlow Lite Micro (:func:`memory`: lifetimes and its GreedyMemoryPlanner's
  exact arena head; :func:`arena`: head plus persistent tail).
- :func:`best_order`: the operator order with the smallest arena head.
- :func:`quantization_error`: a float model against its quantized twin, layer by layer.
- :func:`info` (``tflitekit info``), :func:`dump` and metadata decoding.

Results are frozen dataclasses with ``to_json()`` (or JSON-ready dicts, for :func:`dump`);
renderers (the command line, plots, reports) take results, never models.
"""

from __future__ import annotations

from .arena import Arena, ArenaItem, OperatorTail, Target, arena
from .costs import CONVENTIONS, Convention, Cost, operator_cost
from .dump import dump
from .info import (
    Budget,
    BufferStats,
    Digest,
    ModelInfo,
    OperatorCodeSummary,
    OperatorSummary,
    SignatureSummary,
    SubgraphSummary,
    TensorRef,
    TensorSummary,
    info,
)
from .jsonable import json_value, table_json
from .layers import Layer, Operand, OperandQuantization, layers, mltk_options
from .memory import Allocation, Memory, Step, memory
from .metadata import MetadataEntry, decode_metadata
from .quant_error import (
    ChannelErrors,
    Histogram,
    LayerError,
    OperatorRef,
    QuantizationError,
    TensorError,
    quantization_error,
)
from .reorder import Reordering, best_order
from .rom import DtypeBytes, LayerBytes, Rom, TensorBytes, rom
from .summary import Summary, summary

__all__ = [
    "CONVENTIONS",
    "Allocation",
    "Arena",
    "ArenaItem",
    "Budget",
    "BufferStats",
    "ChannelErrors",
    "Convention",
    "Cost",
    "Digest",
    "DtypeBytes",
    "Histogram",
    "Layer",
    "LayerBytes",
    "LayerError",
    "Memory",
    "MetadataEntry",
    "ModelInfo",
    "Operand",
    "OperandQuantization",
    "OperatorCodeSummary",
    "OperatorRef",
    "OperatorSummary",
    "OperatorTail",
    "QuantizationError",
    "Reordering",
    "Rom",
    "SignatureSummary",
    "Step",
    "SubgraphSummary",
    "Summary",
    "Target",
    "TensorBytes",
    "TensorError",
    "TensorRef",
    "TensorSummary",
    "arena",
    "best_order",
    "decode_metadata",
    "dump",
    "info",
    "json_value",
    "layers",
    "memory",
    "mltk_options",
    "operator_cost",
    "quantization_error",
    "rom",
    "summary",
    "table_json",
]

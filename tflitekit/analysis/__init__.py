"""Analysis of models: results computed from a Model, for people and tools to read.

- :func:`summary`: layers with MACs/OPs (:func:`layers`, :func:`operator_cost`), :func:`rom`,
  and RAM under TensorFlow Lite Micro (:func:`memory`: lifetimes and its GreedyMemoryPlanner's
  exact arena head; :func:`arena`: head plus persistent tail).
- :func:`best_order`: the operator order with the smallest arena head.
- :func:`quantization_error`: a float model against its quantized twin, layer by layer.
- :func:`info` (``tflitekit info``), :func:`dump` and metadata decoding.
- Rendering: plots (matplotlib, imported when drawing), :func:`operator_graph` as SVG
  (:func:`graph_svg`) and :func:`html_report`, one self-contained page.

Results are frozen dataclasses with ``to_json()`` (or JSON-ready dicts, for :func:`dump`);
renderers (the command line, plots, reports) take results, never models.
"""

from __future__ import annotations

from .arena import Arena, ArenaItem, OperatorTail, Target, arena
from .costs import CONVENTIONS, Convention, Cost, operator_cost
from .dequantize import real_values
from .dump import dump
from .graph import GraphEdge, GraphNode, OperatorGraph, graph_svg, operator_graph
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
from .plots import (
    channel_histograms,
    dense_images,
    layer_bars,
    memory_timeline,
    quant_error_plot,
    weight_histograms,
)
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
from .report import html_report
from .rom import DtypeBytes, LayerBytes, Rom, TensorBytes, rom
from .summary import Summary, summary
from .weights import Weights, WeightTensor, weights

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
    "GraphEdge",
    "GraphNode",
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
    "OperatorGraph",
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
    "WeightTensor",
    "Weights",
    "arena",
    "best_order",
    "channel_histograms",
    "decode_metadata",
    "dense_images",
    "dump",
    "graph_svg",
    "html_report",
    "info",
    "json_value",
    "layer_bars",
    "layers",
    "memory",
    "memory_timeline",
    "mltk_options",
    "operator_cost",
    "operator_graph",
    "quant_error_plot",
    "quantization_error",
    "real_values",
    "rom",
    "summary",
    "table_json",
    "weight_histograms",
    "weights",
]

"""Analysis of models: results computed from a Model, for people and tools to read.

Results are frozen dataclasses with ``to_json()`` (or JSON-ready dicts, for :func:`dump`);
renderers (the command line, plots, reports) take results, never models.
"""

from __future__ import annotations

from .dump import dump
from .info import (
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
from .metadata import MetadataEntry, decode_metadata

__all__ = [
    "BufferStats",
    "Digest",
    "MetadataEntry",
    "ModelInfo",
    "OperatorCodeSummary",
    "OperatorSummary",
    "SignatureSummary",
    "SubgraphSummary",
    "TensorRef",
    "TensorSummary",
    "decode_metadata",
    "dump",
    "info",
    "json_value",
    "table_json",
]

"""The schema's enums (``BuiltinOperator``, ``TensorType``, ``Padding``, ...) and typed options
tables (``Conv2DOptions``, ``FullyConnectedOptions``, ...), generated from ``schema/schema.fbs``.

``OPERATOR_OPTIONS[op]`` names the options class an operator takes (or None).
"""

from __future__ import annotations

import enum as _enum

from ._generated import schema as _schema
from ._generated.schema import *  # noqa: F403 - the public face of the generated schema

__all__ = sorted(
    name for name, value in vars(_schema).items()
    if (isinstance(value, type) and issubclass(value, (_schema.Table, _enum.Enum))
        and value.__module__ == _schema.__name__)
    or name in ("ENUMS", "FILE_IDENTIFIER", "OPERATOR_OPTIONS")
)

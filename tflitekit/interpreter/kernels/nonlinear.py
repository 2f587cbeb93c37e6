"""Placeholder: filled in by its kernel family's author."""

from __future__ import annotations

from ..kernel import Registry

KERNELS: Registry = {}

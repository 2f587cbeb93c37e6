"""Code generated from schema/schema.fbs by schema/generate.py; never edit by hand."""

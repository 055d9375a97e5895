"""Output formats: one class per format, all fed the same Document."""

from nhictl.exporters.base import Column, Document, Format, exporter_for

__all__ = ["Column", "Document", "Format", "exporter_for"]

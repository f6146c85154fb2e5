"""Where a field was read: its source span in the document's normalized text."""

from __future__ import annotations

from policies_app.importing.readers import Document
from policies_app.importing.result import Field, Source


def source_at(document: Document, start: int, end: int) -> Source:
    return Source(start, end, document.text[start:end])


def field_at(document: Document, value: object, start: int, end: int, confidence: float) -> Field:
    return Field(value, source_at(document, start, end), confidence)

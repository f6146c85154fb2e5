"""Read any payer's medical policy (plain text, a saved web page or a text PDF) into fields with their sources.

`extract_document(data, file=..., payer=..., catalogue=...)` is pure: it reads the bytes, finds the
document's structure and returns an `ImportResult` whose every field carries the span of the
normalized text it came from and a confidence. `policies_app.importing.services` writes a result
as a draft version. docs/importer.md describes the result's JSON shape.
"""

from policies_app.importing.extract import extract_document
from policies_app.importing.result import Criterion, Field, ImportResult, Source

__all__ = ["Criterion", "Field", "ImportResult", "Source", "extract_document"]

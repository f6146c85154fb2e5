"""The engine's flags speak in labels, never stored values (issue 16, section 4: no internal codes)."""

from __future__ import annotations

from policies_app.engine import LINE_OF_BUSINESS_LABELS, lines_of_business_text
from policies_app.models import LineOfBusiness


def test_the_engine_knows_every_line_of_business_by_its_label() -> None:
    assert dict(LINE_OF_BUSINESS_LABELS) == {str(value): str(label) for value, label in LineOfBusiness.choices}


def test_lines_of_business_read_as_a_sentence() -> None:
    assert lines_of_business_text(["exchange", "commercial"]) == "Commercial and Exchange (ACA marketplace)"
    assert lines_of_business_text(["medicaid"]) == "Medicaid"
    assert lines_of_business_text(["chip", "medicaid", "commercial"]) == "CHIP, Commercial and Medicaid"

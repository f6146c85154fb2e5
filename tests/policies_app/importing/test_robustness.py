"""Whatever text comes in, extraction answers fields or errors and never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies_app.importing import extract_document
from tests.policies_app.importing.conftest import CATALOGUE, CORPUS

PIECES = [
    "POLICY",
    "Codes",
    "Policy History",
    "Effective Date: 03/01/2025",
    "This policy version was replaced on February 30, 2025.",
    "Revised: Month 2024",
    "It is considered investigational.",
    "X is medically necessary when ALL of the following are met:",
    "  1. Age 18 years or older",
    "     a. BMI of 40 kg/m2 or greater",
    "  - at least 6 weeks of therapy",
    "CPT\t22867 - 22870\tInsertion",
    "ICD-10-CM\tM99.999\tNo such code",
    "Devices include the BioFlex® System and the aura6000 system.",
    "Prior authorization is required.",
    "This policy does not apply to Medicare.",
    "<b>html</b>",
    "\t\t",
    "®™",
]


def spans_hold(result) -> bool:
    for found in result.fields.values():
        for item in found if isinstance(found, list) else [found]:
            if item.source.text and result.text[item.source.start : item.source.end] != item.source.text:
                return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=40)), max_size=25))
def test_arbitrary_text_gives_fields_with_true_spans_or_errors(pieces):
    result = extract_document("\n".join(pieces).encode("utf-8", "surrogatepass"), file="x.txt", catalogue=CATALOGUE)
    assert result.errors or result.fields
    assert spans_hold(result)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=4000), st.binary(max_size=64))
def test_a_corrupted_pdf_is_refused_not_raised(cut, noise):
    data = (CORPUS / "mcd-02-scoliosis-surgery.html").read_bytes()
    result = extract_document(b"%PDF-1.4\n" + data[:cut] + noise, file="x.pdf")
    assert result.errors

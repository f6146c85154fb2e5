"""The payer as the document names it: its legal form kept, a state agency read from its letterhead."""

from __future__ import annotations

from policies_app.importing import extract_document

POLICY = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Ligament instability on examination
"""


def payer(text: str) -> str | None:
    return extract_document(text.encode(), file="p.txt").value("payer")


def test_a_payers_legal_form_is_part_of_its_name():
    assert (
        payer("Orchard Valley Health Corporation\nCoverage Policy\n\n" + POLICY) == "Orchard Valley Health Corporation"
    )


def test_an_abbreviated_legal_form_is_kept_with_its_period():
    assert payer("Lakeland Mutual Insurance Co.\nMedical Policy\n\n" + POLICY) == "Lakeland Mutual Insurance Co."


def test_a_state_agency_in_the_letterhead_is_the_payer_rather_than_its_programme():
    text = (
        "Eastfield Department of Human Services Medicaid Program\n\n" + POLICY + "\nEastfield Medicaid plan members.\n"
    )
    assert payer(text) == "Eastfield Department of Human Services"

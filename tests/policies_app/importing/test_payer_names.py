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


def test_a_programme_named_like_a_payer_is_not_the_payer():
    text = (
        "Prior Authorization Criteria\n\n" + POLICY + "\nChildren's Health Insurance Program members keep their plan.\n"
    )
    assert payer(text) is None


def test_a_blue_plan_region_named_with_its_article_is_part_of_the_name():
    text = "Blue Cross and Blue Shield of the High Desert\nMedical Policy\n\n" + POLICY
    assert payer(text) == "Blue Cross and Blue Shield of the High Desert"


def test_an_ampersand_joins_the_words_of_a_payers_name():
    text = "Lindenwood Health & Casualty Insurance Company\nCoverage Policy\n\n" + POLICY
    assert payer(text) == "Lindenwood Health & Casualty Insurance Company"


def test_a_company_named_by_its_legal_form_on_the_first_line_is_the_payer():
    text = "BRIGHTWATER BENEFIT MANAGERS, INC.\nUTILIZATION MANAGEMENT GUIDELINE\n\n" + POLICY
    found = extract_document(text.encode(), file="p.txt").one("payer")
    assert found is not None
    assert (found.value, found.confidence) == ("Brightwater Benefit Managers, Inc.", 0.75)


def test_a_state_line_above_the_agency_is_part_of_the_agency_name():
    text = "STATE OF WESTMARCH\nDEPARTMENT OF HEALTH CARE FINANCE\nPrior Authorization Criteria\n\n" + POLICY
    assert payer(text) == "State of Westmarch Department of Health Care Finance"


def test_a_payer_on_a_first_line_read_as_a_heading_is_the_payer():
    text = "Tamarack Ridge Health Alliance    Clinical Coverage Policy\n\n" + POLICY
    assert payer(text) == "Tamarack Ridge Health Alliance"


def test_an_agency_name_ends_at_services_before_its_programme():
    page = (
        "<html><body><div><span>Eastfield Department of Human Services</span>\n"
        "  <span>Eastfield Health Care Program (Medicaid)</span></div>"
        "<h2>Policy</h2><p>Knee bracing is considered medically necessary.</p></body></html>"
    )
    assert extract_document(page.encode(), file="p.html").value("payer") == "Eastfield Department of Human Services"


def test_the_plans_administrator_named_in_a_sentence_is_the_payer():
    text = POLICY + "\nThis policy applies to benefit plans administered by Tamarack Health Services.\n"
    assert payer(text) == "Tamarack Health Services"


def test_a_payer_on_one_of_the_first_lines_below_a_title_is_the_payer_to_confirm():
    text = "# Knee Bracing\n\n**Tamarack Ridge Health** | Orthotics Policy\n\n" + POLICY
    found = extract_document(text.encode(), file="p.txt").one("payer")
    assert found is not None
    assert (found.value, found.confidence) == ("Tamarack Ridge Health", 0.75)


def test_the_payer_under_a_contractor_name_column_is_the_payer():
    text = (
        "Local Coverage Determination\nContractor Information\n"
        "Contractor Name\tContract Type\nPinewood Government Benefit Administrators, LLC\tA and B MAC\n\n" + POLICY
    )
    assert payer(text) == "Pinewood Government Benefit Administrators, LLC"


def test_a_blue_plans_region_of_three_words_is_part_of_its_name():
    text = POLICY + "\n© 2026 BlueCross BlueShield of the Green Hill Valley. Privacy\n"
    assert payer(text) == "BlueCross BlueShield of the Green Hill Valley"


def test_a_health_insurance_marketplace_is_no_payer():
    text = (
        "Eligibility\n\n"
        + POLICY
        + "\nThis plan covers members who bought coverage through a state Health Insurance Marketplace.\n"
    )
    assert payer(text) != "Health Insurance"


def test_a_masthead_cell_in_capitals_names_the_payer():
    assert payer("HOLLOW PINE HEALTHCARE\tCommercial Medical Policy\n\n" + POLICY) == "Hollow Pine Healthcare"


def test_a_first_line_named_again_with_its_legal_form_is_the_payer():
    text = (
        "BRIGHTWATER IMAGING SOLUTIONS\nImaging Guidelines\n\nBrightwater Imaging Solutions, LLC reviews requests.\n\n"
        + POLICY
    )
    found = extract_document(text.encode(), file="p.txt").one("payer")
    assert found is not None
    assert (found.value, found.confidence) == ("Brightwater Imaging Solutions", 0.8)


def test_a_company_with_its_legal_form_in_the_header_is_the_payer_to_confirm():
    text = "Members\nFind a doctor\nGuideline VB-12 — Clearview Vision Benefits of America, Inc.\n\n" + POLICY
    found = extract_document(text.encode(), file="p.txt").one("payer")
    assert found is not None
    assert (found.value, found.confidence) == ("Clearview Vision Benefits of America, Inc.", 0.7)


def test_a_state_named_before_its_agency_on_one_line_is_part_of_the_agencys_name():
    text = "Knee Bracing\nState of Kanawha Department of Health Services\nPolicy No.: KB-1\n\n" + POLICY
    assert payer(text) == "State of Kanawha Department of Health Services"


def test_the_division_printed_under_an_agency_is_part_of_the_issuers_name():
    text = "Knee Bracing\nDepartment of Human Services\nDivision of Medical Assistance\nPolicy No.: KB-1\n\n" + POLICY
    assert payer(text) == "Department of Human Services, Division of Medical Assistance"

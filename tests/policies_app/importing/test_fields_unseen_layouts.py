"""Codes, dates, positions and lines of business in layouts the importer had not read: pasted word-processor
text, code tables under captions, logs dated by month and two-digit year, labels without a colon."""

from __future__ import annotations

from datetime import date

from tests.policies_app.importing.reading import codes, extract

CRITERIA = """Policy

Hip bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Instability on examination
"""


def positions(text: str) -> list[str]:
    return [p.value["position"] for p in extract(text).many("positions")]


# Codes


def test_a_line_labelled_with_its_code_system_lists_codes_outside_any_codes_section():
    text = CRITERIA + "\n3.\tBilling\n3.1\tCPT: 0701T and 0702T (hip brace fitting; each session).\n"
    assert codes(extract(text)) == ["CPT:0701T", "CPT:0702T"]


def test_a_code_system_named_in_running_text_is_not_a_labelled_code_line():
    text = CRITERIA + "\nHistory\n04/02/2026\tCPT: codes 0701T and 0702T added.\n"
    assert codes(extract(text)) == []


def test_a_diagnosis_codes_label_names_the_code_system_of_its_line():
    text = CRITERIA + "\nICD-10-CM diagnosis codes: M16.0, M16.11\n"
    assert codes(extract(text)) == ["ICD10CM:M16.0", "ICD10CM:M16.11"]


def test_a_range_broken_after_its_through_joins_the_next_lines_first_code():
    text = CRITERIA + "\nCodes\nICD-10-CM: M16.0; M16.10 through\nM16.12; M24.851.\n"
    assert codes(extract(text)) == ["ICD10CM:M16.0", "ICD10CM:M16.10-M16.12", "ICD10CM:M24.851"]


def test_code_tables_under_captions_after_the_codes_heading_are_read():
    html = """<html><body><h2>Policy</h2>
    <p>Hip bracing is considered medically necessary when ALL of the following are met:</p>
    <ol><li>Age 18 years or older</li><li>Instability on examination</li></ol>
    <h2>Codes</h2>
    <h3>Covered when criteria are met</h3>
    <table><tr><th>CPT</th><th>Description</th></tr>
    <tr><td>27030&ndash;27033</td><td>Arthrotomy, hip</td></tr>
    <tr><td>27035, 27036</td><td>Denervation, hip joint</td></tr></table>
    <p>Not medically necessary</p>
    <table><tr><th>CPT</th><th>Description</th></tr>
    <tr><td>27040</td><td>Biopsy, soft tissue of pelvis</td></tr></table>
    <h3>ICD-10-CM</h3>
    <table><tr><th>Code</th><th>Description</th></tr><tr><td>M16.0</td><td>Bilateral primary osteoarthritis of hip</td></tr></table>
    </body></html>"""
    assert codes(extract(html, "policy.html")) == [
        "CPT:27030-27033",
        "CPT:27035",
        "CPT:27036",
        "CPT:27040",
        "ICD10CM:M16.0",
    ]


def test_a_short_line_over_a_sentence_is_no_caption_of_a_code_table():
    html = """<html><body><h2>Policy</h2>
    <p>Hip bracing is considered medically necessary when ALL of the following are met:</p>
    <ol><li>Age 18 years or older</li><li>Instability on examination</li></ol>
    <h2>Codes</h2>
    <h3>Covered when criteria are met</h3>
    <table><tr><th>CPT</th><th>Description</th></tr><tr><td>27030</td><td>Arthrotomy, hip</td></tr></table>
    <p>Unlisted hip procedures</p>
    <p>Bill 27099 with the records, which go to a reviewer.</p>
    </body></html>"""
    assert "CPT:27099" not in codes(extract(html, "policy.html"))


# Dates


def test_originally_developed_with_a_dotted_leader_is_the_original_effective_date():
    text = "  Originally developed ...... 04/11/2013\n  Effective date ........ 02/01/2026\n\n" + CRITERIA
    assert extract(text).one("original_effective").value == date(2013, 4, 11)


def test_a_committee_approval_without_colon_or_leader_is_the_last_review():
    text = "  Approved by Medical Policy Committee  08/19/2025\n  Effective date: 02/01/2026\n\n" + CRITERIA
    assert extract(text).one("last_review").value == date(2025, 8, 19)


def test_a_committee_approval_date_is_the_last_review():
    text = "Utilization Committee Approval Date: 08/19/2025\nEffective Date: 02/01/2026\n\n" + CRITERIA
    assert extract(text).one("last_review").value == date(2025, 8, 19)


def test_an_original_committee_approval_is_the_original_date_not_the_last_review():
    text = "Original committee approval: 05/06/2012\nEffective Date: 02/01/2026\n\n" + CRITERIA
    result = extract(text)
    assert result.one("original_effective").value == date(2012, 5, 6)
    assert result.one("last_review") is None


def test_first_implemented_and_date_of_first_issue_are_original_dates():
    assert extract("First implemented: June 2012\n\n" + CRITERIA).one("original_effective").value == date(2012, 6, 1)
    assert extract("Date of first issue: 5 May 2014\n\n" + CRITERIA).one("original_effective").value == date(2014, 5, 5)


def test_an_issue_date_years_before_the_effective_date_is_the_original_effective_date():
    text = "Issue Date:  May 3, 2018\nRevision:  Change 9, effective March 1, 2026\n\n" + CRITERIA
    assert extract(text).one("original_effective").value == date(2018, 5, 3)


def test_an_issue_date_days_before_the_effective_date_is_not_the_original_date():
    text = "Issue Date: February 10, 2026\nEffective Date: March 1, 2026\n\n" + CRITERIA
    assert extract(text).one("original_effective") is None


def test_a_date_label_with_month_and_two_digit_year_names_the_first_of_the_month():
    text = "Date of Last Revision: 07/25\n\n" + CRITERIA
    result = extract(text)
    assert result.one("revised").value == date(2025, 7, 1)
    assert result.one("effective_start").value == date(2025, 7, 1)


def test_a_full_date_after_a_label_is_not_cut_to_month_and_year():
    assert extract("Effective Date: 04/15/26\n\n" + CRITERIA).one("effective_start").value == date(2026, 4, 15)


def test_history_rows_dated_by_month_and_two_digit_year_are_read_by_their_first_date():
    text = (
        CRITERIA
        + "\nRevision Log\nChange\tRevised\tApproved\nPolicy created.\t03/15\t04/15\nAnnual review.\t09/25\t10/25\n"
    )
    assert [r.value["date"] for r in extract(text).many("history")] == [date(2015, 3, 1), date(2025, 9, 1)]


def test_log_rows_read_as_headings_below_an_empty_log_title_are_its_rows():
    text = (
        CRITERIA + "\nRevision Log\n\nPolicy created. 03/15 04/15\nAnnual review. 09/25 10/25\n\nLEGAL NOTICE\nText.\n"
    )
    assert [r.value["date"] for r in extract(text).many("history")] == [date(2015, 3, 1), date(2025, 9, 1)]


def test_a_month_and_two_digit_year_outside_a_log_is_no_history_row():
    text = CRITERIA + "\n3. Brace replaced at 12/25 wear.\n"
    assert extract(text).many("history") == []


# Positions


def test_a_code_with_a_full_stop_inside_a_position_sentence_does_not_end_it():
    text = "Policy\n\nHip bracing is medically necessary for hip dysplasia (Q65.89) when ALL of the following are met:\n1. Age 18 years or older\n"
    assert positions(text) == ["medically_necessary_with_criteria"]


def test_a_section_reference_with_a_full_stop_inside_does_not_end_the_sentence():
    text = "Policy\n\nIV. A hip brace is considered cosmetic for asymmetry below the thresholds in section II.B.\n"
    assert positions(text) == ["cosmetic"]


def test_a_service_named_as_another_benefit_states_no_position():
    text = CRITERIA + "\nNight splints are a pharmacy benefit and are not covered under this policy.\n"
    assert positions(text) == ["medically_necessary_with_criteria"]


def test_covered_when_medically_necessary_without_criteria_is_plain_medical_necessity():
    text = (
        CRITERIA
        + "\n3.2 Removal of a hip brace is covered when\nmedically necessary, for example for skin breakdown.\n"
    )
    assert positions(text) == ["medically_necessary_with_criteria", "medically_necessary"]


def test_meeting_the_definition_of_medical_necessity_when_criteria_are_met_states_the_criteria_position():
    text = "Policy\n\nHip bracing meets the definition of medical necessity when ALL of the following are met:\n1. Age 18 years or older\n"
    assert positions(text) == ["medically_necessary_with_criteria"]


def test_a_rule_about_services_that_do_not_meet_medical_necessity_states_no_position():
    text = (
        CRITERIA + "\nA request that does not meet the definition of medical necessity goes to a physician reviewer.\n"
    )
    assert positions(text) == ["medically_necessary_with_criteria"]


def test_coverage_limited_to_members_who_meet_the_following_states_the_criteria_position():
    text = "Policy\n\nCoverage of hip bracing is limited to members who meet all of the following:\n1. Age 18 years or older\n"
    assert positions(text) == ["medically_necessary_with_criteria"]


# Lines of business


def test_plans_offered_by_employers_are_commercial():
    text = "This policy applies to Northfield HMO and PPO plans offered by employers.\n\n" + CRITERIA
    assert [f.value for f in extract(text).many("lines_of_business_only")] == ["commercial"]


def test_managed_care_product_types_without_a_public_programme_are_commercial():
    text = "This policy applies to Northfield HMO, PPO and EPO plans.\n\n" + CRITERIA
    assert [f.value for f in extract(text).many("lines_of_business_only")] == ["commercial"]


def test_product_types_of_a_medicare_advantage_plan_are_not_commercial():
    text = "This summary applies to Northfield Medicare Advantage (HMO and PPO) plans only.\n\n" + CRITERIA
    assert [f.value for f in extract(text).many("lines_of_business_only")] == ["medicare_advantage"]

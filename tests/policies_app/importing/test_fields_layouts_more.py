"""Codes, dates, positions and lines of business in more layouts: ticked product lists, front matter keys,
controlled documents' revision tables, manual sections with numbered transmittals, inline conditions."""

from __future__ import annotations

from datetime import date

from policies_app.importing.dates import DATE_RE
from policies_app.importing.result import ImportResult
from tests.policies_app.importing.reading import codes, extract

CRITERIA = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Instability on examination
"""


def history(result: ImportResult) -> list[date]:
    return [row.value["date"] for row in result.many("history")]


def excluded(result: ImportResult) -> set[str]:
    return {f.value for f in result.many("lines_of_business_excluded")}


def only(result: ImportResult) -> set[str]:
    return {f.value for f in result.many("lines_of_business_only")}


def positions(text: str) -> list[str]:
    return [p.value["position"] for p in extract(text).many("positions")]


# Dates


def test_an_original_label_alone_before_its_colon_is_the_original_effective_date():
    result = extract("Knee Bracing\nEffective: 5/1/2026 | Reviewed: 3/2/2026 | Original: 9/1/2013\n" + CRITERIA)
    assert result.value("original_effective") == date(2013, 9, 1)
    assert result.value("effective_start") == date(2026, 5, 1)


def test_the_effective_date_of_this_revision_is_the_effective_start():
    text = "Section first effective: June 1, 2010\nEffective date of this revision: February 1, 2026\n" + CRITERIA
    text += "\nNotes\nThe rule was amended effective March 1, 2018.\n"
    assert extract(text).value("effective_start") == date(2026, 2, 1)


def test_effective_for_requests_received_on_or_after_a_date_is_the_effective_start():
    text = "Knee Bracing Worksheet\nEffective for requests received on or after March 3, 2026.\n" + CRITERIA
    assert extract(text).value("effective_start") == date(2026, 3, 3)


def test_effective_for_claims_with_dates_of_service_beginning_a_date_is_the_effective_start():
    text = "Knee Bracing\nCoverage effective for claims with dates of service beginning 07/01/2026\n" + CRITERIA
    assert extract(text).value("effective_start") == date(2026, 7, 1)


def test_front_matter_keys_joined_by_underscores_name_their_dates():
    text = (
        "---\ntitle: Knee Bracing\neffective: 2026-04-01\nfirst_effective: 2012-10-01\n"
        "last_reviewed: 2026-01-14\nnext_review: 2027-01\n---\n" + CRITERIA
    )
    result = extract(text)
    assert result.value("original_effective") == date(2012, 10, 1)
    assert result.value("last_review") == date(2026, 1, 14)


def test_a_revision_letter_between_a_label_and_its_date_is_skipped():
    text = "Effective date: 2 May 2026\nOriginal issue: Rev A, 4 August 2014\n" + CRITERIA
    assert extract(text).value("original_effective") == date(2014, 8, 4)


def test_a_policy_origin_label_names_the_original_effective_month():
    text = "Effective date\t01 Mar 2026\nPolicy origin\tJun 2014\n" + CRITERIA
    assert extract(text).value("original_effective") == date(2014, 6, 1)


def test_a_reprint_note_and_a_forms_revision_under_a_log_are_no_rows():
    text = CRITERIA + (
        "\nRevision History\n10/14/2025\tAnnual review.\n03/2018\tNew policy.\n"
        "Printed copies are for reference. Reprinted 02/02/2026.\nForm KB-17 Rev. 08/2025\n"
    )
    assert history(extract(text)) == [date(2025, 10, 14), date(2018, 3, 1)]


def test_a_day_is_never_read_across_a_tab_before_its_month():
    match = DATE_RE.search("4\tNov 2022\tCriteria updated.")
    assert match is not None and match.group(0) == "Nov 2022"


def test_a_document_control_table_with_revision_letters_is_the_history():
    text = CRITERIA + (
        "\n8. Document control\nRev Date Description of change Author\n"
        "C 11 Feb 2026 Age threshold stated. P. Ostrander\n"
        "B 07 Jul 2021 References updated. P. Ostrander\n"
        "A 20 Jan 2017 Initial release. K. Lyle\n"
    )
    assert history(extract(text)) == [date(2026, 2, 11), date(2021, 7, 7), date(2017, 1, 20)]


def test_numbered_transmittals_before_a_log_rows_date_are_not_its_date():
    text = CRITERIA + (
        "\n§ 12.4.6 Revision history\nTransmittal Effective Change\n"
        "2025-11 10/01/2025 Limits changed.\n2016-04 05/01/2016 Section created.\n"
    )
    assert history(extract(text)) == [date(2025, 10, 1), date(2016, 5, 1)]


# Lines of business


def test_a_products_label_over_ticked_and_crossed_items_names_the_plans():
    text = "Knee Bracing\nProducts:\n- ✓ Commercial\n- ✓ Individual Marketplace\n- ✗ Medicare Advantage\n- ✗ Medicaid\n"
    result = extract(text + CRITERIA)
    assert only(result) == {"commercial", "exchange"}
    assert excluded(result) == {"medicare_advantage", "medicaid"}


def test_a_plan_not_reviewed_under_this_bulletin_across_a_wrapped_line_is_excluded():
    text = (
        "Plans covered by this bulletin: employer-sponsored group plans.\n"
        "Members of the Acme Medicare Gold (PPO) plan follow the Medicare rules for knee\n"
        "braces and are not reviewed under this bulletin.\n"
    )
    assert "medicare_advantage" in excluded(extract(text + CRITERIA))


def test_plans_outside_the_scope_of_the_policy_are_excluded():
    text = (
        "Scope\nThis policy governs coverage decisions for Acme Commercial members. Members of Acme "
        "Medicaid plans are outside the scope of this policy.\n"
    )
    result = extract(text + CRITERIA)
    assert excluded(result) == {"medicaid"}
    assert only(result) == {"commercial"}


def test_a_not_in_scope_label_excludes_the_plans_it_names():
    text = "Lines of business\tCommercial\nNot in scope\tFederal Employee Program (see its manual)\n"
    result = extract(text + CRITERIA)
    assert excluded(result) == {"fep"}
    assert only(result) == {"commercial"}


def test_a_worksheet_used_for_named_members_applies_only_to_them():
    text = "This worksheet is used for Acme Commercial and Acme Marketplace members.\n"
    assert only(extract(text + CRITERIA)) == {"commercial", "exchange"}


# Codes


def test_code_rows_below_a_row_read_as_a_heading_after_the_code_table_header_are_read():
    text = CRITERIA + (
        "\n§ 9.2 Billing codes\nCode Description\nL1810, L1812, L1820\n"
        "Knee orthosis, elastic or other elastic type material, by size\n"
        "L1832 Knee orthosis, adjustable knee joints, positional orthosis\n"
        "97760 Orthotic management and training, initial encounter\n"
        "§ 9.3 Revision history\n"
    )
    assert codes(extract(text)) == ["HCPCS:L1810", "HCPCS:L1812", "HCPCS:L1820", "HCPCS:L1832", "CPT:97760"]


# Positions


def test_an_emphasised_negation_is_not_medically_necessary():
    assert positions("Not covered\n- Knee bracing for sprains is **not medically necessary**.\n") == [
        "not_medically_necessary"
    ]


def test_a_statement_with_a_condition_while_the_member_benefits_has_criteria():
    text = "Policy\nRefitting of a knee brace is medically necessary while the member continues to benefit.\n"
    assert positions(text) == ["medically_necessary_with_criteria"]


def test_a_statement_with_an_inline_age_and_score_threshold_has_criteria():
    text = (
        "Policy\nKnee bracing is medically necessary for recurrent instability for members 16 years of age "
        "or older with a function score of 40 or higher.\n"
    )
    assert positions(text) == ["medically_necessary_with_criteria"]

"""Dates and history rows as payers write them: label lines, Medicare wording, pipe tables, unheaded logs."""

from __future__ import annotations

from datetime import date

from policies_app.importing import extract_document

POLICY = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Ligament instability on examination
"""


def extract(text: str):
    return extract_document(text.encode(), file="policy.txt")


def test_a_bare_effective_label_gives_the_effective_date():
    result = extract("Orchard Valley Health Plan\nEffective: 07/01/2026\n\n" + POLICY)
    assert result.value("effective_start") == date(2026, 7, 1)


def test_an_effective_label_under_a_bulletin_update_heading_is_not_a_history_row():
    text = "Orchard Valley Health Plan\nPROVIDER NEWS - POLICY UPDATE\nEffective: 07/01/2026\n\n" + POLICY
    result = extract(text)
    assert result.value("effective_start") == date(2026, 7, 1)
    assert result.many("history") == []


def test_a_date_label_on_its_own_line_takes_the_date_on_the_next_line():
    text = "Orchard Valley Health Plan\nOriginal Effective Date\n09/15/2019\nEffective Date\n03/01/2026\n\n" + POLICY
    result = extract(text)
    assert result.value("original_effective") == date(2019, 9, 15)
    assert result.value("effective_start") == date(2026, 3, 1)


def test_medicare_wording_for_services_performed_on_or_after_is_read_as_the_date():
    text = (
        "Local Coverage Determination (LCD)\nOriginal Effective Date\nFor services performed on or after 11/03/2020\n"
        "Revision Effective Date\nFor services performed on or after 04/12/2026\nRetirement Date\nN/A\n\n" + POLICY
    )
    result = extract(text)
    assert result.value("original_effective") == date(2020, 11, 3)
    assert result.value("effective_start") == date(2026, 4, 12)
    assert result.value("effective_end") is None


def test_a_date_label_line_is_not_taken_for_a_history_heading():
    text = "Revision Effective Date\nFor services performed on or after 04/12/2026\n\n" + POLICY
    assert extract(text).many("history") == []


def test_originally_effective_in_a_header_table_is_the_original_effective_date():
    text = "Orchard Valley Health Plan\nEffective\t02/01/2026\tOriginally effective\t05/01/2011\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2011, 5, 1)


def test_history_rows_in_a_pipe_table_under_a_numbered_heading_are_read():
    text = POLICY + "\n7. Policy History\nDate | Change\n01/10/2026 | Criteria reworded.\n01/12/2025 | New policy.\n"
    rows = extract(text).many("history")
    assert [(r.value["date"], r.value["action"]) for r in rows] == [
        (date(2026, 1, 10), "Criteria reworded."),
        (date(2025, 1, 12), "New policy."),
    ]


def test_a_numbered_list_item_is_not_taken_for_a_heading():
    text = POLICY + "3. Documentation of six weeks of physical therapy\n"
    leaves = [leaf.label for root in extract(text).criteria for leaf in root.leaves()]
    assert any("physical therapy" in label for label in leaves)


def test_dated_lines_without_a_history_heading_are_history_rows():
    text = POLICY + "\n11/20/2025 Annual review; references updated.\n12/01/2022 Policy created.\n"
    rows = extract(text).many("history")
    assert [r.value["date"] for r in rows] == [date(2025, 11, 20), date(2022, 12, 1)]
    assert all(r.confidence < 0.8 for r in rows)


def test_a_single_dated_line_outside_a_history_section_is_not_a_history_row():
    assert extract(POLICY + "\n11/20/2025 Reviewed by the committee.\n").many("history") == []


def test_a_replaced_banner_gives_the_replacement_date_and_ends_the_day_before():
    text = "Effective Date: 01/01/2024\nThis version was replaced on 06/01/2026.\n\n" + POLICY
    result = extract(text)
    assert result.value("replaced_on") == date(2026, 6, 1)
    assert result.value("effective_end") == date(2026, 5, 31)


def test_a_stated_end_date_beats_the_one_inferred_from_a_banner():
    text = "Effective Date: 01/01/2024\nEnd Date: 06/01/2026\nThis version was replaced on 06/02/2026.\n\n" + POLICY
    assert extract(text).value("effective_end") == date(2026, 6, 1)


def test_every_new_date_field_points_to_its_source():
    text = "Original Effective Date\nFor services performed on or after 11/03/2020\n\n" + POLICY
    result = extract(text)
    found = result.one("original_effective")
    assert found is not None
    assert result.text[found.source.start : found.source.end] == found.source.text
    assert "11/03/2020" in found.source.text


def test_a_day_written_with_its_ordinal_is_read():
    assert extract("Effective Date: March 1st, 2026\n\n" + POLICY).value("effective_start") == date(2026, 3, 1)


def test_a_numeric_date_with_dashes_is_read_month_first():
    assert extract("Effective Date: 03-01-2026\n\n" + POLICY).value("effective_start") == date(2026, 3, 1)


def test_a_two_digit_year_is_read_in_this_century():
    assert extract("Last Reviewed: 11/04/25\n\n" + POLICY).value("last_review") == date(2025, 11, 4)


def test_a_summary_of_changes_section_holds_history_rows():
    text = POLICY + "\nSUMMARY OF CHANGES\n04/02/2026\tAge criterion lowered.\n"
    assert [r.value["date"] for r in extract(text).many("history")] == [date(2026, 4, 2)]


CODED = """2.0 POLICY
2.1 Knee bracing is considered medically necessary when ALL of the following are met:
    1. Age 18 years or older
5.0 CODING
    CPT
    L1843 Knee orthosis, single upright
"""


def test_history_rows_under_a_numbered_title_inside_the_coding_section_are_read():
    text = CODED + "7.0 POLICY HISTORY\n    Date Action\n    03/04/2026 Annual review.\n    05/06/2019 New policy.\n"
    assert [r.value["date"] for r in extract(text).many("history")] == [date(2026, 3, 4), date(2019, 5, 6)]


def test_a_history_row_wrapped_onto_a_deeper_line_is_one_row():
    text = (
        CODED
        + "7.0 POLICY HISTORY\n    03/04/2026 Annual review. Age\n               criterion lowered.\n    05/06/2019 New policy.\n"
    )
    assert len(extract(text).many("history")) == 2


def test_a_titled_history_table_ends_at_a_line_less_indented_than_its_rows():
    text = (
        CODED
        + "7.0 POLICY HISTORY\n    03/04/2026 Annual review.\nPolicies are reviewed every year; see 01/02/2027 notice.\n"
    )
    assert [r.value["date"] for r in extract(text).many("history")] == [date(2026, 3, 4)]


def test_a_notice_period_end_date_is_not_the_policys_end_date():
    text = (
        "Effective Date: 03/01/2026\nNotice Period Start Date 01/15/2026\nNotice Period End Date 02/28/2026\n\n"
        + POLICY
    )
    assert extract(text).one("effective_end") is None


def test_a_comment_period_end_date_does_not_hide_the_policys_end_date():
    text = "Comment Period End Date 02/28/2026\nEnd Date: 12/31/2026\n\n" + POLICY
    assert extract(text).value("effective_end") == date(2026, 12, 31)


def test_a_day_month_abbreviation_and_year_between_dashes_is_a_date():
    assert extract("Effective date\t14-Feb-2026\n\n" + POLICY).value("effective_start") == date(2026, 2, 14)


def test_a_day_month_abbreviation_and_two_digit_year_between_dashes_is_this_century():
    assert extract("Effective date\t14-Feb-26\n\n" + POLICY).value("effective_start") == date(2026, 2, 14)


def test_first_adopted_is_the_original_effective_date():
    text = "Effective\tMarch 1, 2026\nFirst adopted\tApril 9, 2014\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2014, 4, 9)


def test_a_created_label_with_a_month_only_is_the_first_of_that_month():
    text = "Effective: May 2026 | Created: October 2018\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2018, 10, 1)


def test_the_reviewer_named_between_last_and_review_does_not_hide_the_review_date():
    text = "Effective\tMarch 1, 2026\nLast committee review\tJanuary 20, 2026\n\n" + POLICY
    assert extract(text).value("last_review") == date(2026, 1, 20)


def test_the_effective_date_of_the_replacing_policy_is_not_this_versions():
    text = (
        "This policy was retired and is replaced by KNEE-220, Knee Bracing,\neffective 01-Jul-2026.\n"
        "Version effective\t01-Feb-2024\n\n" + POLICY
    )
    assert extract(text).value("effective_start") == date(2024, 2, 1)


def test_a_policy_retired_on_a_day_applies_through_that_day():
    text = "This policy was retired on 30-Jun-2026.\nEffective\t01-Feb-2024\n\n" + POLICY
    assert extract(text).value("effective_end") == date(2026, 6, 30)


def test_labelled_dates_under_a_history_heading_are_the_policys_dates():
    text = (
        "Policy History\nLast Review 02/11/2026\nOriginally effective 08/20/2010\nNext Review 02/10/2027\n"
        "Revision Effective Date 04/01/2026\n\n" + POLICY
    )
    result = extract(text)
    assert (result.value("effective_start"), result.value("original_effective"), result.value("last_review")) == (
        date(2026, 4, 1),
        date(2010, 8, 20),
        date(2026, 2, 11),
    )


def test_labelled_dates_under_a_history_heading_are_no_history_rows():
    text = (
        "Policy History\nLast Review 02/11/2026\nOriginally effective 08/20/2010\nNext Review 02/10/2027\n\n" + POLICY
    )
    assert extract(text).many("history") == []


def test_abbreviated_months_with_a_full_stop_date_history_rows():
    text = POLICY + "\nRevision History\nSept. 3, 2024\tCriteria updated.\nOct. 1, 2025\tAnnual review.\n"
    assert [r.value["date"] for r in extract(text).many("history")] == [date(2024, 9, 3), date(2025, 10, 1)]


def test_a_label_followed_by_on_takes_the_date_after_it():
    text = "Effective: 03/01/2026\nLast reviewed on January 20, 2026\n\n" + POLICY
    assert extract(text).value("last_review") == date(2026, 1, 20)


def test_an_original_approval_date_is_the_original_effective_date():
    text = "Effective: 03/01/2026\nOriginal Approval Date: 05/12/2015\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2015, 5, 12)


def test_effective_for_dates_of_service_on_and_after_is_the_effective_date():
    text = "Orchard Valley Health Plan\nEffective for dates of service on and after June 3rd, 2026\n\n" + POLICY
    assert extract(text).value("effective_start") == date(2026, 6, 3)


def test_origination_alone_labels_the_original_effective_date():
    text = "Orchard Valley Health Plan\nOrigination: 4/2017\nEffective Date: 01/05/2026\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2017, 4, 1)


def test_an_original_date_naming_what_was_first_dated_is_the_original_effective_date():
    text = "Orchard Valley Health Plan\nOriginal guideline date\n10-12-2016\nEffective Date: 01/05/2026\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2016, 10, 12)


def test_an_initial_policy_label_is_the_original_effective_date():
    text = "Orchard Valley Health Plan\nInitial policy    03/15/2013\nEffective Date: 01/05/2026\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2013, 3, 15)


def test_a_dated_line_wrapped_under_a_history_row_is_not_a_row_of_its_own():
    text = (
        POLICY + "\nPolicy History\n"
        "5/2025    Annual review. Members were told\n"
        "          4/02/2025 of the new step therapy rule. (jt)\n"
        "6/2019    Policy created.\n"
    )
    rows = extract(text).many("history")
    assert [r.value["date"] for r in rows] == [date(2025, 5, 1), date(2019, 6, 1)]


def test_a_pages_last_updated_date_under_the_history_is_not_a_history_row():
    text = (
        POLICY + "\nPolicy History\n- 03/04/2025 – Annual review.\n- 07/01/2020 – New policy.\n"
        "Page last updated 09/30/2025\n"
    )
    rows = extract(text).many("history")
    assert [r.value["date"] for r in rows] == [date(2025, 3, 4), date(2020, 7, 1)]


def test_a_change_log_set_between_rules_holds_history_rows():
    text = POLICY + "\n=== Part 5 - Change log ===\n\n   Mar 4, 2025    Annual review.\n   Jul 1, 2020    New policy.\n"
    rows = extract(text).many("history")
    assert [(r.value["date"], r.value["action"]) for r in rows] == [
        (date(2025, 3, 4), "Annual review."),
        (date(2020, 7, 1), "New policy."),
    ]
    assert all(r.confidence >= 0.8 for r in rows)


def test_date_of_last_revision_is_the_revised_date():
    assert extract("Date of Last Revision: 08/2025\n\n" + POLICY).value("revised") == date(2025, 8, 1)


def test_date_of_review_is_the_last_review():
    assert extract("Date of Review: 10/2025\n\n" + POLICY).value("last_review") == date(2025, 10, 1)


def test_date_initiated_is_the_original_effective_date():
    assert extract("Date Initiated: 09/2012\n\n" + POLICY).value("original_effective") == date(2012, 9, 1)


def test_the_effective_date_of_the_current_version_is_the_effective_date():
    text = "Effective Date of Current Version: 02/15/2026\n\n" + POLICY
    assert extract(text).value("effective_start") == date(2026, 2, 15)


def test_an_implementation_date_is_the_effective_date_to_confirm():
    found = extract("Implementation Date: 05/01/2026\n\n" + POLICY).one("effective_start")
    assert found is not None
    assert (found.value, found.confidence) == (date(2026, 5, 1), 0.85)


def test_a_review_completed_label_gives_the_last_review():
    result = extract(
        "Orchard Valley Health Plan\nAnnual review completed: 11/12/2025   Next annual review: 11/2026\n\n" + POLICY
    )
    assert result.value("last_review") == date(2025, 11, 12)
    assert result.value("next_review") == date(2026, 11, 1)


def test_a_committee_review_without_a_colon_gives_the_last_review():
    result = extract("Orchard Valley Health Plan\nMedical Policy Committee review 14 Oct 2025\n\n" + POLICY)
    assert result.value("last_review") == date(2025, 10, 14)


def test_a_next_committee_review_is_not_the_last_review():
    result = extract("Orchard Valley Health Plan\nNext committee review 14 Oct 2026\n\n" + POLICY)
    assert result.value("last_review") is None


def test_in_force_from_gives_the_effective_start():
    result = extract("Orchard Valley Health Plan\nIn force from\n1 Feb 2026\n\n" + POLICY)
    assert result.value("effective_start") == date(2026, 2, 1)


def test_originated_gives_the_original_effective_date():
    result = extract("Orchard Valley Health Plan\nOriginated\t2016-05\n\n" + POLICY)
    assert result.value("original_effective") == date(2016, 5, 1)


def test_a_labelled_date_over_the_history_rows_is_no_row():
    result = extract(
        POLICY + "\nPolicy History\nOriginal Effective Date: July 1, 2011\n"
        "07/01/2011\tInitial policy.\n01/01/2026\tAge criterion added.\n"
    )
    assert [row.value["date"] for row in result.fields["history"]] == [date(2011, 7, 1), date(2026, 1, 1)]

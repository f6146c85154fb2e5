"""More dates and codes as payers print them: register abbreviations, grids, definition-list logs, range columns."""

from __future__ import annotations

from datetime import date

from policies_app.importing.result import ImportResult
from tests.policies_app.importing.reading import codes, extract

POLICY = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Ligament instability on examination
"""


def history_dates(result: ImportResult) -> list[date]:
    return [row.value["date"] for row in result.many("history")]


REGISTER = """BRAMBLE RIVER HEALTH PLAN
POLICY NO.      BR-0100           TITLE   KNEE BRACING
EFF DATE        03/01/2026        STATUS  ACTIVE
ORIG EFF        05/01/2014        LAST REV  11/20/2025

"""


def test_a_register_eff_date_abbreviation_is_the_effective_date():
    assert extract(REGISTER + POLICY).value("effective_start") == date(2026, 3, 1)


def test_a_register_orig_eff_abbreviation_is_the_original_effective_date():
    assert extract(REGISTER + POLICY).value("original_effective") == date(2014, 5, 1)


def test_a_register_last_rev_abbreviation_beside_another_pair_is_the_last_review():
    assert extract(REGISTER + POLICY).value("last_review") == date(2025, 11, 20)


def test_first_approved_by_a_committee_is_the_original_date_not_the_last_review():
    text = (
        "Bramble River Health Plan\nEffective: 04/01/2026\n"
        "First approved by the Medical Standards Committee: 02/11/2015\nReviewed: 01/14/2026\n\n" + POLICY
    )
    result = extract(text)
    assert result.value("original_effective") == date(2015, 2, 11)
    assert result.value("last_review") == date(2026, 1, 14)


def test_a_review_by_a_named_panel_is_the_last_review():
    text = "Bramble River Health Plan\nEffective: 04/01/2026\nReviewed by the Orthopedic Advisory Panel 02/03/2026\n\n"
    assert extract(text + POLICY).value("last_review") == date(2026, 2, 3)


def test_the_document_kind_introduced_on_a_date_is_the_original_effective_date():
    text = "Bramble River Health Plan\nEffective: 04/01/2026\nGuideline introduced 09/01/2012\n\n"
    assert extract(text + POLICY).value("original_effective") == date(2012, 9, 1)


def test_a_bare_original_grid_term_over_an_iso_date_is_the_original_effective_date():
    text = "Bramble River Health Plan\nEffective\n2026-04-15\nOriginal\n2011-06-01\nReviewed\n2026-01-10\n\n"
    assert extract(text + POLICY).value("original_effective") == date(2011, 6, 1)


LABELLED_UNDER_REVISION_HEADING = """<html><body>
<h1>Knee Bracing</h1>
<h2>Care Pathway KB-3 · Revision 2</h2>
<ul>
<li>Effective for dates of service on or after 06/01/2026</li>
<li>Pathway introduced 03/01/2015</li>
<li>Reviewed by the Orthopedic Review Board 02/10/2026</li>
</ul>
<h2>Policy</h2>
<p>Knee bracing is considered medically necessary when ALL of the following are met:</p>
<ol><li>Age 18 years or older</li><li>Ligament instability on examination</li></ol>
</body></html>"""


def test_labelled_dates_under_a_heading_naming_a_revision_are_the_policy_dates_not_history_rows():
    result = extract(LABELLED_UNDER_REVISION_HEADING, file="policy.html")
    assert result.value("effective_start") == date(2026, 6, 1)
    assert result.value("original_effective") == date(2015, 3, 1)
    assert result.value("last_review") == date(2026, 2, 10)
    assert result.many("history") == []


HISTORY = POLICY + "\nPolicy History\n11/20/2025 Annual review.\n05/01/2014 New policy.\n"


def test_a_viewed_footer_date_under_the_history_is_no_row():
    text = HISTORY + "Bramble River Health Plan · Page 4411 · Viewed 02/02/2026\n"
    assert history_dates(extract(text)) == [date(2025, 11, 20), date(2014, 5, 1)]


def test_a_published_to_the_web_date_under_the_history_is_no_row():
    text = HISTORY + "Guidelines inform, and do not replace, judgement. Last published to the web 03/09/2026.\n"
    assert history_dates(extract(text)) == [date(2025, 11, 20), date(2014, 5, 1)]


DEFINITION_LIST_LOG = """<html><body>
<h1>Knee Bracing</h1>
<h2>Policy</h2>
<p>Knee bracing is considered medically necessary when ALL of the following are met:</p>
<ol><li>Age 18 years or older</li><li>Ligament instability on examination</li></ol>
<h2>History</h2>
<dl>
<dt>2026-01-12</dt><dd>Annual review; age criterion changed; effective 2026-05-01.</dd>
<dt>2019-03-04</dt><dd>New guideline.</dd>
</dl>
</body></html>"""


def test_a_definition_list_log_dates_each_entry_by_its_term_not_a_date_inside_it():
    rows = extract(DEFINITION_LIST_LOG, file="policy.html").many("history")
    assert [row.value["date"] for row in rows] == [date(2026, 1, 12), date(2019, 3, 4)]
    assert "age criterion changed" in rows[0].value["action"]


RANGE_COLUMNS = """Policy
Knee bracing is considered medically necessary.

Codes
TYPE    CODE     THRU     DESCRIPTION
ICD10   M17.0    M17.9    OSTEOARTHRITIS OF KNEE
ICD10   S83.511           SPRAIN OF ANTERIOR CRUCIATE LIGAMENT OF RIGHT KNEE
"""


def test_a_code_and_its_thru_column_are_one_range():
    assert codes(extract(RANGE_COLUMNS)) == ["ICD10CM:M17.0-M17.9", "ICD10CM:S83.511"]


def test_two_codes_in_adjacent_columns_without_a_range_end_header_stay_two_codes():
    text = "Policy\nKnee bracing is considered medically necessary.\n\nCodes\nCPT\tCPT\n29530\t29540\n"
    assert codes(extract(text)) == ["CPT:29530", "CPT:29540"]


def test_a_document_kind_established_inside_a_sentence_is_no_original_date():
    text = (
        "Bramble River Health Plan\nEffective: 04/01/2026\n\n"
        "Background\nThe national criteria established on 07/01/2009 by the society were updated.\n\n"
    )
    assert extract(text + POLICY).value("original_effective") is None


def test_an_abbreviated_eff_label_with_a_colon_is_the_effective_date():
    assert extract("Bramble River Health Plan\nEff: 08/01/2026\n\n" + POLICY).value("effective_start") == date(
        2026, 8, 1
    )


def test_an_abbreviated_orig_date_label_is_the_original_effective_date():
    text = "Bramble River Health Plan\nEff Date: 08/01/2026\nOrig Date: 01/01/2010\n\n" + POLICY
    assert extract(text).value("original_effective") == date(2010, 1, 1)


def test_an_abbreviated_next_rev_label_is_the_next_review_not_the_last():
    text = "Bramble River Health Plan\nEff Date: 08/01/2026\nNext Rev: 08/01/2027\n\n" + POLICY
    result = extract(text)
    assert result.value("next_review") == date(2027, 8, 1)
    assert result.value("last_review") is None


def test_a_pipe_table_with_code_from_and_code_to_columns_reads_ranges():
    text = (
        "Policy\nKnee bracing is considered medically necessary.\n\nCodes\n"
        "| System | Code from | Code to | Description |\n| --- | --- | --- | --- |\n"
        "| HCPCS | L1810 | L1820 | Knee orthoses |\n| CPT | 29530 | | Strapping of knee |\n"
    )
    assert codes(extract(text, file="policy.md")) == ["HCPCS:L1810-L1820", "CPT:29530"]


LEADER_BLOCK = """ALDER FERRY HEALTH
Guideline ......... Knee Bracing
Guideline live .... 2026-05-01
Guideline first published . 2013-02-01
Medical review .... 2026-02-17 (Orthopedic Panel)

"""


def test_a_leader_cut_to_one_dot_still_leads_to_the_date():
    assert extract(LEADER_BLOCK + POLICY).value("original_effective") == date(2013, 2, 1)


def test_a_clinical_or_medical_review_label_with_a_leader_is_the_last_review():
    assert extract(LEADER_BLOCK + POLICY).value("last_review") == date(2026, 2, 17)


def test_a_clinical_review_in_a_sentence_is_no_last_review():
    text = (
        "Alder Ferry Health\nEffective: 04/01/2026\n\nRequests go to clinical review on 03/02/2026 at the latest.\n\n"
    )
    assert extract(text + POLICY).value("last_review") is None


def test_a_footnote_under_the_history_dated_in_its_prose_is_no_row():
    text = HISTORY + "[2] Bracing hours counted from the fitting. Revised 10/04/2025 by the orthopedic group.\n"
    assert history_dates(extract(text)) == [date(2025, 11, 20), date(2014, 5, 1)]


MARKUP_LOG = """= Knee Bracing
:revdate: 2026-02-02

Knee bracing is considered medically necessary when ALL of the following are met:

. Age 18 years or older
. Ligament instability on examination

== Change history
[cols="1,3",options="header"]
|===
|Date |Change
|2025-11-20 |Annual review; wording clarified.
|2014-05-01 |New policy.
|===
"""


def test_a_markup_table_of_pipe_cells_under_a_markup_history_title_gives_its_rows():
    assert history_dates(extract(MARKUP_LOG, file="policy.adoc")) == [date(2025, 11, 20), date(2014, 5, 1)]


CONTENTS = """Alder Ferry Health
Knee Bracing

Contents
1. Scope
2. Codes

Knee bracing is considered medically necessary for ligament instability (S83.511A).
Bracing for knee pain without instability (M25.561) is not medically necessary.

2. Codes
CPT\tDescription
29530\tStrapping; knee
"""


def test_a_contents_entry_for_the_codes_heading_does_not_make_the_body_a_code_section():
    assert codes(extract(CONTENTS)) == ["CPT:29530"]


def test_a_range_wrapped_in_a_narrow_code_cell_joins_its_end_after_the_descriptions_first_line():
    text = (
        "Policy\nKnee bracing is considered medically necessary.\n\nCodes\nICD-10-CM Description\n"
        "M17.10– Unilateral primary osteoarthritis, M17.12 knee\nM23.50 Chronic instability of knee\n"
    )
    result = extract(text)
    assert codes(result) == ["ICD10CM:M17.10-M17.12", "ICD10CM:M23.50"]
    assert result.many("codes")[0].value["description"] == "Unilateral primary osteoarthritis, knee"


def test_a_code_with_a_spaced_dash_before_its_description_is_no_open_range():
    text = (
        "Policy\nKnee bracing is considered medically necessary.\n\nCodes\n"
        "L1810 - Knee orthosis, elastic, as L1812 is for the joint model\n"
    )
    assert codes(extract(text)) == ["HCPCS:L1810"]


CONTENTS_LOG = """Alder Ferry Health
Knee Bracing
Effective date 04/01/2026

Contents
1. Scope
2. History

Knee bracing is considered medically necessary for ligament instability.
Braces fitted before 06/30/2024 may be replaced once.

2. History
Date\tChange
11/20/2025\tAnnual review.
05/01/2014\tNew policy.
"""


def test_a_contents_entry_for_the_history_heading_does_not_make_the_body_a_log():
    assert history_dates(extract(CONTENTS_LOG)) == [date(2025, 11, 20), date(2014, 5, 1)]


def test_prior_authorization_that_remains_required_is_required():
    text = POLICY + "\nPrior authorization remains required for CPT 29530. Strapping needs no other review.\n"
    assert extract(text).value("prior_authorization")["requirement"] == "required"


def test_a_header_row_of_date_labels_over_a_row_of_dates_pairs_them_by_column():
    text = "Alder Ferry Health\nEffective Date\tOriginal Date\tLast Reviewed\n03/01/2026\t01/01/2010\t01/12/2026\n"
    result = extract(text + POLICY)
    assert result.value("effective_start") == date(2026, 3, 1)
    assert result.value("original_effective") == date(2010, 1, 1)
    assert result.value("last_review") == date(2026, 1, 12)


def test_a_log_header_of_date_labels_over_many_dated_rows_gives_no_policy_dates():
    text = (
        "Alder Ferry Health\nReview Date\tEffective Date\tChange\n"
        "01/12/2026\t03/01/2026\tAnnual review\n01/10/2025\t03/01/2025\tCriteria changed\n"
    )
    assert extract(text + POLICY).value("last_review") is None


def test_a_bracketed_aside_after_a_date_label_still_leads_to_the_date():
    text = "Alder Ferry Health\nEffective Date (for dates of service on or after): 03/01/2026\n"
    assert extract(text + POLICY).value("effective_start") == date(2026, 3, 1)


ORG_HEADER = """#+TITLE: Knee Bracing
#+DATE: 2026-01-09

* Policy header
  :PROPERTIES:
  :POLICY_ID:          KB-204
  :EFFECTIVE:          <2026-04-01 Wed>
  :ORIGINAL_EFFECTIVE: [2017-02-01 Wed]
  :LAST_REVIEW:        [2026-01-13 Tue]
  :END:
  SCHEDULED: <2027-01-12 Tue>
  :LOGBOOK:
  CLOCK: [2026-01-12 Mon 10:00]--[2026-01-12 Mon 11:30] =>  1:30
  - State "DONE"       from "REVIEW"     [2026-01-13 Tue 15:40]
  :END:

"""


def test_an_outliner_property_drawer_gives_the_effective_date_from_its_active_timestamp():
    assert extract(ORG_HEADER + POLICY).value("effective_start") == date(2026, 4, 1)


def test_an_outliner_property_drawer_gives_original_and_review_dates_from_inactive_timestamps():
    result = extract(ORG_HEADER + POLICY)
    assert result.value("original_effective") == date(2017, 2, 1)
    assert result.value("last_review") == date(2026, 1, 13)


def test_scheduled_and_logbook_timestamps_are_no_policy_dates():
    text = (
        "* Policy header\n  SCHEDULED: <2027-01-12 Tue>\n  :LOGBOOK:\n"
        "  CLOCK: [2026-01-12 Mon 10:00]--[2026-01-12 Mon 11:30] =>  1:30\n"
        '  - State "DONE"       from "REVIEW"     [2026-01-13 Tue 15:40]\n  :END:\n\n'
    )
    result = extract(text + POLICY)
    assert result.value("effective_start") is None
    assert result.value("last_review") is None
    assert history_dates(result) == []


ORG_HISTORY = """* Revision history
  | Date             | Version | Change                                   |
  |------------------+---------+------------------------------------------|
  | [2026-01-13 Tue] |       4 | Brace wear time changed; takes effect on |
  |                  |         | <2026-04-01 Wed>                         |
  | [2021-06-08 Tue] |       2 | Age limit removed                        |
  | [2017-02-01 Wed] |       1 | Policy created                           |
"""


def test_an_outliner_history_table_gives_one_row_per_inactive_timestamp_over_wrapped_rows():
    result = extract(POLICY + "\n" + ORG_HISTORY)
    assert history_dates(result) == [date(2026, 1, 13), date(2021, 6, 8), date(2017, 2, 1)]


def test_an_outliner_history_row_keeps_its_timestamp_brackets_out_of_its_cells():
    row = extract(POLICY + "\n" + ORG_HISTORY).many("history")[-1].value
    assert row["detail"] == "Policy created"
    assert "[" not in row["action"] and "]" not in row["detail"]


LIST_TABLE_HISTORY = """Revision history
================

.. list-table::
   :header-rows: 1

   * - Date
     - Change
   * - 2026-01-13
     - Annual review; brace wear time changed to six hours a day for all
       members (effective 2026-04-01).
   * - 2017-02-01
     - Policy created.
"""


def test_a_date_in_a_list_table_cell_wrapped_under_its_text_is_no_history_row():
    assert history_dates(extract(POLICY + "\n" + LIST_TABLE_HISTORY)) == [date(2026, 1, 13), date(2017, 2, 1)]


def test_a_build_date_under_the_history_dates_the_copy_not_an_event():
    text = POLICY + "\n" + LIST_TABLE_HISTORY + "\n.. footer:: Built 2026-02-02 | knee-library\n"
    assert date(2026, 2, 2) not in history_dates(extract(text))


def test_a_page_generated_date_after_a_history_list_is_no_history_row():
    text = (
        "<h1>Knee Bracing</h1><h2>Policy</h2><p>Knee bracing is considered medically necessary.</p>"
        "<h2>Policy history</h2><ul><li><b>01/13/2026</b> Annual review.</li><li><b>02/01/2017</b> Policy created.</li>"
        "</ul><footer><p>Page generated 02/02/2026 09:14.</p></footer>"
    )
    assert history_dates(extract(text, "policy.html")) == [date(2026, 1, 13), date(2017, 2, 1)]


def test_last_reviewed_by_a_named_reviewer_is_the_last_review():
    text = "<table><tr><th>Effective</th><td>04/01/2026</td></tr><tr><th>Last reviewed by plan</th><td>01/13/2026</td></tr></table>"
    assert extract(text + "<h2>Policy</h2><p>Bracing is covered.</p>", "policy.html").value("last_review") == date(
        2026, 1, 13
    )


def test_last_reviewed_by_in_a_sentence_is_no_label():
    text = "Effective: 04/01/2026\nThis policy was last reviewed by the brace workgroup on 01/13/2026 and kept.\n\n"
    assert extract(text + POLICY).value("last_review") is None


INDICATION_TABLE = """<h1>Knee Bracing</h1>
<h2>Coverage by indication</h2>
<table>
  <tr><th>Indication</th><th>Criteria</th><th>Billing codes</th></tr>
  <tr>
    <td><p>Ligament injury</p><p>Bracing is medically necessary when the criteria in this row are met.</p></td>
    <td><ul><li>Instability on examination</li><li>Age 18 years or older</li></ul></td>
    <td>HCPCS L1832, L1843<br>ICD-10-CM S83.511A</td>
  </tr>
  <tr>
    <td><p>Osteoarthritis</p><p>Bracing is medically necessary when the criteria in this row are met.</p></td>
    <td><ul><li>Pain on weight bearing</li><li>Failed 6 weeks of exercise</li></ul></td>
    <td>HCPCS L1843, L1851<br>ICD-10-CM M17.11 &ndash; M17.12</td>
  </tr>
</table>
<h2>Prior authorization</h2><p>Prior authorization is required for L1851. L1833 needs none.</p>
"""


def test_the_codes_column_of_a_table_by_indication_lists_each_rows_codes():
    found = codes(extract(INDICATION_TABLE, "policy.html"))
    assert {"HCPCS:L1832", "HCPCS:L1843", "HCPCS:L1851", "ICD10CM:S83.511A", "ICD10CM:M17.11-M17.12"} <= set(found)
    assert "HCPCS:L1833" not in found


def test_a_code_in_the_codes_cells_of_two_rows_is_listed_for_each_row():
    assert codes(extract(INDICATION_TABLE, "policy.html")).count("HCPCS:L1843") == 2


def test_a_date_label_run_together_with_its_value_by_a_page_still_labels_it():
    text = (
        '<div role="group"><div><span id="a">Effective date</span><span aria-labelledby="a">April 1, 2026</span></div>'
        '<div><span id="b">Last reviewed</span><span aria-labelledby="b">January 13, 2026</span></div></div>'
        "<h2>Policy</h2><p>Knee bracing is considered medically necessary.</p>"
    )
    result = extract(text, "policy.html")
    assert result.value("effective_start") == date(2026, 4, 1)
    assert result.value("last_review") == date(2026, 1, 13)


def test_a_label_word_running_on_in_lower_case_is_no_glued_label():
    assert extract("The effectiveness of bracing 2026-01-13 was studied.\n\n" + POLICY).value("effective_start") is None


def test_an_outliner_title_keyword_is_the_title():
    text = "#+TITLE: Knee Bracing for Ligament Injury\n#+AUTHOR: Policy unit\n\n" + POLICY
    assert extract(text).value("title") == "Knee Bracing for Ligament Injury"


def test_a_policy_id_property_key_is_the_policy_number():
    assert extract(ORG_HEADER + POLICY).value("number") == "KB-204"


def test_the_first_prior_authorization_sentence_of_a_section_is_its_statement_not_the_exception_after_it():
    text = (
        POLICY + "\nPrior authorization\n\nPrior authorization is required for CPT 29881 and 29882. "
        "Office visits (99213, 99214) need no prior authorization.\n"
    )
    value = extract(text).value("prior_authorization")
    assert value["requirement"] == "required"
    assert value["statement"] == "Prior authorization is required for CPT 29881 and 29882."


def test_a_ticked_checklist_label_states_that_prior_authorization_is_required():
    text = POLICY + "\n- [X] Prior authorization required: 29881, 29882\n- [ ] Notification only: none\n"
    assert extract(text).value("prior_authorization")["requirement"] == "required"


def test_a_log_run_into_one_paragraph_gives_one_row_per_dated_entry():
    text = (
        POLICY + "\nPolicy history\n\n"
        "01/13/2026 – Annual review; wear time changed (effective 04/01/2026). 06/08/2021 – Age limit removed. "
        "02/01/2017 – Policy created.\n"
    )
    result = extract(text)
    assert history_dates(result) == [date(2026, 1, 13), date(2021, 6, 8), date(2017, 2, 1)]
    assert [row.value["action"] for row in result.many("history")][1:] == ["Age limit removed.", "Policy created."]


EXPORT = """# CoverDesk export - rows: 9
record_type,key,parent,value
META,payer,,,,Ashgrove Valley Health
META,effective_date,,,,2026-05-01
META,original_effective_date,,,,2011-03-01
META,last_review_date,,,,2026-01-14
META,next_review_date,,,,2027-01
POSITION,P1,,,,"Ashgrove Valley Health considers knee bracing medically necessary."
CODE,CPT,,,,"29881|Arthroscopy, knee, surgical; with meniscectomy"
CODE,ICD10CM,,,,"M17.11-M17.12|Unilateral primary osteoarthritis, knee"
HISTORY,2026-01-14,,,,"Annual review; wording clarified"
HISTORY,2011-03-01,,,,"New policy"
"""


def test_an_export_record_of_a_code_lists_its_code():
    assert "CPT:29881" in codes(extract(EXPORT))


def test_an_export_key_spelling_icd10cm_without_hyphens_names_the_system():
    assert "ICD10CM:M17.11-M17.12" in codes(extract(EXPORT))


def test_an_export_record_key_and_value_apart_by_empty_cells_is_a_labelled_date():
    result = extract(EXPORT)
    assert result.value("original_effective") == date(2011, 3, 1)
    assert result.value("last_review") == date(2026, 1, 14)


def test_an_export_history_record_is_a_row_dated_by_its_key():
    result = extract(EXPORT)
    assert history_dates(result) == [date(2026, 1, 14), date(2011, 3, 1)]
    assert result.many("history")[0].value["action"] == "Annual review; wording clarified"


def test_a_line_led_by_its_code_system_lists_its_through_range():
    text = (
        POLICY + "\nSec. 4 Codes applying to this rule.\n"
        "   CPT 27445 through 27447\tArthroplasty, knee\n"
        "   ICD-10-CM M17.0\tBilateral primary osteoarthritis of knee\n"
    )
    assert codes(extract(text)) == ["CPT:27445-27447", "ICD10CM:M17.0"]


def test_a_sentence_opening_with_a_code_system_and_code_lists_no_code():
    text = POLICY + "\nCPT 27447 does not need prior authorization when done as an inpatient.\n"
    assert codes(extract(text)) == []


BOX_LETTER = """ASHGROVE VALLEY HEALTH

Dear Provider,

The summary below is for quick reference.

┌──────────────────────┬─────────────────────────────────┐
│ Effective date       │ March 1, 2027                   │
├──────────────────────┼─────────────────────────────────┤
│ Approved by council  │ November 3, 2026                │
├──────────────────────┼─────────────────────────────────┤
│ Codes                │ CPT 29881, 29882                │
│                      │ ICD-10-CM M23.200 - M23.209     │
├──────────────────────┼─────────────────────────────────┤
│ Contact              │ Suite 2040, fax 1-800-555-0100  │
└──────────────────────┴─────────────────────────────────┘

Knee arthroscopy is considered medically necessary.
"""


def test_a_box_table_codes_row_lists_its_codes_and_its_continuation_row():
    assert codes(extract(BOX_LETTER)) == ["CPT:29881", "CPT:29882", "ICD10CM:M23.200-M23.209"]


def test_a_box_table_date_beside_its_label_is_that_date():
    assert extract(BOX_LETTER).value("effective_start") == date(2027, 3, 1)


def test_a_box_table_approved_by_a_council_is_the_last_review():
    assert extract(BOX_LETTER).value("last_review") == date(2026, 11, 3)


def test_the_retirement_of_the_policy_a_new_one_replaces_does_not_end_the_new_one():
    text = (
        "Ashgrove Valley Health\n\nThe committee approved a new policy. It takes effect on\n"
        "March 1, 2027, and replaces the section on knee braces in policy AV-101,\n"
        "which will be retired on February 28, 2027.\n\n" + POLICY
    )
    assert extract(text).value("effective_end") is None


def test_a_dated_row_wrapped_onto_an_indented_line_stays_in_its_run_of_rows():
    text = (
        POLICY + "\nSec. 9 Record of this rule.\n"
        "   05/12/2026 Reviewed; criterion 2 reworded,\n"
        "              effective 08/01/2026.\n"
        "   03/02/2024 Age limit lowered.\n"
        "   01/01/2015 Rule adopted.\n"
    )
    assert history_dates(extract(text)) == [date(2026, 5, 12), date(2024, 3, 2), date(2015, 1, 1)]


def test_an_exported_comment_with_a_letter_anchor_is_no_history_row():
    text = (
        POLICY + "\nPolicy history\n\n01/21/2026\tAnnual review\n06/01/2010\tNew policy\n"
        "[b]Avery Quill, Dec 2, 2025: wording checked. Resolved Dec 4, 2025.\n"
    )
    assert history_dates(extract(text)) == [date(2026, 1, 21), date(2010, 6, 1)]


def test_a_last_updated_footer_under_a_log_is_no_history_row():
    text = (
        POLICY + "\nHistory\n\n- 11/05/2026 - Reviewed.\n- 10/01/2012 - Originated.\n"
        "Ashgrove Valley Health © 2012-2026. Last updated 12/01/2026.\n"
    )
    assert history_dates(extract(text)) == [date(2026, 11, 5), date(2012, 10, 1)]


def test_a_note_dated_inside_its_sentence_after_a_date_led_log_is_no_history_row():
    text = (
        POLICY + "\nPolicy History\n\n11/20/2026 Draft revision; criterion 3 added\n"
        "05/10/2024 Annual review; no change\n06/01/2022 New policy\n"
        "Send comments on this draft to the policy team by 01/07/2027.\n"
    )
    assert history_dates(extract(text)) == [date(2026, 11, 20), date(2024, 5, 10), date(2022, 6, 1)]


def test_a_rule_number_label_gives_the_policy_number():
    text = "Ashgrove Valley Health\nPart 7.2 Knee Bracing\nRule number:\tAV-ORT-301\n\n" + POLICY
    assert extract(text).value("number") == "AV-ORT-301"


def test_a_hyphenated_policy_id_attribute_gives_the_policy_number():
    text = "= Knee Bracing\nAshgrove Valley Health\n:doctype: article\n:policy-id: AV-DME-118\n\n" + POLICY
    assert extract(text).value("number") == "AV-DME-118"


def test_a_criteria_set_leader_line_gives_the_number_and_the_title_after_it():
    text = (
        "ASHGROVE VALLEY HEALTH\nCriteria library export\n"
        "Criteria set ........ CS-2210 Knee Bracing for Ligament Instability\nSet version ......... 2026.1\n\n" + POLICY
    )
    result = extract(text)
    assert result.value("number") == "CS-2210"
    assert result.value("title") == "Knee Bracing for Ligament Instability"


def test_an_export_record_gives_the_policy_number_past_its_empty_cells():
    assert extract(EXPORT.replace("META,payer", "META,policy_number,,,,AV-77\nMETA,payer")).value("number") == "AV-77"


def test_an_export_title_record_gives_the_title():
    text = "# CoverDesk export - rows: 3\n" + EXPORT.split("\n", 1)[1].replace(
        "META,payer", "META,title,,,,Knee Bracing\nMETA,payer"
    )
    assert extract(text).value("title") == "Knee Bracing"


def test_an_asciidoc_title_line_gives_the_title_without_its_marker():
    text = "= Knee Bracing for Ligament Instability\nAshgrove Valley Health\n\n" + POLICY
    assert extract(text, "policy.adoc").value("title") == "Knee Bracing for Ligament Instability"


def test_a_heading_that_repeats_the_number_before_the_title_gives_the_title_alone():
    text = "# AV-118 Knee Bracing\n\nPolicy number: AV-118\nEffective date: 03/01/2026\n\n" + POLICY
    assert extract(text, "policy.md").value("title") == "Knee Bracing"


def test_a_regulation_part_number_before_the_title_is_left_out_of_it():
    text = "ASHGROVE VALLEY HEALTH\nPart 7.2 Knee Bracing\nRule number:\tAV-ORT-301\n\n" + POLICY
    assert extract(text).value("title") == "Knee Bracing"


def test_a_version_after_the_number_is_no_title_and_the_heading_above_is():
    text = "Ashgrove Valley Health\nMedical Policy Manual\n# Knee Bracing\nPolicy number AV-118 Version 12\n\n" + POLICY
    assert extract(text, "policy.md").value("title") == "Knee Bracing"


def test_a_generic_heading_above_the_number_is_no_title():
    text = "Ashgrove Valley Health\n\nPolicy information\nPolicy number: AV-118\n\n" + POLICY
    assert extract(text).value("title") != "Policy information"


def test_the_line_below_a_masthead_of_payer_and_kind_of_document_is_the_title():
    text = (
        "Ashgrove Valley Health · Clinical Policy\nKnee Bracing for Ligament Instability\nPolicy No.\nAV-118\n\n"
        + POLICY
    )
    assert extract(text).value("title") == "Knee Bracing for Ligament Instability"


def test_a_small_capitals_letterhead_read_back_with_a_final_capital_is_the_payer():
    text = "Ashgrove Valley HealtH\nKnee Bracing\nPolicy No. AV-118 | Effective 03/01/2026\n\n" + POLICY
    assert extract(text).value("payer") == "Ashgrove Valley Health"


def test_a_copyright_line_with_the_legal_form_gives_the_payer_its_full_name():
    text = (
        "Ashgrove Valley Health\nMedical Policy\n\n" + POLICY + "\n© 2026 Ashgrove Valley Health Insurance Company.\n"
    )
    assert extract(text).value("payer") == "Ashgrove Valley Health Insurance Company"


def test_a_box_table_policy_cell_gives_the_number_and_the_title_beside_it():
    text = BOX_LETTER.replace(
        "│ Effective date       │",
        "│ Policy               │ AV-508 Knee Arthroscopy         │\n"
        "├──────────────────────┼─────────────────────────────────┤\n│ Effective date       │",
    )
    result = extract(text)
    assert result.value("number") == "AV-508"
    assert result.value("title") == "Knee Arthroscopy"

"""More dates and codes as payers print them: register abbreviations, grids, definition-list logs, range columns."""

from __future__ import annotations

from datetime import date

from policies_app.importing import extract_document
from policies_app.importing.result import ImportResult

POLICY = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Ligament instability on examination
"""


def extract(text: str, file: str = "policy.txt") -> ImportResult:
    return extract_document(text.encode(), file=file)


def codes(result: ImportResult) -> list[str]:
    return [
        f"{c.value['system']}:{c.value['code']}" + (f"-{c.value['code_end']}" if c.value["code_end"] else "")
        for c in result.many("codes")
    ]


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

"""A policy's number and title as documents label them, or print them unlabelled in a header."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.result import Field, ImportResult

POLICY = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Ligament instability on examination
"""


def extract(text: str, file: str = "p.txt") -> ImportResult:
    return extract_document(text.encode(), file=file)


def field(text: str, name: str, file: str = "p.txt") -> Field:
    found = extract(text, file).one(name)
    assert found is not None
    return found


def test_a_criteria_number_label_gives_the_policy_number():
    assert extract("Criteria number: PA-123\n\n" + POLICY).value("number") == "PA-123"


def test_a_guideline_id_after_dotted_leaders_gives_the_number():
    assert extract("Guideline ID ........ GDL-77\n\n" + POLICY).value("number") == "GDL-77"


def test_a_file_code_gives_the_number():
    assert extract("File Name: knee_bracing\nFile Code: 1.01.93\n\n" + POLICY).value("number") == "1.01.93"


def test_a_bulletins_own_number_is_not_the_policy_number():
    text = "Provider Bulletin No. 2026-07\nPolicy ID: KB-301\n\n" + POLICY
    assert extract(text).value("number") == "KB-301"


def test_an_identifier_after_the_word_policy_is_the_number_to_confirm():
    found = field("Policy KB-301 · Effective Jan 5, 2026\n\n" + POLICY, "number")
    assert (found.value, found.confidence) == ("KB-301", 0.75)


def test_an_identifier_on_the_line_below_a_guideline_label_is_the_number():
    assert extract("Guideline\nBH-LOC-12\nEffective\nJan 5, 2026\n\n" + POLICY).value("number") == "BH-LOC-12"


def test_a_word_after_policy_is_not_a_number():
    assert extract("This Policy applies to adults.\n\n" + POLICY).value("number") is None


def test_a_guideline_name_label_gives_the_title():
    text = "Guideline Name ...... Knee Bracing After Injury\nGuideline ID ........ GDL-77\n\n" + POLICY
    assert extract(text).value("title") == "Knee Bracing After Injury"


def test_the_line_below_the_kind_of_document_past_its_fields_is_the_title():
    text = "Corporate Medical Policy\nEffective Date ...... 01/05/2026\nKnee Bracing After Injury\n\n" + POLICY
    found = field(text, "title")
    assert (found.value, found.confidence) == ("Knee Bracing After Injury", 0.75)


def test_a_heading_naming_only_the_kind_of_document_is_not_the_title():
    page = "<html><body><h1>Medical Coverage Policy</h1><h2>Knee Bracing After Injury</h2><h2>Policy</h2>"
    page += "<p>Knee bracing is considered medically necessary.</p></body></html>"
    assert extract(page, "p.html").value("title") == "Knee Bracing After Injury"


def test_a_title_in_capitals_over_two_lines_reads_as_words_to_confirm():
    text = "Tamarack Ridge Health Alliance\n\n   KNEE BRACING (KB) AND ORTHOSES\n       FOR ADULTS\n\n" + POLICY
    found = field(text, "title")
    assert (found.value, found.confidence) == ("Knee Bracing (KB) and Orthoses for Adults", 0.7)


def test_a_header_field_after_an_unlabelled_number_is_not_the_title():
    text = "Policy KB-301 · Effective Jan 5, 2026\n\n" + POLICY
    assert extract(text).value("title") != "· Effective Jan 5, 2026"


def test_the_title_column_of_a_fixed_width_header_gives_the_title():
    text = "Policy title      Knee Bracing After Injury\nPolicy no.        KB-301\n\n" + POLICY
    assert extract(text).value("title") == "Knee Bracing After Injury"


def test_another_policy_the_text_refers_to_is_not_the_number():
    text = "Knee bracing for adults. Medicare members: see policy MA-KB-9.\n\n" + POLICY
    assert extract(text).value("number") is None


def test_a_bulletins_number_is_the_number_of_a_bulletin_that_states_no_policy_number():
    text = "Provider Bulletin 26-03 · Issued 2 Feb 2026\nThis bulletin replaces Provider Bulletin 24-11.\n\n" + POLICY
    found = field(text, "number")
    assert (found.value, found.confidence) == ("26-03", 0.75)


def test_a_title_label_alone_on_its_line_takes_the_next_line():
    text = "Document Information\nLCD Title\nKnee Bracing After Injury\n\n" + POLICY
    assert extract(text).value("title") == "Knee Bracing After Injury"


def test_a_markdown_table_parts_the_number_label_from_its_value_by_a_pipe():
    text = "| | |\n|---|---|\n| Policy number | DME-404 |\n| Related | LCD L33999 |\n\n" + POLICY
    assert extract(text).value("number") == "DME-404"


def test_a_policy_label_naming_a_title_gives_the_title():
    text = "Provider Bulletin\nPolicy: Knee Bracing After Injury\nPolicy ID: KB-301\n\n" + POLICY
    found = field(text, "title")
    assert (found.value, found.confidence) == ("Knee Bracing After Injury", 0.75)


def test_a_policy_label_stating_a_sentence_is_not_the_title():
    text = "Policy: Knee bracing is covered for adults\n\n" + POLICY
    assert extract(text).value("title") != "Knee bracing is covered for adults"


def test_the_heading_over_the_number_beats_navigation_headings_above_it():
    page = (
        "<html><body><h2>Provider Tools</h2><p>- Forms</p><h1>Knee Bracing After Injury</h1>"
        "<table><tr><td>Policy ID</td><td>KB-301</td></tr></table>"
        "<h2>Policy</h2><p>Knee bracing is considered medically necessary.</p></body></html>"
    )
    assert extract(page, "p.html").value("title") == "Knee Bracing After Injury"


def test_a_heading_naming_a_block_of_fields_is_not_the_title():
    page = (
        "<html><body><h1>Knee Bracing After Injury</h1><p>Reviewed every year.</p><h2>Document Information</h2>"
        "<table><tr><td>Policy ID</td><td>KB-301</td></tr></table>"
        "<h2>Policy</h2><p>Knee bracing is considered medically necessary.</p></body></html>"
    )
    assert extract(page, "p.html").value("title") == "Knee Bracing After Injury"


def test_a_markdown_title_heading_is_the_title():
    assert extract("# Knee Bracing After Injury\n\n" + POLICY).value("title") == "Knee Bracing After Injury"


def test_a_title_after_the_kind_of_document_goes_on_over_a_short_wrapped_line():
    text = "Tamarack Ridge Health\nClinical Policy: Knee Bracing and\nOrthoses\nPolicy No. KB-301\n\n" + POLICY
    found = field(text, "title")
    assert (found.value, found.confidence) == ("Knee Bracing and Orthoses", 0.75)


def test_a_local_coverage_determination_heading_is_not_the_title():
    page = (
        "<html><body><h1>Local Coverage Determination (LCD)</h1><h2>Knee Bracing After Injury</h2>"
        "<h2>Coverage Indications</h2><p>Knee bracing is considered medically necessary.</p></body></html>"
    )
    assert extract(page, "p.html").value("title") == "Knee Bracing After Injury"


def test_a_title_label_with_its_colon_alone_on_its_line_takes_the_next_line():
    assert (
        extract("Policy Title:\nKnee Bracing After Injury\n\n" + POLICY).value("title") == "Knee Bracing After Injury"
    )


def test_a_document_id_label_gives_the_number():
    assert extract("Document ID: KB-0042\n\n" + POLICY).value("number") == "KB-0042"


def test_a_policy_identifier_label_gives_the_number():
    assert extract("Policy Identifier: KB-12\n\n" + POLICY).value("number") == "KB-12"


def test_a_policy_label_whose_value_is_an_identifier_gives_the_number():
    found = field("Medical Policy: 2.04.118\n\n" + POLICY, "number")
    assert (found.value, found.confidence) == ("2.04.118", 0.85)
    assert extract("Medical Policy: 2.04.118\n\n" + POLICY).value("title") is None


def test_a_number_label_over_its_number_is_not_the_title():
    assert extract("Policy Number\nKB.MP.112\n\n" + POLICY).value("title") != "Policy Number"


def test_a_medical_policy_title_label_gives_the_title():
    assert extract("Medical Policy Title: Knee Bracing\n\n" + POLICY).value("title") == "Knee Bracing"


def test_a_titles_value_ends_where_a_pipe_starts_the_next_field():
    assert extract("Title: Knee Bracing | Policy Number: KB-1\n\n" + POLICY).value("title") == "Knee Bracing"


def test_an_emails_subject_is_not_the_policys_title():
    text = (
        "From: Provider News <news@example.test>\nTo: providers@example.test\nSubject: Policy update, effective soon\n\n"
        + POLICY
    )
    title = extract(text).one("title")
    assert title is None or title.value != "Policy update, effective soon"


def test_a_title_a_column_apart_from_the_number_that_starts_its_line_is_the_title():
    text = "ORCHARD HEALTH - MEDICAL POLICY\n07.01.89    Knee Bracing\n\n" + POLICY
    assert extract(text).value("title") == "Knee Bracing"


def test_the_title_above_the_issuers_letterhead_over_the_number_is_the_title():
    text = (
        "Knee Bracing\nState of Kanawha Department of Health Services\nDivision of Medical Assistance\n"
        "Clinical Coverage Policy No.: KB-1\n\n" + POLICY
    )
    assert extract(text).value("title") == "Knee Bracing"


def test_a_letterhead_in_capitals_is_not_the_title():
    text = (
        "BRIGHTWATER IMAGING SOLUTIONS\nImaging guidelines\nSPINE IMAGING GUIDELINES\nVersion 2\n\n"
        "Brightwater Imaging Solutions, LLC reviews requests.\n\n" + POLICY
    )
    assert extract(text).value("title") == "Spine Imaging Guidelines"

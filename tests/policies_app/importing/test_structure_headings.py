"""Headings of a policy's sections: section numbers like "2.0", and code rows whose words read as headings."""

from __future__ import annotations

from policies_app.importing.readers import read_html, read_text
from policies_app.importing.structure import sections


def headings(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.heading) for s in sections(read_text(text)) if s.heading_line is not None]


def test_a_heading_numbered_like_2_0_is_a_heading():
    found = headings("Marlow Health\n\n2.0 POLICY\n\nThe service is covered.\n")
    assert found == [("policy", "2.0 POLICY")]


def test_a_history_heading_numbered_like_7_0_is_a_history_section():
    found = headings("Marlow Health\n\n7.0 POLICY HISTORY\n\n01/01/2025 New policy.\n")
    assert found == [("history", "7.0 POLICY HISTORY")]


def test_a_title_case_heading_with_a_subsection_number_is_a_heading():
    found = headings("Marlow Health\n\n3.1 Coverage Criteria\n\nThe member is an adult.\n")
    assert found == [("criteria", "3.1 Coverage Criteria")]


def test_an_upper_case_heading_with_a_bare_number_is_a_heading():
    found = headings("Marlow Health\n\n4 REFERENCES\n\nSmith J. A trial. 2020.\n")
    assert found == [("references", "4 REFERENCES")]


def test_a_numbered_phrase_in_sentence_case_is_not_a_heading():
    found = headings("2.0 POLICY\n\n2.1 Policy revised after review\n")
    assert found == [("policy", "2.0 POLICY")]


def test_a_code_row_naming_a_history_inside_a_codes_section_is_a_row():
    found = headings("CODING\n\nC50.911 Malignant neoplasm of breast\nZ80.3 Family history of breast cancer\n")
    assert found == [("codes", "CODING")]


def test_a_code_row_below_another_row_is_a_row_under_any_heading():
    found = headings(
        "Investigational Uses\n\nD05.10 Intraductal carcinoma in situ\nZ80.3 Family history of breast cancer\n"
    )
    assert found == [("exclusions", "Investigational Uses")]


def test_a_code_rows_lines_stay_in_its_codes_section():
    text = "CODING\n\nZ15.01 Genetic susceptibility to breast cancer\nZ80.3 Family history of breast cancer\n"
    codes = next(s for s in sections(read_text(text)) if s.kind == "codes")
    assert len(codes.lines) == 2


def test_a_short_line_announcing_a_list_is_not_a_heading():
    found = headings("2.0 POLICY\n\nThe following criteria must all be met:\n1. The member is an adult\n")
    assert found == [("policy", "2.0 POLICY")]


def test_a_markdown_heading_is_a_heading_of_its_kind():
    found = headings("# Knee Supports\n\n## HCPCS codes\n\nL1810 Knee orthosis\n")
    assert found == [("other", "# Knee Supports"), ("codes", "## HCPCS codes")]


def test_a_hash_sign_starting_a_sentence_is_not_a_heading():
    found = headings("POLICY\n\n# of visits allowed: 12 a year\n")
    assert found == [("policy", "POLICY")]


def test_a_numbered_purpose_heading_is_a_description_section():
    found = headings("Marlow Health\n\n1.0 Purpose\n\nThis policy describes the service.\n")
    assert found == [("description", "1.0 Purpose")]


def test_a_heading_set_between_rules_is_a_heading_of_its_kind():
    found = headings("Marlow Health\n\n=== Section 4 - Revision record ===\n\n01/01/2025 New policy.\n")
    assert found == [("history", "=== Section 4 - Revision record ===")]


def test_a_row_of_rule_characters_is_not_a_heading():
    assert headings("Marlow Health\n\nCode     Meaning\n-----    -------\nA1234    A supply\n") == []


def test_an_update_information_heading_is_a_history_section():
    found = headings("Marlow Health\n\nPolicy Implementation/Update Information\n\n1/2024 New policy.\n")
    assert found == [("history", "Policy Implementation/Update Information")]


def test_text_columns_parted_by_a_wide_gap_are_table_cells():
    document = read_text("Policy no.        KB-0042\nJan 5, 2026     Annual review.\n")
    assert document.text == "Policy no.\tKB-0042\nJan 5, 2026\tAnnual review."


def test_a_wide_gap_after_a_list_marker_only_aligns_the_item():
    document = read_text("  ii.   Knee pain for three months\n")
    assert document.text == "  ii. Knee pain for three months"


def test_a_line_break_in_a_web_pages_source_is_a_space():
    document = read_html("<html><body><div><span>Agency</span>\n  <span>Programme</span></div></body></html>")
    assert document.text == "Agency Programme"


def test_a_question_line_heads_its_answer():
    found = headings(
        "Marlow Health\n\nQ. When are knee braces medically necessary for an adult member?\nWhen all of the following are met:\n"
    )
    assert found == [("criteria", "Q. When are knee braces medically necessary for an adult member?")]


def test_a_question_about_what_changed_heads_the_history():
    found = headings("Marlow Health\n\nQ: What changed in this version?\n- May 1, 2024: created.\n")
    assert found == [("history", "Q: What changed in this version?")]


def test_a_question_about_which_plans_heads_the_applicability():
    found = headings("Marlow Health\n\nQ. Which plans does this guideline govern?\nCommercial plans.\n")
    assert found == [("applicability", "Q. Which plans does this guideline govern?")]


def test_an_application_heading_heads_the_applicability():
    found = headings("Marlow Health\n\nBenefit Application\n\nThis policy does not apply to FEP members.\n")
    assert found == [("applicability", "Benefit Application")]


def test_a_line_with_a_sentence_ending_inside_is_no_heading():
    found = headings(
        "Marlow Health\n\nPOLICY\nA plan or a\nLocal Coverage Determination governs. Federal Employee\nProgram members are excluded.\n"
    )
    assert found == [("policy", "POLICY")]


def test_a_hash_before_a_tab_is_a_table_column_not_a_markdown_heading():
    found = headings("Marlow Health\n\nPOLICY\n#\tIndication\tCoverage status\n1\tBraces\tCovered\n")
    assert found == [("policy", "POLICY")]


def test_a_table_cell_read_on_its_own_line_is_never_a_heading():
    document = read_html(
        b"<h2>Coverage</h2><table><tr><td>Knee braces</td><td>Medically Necessary Criteria</td>"
        b"<td><ul><li>Age 18 years or older</li></ul></td></tr></table>"
    )
    assert [(s.kind, s.heading) for s in sections(document) if s.heading_line is not None] == [("policy", "Coverage")]

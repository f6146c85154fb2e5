"""Criteria as labelled paragraphs, numbered references, tables, questionnaires and manual paragraphs."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.facts import map_fact
from policies_app.importing.result import Criterion
from tests.policies_app.importing.conftest import CATALOGUE


def trees(text: str, file: str = "p.txt") -> list[Criterion]:
    return extract_document(text.encode(), file=file, catalogue=CATALOGUE).criteria


def labels(node: Criterion) -> list[str]:
    return [leaf.label.rstrip(".") for leaf in node.leaves()]


LABELLED = """Coverage

A reclining chair lift is medically necessary when the member meets Requirements 1 through 2 and either
Requirement 3 or Requirement 4.

   Requirement 1.  The member cannot rise from a standard chair without
                   help from another person.
          AND
   Requirement 2.  The member can walk once standing.
          AND
   Requirement 3.  The member lives alone.
          OR
   Requirement 4.  A caregiver is unable to lift the member.
"""


def test_labelled_paragraphs_joined_by_connector_lines_are_items():
    root = trees(LABELLED)[0]
    assert labels(root) == [
        "The member cannot rise from a standard chair without help from another person",
        "The member can walk once standing",
        "The member lives alone",
        "A caregiver is unable to lift the member",
    ]


def test_an_introduction_naming_either_of_two_items_nests_them_as_alternatives():
    root = trees(LABELLED)[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["documented", "documented", "any_of"]
    assert labels(root.children[2]) == ["The member lives alone", "A caregiver is unable to lift the member"]


def test_a_numbered_reference_ending_with_a_colon_introduces_the_list():
    text = (
        "Criteria\n\nA hearing aid is covered when the member meets criteria 1, 2 and either 3 or 4:\n\n"
        "1. Hearing loss is confirmed by an audiogram.\n"
        "2. The member is 6 years of age or older.\n"
        "3. Speech is not understood at normal volume.\n"
        "4. The member works in a noisy setting.\n"
    )
    root = trees(text)[0]
    assert len(labels(root)) == 4
    assert root.children[1].fact == "member_age"
    assert root.children[2].node_type == "any_of" and len(root.children[2].children) == 2


def test_letter_references_wrapped_onto_the_next_line_introduce_the_list():
    text = (
        "Renewal\n\nRenewal of the brace is covered when both criteria A and\nB are met:\n\n"
        "A. The brace still fits.\nB. The skin under the brace is intact.\n"
    )
    assert labels(trees(text)[0]) == ["The brace still fits", "The skin under the brace is intact"]


def test_a_reference_to_items_that_are_not_below_leaves_a_plain_group_for_review():
    text = (
        "Criteria\n\nA splint is covered when the member meets criteria 1, 2 and either 5 or 6:\n\n"
        "1. The wrist is fractured.\n2. The cast has been removed.\n"
    )
    root = trees(text)[0]
    assert root.node_type == "all_of" and root.confidence <= 0.6
    assert len(root.children) == 2


def test_a_heading_ends_a_list_even_when_the_next_section_starts_with_bullets():
    text = (
        "# Policy\n\n## Criteria\n\nA cane is covered when all of the following are met:\n\n"
        "A. The member can bear weight.\nB. The member has a gait disorder.\n\n"
        "## Not covered\n\n- Decorative canes are not covered.\n"
    )
    assert labels(trees(text, "p.md")[0]) == ["The member can bear weight", "The member has a gait disorder"]


def test_markdown_emphasis_does_not_hide_a_quantifier():
    text = (
        "## Criteria\n\nA walker is medically necessary when **all** of the following are met:\n\n"
        "- The member falls at home.\n"
        "- **One** of the following is documented:\n"
        "  - weak legs\n"
        "  - poor balance\n"
    )
    root = trees(text, "p.md")[0]
    assert root.node_type == "all_of"
    assert root.children[1].node_type == "any_of"
    assert root.children[1].label == "One of the following is documented:"


CRITERIA_TABLE = """<html><body><h2>Coverage</h2>
<p>A cooling vest is medically necessary for members who meet the requirements below.</p>
<h3>Table 4. Requirements (all must be met)</h3>
<table>
<tr><th>#</th><th>Requirement</th><th>Records to send</th></tr>
<tr><td>1</td><td>The member has heat-sensitive multiple sclerosis</td><td>Neurology note</td></tr>
<tr><td>2</td><td>Symptoms worsen in warm weather</td><td>Symptom diary</td></tr>
</table>
<h2>Codes</h2><p>E0676</p>
</body></html>"""


def test_a_table_with_a_criterion_column_gives_one_item_per_row():
    root = next(r for r in trees(CRITERIA_TABLE, "p.html") if r.children)
    assert root.node_type == "all_of"
    assert labels(root) == ["The member has heat-sensitive multiple sclerosis", "Symptoms worsen in warm weather"]


def test_the_caption_of_a_criteria_table_says_how_many_rows_must_be_met():
    html = CRITERIA_TABLE.replace("all must be met", "one must be met")
    root = next(r for r in trees(html, "p.html") if r.children)
    assert root.node_type == "any_of"


QUESTIONNAIRE = """<html><body><h2>Request form</h2>
<form action="/send">
<fieldset><legend>Section 1. Member</legend>
<label>Plan <select name="plan"><option>Gold plan</option><option>Silver plan</option></select></label>
</fieldset>
<fieldset><legend>Section 2. Questions (every question must be answered as required)</legend>
<div><p>1. Is the member 12 years of age or older?</p>
<label><input type="radio" name="a" value="yes"> Yes</label> <label><input type="radio" name="a" value="no"> No</label>
<p>Required answer: Yes</p></div>
<div><p>2. Has the member had a prior implant on the same side?</p>
<label><input type="radio" name="b" value="yes"> Yes</label> <label><input type="radio" name="b" value="no"> No</label>
<p>Required answer: No</p></div>
</fieldset>
</form>
<h2>Codes</h2><p>L8690</p>
</body></html>"""


def test_a_questionnaire_form_gives_its_questions_as_items():
    root = trees(QUESTIONNAIRE, "p.html")[0]
    assert root.node_type == "all_of"
    assert labels(root) == [
        "Is the member 12 years of age or older?",
        "Has the member had a prior implant on the same side?",
    ]
    assert root.children[0].fact == "member_age"


def test_a_question_whose_required_answer_is_no_is_left_to_a_reviewer():
    question = trees(QUESTIONNAIRE, "p.html")[0].children[1]
    assert question.node_type == "documented" and question.fact is None and question.confidence <= 0.6


def test_manual_paragraph_levels_a_1_and_capital_a_nest():
    text = (
        "Coverage criteria\n\n"
        "(a) A lift is covered when all of the following requirements are met:\n"
        "(1) The member cannot stand unaided.\n"
        "(2) A therapist has assessed the home, documenting all of the following:\n"
        "(A) the room sizes;\n"
        "(B) the floor surfaces; and\n"
        "(C) the door widths.\n"
        "(3) A caregiver is trained.\n"
        "(b) Ceiling lifts are not medically necessary.\n"
    )
    root = trees(text)[0]
    assert labels(root) == [
        "The member cannot stand unaided",
        "the room sizes",
        "the floor surfaces",
        "the door widths",
        "A caregiver is trained",
    ]
    assert root.children[1].node_type == "all_of"


def test_a_closing_conjunction_printed_before_the_last_marker_keeps_the_item():
    text = (
        "Criteria\n\nA lift is covered when all of the following are met:\n"
        "(1) the room sizes;\n(2) the floor surfaces;\nand (3) the door widths.\n"
    )
    assert labels(trees(text)[0]) == ["the room sizes", "the floor surfaces", "the door widths"]


def test_symptoms_present_for_a_time_map_to_their_duration():
    found = map_fact("The member's headaches have been present for at least 9 months", CATALOGUE)
    assert found is not None and found[:3] == ("symptom_duration_months", "gte", 9)


def test_time_on_a_drug_taken_is_no_duration_of_symptoms():
    assert map_fact("The member has taken aspirin for at least 2 months", CATALOGUE) is None


def test_treatment_that_failed_after_a_time_states_its_least_duration():
    found = map_fact("Pain has not improved after 8 weeks of conservative therapy", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 8)


def test_a_table_of_indications_without_a_stated_quantifier_is_no_criteria_list():
    html = (
        "<html><body><h2>Policy</h2><p>Drugs used with the pump</p>"
        "<table><tr><th>Drug</th><th>Indication</th></tr>"
        "<tr><td>Drug A</td><td>Severe spasticity</td></tr><tr><td>Drug B</td><td>Chronic pain</td></tr></table>"
        "<h2>Codes</h2><p>E0783</p></body></html>"
    )
    assert not any(r.children for r in trees(html, "p.html"))

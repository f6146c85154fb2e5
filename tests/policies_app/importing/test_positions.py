"""Coverage positions as payers phrase them: per indication, wrapped over lines, "covered", "approved"."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.result import Field


def positions(text: str) -> list[Field]:
    return extract_document(text.encode(), file="policy.txt").many("positions")


def stated(text: str) -> list[tuple[str, str]]:
    return [(p.value["position"], p.value["indication"]) for p in positions(text)]


def test_a_sentence_wrapped_over_two_lines_is_read_as_one_position():
    text = "Policy\n\nPneumatic compression of both legs for chronic venous ulcers\nis not medically necessary.\n"
    assert stated(text) == [("not_medically_necessary", "chronic venous ulcers")]


def test_a_wrapped_position_points_to_the_lines_it_spans():
    text = "Policy\n\nPneumatic compression of both legs for chronic venous ulcers\nis not medically necessary.\n"
    source = positions(text)[0].source
    assert source.text == "Pneumatic compression of both legs for chronic venous ulcers\nis not medically necessary."
    assert source.end - source.start == len(source.text)


def test_a_plan_that_considers_over_three_lines_states_the_criteria_position():
    text = (
        "Policy\n\n"
        "Lakeshore Health considers lumbar disc replacement (single level, with an\n"
        "FDA-approved device) medically necessary for adults when all of the\n"
        "following criteria are met:\n"
        "1. Age 18 to 60\n"
    )
    # "for adults" names who, not what: the indication is the service the sentence is about.
    assert stated(text) == [
        ("medically_necessary_with_criteria", "lumbar disc replacement (single level, with an FDA-approved device)")
    ]


def test_a_line_that_ends_its_sentence_is_not_joined_to_the_next():
    text = "Policy\n\nScalp cooling is considered investigational.\nthe plan reviews this position each year.\n"
    assert [p.source.text for p in positions(text)] == ["Scalp cooling is considered investigational."]


def test_covered_when_medically_necessary_and_criteria_are_met_is_the_criteria_position():
    text = "Policy\n\nBone-anchored hearing aids are covered when medically necessary and the criteria below are met.\n"
    assert stated(text) == [("medically_necessary_with_criteria", "Bone-anchored hearing aids")]


def test_covered_when_a_billing_condition_holds_is_not_a_position():
    text = "Policy\n\nThe fitting visit is covered when billed with the device on the same claim.\n"
    assert stated(text) == []


def test_approved_when_the_member_meets_the_criteria_is_the_criteria_position():
    text = "Criteria\n\nAn insulin pump is approved for up to 12 months when the member meets all of the following:\n"
    assert stated(text) == [("medically_necessary_with_criteria", "An insulin pump")]


def test_initial_and_continued_approval_are_two_positions():
    text = (
        "Criteria\n\n"
        "Home infusion is approved for 3 months when all of the following are met:\n"
        "1. Age 12 or older\n"
        "Continued infusion is approved for 6 months at a time when all of the following are met:\n"
        "1. Adherence of at least 80 percent\n"
    )
    assert [p for p, _ in stated(text)] == ["medically_necessary_with_criteria"] * 2


def test_a_plan_that_may_authorize_coverage_states_the_criteria_position_with_less_confidence():
    text = (
        "Coverage Criteria\n\n"
        "Pinecrest Health may authorize coverage of hyperbaric oxygen therapy (up to 40 sessions) "
        "for a member who meets all of the following criteria:\n"
        "1. A diabetic foot ulcer of Wagner grade 3 or higher\n"
    )
    found = positions(text)
    assert [(p.value["position"], p.value["indication"]) for p in found] == [
        ("medically_necessary_with_criteria", "hyperbaric oxygen therapy (up to 40 sessions)")
    ]
    assert found[0].confidence < 0.9


def test_a_plan_that_will_not_authorize_states_no_criteria_position():
    text = (
        "Coverage Criteria\n\nThe plan will not authorize coverage of a second pump when all of the following apply.\n"
    )
    assert stated(text) == []


def test_a_paragraph_number_is_not_part_of_the_position():
    text = "2.0 POLICY\n\n2.1 Cryotherapy of the prostate is considered experimental and investigational.\n"
    assert [p.source.text for p in positions(text)] == [
        "Cryotherapy of the prostate is considered experimental and investigational."
    ]


def test_a_list_of_indications_after_for_is_one_indication():
    text = "Policy\n\nVagus nerve stimulation is investigational for migraine, cluster headache and tinnitus.\n"
    assert stated(text) == [("investigational", "migraine, cluster headache and tinnitus")]


def test_for_example_is_not_an_indication():
    text = "Policy\n\nLaser ablation of the nerves (for example, the Nerva system) is considered investigational.\n"
    assert stated(text) == [("investigational", "Laser ablation of the nerves (for example, the Nerva system)")]


def test_a_paragraph_that_keeps_the_pages_line_break_is_read_as_one_position():
    html = (
        "<html><body><h2>Policy</h2><p>Orchard Valley considers occipital nerve stimulation medically necessary for\n"
        "chronic migraine when all of the following criteria are met:</p>"
        "<ul><li>Age 18 years or older</li><li>Failure of three preventive drugs</li></ul></body></html>"
    )
    found = extract_document(html.encode(), file="policy.html").many("positions")
    assert [p.value["position"] for p in found] == ["medically_necessary_with_criteria"]


def test_not_covered_under_another_section_is_no_position_of_its_own():
    text = (
        "Policy\n\nA. Lumbar disc replacement is considered medically necessary when all of the following are met:\n"
        "1. Age 18 to 60\n\nPolicy Guidelines\n\nRevision of a disc at an adjacent level is not covered under section A.\n"
    )
    assert [position for position, _ in stated(text)] == ["medically_necessary_with_criteria"]


def test_a_position_under_a_capitals_heading_with_an_aside_in_brackets_is_read():
    text = (
        "II. ADOPTED BY REFERENCE\n\nThe plan follows the national determination in full.\n\n"
        "III. OUTLINE OF THE DETERMINATION'S CRITERIA (summarised for staff)\n\n"
        "Knee bracing is considered reasonable and necessary for ligament instability when\n"
        "all of the following are met:\n   (1) Instability on examination\n"
    )
    assert stated(text) == [("medically_necessary_with_criteria", "ligament instability")]


def test_a_heading_that_is_a_when_clause_is_no_position():
    text = (
        "Policy\n\n4.0 When the Service Is Not Covered\nKnee bracing for cosmetic reasons is not medically necessary.\n"
    )
    assert [p for p, _ in stated(text)] == ["not_medically_necessary"]


def test_a_general_rule_to_cover_any_procedure_when_medically_necessary_is_no_position():
    text = (
        "Policy\n\nThe State Plan covers a procedure when it is medically necessary and is not for the convenience"
        " of the provider.\nKnee bracing is considered investigational.\n"
    )
    assert [p for p, _ in stated(text)] == ["investigational"]


DECISION_TABLE = """<html><body><h2>Coverage decision table</h2>
<table>
<tr><th>Indication</th><th>Coverage status</th><th>Conditions</th></tr>
<tr><td>1</td><td>Knee bracing after ligament repair</td><td>Medically necessary when all conditions are met</td>
<td><p>All of:</p><ul><li>Age 18 years or older</li><li>Instability on examination</li></ul></td></tr>
<tr><td>2</td><td>Knee bracing for sport</td><td>Not medically necessary</td><td><p>None.</p></td></tr>
<tr><td>3</td><td>Magnetic knee wraps</td><td>Experimental / investigational</td><td><p>None.</p></td></tr>
</table></body></html>"""


def test_the_status_cells_of_a_decision_table_are_positions_of_their_rows_indications():
    found = extract_document(DECISION_TABLE.encode(), file="policy.html").many("positions")
    assert [(p.value["position"], p.value["indication"]) for p in found] == [
        ("medically_necessary_with_criteria", "Knee bracing after ligament repair"),
        ("not_medically_necessary", "Knee bracing for sport"),
        ("experimental_investigational", "Magnetic knee wraps"),
    ]


def test_a_position_read_from_a_table_cell_is_left_for_review():
    found = extract_document(DECISION_TABLE.encode(), file="policy.html").many("positions")
    assert all(p.confidence < 0.8 for p in found)


def test_a_when_clause_before_the_subject_still_states_the_position():
    text = "Policy\n\nWhen requested for an unstable knee, knee bracing is considered medically necessary.\n"
    assert [p for p, _ in stated(text)] == ["medically_necessary"]

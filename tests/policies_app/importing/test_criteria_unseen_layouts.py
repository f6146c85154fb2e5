"""Criteria laid out as checklists, typed outlines, decimal manuals and word-processor pastes."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.facts import FactSpec, map_fact
from policies_app.importing.readers import read_text
from policies_app.importing.result import Criterion
from policies_app.importing.structure import sections
from tests.policies_app.importing.conftest import CATALOGUE


def trees(text: str, file: str = "p.txt") -> list[Criterion]:
    return extract_document(text.encode(), file=file, catalogue=CATALOGUE).criteria


def labels(node: Criterion) -> list[str]:
    return [leaf.label for leaf in node.leaves()]


CHECKLIST = """Criteria

A standing wheelchair is medically necessary when ALL of the criteria below are met:

    \u2610 1. The member cannot transfer out of the chair without the help
         of a caregiver, as recorded by the therapist
    \u2610 2. One of the following is present:
         \u2610 a. Pressure sores on the sacrum that have recurred
              over the last year
         \u2610 b. Contractures of both knees
    \u2610 3. The member has a home that fits the chair
"""


def test_ballot_boxes_before_item_markers_are_read_as_a_nested_checklist():
    root = trees(CHECKLIST)[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["documented", "any_of", "documented"]
    assert labels(root) == [
        "The member cannot transfer out of the chair without the help of a caregiver, as recorded by the therapist",
        "Pressure sores on the sacrum that have recurred over the last year",
        "Contractures of both knees",
        "The member has a home that fits the chair",
    ]


def test_a_ballot_box_alone_marks_an_item():
    text = (
        "Criteria\n\nA lift is medically necessary when all of the following are met:\n\n"
        "  \u2610 The member weighs more than the caregiver can lift\n"
        "  \u2610 The home has room for the lift\n"
    )
    assert labels(trees(text)[0]) == [
        "The member weighs more than the caregiver can lift",
        "The home has room for the lift",
    ]


LETTERED_STATEMENTS = """<html><body><h2>Position Statement</h2>
<p>Medically Necessary:</p>
<p>A. A gait trainer is considered medically necessary for cerebral palsy when all of the following criteria are met:</p>
<p>1. The child can bear weight through the legs; and</p>
<p>2. A physical therapist has set goals for its use.</p>
<p>B. A gait trainer is considered medically necessary for spina bifida when both of the following criteria are met:</p>
<p>1. The child is 2 years of age or older; and</p>
<p>2. The child cannot walk with crutches.</p>
<p>C. Repair of a gait trainer is considered medically necessary.</p>
</body></html>"""


def test_a_lettered_statement_announcing_a_list_introduces_the_numbered_items_below_it():
    found = trees(LETTERED_STATEMENTS, "p.html")
    assert [labels(root) for root in found] == [
        ["The child can bear weight through the legs", "A physical therapist has set goals for its use"],
        ["The child is 2 years of age or older", "The child cannot walk with crutches"],
    ]
    assert found[1].children[0].fact == "member_age"


ROMAN_OUTLINE = """Policy/Criteria
I. It is the policy of the plan that a speech device is medically necessary when meeting all of the following:
A. The member cannot speak in a way others understand;
B. A speech therapist has assessed the member;
C. The member has tried one of the following:
1. A picture board;
2. A low-tech letter board;
D. The member can use the device.
II. It is the policy of the plan that an upgrade is medically necessary when meeting both of the following:
A. The device is at least 5 years old;
B. The member's needs have changed.
III. Accessories are not medically necessary.
"""


def test_a_roman_numbered_statement_takes_lettered_items_and_the_next_numeral_ends_its_list():
    found = trees(ROMAN_OUTLINE)
    assert len(found) == 2
    first, second = found
    assert [child.node_type for child in first.children] == ["documented", "documented", "any_of", "documented"]
    assert labels(first)[2:4] == ["A picture board", "A low-tech letter board"]
    assert labels(second) == ["The device is at least 5 years old", "The member's needs have changed"]


DECIMAL_MANUAL = """4.0  POLICY

4.2  Home oxygen is covered for members with chronic lung disease when all
of the following conditions are met:

     4.2.1  The member is 18 years of age or older.

     4.2.2  Resting oxygen saturation is 88% or less on room air,
            measured while awake.

     4.2.3  The member has both of the following:

            4.2.3.1  An assessment by a lung specialist.

            4.2.3.2  A trial of oxygen during exercise.

     4.2.4  The member is not a current smoker.

4.3  Portable concentrators are covered when the member leaves the home
daily.
"""


def test_decimal_markers_nest_by_the_number_they_extend_and_the_next_section_number_ends_the_list():
    root = trees(DECIMAL_MANUAL)[0]
    assert [child.node_type for child in root.children] == ["leaf", "documented", "all_of", "leaf"]
    assert labels(root) == [
        "The member is 18 years of age or older",
        "Resting oxygen saturation is 88% or less on room air, measured while awake",
        "An assessment by a lung specialist",
        "A trial of oxygen during exercise",
        "The member is not a current smoker",
    ]


WORD_PASTE = (
    "2.\tCoverage\r\n"
    "2.1\tA cooling vest is medically necessary for heat-sensitive multiple\r\n"
    "sclerosis when all of the following are met:\r\n"
    "\u2022\tSymptoms worsen in warm weather despite\r\n"
    "medical therapy\r\n"
    "\u2022\tThe member uses at least one of the following:\r\n"
    "o\ta disease-modifying drug\r\n"
    "o\ta walking aid\r\n"
    "\u2022\tThe member lives in a region with hot summers and has no\r\n"
    "other way to stay cool\r\n"
    "2.2\tCooling vests are not medically necessary for other conditions.\r\n"
)


def test_word_bullets_nest_by_glyph_and_soft_line_breaks_continue_their_item():
    root = trees(WORD_PASTE)[0]
    assert [child.node_type for child in root.children] == ["documented", "any_of", "documented"]
    assert labels(root) == [
        "Symptoms worsen in warm weather despite medical therapy",
        "a disease-modifying drug",
        "a walking aid",
        "The member lives in a region with hot summers and has no other way to stay cool",
    ]


def test_a_label_ending_in_a_word_that_ends_in_or_keeps_the_word():
    text = "Criteria\n\nA scan is medically necessary when all of the following are met:\n\n  1. A referral from a doctor\n  2. A mass\n"
    assert labels(trees(text)[0])[0] == "A referral from a doctor"


def test_the_time_since_a_diagnosis_is_no_duration_of_symptoms():
    assert map_fact("Multiple sclerosis has been diagnosed for at least 2 years", CATALOGUE) is None


def test_the_time_a_state_has_been_stable_is_no_duration_of_symptoms():
    assert map_fact("Blood pressure has been stable, within 10%, for at least 3 months", CATALOGUE) is None


def test_a_symptom_lasting_a_time_is_still_a_duration_of_symptoms():
    assert map_fact("Hip pain for at least 3 months", CATALOGUE)[:3] == ("symptom_duration_months", "gte", 3)


def test_diagnosis_codes_keep_the_order_the_criterion_names_them():
    found = map_fact("Chronic cellulitis of the leg (L03.116, L03.115)", CATALOGUE)
    assert found is not None and found[:3] == ("diagnosis_codes", "any_in", ["L03.116", "L03.115"])


def test_codes_closing_a_criterion_one_per_alternative_name_every_alternative():
    found = map_fact("Hearing loss of 40 dB or more, or a word score of 50% or less (H90.3, H90.5)", CATALOGUE)
    assert found is not None and found[:3] == ("diagnosis_codes", "any_in", ["H90.3", "H90.5"])


def test_one_code_for_two_alternatives_leaves_the_criterion_compound():
    assert map_fact("Hearing loss in one ear, or tinnitus for a year (H90.3)", CATALOGUE) is None


def test_weeks_of_a_treatment_named_by_what_it_is_are_conservative_therapy():
    found = map_fact("At least 6 weeks of bracing have not relieved the symptoms", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 6)


def test_a_wrapped_line_that_starts_with_a_decimal_number_continues_its_item():
    text = (
        "Criteria\n\nA scan is medically necessary when all of the following are met:\n\n"
        "  1. The liver enzymes are raised to more than\n"
        "     2.5 times the upper limit of normal\n"
        "  2. An ultrasound was not conclusive\n"
    )
    assert labels(trees(text)[0]) == [
        "The liver enzymes are raised to more than 2.5 times the upper limit of normal",
        "An ultrasound was not conclusive",
    ]


def test_a_coverage_sentence_ending_in_when_colon_introduces_an_all_of_list():
    text = (
        "Criteria\n\nA hearing aid is considered medically necessary when:\n\n"
        "  - The loss is at least moderate in the better ear\n"
        "  - An audiologist fitted the aid\n"
    )
    root = trees(text)[0]
    assert (root.node_type, labels(root)) == (
        "all_of",
        ["The loss is at least moderate in the better ear", "An audiologist fitted the aid"],
    )


def test_a_not_covered_sentence_ending_in_when_colon_introduces_no_criteria():
    text = (
        "Criteria\n\nA hearing aid is not medically necessary when:\n\n"
        "  - It is bought only for music\n"
        "  - It replaces a working aid\n"
    )
    assert trees(text) == []


def test_a_connector_on_a_line_between_items_does_not_end_the_list():
    text = (
        "Criteria\n\nA walker is medically necessary when all of the following are met:\n\n"
        "1. The member falls at home\n"
        "AND\n"
        "2. A cane is not enough\n"
        "- and -\n"
        "3. The member can lift the walker\n"
    )
    assert labels(trees(text)[0]) == [
        "The member falls at home",
        "A cane is not enough",
        "The member can lift the walker",
    ]


def test_events_per_hr_is_the_unit_of_an_index_kept_per_hour():
    facts = [*CATALOGUE, FactSpec("apnea_hypopnea_index", "Apnea-hypopnea index (AHI)", "number", "events/hour")]
    found = map_fact("AHI of at least 20 events/hr on a sleep study", facts)
    assert found is not None and found[:3] == ("apnea_hypopnea_index", "gte", 20)


def test_a_short_line_ending_in_when_colon_is_no_heading():
    document = read_text("Coverage\n\nBracing is medically necessary when:\n\n  - The curve is growing\n")
    assert [section.heading for section in sections(document)] == ["Coverage"]


def test_a_quantifier_stated_as_must_be_met_opens_its_list():
    text = (
        "Criteria\n\nCriteria for a cooling blanket (one must be met):\n\n"
        "  - Body temperature above 40 degrees after two doses of medicine\n"
        "  - A spinal cord injury that stops sweating\n"
    )
    root = trees(text)[0]
    assert (root.node_type, len(root.children)) == ("any_of", 2)


def test_open_circle_and_pointer_bullets_mark_items():
    text = (
        "Criteria\n\nA splint is medically necessary when all of the following are met:\n\n"
        "\u25ba The wrist is fractured\n"
        "\u25ba One of the following:\n"
        "  \u25cb The cast cannot be worn\n"
        "  \u25cb The skin has broken down\n"
    )
    assert labels(trees(text)[0]) == ["The wrist is fractured", "The cast cannot be worn", "The skin has broken down"]


def test_a_yes_no_fact_named_by_its_verb_is_tested():
    assert map_fact("The member does not smoke", CATALOGUE)[:3] == ("current_smoker", "is_false", None)


def test_a_verb_beside_a_time_is_no_yes_no_test():
    assert map_fact("The member stopped smoking at least 8 weeks ago", CATALOGUE) is None


def test_an_introduction_naming_the_criteria_below_or_these_criteria_opens_an_all_of_list():
    for intro in (
        "A cochlear implant is covered when the criteria listed below are met:",
        "A cochlear implant is covered for members who meet these criteria:",
    ):
        text = f"Criteria\n\n{intro}\n\n  - Deafness in both ears\n  - No benefit from hearing aids\n"
        root = trees(text)[0]
        assert (root.node_type, len(root.children)) == ("all_of", 2), intro


def test_criteria_pointed_back_to_in_another_section_open_no_list():
    text = "Criteria\n\nA second implant is covered when the criteria in section B are met.\n\n  - Notes on fitting\n"
    assert trees(text) == []

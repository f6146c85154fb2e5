"""Criteria lists as pages lay them out: wrapped introductions, page furniture, numbers printed apart."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.facts import FactSpec, map_fact
from policies_app.importing.readers import read_pdf, read_text
from tests.policies_app.importing.conftest import CATALOGUE, pdf_of_page

WRAPPED = """Coverage

Brightwater covers a motorized standing frame for use at home when ALL of
the following are met:

  1. The member cannot stand unaided for more than a minute.
  2. A therapist has trained the member and a caregiver.

A tilt option is medically necessary when at least two of
the following apply:

  - The member sits for most of the day.
  - The member cannot shift weight alone.
  - Muscle tone needs managing.
"""

PAGED = (
    "Harbor Lane Health                                  Policy HL-77\n"
    "\n"
    "Criteria\n"
    "Mapping is medically necessary when all of the following criteria are met:\n"
    "  1. A referral from the treating clinician\n"
    "  2. The member meets any of the following:\n"
    "     a. Personal history with at least one of the following:\n"
    "        i.   Onset before the age of forty\n"
    "        ii.  Two affected siblings\n"
    "\n"
    "Page 1 of 2          Harbor Lane Health. Confidential.\n"
    "\fHarbor Lane Health                                  Policy HL-77\n"
    "\n"
    "        iii. An affected parent\n"
    "     b. A known variant in a relative\n"
    "\n"
    "Page 2 of 2          Harbor Lane Health. Confidential.\n"
)


def trees(text: str):
    return extract_document(text.encode(), file="p.txt", catalogue=CATALOGUE).criteria


def test_an_introduction_wrapped_after_all_of_opens_the_list():
    first = trees(WRAPPED)[0]
    assert (first.node_type, len(first.children)) == ("all_of", 2)


def test_a_wrapped_introductions_source_is_both_lines_exactly():
    result = extract_document(WRAPPED.encode(), file="p.txt", catalogue=CATALOGUE)
    source = result.criteria[0].source
    assert (
        source.text
        == "Brightwater covers a motorized standing frame for use at home when ALL of\nthe following are met:"
    )
    assert result.text[source.start : source.end] == source.text


def test_a_wrapped_at_least_n_introduction_keeps_its_count():
    second = trees(WRAPPED)[1]
    assert (second.node_type, second.min_met, len(second.children)) == ("at_least", 2, 3)


def test_running_headers_and_footers_are_left_out_of_text_saved_from_pages():
    text = read_text(PAGED).text
    assert "Page 1 of 2" not in text
    assert text.count("Policy HL-77") == 1


def test_the_first_pages_header_is_kept_as_the_documents_own():
    assert read_text(PAGED).text.startswith("Harbor Lane Health")


def test_a_page_number_line_without_a_form_feed_ends_a_page():
    text = "Intro line\nPage 1 of 2\nHarbor Lane Health\nBody\nPage 2 of 2\n"
    assert "Page" not in read_text(text).text


def test_a_list_broken_across_a_page_keeps_its_roman_sub_level():
    personal = trees(PAGED)[0].children[1].children[0]
    assert [child.label for child in personal.children] == [
        "Onset before the age of forty",
        "Two affected siblings",
        "An affected parent",
    ]


def test_the_letter_after_a_page_break_returns_to_its_level():
    member = trees(PAGED)[0].children[1]
    assert [child.label for child in member.children][-1] == "A known variant in a relative"


def _pdf_numbers_after_items(intro: str, items: list[str]) -> bytes:
    """A page drawn as a browser prints an ordered list: the items' text first, their numbers after."""
    y = 700
    text = [f"BT /F1 11 Tf 50 750 Td ({intro}) Tj ET"]
    for item in items:
        text.append(f"BT /F1 11 Tf 90 {y} Td ({item}) Tj ET")
        y -= 16
    y = 700
    for number in range(1, len(items) + 1):
        text.append(f"BT /F1 11 Tf 72 {y} Td ({number}.) Tj ET")
        y -= 16
    return pdf_of_page("\n".join(text).encode("latin-1"))


def test_list_numbers_printed_apart_from_their_items_are_put_back_beside_them():
    pdf = _pdf_numbers_after_items(
        "Treatment is medically necessary when ALL of the following are met:",
        ["The member is an adult", "Two therapies have failed"],
    )
    lines = read_pdf(pdf).text.split("\n")
    assert [line.strip() for line in lines[1:]] == ["1. The member is an adult", "2. Two therapies have failed"]


def test_a_number_in_a_trailing_when_clause_tests_no_fact():
    assert map_fact("Dietary counseling, when the body mass index is 35 or more", CATALOGUE) is None


def test_a_condition_lasting_more_than_some_months_is_its_duration():
    assert map_fact("Chronic tinnitus for more than 6 months", CATALOGUE)[:3] == ("symptom_duration_months", "gt", 6)


def test_a_therapy_lasting_some_months_is_no_duration_of_symptoms():
    assert map_fact("Severe reflux despite medical therapy for at least 3 months", CATALOGUE) is None


def test_an_age_at_diagnosis_without_the_word_age_is_no_member_age():
    assert map_fact("A sibling with melanoma diagnosed at 40 or younger", CATALOGUE) is None


CLOSING_WORDS_WRAPPED = """Coverage

A. Bracing with the Quillon frame may be considered medically necessary for members with
   painful knee instability when all of the following
   criteria are met:

   1. The member can walk at least ten steps
   2. A therapist has fitted the frame
   3. At least one of the following:
      a. Two falls in the past year
      b. A failed trial of a cane
"""


def test_an_introduction_whose_closing_words_wrap_onto_their_own_line_opens_the_list():
    first = trees(CLOSING_WORDS_WRAPPED)[0]
    assert [child.label for child in first.children] == [
        "The member can walk at least ten steps",
        "A therapist has fitted the frame",
        "At least one of the following:",
    ]


def test_the_introductions_source_runs_to_its_closing_line():
    first = trees(CLOSING_WORDS_WRAPPED)[0]
    assert first.source.text.endswith("criteria are met:")


SECTIONS_IN_A_LIST = """<html><body>
<ol type="I">
<li><h3>Medical Necessity</h3>
<p>Fernway covers light therapy when both of the following criteria are met:</p>
<ol type="A">
<li>The member is 18 years or older</li>
<li>Treatment uses a lamp cleared by the FDA.</li>
</ol>
</li>
<li><h3>Experimental and Investigational</h3>
<p>Fernway considers light therapy investigational for all other indications.</p>
</li>
</ol>
</body></html>"""


def test_a_heading_between_ends_the_last_item_of_the_list_above_it():
    result = extract_document(SECTIONS_IN_A_LIST.encode(), file="p.html", catalogue=CATALOGUE)
    assert [leaf.label for root in result.criteria for leaf in root.leaves()] == [
        "The member is 18 years or older",
        "Treatment uses a lamp cleared by the FDA",
    ]


def test_two_imaging_tests_offered_for_one_finding_are_one_condition():
    assert map_fact("MRI or CT shows spinal stenosis at the level to be treated", CATALOGUE)[:2] == (
        "imaging_confirms_stenosis",
        "is_true",
    )


def test_a_reading_taken_while_using_a_device_is_not_the_members_own_value():
    catalogue = [*CATALOGUE, FactSpec("apnea_hypopnea_index", "Apnea-hypopnea index (AHI)", "number", "events/hour")]
    assert map_fact("Residual AHI of 20 or more events per hour while using the oral appliance", catalogue) is None


def test_the_same_reading_without_a_device_in_use_is_the_fact():
    catalogue = [*CATALOGUE, FactSpec("apnea_hypopnea_index", "Apnea-hypopnea index (AHI)", "number", "events/hour")]
    assert map_fact("AHI of 20 or more events per hour on a sleep study", catalogue)[:3] == (
        "apnea_hypopnea_index",
        "gte",
        20,
    )


def _lead_in(sentence: str):
    return trees(f"Coverage\n\n{sentence}\n1. Age 18 years or older\n2. The member uses a walker\n")


def test_the_following_criteria_are_met_without_a_quantifier_asks_for_all():
    first = _lead_in("Orvane covers a standing frame when the following criteria are met:")[0]
    assert (first.node_type, len(first.children)) == ("all_of", 2)


def test_meets_the_following_criteria_asks_for_all():
    first = _lead_in("A frame is covered when the member meets the following criteria:")[0]
    assert first.node_type == "all_of"


def test_all_of_these_criteria_introduces_a_list():
    first = _lead_in("A frame is covered for a member who meets all of these criteria:")[0]
    assert first.node_type == "all_of"


def test_two_or_more_of_the_following_asks_for_at_least_two():
    first = _lead_in("A frame is covered for a member who meets two or more of the following:")[0]
    assert (first.node_type, first.min_met) == ("at_least", 2)


def test_a_sentence_naming_the_following_codes_introduces_no_criteria():
    assert _lead_in("The following codes are billed with the frame:") == []


def test_bracketed_number_items_under_a_both_of_introduction_are_its_leaves():
    text = (
        "II. ADOPTED BY REFERENCE\n\nThe plan follows the national determination in full.\n\n"
        "III. OUTLINE OF THE DETERMINATION'S CRITERIA (summarised for staff)\n\n"
        "(a) Instability\n\n"
        "Knee bracing is considered reasonable and necessary for instability when both of the\n"
        "following are met:\n\n"
        "   (1) Giving way of the knee on walking\n"
        "   (2) Laxity on examination, graded by the\n"
        "       treating surgeon\n"
    )
    roots = extract_document(text.encode(), file="p.txt", catalogue=CATALOGUE).criteria
    leaves = [leaf.label for root in roots for leaf in root.leaves()]
    assert leaves == ["Giving way of the knee on walking", "Laxity on examination, graded by the treating surgeon"]

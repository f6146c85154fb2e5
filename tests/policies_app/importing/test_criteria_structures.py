"""Criteria read from a document's structure: styled blocks, definition grids, inline enumerations,
fixed-width column tables and decision trees."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.readers import read_html, read_pdf, read_text
from policies_app.importing.result import Criterion
from policies_app.importing.structure import sections
from tests.policies_app.importing.conftest import CATALOGUE, pdf_of_page


def trees(text: str, file: str = "p.txt") -> list[Criterion]:
    return extract_document(text.encode(), file=file, catalogue=CATALOGUE).criteria


def labels(node: Criterion) -> list[str]:
    return [leaf.label for leaf in node.leaves()]


STYLED_BLOCKS = """<html><body>
<h2>Coverage</h2>
<div class="lead">Home hemodialysis training is medically necessary when all of the following are met:</div>
<div class="reqs">
  <div class="r">The patient has end-stage renal disease on maintenance dialysis</div>
  <div class="r">A trained partner lives with the patient, shown by one of the following:
    <div class="alts">
      <div class="r">A signed partner agreement</div>
      <div class="r">A home visit report by the dialysis nurse</div>
    </div>
  </div>
  <div class="r">The home has a water supply fit for dialysis</div>
</div>
</body></html>"""


def test_blocks_styled_as_list_items_under_an_introduction_are_read_as_nested_items():
    root = trees(STYLED_BLOCKS, "p.html")[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["documented", "any_of", "documented"]
    assert labels(root) == [
        "The patient has end-stage renal disease on maintenance dialysis",
        "A signed partner agreement",
        "A home visit report by the dialysis nurse",
        "The home has a water supply fit for dialysis",
    ]


def test_like_blocks_without_an_introduction_stay_paragraphs():
    page = """<html><body><h2>Background</h2>
    <div class="notes"><div class="n">Dialysis at home began in the 1960s.</div>
    <div class="n">Most programmes train for six weeks.</div></div></body></html>"""
    document = read_html(page)
    assert [document.line_text(line) for line in document.lines][1:] == [
        "Dialysis at home began in the 1960s.",
        "Most programmes train for six weeks.",
    ]


DEFINITION_GRID = """<html><body>
<h2>Criteria</h2>
<div class="g">
 <div class="row"><div class="k">Service</div><div class="v"><p>A scleral lens fitting is medically necessary when all of the criteria below are met.</p></div></div>
 <div class="row"><div class="k">Age</div><div class="v">The member is 12 years of age or older</div></div>
 <div class="row"><div class="k">Corneal disease</div><div class="v">Irregular astigmatism is shown on topography</div></div>
 <div class="row"><div class="k">Prior lenses</div><div class="v">Rigid gas-permeable lenses failed to give useful vision</div></div>
</div>
</body></html>"""


def test_definition_grid_rows_give_their_definitions_as_items_and_not_their_terms():
    root = trees(DEFINITION_GRID, "p.html")[0]
    assert root.node_type == "all_of"
    assert labels(root) == [
        "The member is 12 years of age or older",
        "Irregular astigmatism is shown on topography",
        "Rigid gas-permeable lenses failed to give useful vision",
    ]
    assert (root.children[0].fact, root.children[0].operator, root.children[0].value) == ("member_age", "gte", 12)


def grid_terms(page: str) -> list[str]:
    document = read_html(page)
    return [document.line_text(line) for line in document.lines if line.term]


def test_definition_grid_row_term_is_marked_as_the_label_of_its_definition():
    document = read_html(DEFINITION_GRID)
    texts = [document.line_text(line) for line in document.lines]
    assert grid_terms(DEFINITION_GRID) == ["Age", "Corneal disease", "Prior lenses"]
    assert texts[texts.index("Age") + 1] == "The member is 12 years of age or older"


INLINE = """Coverage

Pinecrest Mutual covers a sleep study at home when all of the following are met: (1) the
member is 18 years of age or older; (2) loud snoring is reported by a bed partner; (3) the
member has no heart failure; and (4) the study is ordered by a sleep physician.
Repeat studies are reviewed by a medical director.
"""


def test_inline_enumeration_in_one_paragraph_is_read_item_by_item():
    root = trees(INLINE)[0]
    assert root.node_type == "all_of"
    assert labels(root) == [
        "the member is 18 years of age or older",
        "loud snoring is reported by a bed partner",
        "the member has no heart failure",
        "the study is ordered by a sleep physician",
    ]


def test_inline_item_sources_index_the_normalized_text():
    result = extract_document(INLINE.encode(), file="p.txt", catalogue=CATALOGUE)
    for leaf in result.criteria[0].leaves():
        assert result.text[leaf.source.start : leaf.source.end] == leaf.source.text
        assert " ".join(leaf.source.text.split()).startswith(leaf.label)


INLINE_NESTED = """Coverage

A cochlear implant is medically necessary when all of these conditions are met: a) the child
is 9 months of age or older; b) the hearing loss is either (a) bilateral and profound, or (b)
severe in one ear with no benefit from a hearing aid in the other; c) the family has agreed to
the rehabilitation plan.
"""


def test_inline_either_a_or_b_inside_an_item_is_a_group_of_alternatives():
    root = trees(INLINE_NESTED)[0]
    assert [child.node_type for child in root.children][1] == "any_of"
    assert root.children[1].label == "the hearing loss is either"
    assert labels(root.children[1]) == [
        "bilateral and profound",
        "severe in one ear with no benefit from a hearing aid in the other",
    ]


def test_inline_enumeration_after_an_introduction_wrapped_over_two_lines_is_read():
    text = """Coverage

Bracing after a spinal fusion is covered when ALL of
the following apply: (a) the fusion spans three or more levels; (b) the surgeon orders it in
writing.
"""
    root = trees(text)[0]
    assert root.node_type == "all_of"
    assert labels(root) == ["the fusion spans three or more levels", "the surgeon orders it in writing"]


def test_definition_grid_row_whose_term_reads_as_a_heading_stays_in_the_list():
    row = '<div class="row"><div class="k">Limitations</div><div class="v">One fitting per eye is requested</div></div>'
    page = DEFINITION_GRID.replace("</div>\n</body>", row + "\n</div>\n</body>")
    assert labels(trees(page, "p.html")[0])[-1] == "One fitting per eye is requested"


def test_definition_grid_term_may_carry_inline_emphasis():
    page = DEFINITION_GRID.replace('<div class="k">Age</div>', '<div class="k"><strong>Age</strong></div>')
    assert "Age" in grid_terms(page)


FIXED_WIDTH = """SECTION 4  CONDITIONS (ALL MUST BE MET)
-----------------------------------------------------------------------
NO  CONDITION
--  ---------------------------------------------------------------
1   PATIENT HAS A LEG ULCER OPEN FOR AT LEAST 30 DAYS DESPITE
    COMPRESSION AND WOUND CARE
2   ONE OF THE FOLLOWING:
    2A  ANKLE-BRACHIAL INDEX OF 0.8 OR MORE
    2B  TOE PRESSURE OF 40 MMHG OR MORE
3   NO ACTIVE INFECTION OF THE WOUND BED

REMARK: PHOTOGRAPHS OF THE WOUND ARE KEPT IN THE RECORD.
"""


def test_fixed_width_header_is_split_where_the_dash_rule_below_starts_its_columns():
    document = read_text(FIXED_WIDTH)
    assert "NO\tCONDITION" in [document.line_text(line) for line in document.lines]


def test_a_wrapped_cell_line_in_capitals_is_no_heading():
    document = read_text(FIXED_WIDTH)
    headings = [section.heading for section in sections(document)]
    assert "COMPRESSION AND WOUND CARE" not in headings


def test_fixed_width_rows_continue_on_wrapped_lines_and_nest_indented_rows():
    root = trees(FIXED_WIDTH)[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["documented", "any_of", "documented"]
    assert labels(root) == [
        "PATIENT HAS A LEG ULCER OPEN FOR AT LEAST 30 DAYS DESPITE COMPRESSION AND WOUND CARE",
        "ANKLE-BRACHIAL INDEX OF 0.8 OR MORE",
        "TOE PRESSURE OF 40 MMHG OR MORE",
        "NO ACTIVE INFECTION OF THE WOUND BED",
    ]


DECISION_TREE = """<html><body>
<h2>Review pathway</h2>
<p>Begin with Question 1.</p>
<div class="q"><h3>Question 1</h3>
 <p>Does the member have any of the following?</p>
 <ul><li>Chronic migraine</li><li>Cluster headache</li></ul>
 <div><span>Yes -&gt; Question 2</span> <span>No -&gt; Deny</span></div>
</div>
<div class="q"><h3>Question 2</h3>
 <p>Have two preventive drugs been tried without benefit?</p>
 <div><span>Yes -&gt; Question 3</span> <span>No -&gt; Deny</span></div>
</div>
<div class="q"><h3>Question 3</h3>
 <p>Is the request for no more than 4 treatments?</p>
 <div><span>Yes -&gt; Approve</span><span>No -&gt; Question 4</span></div>
</div>
<div class="q"><h3>Question 4</h3>
 <p>Did the last treatment halve the headache days?</p>
 <div><span>Yes -&gt; Approve</span> <span>No -&gt; Deny</span></div>
</div>
</body></html>"""


def test_decision_tree_questions_are_leaves_and_its_branches_are_not():
    root = trees(DECISION_TREE, "p.html")[0]
    assert root.node_type == "all_of"
    assert labels(root) == [
        "Chronic migraine",
        "Cluster headache",
        "Have two preventive drugs been tried without benefit?",
        "Is the request for no more than 4 treatments?",
        "Did the last treatment halve the headache days?",
    ]


def test_decision_tree_step_whose_no_leads_to_another_step_has_it_as_alternative():
    root = trees(DECISION_TREE, "p.html")[0]
    alternative = root.children[-1]
    assert alternative.node_type == "any_of"
    assert [child.label for child in alternative.children] == [
        "Is the request for no more than 4 treatments?",
        "Did the last treatment halve the headache days?",
    ]


def test_a_decision_tree_branch_line_is_no_heading():
    document = read_html(DECISION_TREE)
    assert not any("->" in section.heading or "→" in section.heading for section in sections(document))


def test_decision_tree_branches_on_lines_of_their_own_are_read_the_same():
    page = DECISION_TREE.replace("</span> <span>", "</span><br><span>").replace("</span><span>", "</span><br><span>")
    root = trees(page, "p.html")[0]
    assert labels(root)[2:] == [
        "Have two preventive drugs been tried without benefit?",
        "Is the request for no more than 4 treatments?",
        "Did the last treatment halve the headache days?",
    ]
    assert root.children[-1].node_type == "any_of"


def test_definition_grid_term_holding_a_heading_is_not_marked_as_a_term():
    page = DEFINITION_GRID.replace('<div class="k">Age</div>', '<div class="k"><h4>Age</h4></div>')
    assert "Age" not in grid_terms(page)


# Lightweight markup, trees drawn in characters, two-column pages, before-and-after tables, footnotes.

ASCIIDOC = """== Coverage

A night splint is medically necessary when *all* of the following are met:

. The member has plantar heel pain in one or both feet.
. The pain was confirmed by a podiatrist, with *one* of the following:
.. Tenderness at the medial calcaneal tubercle
.. Morning pain with at least two of the following:
... Pain on the first steps after rest
... Pain easing after a short walk
. Stretching at home was tried
for at least 6 weeks without relief.
"""


def test_asciidoc_dot_markers_nest_by_their_length():
    root = trees(ASCIIDOC)[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["documented", "any_of", "documented"]
    morning = root.children[1].children[1]
    assert (morning.node_type, morning.min_met) == ("at_least", 2)
    assert labels(morning) == ["Pain on the first steps after rest", "Pain easing after a short walk"]


def test_asciidoc_single_star_emphasis_does_not_hide_the_quantifier():
    root = trees(ASCIIDOC)[0]
    assert root.children[1].node_type == "any_of"
    assert "*" not in root.label


def test_asterisk_markers_nest_by_their_count():
    text = """The device is covered when any of the following apply:

* The member uses a wheelchair
** Manual, with limited arm strength
** Powered, with a failing battery
* The member lives alone
"""
    root = trees(text)[0]
    assert [child.node_type for child in root.children] == ["all_of", "documented"]
    assert labels(root.children[0]) == ["Manual, with limited arm strength", "Powered, with a failing battery"]


def test_footnote_markers_are_left_out_of_labels():
    text = """Therapy is medically necessary when all of the following are met:
1. The member is 18 years of age or older.footnote:[Age on the date of service.]
2. Two prior treatments failed[2]
3. A specialist confirmed the diagnosis\u00b9
4. Swelling of at least 20 cm\u00b2 is present
"""
    root = trees(text)[0]
    assert labels(root) == [
        "The member is 18 years of age or older",
        "Two prior treatments failed",
        "A specialist confirmed the diagnosis",
        "Swelling of at least 20 cm\u00b2 is present",
    ]


CHARACTER_TREE = """Criteria export
[ALL] Home infusion
 +-- [ ] 1   The member is 12 years of age or older
 +-- [ANY] 2   Venous access
 |    +-- [ ] 2.1   A central line is in place
 |    +-- [>=2] 2.2   A peripheral line, with at least 2 of the following
 |    |    +-- [ ] 2.2.1   Veins were assessed by ultrasound and found
 |    |    |               suitable for a midline
 |    |    +-- [ ] 2.2.2   Infusions last under 2 weeks
 |    |    +-- [ ] 2.2.3   A nurse visits daily
 +-- [ ] 3   A caregiver was trained to run the pump
"""


def test_a_tree_drawn_in_characters_nests_by_its_branches():
    root = trees(CHARACTER_TREE)[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["leaf", "any_of", "documented"]
    peripheral = root.children[1].children[1]
    assert (peripheral.node_type, peripheral.min_met) == ("at_least", 2)
    assert labels(peripheral)[0] == "Veins were assessed by ultrasound and found suitable for a midline"


def test_tree_tags_check_boxes_and_outline_numbers_are_left_out_of_labels():
    root = trees(CHARACTER_TREE)[0]
    assert root.label == "Home infusion"
    assert root.children[0].label == "The member is 12 years of age or older"
    assert root.children[1].label == "Venous access"


def test_a_box_drawing_tree_is_read_as_indented_items():
    text = "Checklist\n├── Alpha item\n│   └── Beta item\n│       under beta\n└── Gamma item\n"
    assert read_text(text).text.split("\n")[1:] == [
        "- Alpha item",
        "  - Beta item",
        "      under beta",
        "- Gamma item",
    ]


BEFORE_AFTER = """<html><body>
<h2>What is changing</h2>
<p>All of the criteria in the right-hand column must be met.</p>
<table>
 <tr><th>#</th><th>Current criteria</th><th>Revised criteria (from June 1)</th></tr>
 <tr><td>1</td><td>Age 16 or older</td><td>The member is 18 years of age or older</td></tr>
 <tr><td>2</td><td>(none)</td><td>One of the following findings:
   <ul><li>A torn ligament on MRI</li><li>A positive drawer test</li></ul></td></tr>
 <tr><td>3</td><td>Brace tried</td><td>A brace was worn for 6 weeks without relief</td></tr>
</table>
</body></html>"""


def test_a_before_and_after_table_keeps_only_the_new_wording():
    text = read_html(BEFORE_AFTER).text
    assert "Age 16 or older" not in text and "(none)" not in text and "Brace tried" not in text
    assert "The member is 18 years of age or older" in text


def test_a_row_of_a_number_and_its_text_is_a_numbered_item():
    lines = read_html(BEFORE_AFTER).text.split("\n")
    assert "1. The member is 18 years of age or older" in lines
    assert "3. A brace was worn for 6 weeks without relief" in lines


def test_criteria_of_a_table_under_a_must_be_met_sentence_are_its_items():
    root = trees(BEFORE_AFTER, "p.html")[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["leaf", "any_of", "documented"]
    assert labels(root.children[1]) == ["A torn ligament on MRI", "A positive drawer test"]


def test_old_and_new_code_columns_are_both_read():
    page = "<table><tr><th>Old code</th><th>New code</th></tr><tr><td>A1234</td><td>B5678</td></tr></table>"
    assert read_html(page).text.split("\n")[1] == "A1234\tB5678"


def _two_column_page(left: list[str], right: list[str]) -> bytes:
    """A page of two newspaper columns under a full-width title, each column's lines drawn top to bottom."""
    runs = ["BT /F1 11 Tf 50 760 Td (Policy for a device of any kind) Tj ET"]
    for n, (first, second) in enumerate(zip(left, right, strict=True)):
        y = 720 - 14 * n
        runs.append(f"BT /F1 10 Tf 50 {y} Td ({first}) Tj ET")
        runs.append(f"BT /F1 10 Tf 320 {y} Td ({second}) Tj ET")
    return pdf_of_page("\n".join(runs).encode("latin-1"))


def test_a_two_column_pdf_page_is_read_one_column_after_the_other():
    left = [f"Left column sentence number {n} goes on here" for n in range(10)]
    right = [f"Right column sentence number {n} goes on there" for n in range(10)]
    lines = read_pdf(_two_column_page(left, right)).text.split("\n")
    assert lines[0] == "Policy for a device of any kind"
    assert lines[1:] == [*left, *right]


def test_a_two_cell_table_on_a_pdf_page_is_no_second_column():
    left = [f"A1{n:03d}" for n in range(10)]
    right = [f"Description of supply number {n}" for n in range(10)]
    lines = read_pdf(_two_column_page(left, right)).text.split("\n")
    assert lines[1] == "A1000 Description of supply number 0"


def test_a_list_of_when_a_service_is_not_medically_necessary_is_no_criteria_list():
    text = """Coverage
Casting is medically necessary when all of the following are met:
1. The fracture is closed
2. The skin is intact
Casting is not medically necessary when any of the following is present:
- an open wound under the cast
- a known allergy to the cast material
"""
    found = trees(text)
    assert len(found) == 1
    assert labels(found[0]) == ["The fracture is closed", "The skin is intact"]


def test_table_of_contents_entries_head_no_sections():
    text = """Policy on a pump
Contents
1. Coverage statement
2. Coding
3. Revision history
1. Coverage statement
The pump is medically necessary when all of the following are met:
2. Coding
"""
    document = read_text(text)
    found = sections(document)
    headings = [section.heading for section in found]
    assert headings.count("2. Coding") == 1


ROW_TABLE = """Criteria table
Ref. Criterion Operator Records to send
R1 Home oxygen ALL of R1.1–R1.3 —
R1.1 The member is 18 years of age or older — —
R1.2 Low oxygen shown by one test
ANY of R1.2.1– R1.2.2
Test reports
R1.2.1 Resting saturation of 88% or lower — —
R1.2.2 Saturation falling during exercise
— Walk test
R1.3 The member does not smoke — Signed form
"""


def test_rows_numbered_by_a_dotted_reference_nest_by_the_reference_they_extend():
    root = trees(ROW_TABLE)[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["leaf", "any_of", "leaf"]
    assert len(root.children[1].children) == 2


def test_an_operator_cell_states_the_rows_quantifier_and_is_no_part_of_the_label():
    root = trees(ROW_TABLE)[0]
    low = root.children[1]
    assert low.node_type == "any_of"
    assert low.label == "Low oxygen shown by one test"


def test_empty_and_documentation_cells_run_onto_a_row_stay_out_of_its_items():
    root = trees(ROW_TABLE)[0]
    assert labels(root)[0] == "The member is 18 years of age or older"
    assert labels(root)[1:] == [
        "Resting saturation of 88% or lower",
        "Saturation falling during exercise",
        "The member does not smoke",
    ]


def test_a_footnote_digit_a_pdf_ran_onto_the_last_word_is_left_out():
    text = "Surgery is medically necessary when all of the following are met:\n1. A second surgeon agreed1\n2. Pain for 6 months\n"
    assert labels(trees(text)[0]) == ["A second surgeon agreed", "Pain for 6 months"]


ARIA_LIST = """<html><body>
<div role="heading" aria-level="2">Coverage</div>
<p>Home oxygen concentrators are medically necessary when all of the following are met:</p>
<div role="list" class="x1"><span role="listitem" class="x2">Resting oxygen saturation is 88% or lower</span><span
 role="listitem" class="x2">The member has one of the following:<div role="list" class="x1"><span role="listitem"
 class="x2">Pulmonary hypertension</span><span role="listitem" class="x2">Erythrocytosis</span></div></span><span
 role="listitem" class="x2">Smoking cessation has been advised</span></div>
</body></html>"""


def test_elements_with_list_and_listitem_roles_are_read_as_a_nested_list():
    root = trees(ARIA_LIST, "p.html")[0]
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["documented", "any_of", "documented"]
    assert labels(root.children[1]) == ["Pulmonary hypertension", "Erythrocytosis"]


def test_an_element_with_the_heading_role_is_a_heading():
    document = read_html(ARIA_LIST)
    assert document.lines[0].heading
    assert document.line_text(document.lines[0]) == "Coverage"


def test_elements_with_table_row_and_cell_roles_are_read_as_table_rows():
    page = """<html><body><h2>Codes</h2><div role="grid"><div role="row"><span role="columnheader">Code</span>
<span role="columnheader">Description</span></div><div role="row"><span role="gridcell">L8699</span>
<span role="gridcell">Prosthetic implant, not otherwise specified</span></div></div></body></html>"""
    document = read_html(page)
    texts = [document.line_text(line) for line in document.lines]
    assert texts[1:] == ["Code\tDescription", "L8699\tProsthetic implant, not otherwise specified"]


def test_a_record_tables_cell_carries_the_header_of_its_column():
    page = """<html><body><table><tr><th>Condition</th><th>Requirements</th><th>Billing codes</th></tr>
<tr><td>Plantar warts</td><td><ul><li>Two failed topical treatments</li></ul></td><td>CPT 17110<br>ICD-10-CM B07.0</td>
</tr></table></body></html>"""
    document = read_html(page)
    columns = {document.line_text(line): line.column for line in document.lines if line.cell}
    assert columns["Plantar warts"] == "Condition"
    assert columns["- Two failed topical treatments"] == "Requirements"
    assert columns["CPT 17110"] == columns["ICD-10-CM B07.0"] == "Billing codes"


AUTO_NUMBERED = """Coverage
========

Hearing aid fitting is medically necessary when all of the following are met:

#. Hearing loss of 40 dB or more in the better ear
#. **One** of the following:

   * Speech recognition below 60%
   * Tinnitus that limits sleep

#. A trial period of 30 days is offered

Fitting is covered once every five years when:

#. The old aid no longer meets the member's needs
"""


def test_auto_enumerated_items_are_numbered_in_order():
    document = read_text(AUTO_NUMBERED)
    texts = [document.line_text(line) for line in document.lines]
    assert "1. Hearing loss of 40 dB or more in the better ear" in texts
    assert "3. A trial period of 30 days is offered" in texts


def test_a_paragraph_between_auto_enumerated_lists_starts_the_numbering_again():
    document = read_text(AUTO_NUMBERED)
    texts = [document.line_text(line) for line in document.lines]
    assert "1. The old aid no longer meets the member's needs" in texts


def test_auto_enumerated_items_nest_their_bulleted_sub_items():
    root = trees(AUTO_NUMBERED)[0]
    assert [child.node_type for child in root.children][1] == "any_of"
    assert labels(root.children[1]) == ["Speech recognition below 60%", "Tinnitus that limits sleep"]


def test_plus_bullets_are_list_items_of_their_own_level():
    text = """Knee bracing is medically necessary when all of the following are met:
   1) Instability on examination
   2) One of the following:
      + Ligament tear on imaging
      + Recent ligament repair
"""
    root = trees(text)[0]
    assert labels(root.children[1]) == ["Ligament tear on imaging", "Recent ligament repair"]


def test_items_under_neither_of_the_following_are_a_group_whose_items_test_no_fact():
    text = """Ablation is medically necessary when all of the following are met:
1. Age 21 years or older
2. Neither of the following:
   a. Age 90 years or older
   b. Active infection at the site
"""
    root = trees(text)[0]
    neither = root.children[1]
    assert neither.node_type == "all_of" and neither.confidence <= 0.6
    assert [child.node_type for child in neither.children] == ["documented", "documented"]
    assert labels(neither) == ["Age 90 years or older", "Active infection at the site"]


def test_a_list_role_without_listitem_children_keeps_its_text():
    document = read_html('<html><body><div role="list"><p>Bring the referral letter</p></div></body></html>')
    assert [document.line_text(line) for line in document.lines] == ["Bring the referral letter"]


HANGING_UNMARKED = """Coverage
    Northfield Vale considers a bladder pacer medically necessary
    when all of the following criteria are met:
        The member is 21 years of age or older.
        Leakage has gone on for 9 months or more after
            pelvic surgery or radiation.
        One of the following bladder findings is
            present:
                Scarring of the outlet is absent, or it has
                    been treated and stable.
                Retained urine after voiding is 90 mL or
                    less.
        The member can work the control by hand.
    Replacement is medically necessary for a failed pacer.
"""


def test_unmarked_items_take_their_hanging_indent_lines_as_their_own_words():
    root = trees(HANGING_UNMARKED)[0]
    assert root.children[2].node_type == "any_of"
    assert labels(root) == [
        "The member is 21 years of age or older",
        "Leakage has gone on for 9 months or more after pelvic surgery or radiation",
        "Scarring of the outlet is absent, or it has been treated and stable",
        "Retained urine after voiding is 90 mL or less",
        "The member can work the control by hand",
    ]


HUNG_THEN_PARAGRAPH = """COVERAGE
       A home traction unit is medically necessary when all of the
       following criteria are met:
       1. The member has neck pain with arm symptoms that have
              lasted for at least six weeks
       2. The unit is ordered by the treating physician
       Traction used for low back pain alone is considered not
       medically necessary.
"""


def test_a_line_back_at_the_markers_column_after_hanging_wraps_is_no_part_of_the_item_above():
    root = trees(HUNG_THEN_PARAGRAPH)[0]
    assert labels(root) == [
        "The member has neck pain with arm symptoms that have lasted for at least six weeks",
        "The unit is ordered by the treating physician",
    ]


NOTE_BETWEEN_ITEMS = """Coverage
A wrist splint is medically necessary when ALL of the following criteria are met:
1. The member is 16 years of age or older
2. Nerve testing shows a slowed conduction at the wrist
Conservative care includes rest, activity change and a night brace.
3. Conservative care has failed for 8 weeks
4. There is no fracture of the wrist
Braces made by hand are considered investigational.
"""


def test_a_note_between_numbered_items_does_not_end_the_list_the_next_number_carries_on():
    root = trees(NOTE_BETWEEN_ITEMS)[0]
    assert labels(root) == [
        "The member is 16 years of age or older",
        "Nerve testing shows a slowed conduction at the wrist",
        "Conservative care has failed for 8 weeks",
        "There is no fracture of the wrist",
    ]


PARENT_ROWS = """# demo export of a policy record
# columns: kind,node_id,parent,op,min_met,text
kind,node_id,parent,op,min_met,text
META,title,,,,Knee Brace Policy
CRIT,K1,,ALL,,All of the following criteria are met:
CRIT,K2,K1,LEAF,,Age 40 years or older
CRIT,K3,K1,ATLEAST,2,At least two of the following were tried:
CRIT,K4,K3,LEAF,,A walking aid
CRIT,K5,K3,LEAF,,"Strength training, supervised"
CRIT,K6,K3,LEAF,,Weight loss counselling
CRIT,K7,K1,LEAF,,The brace is fitted by an orthotist
NOTE,N1,,,,"Rows K1 to K7 are criteria, not codes."
"""


def test_rows_of_an_export_that_name_their_parent_are_read_as_a_tree():
    [root] = trees(PARENT_ROWS)
    assert root.node_type == "all_of"
    assert [child.node_type for child in root.children] == ["leaf", "at_least", "documented"]
    assert root.children[1].min_met == 2
    assert labels(root) == [
        "Age 40 years or older",
        "A walking aid",
        "Strength training, supervised",
        "Weight loss counselling",
        "The brace is fitted by an orthotist",
    ]


def test_a_comma_separated_record_is_no_heading():
    document = read_text(PARENT_ROWS)
    assert [section.heading for section in sections(document)] == ["# demo export of a policy record"]


OPERATOR_TABLES = """<html><body><h2>Criteria</h2>
<table><caption>Table 1. Balloon sinus dilation</caption>
<tr><th>Rule</th><th colspan="2">Criterion</th></tr>
<tr><td rowspan="5">ALL of</td><td colspan="2">Age 12 years or older</td></tr>
<tr><td colspan="2">Chronic sinus symptoms confirmed on a CT scan</td></tr>
<tr><td rowspan="2">AT LEAST 2 of</td><td>Nasal saline rinses for 8 weeks</td></tr>
<tr><td>A course of nasal steroid spray</td></tr>
<tr><td>An antibiotic course for a documented infection</td></tr>
</table>
<table><caption>Table 2. Repeat dilation</caption>
<tr><th>Rule</th><th colspan="2">Criterion</th></tr>
<tr><td rowspan="2">ALL of</td><td colspan="2">The criteria of Table 1 were met before the first dilation</td></tr>
<tr><td colspan="2">Symptoms came back after 6 months</td></tr>
</table>
</body></html>"""


def test_operator_cells_merged_over_rows_group_the_rows_beside_them():
    first = trees(OPERATOR_TABLES, "p.html")[0]
    assert first.node_type == "all_of"
    assert [child.node_type for child in first.children] == ["leaf", "documented", "at_least"]
    assert first.children[2].min_met == 2
    assert labels(first) == [
        "Age 12 years or older",
        "Chronic sinus symptoms confirmed on a CT scan",
        "Nasal saline rinses for 8 weeks",
        "A course of nasal steroid spray",
        "An antibiotic course for a documented infection",
    ]


def test_the_next_operator_tables_caption_is_no_row_of_the_table_above():
    first, second = trees(OPERATOR_TABLES, "p.html")
    assert "Table 2. Repeat dilation" not in labels(first)
    assert labels(second) == [
        "The criteria of Table 1 were met before the first dilation",
        "Symptoms came back after 6 months",
    ]


TAGGED_CRITERIA = """<html><body><h2>Criteria</h2>
<p>All of the following must be met:</p>
<dl>
<dt>Age</dt><dd>Age 30 years or older</dd>
<dt>Imaging</dt><dd>A scan shows a tear of the rotator cuff</dd>
<dt>Strength</dt><dd>Shoulder strength is shown by both of the following:
  <dl><dt>ROM</dt><dd>Raising the arm to shoulder height</dd>
  <dt>Grip</dt><dd>Grip strength within normal limits</dd></dl></dd>
<dt>Therapy</dt><dd>Home exercise has failed after 10 weeks</dd>
</dl>
<h2>Codes</h2><p>CPT 29827</p>
</body></html>"""


def test_criteria_under_short_tags_of_their_own_are_the_items_not_the_tags():
    root = trees(TAGGED_CRITERIA, "p.html")[0]
    assert labels(root) == [
        "Age 30 years or older",
        "A scan shows a tear of the rotator cuff",
        "Raising the arm to shoulder height",
        "Grip strength within normal limits",
        "Home exercise has failed after 10 weeks",
    ]


def test_tagged_pairs_under_both_of_the_following_end_after_two():
    root = trees(TAGGED_CRITERIA, "p.html")[0]
    assert [child.node_type for child in root.children] == ["leaf", "documented", "all_of", "documented"]
    assert len(root.children[2].children) == 2


def test_a_capitals_tag_right_under_a_list_introduction_is_no_heading():
    document = read_text("Criteria\nThe member has one of the following:\nMRI\nA scan shows a tear of the cuff\n")
    assert [section.heading for section in sections(document)] == ["Criteria"]


BOTH_ROWS = """Criteria
Table 3. Criteria (all must be met)
Criterion\tDocumentation needed
Age 50 years or older\tDate of birth
Bone quality shown by both of the following:\tScan report
No cyst larger than 2 cm\tMeasurement in the report
No collapse of the joint surface\tGrading by the reader
No allergy to nickel\tAllergy history
"""


def test_a_table_row_announcing_both_of_the_following_takes_the_two_rows_after_it():
    root = trees(BOTH_ROWS)[0]
    assert [child.node_type for child in root.children] == ["leaf", "all_of", "documented"]
    assert labels(root.children[1]) == ["No cyst larger than 2 cm", "No collapse of the joint surface"]


def test_a_paragraph_after_an_operator_table_is_no_row_of_it():
    page = OPERATOR_TABLES.replace(
        "</table>\n<table>", "</table><p>Requests are reviewed in order. Notes go to the nurse.</p>\n<table>"
    )
    first = trees(page, "p.html")[0]
    assert "Requests are reviewed in order. Notes go to the nurse" not in labels(first)


KEPT_GRID = """Criteria
Table 4. Hearing aid fitting
Rule\tCriterion
ALL of\tAge 3 years or older
\tANY of\tHearing loss of 40 dB or more in one ear
\t\tSpeech understanding below half of the words
\tA hearing test within the last 6 months
"""


def test_a_group_whose_rows_keep_empty_cells_under_its_operator_is_sure_of_its_end():
    group = trees(KEPT_GRID)[0].children[1]
    assert group.confidence >= 0.8


def test_a_group_whose_rows_lost_the_cells_under_its_operator_is_unsure_of_its_end():
    group = trees(OPERATOR_TABLES, "p.html")[0].children[2]
    assert group.confidence < 0.8


def test_empty_cells_under_merged_operator_cells_say_which_group_a_row_is_in():
    root = trees(KEPT_GRID)[0]
    assert [child.node_type for child in root.children] == ["leaf", "any_of", "documented"]
    assert labels(root.children[1]) == [
        "Hearing loss of 40 dB or more in one ear",
        "Speech understanding below half of the words",
    ]

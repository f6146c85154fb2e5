"""HTML whose nesting the normalized text must keep: definition lists in definitions, merged cells, Google Docs lists."""

from __future__ import annotations

from policies_app.importing.readers import read_html
from policies_app.importing.result import Criterion
from tests.policies_app.importing.reading import extract

_POLICY_HEAD = """<html><body>
<h1>Oakridge Valley Health</h1>
<h2>Invented Lantern Therapy</h2>
<p>Policy Number: OVH-0991</p>
<p>Effective Date: 04/01/2026</p>
<h2>Policy</h2>
<p>Oakridge Valley Health considers lantern therapy medically necessary when the criteria below are met.</p>
<h2>Criteria</h2>
"""

_NESTED_DEFINITIONS = """<p>All of the following must be met:</p>
<dl>
<dt>Age</dt><dd>The member is 21 years of age or older</dd>
<dt>Trial</dt><dd>The member completed a supervised walking trial of 6 weeks</dd>
<dt>Vision</dt><dd>Reduced glare tolerance, shown by one of the following:
  <dl>
  <dt>Chart</dt><dd>A contrast chart score below the expected range</dd>
  <dt>Diary</dt><dd>A glare diary kept for at least 2 weeks</dd>
  </dl></dd>
<dt>Skin</dt><dd>No open sore on the treated eyelid</dd>
<dt>Consent</dt><dd>The member signed the lantern consent form</dd>
</dl>
"""

_ROWSPAN_TABLE = """<table>
<tr><th>Rule</th><th colspan="2">Criterion</th></tr>
<tr><td rowspan="5">ALL of</td><td colspan="2">The member is 30 years of age or older</td></tr>
<tr><td rowspan="3">ANY of</td><td>A lantern reading above the set limit on two visits</td></tr>
<tr><td>A lantern reading that rose over 12 months</td></tr>
<tr><td>Glare that limits night driving, recorded by the clinician</td></tr>
<tr><td colspan="2">No previous lantern implant in the same eye</td></tr>
</table>
"""

_DOCS_STYLE = """<style>
.lst-kix_abc123-0>li:before{content:"" counter(lst-ctn-kix_abc123-0,decimal) ". "}
.lst-kix_abc123-1>li:before{content:"" counter(lst-ctn-kix_abc123-1,lower-latin) ". "}
</style>"""

_DOCS_LISTS = """<p>All of the following criteria are met:</p>
<ol class="c1 lst-kix_abc123-0 start" start="1">
<li class="c2"><span>The member is 21 years of age or older</span></li>
<li class="c2"><span>The member has one of the following signs:</span></li>
</ol>
<ol class="c1 lst-kix_abc123-1 start" start="1">
<li class="c2"><span>Halos around street lamps</span></li>
<li class="c2"><span>Glare that limits reading</span></li>
</ol>
<ol class="c1 lst-kix_abc123-0" start="3">
<li class="c2"><span>The signs have lasted at least 3 months</span></li>
<li class="c2"><span>No open sore on the treated eyelid</span></li>
</ol>
"""


def _lines(html: str) -> list[str]:
    document = read_html(html)
    return [document.line_text(line) for line in document.lines]


def _tree(node: Criterion, depth: int = 0) -> list[str]:
    lines = ["  " * depth + f"{node.node_type}: {node.label}"]
    for child in node.children:
        lines.extend(_tree(child, depth + 1))
    return lines


def _criteria(html: str) -> list[str]:
    result = extract(_POLICY_HEAD + html + "</body></html>", "policy.html")
    return [line for root in result.criteria for line in _tree(root)]


def test_definition_list_inside_a_definition_reads_as_a_nested_list():
    assert _lines("<html><body>" + _NESTED_DEFINITIONS + "</body></html>") == [
        "All of the following must be met:",
        "- The member is 21 years of age or older",
        "- The member completed a supervised walking trial of 6 weeks",
        "- Reduced glare tolerance, shown by one of the following:",
        "  - A contrast chart score below the expected range",
        "  - A glare diary kept for at least 2 weeks",
        "- No open sore on the treated eyelid",
        "- The member signed the lantern consent form",
    ]


def test_definition_list_without_a_nested_one_keeps_its_terms_on_lines_of_their_own():
    html = (
        "<html><body><dl><dt>Effective</dt><dd>04/01/2026</dd><dt>Next review</dt><dd>04/2027</dd></dl></body></html>"
    )
    assert _lines(html) == ["Effective", "04/01/2026", "Next review", "04/2027"]


def test_criteria_after_a_nested_definition_list_leave_its_group():
    assert _criteria(_NESTED_DEFINITIONS) == [
        "all_of: All of the following must be met:",
        "  documented: The member is 21 years of age or older",
        "  documented: The member completed a supervised walking trial of 6 weeks",
        "  any_of: Reduced glare tolerance, shown by one of the following:",
        "    documented: A contrast chart score below the expected range",
        "    documented: A glare diary kept for at least 2 weeks",
        "  documented: No open sore on the treated eyelid",
        "  documented: The member signed the lantern consent form",
    ]


def test_rows_under_a_merged_cell_keep_its_column_as_an_empty_cell():
    assert _lines("<html><body>" + _ROWSPAN_TABLE + "</body></html>") == [
        "Rule\tCriterion",
        "ALL of\tThe member is 30 years of age or older",
        "\tANY of\tA lantern reading above the set limit on two visits",
        "\t\tA lantern reading that rose over 12 months",
        "\t\tGlare that limits night driving, recorded by the clinician",
        "\tNo previous lantern implant in the same eye",
    ]


def test_row_after_a_merged_operator_cell_ends_leaves_its_group():
    assert _criteria(_ROWSPAN_TABLE)[1:] == [
        "  documented: The member is 30 years of age or older",
        "  any_of: ANY of",
        "    documented: A lantern reading above the set limit on two visits",
        "    documented: A lantern reading that rose over 12 months",
        "    documented: Glare that limits night driving, recorded by the clinician",
        "  documented: No previous lantern implant in the same eye",
    ]


def test_merged_cells_that_leave_a_row_short_are_read_as_the_rows_stand():
    html = """<html><body><table>
<tr><th>Rule</th><th colspan="2">Criterion</th></tr>
<tr><td rowspan="3">ALL of</td><td colspan="2">The member is 30 years of age or older</td></tr>
<tr><td rowspan="1">ANY of</td><td>A lantern reading above the set limit</td></tr>
<tr><td>A lantern reading that rose over 12 months</td></tr>
</table></body></html>"""
    assert _lines(html)[-1] == "A lantern reading that rose over 12 months"


def test_table_without_merged_rows_is_read_as_before():
    html = "<html><body><table><tr><td>A</td><td>B</td></tr><tr><td>C</td><td>D</td></tr></table></body></html>"
    assert _lines(html) == ["A\tB", "C\tD"]


def test_google_docs_lists_nest_by_the_level_their_class_names():
    html = "<html><head>" + _DOCS_STYLE + "</head><body>" + _DOCS_LISTS + "</body></html>"
    assert _lines(html) == [
        "All of the following criteria are met:",
        "1. The member is 21 years of age or older",
        "2. The member has one of the following signs:",
        "  a. Halos around street lamps",
        "  b. Glare that limits reading",
        "3. The signs have lasted at least 3 months",
        "4. No open sore on the treated eyelid",
    ]


def test_criteria_after_a_google_docs_inner_list_are_outer_items():
    assert _criteria(_DOCS_STYLE + _DOCS_LISTS) == [
        "all_of: All of the following criteria are met:",
        "  documented: The member is 21 years of age or older",
        "  any_of: The member has one of the following signs:",
        "    documented: Halos around street lamps",
        "    documented: Glare that limits reading",
        "  documented: The signs have lasted at least 3 months",
        "  documented: No open sore on the treated eyelid",
    ]


def test_google_docs_list_level_without_a_counter_is_bulleted():
    html = (
        '<html><body><p>Notes:</p><ul class="lst-kix_zz9-0 start"><li>First note</li></ul>'
        '<ul class="lst-kix_zz9-1 start"><li>Inner note</li></ul></body></html>'
    )
    assert _lines(html) == ["Notes:", "- First note", "  - Inner note"]

"""The PDF reader leaves out text drawn for the page rather than the policy, and keeps list markers by their items.

Each test prints a small invented page with WeasyPrint, as an editor's browser prints a web page.
"""

from __future__ import annotations

import pytest

from policies_app.importing.readers import read_pdf

weasyprint = pytest.importorskip("weasyprint")


def _printed(body: str, style: str = "") -> bytes:
    page = f"<html><head><meta charset='utf-8'><style>{style}</style></head><body>{body}</body></html>"
    return bytes(weasyprint.HTML(string=page).write_pdf())


_NUMBERED_STYLE = """
.l { position: relative; padding-left: 3em; }
.n { position: absolute; left: 0; width: 2em; text-align: right; font-size: 8pt; color: #777; }
"""


def _numbered(lines: list[str]) -> str:
    return "".join(
        f'<div class="l"><span class="n">{number}</span>{line}</div>' for number, line in enumerate(lines, start=1)
    )


def test_line_numbers_left_of_the_text_are_dropped() -> None:
    lines = [
        "Harbourfield Mutual Clinical Guideline",
        "Coverage Criteria",
        "Gait retraining is covered when all of the following are met:",
        "1. Age 16 years or older",
        "2. Knee pain for 3 months or more",
        "3. Failure of a home exercise programme",
        "Gait retraining for other conditions is not covered.",
    ]
    text = read_pdf(_printed(_numbered(lines), _NUMBERED_STYLE)).text
    assert text.split("\n")[3:6] == [
        "1. Age 16 years or older",
        "2. Knee pain for 3 months or more",
        "3. Failure of a home exercise programme",
    ]
    assert "Guideline\n" in text and not any(line.split()[0].isdigit() for line in text.split("\n"))


def test_numbers_that_do_not_count_up_by_one_are_kept() -> None:
    lines = [f"{value} units of the tablet are dispensed a month" for value in (10, 20, 30, 40, 50, 60)]
    body = "".join(f"<p>{line}</p>" for line in lines)
    text = read_pdf(_printed(body)).text
    assert text.split("\n")[0] == "10 units of the tablet are dispensed a month"


def test_row_numbers_at_the_body_margin_are_kept() -> None:
    rows = "".join(f"<tr><td>{n}</td><td>Step {n} of the invented pathway</td></tr>" for n in range(1, 7))
    body = f"<p>Steps of the pathway are listed below in order.</p><table>{rows}</table>"
    text = read_pdf(_printed(body, "td { padding: 0 1em 0 0; }")).text
    assert "1 Step 1 of the invented pathway" in text


def test_a_slanted_watermark_is_dropped() -> None:
    style = ".wm { position: fixed; top: 3in; left: 0.5in; transform: rotate(-35deg); font-size: 54pt; color: rgba(0,0,0,0.15); }"
    body = '<div class="wm">SPECIMEN COPY</div><p>Orthotic insoles are covered for plantar fasciitis after 6 weeks of stretching.</p>'
    text = read_pdf(_printed(body, style)).text
    assert "SPECIMEN" not in text
    assert "Orthotic insoles are covered" in text


def test_bullets_drawn_apart_from_their_items_stand_before_them() -> None:
    body = (
        "<h2>Coverage criteria</h2><p>All of the following must be met:</p>"
        "<ul><li>Age 30 years or older</li><li>Snoring reported by a bed partner</li>"
        "<li>No prior palatal surgery</li></ul>"
    )
    lines = read_pdf(_printed(body)).text.split("\n")
    items = [line.strip() for line in lines if "•" in line]
    assert items == ["• Age 30 years or older", "• Snoring reported by a bed partner", "• No prior palatal surgery"]


_TABLE_STYLE = (
    "td, th { padding: 6px 8px; text-align: left; vertical-align: top; } table { border-collapse: collapse; }"
)


def _table(rows: list[tuple[str, str]], header: tuple[str, str] = ("Requirement", "Evidence to send")) -> str:
    head = f"<thead><tr><th>{header[0]}</th><th>{header[1]}</th></tr></thead>"
    body = "".join(f"<tr><td>{left}</td><td>{right}</td></tr>" for left, right in rows)
    return f"<table style='width: 100%'>{head}<tbody>{body}</tbody></table>"


_ROWS = [
    ("Age 40 years or older", "Date of birth"),
    ("Wrist pain for 4 months or more", "Clinic notes"),
    ("Two failed splinting trials", "Therapy log"),
    ("No inflammatory arthritis", "Laboratory results"),
]


def test_table_cells_are_parted_by_tabs() -> None:
    lines = read_pdf(_printed(_table(_ROWS), _TABLE_STYLE)).text.split("\n")
    assert "Requirement\tEvidence to send" in lines
    assert "Wrist pain for 4 months or more\tClinic notes" in lines


def test_a_cell_wrapped_onto_two_printed_lines_is_one_cell() -> None:
    rows = [
        *_ROWS,
        ("Grip strength below half of the other hand's on two visits a month apart", "Dynamometer readings"),
    ]
    style = _TABLE_STYLE + " td:first-child { width: 2.2in; }"
    lines = read_pdf(_printed(_table(rows), style)).text.split("\n")
    assert "Grip strength below half of the other hand's on two visits a month apart\tDynamometer readings" in lines


def test_a_table_header_repeated_after_a_page_break_is_dropped() -> None:
    words = ["splint", "brace", "sling", "wrap", "cast", "strap", "boot", "collar", "cuff", "pad"]
    rows = [(f"The {a} is fitted before the {b}", f"{b.title()} fitting note") for a in words for b in words[:4]]
    intro = "<h2>Invented orthotics policy</h2><p>Each requirement below must be documented.</p>"
    printed = _printed(intro + _table(rows), _TABLE_STYLE + " thead { display: table-header-group; }")
    text = read_pdf(printed).text
    assert text.count("Requirement\tEvidence to send") == 1
    assert "The pad is fitted before the wrap\tWrap fitting note" in text


def test_prose_with_bold_words_is_not_read_as_a_table() -> None:
    body = "".join(
        f"<p>Sentence {n} names the <b>invented splint</b> and then goes on at some length about it.</p>"
        for n in range(1, 6)
    )
    text = read_pdf(_printed(body)).text
    assert "\t" not in text


def test_a_table_of_labels_keeps_its_cells_a_blank_apart() -> None:
    rows = [("Policy", "ORT-999"), ("Effective", "04/01/2026"), ("Reviewed", "02/11/2026"), ("Owner", "Invented board")]
    text = read_pdf(_printed(_table(rows, ("Item", "Value")), _TABLE_STYLE)).text
    assert "\t" not in text
    assert "Effective 04/01/2026" in text


def test_a_table_of_long_labels_ending_in_colons_keeps_its_cells_a_blank_apart() -> None:
    rows = [
        ("Invented Plan Policy Number:", "ORT-999"),
        ("Date the policy took effect:", "04/01/2026"),
        ("Date of the last review:", "02/11/2026"),
        ("Board that owns the policy:", "Invented board"),
    ]
    text = read_pdf(_printed(_table(rows, ("Item", "Value")), _TABLE_STYLE)).text
    assert "\t" not in text


_BOXES_STYLE = (
    ".row { display: flex; gap: 12px; } .box { border: 1px solid #000; padding: 4px; line-height: 1.3; }"
    " .left { width: 2.6in; } .right { width: 3.4in; }"
)


def test_boxes_side_by_side_are_read_one_after_the_other() -> None:
    left = (
        "Applies to: Invented Valley Group plans for employers and Invented Valley Individual plans bought "
        "on the state exchange by members"
    )
    right = (
        "Does not apply to: Invented Valley Senior plans for members on Medicare and the federal employees' "
        "plan, whose members follow their own policy"
    )
    body = f'<div class="row"><div class="box left">{left}</div><div class="box right">{right}</div></div>'
    text = read_pdf(_printed(body, _BOXES_STYLE)).text
    assert " ".join(text.split()).startswith(" ".join(left.split()))

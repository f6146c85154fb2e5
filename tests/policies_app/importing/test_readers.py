from __future__ import annotations

import io

import pytest

from policies_app.importer import ImportRefused
from policies_app.importing.readers import read_document, read_html, read_pdf, read_text
from tests.policies_app.importing.conftest import make_pdf


def test_text_reader_keeps_table_cells_tab_separated():
    document = read_text(b"CODES\nCPT\t 27279 \tArthrodesis,   sacroiliac joint\n")
    assert document.text.split("\n")[1] == "CPT\t27279\tArthrodesis, sacroiliac joint"


def test_text_reader_lines_point_into_the_normalized_text():
    document = read_text(b"Title: One\r\n\r\n  1. Age 18 years or older\n")
    assert [document.line_text(line) for line in document.lines] == ["Title: One", "  1. Age 18 years or older"]


def test_text_reader_line_origin_is_the_offset_in_the_decoded_file():
    document = read_text(b"first\n\nthird line")
    assert [line.origin for line in document.lines] == [0, 7]


def test_html_reader_marks_headings():
    document = read_html(b"<html><body><h2>Coverage Policy</h2><p>Text.</p></body></html>")
    assert [(document.line_text(line), line.heading) for line in document.lines] == [
        ("Coverage Policy", True),
        ("Text.", False),
    ]


def test_html_reader_turns_table_rows_into_tab_separated_lines():
    document = read_html(
        b"<table><tr><th>Code</th><th>Description</th></tr><tr><td>64490</td><td>Injection</td></tr></table>"
    )
    assert document.text == "Code\tDescription\n64490\tInjection"


def test_html_reader_numbers_ordered_lists_and_indents_nested_ones():
    document = read_html(
        b"<ol><li>Age 18 years or older</li><li>ANY of the following:<ol type='a'><li>One</li><li>Two</li></ol></li></ol>"
    )
    assert document.text.split("\n") == ["1. Age 18 years or older", "2. ANY of the following:", "  a. One", "  b. Two"]


def test_html_reader_drops_scripts_styles_and_navigation():
    document = read_html(
        b"<html><head><title>t</title><style>p{}</style></head><body><nav>Home</nav><script>x=1</script><p>Kept</p></body></html>"
    )
    assert document.text == "Kept"


def test_pdf_reader_reads_the_text_layer():
    document = read_pdf(make_pdf(["Policy Number: MP-1", "Effective Date: 03/01/2025"]))
    assert document.text == "Policy Number: MP-1\nEffective Date: 03/01/2025"
    assert {line.origin for line in document.lines} == {1}


def test_pdf_reader_joins_a_sentence_the_page_wrapped():
    document = read_pdf(
        make_pdf(
            [
                "Fusion is considered medically",
                "necessary when ALL of the following are met:",
                "1. Age 18 years or older",
            ]
        )
    )
    assert document.text.split("\n") == [
        "Fusion is considered medically necessary when ALL of the following are met:",
        "1. Age 18 years or older",
    ]


@pytest.mark.parametrize(
    ("data", "file", "reason"),
    [
        (b"", "empty.txt", "the file is empty"),
        (b"   \n\t\n", "blank.txt", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.txt", "binary"),
        (b"caf\xe9 policy", "latin1.txt", "not UTF-8"),
        (make_pdf([]), "scan.pdf", "no text layer"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "broken.pdf", "cannot be read"),
        (b"Policy text", "policy.pdf", "not a PDF"),
        (b"<html><body><script>only()</script></body></html>", "empty.html", "no text"),
    ],
    ids=["empty", "blank", "binary", "latin-1", "scanned-pdf", "damaged-pdf", "pdf-name-not-pdf", "html-without-text"],
)
def test_unreadable_input_is_refused_with_its_reason(data, file, reason):
    with pytest.raises(ImportRefused) as refused:
        read_document(data, file)
    assert reason in refused.value.reason


def test_layout_is_read_from_the_bytes_not_only_the_name():
    assert read_document(b"<!DOCTYPE html><html><body><p>x</p></body></html>", "saved.txt").layout == "html"
    assert read_document(make_pdf(["x"]), "download").layout == "pdf"


def test_text_reader_reads_an_emails_quoted_lines_as_the_text_they_quote():
    document = read_text(
        b"Hello,\n\n> POLICY\n>\n> 1. Splints are covered when both of the following are met:\n>    a) Age 18 years or older\n"
    )
    assert (
        document.text
        == "Hello,\nPOLICY\n1. Splints are covered when both of the following are met:\n   a) Age 18 years or older"
    )


def test_text_reader_reads_a_quote_inside_a_quote_as_its_text():
    document = read_text(b"> > Coverage\n> > Braces are covered.\n> > Braces are listed.\n")
    assert document.text == "Coverage\nBraces are covered.\nBraces are listed."


def test_text_reader_keeps_comparisons_that_start_lines():
    document = read_text(
        b"Criteria\n> 30 kg/m2 body mass index\n> 2 prior fractures\n> 6 weeks of therapy\n>= 18 years\n"
    )
    assert document.text.split("\n")[1:] == [
        "> 30 kg/m2 body mass index",
        "> 2 prior fractures",
        "> 6 weeks of therapy",
        ">= 18 years",
    ]


def test_text_reader_keeps_a_lone_line_that_starts_with_a_quote_marker():
    document = read_text(b"Notes\n> see the attachment\nEnd of notes\n")
    assert document.text.split("\n")[1] == "> see the attachment"


def test_text_reader_reads_a_box_drawn_in_characters_as_the_text_it_frames():
    document = read_text(
        b"+------------------+\n|  KNEE BRACING    |\n|  Effective 03/01/2026 |\n+------------------+\nBody\n"
    )
    assert document.text == "  KNEE BRACING\n  Effective 03/01/2026\nBody"


def test_text_reader_keeps_a_pipe_table_row_with_cells_between_pipes():
    document = read_text(b"| Code | Description |\n")
    assert document.text == "| Code | Description |"


def test_html_reader_reads_a_row_whose_cell_holds_a_list_cell_by_cell():
    document = read_html(
        b"<table><tr><th>Indication</th><th>Status</th><th>Conditions</th></tr>"
        b"<tr><td>Splint for a wrist fracture</td><td>Medically necessary when all conditions are met</td>"
        b"<td>All of:<ul><li>Age 18 years or older</li><li>Fracture confirmed by X-ray</li></ul></td></tr></table>"
    )
    assert document.text.split("\n") == [
        "Indication\tStatus\tConditions",
        "Splint for a wrist fracture",
        "Medically necessary when all conditions are met",
        "All of:",
        "- Age 18 years or older",
        "- Fracture confirmed by X-ray",
    ]


def test_html_reader_reads_every_row_of_a_table_of_records_cell_by_cell_and_skips_dash_cells():
    document = read_html(
        b"<table><tr><td>Braces</td><td>Covered when:<ul><li>Age 18 years or older</li></ul></td></tr>"
        b"<tr><td>Night splints</td><td>Investigational</td><td>&mdash;</td></tr></table>"
    )
    assert document.text.split("\n")[-2:] == ["Night splints", "Investigational"]


def test_html_reader_marks_the_lines_of_a_record_row_as_cells():
    document = read_html(b"<table><tr><td>Coverage Criteria</td><td><p>Covered.</p></td></tr></table>")
    assert [(document.line_text(line), line.cell) for line in document.lines] == [
        ("Coverage Criteria", True),
        ("Covered.", True),
    ]


def test_html_reader_keeps_a_table_of_plain_cells_one_line_per_row():
    document = read_html(b"<table><tr><td>CPT</td><td>29125</td></tr></table>")
    assert document.text == "CPT\t29125"
    assert document.lines[0].cell is False


def test_reader_takes_the_answer_marker_off_the_answer_to_a_question():
    document = read_html(b"<h3>Q. Are splints covered?</h3><p>A. Splints are covered when the following are met:</p>")
    assert document.text == "Q. Are splints covered?\nSplints are covered when the following are met:"


def test_reader_keeps_a_lettered_item_that_answers_no_question():
    document = read_text(b"Criteria:\nA. Age 18 years or older\nB. Fracture confirmed\n")
    assert document.text.split("\n")[1] == "A. Age 18 years or older"


def test_pdf_reader_leaves_out_a_footer_repeated_on_every_page():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for body in (["Knee Bracing", "Policy text one."], ["Policy text two.", "More text."]):
        page = make_pdf([*body, "Coverage Policy No.: KB-12 Amended Date: October 15, 2025"])
        writer.add_page(PdfReader(io.BytesIO(page)).pages[0])
    out = io.BytesIO()
    writer.write(out)
    document = read_pdf(out.getvalue())
    assert "Amended Date" not in document.text
    assert "Policy text two." in document.text

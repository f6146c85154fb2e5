from __future__ import annotations

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

"""Text saved from printed pages whose breaks show only as a page number and a repeated header."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.readers import read_text
from tests.policies_app.importing.conftest import CATALOGUE

FILLER = "".join(f"Paragraph {n} of the guide explains how claims are made.\n" for n in range(24))

PRINTED = (
    "Lakeshore Benefits Handbook 12-A, May 5, 2026\n"
    "Part 3  Article 7.4\n"
    "Home Infusion Pumps\n"
    "\n" + FILLER + "7.4  A pump is covered when all of the following\n"
    "conditions are met:\n"
    "\n"
    "     7.4.1  The member needs infusions at least daily.\n"
    "\n"
    "     7.4.2  A nurse has trained the member.\n"
    "\n"
    "Lakeshore Benefits Handbook 12-A               Rev. 3, May 5, 2026\n"
    "                                  1\n"
    "Lakeshore Benefits Handbook 12-A, May 5, 2026\n"
    "Part 3, Article 7.4\n"
    "Home Infusion Pumps\n"
    "\n"
    "     7.4.3  The home has a power supply.\n"
    "\n"
    "7.5  Pumps for comfort are not covered.\n"
    "\n" + FILLER + "Lakeshore Benefits Handbook 12-A               Rev. 3, May 5, 2026\n"
    "                                  2\n"
)


def test_lone_page_numbers_counting_up_end_pages_and_leave_the_text():
    lines = read_text(PRINTED).text.split("\n")
    assert "1" not in [line.strip() for line in lines]
    assert not any("Rev. 3" in line for line in lines)


def test_a_later_page_that_repeats_the_documents_opening_lines_loses_them():
    text = read_text(PRINTED).text
    assert text.count("Home Infusion Pumps") == 1
    assert text.count("Article 7.4") == 1
    assert text.startswith("Lakeshore Benefits Handbook 12-A, May 5, 2026")


def test_a_list_broken_by_a_bare_page_number_and_repeated_header_is_one_list():
    root = extract_document(PRINTED.encode(), file="p.txt", catalogue=CATALOGUE).criteria[0]
    assert [leaf.label for leaf in root.leaves()] == [
        "The member needs infusions at least daily",
        "A nurse has trained the member",
        "The home has a power supply",
    ]


def test_numbers_on_consecutive_lines_are_a_column_not_page_numbers():
    text = "Visits allowed per year\n  1\n  2\n  3\nEnd of table\n"
    assert [line.strip() for line in read_text(text).text.split("\n")] == [
        "Visits allowed per year",
        "1",
        "2",
        "3",
        "End of table",
    ]


def test_a_line_of_rules_at_a_page_top_is_no_repeat_of_the_header_by_its_words_alone():
    text = PRINTED.replace("Home Infusion Pumps\n\n     7.4.3", "Home Infusion Pumps\n* * *\n     7.4.3").replace(
        "Home Infusion Pumps\n\n" + FILLER, "Home Infusion Pumps\n- - -\n" + FILLER, 1
    )
    assert "* * *" in read_text(text).text

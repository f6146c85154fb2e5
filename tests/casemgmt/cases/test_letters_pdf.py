"""The decision letter's PDF: laid out from the template the web letter shows, with the
language-assistance taglines Medicare Advantage, Medicaid and CHIP notices carry."""

from __future__ import annotations

import html
import io
import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import strip_tags
from pypdf import PdfReader

from casemgmt.cases import letters
from casemgmt.cases.letter_taglines import TAGLINES
from casemgmt.cases.models import Decision
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

# Elements that start a new block of text on the page: each becomes one "line" of the letter.
_BLOCK_TAG = re.compile(r"</?(?:article|header|footer|section|h1|h2|h3|p|ul|li|table|thead|tbody|tr|th|td)\b[^>]*>")


@pytest.fixture
def facet_policy(editor: User) -> PolicyVersion:
    policy = factories.policy(
        number="FJ.01", title="Facet joint denervation", lines_of_business=list(LineOfBusiness.values)
    )
    version = factories.draft_version(
        policy,
        codes=[("CPT", "64633", ""), ("CPT", "64635", "")],
        coverage_position="not_medically_necessary",
        statement="Denervation is covered after two diagnostic blocks with at least 80% relief.",
    )
    return factories.publish(version, editor)


def decided(client: User, physician: User, version: PolicyVersion, line_of_business: str) -> Decision:
    """A two-line request: one line approved, one denied with its reason and citation."""
    dos = timezone.localdate() + timedelta(days=10)
    case = factories.case(
        client,
        line_of_business=line_of_business,
        service_lines=tuple(
            LineInput(code_system="CPT", code=code, units=1, date_of_service=dos) for code in ("64633", "64635")
        ),
    )
    return decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(
                service_line=2,
                outcome="denied",
                reason="No diagnostic blocks on file.",
                citations=(CitationInput(policy_version_id=version.pk, criterion="Two diagnostic blocks."),),
            ),
        ],
        citations=[],
    )


def letter_of(decision: Decision, reader: User, recipient: str) -> letters.Letter:
    found = letters.decision_for_letter(reader, decision.case.case_number, decision.pk)
    assert found is not None
    return letters.letter_build(found, recipient)


def html_lines(letter: letters.Letter) -> list[str]:
    """The letter's text block by block, as the web page shows it (the template it includes)."""
    markup = render_to_string("letters/letter.html", letters.letter_context(letter))
    pieces = (" ".join(html.unescape(strip_tags(piece)).split()) for piece in _BLOCK_TAG.split(markup))
    return [piece for piece in pieces if piece]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def squashed(text: str) -> str:
    """Text without whitespace, list bullets or page footers: where a line or a page breaks in the
    PDF does not matter (pypdf reads a page's footer and list markers where they were drawn)."""
    return re.sub(r"Page\d+of\d+", "", re.sub(r"[\s•]+", "", text))


@pytest.mark.parametrize("recipient", ["member", "provider"])
def test_the_pdf_has_every_line_of_the_html_letter_decided_by_included(
    integration_client, physician, facet_policy, recipient
):
    letter = letter_of(decided(integration_client, physician, facet_policy, "commercial"), physician, recipient)

    lines = html_lines(letter)
    pdf = squashed(pdf_text(letters.letter_pdf(letter)))

    assert any(line.startswith("Decided by ") for line in lines)
    assert [line for line in lines if squashed(line) not in pdf] == []


def test_the_pdf_names_the_reviewer_who_decided(integration_client, physician, facet_policy):
    letter = letter_of(decided(integration_client, physician, facet_policy, "commercial"), physician, "member")

    text = " ".join(pdf_text(letters.letter_pdf(letter)).split())

    assert f"Decided by {letter.reviewer_name}, {letter.reviewer_role.lower()}." in text


@pytest.mark.parametrize("line_of_business", ["medicare_advantage", "medicaid", "chip"])
def test_member_letters_of_medicare_advantage_and_medicaid_carry_the_taglines(
    integration_client, physician, facet_policy, line_of_business
):
    letter = letter_of(decided(integration_client, physician, facet_policy, line_of_business), physician, "member")

    lines = html_lines(letter)
    pdf = squashed(pdf_text(letters.letter_pdf(letter)))

    assert "Free language assistance" in lines
    assert [t.lang for t in TAGLINES if not any(t.text in line for line in lines)] == []
    # pypdf reads Latin and Cyrillic back reliably; the other scripts are checked for fonts below.
    for lang in ("es", "tl", "fr", "vi", "de", "ru", "it", "pt", "ht", "pl"):
        tagline = next(t for t in TAGLINES if t.lang == lang)
        assert squashed(tagline.text) in pdf, lang


@pytest.mark.parametrize("line_of_business", ["commercial", "exchange"])
def test_commercial_letters_carry_no_taglines(integration_client, physician, facet_policy, line_of_business):
    letter = letter_of(decided(integration_client, physician, facet_policy, line_of_business), physician, "member")

    pdf = pdf_text(letters.letter_pdf(letter))

    assert letter.taglines is None
    assert "Free language assistance" not in " ".join(html_lines(letter))
    assert "Tenemos servicios de intérprete" not in pdf


def test_the_providers_copy_carries_no_taglines(integration_client, physician, facet_policy):
    letter = letter_of(decided(integration_client, physician, facet_policy, "medicaid"), physician, "provider")

    assert letter.taglines is None
    assert "Free language assistance" not in " ".join(html_lines(letter))


def test_every_tagline_is_drawn_in_a_font_that_has_its_script(
    integration_client, physician, facet_policy, caplog: pytest.LogCaptureFixture
):
    """WeasyPrint warns of each character it had to draw as an empty box (.notdef)."""
    letter = letter_of(decided(integration_client, physician, facet_policy, "medicare_advantage"), physician, "member")

    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        letters.letter_pdf(letter)

    assert [r.getMessage() for r in caplog.records if ".notdef" in r.getMessage()] == []


def test_the_taglines_are_the_fifteen_languages_of_the_multi_language_insert() -> None:
    """42 CFR 422.2267(e)(31): Spanish, Chinese, Tagalog, French, Vietnamese, German, Korean,
    Russian, Arabic, Italian, Portuguese, French Creole, Polish, Hindi and Japanese."""
    assert [t.lang.split("-")[0] for t in TAGLINES] == [
        "es",
        "zh",
        "tl",
        "fr",
        "vi",
        "de",
        "ko",
        "ru",
        "ar",
        "it",
        "pt",
        "ht",
        "pl",
        "hi",
        "ja",
    ]

"""Decision letters: the page and the PDF, through the Django test client."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.html import strip_tags
from pypdf import PdfReader

from casemgmt.cases import letters
from casemgmt.cases.models import AppealWindow, Case, CaseEvent, CaseEventKind, Decision, LineOutcome
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.kernel.roles import Role
from policies_app.models import CoveragePosition, LineOfBusiness, Policy
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db


def denied_case(client_user, physician, version):
    case = factories.case(client_user)
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="The procedure is unproven.")],
        citations=[CitationInput(policy_version_id=version.pk, criterion="The test procedure is investigational.")],
    )
    return case, decision


def pdf_text(pdf: bytes) -> str:
    """The text a reader of the PDF sees, page after page."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_letter_page_shows_reason_policy_and_appeal_rights(integration_client, physician, investigational):
    """NCQA UM 7; 29 CFR 2560.503-1(g)(1): the specific reason, the policy relied on and the
    appeal rights with their window, and viewing a letter records no letter produced."""
    case, decision = denied_case(integration_client, physician, investigational)
    html = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}/?to=member").content.decode()
    assert "The procedure is unproven." in html
    assert "Policy TP.01 “Test procedure policy”, version 2024-01" in html
    assert "Your right to appeal" in html
    assert "within 180 days" in html
    assert "29 CFR 2560.503-1(h)(3)(i)" in html
    assert "Expedited (fast) appeal" in html
    assert not CaseEvent.objects.filter(kind=CaseEventKind.LETTER_GENERATED).exists()


def test_medicare_advantage_letter_gives_65_days(integration_client, physician, editor):
    """42 CFR 422.582(b); 42 CFR 422.568(e)(3): 65 days to ask for a reconsideration."""
    policy = factories.policy(lines_of_business=["medicare_advantage"])
    version = factories.publish(factories.draft_version(policy), editor)
    case = factories.case(integration_client, line_of_business="medicare_advantage")
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="Unproven.")],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    html = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}/?to=provider").content.decode()
    assert "within 65 days" in html
    assert "42 CFR 422.582" in html


def test_letter_pdf_is_a_pdf_naming_the_policy_and_is_recorded(integration_client, physician, investigational):
    """HIPAA 45 CFR 164.312(b): producing a letter is recorded on the timeline."""
    case, decision = denied_case(integration_client, physician, investigational)
    response = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}.pdf?to=provider")
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert "TP.01" in pdf_text(response.content)
    event = CaseEvent.objects.get(case=case, kind=CaseEventKind.LETTER_GENERATED)
    assert event.detail == {"decision": decision.pk, "recipient": "provider"}


def test_letter_keeps_the_citation_after_the_policy_title_is_edited(integration_client, physician, investigational):
    """DOMAIN "Decisions": citations are frozen as they were when the decision was made."""
    case, decision = denied_case(integration_client, physician, investigational)
    Policy.objects.filter(pk=investigational.policy_id).update(title="Renamed policy")
    html = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}/").content.decode()
    assert "“Test procedure policy”" in html
    assert "Renamed policy" not in html


def test_letters_are_forbidden_to_integration_clients(integration_client, physician, investigational):
    """HIPAA 45 CFR 164.312(a)(1): letters are for the plan's reviewers."""
    case, decision = denied_case(integration_client, physician, investigational)
    browser = signed_in(integration_client)
    assert browser.get(f"/cases/{case.case_number}/letter/{decision.pk}/").status_code == 403
    assert browser.get(f"/cases/{case.case_number}/letter/{decision.pk}.pdf").status_code == 403


def test_letter_page_lists_each_lines_policy_under_that_line(integration_client, physician, investigational, editor):
    """NCQA UM 7; 42 CFR 422.568(e)(2): each denied service names the criterion it rests on."""
    other = factories.publish(
        factories.draft_version(factories.policy(number="TP.09", title="Imaging policy"), codes=[("CPT", "62331", "")]),
        editor,
    )
    dos = timezone.localdate() + timedelta(days=10)
    case = factories.case(
        integration_client,
        service_lines=tuple(
            LineInput(code_system="CPT", code=code, units=1, date_of_service=dos) for code in ("62330", "62331")
        ),
    )
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(
                service_line=n, outcome="denied", reason="Unproven.", citations=(CitationInput(policy_version_id=v),)
            )
            for n, v in ((1, investigational.pk), (2, other.pk))
        ],
        citations=[],
    )
    page = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}/").content.decode()
    first = page.split('id="line-1-policy"')[1].split("</section>")[0]
    second = page.split('id="line-2-policy"')[1].split("</section>")[0]
    assert ("TP.01" in first, "TP.09" in first) == (True, False)
    assert ("TP.01" in second, "TP.09" in second) == (False, True)


def test_letter_page_without_an_appeal_window_sends_the_reviewer_back_with_the_reason(
    integration_client, physician, investigational
):
    """42 CFR 438.404(b)(3); 29 CFR 2560.503-1(g)(1)(iv): no adverse notice goes out without its
    appeal rights; the case page says which setting is missing."""
    case, decision = denied_case(integration_client, physician, investigational)
    AppealWindow.objects.filter(line_of_business="commercial").delete()
    response = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}/", follow=True)
    assert response.redirect_chain == [(f"/cases/{case.case_number}/", 302)]
    assert "Letter not produced: no appeal window is set for Commercial" in response.content.decode()


# --- no internal codes in a member letter ---------------------------------------------------

CODED_CHOICES = (LineOfBusiness, CoveragePosition, LineOutcome, Role)
# Values that are plain English words a sentence or a policy's own statement may use as such;
# every other value is a stored code a member must never read.
PROSE_WORDS = {"approved", "denied", "modified", "overturned", "upheld", "investigational", "cosmetic"}


def raw_codes_in(text: str) -> list[str]:
    found = []
    for choices in CODED_CHOICES:
        for value in choices.values:
            if "_" in value:
                if value.lower() in text.lower():
                    found.append(value)
            elif value not in PROSE_WORDS and re.search(rf"\b{re.escape(value)}\b", text):
                found.append(value)
    if "lines of business:" in text.lower():
        found.append("Lines of business:")
    return found


def member_letter_text(reader: User, decision: Decision) -> str:
    page = signed_in(reader).get(f"/cases/{decision.case.case_number}/letter/{decision.pk}/?to=member")
    article = page.content.decode().split('<article class="letter">')[1].split("</article>")[0]
    return html.unescape(strip_tags(article))


def every_outcome(client: User, physician: User, line_of_business: str, editor: User) -> tuple[Case, list[Decision]]:
    """Decisions with every outcome on one line of business: approved, partly approved, denied
    and modified lines; a pended line; and an appeal overturning, partly overturning and
    upholding. Citations use a coded position and the engine's line-of-business criterion."""
    every_plan = list(LineOfBusiness.values)
    coded = factories.publish(
        factories.draft_version(
            factories.policy(number="DS.01", title="Dynamic stabilization", lines_of_business=every_plan),
            coverage_position="experimental_investigational",
            statement="Dynamic stabilization is unproven.",
        ),
        editor,
    )
    cite = (CitationInput(policy_version_id=coded.pk, criterion="Lines of business: commercial, exchange"),)
    dos = timezone.localdate() + timedelta(days=10)
    lines = tuple(
        LineInput(code_system="CPT", code=code, units=4, date_of_service=dos)
        for code in ("64633", "64635", "62330", "62331")
    )
    case = factories.case(client, line_of_business=line_of_business, service_lines=lines)
    first = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(
                service_line=2, outcome="partially_approved", approved_units=2, reason="Two sessions.", citations=cite
            ),
            DecisionLineInput(service_line=3, outcome="denied", reason="Unproven.", citations=cite),
            DecisionLineInput(
                service_line=4, outcome="modified", approved_units=4, reason="Another site.", citations=cite
            ),
        ],
        citations=[],
    )
    pended_case = factories.case(client, line_of_business=line_of_business, external_id="EHR-pended")
    pended = decision_record(
        case_id=pended_case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="pended")],
        citations=[],
    )
    appeal = appeal_open(
        case_id=case.pk, user=client, lines=[2, 3, 4], reason="New records.", urgency="standard", requested_by="member"
    )
    appeal_decision = decision_record(
        case_id=appeal.pk,
        user=factories.user("second.physician", Role.PHYSICIAN),
        lines=[
            DecisionLineInput(
                service_line=2, outcome="partially_overturned", approved_units=3, reason="Three.", citations=cite
            ),
            DecisionLineInput(service_line=3, outcome="upheld", reason="Still unproven.", citations=cite),
            DecisionLineInput(service_line=4, outcome="overturned"),
        ],
        citations=[],
    )
    return case, [first, pended, appeal_decision]


@pytest.mark.parametrize("line_of_business", list(LineOfBusiness.values))
def test_member_letters_show_no_internal_codes_for_any_outcome(integration_client, physician, editor, line_of_business):
    """NCQA UM 7; 42 CFR 438.404(a) (notices in easily understood language); 29 CFR
    2560.503-1(g) ("in a manner calculated to be understood"): a member letter shows labels and
    sentences, never a stored value of LineOfBusiness, CoveragePosition, LineOutcome or Role."""
    _case, decisions = every_outcome(integration_client, physician, line_of_business, editor)
    for decision in decisions:
        text = member_letter_text(physician, decision)
        pdf = pdf_text(letters.letter_pdf(letters.letter_build(Decision.objects.get(pk=decision.pk), "member")))
        assert (decision.pk, raw_codes_in(text)) == (decision.pk, [])
        assert (decision.pk, raw_codes_in(pdf)) == (decision.pk, [])


# --- the page and the PDF come from one template ---------------------------------------------

_BLOCK_TAG = re.compile(r"</?(?:article|header|footer|section|h1|h2|h3|p|ul|li|table|thead|tbody|tr|th|td)\b[^>]*>")


def squashed(text: str) -> str:
    """Text without whitespace, list bullets or page footers, so line and page breaks do not count."""
    return re.sub(r"Page\d+of\d+", "", re.sub(r"[\s•]+", "", text))


@pytest.mark.parametrize("recipient", ["member", "provider"])
def test_the_pdf_has_every_line_of_the_letter_page(integration_client, physician, investigational, recipient):
    case, decision = denied_case(integration_client, physician, investigational)
    browser = signed_in(physician)

    page = browser.get(f"/cases/{case.case_number}/letter/{decision.pk}/?to={recipient}").content.decode()
    pdf = browser.get(f"/cases/{case.case_number}/letter/{decision.pk}.pdf?to={recipient}").content

    article = page.split('<article class="letter">')[1].split("</article>")[0]
    lines = [" ".join(html.unescape(strip_tags(piece)).split()) for piece in _BLOCK_TAG.split(article)]
    lines = [line for line in lines if line]
    assert any(line.startswith("Decided by ") for line in lines)
    assert [line for line in lines if squashed(line) not in squashed(pdf_text(pdf))] == []

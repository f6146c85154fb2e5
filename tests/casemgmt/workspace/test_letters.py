"""Decision letters: the page and the PDF, through the Django test client."""

from __future__ import annotations

import base64
import re
import zlib

import pytest

from casemgmt.cases.models import CaseEvent, CaseEventKind
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from policies_app.models import Policy
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


def pdf_text(pdf: bytes) -> bytes:
    """A PDF's bytes with its page content streams decoded (ReportLab writes ASCII85 over Flate)."""
    out = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\s*endstream", pdf, re.S):
        data = stream.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2])
        try:
            out.append(zlib.decompress(data))
        except zlib.error:
            out.append(data)
    return b"\n".join(out)


def test_letter_page_shows_reason_policy_and_appeal_rights(integration_client, physician, investigational):
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
    case, decision = denied_case(integration_client, physician, investigational)
    response = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}.pdf?to=provider")
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert b"TP.01" in pdf_text(response.content)
    event = CaseEvent.objects.get(case=case, kind=CaseEventKind.LETTER_GENERATED)
    assert event.detail == {"decision": decision.pk, "recipient": "provider"}


def test_letter_keeps_the_citation_after_the_policy_title_is_edited(integration_client, physician, investigational):
    case, decision = denied_case(integration_client, physician, investigational)
    Policy.objects.filter(pk=investigational.policy_id).update(title="Renamed policy")
    html = signed_in(physician).get(f"/cases/{case.case_number}/letter/{decision.pk}/").content.decode()
    assert "“Test procedure policy”" in html
    assert "Renamed policy" not in html


def test_letters_are_forbidden_to_integration_clients(integration_client, physician, investigational):
    case, decision = denied_case(integration_client, physician, investigational)
    browser = signed_in(integration_client)
    assert browser.get(f"/cases/{case.case_number}/letter/{decision.pk}/").status_code == 403
    assert browser.get(f"/cases/{case.case_number}/letter/{decision.pk}.pdf").status_code == 403

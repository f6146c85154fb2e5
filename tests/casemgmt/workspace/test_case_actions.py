"""The case page, its actions and its decision letters, through the Django test client."""

from __future__ import annotations

import base64
import re
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from casemgmt.cases.models import CaseEvent, CaseEventKind, CaseStatus, Decision
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from policies_app.models import Criterion, Policy
from tests import factories

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def page(user, case) -> str:
    return signed_in(user).get(f"/cases/{case.case_number}/").content.decode()


@pytest.fixture
def investigational(editor):
    return factories.publish(factories.draft_version(), editor)


@pytest.fixture
def with_criteria(editor):
    """A policy approving the service when two criteria are met."""
    version = factories.draft_version(coverage_position="medically_necessary_with_criteria")
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of the following")
    factories.leaf(version, root, "At least 12 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 12)
    factories.leaf(version, root, "Imaging confirms stenosis", "imaging_confirms_stenosis", "is_true", None)
    return factories.publish(version, editor)


@pytest.fixture
def library_only(editor):
    """A published policy that no line of the test case matches: found only by searching."""
    policy = factories.policy(number="LIB.77", title="Spinal decompression devices")
    return factories.publish(
        factories.draft_version(policy, codes=[("CPT", "22867", "")], statement="Interspinous devices are unproven."),
        editor,
    )


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


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


# --- case page ------------------------------------------------------------------------------


def test_flag_links_to_its_policy_version_page_which_shows_the_criteria(integration_client, nurse, with_criteria):
    case = factories.case(integration_client)
    assert f'href="/policies/versions/{with_criteria.pk}/"' in page(nurse, case)
    html = signed_in(nurse).get(f"/policies/versions/{with_criteria.pk}/").content.decode()
    assert "Policy TP.01: Test procedure policy" in html
    assert "At least 12 weeks of conservative therapy" in html
    assert "Medically necessary when criteria are met" in html
    assert "62330" in html


def test_policy_version_page_is_forbidden_to_clients_and_outsiders(integration_client, outsider, investigational):
    assert signed_in(integration_client).get(f"/policies/versions/{investigational.pk}/").status_code == 403
    assert signed_in(outsider).get(f"/policies/versions/{investigational.pk}/").status_code == 403


def test_checklist_shows_each_criterion_with_the_fact_behind_it(integration_client, nurse, with_criteria):
    case = factories.case(integration_client, clinical_facts={"conservative_therapy_weeks": 8})
    html = page(nurse, case)
    row = re.search(r'<tr class="not_met">(.*?)</tr>', html, re.S).group(1)
    assert "At least 12 weeks of conservative therapy" in row
    assert "at least 12" in row
    assert "<td>8" in row
    assert "Not met" in row
    assert re.search(r'<tr class="unknown"><td>Imaging confirms stenosis</td>.*?not provided', html, re.S)


def test_image_attachment_is_shown_inline_and_streamed_with_its_type(integration_client, nurse):
    case = factories.case(integration_client)
    attachment = attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("xray.png", PNG))
    url = f"/cases/{case.case_number}/attachments/{attachment.pk}/view"
    assert f'<img src="{url}"' in page(nurse, case)
    response = signed_in(nurse).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG  # type: ignore[attr-defined]
    assert signed_in(integration_client).get(url).status_code == 403


# --- actions --------------------------------------------------------------------------------


def test_reviewer_adds_a_note_to_the_timeline(integration_client, nurse):
    case = factories.case(integration_client)
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/note",
        {"text": "Called the clinic about imaging.", "row_version": case.row_version},
        follow=True,
    )
    assert "Called the clinic about imaging." in response.content.decode()
    assert CaseEvent.objects.get(case=case, kind=CaseEventKind.NOTE).actor == nurse


def test_nurse_pends_for_information(integration_client, nurse):
    case = factories.case(integration_client)
    signed_in(nurse).post(f"/cases/{case.case_number}/pend", {"needed": "MRI report", "row_version": case.row_version})
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDED
    assert CaseEvent.objects.get(case=case, kind=CaseEventKind.PENDED).detail["needed"] == "MRI report"


def test_nurse_approves_the_lines(integration_client, nurse, with_criteria):
    case = factories.case(integration_client)
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/decide", {"outcome_1": "approved", "row_version": case.row_version}, follow=True
    )
    assert "Decision recorded" in response.content.decode()
    decision = Decision.objects.get(case=case)
    assert decision.decided_role == "nurse_reviewer"
    assert decision.lines.get().outcome == "approved"


def test_nurse_refers_to_physician_with_a_summary(integration_client, nurse):
    case = factories.case(integration_client)
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/refer",
        {"summary": "Investigational flag; please review.", "row_version": case.row_version},
        follow=True,
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    assert "Investigational flag; please review." in response.content.decode()


def test_physician_denies_citing_a_version_found_by_library_search(
    integration_client, physician, investigational, library_only
):
    case = factories.case(integration_client)
    browser = signed_in(physician)
    results = browser.get("/policies/search", {"q": "decompression"}, HTTP_HX_REQUEST="true").content.decode()
    assert f'name="citation_versions" value="{library_only.pk}"' in results
    assert "<html" not in results
    browser.post(
        f"/cases/{case.case_number}/decide",
        {
            "outcome_1": "denied",
            "reason_1": "Interspinous devices are not proven to help.",
            "citation_versions": [library_only.pk],
            f"criterion_{library_only.pk}": "Interspinous devices are unproven.",
            "row_version": case.row_version,
        },
    )
    citation = Decision.objects.get(case=case).citations.get()
    assert (citation.policy_number, citation.criterion) == ("LIB.77", "Interspinous devices are unproven.")


def test_nurse_is_offered_no_denial_and_no_peer_to_peer(integration_client, nurse, investigational):
    html = page(nurse, factories.case(integration_client))
    assert 'value="denied"' not in html
    assert "/peer-to-peer" not in html


def test_forged_nurse_peer_to_peer_post_is_refused_and_writes_nothing(integration_client, nurse):
    case = factories.case(integration_client)
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/peer-to-peer",
        {
            "requesting_physician": "Dr. Rivera",
            "held_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "outcome": "upheld",
            "summary": "x",
            "row_version": case.row_version,
        },
    )
    assert response.status_code == 403
    assert not CaseEvent.objects.filter(kind=CaseEventKind.PEER_TO_PEER).exists()


def test_peer_to_peer_is_recorded_in_the_timeline(integration_client, physician, investigational):
    case, _ = denied_case(integration_client, physician, investigational)
    case.refresh_from_db()
    held = timezone.localtime()
    response = signed_in(physician).post(
        f"/cases/{case.case_number}/peer-to-peer",
        {
            "requesting_physician": "Dr. Rivera",
            "held_at": held.strftime("%Y-%m-%dT%H:%M"),
            "outcome": "upheld",
            "summary": "Discussed the evidence; no new records.",
            "row_version": case.row_version,
        },
        follow=True,
    )
    timeline = response.content.decode().split('id="timeline"')[1]
    assert "Peer-to-peer discussion" in timeline
    assert "with Dr. Rivera" in timeline
    assert "Discussed the evidence; no new records." in timeline


@pytest.mark.parametrize(
    ("action", "fields"),
    [("note", {"text": "late note"}), ("pend", {"needed": "MRI"}), ("refer", {"summary": "please look"})],
)
def test_stale_row_version_says_the_case_changed_and_writes_nothing(integration_client, nurse, action, fields):
    case = factories.case(integration_client)
    events = CaseEvent.objects.filter(case=case).count()
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/{action}", {**fields, "row_version": case.row_version - 1}, follow=True
    )
    assert "The case changed since you opened it" in response.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.RECEIVED
    assert CaseEvent.objects.filter(case=case).count() == events


# --- letters --------------------------------------------------------------------------------


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

"""The case page and its actions (decide, refer, pend, note, peer-to-peer), through the Django test client."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from casemgmt.cases.models import CaseEvent, CaseEventKind, CaseStatus, Decision
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from policies_app.models import Criterion
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db


def page(user, case) -> str:
    return signed_in(user).get(f"/cases/{case.case_number}/").content.decode()


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


def denied_case(client_user, physician, version):
    case = factories.case(client_user)
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="The procedure is unproven.")],
        citations=[CitationInput(policy_version_id=version.pk, criterion="The test procedure is investigational.")],
    )
    return case


# --- the page -------------------------------------------------------------------------------


def test_case_page_shows_flags_with_citation(integration_client, nurse, investigational):
    case = factories.case(integration_client)
    html = signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode()
    assert "Investigational service per policy TP.01" in html
    assert "version 2024-01" in html


def test_case_page_of_unknown_case_is_404(nurse):
    assert signed_in(nurse).get("/cases/PA-NOPE/").status_code == 404


def test_nurse_page_offers_no_denial(integration_client, nurse, investigational):
    case = factories.case(integration_client)
    html = signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode()
    assert 'value="denied"' not in html
    assert "Refer to physician review" in html


def test_physician_page_offers_denial(integration_client, physician, investigational):
    case = factories.case(integration_client)
    html = signed_in(physician).get(f"/cases/{case.case_number}/").content.decode()
    assert 'value="denied"' in html


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
    assert '<td class="value">8 weeks' in row
    assert "Not met" in row
    assert re.search(r'<tr class="unknown">\s*<td>Imaging confirms stenosis\b.*?not provided', html, re.S)


# --- actions --------------------------------------------------------------------------------


def test_forged_nurse_denial_post_is_refused(integration_client, nurse, investigational):
    case = factories.case(integration_client)
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/decide",
        {"outcome_1": "denied", "reason_1": "x", "citation_versions": [investigational.pk], "row_version": 1},
    )
    assert response.status_code == 403
    assert not Decision.objects.exists()


def test_physician_denies_with_citation_from_the_page(integration_client, physician, investigational):
    case = factories.case(integration_client)
    browser = signed_in(physician)
    response = browser.post(
        f"/cases/{case.case_number}/decide",
        {
            "outcome_1": "denied",
            "reason_1": "The procedure is investigational under policy TP.01.",
            "citation_versions": [investigational.pk],
            "criterion": "Investigational.",
            "row_version": case.row_version,
        },
        follow=True,
    )
    assert "Decision recorded" in response.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.DECIDED
    assert case.decisions.get().citations.get().policy_version == investigational


def test_stale_form_is_refused_with_a_clear_message(integration_client, physician, investigational):
    case = factories.case(integration_client)
    response = signed_in(physician).post(
        f"/cases/{case.case_number}/decide",
        {"outcome_1": "approved", "row_version": case.row_version + 5},
        follow=True,
    )
    assert "changed since you opened it" in response.content.decode()
    assert not Decision.objects.exists()


def test_nurse_refers_case_to_physician(integration_client, nurse):
    case = factories.case(integration_client)
    signed_in(nurse).post(f"/cases/{case.case_number}/refer", {"summary": "Please review the flag."})
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW


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
    case = denied_case(integration_client, physician, investigational)
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

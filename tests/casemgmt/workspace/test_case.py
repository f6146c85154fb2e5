from __future__ import annotations

import pytest
from django.test import Client

from casemgmt.cases.models import CaseStatus, Decision
from tests import factories

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def investigational(editor):
    return factories.publish(factories.draft_version(), editor)


def test_queue_requires_sign_in(db):
    response = Client().get("/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_queue_lists_open_cases_by_due_time(integration_client, nurse):
    later = factories.case(integration_client, urgency="standard")
    sooner = factories.case(integration_client, urgency="expedited")
    html = signed_in(nurse).get("/queue/").content.decode()
    assert html.index(sooner.case_number) < html.index(later.case_number)


def test_queue_hides_decided_cases(integration_client, physician, investigational):
    case = factories.case(integration_client)
    signed_in(physician).post(
        f"/cases/{case.case_number}/decide",
        {
            "outcome_1": "denied",
            "reason_1": "Investigational.",
            "citation_versions": [investigational.pk],
            "row_version": case.row_version,
        },
    )
    assert case.case_number not in signed_in(physician).get("/queue/").content.decode()


def test_queue_is_forbidden_to_integration_clients_and_outsiders(integration_client, outsider):
    assert signed_in(integration_client).get("/queue/").status_code == 403
    assert signed_in(outsider).get("/queue/").status_code == 403


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


def test_login_page_signs_in_and_lands_on_queue(nurse):
    browser = Client()
    response = browser.post("/login/", {"username": "nina.nurse", "password": factories.PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/queue/"

"""`POST /api/v1/cases/<case_number>/reopen`: issue 16, section 3."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from casemgmt.cases.models import CaseStatus
from policies_app.models import PolicyVersion
from tests.casemgmt.api.test_appeals_api import api_as
from tests.casemgmt.cases.test_appeals import decided_case, every_line_of_business_policy, move_time

pytestmark = pytest.mark.django_db

REASON = {"reason": "Clerical error: the units were keyed wrong."}


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return every_line_of_business_policy(editor)


def test_a_physician_reopens_and_gets_the_case_back_in_review(integration_client, physician, version):
    """42 CFR 422.616(a): the case returns to review (issue 16, section 3)."""
    case, _ = decided_case(integration_client, physician, version)
    response = api_as(physician).post(f"/api/v1/cases/{case.case_number}/reopen", REASON, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == CaseStatus.IN_REVIEW
    assert response.json()["decided_at"] is None


@pytest.mark.parametrize("who", ["nurse", "integration_client"])
def test_a_nurse_or_the_client_gets_403(request, integration_client, physician, version, who):
    """Issue 16, section 3: a physician or a manager reopens."""
    case, _ = decided_case(integration_client, physician, version)
    response = api_as(request.getfixturevalue(who)).post(f"/api/v1/cases/{case.case_number}/reopen", {}, format="json")
    assert response.status_code == 403


def test_past_a_year_without_good_cause_is_409_with_the_dates(integration_client, physician, version, monkeypatch):
    """42 CFR 422.616(b)(1): one year for any reason."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=400)
    response = api_as(physician).post(f"/api/v1/cases/{case.case_number}/reopen", REASON, format="json")
    assert response.status_code == 409
    assert {"decided_on", "limit_passed_on"} <= set(response.json())


def test_good_cause_within_four_years_is_accepted(integration_client, manager, physician, version, monkeypatch):
    """42 CFR 422.616(b)(2): four years for good cause."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=400)
    response = api_as(manager).post(
        f"/api/v1/cases/{case.case_number}/reopen", {**REASON, "good_cause": True}, format="json"
    )
    assert response.status_code == 200, response.json()


def test_a_stale_row_version_is_409(integration_client, physician, version):
    """Issue 16, section 3 ("nothing is ... edited in place"): a reopening of a case that changed is refused."""
    case, _ = decided_case(integration_client, physician, version)
    response = api_as(physician).post(
        f"/api/v1/cases/{case.case_number}/reopen", {**REASON, "row_version": case.row_version - 1}, format="json"
    )
    assert response.status_code == 409


def test_a_blank_reason_is_400(integration_client, physician, version):
    """42 CFR 422.616(a): a reopening has a stated cause."""
    case, _ = decided_case(integration_client, physician, version)
    response = api_as(physician).post(f"/api/v1/cases/{case.case_number}/reopen", {"reason": "  "}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]

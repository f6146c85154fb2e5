"""`POST /api/v1/cases/<case_number>/appeals`: issue 16, section 2."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, LineOutcome
from casemgmt.kernel.roles import Role
from casemgmt.security.services import api_token_create
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories
from tests.casemgmt.cases.test_appeals import decided_case, every_line_of_business_policy, file_appeal, move_time

pytestmark = pytest.mark.django_db

BODY = {
    "lines": [1],
    "reason": "Six months of physical therapy failed.",
    "urgency": "standard",
    "requested_by": "provider",
}


def api_as(user: User) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}")
    return api


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return every_line_of_business_policy(editor)


def appeal(user: User, case: Case, **body: Any) -> Any:
    return api_as(user).post(f"/api/v1/cases/{case.case_number}/appeals", {**BODY, **body}, format="json")


def test_the_requester_appeals_and_gets_the_appeal_case(integration_client, physician, version):
    """42 CFR 422.582(a); 29 CFR 2560.503-1(h)(2): the appeal is a case with its own number and due time."""
    case, _ = decided_case(integration_client, physician, version)
    response = appeal(integration_client, case)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["review_type"] == "appeal"
    assert body["appeal_of"] == case.case_number
    assert body["case_number"] != case.case_number
    assert body["appeal_requested_by"] == "provider"
    assert [line["sequence"] for line in body["service_lines"]] == [1]
    assert api_as(integration_client).get(f"/api/v1/cases/{body['case_number']}").status_code == 200


def test_an_approved_line_is_400_naming_the_line(integration_client, physician, version):
    """42 CFR 422.566(b); 29 CFR 2560.503-1(h)(1): only adverse lines are appealed."""
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.DENIED, LineOutcome.APPROVED))
    response = appeal(integration_client, case, lines=[2])
    assert response.status_code == 400
    assert "line 2 was approved" in response.json()["errors"]["lines[0]"][0]


def test_a_late_appeal_is_409_with_the_window_and_the_dates(integration_client, physician, version, monkeypatch):
    """42 CFR 438.402(c)(2)(ii): Medicaid, 60 days from the notice; 409 with the window and the dates."""
    case, decision = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICAID)
    decided_on = timezone.localdate(decision.decided_at)
    move_time(monkeypatch, days=61)
    response = appeal(integration_client, case)
    assert response.status_code == 409
    body = response.json()
    assert body["window_days"] == 60
    assert body["decided_on"] == decided_on.isoformat()
    assert body["window_closed_on"] == (decided_on + timedelta(days=60)).isoformat()
    assert body["filed_on"] == (decided_on + timedelta(days=61)).isoformat()
    assert "60 days" in body["detail"]


def test_a_manager_accepts_a_late_appeal_through_the_api(integration_client, physician, manager, version, monkeypatch):
    """42 CFR 422.582(c): good cause for a late filing, recorded."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    move_time(monkeypatch, days=66)
    response = appeal(manager, case, late_filing_reason="The member was in hospital.")
    assert response.status_code == 201, response.json()
    assert response.json()["late_filing_reason"] == "The member was in hospital."


def test_a_client_may_not_accept_a_late_appeal(integration_client, physician, version, monkeypatch):
    """42 CFR 422.582(c): good cause is the plan's to accept, here a manager's."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=200)
    assert appeal(integration_client, case, late_filing_reason="Please.").status_code == 403


def test_another_clients_case_is_404(integration_client, other_client, physician, version):
    """Issue 16, section 2 (visible case only): another client's case does not exist for it."""
    case, _ = decided_case(integration_client, physician, version)
    assert appeal(other_client, case).status_code == 404


def test_a_retry_with_the_same_key_opens_one_appeal(integration_client, physician, version):
    """Issue 16 ("like the other POSTs"): a retry with the same Idempotency-Key replays the first answer."""
    case, _ = decided_case(integration_client, physician, version)
    api = api_as(integration_client)
    path = f"/api/v1/cases/{case.case_number}/appeals"
    first = api.post(path, BODY, format="json", HTTP_IDEMPOTENCY_KEY="appeal-1")
    second = api.post(path, BODY, format="json", HTTP_IDEMPOTENCY_KEY="appeal-1")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert Case.objects.filter(appeal_of=case).count() == 1


def test_the_appeal_decider_rule_is_403_with_the_reason(integration_client, physician, version):
    """42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii): the physician who denied may not decide the appeal."""
    case, _ = decided_case(integration_client, physician, version)
    appeal_case = file_appeal(case, integration_client)
    response = api_as(physician).post(
        f"/api/v1/cases/{appeal_case.case_number}/decisions",
        {"lines": [{"service_line": 1, "outcome": "overturned"}]},
        format="json",
    )
    assert response.status_code == 403
    assert "took part in the decision under appeal" in response.json()["detail"]


def test_another_physician_decides_the_appeal_through_the_api(integration_client, physician, version):
    """42 CFR 422.590(h)(2): a physician who took no part decides; an upheld line cites a policy."""
    case, _ = decided_case(integration_client, physician, version)
    appeal_case = file_appeal(case, integration_client)
    other = factories.user("pat.second", Role.PHYSICIAN)
    response = api_as(other).post(
        f"/api/v1/cases/{appeal_case.case_number}/decisions",
        {
            "lines": [{"service_line": 1, "outcome": "upheld", "reason": "Still investigational."}],
            "citations": [{"policy_version_id": version.pk}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["lines"][0]["review_action_code"] == "A3"


def test_an_open_case_cannot_be_appealed(integration_client):
    """42 CFR 422.582(a): a determination is appealed; an open request has none."""
    case = factories.case(integration_client)
    response = appeal(integration_client, case)
    assert response.status_code == 409
    assert response.json()["current_status"] == "received"

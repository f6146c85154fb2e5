"""`referred` in lines[i].outcome of POST /api/v1/cases/{n}/decisions: a line sent to a physician
reviewer while the others are decided; refused (400, with the field path) where it does not apply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, CaseStatus, Decision, LineOutcome
from casemgmt.cases.services.intake import LineInput
from casemgmt.kernel.roles import Role
from casemgmt.security.services import api_token_create
from tests import factories
from tests.casemgmt.cases.test_appeals import decided_case, every_line_of_business_policy, file_appeal

pytestmark = pytest.mark.django_db

NOTE = "Please look at the imaging for line 2."


def as_user(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def client_for(user) -> APIClient:
    _, raw = api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def two_line_case(client) -> Case:
    dos = timezone.localdate() + timedelta(days=10)
    return factories.case(
        client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos),
        ),
    )


REFERRAL = {
    "lines": [
        {"service_line": 1, "outcome": "approved"},
        {"service_line": 2, "outcome": "referred", "reason": NOTE},
    ]
}


def test_a_nurse_refers_a_line_through_the_api(integration_client, nurse):
    case = two_line_case(integration_client)
    response = as_user(nurse).post(f"/api/v1/cases/{case.case_number}/decisions", REFERRAL, format="json")
    assert response.status_code == 201, response.content
    line = next(line for line in response.json()["lines"] if line["service_line"] == 2)
    assert (line["outcome"], line["review_action_code"]) == (LineOutcome.REFERRED, "A4")
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW


def test_the_requester_sees_the_referred_line_pending_without_the_internal_note(integration_client, nurse):
    case = two_line_case(integration_client)
    as_user(nurse).post(f"/api/v1/cases/{case.case_number}/decisions", REFERRAL, format="json")
    body = client_for(integration_client).get(f"/api/v1/cases/{case.case_number}").json()
    first, second = body["service_lines"]
    assert first["determination"]["review_action_code"] == "A1"
    assert first["authorization"] is not None
    assert second["determination"]["review_action_code"] == "A4"
    assert second["determination"]["reason"] == ""
    assert second["determination"]["decided_automatically"] is False
    listed = client_for(integration_client).get(f"/api/v1/cases/{case.case_number}/decisions").json()
    assert NOTE not in str(listed)


def test_referring_every_line_is_400_on_lines(integration_client, nurse):
    case = two_line_case(integration_client)
    body = {"lines": [{"service_line": 1, "outcome": "referred"}, {"service_line": 2, "outcome": "referred"}]}
    response = as_user(nurse).post(f"/api/v1/cases/{case.case_number}/decisions", body, format="json")
    assert response.status_code == 400
    assert "lines" in response.json()["errors"]
    assert not Decision.objects.filter(case=case).exists()


def test_referring_an_appealed_line_is_400_naming_the_outcome(integration_client, physician, editor):
    version = every_line_of_business_policy(editor)
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.DENIED, LineOutcome.DENIED))
    appeal = file_appeal(case, integration_client, lines=[1, 2])
    body = {
        "lines": [
            {"service_line": 1, "outcome": "overturned"},
            {"service_line": 2, "outcome": "referred"},
        ]
    }
    second = factories.user("pat.second", Role.PHYSICIAN)
    response = as_user(second).post(f"/api/v1/cases/{appeal.case_number}/decisions", body, format="json")
    assert response.status_code == 400
    assert "lines[1].outcome" in response.json()["errors"]

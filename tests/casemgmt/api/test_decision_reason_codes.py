"""`lines[i].reason_code` of POST /api/v1/cases/{n}/decisions: one of the plan's active review
decision reason codes (X12 list 886) on an adverse line, returned with the decision; refused (400,
with the field path) when unknown or inactive."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from casemgmt.cases.models import ReviewReasonCode
from tests import factories

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def version(editor):
    return factories.publish(factories.draft_version(), editor)


@pytest.fixture
def code() -> ReviewReasonCode:
    return ReviewReasonCode.objects.create(code="N1", display="Not medically necessary")


def denial(version, reason_code: str) -> dict:
    return {
        "lines": [{"service_line": 1, "outcome": "denied", "reason": "Criteria not met.", "reason_code": reason_code}],
        "citations": [{"policy_version_id": version.pk, "criterion": "Criteria."}],
    }


def test_a_denial_with_a_reason_code_returns_it(integration_client, physician, version, code):
    case = factories.case(integration_client)
    response = as_user(physician).post(
        f"/api/v1/cases/{case.case_number}/decisions", denial(version, "N1"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["lines"][0]["reason_code"] == "N1"


def test_a_line_without_a_reason_code_returns_none(integration_client, physician, version):
    case = factories.case(integration_client)
    body = denial(version, "")
    del body["lines"][0]["reason_code"]
    response = as_user(physician).post(f"/api/v1/cases/{case.case_number}/decisions", body, format="json")
    assert (response.status_code, response.json()["lines"][0]["reason_code"]) == (201, None)


def test_an_unknown_reason_code_is_a_400_naming_the_line(integration_client, physician, version):
    case = factories.case(integration_client)
    response = as_user(physician).post(
        f"/api/v1/cases/{case.case_number}/decisions", denial(version, "ZZ"), format="json"
    )
    assert response.status_code == 400
    assert "lines[0].reason_code" in response.json()["errors"]


def test_an_inactive_reason_code_is_a_400_naming_the_line(integration_client, physician, version, code):
    ReviewReasonCode.objects.filter(pk=code.pk).update(active=False)
    case = factories.case(integration_client)
    response = as_user(physician).post(
        f"/api/v1/cases/{case.case_number}/decisions", denial(version, "N1"), format="json"
    )
    assert response.status_code == 400
    assert "lines[0].reason_code" in response.json()["errors"]

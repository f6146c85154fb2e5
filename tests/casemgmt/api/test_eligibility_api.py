"""`POST /api/v1/eligibility`: issue 17, section 2 ("batches of up to 10,000, for the enrollment system")."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User

from casemgmt.api.eligibility import MAX_COVERAGES
from casemgmt.cases.models import MemberCoverage
from tests.casemgmt.api.test_appeals_api import api_as

pytestmark = pytest.mark.django_db

URL = "/api/v1/eligibility"


def coverage(**overrides: Any) -> dict[str, Any]:
    return {
        "member_id": "M123",
        "line_of_business": "medicare_advantage",
        "plan_id": "H1234-001",
        "coverage_start": "2026-01-01",
        "coverage_end": "2026-12-31",
        **overrides,
    }


def test_a_manager_loads_a_batch_and_gets_the_counts(manager: User):
    """Issue 17, section 2: the enrollment system loads coverage through the API."""
    body = {"coverages": [coverage(), coverage(member_id="M456", plan_id="", coverage_end=None)]}
    response = api_as(manager).post(URL, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"rows": 2, "periods": 2, "inserted": 2, "updated": 0, "unchanged": 0}
    assert MemberCoverage.objects.get(member_id="M456").coverage_end is None


def test_the_end_may_be_left_out_for_an_open_ended_coverage(manager: User):
    """Issue 17, section 2: coverage end (none while open-ended)."""
    entry = coverage()
    del entry["coverage_end"], entry["plan_id"]
    response = api_as(manager).post(URL, {"coverages": [entry]}, format="json")
    assert response.status_code == 200, response.json()
    assert MemberCoverage.objects.get().coverage_end is None


def test_sending_a_batch_again_changes_nothing(manager: User):
    """Issue 17, section 2: idempotent."""
    api = api_as(manager)
    api.post(URL, {"coverages": [coverage()]}, format="json")
    response = api.post(URL, {"coverages": [coverage()]}, format="json")
    assert response.json()["unchanged"] == 1
    assert MemberCoverage.objects.count() == 1


def test_a_termination_sent_later_takes_its_end(manager: User):
    """Issue 17, section 2: the enrollment system's latest end of a period holds."""
    api = api_as(manager)
    api.post(URL, {"coverages": [coverage(coverage_end=None)]}, format="json")
    response = api.post(URL, {"coverages": [coverage(coverage_end="2026-03-31")]}, format="json")
    assert response.json()["updated"] == 1
    assert MemberCoverage.objects.get().coverage_end == date(2026, 3, 31)


def test_an_idempotency_key_replays_the_first_answer(manager: User):
    """Issue 17, section 2 (idempotent), as every POST of the API: a retry with the same key is the first answer."""
    api = api_as(manager)
    body = {"coverages": [coverage()]}
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="enrollment-2026-12-05")
    again = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="enrollment-2026-12-05")
    assert again.json() == first.json() == {"rows": 1, "periods": 1, "inserted": 1, "updated": 0, "unchanged": 0}
    assert again["Idempotent-Replayed"] == "true"


def test_an_end_before_the_start_is_400_naming_the_row_and_nothing_is_loaded(manager: User):
    """Issue 17, section 2: nothing half-loaded; errors as field paths."""
    body = {"coverages": [coverage(), coverage(member_id="M2", coverage_start="2026-05-01", coverage_end="2026-04-30")]}
    response = api_as(manager).post(URL, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["coverages[1].coverage_end"]
    assert not MemberCoverage.objects.exists()


def test_an_unknown_line_of_business_is_400_naming_the_row(manager: User):
    """Issue 17, section 2: a coverage is under a line of business the plan has."""
    body = {"coverages": [coverage(), coverage(line_of_business="dental")]}
    response = api_as(manager).post(URL, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["coverages[1].line_of_business"]
    assert not MemberCoverage.objects.exists()


def test_an_unknown_field_is_400(manager: User):
    """The API's rule (StrictSerializer): a client's typo is an error, not lost data."""
    response = api_as(manager).post(URL, {"coverages": [coverage(coverage_ends="2026-12-31")]}, format="json")
    assert response.status_code == 400
    assert "coverages[0].coverage_ends" in response.json()["errors"]


def test_an_empty_batch_is_400(manager: User):
    """Issue 17, section 2: batches of 1 to 10,000."""
    response = api_as(manager).post(URL, {"coverages": []}, format="json")
    assert response.status_code == 400
    assert "coverages" in response.json()["errors"]


def test_more_than_ten_thousand_is_400(manager: User):
    """Issue 17, section 2: batches of up to 10,000."""
    body = {"coverages": [coverage(member_id=f"M{i}") for i in range(MAX_COVERAGES + 1)]}
    response = api_as(manager).post(URL, body, format="json")
    assert response.status_code == 400
    assert "coverages" in response.json()["errors"]
    assert not MemberCoverage.objects.exists()


def test_a_batch_of_ten_thousand_is_loaded(manager: User):
    """Issue 17, section 2: batches of up to 10,000 (the body fits the API's size limit)."""
    body = {"coverages": [coverage(member_id=f"M{i:07d}") for i in range(MAX_COVERAGES)]}
    response = api_as(manager).post(URL, body, format="json")
    assert response.status_code == 200, response.content[:300]
    assert MemberCoverage.objects.count() == MAX_COVERAGES


@pytest.mark.parametrize("who", ["nurse", "physician", "integration_client", "auditor"])
def test_other_roles_get_403_and_load_nothing(request: pytest.FixtureRequest, who: str):
    """Issue 17, section 2 ("for the enrollment system"): a provider's EHR or a reviewer does not
    say who is covered (docs/security.md, the access matrix)."""
    response = api_as(request.getfixturevalue(who)).post(URL, {"coverages": [coverage()]}, format="json")
    assert response.status_code == 403
    assert not MemberCoverage.objects.exists()

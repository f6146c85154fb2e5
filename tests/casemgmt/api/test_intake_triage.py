"""Triage at intake, through the API: duplicates (issue 17, section 3; ../shared/DOMAIN.md "Triage
at intake": the same member, service and dates as a request already open or approved) and
eligibility (section 2: the member must be covered on the date of service under that line of
business)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, DuplicateAction, DuplicateRule, MemberCoverage
from casemgmt.cases.services.flags import case_flags_refresh
from casemgmt.cases.services.triage import intake_settings_update
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db


def api_for(user: User) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}")
    return api


def submit(user: User, external_id: str) -> Any:
    return api_for(user).post("/api/v1/cases", factories.api_case_body(external_id=external_id), format="json")


def test_a_repeated_request_from_another_client_is_flagged_naming_the_earlier_case(
    integration_client: User, other_client: User
) -> None:
    first = submit(integration_client, "EHR-1").json()["case_number"]

    response = submit(other_client, "PORTAL-1")

    assert response.status_code == 201, response.content
    flags = [f for f in response.json()["flags"] if f["kind"] == "duplicate_request"]
    assert len(flags) == 1
    assert first in flags[0]["message"]


def test_a_line_of_business_that_refuses_duplicates_answers_409_and_stores_nothing(
    integration_client: User,
) -> None:
    first = submit(integration_client, "EHR-1").json()["case_number"]
    DuplicateRule.objects.filter(line_of_business="commercial").update(action=DuplicateAction.REFUSE)

    response = submit(integration_client, "EHR-2")

    assert response.status_code == 409, response.content
    assert first in response.json()["detail"]
    assert not Case.objects.filter(external_id="EHR-2").exists()


def test_another_members_request_is_not_a_duplicate(integration_client: User) -> None:
    submit(integration_client, "EHR-1")
    other = factories.api_case_body(
        external_id="EHR-2",
        member={"member_id": "M999", "first_name": "Bo", "last_name": "Other", "birth_date": "1970-02-02"},
    )

    response = api_for(integration_client).post("/api/v1/cases", other, format="json")

    assert response.status_code == 201, response.content
    assert [f for f in response.json()["flags"] if f["kind"] == "duplicate_request"] == []


def test_re_evaluating_the_policy_flags_keeps_the_duplicate_flag(integration_client: User, editor: User) -> None:
    """Triage's findings at intake are not the policy engine's: a re-flag leaves them."""
    submit(integration_client, "EHR-1")
    second = Case.objects.get(case_number=submit(integration_client, "EHR-2").json()["case_number"])
    factories.publish(factories.draft_version(), editor)  # the engine's flags change

    case_flags_refresh(case_id=second.pk)

    current = second.flags.filter(superseded_at__isnull=True).values_list("kind", flat=True)
    assert "duplicate_request" in current
    assert "investigational" in current


def test_with_eligibility_checking_on_an_uncovered_line_is_flagged_for_the_nurse(
    integration_client: User, settings: Any
) -> None:
    """The nurse decides: a member may be enrolled retroactively (issue 17, section 2)."""
    settings.ELIGIBILITY_CHECK = True

    response = submit(integration_client, "EHR-1")

    assert response.status_code == 201, response.content
    assert [f["kind"] for f in response.json()["flags"]] == ["member_not_eligible"]


def test_with_eligibility_checking_on_a_covered_line_is_not_flagged(integration_client: User, settings: Any) -> None:
    settings.ELIGIBILITY_CHECK = True
    MemberCoverage.objects.create(
        member_id="M123",
        line_of_business="commercial",
        coverage_start=date(2020, 1, 1),
        coverage_end=None,
        loaded_at=timezone.now(),
    )

    response = submit(integration_client, "EHR-1")

    assert [f["kind"] for f in response.json()["flags"]] == []


def test_eligibility_checking_is_off_by_default(integration_client: User) -> None:
    """Off by default, so the demo works without an eligibility file (issue 17, section 2)."""
    assert [f["kind"] for f in submit(integration_client, "EHR-1").json()["flags"]] == []


def test_a_service_that_needs_no_authorization_is_answered_na_in_the_201(
    integration_client: User, editor: User
) -> None:
    """Section 1: a not_required line is answered at once with review action NA."""
    factories.requirement_rule(editor, code_start="62330", requirement="not_required")

    response = submit(integration_client, "EHR-1")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "closed"
    determination = body["service_lines"][0]["determination"]
    assert determination["outcome"] == "not_required"
    assert determination["review_action_code"] == "NA"
    assert determination["decided_automatically"] is True
    assert body["service_lines"][0]["authorization"] is None


def test_an_automatic_approval_is_in_the_201_with_its_authorization(
    integration_client: User, editor: User, manager: User
) -> None:
    """Section 4: approved at intake, with the authorization, in the same response."""
    factories.criteria_library(editor, auto_approve=True)
    intake_settings_update(user=manager, automatic_approval=True)
    body = factories.api_case_body(
        service_lines=[
            {
                "code_system": "CPT",
                "code": "62331",
                "units": 2,
                "date_of_service": factories.api_case_body()["service_lines"][0]["date_of_service"],
            }
        ],
        clinical_facts={"conservative_therapy_weeks": 14},
    )

    response = api_for(integration_client).post("/api/v1/cases", body, format="json")

    assert response.status_code == 201, response.content
    line = response.json()["service_lines"][0]
    assert line["determination"]["review_action_code"] == "A1"
    assert line["determination"]["approved_units"] == 2
    assert line["authorization"]["status"] == "active"
    assert line["authorization"]["approved_units"] == 2
    case_number = response.json()["case_number"]
    again = api_for(integration_client).get(f"/api/v1/cases/{case_number}").json()
    assert again["service_lines"][0]["determination"] == line["determination"]
    assert again["service_lines"][0]["authorization"] == line["authorization"]


def test_a_request_waiting_for_review_has_no_determination(integration_client: User) -> None:
    response = submit(integration_client, "EHR-1")

    assert response.json()["service_lines"][0]["determination"] is None

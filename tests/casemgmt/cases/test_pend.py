"""Pending for information: who may pend, and how the time pended moves the deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, DeadlineRule
from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.transitions import case_information_add, case_refer_to_physician
from casemgmt.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db


class Clock:
    """Stands in for django.utils.timezone.now, which the services read the time from."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(timezone.now())
    monkeypatch.setattr("django.utils.timezone.now", fake)
    return fake


def client_for(user) -> APIClient:
    _, raw = api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def pend(case: Case, user, needed: str = "Six weeks of physical therapy notes") -> Case:
    return case_pend_for_information(case_id=case.pk, user=user, needed=needed)


def send_information(case: Case, client) -> Case:
    return case_information_add(case_id=case.pk, user=client, clinical_facts={}, clinical_notes="PT notes.")


def last_event(case: Case, kind: str) -> CaseEvent:
    return CaseEvent.objects.filter(case=case, kind=kind).latest("at", "id")


@pytest.fixture
def case(integration_client, clock) -> Case:
    return factories.case(integration_client)


def test_nurse_can_pend_a_case(case, nurse):
    assert pend(case, nurse).status == CaseStatus.PENDED


def test_physician_can_pend_a_case(case, physician):
    assert pend(case, physician).status == CaseStatus.PENDED


def test_pend_records_what_is_needed_and_when_it_started(case, nurse, clock):
    clock.advance(hours=2)
    pend(case, nurse, needed="  MRI report  ")
    event = last_event(case, CaseEventKind.PENDED)
    assert event.actor == nurse
    assert event.detail["needed"] == "MRI report"
    assert datetime.fromisoformat(event.detail["pended_at"]) == clock.now


def test_client_cannot_pend(case, integration_client):
    with pytest.raises(PermissionDeniedError):
        pend(case, integration_client)
    case.refresh_from_db()
    assert case.status == CaseStatus.RECEIVED


def test_pend_must_say_what_is_needed(case, nurse):
    with pytest.raises(ValidationFailed) as excinfo:
        pend(case, nurse, needed="   ")
    assert set(excinfo.value.errors) == {"needed"}


def test_pend_of_a_decided_case_is_refused_with_current_status(case, nurse):
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
    )
    with pytest.raises(InvalidTransition) as excinfo:
        pend(case, nurse)
    assert excinfo.value.extra["current_status"] == CaseStatus.DECIDED


def test_pend_of_a_pended_case_is_refused(case, nurse):
    pend(case, nurse)
    with pytest.raises(InvalidTransition):
        pend(case, nurse)


def test_case_in_physician_review_can_be_pended(case, nurse, physician):
    case_refer_to_physician(case_id=case.pk, user=nurse, summary="Needs a physician.")
    assert pend(case, physician).status == CaseStatus.PENDED


def test_due_at_extends_by_the_time_pended(case, nurse, integration_client, clock):
    due_before = case.due_at
    clock.advance(hours=1)
    pend(case, nurse)
    clock.advance(hours=30)
    case = send_information(case, integration_client)
    assert case.due_at == due_before + timedelta(hours=30)
    assert case.status == CaseStatus.IN_REVIEW


def test_information_event_records_the_new_due_at_and_the_extension(case, nurse, integration_client, clock):
    due_before = case.due_at
    pend(case, nurse)
    clock.advance(hours=5)
    case = send_information(case, integration_client)
    detail = last_event(case, CaseEventKind.INFORMATION_RECEIVED).detail
    assert datetime.fromisoformat(detail["due_at"]) == case.due_at
    assert datetime.fromisoformat(detail["previous_due_at"]) == due_before
    assert detail["clock_extension_seconds"] == detail["pended_seconds"] == 5 * 3600
    assert detail["pend_extension_allowance_hours"] == 45 * 24


def test_extension_is_capped_by_the_rule(case, nurse, integration_client, clock):
    due_before = case.due_at  # standard commercial: up to 45 days (29 CFR 2560.503-1(f)(2)(iii))
    pend(case, nurse)
    clock.advance(days=50)
    case = send_information(case, integration_client)
    assert case.due_at == due_before + timedelta(days=45)


def test_cap_counts_every_pend_of_the_case(case, nurse, integration_client, clock):
    due_before = case.due_at
    for _ in range(2):
        pend(case, nurse)
        clock.advance(days=30)
        case = send_information(case, integration_client)
    assert case.due_at == due_before + timedelta(days=45)
    assert last_event(case, CaseEventKind.INFORMATION_RECEIVED).detail["clock_extension_seconds"] == 15 * 86400


def test_medicare_advantage_extension_is_capped_at_14_days(integration_client, nurse, clock):
    case = factories.case(integration_client, line_of_business="medicare_advantage")
    due_before = case.due_at
    pend(case, nurse)
    clock.advance(days=20)
    case = send_information(case, integration_client)
    assert case.due_at == due_before + timedelta(days=14)


def test_rule_without_an_allowance_does_not_move_the_deadline(case, nurse, integration_client, clock):
    DeadlineRule.objects.filter(pk=case.deadline_rule_id).update(pend_extension_hours=0)
    due_before = case.due_at
    pend(case, nurse)
    clock.advance(hours=10)
    assert send_information(case, integration_client).due_at == due_before


def test_information_without_a_pend_leaves_due_at_alone(case, integration_client, clock):
    due_before = case.due_at
    clock.advance(hours=10)
    case = send_information(case, integration_client)
    assert case.due_at == due_before
    assert "clock_extension_seconds" not in last_event(case, CaseEventKind.INFORMATION_RECEIVED).detail


def test_pend_that_ends_without_information_adds_nothing(case, nurse, physician, integration_client, clock):
    due_before = case.due_at
    pend(case, nurse)
    clock.advance(hours=10)
    case_refer_to_physician(case_id=case.pk, user=nurse, summary="Decide without it.")
    clock.advance(hours=10)
    assert send_information(case, integration_client).due_at == due_before


def test_pended_decision_records_the_pend_start_and_extends_the_clock(case, nurse, integration_client, clock):
    due_before = case.due_at
    decision_record(
        case_id=case.pk, user=nurse, lines=[DecisionLineInput(service_line=1, outcome="pended")], citations=[]
    )
    event = last_event(case, CaseEventKind.PENDED)
    assert datetime.fromisoformat(event.detail["pended_at"]) == clock.now
    clock.advance(hours=12)
    assert send_information(case, integration_client).due_at == due_before + timedelta(hours=12)


def test_pending_again_while_pended_keeps_the_original_start(case, nurse, integration_client, clock):
    due_before = case.due_at
    pend(case, nurse)
    clock.advance(hours=6)
    decision_record(
        case_id=case.pk, user=nurse, lines=[DecisionLineInput(service_line=1, outcome="pended")], citations=[]
    )
    clock.advance(hours=4)
    assert send_information(case, integration_client).due_at == due_before + timedelta(hours=10)


@pytest.mark.parametrize(
    ("review_type", "urgency", "line_of_business", "hours"),
    [
        ("prospective", "standard", "", 1080),
        ("prospective", "expedited", "", 48),
        ("prospective", "standard", "medicare_advantage", 336),
        ("prospective", "standard", "medicaid", 336),
        ("prospective", "standard", "chip", 336),
        ("retrospective", "", "", 360),
    ],
)
def test_seeded_rules_carry_their_pend_allowance(review_type, urgency, line_of_business, hours):
    rule = DeadlineRule.objects.get(review_type=review_type, urgency=urgency, line_of_business=line_of_business)
    assert rule.pend_extension_hours == hours


# --- over the API ---------------------------------------------------------------------------


def test_nurse_pends_over_the_api(case, nurse):
    response = client_for(nurse).post(
        f"/api/v1/cases/{case.case_number}/pend", {"needed": "Operative plan"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pended"


def test_client_cannot_pend_over_the_api(case, integration_client):
    response = client_for(integration_client).post(
        f"/api/v1/cases/{case.case_number}/pend", {"needed": "x"}, format="json"
    )
    assert response.status_code == 403


def test_another_client_gets_404_on_pend(case, other_client):
    response = client_for(other_client).post(f"/api/v1/cases/{case.case_number}/pend", {"needed": "x"}, format="json")
    assert response.status_code == 404


def test_pend_of_a_decided_case_is_409_with_current_status_over_the_api(case, nurse):
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
    )
    response = client_for(nurse).post(f"/api/v1/cases/{case.case_number}/pend", {"needed": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["current_status"] == "decided"


def test_pend_without_needed_is_400_naming_it(case, nurse):
    response = client_for(nurse).post(f"/api/v1/cases/{case.case_number}/pend", {}, format="json")
    assert response.status_code == 400
    assert "needed" in response.json()["errors"]

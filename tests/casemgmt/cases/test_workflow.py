"""The case workflow table: which actions each status allows and where they lead; the services
refuse the rest with InvalidTransition, and the case page offers what the table allows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from casemgmt.cases import workflow
from casemgmt.cases.models import OPEN_STATUSES, Case, CaseStatus
from casemgmt.cases.services.assignment import case_claim, case_reassign
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
from casemgmt.cases.services.notes import case_peer_to_peer_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.transitions import (
    case_cancel,
    case_close,
    case_information_add,
    case_refer_to_physician,
)
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import InvalidTransition
from casemgmt.kernel.roles import Role
from casemgmt.workspace.case import actions_offered
from tests import factories

OPEN = ("received", "in_review", "pended", "physician_review")

# Every move the workflow allows, as (from, action, to). Anything else is refused.
LEGAL_MOVES = {
    *(
        (status, action, status)
        for status in OPEN
        for action in ("attach", "note", "peer_to_peer", "reflag", "record_fact")
    ),
    *((status, "decide", "decided") for status in OPEN),
    *((status, "decide_pended", "pended") for status in OPEN),
    # A line referred to a physician: the case goes to physician review, not pended.
    *((status, "decide_referred", "physician_review") for status in OPEN),
    *((status, "cancel", "cancelled") for status in OPEN),
    ("received", "claim", "in_review"),
    ("in_review", "claim", "in_review"),
    ("pended", "claim", "pended"),
    ("physician_review", "claim", "physician_review"),
    ("received", "reassign", "in_review"),
    ("in_review", "reassign", "in_review"),
    ("pended", "reassign", "pended"),
    ("physician_review", "reassign", "physician_review"),
    ("received", "add_information", "received"),
    ("in_review", "add_information", "in_review"),
    ("pended", "add_information", "in_review"),
    ("physician_review", "add_information", "physician_review"),
    ("received", "refer", "physician_review"),
    ("in_review", "refer", "physician_review"),
    ("pended", "refer", "physician_review"),
    ("received", "pend", "pended"),
    ("in_review", "pend", "pended"),
    ("physician_review", "pend", "pended"),
    ("decided", "close", "closed"),
    ("decided", "correct", "decided"),
    ("closed", "correct", "closed"),
    ("decided", "note", "decided"),
    ("closed", "note", "closed"),
    ("cancelled", "note", "cancelled"),
    ("decided", "peer_to_peer", "decided"),
    # The review cycle after a decision (../shared/DOMAIN.md, "After the decision").
    ("decided", "appeal", "decided"),
    ("closed", "appeal", "closed"),
    ("decided", "reopen", "in_review"),
    ("closed", "reopen", "in_review"),
    ("decided", "forward_to_ire", "forwarded_to_ire"),
    ("forwarded_to_ire", "note", "forwarded_to_ire"),
    ("forwarded_to_ire", "attach", "forwarded_to_ire"),
    # Triage at intake: a request none of whose lines needs authorization is answered and closed.
    ("received", "answer_at_intake", "closed"),
}
LEGAL = {(status, action) for status, action, _ in LEGAL_MOVES}
ILLEGAL = sorted((status, action) for status in CaseStatus.values for action in Action if (status, action) not in LEGAL)


# --- the table ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "action", "to"), sorted(LEGAL_MOVES))
def test_each_legal_move_is_allowed_and_leads_where_it_should(status: str, action: str, to: str) -> None:
    assert workflow.allowed(status, Action(action))
    assert workflow.target(status, Action(action)) == to


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_every_other_move_is_refused(status: str, action: str) -> None:
    assert not workflow.allowed(status, Action(action))


def test_every_status_has_a_row() -> None:
    assert set(workflow.TRANSITIONS) == set(CaseStatus)


def test_every_action_says_why_it_is_refused() -> None:
    assert set(workflow.REFUSALS) == set(Action)


def test_the_open_statuses_are_those_a_decision_can_be_recorded_in() -> None:
    assert workflow.statuses_allowing(Action.DECIDE) == tuple(OPEN_STATUSES)


# --- the services enforce it ----------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


@dataclass
class People:
    client: User
    nurse: User
    physician: User
    manager: User


def in_status(client: User, status: str) -> Case:
    """A case put straight into `status`, to try an action on it."""
    case = factories.case(client)
    Case.objects.filter(pk=case.pk).update(status=status)
    case.refresh_from_db()
    return case


ATTEMPTS: dict[str, tuple[str, Callable[[Case, People], Any], str]] = {
    # name: (status the case is in, the attempt, what the refusal says after "case PA-… is ")
    "refer a decided case": (
        "decided",
        lambda case, p: case_refer_to_physician(case_id=case.pk, user=p.nurse, summary="again"),
        "decided; it cannot move to physician review",
    ),
    "pend a pended case": (
        "pended",
        lambda case, p: case_pend_for_information(case_id=case.pk, user=p.nurse, needed="more"),
        "pended for information; it cannot be pended for information",
    ),
    "close a case in review": (
        "in_review",
        lambda case, p: case_close(case_id=case.pk, user=p.manager),
        "in review; it cannot move to closed",
    ),
    "cancel a closed case": (
        "closed",
        lambda case, p: case_cancel(case_id=case.pk, user=p.client),
        "closed; it cannot move to cancelled",
    ),
    "decide a cancelled case": (
        "cancelled",
        lambda case, p: decision_record(
            case_id=case.pk, user=p.nurse, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
        ),
        "cancelled; no decision can be recorded",
    ),
    "correct a case in review": (
        "in_review",
        lambda case, p: decision_record(
            case_id=case.pk,
            user=p.physician,
            lines=[DecisionLineInput(service_line=1, outcome="approved")],
            citations=[],
            correction=True,
        ),
        "in review; only a decided case can be corrected",
    ),
    "record a peer-to-peer on a closed case": (
        "closed",
        lambda case, p: case_peer_to_peer_record(
            case_id=case.pk,
            user=p.physician,
            requesting_physician="Dr. Rivera",
            held_at=timezone.now(),
            summary="Discussed.",
            outcome="upheld",
        ),
        "closed; no discussion can be recorded",
    ),
    "attach to a decided case": (
        "decided",
        lambda case, p: attachment_add(case_id=case.pk, user=p.client, upload=SimpleUploadedFile("x.png", PNG)),
        "decided; it takes no more attachments",
    ),
    "add information to a cancelled case": (
        "cancelled",
        lambda case, p: case_information_add(case_id=case.pk, user=p.client, clinical_facts={}, clinical_notes="x"),
        "cancelled; it takes no more information",
    ),
    "claim a decided case": (
        "decided",
        lambda case, p: case_claim(case_id=case.pk, user=p.nurse),
        "decided; it can no longer be claimed",
    ),
    "reassign a closed case": (
        "closed",
        lambda case, p: case_reassign(case_id=case.pk, user=p.manager, assignee_id=p.nurse.pk),
        "closed; it can no longer be reassigned",
    ),
}


@pytest.fixture
def people(integration_client: User, nurse: User, physician: User, manager: User) -> People:
    return People(integration_client, nurse, physician, manager)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.django_db
@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
def test_a_move_the_table_refuses_is_an_invalid_transition_saying_why(people: People, attempt: str) -> None:
    status, call, said = ATTEMPTS[attempt]
    case = in_status(people.client, status)
    with pytest.raises(InvalidTransition) as refused:
        call(case, people)
    assert refused.value.message == f"case {case.case_number} is {said}"
    assert refused.value.extra["current_status"] == status
    row_version = case.row_version
    case.refresh_from_db()
    assert (case.status, case.row_version) == (status, row_version)


@pytest.mark.django_db
def test_a_move_the_table_allows_goes_where_it_says(people: People) -> None:
    case = in_status(people.client, "pended")
    row_version = case.row_version
    case_refer_to_physician(case_id=case.pk, user=people.nurse, summary="Please look at the imaging.")
    case.refresh_from_db()
    assert case.status == workflow.target("pended", Action.REFER) == CaseStatus.PHYSICIAN_REVIEW
    assert case.row_version == row_version + 1


# --- the case page offers what it allows ----------------------------------------------------

PAGE_ACTIONS = {
    "can_note": Action.NOTE,
    "can_pend": Action.PEND,
    "can_decide": Action.DECIDE,
    "can_refer": Action.REFER,
    "can_peer_to_peer": Action.PEER_TO_PEER,
}


@pytest.mark.parametrize("status", CaseStatus.values)
@pytest.mark.parametrize("role", [Role.NURSE, Role.PHYSICIAN])
def test_the_page_offers_a_reviewer_what_the_workflow_allows(status: str, role: Role) -> None:
    offered = actions_offered(role, status)
    expected = {flag: workflow.allowed(status, action) for flag, action in PAGE_ACTIONS.items()}
    # Referring is a nurse's way to a physician; the peer-to-peer is a physician's discussion.
    expected["can_refer"] &= role == Role.NURSE
    expected["can_peer_to_peer"] &= role == Role.PHYSICIAN
    assert offered == expected


@pytest.mark.parametrize("status", CaseStatus.values)
def test_the_page_offers_nothing_to_someone_acting_in_no_reviewer_role(status: str) -> None:
    assert not any(actions_offered(None, status).values())


def _page(user: User, case: Case) -> str:
    browser = Client()
    browser.force_login(user)
    return browser.get(f"/cases/{case.case_number}/").content.decode()


@pytest.mark.django_db
def test_a_physician_on_a_decided_case_is_offered_the_peer_to_peer_only(people: People) -> None:
    html = _page(people.physician, in_status(people.client, "decided"))
    assert 'id="peer-to-peer"' in html
    assert 'id="decide"' not in html and 'id="pend"' not in html and 'id="refer"' not in html


@pytest.mark.django_db
def test_a_nurse_on_a_pended_case_may_refer_but_not_pend_again(people: People) -> None:
    html = _page(people.nurse, in_status(people.client, "pended"))
    assert 'id="refer"' in html and 'id="decide"' in html
    assert 'id="pend"' not in html

"""Several people act on one case at the same moment: exactly one status change wins.

Each actor runs in its own thread with its own PostgreSQL connection, released together at a
barrier (tests/casemgmt/cases/test_concurrency.py's `at_once`). Four reviewers decide one case at once,
through the service, the API and the case page; or a decision races the client's cancellation
and a pend. Whatever the interleaving, the case ends in one state with exactly one decision (or
none), one matching event, and everyone else is told why (409, or the page's conflict message).

SQLite serializes every writer, so these need PostgreSQL; they skip without it (fail under CI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, Decision, DecisionLine, LineOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.transitions import case_cancel
from casemgmt.kernel.errors import DomainError
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyVersion
from tests import factories
from tests.casemgmt.cases.test_concurrency import at_once, token_client
from tests.services_fixtures import require_postgresql

ROUNDS = 4  # one lucky interleaving proves little

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    require_postgresql(" (SQLite serializes writers)")


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return factories.publish(factories.draft_version(), editor)


def outcome_of(call: Callable[[], Any]) -> Callable[[], str]:
    """Run a service call; 'won' or the domain error's status code, never another exception."""

    def run() -> str:
        try:
            call()
        except DomainError as exc:
            return str(exc.status_code)
        return "won"

    return run


def test_four_deciders_through_three_channels_record_one_decision(
    integration_client: User, version: PolicyVersion
) -> None:
    nurses = [factories.user(f"nurse.race.{i}", Role.NURSE) for i in range(2)]
    physicians = [factories.user(f"dr.race.{i}", Role.PHYSICIAN) for i in range(2)]
    api = token_client(physicians[1])
    page = Client()
    page.force_login(nurses[1])
    for n in range(ROUNDS):
        case = factories.case(integration_client, external_id=f"EHR-RACE-{n}")
        deny = CitationInput(policy_version_id=version.pk, criterion="Investigational.")

        def service_approve(user: User = nurses[0], case: Case = case) -> Any:
            return decision_record(
                case_id=case.pk,
                user=user,
                lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
                citations=[],
            )

        def service_deny(user: User = physicians[0], case: Case = case) -> Any:
            return decision_record(
                case_id=case.pk,
                user=user,
                lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.DENIED, reason="No.")],
                citations=[deny],
                rationale="Investigational.",
            )

        def api_deny(case: Case = case) -> str:
            body = {
                "lines": [{"service_line": 1, "outcome": "denied", "reason": "Investigational."}],
                "citations": [{"policy_version_id": version.pk}],
            }
            status = api.post(f"/api/v1/cases/{case.case_number}/decisions", body, format="json").status_code
            return {201: "won"}.get(status, str(status))

        def page_approve(case: Case = case) -> str:
            response = page.post(
                f"/cases/{case.case_number}/decide",
                {"outcome_1": "approved", "rationale": "Meets.", "row_version": case.row_version},
                follow=True,
            )
            text = response.content.decode()
            if "Decision recorded" in text:
                return "won"
            return "409" if "nothing was saved" in text or "no decision can be recorded" in text else text[:200]

        results = at_once(outcome_of(service_approve), outcome_of(service_deny), api_deny, page_approve)

        assert results.count("won") == 1, results
        assert all(r in ("won", "409") for r in results), results
        assert Decision.objects.filter(case=case).count() == 1
        decision = Decision.objects.get(case=case)
        assert DecisionLine.objects.filter(decision=decision).count() == 1
        assert CaseEvent.objects.filter(case=case, kind=CaseEventKind.DECIDED).count() == 1
        case.refresh_from_db()
        assert case.status == CaseStatus.DECIDED
        assert case.decided_at == decision.decided_at


def test_a_decision_racing_a_cancellation_and_a_pend_leaves_one_consistent_state(
    integration_client: User, nurse: User, version: PolicyVersion
) -> None:
    physician = factories.user("dr.race.cancel", Role.PHYSICIAN)
    for n in range(ROUNDS):
        case = factories.case(integration_client, external_id=f"EHR-CANCEL-{n}")

        def decide(case: Case = case) -> Any:
            return decision_record(
                case_id=case.pk,
                user=physician,
                lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
                citations=[],
            )

        def cancel(case: Case = case) -> Any:
            return case_cancel(case_id=case.pk, user=integration_client, reason="Withdrawn.")

        def pend(case: Case = case) -> Any:
            return case_pend_for_information(
                case_id=case.pk, user=nurse, needed="The MRI report.", expected_row_version=case.row_version
            )

        results = at_once(outcome_of(decide), outcome_of(cancel), outcome_of(pend))
        decided, cancelled, pended = results
        assert all(r in ("won", "409") for r in results), results
        case.refresh_from_db()
        decisions = Decision.objects.filter(case=case).count()
        # The decision and the cancellation end the case: at most one of them can have happened.
        assert (decided, cancelled).count("won") == 1, results
        if decided == "won":
            assert (case.status, decisions) == (CaseStatus.DECIDED, 1)
        else:
            assert (case.status, decisions) == (CaseStatus.CANCELLED, 0)
        # A pend that got in first stays in the history; one that came later was refused.
        events = set(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
        assert (CaseEventKind.PENDED in events) == (pended == "won")

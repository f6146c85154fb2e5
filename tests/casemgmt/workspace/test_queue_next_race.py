"""The "next case" button pressed by several reviewers at once: each gets a different case, nobody waits on
another's lock, and nobody gets an error. PostgreSQL only (SQLite serializes writers; see
tests/casemgmt/cases/test_concurrency.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from casemgmt.cases.models import Case, CaseEventKind
from casemgmt.cases.services.assignment import case_claim_next
from casemgmt.kernel.roles import Role
from tests import factories
from tests.casemgmt.cases.test_concurrency import ROUNDS, at_once
from tests.casemgmt.workspace.test_queue import UNFLAGGED_LINE
from tests.services_fixtures import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    require_postgresql(" (SQLite serializes writers)")


def test_reviewers_pressing_next_case_at_once_never_get_the_same_case(integration_client: User) -> None:
    nurses = [factories.user(f"race.nurse{i}", Role.NURSE) for i in range(3)]
    for _ in range(ROUNDS):
        cases = [factories.case(integration_client, service_lines=UNFLAGGED_LINE) for _ in range(4)]
        taken = at_once(*(lambda nurse=nurse: case_claim_next(user=nurse) for nurse in nurses))
        numbers = [case.case_number for case in taken if case is not None]
        assert len(numbers) == 3 and len(set(numbers)) == 3, numbers
        for case in cases:
            case.refresh_from_db()
        owners = [case.assignee_id for case in cases if case.assignee_id is not None]
        assert sorted(owners) == sorted(nurse.pk for nurse in nurses)
        # One claim event per case taken: no case was claimed twice.
        for number in numbers:
            assert Case.objects.get(case_number=number).events.filter(kind=CaseEventKind.CLAIMED).count() == 1
        Case.objects.filter(assignee__isnull=True, status="received").update(status="cancelled")

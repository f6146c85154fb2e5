"""The guarded change of a row: lock, check row_version and status, write with a new row_version."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.utils import timezone

from casemgmt.cases.models import Case, CaseStatus
from casemgmt.kernel.errors import ConflictError, InvalidTransition, NotFoundError
from casemgmt.kernel.guarded import GuardedRows
from tests import factories

pytestmark = pytest.mark.django_db

CASES = GuardedRows(Case, missing="no such case", name=lambda case: f"case {case.case_number}")
OPEN = (CaseStatus.RECEIVED, CaseStatus.IN_REVIEW)


@pytest.fixture
def case(integration_client: User) -> Case:
    return factories.case(integration_client)


def test_lock_returns_the_row_as_it_is(case: Case) -> None:
    locked = CASES.lock(case.pk, expected_row_version=case.row_version, allowed=OPEN, refusal="no")
    assert (locked.pk, locked.status, locked.row_version) == (case.pk, case.status, case.row_version)


def test_a_missing_row_is_not_found() -> None:
    with pytest.raises(NotFoundError) as refused:
        CASES.lock(0)
    assert refused.value.message == "no such case"


def test_a_row_changed_since_the_caller_saw_it_is_a_conflict(case: Case) -> None:
    with pytest.raises(ConflictError) as refused:
        CASES.lock(case.pk, expected_row_version=case.row_version + 1)
    assert refused.value.message == (f"case {case.case_number} changed since you opened it; reload it and review again")
    assert refused.value.extra["current_status"] == CaseStatus.RECEIVED


def test_without_an_expected_row_version_any_version_is_taken(case: Case) -> None:
    Case.objects.filter(pk=case.pk).update(row_version=F("row_version") + 5)
    assert CASES.lock(case.pk).row_version == case.row_version + 5


def test_a_row_in_a_status_not_allowed_is_an_invalid_transition(case: Case) -> None:
    with pytest.raises(InvalidTransition) as refused:
        CASES.lock(case.pk, allowed=(CaseStatus.DECIDED,), refusal="it cannot do that")
    assert refused.value.message == f"case {case.case_number} is received; it cannot do that"
    assert refused.value.extra["current_status"] == CaseStatus.RECEIVED


def test_the_row_version_is_checked_before_the_status(case: Case) -> None:
    with pytest.raises(ConflictError):
        CASES.lock(case.pk, expected_row_version=case.row_version + 1, allowed=(CaseStatus.DECIDED,))


def test_update_writes_the_values_and_bumps_the_row_version(case: Case) -> None:
    locked = CASES.lock(case.pk)
    now = timezone.now()
    CASES.update(locked, status=CaseStatus.IN_REVIEW, updated_at=now)
    assert (locked.status, locked.row_version) == (CaseStatus.RECEIVED, case.row_version)
    locked.refresh_from_db()
    assert (locked.status, locked.row_version, locked.updated_at) == (CaseStatus.IN_REVIEW, case.row_version + 1, now)


def test_update_of_a_row_that_moved_on_since_its_lock_is_a_conflict(case: Case) -> None:
    locked = CASES.lock(case.pk)
    Case.objects.filter(pk=case.pk).update(row_version=F("row_version") + 1)
    with pytest.raises(ConflictError):
        CASES.update(locked, status=CaseStatus.IN_REVIEW)
    assert Case.objects.get(pk=case.pk).status == CaseStatus.RECEIVED

"""The real worker path: publishing a policy version re-flags open cases in a Celery worker.

These run only against PostgreSQL + Redis (see tests/services_fixtures.py); on the embedded
default they skip, and under CI=true a missing service fails them.
"""

from __future__ import annotations

import pytest

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, Flag, FlagKind
from casemgmt.cases.tasks import policy_version_reflag_open_cases_task
from casemgmt.celery import app
from tests import factories

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REFLAG = policy_version_reflag_open_cases_task.name


def current_flags(case: Case) -> list[tuple[int, str, int | None]]:
    return list(
        Flag.objects.filter(case=case, superseded_at__isnull=True)
        .order_by("id")
        .values_list("id", "kind", "policy_version_id")
    )


def reflag_events(case: Case) -> int:
    return CaseEvent.objects.filter(case=case, kind=CaseEventKind.REFLAGGED).count()


def test_publishing_a_version_reflags_an_open_case_in_the_worker(celery_worker_process, editor, integration_client):
    assert app.conf.task_always_eager is False, "the service-backed run must send tasks to the broker"
    case = factories.case(integration_client)
    assert not [f for f in current_flags(case) if f[1] == FlagKind.INVESTIGATIONAL]

    version = factories.publish(factories.draft_version(codes=[("CPT", "62330", "")]), editor)

    def investigational_flag() -> bool:
        return (FlagKind.INVESTIGATIONAL.value, version.pk) in {(kind, vid) for _id, kind, vid in current_flags(case)}

    celery_worker_process.wait_until(investigational_flag, "the worker to flag the case investigational", timeout=30)
    assert reflag_events(case) == 1
    celery_worker_process.wait_for_tasks(REFLAG, 1)
    log = celery_worker_process.log_text()
    assert f"Task {REFLAG}[" in log and "succeeded" in log


def test_the_same_reflag_task_delivered_again_changes_nothing(celery_worker_process, editor, integration_client):
    started = celery_worker_process.tasks_accepted(REFLAG)
    case = factories.case(integration_client)
    version = factories.publish(factories.draft_version(), editor)
    celery_worker_process.wait_for_tasks(REFLAG, started + 1)
    flags = current_flags(case)
    assert any(kind == FlagKind.INVESTIGATIONAL for _id, kind, _vid in flags)
    all_flags = Flag.objects.filter(case=case).count()
    assert reflag_events(case) == 1

    # At-least-once delivery: Redis may hand the same task over again (late ack, worker lost).
    policy_version_reflag_open_cases_task.delay(version.pk)
    policy_version_reflag_open_cases_task.delay(version.pk)
    celery_worker_process.wait_for_tasks(REFLAG, started + 3)

    assert current_flags(case) == flags, "a repeated delivery must leave the current flags as they are"
    assert Flag.objects.filter(case=case).count() == all_flags
    assert reflag_events(case) == 1

"""A retrospective run through Redis and a real worker process.

These run only against PostgreSQL + Redis (tests/services_fixtures.py); on the embedded default
they skip, and under CI=true a missing service fails them.
"""

from __future__ import annotations

import pytest

from casemgmt.celery import app
from casemgmt.retro.models import RetroResult, RetroReviewItem, RetroRun, RetroRunStatus, RetroTrigger
from tests.casemgmt.retro.conftest import days_ago, decided_case, publish_replacements

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_published_version_is_reviewed_by_the_worker(
    celery_worker_process, library, editor, nurse, physician, integration_client
):
    assert app.conf.task_always_eager is False, "the service-backed run must send tasks to the broker"
    approved = decided_case(integration_client, nurse, code="62330", dos=days_ago(50), cite=[library.a1])
    denied = decided_case(
        integration_client, physician, code="62330", dos=days_ago(50), outcome="denied", cite=[library.a1]
    )
    decided_case(integration_client, nurse, code="62330", dos=days_ago(300), cite=[library.a1])  # before A2

    a2, _e2 = publish_replacements(library, editor)

    run = RetroRun.objects.get(trigger=RetroTrigger.PUBLISH, policy_version=a2)

    def finished() -> bool:
        run.refresh_from_db()
        return run.is_finished

    celery_worker_process.wait_until(finished, "the publish run to finish", timeout=60)
    assert (run.status, run.selected, run.evaluated, run.discrepancies) == (RetroRunStatus.COMPLETED, 2, 2, 1)
    assert set(RetroResult.objects.filter(run=run).values_list("case_id", "outcome")) == {
        (approved.pk, "discrepancy"),
        (denied.pk, "agrees"),
    }
    assert RetroReviewItem.objects.get(run=run).case_id == approved.pk

"""The Celery app: every task under the name stored data knows it by; in-process without a broker."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from casemgmt.cases.tasks import case_flags_refresh_task
from casemgmt.celery import IN_PROCESS_BROKER_URL, app

# Queued messages, the outbox's rows, beat's rows and the audit log's task column carry these names.
STORED_NAMES = {
    "casemgmt.tasks.case_flags_refresh_task",
    "casemgmt.tasks.webhook_deliver_task",
    "casemgmt.tasks.webhook_sweep_task",
    "casemgmt.tasks.authorizations_expire_task",
    "casemgmt.tasks.gold_cards_evaluate_task",
    "casemgmt.tasks.dashboard_snapshot_refresh_task",
    "casemgmt.tasks.dashboard_snapshots_refresh_task",
    "policies_app.tasks.policy_version_reflag_open_cases_task",
    "casemgmt.retro.tasks.retro_run_plan_task",
    "casemgmt.retro.tasks.retro_chunk_process_task",
    "casemgmt.retro.tasks.retro_nightly_task",
    "casemgmt.retro.tasks.retro_sweep_task",
    "casemgmt.fhir.tasks.fhir_notification_deliver_task",
    "casemgmt.fhir.tasks.fhir_notification_sweep_task",
    "casemgmt.fhir.tasks.fhir_heartbeat_task",
}


def test_every_task_is_registered_under_the_name_stored_data_knows_it_by():
    ours = {name for name in app.tasks if name.startswith(("casemgmt.", "policies_app."))}
    assert ours == STORED_NAMES


@pytest.mark.django_db
def test_beat_runs_only_registered_tasks():
    scheduled = set(PeriodicTask.objects.exclude(task__startswith="celery.").values_list("task", flat=True))
    assert scheduled and scheduled <= set(app.tasks)


def test_the_in_process_transport_stands_in_only_for_a_missing_broker():
    assert app.conf.broker_url == (settings.CELERY_BROKER_URL or IN_PROCESS_BROKER_URL)


@pytest.mark.django_db
def test_a_task_run_in_process_names_no_broker(caplog):
    with caplog.at_level(logging.WARNING):
        result = case_flags_refresh_task.delay(0)
    assert result.get() is False
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kombu")] == []

"""task_enqueue_on_commit: the task is a row in the caller's transaction, sent once it commits."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from celery.exceptions import NotRegistered
from django.db import transaction
from django.utils import timezone

from casemgmt.outbox.models import OutboxTask
from casemgmt.outbox.receivers import mark_sent_on_task_prerun
from casemgmt.outbox.services import (
    outbox_relay,
    outbox_task_add,
    outbox_task_started,
    task_enqueue_on_commit,
    tasks_enqueue_on_commit,
)
from tests.casemgmt.outbox.conftest import RECORD, record_ids

pytestmark = pytest.mark.django_db


def test_the_row_is_written_in_the_callers_transaction(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(), transaction.atomic():
        task_enqueue_on_commit(RECORD, 7, 8)
        row = OutboxTask.objects.get()
        assert (row.name, row.args, row.sent_at) == (RECORD, [7, 8], None)
    assert broker.sent == []


def test_a_rolled_back_transaction_leaves_no_row_and_sends_nothing(broker, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        task_enqueue_on_commit(RECORD, 7)
        raise RuntimeError("the write failed")
    assert callbacks == []
    assert not OutboxTask.objects.exists()
    assert broker.sent == []


def test_the_row_is_sent_after_commit_and_left_for_its_worker_to_mark(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        task_enqueue_on_commit(RECORD, 7, 8)
    assert broker.sent == []
    for callback in callbacks:
        callback()
    row = OutboxTask.objects.get()
    assert broker.sent == [(RECORD, (7, 8), f"outbox-{row.pk}")]
    assert row.sent_at is None and row.attempts == 0


def test_the_worker_that_starts_the_task_marks_its_row_sent(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task_enqueue_on_commit(RECORD, 7)
    row = OutboxTask.objects.get()
    mark_sent_on_task_prerun(task_id=f"outbox-{row.pk}", task=record_ids)
    row.refresh_from_db()
    assert row.sent_at is not None
    assert outbox_task_started(task_id=f"outbox-{row.pk}") is False, "marked once"


def test_a_task_not_sent_through_the_outbox_marks_nothing():
    row = outbox_task_add(name=RECORD, args=[7])
    assert outbox_task_started(task_id="0f8fad5b-d9cb-469f-a165-70867728950e") is False
    assert outbox_task_started(task_id="outbox-x") is False
    assert OutboxTask.objects.get(pk=row.pk).sent_at is None


def test_a_row_no_worker_started_in_time_is_sent_again_by_the_relay(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task_enqueue_on_commit(RECORD, 7)
    row = OutboxTask.objects.get()
    assert outbox_relay(limit=10).sent == 0, "the worker has its grace period"
    OutboxTask.objects.filter(pk=row.pk).update(due_at=timezone.now())  # the grace period is over
    assert outbox_relay(limit=10).sent == 1
    assert broker.ids_sent() == [f"outbox-{row.pk}", f"outbox-{row.pk}"]
    row.refresh_from_db()
    assert row.sent_at is not None


def test_the_relay_leaves_a_row_to_the_request_and_its_worker_for_a_grace_period(
    broker, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        task_enqueue_on_commit(RECORD, 7)
    grace = timedelta(seconds=settings.OUTBOX_FAST_PATH_GRACE_SECONDS)
    assert OutboxTask.objects.get().due_at > timezone.now() + grace - timedelta(seconds=5)


def test_in_process_the_task_runs_once_at_commit_and_its_row_is_marked_sent(
    nothing_ran, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        task_enqueue_on_commit(RECORD, 7, 8)
        assert nothing_ran == []
    assert nothing_ran == [(7, 8)]
    assert OutboxTask.objects.get().sent_at is not None


def test_many_rows_of_one_task_are_written_together_and_sent_after_commit(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tasks_enqueue_on_commit(RECORD, [(1,), (2,), (3,)])
    assert [args for _name, args, _id in broker.sent] == [(1,), (2,), (3,)]
    assert sorted(broker.ids_sent()) == sorted(f"outbox-{pk}" for pk in OutboxTask.objects.values_list("pk", flat=True))


def test_a_name_no_app_registered_fails_the_write(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(NotRegistered):
        task_enqueue_on_commit("tests.outbox.no_such_task", 7)
    assert callbacks == []
    assert not OutboxTask.objects.exists()


def test_task_arguments_must_be_integer_ids():
    with pytest.raises(TypeError, match="integer ids"):
        outbox_task_add(name=RECORD, args=["M123"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        outbox_task_add(name=RECORD, args=[True])


def test_a_broker_outage_at_commit_leaves_the_row_for_the_relay_and_the_commit_stands(
    broker, caplog, django_capture_on_commit_callbacks
):
    broker.down = True
    with caplog.at_level(logging.WARNING, logger="casemgmt.outbox"), django_capture_on_commit_callbacks(execute=True):
        task_enqueue_on_commit(RECORD, 7)
    row = OutboxTask.objects.get()
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.last_error.startswith("OperationalError: Error 111")
    assert row.due_at <= timezone.now() + timedelta(seconds=1)
    assert any("broker unavailable (OperationalError)" in r.getMessage() for r in caplog.records)


def test_a_task_that_fails_in_process_stays_unsent(django_capture_on_commit_callbacks, monkeypatch):
    def boom(*ids: int) -> None:
        raise RuntimeError("the task failed")

    monkeypatch.setattr("tests.casemgmt.outbox.conftest.record_ids.run", boom)
    with django_capture_on_commit_callbacks(execute=True):
        task_enqueue_on_commit(RECORD, 7)
    row = OutboxTask.objects.get()
    assert row.sent_at is None
    assert (row.attempts, row.last_error) == (1, "RuntimeError: the task failed")

"""outbox_relay: one pass sends the due rows, backs them off when the broker refuses, skips rows
another relay holds."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from casemgmt.outbox.models import OutboxTask
from casemgmt.outbox.services import backoff_seconds, outbox_relay, outbox_task_add
from tests.casemgmt.outbox.conftest import RECORD
from tests.services_fixtures import require_postgresql

pytestmark = pytest.mark.django_db


def due_row(*args: int, **fields) -> OutboxTask:
    return outbox_task_add(name=RECORD, args=list(args or (1,)), **fields)


def test_the_relay_sends_due_rows_oldest_first_and_marks_them_sent(broker):
    now = timezone.now()
    later = due_row(2, due_at=now - timedelta(seconds=1))
    sooner = due_row(1, due_at=now - timedelta(seconds=5))
    result = outbox_relay(limit=10)
    assert (result.sent, result.backed_off, result.error) == (2, 0, "")
    assert broker.ids_sent() == [f"outbox-{sooner.pk}", f"outbox-{later.pk}"]
    assert OutboxTask.objects.filter(sent_at__isnull=True).count() == 0


def test_a_pass_takes_at_most_its_limit(broker):
    for i in range(5):
        due_row(i)
    assert outbox_relay(limit=3).sent == 3
    assert outbox_relay(limit=3).sent == 2
    assert outbox_relay(limit=3).sent == 0
    assert len(broker.sent) == 5


def test_rows_not_yet_due_wait(broker):
    due_row(1, due_at=timezone.now() + timedelta(minutes=1))
    assert outbox_relay(limit=10).sent == 0
    assert broker.sent == []


def test_sent_rows_are_not_sent_again(broker):
    due_row(1)
    outbox_relay(limit=10)
    outbox_relay(limit=10)
    assert len(broker.sent) == 1


def test_a_broker_error_backs_the_rows_off_and_ends_the_pass(broker):
    first, second = due_row(1), due_row(2)
    broker.down = True
    result = outbox_relay(limit=10)
    assert (result.sent, result.backed_off) == (0, 2)
    assert result.error.startswith("OperationalError")
    for row in (first, second):
        row.refresh_from_db()
        assert row.sent_at is None
        assert row.attempts == 1
        assert row.last_error.startswith("OperationalError: Error 111")
        assert row.due_at > timezone.now()
    broker.down = False
    assert outbox_relay(limit=10).sent == 0, "a backed-off row waits for its new due time"


def test_the_backoff_doubles_up_to_its_cap(settings):
    settings.OUTBOX_MAX_BACKOFF_SECONDS = 60
    assert [backoff_seconds(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_backed_off_row_is_sent_once_due_again(broker):
    row = due_row(1)
    broker.down = True
    outbox_relay(limit=10)
    broker.down = False
    OutboxTask.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert outbox_relay(limit=10).sent == 1
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1


def test_a_row_naming_a_task_no_longer_registered_is_backed_off_and_the_rest_are_sent(broker):
    good = due_row(1)
    OutboxTask.objects.create(name="tests.outbox.removed_task", args=[2])
    result = outbox_relay(limit=10)
    assert (result.sent, result.backed_off) == (1, 1)
    assert broker.ids_sent() == [f"outbox-{good.pk}"]
    stranded = OutboxTask.objects.get(name="tests.outbox.removed_task")
    assert stranded.sent_at is None and "NotRegistered" in stranded.last_error


def test_in_process_the_relay_runs_the_due_rows(nothing_ran):
    due_row(7)
    assert outbox_relay(limit=10).sent == 1
    assert nothing_ran == [(7,)]
    assert OutboxTask.objects.get().sent_at is not None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_row_another_relay_holds_is_skipped(broker):
    require_postgresql(" (SELECT ... FOR UPDATE SKIP LOCKED across two connections)")
    held, free = due_row(1), due_row(2)
    locked, release = threading.Event(), threading.Event()

    def other_relay() -> None:
        try:
            with transaction.atomic():
                list(OutboxTask.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_relay)
    thread.start()
    try:
        assert locked.wait(10)
        result = outbox_relay(limit=10)
    finally:
        release.set()
        thread.join(10)
    assert result.sent == 1
    assert broker.ids_sent() == [f"outbox-{free.pk}"]
    assert outbox_relay(limit=10).sent == 1, "once the other relay lets go, the row is sent"
    assert broker.ids_sent() == [f"outbox-{free.pk}", f"outbox-{held.pk}"]

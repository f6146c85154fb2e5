"""manage.py webhooks_run: with no broker, a failed webhook delivery is retried on its schedule by
the loop `make run` starts beside the server, until delivered or given up; with a broker, the
relay, the worker and beat do the same. None stays pending forever (issue 17, section 6)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from celery import Task, current_app
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from casemgmt.cases.management.commands import webhooks_run
from casemgmt.cases.management.commands.webhooks_run import webhooks_run_loop
from casemgmt.cases.models import WebhookDelivery
from casemgmt.cases.services.webhooks import (
    WEBHOOK_MAX_ATTEMPTS,
    webhook_deliveries_sweep,
    webhook_retry_delay,
    webhook_subscribe,
)
from casemgmt.outbox.models import OutboxTask
from casemgmt.outbox.services import RelayPass, outbox_relay
from tests import factories
from tests.casemgmt.cases.test_webhooks import Receiver

COMMAND = "casemgmt.cases.management.commands.webhooks_run"
# Real commits, as in the process `make run` starts: the sweeper's tasks run when it commits.
committing = pytest.mark.django_db(transaction=True, serialized_rollback=True)
# The fake clock's step between passes: coarser than the loop's default, finer than any backoff.
STEP = 5.0


class Clock:
    """`timezone.now` for the test: stands still during a pass, moves when the loop waits."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(timezone, "now", fake)
    return fake


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    r = Receiver(status=500)
    yield r
    r.close()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[int, ...], str | None]]]:
    """Tasks go to a broker (not run in-process); the list is its queue."""
    queue: list[tuple[str, tuple[int, ...], str | None]] = []

    def apply_async(self: Task, args: Any = None, kwargs: Any = None, task_id: str | None = None, **options: Any):
        queue.append((self.name, tuple(args or ()), task_id))

    monkeypatch.setattr(Task, "apply_async", apply_async)
    saved = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    try:
        yield queue
    finally:
        current_app.conf.task_always_eager = saved


class Recorder:
    """The `wait` given to the loop: moves the clock on and notes when each POST arrived."""

    def __init__(self, clock: Clock, receiver: Receiver) -> None:
        self.clock, self.receiver = clock, receiver
        self.posted_at = [clock.now] * len(receiver.received)

    def __call__(self, seconds: float) -> bool:
        self.note()
        self.clock.advance(seconds)
        return False

    def note(self) -> None:
        self.posted_at += [self.clock.now] * (len(self.receiver.received) - len(self.posted_at))


def _schedule_gaps(posted_at: list[datetime]) -> list[tuple[float, float]]:
    """(seconds between attempt n and n + 1, the backoff after n failures) for each retry."""
    return [
        ((later - earlier).total_seconds(), webhook_retry_delay(n).total_seconds())
        for n, (earlier, later) in enumerate(pairwise(posted_at), start=1)
    ]


# A whole schedule: every backoff, plus slack, in steps of STEP seconds.
SCHEDULE_PASSES = int(sum(webhook_retry_delay(n).total_seconds() for n in range(1, WEBHOOK_MAX_ATTEMPTS)) / STEP) + 40


# --- without a broker: the loop -----------------------------------------------------------------


@committing
def test_without_a_broker_a_failing_delivery_is_retried_on_its_schedule_until_given_up(
    integration_client, receiver, clock
):
    """Issue 17 §6: "A webhook delivery that fails is retried on its schedule ... without [a
    broker] by a process that `make run` starts beside the server. None stays pending forever."
    """
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)  # the first attempt is made at commit, in this process
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)

    recorder = Recorder(clock, receiver)
    webhooks_run_loop(threading.Event(), interval=STEP, passes=SCHEDULE_PASSES, wait=recorder)
    recorder.note()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", WEBHOOK_MAX_ATTEMPTS, "HTTP 500")
    assert len(receiver.received) == WEBHOOK_MAX_ATTEMPTS
    for gap, backoff in _schedule_gaps(recorder.posted_at):
        assert backoff <= gap < backoff + STEP, "each retry is made when due, not before, not much after"
    assert not OutboxTask.objects.filter(sent_at__isnull=True).exists(), "nothing is left scheduled"


@committing
def test_without_a_broker_a_retried_delivery_is_delivered_once_the_receiver_recovers(
    integration_client, receiver, clock
):
    """Issue 17 §6: a failed delivery is retried on its schedule without a broker, and a retry
    that succeeds ends it as delivered."""
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)
    webhooks_run_loop(threading.Event(), interval=STEP, passes=4, wait=clock.advance)  # 8 s backoff: retried
    receiver.status = 200
    webhooks_run_loop(threading.Event(), interval=STEP, passes=10, wait=clock.advance)  # 16 s backoff

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 3, "")
    assert len(receiver.received) == 3


@committing
def test_without_a_broker_a_delivery_whose_message_was_lost_is_made_by_the_sweeper(
    integration_client, receiver, clock, settings, monkeypatch
):
    """Issue 17 §6: "None stays pending forever": a delivery whose task is gone (the web process
    died before running it) is queued again by the loop's sweeper once stalled, and made."""
    receiver.status = 200
    webhook_subscribe(client=integration_client, url=receiver.url)
    with monkeypatch.context() as died:
        died.setattr("casemgmt.outbox.services.outbox_send", lambda *, messages: 0)
        factories.case(integration_client)
    OutboxTask.objects.all().delete()

    passes = int(settings.WEBHOOK_STALL_SECONDS / STEP) + 3
    totals = webhooks_run_loop(threading.Event(), interval=STEP, passes=passes, wait=clock.advance)

    assert totals.requeued == 1
    assert WebhookDelivery.objects.get().status == "delivered"
    assert len(receiver.received) == 1


# --- with a broker: the relay, the worker and beat ----------------------------------------------


@committing
def test_with_a_broker_a_failing_delivery_is_retried_on_its_schedule_until_given_up(
    integration_client, receiver, clock, broker
):
    """Issue 17 §6: "A webhook delivery that fails is retried on its schedule in both modes:
    with a broker by the worker". The relay sends each retry when due, a worker makes it, beat
    runs the sweeper every minute; the delivery ends given up."""
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)  # its task is in the broker's queue
    recorder = Recorder(clock, receiver)
    seconds = 0.0
    for _ in range(SCHEDULE_PASSES):
        outbox_relay(limit=100)
        if seconds % 60 == 0:
            webhook_deliveries_sweep()  # beat's "webhooks: sweeper"
        while broker:  # the worker
            name, args, task_id = broker.pop(0)
            current_app.tasks[name].apply(args=args, task_id=task_id, throw=True)
        recorder(STEP)
        seconds += STEP
    recorder.note()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", WEBHOOK_MAX_ATTEMPTS)
    assert len(receiver.received) == WEBHOOK_MAX_ATTEMPTS
    for gap, backoff in _schedule_gaps(recorder.posted_at):
        assert backoff <= gap < backoff + STEP


@pytest.mark.django_db
def test_the_command_refuses_to_start_with_a_broker(broker):
    """Issue 17 §6: with a broker the worker retries deliveries; the embedded loop is not for it."""
    with pytest.raises(CommandError, match="a broker is configured"):
        call_command("webhooks_run")


# --- the process ---------------------------------------------------------------------------------


@pytest.fixture
def keep_the_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop drops broken connections between passes; inside the test's transaction that
    would close the test's own."""
    monkeypatch.setattr(f"{COMMAND}.close_old_connections", lambda: None)


@pytest.mark.django_db
def test_the_command_stops_cleanly_on_sigterm(keep_the_test_connection, capsys):
    """`make run` stops the loop with SIGTERM when the server stops: it ends its pass and exits."""
    previous = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        call_command("webhooks_run", "--interval", "0.05")
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGTERM) is previous
    assert "webhooks: stopped after" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_command_stops_cleanly_on_sigint(keep_the_test_connection, capsys):
    """Ctrl-C in `make run` reaches the loop as SIGINT: it stops as on SIGTERM."""
    previous = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        call_command("webhooks_run", "--interval", "0.05")
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGINT) is previous
    assert "webhooks: stopped after" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_loop_keeps_going_through_a_database_error(keep_the_test_connection, monkeypatch):
    """A database that goes away for a pass does not end the loop (SQLite busy, a restart)."""
    calls: list[int] = []

    def flaky(*, limit: int) -> RelayPass:
        calls.append(limit)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return RelayPass()

    monkeypatch.setattr(f"{COMMAND}.outbox_relay", flaky)
    totals = webhooks_run_loop(threading.Event(), interval=0.01, passes=3, wait=lambda seconds: None)
    assert (totals.passes, len(calls)) == (3, 3)


def test_the_command_refuses_a_zero_interval():
    """--interval 0 would spin: refused."""
    with pytest.raises(CommandError, match="--interval"):
        call_command("webhooks_run", "--interval", "0")


def test_the_loop_stops_between_passes_when_asked():
    """A stop request is honoured before the next pass."""
    stop = threading.Event()
    stop.set()
    assert webhooks_run.webhooks_run_loop(stop).passes == 0

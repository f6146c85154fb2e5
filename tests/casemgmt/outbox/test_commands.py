"""manage.py outbox_relay (the loop, its heartbeat, a clean stop) and outbox_check (the health check)."""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from casemgmt.outbox import services
from casemgmt.outbox.models import OutboxRelayHeartbeat, OutboxTask
from casemgmt.outbox.services import outbox_relay_heartbeat, outbox_task_add
from tests.casemgmt.outbox.conftest import RECORD

pytestmark = pytest.mark.django_db

COMMAND = "casemgmt.outbox.management.commands.outbox_relay"


@pytest.fixture(autouse=True)
def keep_the_test_connection(monkeypatch):
    """The relay drops broken connections between passes; inside the test's transaction that
    would close the test's own."""
    monkeypatch.setattr(f"{COMMAND}.close_old_connections", lambda: None)


@pytest.fixture
def heartbeats(monkeypatch) -> list[tuple[str, int]]:
    beats: list[tuple[str, int]] = []

    def recording(*, relay: str, started_at, sent: int) -> None:
        beats.append((relay, sent))
        outbox_relay_heartbeat(relay=relay, started_at=started_at, sent=sent)

    monkeypatch.setattr(f"{COMMAND}.outbox_relay_heartbeat", recording)
    return beats


def test_once_sends_the_due_rows_and_exits(broker, capsys):
    row = outbox_task_add(name=RECORD, args=[1])
    call_command("outbox_relay", "--once")
    assert broker.ids_sent() == [f"outbox-{row.pk}"]
    assert "stopped, 1 task(s) sent" in capsys.readouterr().out


def test_the_relay_beats_while_it_runs_and_stops_cleanly_on_sigterm(broker, heartbeats, capsys):
    outbox_task_add(name=RECORD, args=[1])
    previous = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        call_command("outbox_relay", "--idle", "0.05")
    finally:
        timer.cancel()
    assert len(broker.sent) == 1
    assert heartbeats and heartbeats[0][0].endswith(f":{os.getpid()}")
    assert not OutboxRelayHeartbeat.objects.exists(), "a relay that stops cleanly removes its heartbeat"
    assert signal.getsignal(signal.SIGTERM) is previous
    assert "stopped, 1 task(s) sent" in capsys.readouterr().out


def test_the_relay_keeps_going_through_a_database_error(broker, monkeypatch, capsys):
    from django.db import OperationalError

    calls = []

    def flaky(*, limit: int) -> services.RelayPass:
        calls.append(limit)
        if len(calls) == 1:
            raise OperationalError("the database is restarting")
        os.kill(os.getpid(), signal.SIGINT)
        return services.RelayPass()

    monkeypatch.setattr(f"{COMMAND}.outbox_relay", flaky)
    call_command("outbox_relay", "--idle", "0.01")
    assert len(calls) == 2


def test_check_passes_in_process_with_nothing_overdue(capsys):
    call_command("outbox_check")
    report = json.loads(capsys.readouterr().out)
    assert report["in_process"] is True and report["problems"] == []
    assert report["unsent"] == report["overdue"] == 0


def test_check_fails_with_a_broker_and_no_relay_alive(broker, capsys):
    with pytest.raises(CommandError, match="no outbox relay has reported"):
        call_command("outbox_check")


def test_check_passes_with_a_live_relay(broker, capsys):
    outbox_relay_heartbeat(relay="host:1", started_at=timezone.now(), sent=0)
    call_command("outbox_check")
    report = json.loads(capsys.readouterr().out)
    assert report["relays"] == 1 and report["relay_heartbeat_seconds"] < 5


def test_check_fails_when_a_row_is_overdue_too_long(capsys):
    outbox_task_add(name=RECORD, args=[1], due_at=timezone.now() - timedelta(minutes=10))
    outbox_task_add(name=RECORD, args=[2], due_at=timezone.now() + timedelta(minutes=10))
    with pytest.raises(CommandError, match="a task has been due for"):
        call_command("outbox_check", "--max-overdue", "300")
    report = json.loads(capsys.readouterr().out)
    assert (report["unsent"], report["overdue"]) == (2, 1)
    assert report["oldest_overdue_seconds"] >= 600


def test_the_relay_purges_old_sent_rows_and_silent_relays(settings):
    settings.OUTBOX_KEEP_SENT_HOURS = 1
    now = timezone.now()
    old = OutboxTask.objects.create(name=RECORD, args=[1], created_at=now, sent_at=now - timedelta(hours=2))
    recent = OutboxTask.objects.create(name=RECORD, args=[2], created_at=now, sent_at=now)
    unsent = OutboxTask.objects.create(name=RECORD, args=[3], created_at=now - timedelta(days=9))
    OutboxRelayHeartbeat.objects.create(relay="gone:1", started_at=now, beat_at=now - timedelta(days=2))
    assert services.outbox_purge() == (1, 1)
    assert set(OutboxTask.objects.values_list("pk", flat=True)) == {recent.pk, unsent.pk}
    assert not OutboxTask.objects.filter(pk=old.pk).exists()

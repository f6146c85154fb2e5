"""Fixtures for the outbox's tests: a task that records its runs, and a broker whose sends are
recorded (or refused) instead of made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery import Task, shared_task
from kombu.exceptions import OperationalError as BrokerError

from casemgmt.celery import app

RECORD = "tests.outbox.record_ids"
ran: list[tuple[int, ...]] = []


@shared_task(name=RECORD)
def record_ids(*ids: int) -> None:
    ran.append(ids)


@pytest.fixture(autouse=True)
def nothing_ran() -> Iterator[list[tuple[int, ...]]]:
    ran.clear()
    yield ran
    ran.clear()


@dataclass
class Broker:
    """Stands in for the broker: records each message sent (task name, args, task id), or refuses
    every send while `down`."""

    sent: list[tuple[str, tuple[Any, ...], str | None]] = field(default_factory=list)
    down: bool = False

    def ids_sent(self) -> list[str | None]:
        return [task_id for _name, _args, task_id in self.sent]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    """Tasks go to a broker (not run in-process), which this fixture plays."""
    fake = Broker()

    def apply_async(self: Task, args: Any = None, kwargs: Any = None, task_id: str | None = None, **options: Any):
        if fake.down:
            raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        fake.sent.append((self.name, tuple(args or ()), task_id))

    monkeypatch.setattr(Task, "apply_async", apply_async)
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield fake
    finally:
        app.conf.task_always_eager = saved

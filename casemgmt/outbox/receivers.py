"""How the outbox hears that a worker has started one of its tasks. Connected in OutboxConfig.ready()."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import DatabaseError

from casemgmt.outbox.services import outbox_task_started

log = logging.getLogger(__name__)


def mark_sent_on_task_prerun(task_id: str | None = None, task: Task | None = None, **kwargs: Any) -> None:
    """A worker starts a task: its outbox row, if any, is marked sent. (A task run in-process is
    marked by the sender, once it has run.) A database error only leaves the row for the relay to
    send again, which the task tolerates: it must not stop the task."""
    if task_id is None or task is None or task.request.is_eager:
        return
    try:
        outbox_task_started(task_id=task_id)
    except DatabaseError as exc:
        log.warning("outbox: could not mark task %s started (%s)", task_id, type(exc).__name__)

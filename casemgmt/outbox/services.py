"""Writes of the task outbox: adding tasks in the caller's transaction, sending them after
commit, relaying what is left, and the relays' bookkeeping.

Every task the app sends goes through here. The row is written in the transaction of the change
that calls for it, so a rollback takes it back and a commit keeps it whatever the broker does.
After the commit the request sends its own rows at once (the fast path) and the worker that
starts a task marks its row sent; a row still unsent once due (the broker was down, the process
died before sending, the broker lost the message before a worker took it) is sent by the relay
(`manage.py outbox_relay`), which retries with backoff until the broker takes it and marks it
sent. Delivery is at least once: a row can be sent twice (the relay after a worker slower than
the row's grace period, or a send that reached the broker before its mark was written), so
every task is idempotent. Each message's task id is `outbox-<row id>`.

With no broker (CELERY_TASK_ALWAYS_EAGER) the same rows are written and the tasks run in this
process when the transaction commits, then their rows are marked sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import Task, current_app
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from casemgmt.outbox.models import OutboxRelayHeartbeat, OutboxTask

log = logging.getLogger(__name__)

TASK_ID_PREFIX = "outbox-"
# A broker that is down must fail a send within seconds, never hang a request or the relay: one
# immediate retry, which reopens a pooled connection the broker closed when it restarted, then
# the error. (The connect and socket timeouts that bound each try are in settings.)
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
ERROR_LIMIT = 500


@dataclass(frozen=True)
class Message:
    """What sending a row needs: its id, the task's name and arguments."""

    pk: int
    name: str
    args: tuple[int, ...]

    @property
    def task_id(self) -> str:
        return f"{TASK_ID_PREFIX}{self.pk}"


@dataclass
class RelayPass:
    """What one relay pass did: rows sent, rows backed off, and the error that ended it."""

    sent: int = 0
    backed_off: int = 0
    error: str = ""


def _registered(name: str) -> Task:
    """The task registered under `name`; NotRegistered (at the write, not the send) if none is."""
    return current_app.tasks[name]


def _checked_args(name: str, args: Sequence[int]) -> list[int]:
    if not all(type(arg) is int for arg in args):
        raise TypeError(f"{name}: task arguments must be integer ids, got {args!r}")
    return list(args)


def _in_process() -> bool:
    return bool(current_app.conf.task_always_eager)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]


def backoff_seconds(attempts: int) -> int:
    """How long a row waits after its `attempts`-th failed send: 1, 2, 4 ... seconds, capped."""
    return int(min(settings.OUTBOX_MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


# --- adding -------------------------------------------------------------------------------------


def outbox_task_add(*, name: str, args: Sequence[int], due_at: datetime | None = None) -> OutboxTask:
    """Write one task to send, in the caller's transaction; the relay sends it once `due_at` (now
    by default) has passed. `name` must be a registered task: checked here, so a typo fails the
    write, not a send nobody watches."""
    _registered(name)
    now = timezone.now()
    return OutboxTask.objects.create(name=name, args=_checked_args(name, args), created_at=now, due_at=due_at or now)


def outbox_tasks_add(
    *, name: str, args_list: Iterable[Sequence[int]], due_at: datetime | None = None
) -> list[OutboxTask]:
    """`outbox_task_add` for many argument lists of one task, in one statement."""
    _registered(name)
    now = timezone.now()
    return OutboxTask.objects.bulk_create(
        OutboxTask(name=name, args=_checked_args(name, args), created_at=now, due_at=due_at or now)
        for args in args_list
    )


def task_enqueue_on_commit(name: str, *args: int) -> None:
    """Send the task registered under `name`, with these ids, once the current transaction commits.

    The row is written now; after the commit this process sends it (or, with no broker, runs it).
    If that fails the commit still stands and the relay sends the row later. Services name the
    task instead of importing it, because the tasks modules import the services.
    """
    tasks_enqueue_on_commit(name, [args])


def tasks_enqueue_on_commit(name: str, args_list: Iterable[Sequence[int]]) -> None:
    """`task_enqueue_on_commit` for many argument lists of one task: one insert, one send after commit."""
    args_list = list(args_list)
    if not args_list:
        return
    # The relay leaves the rows to this process, and then to the worker, for this long.
    due_at = timezone.now() + timedelta(seconds=settings.OUTBOX_FAST_PATH_GRACE_SECONDS)
    if len(args_list) == 1:
        rows = [outbox_task_add(name=name, args=args_list[0], due_at=due_at)]
    else:
        rows = outbox_tasks_add(name=name, args_list=args_list, due_at=due_at)
    messages = [Message(row.pk, name, tuple(row.args)) for row in rows]

    # A named function, not functools.partial: Django's robust on_commit logs the callback's
    # __qualname__ if it ever fails.
    def send_after_commit() -> None:
        outbox_send(messages=messages)

    transaction.on_commit(send_after_commit, robust=True)


# --- sending ------------------------------------------------------------------------------------


def outbox_send(*, messages: Sequence[Message]) -> int:
    """Send these committed rows now; returns how many went. Never raises: a row not sent is
    backed off and left for the relay.

    With a broker the rows are not marked here: the worker that starts each task marks its row
    (`outbox_task_started`), so a request pays for one insert and nothing after its commit, and
    a message the broker loses before a worker takes it is sent again by the relay. With no
    broker the tasks run here and their rows are marked sent as they finish.
    """
    sent: list[int] = []
    failed: dict[int, str] = {}
    in_process = _in_process()
    try:
        for message in messages:
            task = _registered(message.name)
            if in_process:
                try:
                    task.apply_async(message.args, task_id=message.task_id)
                except Exception as exc:
                    log.exception("outbox: task %s (%s) failed in process", message.name, message.task_id)
                    failed[message.pk] = _error_text(exc)
                    continue
            else:
                task.apply_async(message.args, task_id=message.task_id, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
            sent.append(message.pk)
    except Exception as exc:
        log.warning(
            "outbox: broker unavailable (%s); the relay will send %d task(s)",
            type(exc).__name__,
            len(messages) - len(sent),
        )
        error = _error_text(exc)
        failed = {m.pk: error for m in messages if m.pk not in sent}
    try:
        if in_process:
            _mark_sent(sent)
        _back_off({pk: (0, error) for pk, error in failed.items()})
    except DatabaseError as exc:
        # The tasks went out (or ran); their rows are sent again later, harmlessly.
        log.warning("outbox: could not record %d task(s) (%s)", len(messages), type(exc).__name__)
    return len(sent)


def outbox_task_started(*, task_id: str) -> bool:
    """A worker has started the task `task_id`: mark its row sent, if it came from the outbox and
    was not marked yet. Returns whether a row was marked."""
    if not task_id.startswith(TASK_ID_PREFIX) or not task_id[len(TASK_ID_PREFIX) :].isdigit():
        return False
    pk = int(task_id[len(TASK_ID_PREFIX) :])
    return bool(OutboxTask.objects.filter(pk=pk, sent_at__isnull=True).update(sent_at=timezone.now()))


def _mark_sent(pks: Sequence[int]) -> None:
    if pks:
        OutboxTask.objects.filter(pk__in=pks, sent_at__isnull=True).update(sent_at=timezone.now())


def _back_off(rows: dict[int, tuple[int, str]]) -> None:
    """Record a failed send of each row (pk: (attempts so far, error)) and move its due time on."""
    now = timezone.now()
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for pk, (attempts, error) in rows.items():
        groups[(attempts + 1, error)].append(pk)
    for (attempts, error), pks in groups.items():
        OutboxTask.objects.filter(pk__in=pks, sent_at__isnull=True).update(
            attempts=attempts, last_error=error, due_at=now + timedelta(seconds=backoff_seconds(attempts))
        )


def outbox_relay(*, limit: int) -> RelayPass:
    """One pass of the relay: send up to `limit` due unsent rows, oldest due first, and mark them
    sent. On a broker error the rows are backed off and the pass ends.

    Where the database can (PostgreSQL), the rows are locked with SKIP LOCKED for the pass, so
    several relays share the work without sending a row twice; elsewhere (SQLite) run one relay.
    """
    if _in_process():
        return _relay_in_process(limit)
    result = RelayPass()
    with transaction.atomic():
        due = OutboxTask.objects.filter(sent_at__isnull=True, due_at__lte=timezone.now()).order_by("due_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        rows = list(due.values_list("pk", "name", "args", "attempts")[:limit])
        if not rows:
            return result
        messages: list[Message] = []
        tasks: dict[str, Task] = {}
        unknown: dict[int, tuple[int, str]] = {}
        for pk, name, args, attempts in rows:
            if name not in current_app.tasks:
                unknown[pk] = (attempts, f"NotRegistered: no task is registered as {name!r}")
                continue
            tasks[name] = current_app.tasks[name]
            messages.append(Message(pk, name, tuple(args)))
        try:
            _publish(messages, tasks)
        except Exception as exc:
            log.warning("outbox relay: broker unavailable (%s); %d task(s) backed off", type(exc).__name__, len(rows))
            error = _error_text(exc)
            _back_off({**unknown, **{pk: (attempts, error) for pk, _n, _a, attempts in rows if pk not in unknown}})
            return RelayPass(backed_off=len(rows), error=error)
        _mark_sent([m.pk for m in messages])
        _back_off(unknown)
    result.sent, result.backed_off = len(messages), len(unknown)
    return result


def _publish(messages: Sequence[Message], tasks: dict[str, Task]) -> None:
    """Send the messages to the broker in one pipelined batch (where the transport can); raises
    the broker's error, after which any of them may or may not have been sent."""
    with current_app.producer_or_acquire() as producer, producer.batch(max(1, len(messages))):
        for message in messages:
            tasks[message.name].apply_async(
                message.args, task_id=message.task_id, producer=producer, retry=True, retry_policy=PUBLISH_RETRY_POLICY
            )


def _relay_in_process(limit: int) -> RelayPass:
    """With no broker: run the due rows here, one by one, each marked as it finishes."""
    rows = list(
        OutboxTask.objects.filter(sent_at__isnull=True, due_at__lte=timezone.now())
        .order_by("due_at")
        .values_list("pk", "name", "args")[:limit]
    )
    sent = outbox_send(messages=[Message(pk, name, tuple(args)) for pk, name, args in rows])
    return RelayPass(sent=sent, backed_off=len(rows) - sent)


# --- the relays' bookkeeping --------------------------------------------------------------------


def outbox_relay_heartbeat(*, relay: str, started_at: datetime, sent: int) -> None:
    """Record that the relay process `relay` (host:pid) is alive and has sent `sent` tasks."""
    OutboxRelayHeartbeat.objects.update_or_create(
        relay=relay, defaults={"started_at": started_at, "beat_at": timezone.now(), "sent": sent}
    )


def outbox_relay_stopped(*, relay: str) -> None:
    """A relay that stops cleanly removes its heartbeat, so the health check sees only live ones."""
    OutboxRelayHeartbeat.objects.filter(relay=relay).delete()


def outbox_purge(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete sent rows older than OUTBOX_KEEP_SENT_HOURS and heartbeats of relays silent for a
    day; returns how many of each. Sent rows are kept a while to trace a message to its cause."""
    now = now or timezone.now()
    before = now - timedelta(hours=settings.OUTBOX_KEEP_SENT_HOURS)
    tasks = 0
    while True:
        batch = list(OutboxTask.objects.filter(sent_at__lt=before).values_list("pk", flat=True)[:10_000])
        if not batch:
            break
        tasks += OutboxTask.objects.filter(pk__in=batch).delete()[0]
    heartbeats = OutboxRelayHeartbeat.objects.filter(beat_at__lt=now - timedelta(days=1)).delete()[0]
    return tasks, heartbeats

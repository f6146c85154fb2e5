"""`manage.py webhooks_run`: with no broker, make the webhook deliveries' retries when they fall
due and find the deliveries whose message was lost, until told to stop.

With a broker the outbox relay sends a retry's task when it is due, a worker makes it, and
beat's *webhooks: sweeper* queues again a delivery whose message went missing. With none, tasks
run in the web process when the change that sends them commits, so a retry scheduled for later
has nothing to run it: this command stands in for all three, beside the server (`make run`
starts it). A retry is a task in the outbox, due at the delivery's next attempt, so each pass
runs the outbox's due tasks in this process (any other task that failed in the web process is
run again with them, as the relay would send it) and then the sweeper.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from celery import current_app
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from casemgmt.cases.services.webhooks import webhook_deliveries_sweep
from casemgmt.outbox.services import outbox_purge, outbox_relay

log = logging.getLogger("casemgmt.cases.webhooks_run")

INTERVAL_SECONDS = 2.0
# Small, so a stop request waits for few attempts: each may take the POST's 5 s timeout.
BATCH = 10
PURGE_SECONDS = 600.0


@dataclass
class Totals:
    """What the loop has done: passes made, due tasks run, deliveries queued again."""

    passes: int = 0
    ran: int = 0
    requeued: int = 0


def webhooks_run_loop(
    stop: threading.Event,
    *,
    interval: float = INTERVAL_SECONDS,
    batch: int = BATCH,
    passes: int | None = None,
    wait: Callable[[float], object] | None = None,
) -> Totals:
    """Pass after pass until `stop` is set (or `passes` have been made), `wait(interval)` between
    them (`stop.wait` unless given): run the outbox's due tasks, a batch at a time while batches
    come back full, then the webhook sweeper."""
    wait = wait or stop.wait
    totals = Totals()
    last_purge = float("-inf")
    while not stop.is_set():
        ran = requeued = 0
        try:
            # The database may have gone away since the last pass: drop a broken connection.
            close_old_connections()
            while not stop.is_set():
                result = outbox_relay(limit=batch)
                ran += result.sent
                if result.sent + result.backed_off < batch:
                    break
            requeued = webhook_deliveries_sweep()
            if time.monotonic() - last_purge >= PURGE_SECONDS:
                outbox_purge()
                last_purge = time.monotonic()
        except DatabaseError as exc:
            log.warning("webhooks: database unavailable (%s); retrying", type(exc).__name__)
        if ran or requeued:
            log.info("webhooks: %d due task(s) run, %d delivery(ies) queued again", ran, requeued)
        totals.passes += 1
        totals.ran += ran
        totals.requeued += requeued
        if passes is not None and totals.passes >= passes:
            break
        wait(interval)
    return totals


class Command(BaseCommand):
    help = (
        "Without a broker: every --interval seconds, run the outbox's due tasks in this process "
        "(webhook retries among them) and the webhook sweeper, until SIGTERM or SIGINT. Refuses "
        "to start when CELERY_BROKER_URL is set: then the relay, the worker and beat do this."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=INTERVAL_SECONDS, help="Seconds between passes.")
        parser.add_argument("--batch", type=int, default=BATCH, help="Tasks run per outbox pass.")

    def handle(self, *args: Any, interval: float, batch: int, **options: Any) -> None:
        if not current_app.conf.task_always_eager:
            raise CommandError(
                "a broker is configured (CELERY_BROKER_URL): the outbox relay, the worker and beat retry "
                "webhook deliveries (make relay, make worker); this command is for the embedded mode"
            )
        if batch < 1 or interval <= 0:
            raise CommandError("--batch must be at least 1 and --interval above 0")
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            log.info("webhooks: %s received, stopping after this pass", signal.Signals(signum).name)
            stop.set()

        previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        log.info("webhooks: started, a pass every %gs (no broker: retries run here)", interval)
        try:
            totals = webhooks_run_loop(stop, interval=interval, batch=batch)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write(
            f"webhooks: stopped after {totals.passes} pass(es), {totals.ran} task(s) run, "
            f"{totals.requeued} delivery(ies) queued again"
        )

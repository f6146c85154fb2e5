"""`manage.py outbox_relay`: send the outbox's due tasks to the broker until told to stop."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from casemgmt.outbox.services import outbox_purge, outbox_relay, outbox_relay_heartbeat, outbox_relay_stopped

log = logging.getLogger("casemgmt.outbox.relay")

HEARTBEAT_SECONDS = 5.0
PURGE_SECONDS = 600.0


class Command(BaseCommand):
    help = (
        "Send due tasks from the outbox to the broker, in passes, until SIGTERM or SIGINT; "
        "sleeps --idle seconds when a pass finds less than a batch. Several may run (PostgreSQL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument("--batch", type=int, default=settings.OUTBOX_RELAY_BATCH, help="Rows per pass.")
        parser.add_argument(
            "--idle",
            type=float,
            default=settings.OUTBOX_RELAY_IDLE_MS / 1000,
            help="Seconds to wait after a pass that found less than a batch.",
        )

    def handle(self, *args: Any, once: bool, batch: int, idle: float, **options: Any) -> None:
        if batch < 1 or idle <= 0:
            raise CommandError("--batch must be at least 1 and --idle above 0")
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            log.info("outbox relay: %s received, stopping after this pass", signal.Signals(signum).name)
            stop.set()

        previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._run(stop, once=once, batch=batch, idle=idle)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run(self, stop: threading.Event, *, once: bool, batch: int, idle: float) -> None:
        relay = f"{socket.gethostname()}:{os.getpid()}"
        started_at = timezone.now()
        sent = 0
        last_beat = last_purge = float("-inf")
        log.info("outbox relay %s: started (batch %d, idle %.2fs)", relay, batch, idle)
        while not stop.is_set():
            full = False
            try:
                # The database may have gone away since the last pass: drop a broken connection.
                close_old_connections()
                result = outbox_relay(limit=batch)
                sent += result.sent
                full = result.sent + result.backed_off >= batch and not result.error
                now = time.monotonic()
                if now - last_beat >= HEARTBEAT_SECONDS:
                    outbox_relay_heartbeat(relay=relay, started_at=started_at, sent=sent)
                    last_beat = now
                if now - last_purge >= PURGE_SECONDS:
                    outbox_purge()
                    last_purge = now
            except DatabaseError as exc:
                log.warning("outbox relay: database unavailable (%s); retrying", type(exc).__name__)
            if once:
                break
            if not full:
                stop.wait(idle)
        try:
            close_old_connections()
            outbox_relay_stopped(relay=relay)
        except DatabaseError:
            pass  # its heartbeat just ages out
        self.stdout.write(f"outbox relay {relay}: stopped, {sent} task(s) sent")

"""Reads of the task outbox: how much is waiting and whether a relay is alive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from casemgmt.outbox.models import OutboxRelayHeartbeat, OutboxTask


@dataclass(frozen=True)
class OutboxStatus:
    """`unsent`: rows not yet marked sent (tasks no worker has started yet, retries scheduled
    for later); `overdue`: those whose due time has passed, the relay's work; `oldest_overdue_seconds`: how long the longest-waiting one has been due;
    `relay_heartbeat_seconds`: how long ago the most recent relay said it was alive (None: no
    relay has)."""

    unsent: int
    overdue: int
    oldest_overdue_seconds: float | None
    relay_heartbeat_seconds: float | None
    relays: int

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "unsent": self.unsent,
            "overdue": self.overdue,
            "oldest_overdue_seconds": self.oldest_overdue_seconds,
            "relay_heartbeat_seconds": self.relay_heartbeat_seconds,
            "relays": self.relays,
        }


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def outbox_status(*, now: datetime | None = None, relay_alive_seconds: int = 60) -> OutboxStatus:
    """The outbox's figures for the health checks; `relays` counts relays heard from within
    `relay_alive_seconds`."""
    now = now or timezone.now()
    unsent = OutboxTask.objects.filter(sent_at__isnull=True).aggregate(
        unsent=Count("pk"),
        overdue=Count("pk", filter=Q(due_at__lte=now)),
        oldest_due=Min("due_at", filter=Q(due_at__lte=now)),
    )
    beats = OutboxRelayHeartbeat.objects.aggregate(
        latest=Max("beat_at"),
        alive=Count("pk", filter=Q(beat_at__gte=now - timedelta(seconds=relay_alive_seconds))),
    )
    return OutboxStatus(
        unsent=unsent["unsent"],
        overdue=unsent["overdue"],
        oldest_overdue_seconds=_age(now, unsent["oldest_due"]),
        relay_heartbeat_seconds=_age(now, beats["latest"]),
        relays=beats["alive"],
    )

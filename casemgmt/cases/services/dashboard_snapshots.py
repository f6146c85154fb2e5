"""The manager dashboard's figures, kept per period as a stored snapshot (`DashboardSnapshot`).

Computing them reads every open case and the period's requests (about a second over 1,000,000
cases, bench/queue), so a page view reads the snapshot instead, with the change stamp beside it
in the same query: the latest case event's id and the policy library's change counter (every
change to a case records an event; every publish or retire moves the counter).

- Stamp unchanged and the snapshot younger than DASHBOARD_MAX_AGE_SECONDS: shown as it is.
- Stamp changed (a case moved) but the snapshot young: shown, marked as refreshing, and a
  refresh is sent through the outbox.
- Stamp unchanged but the snapshot older: shown and refreshed the same way; nothing it counts
  changed, only the clock (what is overdue now), and the page says as of when it is.
- Stamp changed and the snapshot older, or none stored: computed in the request and stored.

The page always says when its figures were computed. Beat keeps this year's snapshot (the
page's default period) current (`dashboard_snapshots_refresh`, every 30 seconds), so with a
worker a view rarely computes. Reads and writes are the same on SQLite and PostgreSQL; with no
broker the refresh runs in process after the view's commit.

Event ids are handed out before commit, so a change committed late behind a later one leaves
the stamp as it was: the age bound refreshes such a snapshot all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone
from pydantic import ValidationError

from casemgmt.cases import metrics
from casemgmt.cases.models import CaseEvent, DashboardSnapshot
from casemgmt.kernel.roles import Role, require_role
from casemgmt.outbox.services import task_enqueue_on_commit
from policies_app.models import LibraryStamp

DASHBOARD_SNAPSHOT_REFRESH_TASK = "casemgmt.tasks.dashboard_snapshot_refresh_task"
# Part of the stamp: a snapshot stored by code that laid its figures out otherwise is stale.
FORMAT = "1"
# A page asks for a refresh once; if none has finished this long after, the next view asks again
# (the outbox relay re-sends a lost message, so this only covers a refresh that failed).
ASK_AGAIN_AFTER = timedelta(minutes=2)
# Beat forgets the snapshots of other periods than this year's once they are this old: a manager
# who asks for that period again waits for one computation.
KEEP_OTHER_PERIODS = timedelta(days=1)


@dataclass(frozen=True)
class DashboardFigures:
    """What the dashboard shows: the figures, when they were computed, and whether newer ones
    are being computed."""

    metrics: metrics.DashboardMetrics
    as_of: datetime
    refreshing: bool = False


def _stamp(latest_event: int | None, library_value: int | None, library_token: str | None) -> str:
    return f"{FORMAT}:{latest_event or 0}:{library_value or 0}.{library_token or ''}"


def _latest_event() -> Subquery:
    return Subquery(CaseEvent.objects.order_by("-pk").values("pk")[:1])


def dashboard_stamp() -> str:
    """The change stamp now, in one query (the library's row, created by its first migration)."""
    found = (
        LibraryStamp.objects.filter(pk=1)
        .annotate(latest_event=_latest_event())
        .values_list("value", "token", "latest_event")
        .first()
    )
    if found is None:
        return _stamp(CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first(), None, None)
    value, token, latest = found
    return _stamp(latest, value, token)


def _max_age() -> timedelta:
    return timedelta(seconds=settings.DASHBOARD_MAX_AGE_SECONDS)


def _load(figures: Any) -> metrics.DashboardMetrics | None:
    try:
        return metrics.dashboard_metrics_from_json(figures)
    except ValidationError:
        return None  # stored by code that laid the figures out otherwise: computed again


def _compute(period: metrics.Period, now: datetime, stamp: str) -> metrics.DashboardMetrics:
    """Compute and store the period's figures under `stamp`, read before them: a change made while
    they are computed leaves the stored stamp behind and the next view refreshes them."""
    data = metrics.dashboard_metrics(period, now)
    DashboardSnapshot.objects.bulk_create(
        [
            DashboardSnapshot(
                period_start=period.start,
                period_end=period.end,
                figures=metrics.dashboard_metrics_as_json(data),
                stamp=stamp,
                computed_at=now,
                refresh_requested_at=None,
            )
        ],
        update_conflicts=True,
        unique_fields=["period_start", "period_end"],
        update_fields=["figures", "stamp", "computed_at", "refresh_requested_at"],
    )
    return data


def _ask_for_refresh(snapshot_id: int, now: datetime) -> None:
    """Send one refresh of the snapshot, unless one was asked for lately and has not run yet."""
    with transaction.atomic():
        asked = (
            DashboardSnapshot.objects.filter(pk=snapshot_id)
            .filter(Q(refresh_requested_at__isnull=True) | Q(refresh_requested_at__lt=now - ASK_AGAIN_AFTER))
            .update(refresh_requested_at=now)
        )
        if asked:
            task_enqueue_on_commit(DASHBOARD_SNAPSHOT_REFRESH_TASK, snapshot_id)


def dashboard_figures(*, user: User, period: metrics.Period, now: datetime | None = None) -> DashboardFigures:
    """The dashboard's figures for `period`: from the stored snapshot while it is current enough,
    else computed now (see the module's docstring). One query when the snapshot is current."""
    require_role(user, Role.MANAGER, action="see the dashboard")
    now = now or timezone.now()
    # One query whether or not a snapshot is stored: the library's row (created by its first
    # migration) with the change stamp and the snapshot beside it, so the stamp a computation
    # stores is the one read before it.
    snapshot = DashboardSnapshot.objects.filter(period_start=period.start, period_end=period.end)
    row = (
        LibraryStamp.objects.filter(pk=1)
        .annotate(
            latest_event=_latest_event(),
            snapshot_id=Subquery(snapshot.values("pk")[:1]),
            figures=Subquery(snapshot.values("figures")[:1]),
            snapshot_stamp=Subquery(snapshot.values("stamp")[:1]),
            computed_at=Subquery(snapshot.values("computed_at")[:1]),
        )
        .values("value", "token", "latest_event", "snapshot_id", "figures", "snapshot_stamp", "computed_at")
        .first()
    )
    if row is None:
        return DashboardFigures(_compute(period, now, dashboard_stamp()), now)
    stamp = _stamp(row["latest_event"], row["value"], row["token"])
    data = _load(row["figures"]) if row["snapshot_id"] is not None else None
    if data is not None:
        current = row["snapshot_stamp"] == stamp
        young = now - row["computed_at"] <= _max_age()
        if current and young:
            return DashboardFigures(data, row["computed_at"])
        if current or young:
            _ask_for_refresh(row["snapshot_id"], now)
            return DashboardFigures(data, row["computed_at"], refreshing=True)
    return DashboardFigures(_compute(period, now, stamp), now)


def dashboard_snapshot_refresh(*, snapshot_id: int, now: datetime | None = None) -> bool:
    """Compute one snapshot's figures again (the task a page sends). Idempotent: a snapshot
    already current and young (another delivery or beat refreshed it) is left as it is, and one
    forgotten meanwhile is not brought back. Returns whether it computed."""
    now = now or timezone.now()
    row = DashboardSnapshot.objects.filter(pk=snapshot_id).values_list("period_start", "period_end").first()
    if row is None:
        return False
    return _refresh_if_needed(metrics.Period(*row), now, patience=_max_age())


def _refresh_if_needed(period: metrics.Period, now: datetime, *, patience: timedelta) -> bool:
    stamp = dashboard_stamp()
    row = (
        DashboardSnapshot.objects.filter(period_start=period.start, period_end=period.end)
        .values_list("stamp", "computed_at", "refresh_requested_at")
        .first()
    )
    if row is not None:
        stored, computed_at, requested_at = row
        if stored == stamp and now - computed_at < patience and requested_at is None:
            return False
    _compute(period, now, stamp)
    return True


def dashboard_snapshots_refresh(*, now: datetime | None = None) -> int:
    """Beat's refresh: keep this year's snapshot (the dashboard's default period) current, and
    forget other periods' old ones. Idempotent; returns how many snapshots it computed."""
    now = now or timezone.now()
    this_year = metrics.Period.calendar_year(timezone.localdate(now).year)
    DashboardSnapshot.objects.filter(computed_at__lt=now - KEEP_OTHER_PERIODS).exclude(
        period_start=this_year.start, period_end=this_year.end
    ).delete()
    # Half the page's allowance: with beat every 30 seconds (migration 0027) and the default 60,
    # a page rarely meets a snapshot old enough to compute it in the request.
    return int(_refresh_if_needed(this_year, now, patience=_max_age() / 2))

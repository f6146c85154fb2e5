"""Celery tasks of the cases: ids in, a service call, nothing else.

Each task's name is part of the stored data (messages waiting in the broker, the outbox's rows,
beat's schedule, the audit log's task column), so it is written out and stays when the code moves.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from casemgmt.cases.services.authorizations import authorizations_expire
from casemgmt.cases.services.dashboard_snapshots import (
    DASHBOARD_SNAPSHOT_REFRESH_TASK,
    dashboard_snapshot_refresh,
    dashboard_snapshots_refresh,
)
from casemgmt.cases.services.flags import case_flags_refresh, cases_reflag_for_version
from casemgmt.cases.services.gold_cards import gold_cards_evaluate
from casemgmt.cases.services.webhooks import WEBHOOK_DELIVER_TASK, webhook_deliver, webhook_deliveries_sweep
from casemgmt.outbox.retry import DATABASE_RETRY


@shared_task(name="casemgmt.tasks.case_flags_refresh_task", acks_late=True, **DATABASE_RETRY)
def case_flags_refresh_task(case_id: int) -> bool:
    """Re-evaluate one case's flags against the current library."""
    return case_flags_refresh(case_id=case_id)


@shared_task(name=WEBHOOK_DELIVER_TASK, acks_late=True, **DATABASE_RETRY)
def webhook_deliver_task(delivery_id: int) -> str:
    """Make one delivery's attempt if it is due; the next one, if any, is scheduled in the database."""
    return webhook_deliver(delivery_id=delivery_id)


# Beat's row (migration 0012_webhook_sweeper, editable in the admin) names this.
@shared_task(name="casemgmt.tasks.webhook_sweep_task", acks_late=True, **DATABASE_RETRY)
def webhook_sweep_task() -> int:
    """Queue again the due webhook deliveries whose message was lost (beat: "webhooks: sweeper")."""
    return webhook_deliveries_sweep()


@shared_task(name="policies_app.tasks.policy_version_reflag_open_cases_task", acks_late=True, **DATABASE_RETRY)
def policy_version_reflag_open_cases_task(version_id: int) -> int:
    """Re-flag the open cases a newly published version may govern."""
    return cases_reflag_for_version(version_id=version_id)


# Beat's row (migration 0015_authorization_expiry_schedule, editable in the admin) names this.
@shared_task(name="casemgmt.tasks.authorizations_expire_task", acks_late=True, **DATABASE_RETRY)
def authorizations_expire_task() -> int:
    """Mark the active authorizations whose validity has ended as expired (beat: "authorizations:
    expiry"); idempotent, and a run that leaves some for the next one is caught up by it."""
    now = timezone.now()
    return authorizations_expire(today=timezone.localdate(now), now=now)


# Beat's row (migration 0019_gold_card_schedule, editable in the admin) names this.
@shared_task(name="casemgmt.tasks.gold_cards_evaluate_task", acks_late=True, **DATABASE_RETRY)
def gold_cards_evaluate_task() -> dict[str, int]:
    """Evaluate every active gold-card programme (beat: "gold cards: evaluation"); idempotent."""
    return gold_cards_evaluate().as_dict()


@shared_task(name=DASHBOARD_SNAPSHOT_REFRESH_TASK, acks_late=True, **DATABASE_RETRY)
def dashboard_snapshot_refresh_task(snapshot_id: int) -> bool:
    """Compute one dashboard snapshot again, unless it is current already (a page asked for it)."""
    return dashboard_snapshot_refresh(snapshot_id=snapshot_id)


# Beat's row (migration 0027_dashboard_snapshot, editable in the admin) names this.
@shared_task(name="casemgmt.tasks.dashboard_snapshots_refresh_task", acks_late=True, **DATABASE_RETRY)
def dashboard_snapshots_refresh_task() -> int:
    """Keep this year's dashboard snapshot current (beat: "dashboard: snapshot"); idempotent."""
    return dashboard_snapshots_refresh()

"""Celery tasks of the FHIR door: ids in, a service call, nothing else. Their names are stored
(outbox rows, beat's schedule), so they are written out."""

from __future__ import annotations

from celery import shared_task

from casemgmt.fhir.subscriptions import (
    HEARTBEAT_TASK,
    NOTIFICATION_DELIVER_TASK,
    NOTIFICATION_SWEEP_TASK,
    fhir_heartbeats_queue,
    fhir_notification_deliver,
    fhir_notifications_sweep,
)
from casemgmt.outbox.retry import DATABASE_RETRY


@shared_task(name=NOTIFICATION_DELIVER_TASK, acks_late=True, **DATABASE_RETRY)
def fhir_notification_deliver_task(notification_id: int) -> str:
    """Make one notification's attempt if it is due; the next one, if any, is scheduled in the database."""
    return fhir_notification_deliver(notification_id=notification_id)


# Beat's row (migration fhir 0002_subscriptions, editable in the admin) names this.
@shared_task(name=NOTIFICATION_SWEEP_TASK, acks_late=True, **DATABASE_RETRY)
def fhir_notification_sweep_task() -> int:
    """Queue again the due notifications whose message was lost (beat: "FHIR notifications: sweeper")."""
    return fhir_notifications_sweep()


# Beat's row (migration fhir 0003_subscription_content_heartbeat, editable in the admin) names this.
@shared_task(name=HEARTBEAT_TASK, acks_late=True, **DATABASE_RETRY)
def fhir_heartbeat_task() -> int:
    """Queue a heartbeat to each subscription idle for its heartbeat period (beat: "FHIR subscriptions: heartbeats")."""
    return fhir_heartbeats_queue()

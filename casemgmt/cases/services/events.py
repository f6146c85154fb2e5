"""The case timeline's events and the audit row of a change to a case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases.models import (
    Case,
    CaseEvent,
    CaseEventKind,
)
from casemgmt.cases.services.webhooks import webhooks_queue
from casemgmt.cases.signals import case_events_recorded

STATUS_EVENTS = frozenset(
    {
        CaseEventKind.RECEIVED,
        CaseEventKind.PENDED,
        CaseEventKind.INFORMATION_RECEIVED,
        CaseEventKind.REFERRED,
        CaseEventKind.DECIDED,
        CaseEventKind.CANCELLED,
        CaseEventKind.CLOSED,
        CaseEventKind.REOPENED,
        CaseEventKind.FORWARDED_TO_IRE,
    }
)


def case_event_add(case: Case, kind: str, actor: User | None, at: datetime, **detail: Any) -> CaseEvent:
    event = CaseEvent.objects.create(case=case, kind=kind, actor=actor, at=at, detail=detail)
    if kind in STATUS_EVENTS:
        webhooks_queue(case, [event])
        case_events_recorded.send(sender=Case, case=case, events=[event])
    return event


def case_events_add(case: Case, events: list[CaseEvent], *, status: str) -> list[CaseEvent]:
    """Record several events of one case in one insert, in order; `status` is the case's status
    after them, sent in the status-change notifications."""
    created = CaseEvent.objects.bulk_create(events)
    notify = [event for event in created if event.kind in STATUS_EVENTS]
    if notify:
        webhooks_queue(case, notify, status=status)
        case_events_recorded.send(sender=Case, case=case, events=notify)
    return created


def case_change_audit(
    case: Case, user: User | None, *, changes: dict[str, Any], detail: dict[str, Any] | None = None
) -> None:
    """The audit row of a change to a case, written in the caller's transaction (None: the system)."""
    audit_record(
        action=AuditAction.CHANGE,
        object_type=AuditObject.CASE,
        object_id=case.case_number,
        case_number=case.case_number,
        user=user,
        changes=changes,
        detail=detail,
    )

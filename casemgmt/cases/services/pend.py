"""Pending a case for information, and what the wait does to its clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.cases import workflow
from casemgmt.cases.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    DeadlineRule,
)
from casemgmt.cases.services.events import case_change_audit, case_event_add
from casemgmt.cases.services.locking import case_lock, case_write
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import (
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, require_role


def _pend_started_at(case: Case) -> datetime | None:
    """When the case's current pend began, as recorded on its latest PENDED event."""
    event = CaseEvent.objects.filter(case=case, kind=CaseEventKind.PENDED).order_by("-at", "-id").first()
    if event is None:
        return None
    raw = event.detail.get("pended_at")
    return datetime.fromisoformat(raw) if raw else event.at


def pend_record(case: Case, user: User, now: datetime, *, previous_status: str, **detail: Any) -> CaseEvent:
    """Record that a case is pended for information and since when.

    Every way into PENDED comes through here, so the clock extension has one source of truth.
    Pending a case that is already pended keeps the original start: no waiting time is lost.
    """
    started = _pend_started_at(case) if previous_status == CaseStatus.PENDED else None
    return case_event_add(case, CaseEventKind.PENDED, user, now, pended_at=(started or now).isoformat(), **detail)


def pend_extension(case: Case, now: datetime) -> tuple[timedelta, dict[str, Any]]:
    """How far the pend now ending moves the deadline, and what to record about it.

    The time pended counts, up to the deadline rule's pend_extension_hours for the whole case:
    what earlier pends added is taken off the allowance. A case without a rule gets nothing.
    """
    started = _pend_started_at(case)
    if started is None:  # pragma: no cover - every path into PENDED records its start
        return timedelta(0), {}
    pended = max(now - started, timedelta(0))
    rule = DeadlineRule.objects.filter(pk=case.deadline_rule_id).first() if case.deadline_rule_id else None
    allowance = timedelta(hours=rule.pend_extension_hours if rule else 0)
    earlier = CaseEvent.objects.filter(case=case, kind=CaseEventKind.INFORMATION_RECEIVED).values_list(
        "detail", flat=True
    )
    used = timedelta(seconds=sum(int(d.get("clock_extension_seconds", 0)) for d in earlier))
    # Whole seconds, so the amounts recorded on the events add up exactly to what was applied.
    extension = timedelta(seconds=int(min(pended, max(allowance - used, timedelta(0))).total_seconds()))
    return extension, {
        "previous_due_at": case.due_at.isoformat(),
        "pend_started_at": started.isoformat(),
        "pended_seconds": int(pended.total_seconds()),
        "clock_extension_seconds": int(extension.total_seconds()),
        "pend_extension_allowance_hours": rule.pend_extension_hours if rule else 0,
    }


def case_pend_for_information(
    *, case_id: int, user: User, needed: str, expected_row_version: int | None = None
) -> Case:
    """Ask the requester for more information. The case waits in PENDED until it arrives.

    The time it waits is added to the deadline when the information comes (case_information_add),
    as far as the case's deadline rule allows.
    """
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="pend a case for information")
    needed = needed.strip()
    if not needed:
        raise ValidationFailed({"needed": ["say what information is needed"]})
    with transaction.atomic():
        case = case_lock(case_id, action=Action.PEND, expected_row_version=expected_row_version)
        to = workflow.target(case.status, Action.PEND)
        now = timezone.now()
        case_write(case, now=now, status=to)
        pend_record(case, user, now, previous_status=case.status, needed=needed)
        case_change_audit(
            case,
            user,
            changes={"status": (case.status, to)},
            detail={"event": CaseEventKind.PENDED, "needed": needed},
        )
        case.refresh_from_db()
        return case

"""Who works a case: claiming and reassigning."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from casemgmt.audit.services import changes_between
from casemgmt.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
)
from casemgmt.cases.services.events import _case_change_recorded, _event
from casemgmt.cases.services.locking import _lock_case
from casemgmt.cases.services.webhooks import _webhooks_queue
from casemgmt.kernel.errors import (
    ConflictError,
    DomainError,
    InvalidTransition,
    NotFoundError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, has_role, require_role

# --- claiming and assignment ----------------------------------------------------------------


def _person(user: User | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def _assignment_refused(case_id: int, user: User) -> DomainError:
    """Why a guarded assignment update matched no row, read after the fact."""
    case = Case.objects.select_related("assignee").filter(pk=case_id).first()
    if case is None:
        return NotFoundError("no such case")
    if not case.is_open:
        return InvalidTransition(
            f"case {case.case_number} is {case.get_status_display().lower()}; it can no longer be claimed",
            current_status=case.status,
        )
    if case.assignee is not None:
        owner = "you" if case.assignee_id == user.pk else _person(case.assignee)
        return ConflictError(
            f"{case.case_number} is already claimed by {owner}.",
            case_number=case.case_number,
            assignee=case.assignee.get_username(),
        )
    # Unassigned and open, yet the guard failed: its status moved between our read and write.
    return ConflictError(f"{case.case_number} changed while you claimed it; try again.", case_number=case.case_number)


def _assignment_event(case: Case, user: User, now: datetime, previous_status: str, **detail: Any) -> CaseEvent:
    event = _event(case, CaseEventKind.CLAIMED, user, now, previous_status=previous_status, **detail)
    if previous_status != case.status:
        # CLAIMED is not a status event in general, but received -> in review is a status change
        # the submitting client is promised a notification for.
        _webhooks_queue(case, [event], status=case.status)
    return event


def case_claim(*, case_id: int, user: User) -> Case:
    """A reviewer takes an unassigned open case. One owner at a time; a received case goes into review.

    The write is a conditional UPDATE (assignee still empty, status still what we read), so of
    two reviewers claiming at once exactly one wins; the other learns who did.
    """
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="claim a case")
    with transaction.atomic():
        current = Case.objects.filter(pk=case_id).values_list("status", flat=True).first()
        if current is None:
            raise NotFoundError("no such case")
        to = CaseStatus.IN_REVIEW if current == CaseStatus.RECEIVED else current
        now = timezone.now()
        claimed = Case.objects.filter(
            pk=case_id, assignee__isnull=True, status=current, status__in=OPEN_STATUSES
        ).update(assignee=user, status=to, row_version=F("row_version") + 1, updated_at=now)
        if not claimed:
            raise _assignment_refused(case_id, user)
        case = Case.objects.select_related("assignee").get(pk=case_id)
        _assignment_event(case, user, now, current, assignee=user.get_username())
        _case_change_recorded(
            case,
            user,
            changes=changes_between(
                {"assignee": None, "status": current}, {"assignee": user.get_username(), "status": to}
            ),
            detail={"event": CaseEventKind.CLAIMED},
        )
        return case


def case_reassign(*, case_id: int, user: User, assignee_id: int, expected_row_version: int | None = None) -> Case:
    """A manager gives an open case to a nurse or physician reviewer (or moves it to another one).

    With `expected_row_version`, a case that changed since the manager's page was drawn is refused
    rather than reassigned over whatever happened to it.
    """
    require_role(user, Role.MANAGER, action="reassign a case")
    assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
    if assignee is None or not has_role(assignee, Role.NURSE, Role.PHYSICIAN):
        raise ValidationFailed({"assignee_id": ["choose an active nurse or physician reviewer"]})
    with transaction.atomic():
        case = _lock_case(
            case_id,
            expected_row_version=expected_row_version,
            allowed=OPEN_STATUSES,
            refusal="it can no longer be reassigned",
        )
        previous_status, previous_assignee = case.status, case.assignee_id
        if previous_assignee == assignee.pk:
            return case
        to = CaseStatus.IN_REVIEW if previous_status == CaseStatus.RECEIVED else previous_status
        now = timezone.now()
        Case.objects.filter(pk=case.pk, row_version=case.row_version).update(
            assignee=assignee, status=to, row_version=F("row_version") + 1, updated_at=now
        )
        case.refresh_from_db()
        # There is no separate "reassigned" event kind: the timeline shows a claim made by the
        # manager on the assignee's behalf, with who held the case before.
        _assignment_event(
            case,
            user,
            now,
            previous_status,
            assignee=assignee.get_username(),
            previous_assignee_id=previous_assignee,
            reassigned_by=user.get_username(),
        )
        _case_change_recorded(
            case,
            user,
            changes=changes_between(
                {"assignee_id": previous_assignee, "status": previous_status},
                {"assignee_id": assignee.pk, "status": case.status},
            ),
            detail={"event": "reassigned", "assignee": assignee.get_username()},
        )
        return case

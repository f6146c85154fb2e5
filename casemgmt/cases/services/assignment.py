"""Who works a case: claiming and reassigning."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.services import changes_between
from casemgmt.cases import selectors, workflow
from casemgmt.cases.models import (
    Case,
    CaseEvent,
    CaseEventKind,
)
from casemgmt.cases.services.events import case_change_audit, case_event_add
from casemgmt.cases.services.locking import case_lock, case_write
from casemgmt.cases.services.webhooks import webhooks_queue
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import (
    ConflictError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, has_role, require_role


def _person(user: User | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def _assignment_event(case: Case, user: User, now: datetime, previous_status: str, **detail: Any) -> CaseEvent:
    event = case_event_add(case, CaseEventKind.CLAIMED, user, now, previous_status=previous_status, **detail)
    if previous_status != case.status:
        # CLAIMED is not a status event in general, but received -> in review is a status change
        # the submitting client is promised a notification for.
        webhooks_queue(case, [event], status=case.status)
    return event


def case_claim(*, case_id: int, user: User) -> Case:
    """A reviewer takes an unassigned open case. One owner at a time; a received case goes into review.

    Of two reviewers claiming at once, the row lock makes one wait for the other: exactly one
    wins, and the other learns who did.
    """
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="claim a case")
    with transaction.atomic():
        case = case_lock(case_id, action=Action.CLAIM)
        owner = case.assignee
        if owner is not None:
            raise ConflictError(
                f"{case.case_number} is already claimed by {'you' if owner.pk == user.pk else _person(owner)}.",
                case_number=case.case_number,
                assignee=owner.get_username(),
            )
        previous_status = case.status
        to = workflow.target(previous_status, Action.CLAIM)
        now = timezone.now()
        case_write(case, now=now, assignee=user, status=to)
        case.refresh_from_db()
        _assignment_event(case, user, now, previous_status, assignee=user.get_username())
        case_change_audit(
            case,
            user,
            changes=changes_between(
                {"assignee": None, "status": previous_status}, {"assignee": user.get_username(), "status": to}
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
        case = case_lock(case_id, action=Action.REASSIGN, expected_row_version=expected_row_version)
        previous_status, previous_assignee = case.status, case.assignee_id
        if previous_assignee == assignee.pk:
            return case
        now = timezone.now()
        case_write(case, now=now, assignee=assignee, status=workflow.target(previous_status, Action.REASSIGN))
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
        case_change_audit(
            case,
            user,
            changes=changes_between(
                {"assignee_id": previous_assignee, "status": previous_status},
                {"assignee_id": assignee.pk, "status": case.status},
            ),
            detail={"event": "reassigned", "assignee": assignee.get_username()},
        )
        return case


def case_claim_next(*, user: User) -> Case | None:
    """Claim the most urgent unclaimed case `user` may work (`selectors.queue_next_candidates`),
    or None when there is none.

    The candidate is locked with SKIP LOCKED: two reviewers asking at once each lock a different
    case instead of queueing on the same row, so they never get the same one and neither waits.
    The claim itself is `case_claim`, with its checks, event and audit row.
    """
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="claim a case")
    with transaction.atomic():
        case_id = (
            selectors.queue_next_candidates(user)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
            .first()
        )
        if case_id is None:
            return None
        return case_claim(case_id=case_id, user=user)

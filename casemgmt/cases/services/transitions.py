"""Status changes that move a case along: refer, close, cancel, more information."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.services import changes_between
from casemgmt.cases import workflow
from casemgmt.cases.models import (
    Case,
    CaseEventKind,
    CaseStatus,
)
from casemgmt.cases.selectors import (
    case_request_data,
    fact_catalogue,
)
from casemgmt.cases.services.events import case_change_audit, case_event_add
from casemgmt.cases.services.flags import flags_write
from casemgmt.cases.services.locking import case_action_check, case_lock, case_write
from casemgmt.cases.services.pend import pend_extension
from casemgmt.cases.validation import Problems, check_facts
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import (
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, has_role, require_role
from policies_app.engine import evaluate_request
from policies_app.selectors import engine_index


def _transition(
    *,
    case_id: int,
    user: User,
    action: Action,
    event: str,
    expected_row_version: int | None = None,
    **detail: Any,
) -> Case:
    with transaction.atomic():
        case = case_lock(case_id, action=action, expected_row_version=expected_row_version)
        to = workflow.target(case.status, action)
        now = timezone.now()
        case_write(case, now=now, status=to)
        case_event_add(case, event, user, now, **detail)
        case_change_audit(
            case,
            user,
            changes={"status": (case.status, to)},
            detail={"event": event, **detail},
        )
        case.refresh_from_db()
        return case


def case_refer_to_physician(*, case_id: int, user: User, summary: str, expected_row_version: int | None = None) -> Case:
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="refer a case to physician review")
    if not summary.strip():
        raise ValidationFailed({"summary": ["say what the physician should look at"]})
    return _transition(
        case_id=case_id,
        user=user,
        action=Action.REFER,
        event=CaseEventKind.REFERRED,
        expected_row_version=expected_row_version,
        summary=summary.strip(),
    )


def case_close(*, case_id: int, user: User, expected_row_version: int | None = None) -> Case:
    """Close a decided case once its file is complete (letters sent, nothing outstanding).

    A closed case takes no more actions; an appeal reopens the matter as a new decision
    through the appeal process, not by editing this one.
    """
    require_role(user, Role.MANAGER, Role.PHYSICIAN, Role.NURSE, action="close a case")
    return _transition(
        case_id=case_id,
        user=user,
        action=Action.CLOSE,
        event=CaseEventKind.CLOSED,
        expected_row_version=expected_row_version,
    )


def case_cancel(*, case_id: int, user: User, reason: str = "") -> Case:
    """Withdraw a request (the submitting client) or cancel it (a manager)."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFoundError("no such case")
    if not (case.submitted_by_id == user.pk or has_role(user, Role.MANAGER)):
        raise PermissionDeniedError("Only the submitting client or a manager may cancel a request.")
    return _transition(
        case_id=case_id,
        user=user,
        action=Action.CANCEL,
        event=CaseEventKind.CANCELLED,
        reason=reason,
    )


def case_information_add(*, case_id: int, user: User, clinical_facts: dict[str, Any], clinical_notes: str = "") -> Case:
    """The requester sends more clinical information; flags are re-evaluated with it.

    A case pended for information goes back into review.
    """
    problems = Problems()
    check_facts(problems, clinical_facts, fact_catalogue())
    if not clinical_facts and not clinical_notes.strip():
        problems.add("clinical_facts", "send at least one clinical fact or a note")
    if problems:
        raise ValidationFailed(problems.errors)
    with transaction.atomic():
        case = case_lock(case_id)
        if case.submitted_by_id != user.pk:
            raise PermissionDeniedError("Only the client that submitted the request may add information to it.")
        case_action_check(case, Action.ADD_INFORMATION)
        now = timezone.now()
        notes = case.clinical_notes
        if clinical_notes.strip():
            stamp = now.strftime("%Y-%m-%d %H:%M UTC")
            notes = f"{notes}\n\n[{stamp}] {clinical_notes.strip()}".strip()
        new_status = workflow.target(case.status, Action.ADD_INFORMATION)
        clock: dict[str, Any] = {}
        due_at = case.due_at
        if case.status == CaseStatus.PENDED:
            extension, clock = pend_extension(case, now)
            due_at = case.due_at + extension
        case_write(
            case,
            now=now,
            clinical_facts={**case.clinical_facts, **clinical_facts},
            clinical_notes=notes,
            status=new_status,
            due_at=due_at,
        )
        case_event_add(
            case,
            CaseEventKind.INFORMATION_RECEIVED,
            user,
            now,
            facts=sorted(clinical_facts),
            due_at=due_at.isoformat(),
            **clock,
        )
        case_change_audit(
            case,
            user,
            changes=changes_between(
                {
                    "status": case.status,
                    "due_at": case.due_at,
                    "clinical_facts": case.clinical_facts,
                    "clinical_notes": case.clinical_notes,
                },
                {
                    "status": new_status,
                    "due_at": due_at,
                    "clinical_facts": {**case.clinical_facts, **clinical_facts},
                    "clinical_notes": notes,
                },
            ),
            detail={"event": CaseEventKind.INFORMATION_RECEIVED},
        )
        case.refresh_from_db()
        fresh = evaluate_request(engine_index(), case_request_data(case))
        flags_write(case, fresh, now)
        case_event_add(case, CaseEventKind.REFLAGGED, None, now, flags=len(fresh))
        return case

"""The record that a decision letter was produced."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases.models import (
    CaseEvent,
    CaseEventKind,
    Decision,
)
from casemgmt.cases.services.events import case_event_add
from casemgmt.kernel.errors import (
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, has_role

LETTER_RECIPIENTS = ("member", "provider")


def decision_letter_record(*, decision_id: int, user: User, recipient: str) -> CaseEvent:
    """Note on the timeline that a decision letter (PDF) was produced, for whom and by whom."""
    if not has_role(user, Role.NURSE, Role.PHYSICIAN, Role.MANAGER):
        raise PermissionDeniedError("Only a reviewer or a manager may produce a decision letter.")
    if recipient not in LETTER_RECIPIENTS:
        raise ValidationFailed({"to": [f"must be one of {', '.join(LETTER_RECIPIENTS)}"]})
    decision = Decision.objects.select_related("case").filter(pk=decision_id).first()
    if decision is None:
        raise NotFoundError("no such decision")
    with transaction.atomic():
        event = case_event_add(
            decision.case,
            CaseEventKind.LETTER_GENERATED,
            user,
            timezone.now(),
            decision=decision.pk,
            recipient=recipient,
        )
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.LETTER,
            object_id=decision.pk,
            case_number=decision.case.case_number,
            user=user,
            detail={"recipient": recipient, "event": event.pk},
        )
    return event

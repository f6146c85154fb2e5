"""A reviewer's notes and peer-to-peer discussions on a case."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import TextChoices
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases.models import (
    Case,
    CaseEvent,
    CaseEventKind,
)
from casemgmt.cases.services.events import case_event_add
from casemgmt.cases.services.locking import case_lock
from casemgmt.cases.validation import Problems
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import (
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, require_role, reviewer_role

NOTE_MAX = 4000
PEER_TO_PEER_SUMMARY_MAX = 4000
PEER_TO_PEER_CLOCK_SKEW = timedelta(minutes=5)


class PeerToPeerOutcome(TextChoices):
    UPHELD = "upheld", "Determination stands"
    WILL_CHANGE = "will_change", "Reviewer will issue a new determination"
    MORE_INFORMATION = "more_information", "Provider will send more information"
    WITHDRAWN = "withdrawn", "Provider withdraws the request"
    NO_CHANGE_YET = "discussed", "Discussed before a determination"


def case_note_add(*, case_id: int, user: User, text: str, expected_row_version: int | None = None) -> CaseEvent:
    """A reviewer's note on the case timeline. Notes add to the record; they change no status."""
    if reviewer_role(user) is None:
        raise PermissionDeniedError("Only a nurse or physician reviewer may add a note to a case.")
    text = text.strip()
    if not text:
        raise ValidationFailed({"text": ["write the note"]})
    if len(text) > NOTE_MAX:
        raise ValidationFailed({"text": [f"at most {NOTE_MAX} characters"]})
    with transaction.atomic():
        case = case_lock(case_id, action=Action.NOTE, expected_row_version=expected_row_version)
        now = timezone.now()
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        event = case_event_add(case, CaseEventKind.NOTE, user, now, text=text)
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.NOTE,
            object_id=event.pk,
            case_number=case.case_number,
            user=user,
            changes={"text": (None, text)},
        )
        return event


def case_peer_to_peer_record(
    *,
    case_id: int,
    user: User,
    requesting_physician: str,
    held_at: datetime,
    summary: str,
    outcome: str,
    expected_row_version: int | None = None,
) -> CaseEvent:
    """Record a peer-to-peer discussion between the requesting physician and a physician reviewer.

    Only a physician reviewer holds one (the requester asks to talk with the reviewer who may
    deny). A different determination that follows is recorded as a new decision.
    """
    require_role(user, Role.PHYSICIAN, action="record a peer-to-peer discussion")
    problems = Problems()
    requesting_physician, summary = requesting_physician.strip(), summary.strip()
    if not requesting_physician:
        problems.add("requesting_physician", "name the physician you spoke with")
    elif len(requesting_physician) > 200:
        problems.add("requesting_physician", "at most 200 characters")
    if not summary:
        problems.add("summary", "summarize what was discussed")
    elif len(summary) > PEER_TO_PEER_SUMMARY_MAX:
        problems.add("summary", f"at most {PEER_TO_PEER_SUMMARY_MAX} characters")
    if outcome not in PeerToPeerOutcome.values:
        problems.add("outcome", f"{outcome!r} is not an outcome of a peer-to-peer discussion")
    if timezone.is_naive(held_at):
        held_at = timezone.make_aware(held_at)
    now = timezone.now()
    if held_at > now + PEER_TO_PEER_CLOCK_SKEW:
        problems.add("held_at", "a discussion is recorded after it took place")
    if problems:
        raise ValidationFailed(problems.errors)
    with transaction.atomic():
        case = case_lock(case_id, action=Action.PEER_TO_PEER, expected_row_version=expected_row_version)
        if held_at < case.received_at - PEER_TO_PEER_CLOCK_SKEW:
            raise ValidationFailed({"held_at": ["is before the request was received"]})
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        event = case_event_add(
            case,
            CaseEventKind.PEER_TO_PEER,
            user,
            now,
            requesting_physician=requesting_physician,
            held_at=held_at.isoformat(),
            summary=summary,
            outcome=outcome,
            outcome_label=str(PeerToPeerOutcome(outcome).label),
        )
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.PEER_TO_PEER,
            object_id=event.pk,
            case_number=case.case_number,
            user=user,
            changes={k: (None, v) for k, v in event.detail.items() if k != "outcome_label"},
        )
        return event

"""Reopening a decided case: a clerical error to correct, or new and material information.

../shared/DOMAIN.md, "After the decision": within one year of the decision for any reason, four
years for good cause (42 CFR 422.616; the plan's limits are settings). The case returns to review;
its next decision supersedes the old one and its authorizations. Nothing is deleted or edited.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.cases import workflow
from casemgmt.cases.models import Case, CaseEventKind
from casemgmt.cases.services.appeals import appealed_review_type_of, decision_of_record
from casemgmt.cases.services.deadlines import deadline_for
from casemgmt.cases.services.events import case_change_audit, case_event_add
from casemgmt.cases.services.locking import case_lock, case_write
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import ConflictError, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.roles import Role, has_role

REOPEN_REASON_MAX = 4000


def case_reopen(
    *,
    case_id: int,
    user: User,
    reason: str,
    good_cause: bool = False,
    expected_row_version: int | None = None,
) -> Case:
    """Return a decided or closed case to review, with the reason recorded.

    Its clock starts again from now under the case's deadline rule; the deadline it had is kept
    in the event, so the first decision's timeliness is still measured against it.
    """
    if not has_role(user, Role.PHYSICIAN, Role.MANAGER):
        raise PermissionDeniedError("Only a physician reviewer or a manager may reopen a decided case.")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(
            {"reason": ["say why the case is reopened (a clerical error, new and material information)"]}
        )
    if len(reason) > REOPEN_REASON_MAX:
        raise ValidationFailed({"reason": [f"at most {REOPEN_REASON_MAX} characters"]})
    with transaction.atomic():
        case = case_lock(case_id, action=Action.REOPEN, expected_row_version=expected_row_version)
        decision = decision_of_record(case)
        now = timezone.now()
        today = timezone.localdate(now)
        decided_on = timezone.localdate(decision.decided_at if decision else case.decided_at or now)
        limit_days = settings.REOPEN_GOOD_CAUSE_DAYS if good_cause else settings.REOPEN_ANY_REASON_DAYS
        last_day = decided_on + timedelta(days=limit_days)
        if today > last_day:
            basis = "for good cause" if good_cause else "for any reason"
            raise ConflictError(
                f"a case may be reopened {basis} within {limit_days} days of its decision: case "
                f"{case.case_number} was decided on {decided_on.isoformat()}, the limit passed on "
                f"{last_day.isoformat()}, and today is {today.isoformat()}",
                field="good_cause" if not good_cause else "reason",
                decided_on=decided_on.isoformat(),
                limit_passed_on=last_day.isoformat(),
            )
        due_at, rule = deadline_for(
            received_at=now,
            urgency=case.urgency,
            line_of_business=case.line_of_business,
            review_type=case.review_type,
            appealed_review_type=appealed_review_type_of(case.appeal_of) if case.appeal_of is not None else "",
        )
        new_status = workflow.target(case.status, Action.REOPEN)
        case_write(case, now=now, status=new_status, due_at=due_at, decided_at=None)
        case_event_add(
            case,
            CaseEventKind.REOPENED,
            user,
            now,
            reason=reason,
            good_cause=good_cause,
            decision=decision.pk if decision else None,
            previous_due_at=case.due_at.isoformat(),
            due_at=due_at.isoformat(),
            rule=str(rule),
        )
        case_change_audit(
            case,
            user,
            changes={"status": (case.status, new_status), "due_at": (case.due_at.isoformat(), due_at.isoformat())},
            detail={"reason": reason, "good_cause": good_cause},
        )
        case.refresh_from_db()
        return case

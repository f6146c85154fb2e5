"""Appeals (reconsiderations) of adverse decisions: filing, who may decide, the IRE forward.

../shared/DOMAIN.md, "After the decision". A member or provider may appeal a denial, partial
approval or modification within a window set by the line of business (AppealWindow: commercial
and exchange 180 days, 29 CFR 2560.503-1(h)(3)(i); Medicare Advantage 65 days, 42 CFR 422.582(b);
Medicaid and CHIP 60 days, 42 CFR 438.402(c)(2)(ii)). The appeal is a case of its own with its own
clock (DeadlineRule, review type "appeal"), decided by a physician who took no part in the
adverse decision (42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii); 42 CFR 438.406(b)(2)).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.cases import workflow
from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    AppealRequester,
    AppealWindow,
    Case,
    CaseEventKind,
    CaseStatus,
    Decision,
    DecisionLine,
    LineOutcome,
    ReviewType,
    ServiceLine,
    Urgency,
)
from casemgmt.cases.services.deadlines import ConfigurationError, deadline_for
from casemgmt.cases.services.derived_cases import case_derive
from casemgmt.cases.services.events import case_event_add
from casemgmt.cases.services.locking import case_lock, case_write
from casemgmt.cases.validation import Problems
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import ConflictError, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.roles import Role, has_role, user_roles
from policies_app.models import LineOfBusiness

APPEAL_REASON_MAX = 4000
# An expedited Medicare Advantage reconsideration that is upheld goes to the IRE within 24 hours
# (42 CFR 422.590(e)(5)); a standard one within the reconsideration's own deadline (422.590(a)(2)).
IRE_EXPEDITED_FORWARD = timedelta(hours=24)


def decision_of_record(case: Case) -> Decision | None:
    """The case's latest decision: the one no other decision supersedes."""
    return case.decisions.filter(superseded_by__isnull=True).order_by("-decided_at", "-id").first()


def appeal_window(line_of_business: str) -> AppealWindow:
    window = AppealWindow.objects.filter(line_of_business=line_of_business).first()
    if window is None:
        raise ConfigurationError(
            f"no appeal window is set for {LineOfBusiness(line_of_business).label}; "
            "a manager must add one before appeals can be accepted"
        )
    return window


def appealed_review_type_of(case: Case) -> str:
    """The review type of the initial request behind `case` (an extension is pre-service)."""
    if case.review_type == ReviewType.RETROSPECTIVE:
        return ReviewType.RETROSPECTIVE
    return ReviewType.PROSPECTIVE


def appeal_open(
    *,
    case_id: int,
    user: User,
    lines: Sequence[int],
    reason: str,
    urgency: str,
    requested_by: str,
    late_filing_reason: str = "",
) -> Case:
    """Open an appeal of the adverse lines `lines` (sequences) of a decided case.

    The integration client that sent the request files through the API; a reviewer or manager
    records an appeal received by phone or mail. Only a manager may accept a filing after its
    window, for good cause given in `late_filing_reason`.
    """
    roles = user_roles(user)
    if not roles & {Role.INTEGRATION_CLIENT, Role.NURSE, Role.PHYSICIAN, Role.MANAGER}:
        raise PermissionDeniedError("Only the requester, a reviewer or a manager may file an appeal.")
    late_filing_reason = late_filing_reason.strip()
    if late_filing_reason and Role.MANAGER not in roles:
        raise PermissionDeniedError("Only a manager may accept an appeal filed after its window.")
    reason = reason.strip()
    problems = Problems()
    if not reason:
        problems.add("reason", "say why the decision should be reconsidered")
    elif len(reason) > APPEAL_REASON_MAX:
        problems.add("reason", f"at most {APPEAL_REASON_MAX} characters")
    if urgency not in Urgency.values:
        problems.add("urgency", f"must be one of {', '.join(Urgency.values)}")
    if requested_by not in AppealRequester.values:
        problems.add("requested_by", f"must be one of {', '.join(AppealRequester.values)}")
    if not lines:
        problems.add("lines", "name at least one line to appeal")
    if len(set(lines)) != len(lines):
        problems.add("lines", "names a line twice")
    if problems:
        raise ValidationFailed(problems.errors)

    with transaction.atomic():
        case = case_lock(case_id, action=Action.APPEAL)
        if case.is_appeal:
            raise ConflictError(
                f"case {case.case_number} is an appeal; its outcome is reviewed outside the plan "
                "(external review, the Independent Review Entity or a state fair hearing), not appealed again",
                field="case_number",
            )
        decision = decision_of_record(case)
        if decision is None:  # pragma: no cover - a decided case has a decision
            raise ConflictError(f"case {case.case_number} has no decision to appeal")
        decided_lines = {
            line.service_line.sequence: line
            for line in DecisionLine.objects.filter(decision=decision).select_related("service_line")
        }
        for i, sequence in enumerate(lines):
            decided = decided_lines.get(sequence)
            if decided is None:
                problems.add(f"lines[{i}]", f"case {case.case_number} has no line {sequence}")
            elif decided.outcome not in ADVERSE_OUTCOMES:
                problems.add(
                    f"lines[{i}]",
                    f"line {sequence} was {LineOutcome(decided.outcome).label.lower()}; "
                    "only a denied, partially approved or modified line can be appealed",
                )
        if problems:
            raise ValidationFailed(problems.errors)
        _refuse_open_appeal(case, lines)

        now = timezone.now()
        today = timezone.localdate(now)
        window = appeal_window(case.line_of_business)
        decided_on = timezone.localdate(decision.decided_at)
        last_day = decided_on + timedelta(days=window.days)
        if today > last_day and not late_filing_reason:
            raise ConflictError(
                f"the appeal window for {LineOfBusiness(case.line_of_business).label} is {window.days} days "
                f"from the decision ({window.source}): the decision was made on {decided_on.isoformat()}, "
                f"the window closed on {last_day.isoformat()}, and today is {today.isoformat()}. "
                "A manager may accept a late filing for good cause.",
                field="lines",
                window_days=window.days,
                decided_on=decided_on.isoformat(),
                window_closed_on=last_day.isoformat(),
                filed_on=today.isoformat(),
            )
        late = today > last_day
        appealed_review_type = appealed_review_type_of(case)
        due_at, rule = deadline_for(
            received_at=now,
            urgency=urgency,
            line_of_business=case.line_of_business,
            review_type=ReviewType.APPEAL,
            appealed_review_type=appealed_review_type,
        )
        originals = {line.sequence: line for line in case.lines.all()}
        appeal_lines = [
            ServiceLine(
                sequence=sequence,
                code_system=originals[sequence].code_system,
                code=originals[sequence].code,
                modifiers=originals[sequence].modifiers,
                units=originals[sequence].units,
                date_of_service=originals[sequence].date_of_service,
                description=originals[sequence].description,
                origin=originals[sequence],
            )
            for sequence in sorted(lines)
        ]
        appeal = case_derive(
            source=case,
            actor=user,
            review_type=ReviewType.APPEAL,
            urgency=urgency,
            lines=appeal_lines,
            received_at=now,
            due_at=due_at,
            rule=rule,
            received_detail={"appeal_of": case.case_number, "lines": sorted(lines)},
            appeal_of=case,
            appeal_requested_by=requested_by,
            appeal_reason=reason,
            late_filing_reason=late_filing_reason if late else "",
            late_filing_accepted_by=user if late else None,
        )
        case_write(case, now=now, status=workflow.target(case.status, Action.APPEAL))
        detail: dict[str, Any] = {
            "appeal": appeal.case_number,
            "lines": sorted(lines),
            "requested_by": requested_by,
            "urgency": urgency,
            "decision": decision.pk,
            "window_closed_on": last_day.isoformat(),
        }
        if late:
            detail["late_filing_reason"] = late_filing_reason
        case_event_add(case, CaseEventKind.APPEALED, user, now, **detail)
        return appeal


def _refuse_open_appeal(case: Case, lines: Sequence[int]) -> None:
    open_appeals = ServiceLine.objects.filter(
        origin__case=case, origin__sequence__in=list(lines), case__review_type=ReviewType.APPEAL
    ).exclude(
        case__status__in=[CaseStatus.DECIDED, CaseStatus.CLOSED, CaseStatus.CANCELLED, CaseStatus.FORWARDED_TO_IRE]
    )
    existing = open_appeals.select_related("case").first()
    if existing is not None:
        raise ConflictError(
            f"line {existing.sequence} of case {case.case_number} is already under appeal in {existing.case.case_number}",
            field="lines",
            case_number=existing.case.case_number,
        )


def appeal_deciders_excluded(appeal: Case) -> set[int]:
    """Who took part in the adverse decision an appeal reconsiders: its deciders and the
    physicians of its peer-to-peer discussions. None of them may decide the appeal."""
    assert appeal.appeal_of_id is not None
    deciders = set(
        Decision.objects.filter(case_id=appeal.appeal_of_id, lines__outcome__in=ADVERSE_OUTCOMES).values_list(
            "decided_by_id", flat=True
        )
    )
    peers = set(
        appeal.appeal_of.events.filter(kind=CaseEventKind.PEER_TO_PEER, actor__isnull=False).values_list(
            "actor_id", flat=True
        )
        if appeal.appeal_of is not None
        else []
    )
    return deciders | peers


def appeal_decider_check(appeal: Case, user: User) -> None:
    """Refuse anyone but a physician reviewer who took no part in the adverse decision."""
    if not has_role(user, Role.PHYSICIAN):
        raise PermissionDeniedError(
            "Only a physician reviewer may decide an appeal (42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(iii))."
        )
    if user.pk in appeal_deciders_excluded(appeal):
        raise PermissionDeniedError(
            "You took part in the decision under appeal (as its decider or in its peer-to-peer discussion); "
            "a physician who did not must decide the appeal (42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii))."
        )


def appeal_needs_ire(appeal: Case, outcomes: Sequence[str]) -> bool:
    """A Medicare Advantage reconsideration that upholds any line goes to the IRE (42 CFR 422.592)."""
    return (
        appeal.is_appeal
        and appeal.line_of_business == LineOfBusiness.MEDICARE_ADVANTAGE
        and any(outcome in (LineOutcome.UPHELD, LineOutcome.PARTIALLY_OVERTURNED) for outcome in outcomes)
    )


def appeal_case_file(appeal: Case) -> list[str]:
    """What goes to the IRE: the case file, listed."""
    original = appeal.appeal_of
    assert original is not None
    items = [
        f"Request {original.case_number} as received on {timezone.localtime(original.received_at):%Y-%m-%d %H:%M}",
        f"Appeal {appeal.case_number}, filed by the {appeal.get_appeal_requested_by_display().lower()}: {appeal.appeal_reason}",
    ]
    for case in (original, appeal):
        for decision in case.decisions.order_by("decided_at", "id"):
            items.append(
                f"Decision {decision.pk} on {case.case_number} of {timezone.localtime(decision.decided_at):%Y-%m-%d}, "
                f"with its reasons and {decision.citations.count()} policy citation(s)"
            )
        for attachment in case.attachments.order_by("uploaded_at", "id"):
            items.append(f"Attachment {attachment.original_name} ({attachment.content_type}) on {case.case_number}")
        notes = case.events.filter(kind=CaseEventKind.NOTE).count()
        if notes:
            items.append(f"{notes} reviewer note(s) on {case.case_number}")
        talks = case.events.filter(kind=CaseEventKind.PEER_TO_PEER).count()
        if talks:
            items.append(f"{talks} peer-to-peer discussion record(s) on {case.case_number}")
        letters = case.events.filter(kind=CaseEventKind.LETTER_GENERATED).count()
        if letters:
            items.append(f"{letters} decision letter(s) on {case.case_number}")
    return items


def appeal_forward_to_ire(appeal: Case, *, decision: Decision, now: datetime) -> datetime:
    """Forward an upheld Medicare Advantage reconsideration to the IRE, in the decision's
    transaction; returns when the forward was due."""
    due = now + IRE_EXPEDITED_FORWARD if appeal.urgency == Urgency.EXPEDITED else appeal.due_at
    appeal.refresh_from_db(fields=["status", "row_version"])
    case_write(appeal, now=now, status=workflow.target(appeal.status, Action.FORWARD_TO_IRE))
    case_event_add(
        appeal,
        CaseEventKind.FORWARDED_TO_IRE,
        None,
        now,
        decision=decision.pk,
        forward_due_by=due.isoformat(),
        source="42 CFR 422.590(a)(2), (e)(5); 42 CFR 422.592",
        case_file=appeal_case_file(appeal),
    )
    return due


def appeal_filing_last_day(decided_on: date, line_of_business: str) -> date:
    return decided_on + timedelta(days=appeal_window(line_of_business).days)

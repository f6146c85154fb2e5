"""Triage at intake: the lines a request's answer needs no person for.

../shared/DOMAIN.md, "Triage at intake"; issue 17, sections 1, 4 and 5. For each service line
intake asks the plan's requirement rules (policies_app.selectors.requirement_index) whether the
service needs authorization at all:

- not required: the line is answered at once, "no authorization required" (X12 306 NA);
- notification only: the notification is recorded and the line answered the same way;
- not covered (a benefit exclusion, not a medical-necessity question): the line is flagged and
  reviewed; only a physician may deny it;
- required: a person reviews the line, unless the plan's switch for automatic approval is on
  (IntakeSettings) and either the line's criteria are met, with every fact known, under a policy
  version whose editors allow approval when criteria are met, or the requesting provider holds a
  gold card for the service, and no flag calls for a person (see below).

The system may approve on its own; it never denies, modifies or pends on its own. What it answers
is a decision by the automated reviewer (ReviewerRole.AUTOMATED) covering the answered lines,
with its citations frozen as they read then; the lines it did not answer wait for a reviewer,
whose decision restates the answered ones (`DecisionLine.carried_from`). A request whose every
line is answered is decided (some line approved) or closed (no line needed authorization).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.audit.services import audit_event_build, audit_record
from casemgmt.cases import workflow
from casemgmt.cases.models import (
    AUTHORIZING_OUTCOMES,
    NO_REVIEW_OUTCOMES,
    TRIAGE_FLAG_KINDS,
    Authorization,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Citation,
    Decision,
    DecisionLine,
    Flag,
    FlagKind,
    FlagSeverity,
    GoldCardExemption,
    GoldCardSource,
    IntakeSettings,
    LineOutcome,
    ReviewerRole,
    ServiceLine,
    request_outcome,
)
from casemgmt.cases.selectors import gold_card_exemptions_of
from casemgmt.cases.services.authorizations import authorizations_issue_for_new_request
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import InvalidTransition
from casemgmt.kernel.roles import Role, require_role
from policies_app.engine import DOCUMENTED_FACT_PREFIX, FlagData
from policies_app.models import Requirement
from policies_app.requirement_index import RequirementAnswer
from policies_app.selectors import requirement_index
from policies_app.stamp import library_stamp_bump

# The system account the automated reviewer's decisions are recorded under. It has no role and
# cannot sign in: it only ever appears as the author of decisions made at intake.
AUTOMATED_REVIEWER_USERNAME = "automated-review"

# Criteria met may be approved only when these are the line's only flags: anything else
# (investigational, excluded, not eligible, a duplicate, a benefit exclusion, criteria not met or
# unknown, a device named in the notes) goes to a person.
CRITERIA_APPROVAL_FLAGS = frozenset({FlagKind.CRITERIA_MET, FlagKind.MEDICALLY_NECESSARY})
# A gold card lifts the criteria review, not the rest: a line with a likely adverse flag, a
# triage flag or an excluded line of business still goes to a person.
GOLD_CARD_BLOCKING_FLAGS = frozenset({*TRIAGE_FLAG_KINDS, FlagKind.LINE_OF_BUSINESS_EXCLUDED})


# --- the plan's switch ----------------------------------------------------------------------


def intake_settings() -> IntakeSettings:
    """The plan's intake switches; the defaults (everything off) until a manager saves them."""
    return IntakeSettings.objects.filter(pk=1).first() or IntakeSettings(pk=1)


# Intake reads the switch on every request; each process keeps it with the library stamp's token,
# which every change of the switch moves (as every publish does), so it is read again only then.
_automatic: tuple[str, bool] | None = None


def automatic_approval_on(stamp: tuple[int, str] | None) -> bool:
    """Whether the plan's switch for automatic approval is on, as of the library `stamp`."""
    global _automatic
    if stamp is None:
        return intake_settings().automatic_approval
    cached = _automatic
    if cached is not None and cached[0] == stamp[1]:
        return cached[1]
    value = intake_settings().automatic_approval
    _automatic = (stamp[1], value)
    return value


def intake_settings_update(*, user: User, automatic_approval: bool) -> IntakeSettings:
    """Turn automatic approval at intake on or off for the whole plan (a manager)."""
    require_role(user, Role.MANAGER, action="change what intake approves on its own")
    with transaction.atomic():
        current = IntakeSettings.objects.select_for_update().filter(pk=1).first()
        before = current.automatic_approval if current else False
        settings_row, _created = IntakeSettings.objects.update_or_create(
            pk=1,
            defaults={"automatic_approval": automatic_approval, "changed_by": user, "changed_at": timezone.now()},
        )
        library_stamp_bump()
        audit_record(
            action=AuditAction.CHANGE,
            object_type=AuditObject.INTAKE_SETTINGS,
            object_id=1,
            user=user,
            changes={"automatic_approval": (before, automatic_approval)},
        )
    return settings_row


def automated_reviewer() -> User:
    """The system account of the automated reviewer (created the first time it is needed)."""
    user, created = User.objects.get_or_create(
        username=AUTOMATED_REVIEWER_USERNAME,
        defaults={"first_name": "Automated", "last_name": "review", "is_active": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


# The account never changes once made (decisions protect it), so each process reads it once per
# library stamp, as it does the switch, rather than on every answered request.
_reviewer: tuple[str, int] | None = None


def automated_reviewer_id(stamp: tuple[int, str] | None) -> int:
    global _reviewer
    cached = _reviewer
    if stamp is not None and cached is not None and cached[0] == stamp[1]:
        return cached[1]
    reviewer_id = automated_reviewer().pk
    if stamp is not None:
        _reviewer = (stamp[1], reviewer_id)
    return reviewer_id


# --- what triage decides ----------------------------------------------------------------------


@dataclass(frozen=True)
class LineAnswer:
    """Intake's answer to one service line."""

    sequence: int
    outcome: LineOutcome
    reason: str
    # The citations the answer rests on, as the engine's snapshots of the versions (FlagData.citation).
    citations: tuple[Mapping[str, Any], ...] = ()
    exemption: GoldCardExemption | None = None
    requirement: RequirementAnswer | None = None
    # The policies that govern the line (from its flags): what its authorization's validity reads.
    policy_ids: tuple[int, ...] = ()


@dataclass
class Triage:
    """What intake's triage found: the lines it answers and the flags it adds."""

    requirements: dict[int, RequirementAnswer] = field(default_factory=dict)
    answers: dict[int, LineAnswer] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    # The library stamp the answers were made under (None: read afresh).
    stamp: tuple[int, str] | None = None

    def answers_every_line(self, lines: Sequence[ServiceLine]) -> bool:
        return bool(lines) and all(line.sequence in self.answers for line in lines)


def _met_criteria_text(flag: FlagData) -> str:
    """Every criterion met, as it read then: "label (value)"; the citation's criterion."""
    leaves = [leaf for leaf in flag.details.get("checklist", []) if leaf.get("result") == "met"]
    if not leaves:
        return flag.criterion
    met = "; ".join(f"{leaf['label']} ({_value_text(leaf.get('actual'))})" for leaf in leaves)
    return f"Criteria met: {met}"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _criteria_approval(flags: Sequence[FlagData], triage_flags: Sequence[Flag]) -> LineAnswer | None:
    """An approval because the line's criteria are met with every fact known, or None."""
    if triage_flags or not flags:
        return None
    if any(flag.kind not in CRITERIA_APPROVAL_FLAGS for flag in flags):
        return None
    met = [flag for flag in flags if flag.kind == FlagKind.CRITERIA_MET]
    if not met or not all(flag.version is not None and flag.version.auto_approve for flag in met):
        return None
    # Met with a fact unknown (an "any of" met by another branch) is not met with every fact known.
    if any(leaf.get("result") != "met" and leaf.get("actual") is None for f in met for leaf in f.details["checklist"]):
        return None
    # A documented-review criterion is a reviewer's finding in the records: a requester's answer to
    # it (a DTR questionnaire's yes) is for the nurse to confirm, never a ground to approve unread.
    if any(
        str(leaf.get("fact", "")).startswith(DOCUMENTED_FACT_PREFIX) for f in met for leaf in f.details["checklist"]
    ):
        return None
    references = "; ".join(flag.version.reference for flag in met if flag.version is not None)
    return LineAnswer(
        sequence=met[0].service_line,
        outcome=LineOutcome.APPROVED,
        reason=f"Approved automatically at intake: the criteria of {references} are met with every fact known.",
        citations=tuple({**flag.citation, "criterion": _met_criteria_text(flag)} for flag in met if flag.citation),
    )


def _gold_card_approval(
    line: ServiceLine,
    exemptions: Callable[[], list[GoldCardExemption]],
    flags: Sequence[FlagData],
    triage_flags: Sequence[Flag],
) -> LineAnswer | None:
    """An approval because the requesting provider holds a gold card for the service, or None;
    `exemptions` reads the provider's active gold cards (once per request)."""
    if triage_flags or any(
        flag.kind in GOLD_CARD_BLOCKING_FLAGS or flag.severity == FlagSeverity.CRITICAL for flag in flags
    ):
        return None
    policy_ids = {flag.version.policy_id for flag in flags if flag.version is not None}
    exemption = next(
        (
            e
            for e in exemptions()
            if e.programme.covers(code_system=line.code_system, code=line.code, policy_ids=policy_ids)
        ),
        None,
    )
    if exemption is None:
        return None
    evidence = (
        f"granted by a manager: {exemption.reason}"
        if exemption.source == GoldCardSource.GRANTED
        else f"{exemption.approved_count} of {exemption.decided_count} requests approved "
        f"({exemption.approval_rate}%) from {exemption.period_start:%d %b %Y} to {exemption.period_end:%d %b %Y}"
    )
    return LineAnswer(
        sequence=line.sequence,
        outcome=LineOutcome.APPROVED,
        reason=(
            f"Approved automatically at intake: the requesting provider (NPI {exemption.provider_npi}) holds a "
            f"gold card under \u201c{exemption.programme.name}\u201d ({evidence})."
        ),
        citations=tuple(
            dict(flag.citation)
            for flag in flags
            if flag.citation and flag.kind in (FlagKind.CRITERIA_MET, FlagKind.MEDICALLY_NECESSARY)
        ),
        exemption=exemption,
    )


def triage_lines(
    *,
    case: Case,
    lines: Sequence[ServiceLine],
    evaluation: Sequence[FlagData],
    triage_flags: Sequence[Flag],
    stamp: tuple[int, str] | None = None,
    now: datetime,
) -> Triage:
    """Answer what can be answered of a new request's lines, before anything is stored.

    `evaluation` is the engine's flags, `triage_flags` the unsaved eligibility and duplicate
    flags. Reads the requirement rules (in memory), the plan's switch and, for a line that
    might be approved by a gold card, the provider's exemption.
    """
    triage = Triage(stamp=stamp)
    index = requirement_index(stamp)
    engine_flags: dict[int, list[FlagData]] = {}
    for flag in evaluation:
        engine_flags.setdefault(flag.service_line, []).append(flag)
    flagged: dict[int, list[Flag]] = {}
    for row in triage_flags:
        flagged.setdefault(row.service_line.sequence, []).append(row)
    automatic: bool | None = None
    held: list[list[GoldCardExemption]] = []

    def exemptions() -> list[GoldCardExemption]:
        if not held:
            held.append(
                gold_card_exemptions_of(
                    provider_npi=case.requesting_provider_npi, line_of_business=case.line_of_business
                )
            )
        return held[0]

    for line in lines:
        answer = index.lookup(
            code_system=line.code_system,
            code=line.code,
            date_of_service=line.date_of_service,
            line_of_business=case.line_of_business,
            diagnoses=tuple(case.diagnosis_codes),
        )
        triage.requirements[line.sequence] = answer
        if answer.requirement == Requirement.NOT_REQUIRED:
            triage.answers[line.sequence] = LineAnswer(
                sequence=line.sequence,
                outcome=LineOutcome.NOT_REQUIRED,
                reason=f"No prior authorization is required for this service: {answer.description}.",
                requirement=answer,
            )
        elif answer.requirement == Requirement.NOTIFICATION_ONLY:
            triage.answers[line.sequence] = LineAnswer(
                sequence=line.sequence,
                outcome=LineOutcome.NOTIFIED,
                reason=f"Notification recorded; no prior authorization is required: {answer.description}.",
                requirement=answer,
            )
        elif answer.requirement == Requirement.NOT_COVERED:
            triage.flags.append(
                Flag(
                    case=case,
                    service_line=line,
                    kind=FlagKind.NOT_COVERED,
                    severity=FlagSeverity.CRITICAL,
                    message=(
                        f"Not a covered benefit: {answer.description}. A benefit exclusion is not a "
                        "medical-necessity question; only a physician reviewer may deny it."
                    ),
                    details={"requirement_rule": answer.rule_id, "requirement": answer.requirement},
                    created_at=now,
                )
            )
        else:
            if automatic is None:
                automatic = automatic_approval_on(stamp)
            if not automatic:
                continue
            flags = engine_flags.get(line.sequence, [])
            blocking = flagged.get(line.sequence, [])
            approval = _criteria_approval(flags, blocking) or _gold_card_approval(line, exemptions, flags, blocking)
            if approval is not None:
                triage.answers[line.sequence] = replace(
                    approval,
                    requirement=answer,
                    policy_ids=tuple(sorted({f.version.policy_id for f in flags if f.version is not None})),
                )
    return triage


# --- recording the answers ------------------------------------------------------------------


def _citation_row(decision: Decision, decision_line: DecisionLine, snapshot: Mapping[str, Any]) -> Citation:
    start, end = snapshot.get("effective_start"), snapshot.get("effective_end")
    return Citation(
        decision=decision,
        decision_line=decision_line,
        policy_version_id=snapshot["policy_version_id"],
        policy_number=snapshot["policy_number"],
        policy_title=snapshot["policy_title"],
        payer=snapshot["payer"],
        version_label=snapshot["version"],
        effective_start=date.fromisoformat(start) if start else None,
        effective_end=date.fromisoformat(end) if end else None,
        coverage_position=snapshot["coverage_position"],
        criterion=snapshot["criterion"],
        content_sha256=snapshot["content_sha256"],
    )


def triage_settle(*, case: Case, lines: Sequence[ServiceLine], triage: Triage, now: datetime) -> None:
    """Give a new, unsaved case the status its triage answers lead to, before intake stores it:
    decided when every line is answered and some is approved, closed when none needed
    authorization (the workflow's table says where each leads); otherwise it stays received."""
    if not triage.answers_every_line(lines):
        return
    reviewed = [a.outcome for a in triage.answers.values() if a.outcome not in NO_REVIEW_OUTCOMES]
    action = Action.DECIDE if reviewed else Action.ANSWER_AT_INTAKE
    if not workflow.allowed(case.status, action):  # pragma: no cover - a new case is received
        raise InvalidTransition(f"a {case.get_status_display().lower()} case cannot be answered at intake")
    case.status = workflow.target(case.status, action)
    case.decided_at = now
    if reviewed:
        # A determination: what the reports count (a request needing no authorization is none).
        case.outcome = request_outcome(reviewed)
        case.determined_automatically = True
        case.first_determined_at = now
        case.first_determination_due_at = case.due_at


@dataclass(frozen=True)
class TriageRecord:
    """What recording intake's answers wrote: the automated decision, its lines and the
    authorizations it issued by service line id, and its timeline events and audit rows, not yet
    saved, for intake to insert with its own."""

    decision: Decision
    lines: dict[int, DecisionLine]
    authorizations: dict[int, Authorization]
    events: list[CaseEvent]
    audit_rows: list[AuditEvent]


def triage_record(*, case: Case, lines: Sequence[ServiceLine], triage: Triage, now: datetime) -> TriageRecord | None:
    """Record intake's answers as the automated reviewer's decision, in intake's transaction,
    after the case (settled by `triage_settle`) and its lines are stored: the decision with its
    citations frozen as they read then, and the approved lines' authorizations."""
    if not triage.answers:
        return None
    answered = [line for line in lines if line.sequence in triage.answers]
    decision = Decision.objects.create(
        case=case,
        decided_by_id=automated_reviewer_id(triage.stamp),
        decided_role=ReviewerRole.AUTOMATED,
        decided_at=now,
        rationale="Answered at intake by the plan's requirement rules and automatic approval.",
    )
    decision_lines = DecisionLine.objects.bulk_create(
        DecisionLine(
            decision=decision,
            service_line=line,
            outcome=triage.answers[line.sequence].outcome,
            reason=triage.answers[line.sequence].reason,
            approved_units=line.units if triage.answers[line.sequence].outcome in AUTHORIZING_OUTCOMES else None,
        )
        for line in answered
    )
    citations = [
        _citation_row(decision, decision_line, snapshot)
        for decision_line, line in zip(decision_lines, answered, strict=True)
        for snapshot in triage.answers[line.sequence].citations
    ]
    if citations:
        Citation.objects.bulk_create(citations)
    issued = authorizations_issue_for_new_request(
        case=case,
        decision=decision,
        approvals=[
            (decision_line, line, set(triage.answers[line.sequence].policy_ids))
            for decision_line, line in zip(decision_lines, answered, strict=True)
            if decision_line.outcome in AUTHORIZING_OUTCOMES
        ],
        now=now,
    )
    outcomes = {str(line.sequence): triage.answers[line.sequence].outcome.value for line in answered}
    detail: dict[str, Any] = {
        "decision": decision.pk,
        "role": ReviewerRole.AUTOMATED.value,
        "outcomes": outcomes,
        "gold_cards": {
            str(sequence): answer.exemption.pk
            for sequence, answer in sorted(triage.answers.items())
            if answer.exemption is not None
        },
        "requirement_rules": {
            str(line.sequence): answer.rule_id
            for line in answered
            if (answer := triage.requirements.get(line.sequence))
        },
    }
    everything = len(answered) == len(lines)
    kind = (
        CaseEventKind.ANSWERED_AT_INTAKE
        if not everything
        else CaseEventKind.CLOSED
        if case.status == CaseStatus.CLOSED
        else CaseEventKind.DECIDED
    )
    event = CaseEvent(case=case, kind=kind, actor=None, at=now, detail={**detail, "automated": True})
    audit_row = audit_event_build(
        action=AuditAction.CREATE,
        object_type=AuditObject.DECISION,
        object_id=decision.pk,
        case_number=case.case_number,
        user=None,
        username=AUTOMATED_REVIEWER_USERNAME,
        roles=[ReviewerRole.AUTOMATED.value],
        changes={f"line {sequence}": (None, outcome) for sequence, outcome in outcomes.items()},
        detail={
            "citations": {
                str(line.sequence): [c["policy_version_id"] for c in triage.answers[line.sequence].citations]
                for line in answered
                if triage.answers[line.sequence].citations
            },
            **detail,
        },
    )
    return TriageRecord(
        decision=decision,
        lines={dl.service_line_id: dl for dl in decision_lines},
        authorizations={a.service_line_id: a for a in issued.authorizations},
        events=[*issued.events, event],
        audit_rows=[audit_row, *issued.audit_rows],
    )

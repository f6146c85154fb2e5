"""Decisions on a case's lines, with the citations they rest on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases import workflow
from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    APPEAL_OUTCOMES,
    INITIAL_OUTCOMES,
    PARTIAL_OUTCOMES,
    Case,
    CaseEventKind,
    CaseStatus,
    Citation,
    Decision,
    DecisionLine,
    LineOutcome,
    ServiceLine,
    request_outcome,
)
from casemgmt.cases.selectors import standing_intake_answers as standing_intake_answers
from casemgmt.cases.selectors import standing_lines
from casemgmt.cases.services.appeals import (
    appeal_decider_check,
    appeal_forward_to_ire,
    appeal_needs_ire,
    decision_of_record,
)
from casemgmt.cases.services.authorizations import authorizations_apply
from casemgmt.cases.services.events import case_event_add
from casemgmt.cases.services.locking import case_lock, case_write
from casemgmt.cases.services.pend import pend_record
from casemgmt.cases.services.reason_codes import review_reason_codes_read
from casemgmt.cases.validation import Problems
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import (
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, reviewer_role
from policies_app.models import LineOfBusiness, PolicyVersion, PolicyVersionStatus


@dataclass(frozen=True)
class CitationInput:
    policy_version_id: int
    criterion: str = ""


@dataclass(frozen=True)
class DecisionLineInput:
    service_line: int  # the line's sequence within the case
    outcome: str
    reason: str = ""  # on a referred line, the note to the physician
    approved_units: int | None = None
    citations: tuple[CitationInput, ...] = ()
    reason_code: str = ""  # optional: the plan's review decision reason code (X12 886) of an adverse line


def _versions(ids: set[int]) -> dict[int, PolicyVersion]:
    return {
        v.pk: v
        for v in PolicyVersion.objects.select_related("policy").filter(
            pk__in=ids, status__in=[PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED]
        )
    }


def _citation_problem(version: PolicyVersion, line: ServiceLine, line_of_business: str) -> str | None:
    """Why `version` cannot be cited for `line`, or None: it must have been in effect on the
    line's date of service and apply to the case's line of business."""
    label = f"{version.policy.number or version.policy.title} version {version.version_label}"
    dos = line.date_of_service
    if version.effective_start is None:
        return f"{label} has no known effective date, so it cannot be shown to govern line {line.sequence}"
    if dos < version.effective_start or (version.effective_end is not None and dos > version.effective_end):
        until = version.effective_end.isoformat() if version.effective_end else "open-ended"
        return (
            f"{label} was not in effect on line {line.sequence}'s date of service {dos.isoformat()} "
            f"(in effect {version.effective_start.isoformat()} to {until})"
        )
    lines_of_business = version.policy.lines_of_business or []
    if lines_of_business and line_of_business not in lines_of_business:
        applies = ", ".join(LineOfBusiness(x).label for x in lines_of_business if x in LineOfBusiness.values)
        return (
            f"{label} does not apply to {LineOfBusiness(line_of_business).label} "
            f"(it applies to {applies}), so it cannot be cited for line {line.sequence}"
        )
    return None


def decision_record(
    *,
    case_id: int,
    user: User,
    lines: list[DecisionLineInput],
    citations: list[CitationInput],
    rationale: str = "",
    expected_row_version: int | None = None,
    correction: bool = False,
) -> Decision:
    """Record a determination on every service line of an open case.

    Only a physician reviewer may deny, partially approve or modify (URAC, NCQA UM); such a line
    needs a plain-language reason and at least one citation: its own (`lines[i].citations`) or
    the decision's (`citations`, which apply to every adverse line, or to every line when none
    is adverse). A cited version must have been in effect on the line's date of service and
    apply to the case's line of business.

    An appeal is decided only by a physician who took no part in the decision under appeal, with
    the appeal outcomes (overturned, partially overturned, upheld); an upheld Medicare Advantage
    reconsideration goes to the Independent Review Entity. A determination (nothing pended)
    issues, supersedes or voids the lines' authorizations.

    A line may be referred to a physician (`referred`, on an initial request or an extension):
    its reason, optional, is the note to the physician. The decision must decide at least one
    other line (referring every line is `case_refer_to_physician`); the lines it decides take
    effect at once (authorizations issued) and the case goes to physician review, not pended. The
    physician's decision then decides the referred lines and restates the others as they stand.

    With `correction` (retrospective review), the case is a decided or closed one and the new
    decision supersedes its decision of record; the case keeps its status and decision date.
    """
    role = reviewer_role(user)
    if role is None:
        raise PermissionDeniedError("Only a nurse or physician reviewer may record a decision.")
    adverse = [line for line in lines if line.outcome in ADVERSE_OUTCOMES]
    if adverse and role != Role.PHYSICIAN:
        raise PermissionDeniedError(
            "A nurse reviewer may not deny, partially approve or modify a request; "
            "refer the case to a physician reviewer."
        )
    pended = any(line.outcome == LineOutcome.PENDED for line in lines)
    referred = any(line.outcome == LineOutcome.REFERRED for line in lines)
    action = (
        Action.CORRECT
        if correction
        else Action.DECIDE_PENDED
        if pended
        else Action.DECIDE_REFERRED
        if referred
        else Action.DECIDE
    )
    with transaction.atomic():
        case = case_lock(case_id, action=action, expected_row_version=expected_row_version)
        if case.is_appeal:
            appeal_decider_check(case, user)
        problems = Problems()
        service_lines = {line.sequence: line for line in case.lines.all()}
        previous = decision_of_record(case)
        answered, held = standing_lines(case, previous)
        if correction:
            held = {}
        allowed_outcomes = APPEAL_OUTCOMES if case.is_appeal else (*INITIAL_OUTCOMES, LineOutcome.REFERRED)
        seen: set[int] = set()
        restated: set[int] = set()
        for i, line in enumerate(lines):
            path = f"lines[{i}]"
            service_line = service_lines.get(line.service_line)
            if service_line is None:
                problems.add(f"{path}.service_line", f"case {case.case_number} has no service line {line.service_line}")
                continue
            if line.service_line in seen:
                problems.add(f"{path}.service_line", "is decided twice in this decision")
            if line.service_line in answered and not correction:
                problems.add(
                    f"{path}.service_line",
                    f"line {line.service_line} was answered at intake "
                    f"({LineOutcome(answered[line.service_line].outcome).label.lower()}); it is not reviewed again",
                )
            seen.add(line.service_line)
            standing = held.get(line.service_line)
            if standing is not None:
                # What a referral decided took effect; the decision restates it as it stands.
                if _restates(line, standing, service_line):
                    restated.add(line.service_line)
                else:
                    problems.add(
                        f"{path}.outcome",
                        f"line {line.service_line} was decided when the case went to a physician "
                        f"({LineOutcome(standing.outcome).label.lower()}, "
                        f"{timezone.localdate(standing.decision.decided_at).isoformat()}); "
                        "that determination took effect and is restated, not decided again",
                    )
                continue
            if line.outcome not in LineOutcome.values:
                problems.add(f"{path}.outcome", f"{line.outcome!r} is not an outcome")
            elif line.outcome not in allowed_outcomes:
                kind = "an appealed line" if case.is_appeal else "a line of an initial request"
                problems.add(
                    f"{path}.outcome",
                    f"{line.outcome!r} is not an outcome of {kind}; use one of {', '.join(allowed_outcomes)}",
                )
            elif correction and line.outcome == LineOutcome.PENDED:
                problems.add(f"{path}.outcome", "a corrected decision decides the line; it cannot pend it")
            elif correction and line.outcome == LineOutcome.REFERRED:
                problems.add(f"{path}.outcome", "a corrected decision decides the line; it cannot refer it")
            elif pended and line.outcome == LineOutcome.REFERRED:
                problems.add(
                    f"{path}.outcome",
                    "a decision that pends a line for information cannot also refer one to a physician; "
                    "pend the case, or refer the line and let the physician pend it",
                )
            if line.outcome in ADVERSE_OUTCOMES and not line.reason.strip():
                problems.add(
                    f"{path}.reason", "a denial, partial approval or modification needs a plain-language reason"
                )
            if line.outcome in PARTIAL_OUTCOMES and not (
                line.approved_units and 0 < line.approved_units < service_line.units
            ):
                problems.add(
                    f"{path}.approved_units",
                    f"a partial approval approves between 1 and {service_line.units - 1} units",
                )
            if line.approved_units is not None and line.approved_units > service_line.units:
                problems.add(f"{path}.approved_units", f"cannot exceed the {service_line.units} units requested")
        decided = [line for line in lines if line.service_line not in restated]
        if referred and not correction and all(line.outcome == LineOutcome.REFERRED for line in decided):
            problems.add(
                "lines",
                "every line left to decide is referred: refer the case to a physician instead "
                "(a decision that refers lines decides at least one other)",
            )
        if not lines and answered:
            problems.add("lines", "every line was answered at intake; there is nothing to decide")
        missing = sorted(set(service_lines) - seen - set(answered) - set(held))
        if missing:
            problems.add("lines", f"every service line needs an outcome; missing: {', '.join(map(str, missing))}")
        per_line = _line_citations(case, lines, citations, service_lines, problems, skip=restated)
        reason_codes = review_reason_codes_read(lines, problems)
        if problems:
            raise ValidationFailed(problems.errors)

        now = timezone.now()
        decision = Decision.objects.create(
            case=case, decided_by=user, decided_role=role, decided_at=now, rationale=rationale, supersedes=previous
        )
        decision_lines = DecisionLine.objects.bulk_create(
            DecisionLine(
                decision=decision,
                service_line=service_lines[line.service_line],
                outcome=line.outcome,
                # On a referred line, the reviewer's note to the physician.
                reason=line.reason.strip(),
                reason_code=reason_codes.get(line.service_line),
                approved_units=(
                    None
                    if line.outcome == LineOutcome.REFERRED
                    else service_lines[line.service_line].units
                    if line.outcome in (LineOutcome.APPROVED, LineOutcome.OVERTURNED) and line.approved_units is None
                    else line.approved_units
                ),
            )
            for line in decided
        )
        Citation.objects.bulk_create(
            _citation_row(decision, decision_line, version, criterion)
            for decision_line, line in zip(decision_lines, decided, strict=True)
            for version, criterion in per_line[line.service_line]
        )
        # A retrospective correction may decide a line intake answered; the rest are restated,
        # as are the lines a referral decided.
        standing_now = {**{k: v for k, v in answered.items() if k not in seen}, **held}
        carried = _carry_forward(decision, standing_now, service_lines)
        all_outcomes = [line.outcome for line in decided] + [line.outcome for line in carried]
        new_status = workflow.target(case.status, action)
        determined = not (pended or referred)
        case_write(
            case,
            now=now,
            status=new_status,
            decided_at=case.decided_at if correction else now if determined else None,
            **(_determination_summary(case, all_outcomes, now=now, correction=correction) if determined else {}),
        )
        outcomes = {str(line.service_line): line.outcome for line in decided}
        detail: dict[str, Any] = {"decision": decision.pk, "role": role, "outcomes": outcomes}
        if correction:
            detail["corrects"] = previous.pk if previous else None
        if pended:
            pend_record(case, user, now, previous_status=case.status, **detail)
        elif referred:
            referred_lines = [line for line in decided if line.outcome == LineOutcome.REFERRED]
            detail["lines"] = [line.service_line for line in referred_lines]
            case_event_add(case, CaseEventKind.REFERRED, user, now, summary=_referral_summary(referred_lines), **detail)
            # The lines it decides take effect now: the physician decides only the referred ones.
            authorizations_apply(case=case, decision=decision, user=user, now=now)
        else:
            case_event_add(case, CaseEventKind.DECIDED, user, now, **detail)
            authorizations_apply(case=case, decision=decision, user=user, now=now)
            if not correction and appeal_needs_ire(case, [line.outcome for line in decided]):
                appeal_forward_to_ire(case, decision=decision, now=now)
                new_status = CaseStatus.FORWARDED_TO_IRE
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.DECISION,
            object_id=decision.pk,
            case_number=case.case_number,
            user=user,
            roles=[role],
            changes={
                "status": (case.status, new_status),
                "decision_of_record": (previous.pk if previous else None, decision.pk),
                **{f"line {line.service_line}": (None, line.outcome) for line in decided},
            },
            detail={
                "citations": {
                    str(sequence): [version.pk for version, _ in cited]
                    for sequence, cited in per_line.items()
                    if cited and sequence not in restated
                },
                **detail,
            },
        )
        return decision


def _restates(line: DecisionLineInput, standing: DecisionLine, service_line: ServiceLine) -> bool:
    """Whether a submitted line says what a line that stands already says (a form sends it back as
    it was shown): the same outcome and the same units approved."""
    units = line.approved_units
    if units is None and line.outcome in (LineOutcome.APPROVED, LineOutcome.OVERTURNED):
        units = service_line.units
    return line.outcome == standing.outcome and units == standing.approved_units


def _referral_summary(referred: list[DecisionLineInput]) -> str:
    """What the timeline and the physician read of a referral: each referred line's note."""
    return "\n".join(f"Line {line.service_line}: {line.reason.strip()}" for line in referred if line.reason.strip())


def _carry_forward(
    decision: Decision, answered: dict[int, DecisionLine], service_lines: dict[int, ServiceLine]
) -> list[DecisionLine]:
    """Restate in `decision` the lines intake answered, with their citations as frozen then."""
    if not answered:
        return []
    carried = DecisionLine.objects.bulk_create(
        DecisionLine(
            decision=decision,
            service_line=service_lines[sequence],
            outcome=origin.outcome,
            approved_units=origin.approved_units,
            reason=origin.reason,
            carried_from=origin,
        )
        for sequence, origin in sorted(answered.items())
    )
    by_origin = {line.carried_from_id: line for line in carried}
    copies = []
    for citation in Citation.objects.filter(decision_line__in=list(answered.values())).order_by("id"):
        assert citation.decision_line_id is not None
        copies.append(
            Citation(
                decision=decision,
                decision_line=by_origin[citation.decision_line_id],
                policy_version_id=citation.policy_version_id,
                policy_number=citation.policy_number,
                policy_title=citation.policy_title,
                payer=citation.payer,
                version_label=citation.version_label,
                effective_start=citation.effective_start,
                effective_end=citation.effective_end,
                coverage_position=citation.coverage_position,
                criterion=citation.criterion,
                content_sha256=citation.content_sha256,
            )
        )
    Citation.objects.bulk_create(copies)
    return carried


def _determination_summary(case: Case, outcomes: list[str], *, now: datetime, correction: bool) -> dict[str, Any]:
    """What the case keeps of a determination for the reports: the outcome of record and, the
    first time, when it was determined, against which deadline, and whether a pend extended it.
    A reviewer's decision is a person's, whatever intake answered of the other lines."""
    summary: dict[str, Any] = {
        "outcome": request_outcome(outcomes),
        "determined_automatically": False,
    }
    if case.first_determined_at is None and not correction:
        summary.update(
            first_determined_at=now,
            first_determination_due_at=case.due_at,
            first_determination_extended=case.events.filter(
                kind=CaseEventKind.INFORMATION_RECEIVED, detail__clock_extension_seconds__gt=0
            ).exists(),
        )
    return summary


def _line_citations(
    case: Case,
    lines: list[DecisionLineInput],
    citations: list[CitationInput],
    service_lines: dict[int, ServiceLine],
    problems: Problems,
    *,
    skip: Collection[int] = (),
) -> dict[int, list[tuple[PolicyVersion, str]]]:
    """Each decided line's citations as (version, criterion as worded), checked against the line;
    none for the lines in `skip` (restated as they stand)."""
    versions = _versions(
        {c.policy_version_id for c in citations} | {c.policy_version_id for x in lines for c in x.citations}
    )
    any_adverse = any(line.outcome in ADVERSE_OUTCOMES for line in lines)
    for i, citation in enumerate(citations):
        if citation.policy_version_id not in versions:
            problems.add(f"citations[{i}].policy_version_id", "is not a published policy version")
    out: dict[int, list[tuple[PolicyVersion, str]]] = {}
    for i, line in enumerate(lines):
        service_line = service_lines.get(line.service_line)
        if service_line is None or line.service_line in skip:
            continue
        cited: list[tuple[PolicyVersion, str]] = []
        for j, citation in enumerate(line.citations):
            path = f"lines[{i}].citations[{j}].policy_version_id"
            version = versions.get(citation.policy_version_id)
            if version is None:
                problems.add(path, "is not a published policy version")
                continue
            problem = _citation_problem(version, service_line, case.line_of_business)
            if problem:
                problems.add(path, problem)
                continue
            cited.append((version, citation.criterion.strip() or version.statement))
        # The decision's own citations apply to every adverse line (every line if none is adverse).
        if line.outcome in ADVERSE_OUTCOMES or not any_adverse:
            for j, citation in enumerate(citations):
                version = versions.get(citation.policy_version_id)
                if version is None:
                    continue
                problem = _citation_problem(version, service_line, case.line_of_business)
                if problem:
                    problems.add(f"citations[{j}].policy_version_id", problem)
                    continue
                cited.append((version, citation.criterion.strip() or version.statement))
        if line.outcome in ADVERSE_OUTCOMES and not cited and not line.citations and not citations:
            problems.add(
                "citations" if not any(x.citations for x in lines) else f"lines[{i}].citations",
                "a denial, partial approval or modification must cite at least one policy",
            )
        out[line.service_line] = cited
    return out


def _citation_row(decision: Decision, decision_line: DecisionLine, version: PolicyVersion, criterion: str) -> Citation:
    return Citation(
        decision=decision,
        decision_line=decision_line,
        policy_version=version,
        policy_number=version.policy.number,
        policy_title=version.policy.title,
        payer=version.policy.payer,
        version_label=version.version_label,
        effective_start=version.effective_start,
        effective_end=version.effective_end,
        coverage_position=version.coverage_position,
        criterion=criterion,
        content_sha256=version.content_sha256,
    )

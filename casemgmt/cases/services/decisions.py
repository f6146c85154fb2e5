"""Decisions on a case's lines, with the citations they rest on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases import workflow
from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    CaseEventKind,
    Citation,
    Decision,
    DecisionLine,
    LineOutcome,
)
from casemgmt.cases.services.events import case_event_add
from casemgmt.cases.services.locking import case_lock, case_write
from casemgmt.cases.services.pend import pend_record
from casemgmt.cases.validation import Problems
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import (
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, reviewer_role
from policies_app.models import PolicyVersion, PolicyVersionStatus


@dataclass(frozen=True)
class DecisionLineInput:
    service_line: int  # the line's sequence within the case
    outcome: str
    reason: str = ""
    approved_units: int | None = None


@dataclass(frozen=True)
class CitationInput:
    policy_version_id: int
    criterion: str = ""


def _citation_snapshots(citations: list[CitationInput], problems: Problems) -> list[tuple[PolicyVersion, str]]:
    ids = [c.policy_version_id for c in citations]
    versions = {
        v.pk: v
        for v in PolicyVersion.objects.select_related("policy").filter(
            pk__in=ids, status__in=[PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED]
        )
    }
    out = []
    for i, citation in enumerate(citations):
        version = versions.get(citation.policy_version_id)
        if version is None:
            problems.add(f"citations[{i}].policy_version_id", "is not a published policy version")
            continue
        out.append((version, citation.criterion.strip() or version.statement))
    return out


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

    Only a physician reviewer may deny, partially approve or modify (URAC, NCQA UM); such a
    decision needs a plain-language reason on each adverse line and at least one citation.
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
    action = Action.CORRECT if correction else Action.DECIDE_PENDED if pended else Action.DECIDE
    with transaction.atomic():
        case = case_lock(case_id, action=action, expected_row_version=expected_row_version)
        problems = Problems()
        service_lines = {line.sequence: line for line in case.lines.all()}
        seen: set[int] = set()
        for i, line in enumerate(lines):
            path = f"lines[{i}]"
            service_line = service_lines.get(line.service_line)
            if service_line is None:
                problems.add(f"{path}.service_line", f"case {case.case_number} has no service line {line.service_line}")
                continue
            if line.service_line in seen:
                problems.add(f"{path}.service_line", "is decided twice in this decision")
            seen.add(line.service_line)
            if line.outcome not in LineOutcome.values:
                problems.add(f"{path}.outcome", f"{line.outcome!r} is not an outcome")
            elif correction and line.outcome == LineOutcome.PENDED:
                problems.add(f"{path}.outcome", "a corrected decision decides the line; it cannot pend it")
            if line.outcome in ADVERSE_OUTCOMES and not line.reason.strip():
                problems.add(
                    f"{path}.reason", "a denial, partial approval or modification needs a plain-language reason"
                )
            if line.outcome == LineOutcome.PARTIALLY_APPROVED and not (
                line.approved_units and 0 < line.approved_units < service_line.units
            ):
                problems.add(
                    f"{path}.approved_units",
                    f"a partial approval approves between 1 and {service_line.units - 1} units",
                )
            if line.approved_units is not None and line.approved_units > service_line.units:
                problems.add(f"{path}.approved_units", f"cannot exceed the {service_line.units} units requested")
        missing = sorted(set(service_lines) - seen)
        if missing:
            problems.add("lines", f"every service line needs an outcome; missing: {', '.join(map(str, missing))}")
        if adverse and not citations:
            problems.add("citations", "a denial, partial approval or modification must cite at least one policy")
        snapshots = _citation_snapshots(citations, problems)
        if problems:
            raise ValidationFailed(problems.errors)

        now = timezone.now()
        previous = case.decisions.filter(superseded_by__isnull=True).order_by("-decided_at", "-id").first()
        decision = Decision.objects.create(
            case=case, decided_by=user, decided_role=role, decided_at=now, rationale=rationale, supersedes=previous
        )
        DecisionLine.objects.bulk_create(
            DecisionLine(
                decision=decision,
                service_line=service_lines[line.service_line],
                outcome=line.outcome,
                reason=line.reason.strip(),
                approved_units=(
                    service_lines[line.service_line].units
                    if line.outcome == LineOutcome.APPROVED and line.approved_units is None
                    else line.approved_units
                ),
            )
            for line in lines
        )
        Citation.objects.bulk_create(
            Citation(
                decision=decision,
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
            for version, criterion in snapshots
        )
        new_status = workflow.target(case.status, action)
        case_write(
            case,
            now=now,
            status=new_status,
            decided_at=case.decided_at if correction else None if pended else now,
        )
        detail: dict[str, Any] = {
            "decision": decision.pk,
            "role": role,
            "outcomes": {str(line.service_line): line.outcome for line in lines},
        }
        if correction:
            detail["corrects"] = previous.pk if previous else None
        if pended:
            pend_record(case, user, now, previous_status=case.status, **detail)
        else:
            case_event_add(case, CaseEventKind.DECIDED, user, now, **detail)
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
                **{f"line {line.service_line}": (None, line.outcome) for line in lines},
            },
            detail={"citations": [version.pk for version, _ in snapshots], **detail},
        )
        return decision

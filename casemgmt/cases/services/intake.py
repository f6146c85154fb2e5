"""Intake: a prior-authorization request becomes a case with its deadline and flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.audit.services import audit_event_build
from casemgmt.cases.models import (
    INITIAL_REVIEW_TYPES,
    Case,
    CaseEvent,
    CaseEventKind,
    DeadlineRule,
    Flag,
    ServiceLine,
)
from casemgmt.cases.selectors import case_request_data, fact_catalogue
from casemgmt.cases.services.case_records import CASE_AUDIT_FIELDS, new_case_number
from casemgmt.cases.services.deadlines import deadline_for
from casemgmt.cases.services.duplicates import duplicate_flags, duplicate_matches, duplicate_refusal
from casemgmt.cases.services.eligibility import eligibility_flags
from casemgmt.cases.services.events import case_events_add
from casemgmt.cases.services.flags import flags_build
from casemgmt.cases.services.triage import triage_lines, triage_record, triage_settle
from casemgmt.cases.validation import Problems, check_diagnoses, check_facts, check_line, check_member, check_npi
from casemgmt.kernel.errors import (
    ConflictError,
    DomainError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, require_role
from policies_app.engine import evaluate_request
from policies_app.selectors import engine_index, library_stamp


@dataclass(frozen=True)
class MemberInput:
    member_id: str
    first_name: str
    last_name: str
    birth_date: date | None


@dataclass(frozen=True)
class ProviderInput:
    npi: str
    name: str


@dataclass(frozen=True)
class LineInput:
    code_system: str
    code: str
    units: int
    date_of_service: date
    modifiers: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CaseInput:
    urgency: str
    line_of_business: str
    member: MemberInput
    requesting_provider: ProviderInput
    service_lines: tuple[LineInput, ...]
    review_type: str = "prospective"
    external_id: str = ""
    servicing_provider: ProviderInput | None = None
    diagnosis_codes: tuple[str, ...] = ()
    clinical_facts: dict[str, Any] = field(default_factory=dict)
    clinical_notes: str = ""
    # A Medicare Advantage contract number, a state for Medicaid (the CMS-0057-F report's unit).
    plan_id: str = ""


# --- intake ---------------------------------------------------------------------------------


def _validate_case(data: CaseInput, today: date) -> tuple[Problems, list[str]]:
    problems = Problems()
    if data.review_type not in INITIAL_REVIEW_TYPES:
        problems.add(
            "review_type",
            f"must be one of {', '.join(INITIAL_REVIEW_TYPES)}; an appeal or extension opens from its case or authorization",
        )
    if len(data.plan_id) > 50:
        problems.add("plan_id", "at most 50 characters")
    check_member(problems, data.member.birth_date, today)
    check_npi(problems, "requesting_provider.npi", data.requesting_provider.npi)
    if data.servicing_provider is not None:
        check_npi(problems, "servicing_provider.npi", data.servicing_provider.npi)
    diagnoses = check_diagnoses(problems, "diagnosis_codes", list(data.diagnosis_codes))
    if not data.service_lines:
        problems.add("service_lines", "at least one service line is required")
    for i, line in enumerate(data.service_lines):
        check_line(problems, f"service_lines[{i}]", line, today)
    # Only the facts sent need their catalogue entries (none sent: nothing to read).
    check_facts(problems, data.clinical_facts, fact_catalogue(data.clinical_facts.keys()))
    return problems, diagnoses


def case_submit(*, client: User, data: CaseInput) -> Case:
    """Store a prior-authorization request, set its deadline, flag every service line and
    answer at once the lines triage can answer (casemgmt.cases.services.triage).

    The case comes back with its service lines and current flags loaded (`case.lines.all()`,
    `case.current_flags`), as `selectors.case_detail` loads them, and with what triage answered
    (`case.intake_determinations`, `case.intake_authorizations`); all are the rows just written,
    not read again.
    """
    require_role(client, Role.INTEGRATION_CLIENT, action="submit prior-authorization requests")
    received_at = timezone.now()
    problems, diagnoses = _validate_case(data, timezone.localdate(received_at))
    if problems:
        raise ValidationFailed(problems.errors)
    due_at, rule = deadline_for(
        received_at=received_at,
        urgency=data.urgency,
        line_of_business=data.line_of_business,
        review_type=data.review_type,
    )
    for _attempt in range(5):
        try:
            case = _case_create(client, data, diagnoses, received_at, due_at, rule)
        except IntegrityError as exc:
            if data.external_id and Case.objects.filter(submitted_by=client, external_id=data.external_id).exists():
                existing = Case.objects.get(submitted_by=client, external_id=data.external_id)
                raise ConflictError(
                    f"a case with external_id {data.external_id!r} was already submitted: {existing.case_number}",
                    field="external_id",
                    case_number=existing.case_number,
                ) from exc
            if "case_number" not in str(exc):
                raise
            continue  # another case drew the same number: draw again
        prefetch_related_objects([case], "lines")
        return case
    raise DomainError("could not allocate a case number; try again")  # pragma: no cover


def _case_create(
    client: User,
    data: CaseInput,
    diagnoses: list[str],
    received_at: datetime,
    due_at: datetime,
    rule: DeadlineRule,
) -> Case:
    """Write the case with its lines, flags, events and audit row, all or nothing."""
    servicing = data.servicing_provider
    case = Case(
        case_number=new_case_number(),
        submitted_by=client,
        external_id=data.external_id,
        urgency=data.urgency,
        line_of_business=data.line_of_business,
        plan_id=data.plan_id,
        review_type=data.review_type,
        member_id=data.member.member_id,
        member_first_name=data.member.first_name,
        member_last_name=data.member.last_name,
        member_birth_date=data.member.birth_date,
        requesting_provider_npi=data.requesting_provider.npi,
        requesting_provider_name=data.requesting_provider.name,
        servicing_provider_npi=servicing.npi if servicing else "",
        servicing_provider_name=servicing.name if servicing else "",
        diagnosis_codes=diagnoses,
        clinical_facts=data.clinical_facts,
        clinical_notes=data.clinical_notes,
        received_at=received_at,
        due_at=due_at,
        deadline_rule=rule,
    )
    lines = [
        ServiceLine(
            case=case,
            sequence=i,
            code_system=line.code_system,
            code=line.code.upper(),
            modifiers=list(line.modifiers),
            units=line.units,
            date_of_service=line.date_of_service,
            description=line.description,
        )
        for i, line in enumerate(data.service_lines, start=1)
    ]
    # The request is the engine's and triage's input: the flags and answers are known before the
    # transaction opens, and a refused duplicate stores nothing.
    stamp = library_stamp()
    evaluation = evaluate_request(engine_index(stamp), case_request_data(case, lines))
    duplicates = duplicate_matches(member_id=case.member_id, line_of_business=case.line_of_business, lines=lines)
    refusal = duplicate_refusal(line_of_business=case.line_of_business, matches=duplicates)
    if refusal is not None:
        raise refusal
    triage_flags = [
        *duplicate_flags(case=case, lines=lines, matches=duplicates, now=received_at),
        *eligibility_flags(
            line_of_business=case.line_of_business, member_id=case.member_id, lines=lines, case=case, now=received_at
        ),
    ]
    triage = triage_lines(
        case=case, lines=lines, evaluation=evaluation, triage_flags=triage_flags, stamp=stamp, now=received_at
    )
    triage_settle(case=case, lines=lines, triage=triage, now=received_at)
    with transaction.atomic():
        case.save()
        ServiceLine.objects.bulk_create(lines)
        flags = Flag.objects.bulk_create(
            [*flags_build(case, evaluation, received_at, lines), *triage_flags, *triage.flags]
        )
        answered = triage_record(case=case, lines=lines, triage=triage, now=received_at)
        events = [
            CaseEvent(
                case=case,
                kind=CaseEventKind.RECEIVED,
                actor=client,
                at=received_at,
                detail={"due_at": due_at.isoformat(), "rule": str(rule)},
            ),
            CaseEvent(case=case, kind=CaseEventKind.FLAGGED, actor=None, at=received_at, detail={"flags": len(flags)}),
            *(answered.events if answered else []),
        ]
        case_events_add(case, events, status=case.status)
        # As the current_flags prefetch holds them: in Flag.Meta.ordering (line, then creation).
        case.current_flags = sorted(flags, key=lambda flag: flag.service_line.sequence)
        case.intake_determinations = answered.lines if answered else {}
        case.intake_authorizations = answered.authorizations if answered else {}
        created = audit_event_build(
            action=AuditAction.CREATE,
            object_type=AuditObject.CASE,
            object_id=case.case_number,
            case_number=case.case_number,
            user=client,
            changes={
                **{name: (None, getattr(case, name)) for name in CASE_AUDIT_FIELDS},
                "service_lines": (
                    None,
                    [f"{x.code_system} {x.code} x{x.units} on {x.date_of_service}" for x in lines],
                ),
            },
        )
        AuditEvent.objects.bulk_create([created, *(answered.audit_rows if answered else [])])
    return case

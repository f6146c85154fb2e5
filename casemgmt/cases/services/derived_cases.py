"""A case opened from another: an appeal of a decision, an extension of an authorization.

It carries the member, providers, diagnoses and clinical facts of the case it comes from, its own
case number and clock, and service lines that name the lines they review again (`origin`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, DeadlineRule, Flag, ServiceLine
from casemgmt.cases.selectors import case_request_data
from casemgmt.cases.services.case_records import CASE_AUDIT_FIELDS, new_case_number
from casemgmt.cases.services.events import case_events_add
from casemgmt.cases.services.flags import flags_build
from casemgmt.kernel.errors import DomainError
from policies_app.engine import evaluate_request
from policies_app.selectors import engine_index


def case_derive(
    *,
    source: Case,
    actor: User,
    review_type: str,
    urgency: str,
    lines: list[ServiceLine],
    received_at: datetime,
    due_at: datetime,
    rule: DeadlineRule,
    received_detail: dict[str, Any],
    **fields: Any,
) -> Case:
    """Write a new case from `source` with `lines` (unsaved, `origin` set), flagged by the engine.

    Runs in the caller's transaction. The case belongs to the integration client of `source`, so
    the client that sent the request sees its appeal or extension too; `actor` is who opened it.
    """
    for _attempt in range(5):
        case = Case(
            case_number=new_case_number(),
            submitted_by_id=source.submitted_by_id,
            urgency=urgency,
            line_of_business=source.line_of_business,
            plan_id=source.plan_id,
            review_type=review_type,
            member_id=source.member_id,
            member_first_name=source.member_first_name,
            member_last_name=source.member_last_name,
            member_birth_date=source.member_birth_date,
            requesting_provider_npi=source.requesting_provider_npi,
            requesting_provider_name=source.requesting_provider_name,
            servicing_provider_npi=source.servicing_provider_npi,
            servicing_provider_name=source.servicing_provider_name,
            diagnosis_codes=source.diagnosis_codes,
            clinical_facts=source.clinical_facts,
            clinical_notes=source.clinical_notes,
            received_at=received_at,
            due_at=due_at,
            deadline_rule=rule,
            **fields,
        )
        try:
            with transaction.atomic():
                case.save(force_insert=True)
        except IntegrityError as exc:
            if "case_number" in str(exc):
                continue  # another case drew the same number: draw again
            raise
        break
    else:  # pragma: no cover
        raise DomainError("could not allocate a case number; try again")
    for line in lines:
        line.case = case
    ServiceLine.objects.bulk_create(lines)
    evaluation = evaluate_request(engine_index(), case_request_data(case, lines))
    flags = Flag.objects.bulk_create(flags_build(case, evaluation, received_at, lines))
    case_events_add(
        case,
        [
            CaseEvent(
                case=case,
                kind=CaseEventKind.RECEIVED,
                actor=actor,
                at=received_at,
                detail={"due_at": due_at.isoformat(), "rule": str(rule), **received_detail},
            ),
            CaseEvent(case=case, kind=CaseEventKind.FLAGGED, actor=None, at=received_at, detail={"flags": len(flags)}),
        ],
        status=case.status,
    )
    audit_record(
        action=AuditAction.CREATE,
        object_type=AuditObject.CASE,
        object_id=case.case_number,
        case_number=case.case_number,
        user=actor,
        changes={
            **{name: (None, getattr(case, name)) for name in CASE_AUDIT_FIELDS},
            "service_lines": (None, [f"{x.code_system} {x.code} x{x.units} on {x.date_of_service}" for x in lines]),
            **{name: (None, str(value.pk if hasattr(value, "pk") else value)) for name, value in fields.items()},
        },
    )
    case.current_flags = sorted(flags, key=lambda flag: flag.service_line.sequence)
    prefetch_related_objects([case], "lines")
    return case

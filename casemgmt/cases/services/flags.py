"""A case's flags: written at intake, re-evaluated when facts or the policy library change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from casemgmt.cases import workflow
from casemgmt.cases.models import (
    TRIAGE_FLAG_KINDS,
    Case,
    CaseEventKind,
    Flag,
    ServiceLine,
)
from casemgmt.cases.selectors import (
    case_request_data,
)
from casemgmt.cases.services.events import case_change_audit, case_event_add
from casemgmt.cases.workflow import Action
from policies_app.engine import FlagData, evaluate_request
from policies_app.models import PolicyVersion, PolicyVersionStatus
from policies_app.selectors import engine_index


def flags_build(case: Case, flags: list[FlagData], now: datetime, lines: Iterable[ServiceLine]) -> list[Flag]:
    """The engine's flags as unsaved rows of `case`, each on its service line."""
    by_sequence = {line.sequence: line for line in lines}
    return [
        Flag(
            case=case,
            service_line=by_sequence[f.service_line],
            kind=f.kind,
            severity=f.severity,
            message=f.message,
            policy_version_id=f.version.version_id if f.version else None,
            citation=f.citation,
            details=dict(f.details),
            created_at=now,
        )
        for f in flags
    ]


def flags_write(case: Case, flags: list[FlagData], now: datetime) -> list[Flag]:
    """Write the engine's flags as the case's current ones, superseding the engine's before them
    (triage's flags from intake stay)."""
    Flag.objects.filter(case=case, superseded_at__isnull=True).exclude(kind__in=TRIAGE_FLAG_KINDS).update(
        superseded_at=now
    )
    return Flag.objects.bulk_create(flags_build(case, flags, now, case.lines.all()))


def _flag_key(line: int, kind: str, version_id: int | None, message: str) -> tuple[int, str, int | None, str]:
    return (line, kind, version_id, message)


@transaction.atomic
def case_flags_refresh(*, case_id: int) -> bool:
    """Re-evaluate an open case's flags. Idempotent: unchanged flags are left as they are.

    Returns whether the flags changed.
    """
    case = Case.objects.select_for_update().filter(pk=case_id).first()
    if case is None or not workflow.allowed(case.status, Action.REFLAG):
        return False
    fresh = evaluate_request(engine_index(), case_request_data(case))
    current = (
        Flag.objects.filter(case=case, superseded_at__isnull=True)
        .exclude(kind__in=TRIAGE_FLAG_KINDS)
        .select_related("service_line")
    )
    old_keys = sorted(_flag_key(f.service_line.sequence, f.kind, f.policy_version_id, f.message) for f in current)
    new_keys = sorted(
        _flag_key(f.service_line, f.kind, f.version.version_id if f.version else None, f.message) for f in fresh
    )
    if old_keys == new_keys:
        return False
    now = timezone.now()
    flags_write(case, fresh, now)
    case_event_add(case, CaseEventKind.REFLAGGED, None, now, flags=len(fresh))
    case_change_audit(
        case,
        None,
        changes={"flags": ([f"{k[0]}:{k[1]}:{k[2]}" for k in old_keys], [f"{k[0]}:{k[1]}:{k[2]}" for k in new_keys])},
    )
    return True


def cases_reflag_for_version(*, version_id: int) -> int:
    """Re-flag open cases with a service dated inside a newly published version's window."""
    version = PolicyVersion.objects.filter(pk=version_id, status=PolicyVersionStatus.PUBLISHED).first()
    if version is None:
        return 0
    lines = ServiceLine.objects.filter(case__status__in=workflow.statuses_allowing(Action.REFLAG))
    if version.effective_start:
        lines = lines.filter(date_of_service__gte=version.effective_start)
    if version.effective_end:
        lines = lines.filter(date_of_service__lte=version.effective_end)
    changed = 0
    for case_id in lines.values_list("case_id", flat=True).distinct().order_by("case_id").iterator():
        changed += case_flags_refresh(case_id=case_id)
    return changed

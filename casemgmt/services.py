"""Writes to the case domain. Views, the API, tasks and commands all come through here."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, TextChoices
from django.utils import timezone

from casemgmt import case_insert
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import MASKED, audit_event_build, audit_record, changes_between
from casemgmt.authentication import token_hash
from casemgmt.db_rows import unsaved
from casemgmt.errors import (
    ConflictError,
    DomainError,
    InvalidTransition,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.models import (
    ADVERSE_OUTCOMES,
    OPEN_STATUSES,
    ApiToken,
    Attachment,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Citation,
    DeadlineRule,
    Decision,
    DecisionLine,
    Flag,
    LineOutcome,
    ServiceLine,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
    attachment_storage,
)
from casemgmt.roles import Role, has_role, remember_role_mask, require_role, reviewer_role
from casemgmt.selectors import (
    IntakeFacts,
    case_request_data,
    deadline_rule_candidates,
    fact_catalogue,
    intake_facts,
    intake_facts_guard,
)
from casemgmt.validation import Problems, check_diagnoses, check_facts, check_line, check_member, check_npi
from policies_app.engine import FlagData, evaluate_request
from policies_app.models import PolicyVersion, PolicyVersionStatus
from policies_app.selectors import engine_index

CASE_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


class ConfigurationError(DomainError):
    status_code = 503


@dataclass(frozen=True)
class MemberInput:
    member_id: str
    first_name: str
    last_name: str
    birth_date: date


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


# --- deadlines ------------------------------------------------------------------------------


def _most_specific(
    rules: Iterable[DeadlineRule], *, urgency: str, line_of_business: str, review_type: str
) -> DeadlineRule:
    """The most specific rule wins; blank urgency or line of business matches any."""
    best = max(rules, key=lambda r: (r.urgency != "", r.line_of_business != ""), default=None)
    if best is None:
        raise ConfigurationError(
            f"no deadline rule covers a {urgency} {review_type} request for {line_of_business}; "
            "a manager must add one before such requests can be accepted"
        )
    return best


def deadline_for(
    *, received_at: datetime, urgency: str, line_of_business: str, review_type: str
) -> tuple[datetime, DeadlineRule]:
    best = _most_specific(
        deadline_rule_candidates(urgency=urgency, line_of_business=line_of_business, review_type=review_type),
        urgency=urgency,
        line_of_business=line_of_business,
        review_type=review_type,
    )
    return received_at + timedelta(hours=best.hours), best


# --- intake ---------------------------------------------------------------------------------


def _validate_case(data: CaseInput, today: date) -> tuple[Problems, list[str]]:
    problems = Problems()
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


def _new_case_number() -> str:
    # 8 symbols of 5 random bits each (32 symbols): one call to the system's random source.
    bits = secrets.randbits(40)
    return "PA-" + "".join(CASE_NUMBER_ALPHABET[(bits >> shift) & 31] for shift in range(35, -1, -5))


STATUS_EVENTS = frozenset(
    {
        CaseEventKind.RECEIVED,
        CaseEventKind.PENDED,
        CaseEventKind.INFORMATION_RECEIVED,
        CaseEventKind.REFERRED,
        CaseEventKind.DECIDED,
        CaseEventKind.CANCELLED,
        CaseEventKind.CLOSED,
    }
)


def _event(case: Case, kind: str, actor: User | None, at: datetime, **detail: Any) -> CaseEvent:
    event = CaseEvent.objects.create(case=case, kind=kind, actor=actor, at=at, detail=detail)
    if kind in STATUS_EVENTS:
        _webhooks_queue(case, [event])
    return event


def _events_add(case: Case, events: list[CaseEvent], *, status: str) -> list[CaseEvent]:
    """Record several events of one case in one insert, in order; `status` is the case's status
    after them, sent in the status-change notifications."""
    created = CaseEvent.objects.bulk_create(events)
    notify = [event for event in created if event.kind in STATUS_EVENTS]
    if notify:
        _webhooks_queue(case, notify, status=status)
    return created


def _webhooks_queue(case: Case, events: list[CaseEvent], status: str | None = None) -> None:
    """Queue a notification of each event to each of the submitting client's webhooks, sent after
    commit. `status` is the case's current status when the caller knows it; otherwise it is read."""
    from casemgmt.tasks import webhook_deliver_task

    subscriptions = list(WebhookSubscription.objects.filter(client_id=case.submitted_by_id, active=True))
    if not subscriptions:
        return
    if status is None:
        status = Case.objects.values_list("status", flat=True).get(pk=case.pk)
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=sub,
            event=event,
            payload={
                "event": event.kind,
                "case_number": case.case_number,
                "external_id": case.external_id,
                "status": status,
                "at": event.at.isoformat(),
            },
        )
        for event in events
        for sub in subscriptions
    )
    for delivery in deliveries:
        # robust: the delivery row stays pending if the broker is down; it is not lost.
        transaction.on_commit(partial(webhook_deliver_task.delay, delivery.pk), robust=True)


def _case_change_recorded(
    case: Case, user: User | None, *, changes: dict[str, Any], detail: dict[str, Any] | None = None
) -> None:
    """The audit row of a change to a case, written in the caller's transaction (None: the system)."""
    audit_record(
        action=AuditAction.CHANGE,
        object_type=AuditObject.CASE,
        object_id=case.case_number,
        case_number=case.case_number,
        user=user,
        changes=changes,
        detail=detail,
    )


def case_submit(*, client: User, data: CaseInput) -> Case:
    """Store a prior-authorization request, set its deadline and flag every service line.

    The case comes back with its service lines and current flags loaded (`case.lines.all()`,
    `case.current_flags`), as `selectors.case_detail` loads them, so no re-read is needed.
    """
    scope = {"urgency": data.urgency, "line_of_business": data.line_of_business, "review_type": data.review_type}
    # On PostgreSQL the write checks again, in its own statement, every fact intake reads before
    # it (selectors.intake_facts_guard), so those may come from this process's memory: a
    # submission is then one round trip, not two. Elsewhere they are read on every submission.
    facts = _intake_facts(client, scope, remembered_ok=case_insert.available())
    received_at = timezone.now()
    problems, diagnoses = _validate_case(data, timezone.localdate(received_at))
    if problems:
        raise ValidationFailed(problems.errors)
    for _attempt in range(5):
        rule = _most_specific(facts.rules, **scope)
        due_at = received_at + timedelta(hours=rule.hours)
        try:
            # Each way _case_create writes is atomic by itself (see there).
            case = _case_create(client, data, diagnoses, received_at, due_at, rule, facts, scope)
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
            continue
        if case is not None:
            return case
        # The write found a remembered fact out of date: read them all afresh and write again.
        facts = _intake_facts(client, scope, remembered_ok=False)
    raise DomainError("could not allocate a case number; try again")  # pragma: no cover


def _intake_facts(client: User, scope: dict[str, str], *, remembered_ok: bool) -> IntakeFacts:
    """The facts for this submission, and the caller's roles checked with them."""
    facts = intake_facts(**scope, client_id=client.pk, remembered_ok=remembered_ok)
    remember_role_mask(client, facts.client_roles)
    if facts.remembered and (
        facts.client_has_webhooks or not facts.rules or not has_role(client, Role.INTEGRATION_CLIENT)
    ):
        # Memory may only let a guarded write through; a refusal, a missing rule or the ORM
        # path (a client with webhooks) rests on a fresh read.
        facts = intake_facts(**scope, client_id=client.pk, remembered_ok=False)
        remember_role_mask(client, facts.client_roles)
    require_role(client, Role.INTEGRATION_CLIENT, action="submit prior-authorization requests")
    return facts


# What a new case's audit row records of it (the service lines are added as text).
CASE_AUDIT_FIELDS = (
    "status",
    "external_id",
    "urgency",
    "line_of_business",
    "review_type",
    "member_id",
    "member_first_name",
    "member_last_name",
    "member_birth_date",
    "requesting_provider_npi",
    "servicing_provider_npi",
    "diagnosis_codes",
    "clinical_facts",
    "clinical_notes",
    "received_at",
    "due_at",
)


def _case_create(
    client: User,
    data: CaseInput,
    diagnoses: list[str],
    received_at: datetime,
    due_at: datetime,
    rule: DeadlineRule,
    facts: IntakeFacts,
    scope: dict[str, str],
) -> Case | None:
    """The new case, or None when the guarded write found `facts` out of date (nothing written)."""
    servicing = data.servicing_provider
    case = unsaved(
        Case,
        case_number=_new_case_number(),
        submitted_by=client,
        external_id=data.external_id,
        urgency=data.urgency,
        line_of_business=data.line_of_business,
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
        unsaved(
            ServiceLine,
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
    # The request is the engine's input: the flags are known before anything is written.
    index = engine_index(facts.library)
    flags = _flags_build(case, evaluate_request(index, case_request_data(case, lines)), received_at, lines)
    events = [
        unsaved(
            CaseEvent,
            case=case,
            kind=CaseEventKind.RECEIVED,
            actor=client,
            at=received_at,
            detail={"due_at": due_at.isoformat(), "rule": str(rule)},
        ),
        unsaved(
            CaseEvent, case=case, kind=CaseEventKind.FLAGGED, actor=None, at=received_at, detail={"flags": len(flags)}
        ),
    ]
    audit = audit_event_build(
        action=AuditAction.CREATE,
        object_type=AuditObject.CASE,
        object_id=case.case_number,
        case_number=case.case_number,
        user=client,
        changes={
            **{name: (None, getattr(case, name)) for name in CASE_AUDIT_FIELDS},
            "service_lines": (None, [f"{x.code_system} {x.code} x{x.units} on {x.date_of_service}" for x in lines]),
        },
    )
    if case_insert.available() and not facts.client_has_webhooks:
        # One statement, atomic by itself, that writes only while the facts hold (docs/architecture.md,
        # "Intake"); a client with webhooks takes the ORM path below, which also queues the notifications.
        written = case_insert.case_graph_insert(
            case=case,
            lines=lines,
            children=[
                case_insert.Rows(flags, case_fk="case", line_fk="service_line"),
                case_insert.Rows(events, case_fk="case"),
                case_insert.Rows([audit], case_fk=None),
            ],
            guard=intake_facts_guard(facts, **scope, client_id=client.pk),
        )
        if not written:
            return None
    else:
        with transaction.atomic():
            case.save(force_insert=True)
            ServiceLine.objects.bulk_create(lines)
            Flag.objects.bulk_create(flags)
            _events_add(case, events, status=case.status)
            audit.save(force_insert=True)
    _case_loaded(case, lines, flags)
    return case


def _case_loaded(case: Case, lines: list[ServiceLine], flags: list[Flag]) -> None:
    """Hold a case's lines and current flags on it as case_detail's prefetches would.

    This is what prefetch_related_objects stores for `lines`, so `case.lines.all()` makes no query.
    """
    held = case.lines.all()
    held._result_cache = lines
    setattr(held, "_prefetch_done", True)  # noqa: B010
    setattr(case, "_prefetched_objects_cache", {"lines": held})  # noqa: B010
    # Ordered as Flag.Meta.ordering (line sequence, then id = creation order): the sort is stable.
    setattr(case, "current_flags", sorted(flags, key=lambda f: f.service_line.sequence))  # noqa: B010


# --- flags ----------------------------------------------------------------------------------


def _flags_build(case: Case, flags: list[FlagData], now: datetime, lines: Iterable[ServiceLine]) -> list[Flag]:
    """The engine's flags as unsaved rows of `case`, each on its service line."""
    by_sequence = {line.sequence: line for line in lines}
    return [
        unsaved(
            Flag,
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


def _flags_write(case: Case, flags: list[FlagData], now: datetime) -> list[Flag]:
    """Write the engine's flags as the case's current ones, superseding those before them."""
    Flag.objects.filter(case=case, superseded_at__isnull=True).update(superseded_at=now)
    return Flag.objects.bulk_create(_flags_build(case, flags, now, case.lines.all()))


def _flag_key(line: int, kind: str, version_id: int | None, message: str) -> tuple[int, str, int | None, str]:
    return (line, kind, version_id, message)


@transaction.atomic
def case_flags_refresh(*, case_id: int) -> bool:
    """Re-evaluate an open case's flags. Idempotent: unchanged flags are left as they are.

    Returns whether the flags changed.
    """
    case = Case.objects.select_for_update().filter(pk=case_id).first()
    if case is None or case.status not in OPEN_STATUSES:
        return False
    fresh = evaluate_request(engine_index(), case_request_data(case))
    current = Flag.objects.filter(case=case, superseded_at__isnull=True).select_related("service_line")
    old_keys = sorted(_flag_key(f.service_line.sequence, f.kind, f.policy_version_id, f.message) for f in current)
    new_keys = sorted(
        _flag_key(f.service_line, f.kind, f.version.version_id if f.version else None, f.message) for f in fresh
    )
    if old_keys == new_keys:
        return False
    now = timezone.now()
    _flags_write(case, fresh, now)
    _event(case, CaseEventKind.REFLAGGED, None, now, flags=len(fresh))
    _case_change_recorded(
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
    lines = ServiceLine.objects.filter(case__status__in=OPEN_STATUSES)
    if version.effective_start:
        lines = lines.filter(date_of_service__gte=version.effective_start)
    if version.effective_end:
        lines = lines.filter(date_of_service__lte=version.effective_end)
    changed = 0
    for case_id in lines.values_list("case_id", flat=True).distinct().order_by("case_id").iterator():
        changed += case_flags_refresh(case_id=case_id)
    return changed


def _lock_case(
    case_id: int,
    *,
    expected_row_version: int | None = None,
    allowed: Collection[str] | None = None,
    refusal: str = "",
) -> Case:
    """Lock a case row for a guarded change: it must exist, be as the caller last saw it,
    and (when `allowed` is given) be in one of those statuses."""
    case = Case.objects.select_for_update().filter(pk=case_id).first()
    if case is None:
        raise NotFoundError("no such case")
    _row_version_check(case, expected_row_version)
    if allowed is not None and case.status not in allowed:
        raise InvalidTransition(
            f"case {case.case_number} is {case.get_status_display().lower()}; {refusal}",
            current_status=case.status,
        )
    return case


def _row_version_check(case: Case, expected_row_version: int | None) -> None:
    """Refuse an action taken on a page that no longer shows the case as it is."""
    if expected_row_version is not None and case.row_version != expected_row_version:
        raise ConflictError(
            f"case {case.case_number} changed since you opened it; reload it and review again",
            current_status=case.status,
        )


# --- decisions ------------------------------------------------------------------------------


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
    with transaction.atomic():
        case = _lock_case(
            case_id,
            expected_row_version=expected_row_version,
            allowed=(CaseStatus.DECIDED, CaseStatus.CLOSED) if correction else OPEN_STATUSES,
            refusal="no decision can be recorded" if not correction else "only a decided case can be corrected",
        )
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
        pended = any(line.outcome == LineOutcome.PENDED for line in lines)
        new_status = case.status if correction else CaseStatus.PENDED if pended else CaseStatus.DECIDED
        updated = Case.objects.filter(pk=case.pk, status=case.status, row_version=case.row_version).update(
            status=new_status,
            decided_at=case.decided_at if correction else None if pended else now,
            row_version=F("row_version") + 1,
            updated_at=now,
        )
        if updated != 1:  # pragma: no cover - the row lock makes this unreachable
            raise ConflictError("the case changed while the decision was recorded; try again")
        detail: dict[str, Any] = {
            "decision": decision.pk,
            "role": role,
            "outcomes": {str(line.service_line): line.outcome for line in lines},
        }
        if correction:
            detail["corrects"] = previous.pk if previous else None
        if pended:
            _pend_record(case, user, now, previous_status=case.status, **detail)
        else:
            _event(case, CaseEventKind.DECIDED, user, now, **detail)
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


def _transition(
    *,
    case_id: int,
    user: User,
    allowed_from: tuple[str, ...],
    to: str,
    event: str,
    expected_row_version: int | None = None,
    **detail: Any,
) -> Case:
    with transaction.atomic():
        case = _lock_case(
            case_id,
            expected_row_version=expected_row_version,
            allowed=allowed_from,
            refusal=f"it cannot move to {CaseStatus(to).label.lower()}",
        )
        now = timezone.now()
        Case.objects.filter(pk=case.pk, status=case.status).update(
            status=to, row_version=F("row_version") + 1, updated_at=now
        )
        _event(case, event, user, now, **detail)
        _case_change_recorded(
            case,
            user,
            changes={"status": (case.status, to)},
            detail={"event": event, **detail},
        )
        case.refresh_from_db()
        return case


def case_refer_to_physician(*, case_id: int, user: User, summary: str, expected_row_version: int | None = None) -> Case:
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="refer a case to physician review")
    if not summary.strip():
        raise ValidationFailed({"summary": ["say what the physician should look at"]})
    return _transition(
        case_id=case_id,
        user=user,
        allowed_from=(CaseStatus.RECEIVED, CaseStatus.IN_REVIEW, CaseStatus.PENDED),
        to=CaseStatus.PHYSICIAN_REVIEW,
        event=CaseEventKind.REFERRED,
        expected_row_version=expected_row_version,
        summary=summary.strip(),
    )


def case_close(*, case_id: int, user: User, expected_row_version: int | None = None) -> Case:
    """Close a decided case once its file is complete (letters sent, nothing outstanding).

    A closed case takes no more actions; an appeal reopens the matter as a new decision
    through the appeal process, not by editing this one.
    """
    require_role(user, Role.MANAGER, Role.PHYSICIAN, Role.NURSE, action="close a case")
    return _transition(
        case_id=case_id,
        user=user,
        allowed_from=(CaseStatus.DECIDED,),
        to=CaseStatus.CLOSED,
        event=CaseEventKind.CLOSED,
        expected_row_version=expected_row_version,
    )


def case_cancel(*, case_id: int, user: User, reason: str = "") -> Case:
    """Withdraw a request (the submitting client) or cancel it (a manager)."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFoundError("no such case")
    if not (case.submitted_by_id == user.pk or has_role(user, Role.MANAGER)):
        raise PermissionDeniedError("Only the submitting client or a manager may cancel a request.")
    return _transition(
        case_id=case_id,
        user=user,
        allowed_from=OPEN_STATUSES,
        to=CaseStatus.CANCELLED,
        event=CaseEventKind.CANCELLED,
        reason=reason,
    )


def case_information_add(*, case_id: int, user: User, clinical_facts: dict[str, Any], clinical_notes: str = "") -> Case:
    """The requester sends more clinical information; flags are re-evaluated with it.

    A case pended for information goes back into review.
    """
    problems = Problems()
    check_facts(problems, clinical_facts, fact_catalogue())
    if not clinical_facts and not clinical_notes.strip():
        problems.add("clinical_facts", "send at least one clinical fact or a note")
    if problems:
        raise ValidationFailed(problems.errors)
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise NotFoundError("no such case")
        if case.submitted_by_id != user.pk:
            raise PermissionDeniedError("Only the client that submitted the request may add information to it.")
        if case.status not in OPEN_STATUSES:
            raise InvalidTransition(
                f"case {case.case_number} is {case.get_status_display().lower()}; it takes no more information",
                current_status=case.status,
            )
        now = timezone.now()
        notes = case.clinical_notes
        if clinical_notes.strip():
            stamp = now.strftime("%Y-%m-%d %H:%M UTC")
            notes = f"{notes}\n\n[{stamp}] {clinical_notes.strip()}".strip()
        new_status = CaseStatus.IN_REVIEW if case.status == CaseStatus.PENDED else case.status
        clock: dict[str, Any] = {}
        due_at = case.due_at
        if case.status == CaseStatus.PENDED:
            extension, clock = _pend_extension(case, now)
            due_at = case.due_at + extension
        Case.objects.filter(pk=case.pk, status=case.status).update(
            clinical_facts={**case.clinical_facts, **clinical_facts},
            clinical_notes=notes,
            status=new_status,
            due_at=due_at,
            row_version=F("row_version") + 1,
            updated_at=now,
        )
        _event(
            case,
            CaseEventKind.INFORMATION_RECEIVED,
            user,
            now,
            facts=sorted(clinical_facts),
            due_at=due_at.isoformat(),
            **clock,
        )
        _case_change_recorded(
            case,
            user,
            changes=changes_between(
                {
                    "status": case.status,
                    "due_at": case.due_at,
                    "clinical_facts": case.clinical_facts,
                    "clinical_notes": case.clinical_notes,
                },
                {
                    "status": new_status,
                    "due_at": due_at,
                    "clinical_facts": {**case.clinical_facts, **clinical_facts},
                    "clinical_notes": notes,
                },
            ),
            detail={"event": CaseEventKind.INFORMATION_RECEIVED},
        )
        case.refresh_from_db()
        fresh = evaluate_request(engine_index(), case_request_data(case))
        _flags_write(case, fresh, now)
        _event(case, CaseEventKind.REFLAGGED, None, now, flags=len(fresh))
        return case


# --- pends and the clock --------------------------------------------------------------------

PEND_ALLOWED_FROM = (CaseStatus.RECEIVED, CaseStatus.IN_REVIEW, CaseStatus.PHYSICIAN_REVIEW)


def _pend_started_at(case: Case) -> datetime | None:
    """When the case's current pend began, as recorded on its latest PENDED event."""
    event = CaseEvent.objects.filter(case=case, kind=CaseEventKind.PENDED).order_by("-at", "-id").first()
    if event is None:
        return None
    raw = event.detail.get("pended_at")
    return datetime.fromisoformat(raw) if raw else event.at


def _pend_record(case: Case, user: User, now: datetime, *, previous_status: str, **detail: Any) -> CaseEvent:
    """Record that a case is pended for information and since when.

    Every way into PENDED comes through here, so the clock extension has one source of truth.
    Pending a case that is already pended keeps the original start: no waiting time is lost.
    """
    started = _pend_started_at(case) if previous_status == CaseStatus.PENDED else None
    return _event(case, CaseEventKind.PENDED, user, now, pended_at=(started or now).isoformat(), **detail)


def _pend_extension(case: Case, now: datetime) -> tuple[timedelta, dict[str, Any]]:
    """How far the pend now ending moves the deadline, and what to record about it.

    The time pended counts, up to the deadline rule's pend_extension_hours for the whole case:
    what earlier pends added is taken off the allowance. A case without a rule gets nothing.
    """
    started = _pend_started_at(case)
    if started is None:  # pragma: no cover - every path into PENDED records its start
        return timedelta(0), {}
    pended = max(now - started, timedelta(0))
    rule = DeadlineRule.objects.filter(pk=case.deadline_rule_id).first() if case.deadline_rule_id else None
    allowance = timedelta(hours=rule.pend_extension_hours if rule else 0)
    earlier = CaseEvent.objects.filter(case=case, kind=CaseEventKind.INFORMATION_RECEIVED).values_list(
        "detail", flat=True
    )
    used = timedelta(seconds=sum(int(d.get("clock_extension_seconds", 0)) for d in earlier))
    # Whole seconds, so the amounts recorded on the events add up exactly to what was applied.
    extension = timedelta(seconds=int(min(pended, max(allowance - used, timedelta(0))).total_seconds()))
    return extension, {
        "previous_due_at": case.due_at.isoformat(),
        "pend_started_at": started.isoformat(),
        "pended_seconds": int(pended.total_seconds()),
        "clock_extension_seconds": int(extension.total_seconds()),
        "pend_extension_allowance_hours": rule.pend_extension_hours if rule else 0,
    }


def case_pend_for_information(
    *, case_id: int, user: User, needed: str, expected_row_version: int | None = None
) -> Case:
    """Ask the requester for more information. The case waits in PENDED until it arrives.

    The time it waits is added to the deadline when the information comes (case_information_add),
    as far as the case's deadline rule allows.
    """
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="pend a case for information")
    needed = needed.strip()
    if not needed:
        raise ValidationFailed({"needed": ["say what information is needed"]})
    with transaction.atomic():
        case = _lock_case(
            case_id,
            expected_row_version=expected_row_version,
            allowed=PEND_ALLOWED_FROM,
            refusal="it cannot be pended for information",
        )
        now = timezone.now()
        Case.objects.filter(pk=case.pk, status=case.status).update(
            status=CaseStatus.PENDED, row_version=F("row_version") + 1, updated_at=now
        )
        _pend_record(case, user, now, previous_status=case.status, needed=needed)
        _case_change_recorded(
            case,
            user,
            changes={"status": (case.status, CaseStatus.PENDED)},
            detail={"event": CaseEventKind.PENDED, "needed": needed},
        )
        case.refresh_from_db()
        return case


# --- attachments ----------------------------------------------------------------------------


class AttachmentTooLarge(DomainError):
    status_code = 413


# What each accepted type begins with. Only the content decides: a file name or a client's
# Content-Type is a claim, and an HTML page named .pdf must never be stored as a PDF.
ATTACHMENT_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"II*\x00", "image/tiff", "tiff"),
    (b"MM\x00*", "image/tiff", "tiff"),
)
ATTACHMENT_NAME_MAX = 200
ATTACHMENT_DESCRIPTION_MAX = 1000


def attachment_type_detect(head: bytes) -> tuple[str, str] | None:
    """(content type, file extension) of an accepted document, from its first bytes; else None."""
    for magic, content_type, extension in ATTACHMENT_SIGNATURES:
        if head.startswith(magic):
            return content_type, extension
    return None


def attachment_name_sanitize(name: str) -> str:
    """The client's file name made safe to store and to offer back on download.

    Only the last path component survives (either separator), control and format characters
    go, and the length is bounded keeping the extension.
    """
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".").strip()
    if len(base) > ATTACHMENT_NAME_MAX:
        stem, dot, extension = base.rpartition(".")
        if dot and stem and len(extension) <= 16:
            base = stem[: ATTACHMENT_NAME_MAX - len(extension) - 1].rstrip() + "." + extension
        else:
            base = base[:ATTACHMENT_NAME_MAX]
    return base or "attachment"


def _attachment_guard(case: Case, user: User) -> None:
    if not (case.submitted_by_id == user.pk or reviewer_role(user) is not None):
        raise PermissionDeniedError("Only the submitting client or a nurse or physician reviewer may add attachments.")
    if case.status not in OPEN_STATUSES:
        raise InvalidTransition(
            f"case {case.case_number} is {case.get_status_display().lower()}; it takes no more attachments",
            current_status=case.status,
        )


def attachment_too_large(size: int, limit: int) -> AttachmentTooLarge:
    return AttachmentTooLarge(
        f"file: the upload is {size} bytes; the largest attachment accepted is {limit} bytes", field="file"
    )


def attachment_add(*, case_id: int, user: User, upload: UploadedFile, description: str = "") -> Attachment:
    """Store a PDF, PNG, JPEG or TIFF document with an open case.

    The type is detected from the content. The file is kept under MEDIA_ROOT/attachments with
    a random name (never the client's), and removed again if the case cannot take it, so a
    refusal leaves nothing behind.
    """
    limit: int = settings.ATTACHMENT_MAX_BYTES
    description = description.strip()
    if len(description) > ATTACHMENT_DESCRIPTION_MAX:
        raise ValidationFailed({"description": [f"at most {ATTACHMENT_DESCRIPTION_MAX} characters"]})
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFoundError("no such case")
    # Checked before the content is read, and again under the row lock before anything is kept.
    _attachment_guard(case, user)
    if upload.size is not None and upload.size > limit:
        raise attachment_too_large(upload.size, limit)

    digest, size, head = hashlib.sha256(), 0, b""
    for chunk in upload.chunks():
        if len(head) < 16:
            head += chunk[: 16 - len(head)]
        digest.update(chunk)
        size += len(chunk)
        if size > limit:
            raise attachment_too_large(size, limit)
    if size == 0:
        raise ValidationFailed({"file": ["the file is empty"]})
    detected = attachment_type_detect(head)
    if detected is None:
        raise ValidationFailed(
            {"file": ["must be a PDF, PNG, JPEG or TIFF document; judged by its content, it is none of these"]}
        )
    content_type, extension = detected

    storage = attachment_storage()
    upload.seek(0)
    stored_name = storage.save(f"attachments/{secrets.token_hex(16)}.{extension}", upload)
    try:
        with transaction.atomic():
            case = Case.objects.select_for_update().get(pk=case_id)
            _attachment_guard(case, user)
            now = timezone.now()
            attachment = Attachment.objects.create(
                case=case,
                uploaded_by=user,
                original_name=attachment_name_sanitize(upload.name or ""),
                content_type=content_type,
                size=size,
                sha256=digest.hexdigest(),
                file=stored_name,
                description=description,
                uploaded_at=now,
            )
            Case.objects.filter(pk=case.pk).update(updated_at=now)
            # The event names no file: a client's file name may itself carry member details.
            _event(
                case,
                CaseEventKind.ATTACHMENT_ADDED,
                user,
                now,
                attachment=attachment.pk,
                content_type=content_type,
                size=size,
                sha256=attachment.sha256,
            )
            audit_record(
                action=AuditAction.CREATE,
                object_type=AuditObject.ATTACHMENT,
                object_id=attachment.pk,
                case_number=case.case_number,
                user=user,
                changes={
                    name: (None, getattr(attachment, name))
                    for name in ("original_name", "content_type", "size", "sha256", "description")
                },
            )
    except Exception:
        storage.delete(stored_name)
        raise
    return attachment


# --- API tokens ---------------------------------------------------------------------------


def api_token_create(*, user: User, label: str = "") -> tuple[ApiToken, str]:
    """Issue a bearer token. The raw token is returned once and never stored."""
    if not user.is_active:
        raise ValidationFailed({"user": ["the account is inactive"]})
    raw = "pa_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, label=label, prefix=raw[:10], key_hash=token_hash(raw))
        # The actor is whoever issues it (a command, an admin); `user` is the client it is for.
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.API_TOKEN,
            object_id=token.pk,
            changes={"client": (None, user.get_username()), "label": (None, label), "prefix": (None, token.prefix)},
        )
    return token, raw


# --- roles and demo users ----------------------------------------------------------------

# What each role may do in the admin. Reviewers read policies there; editors maintain them;
# managers also keep the deadline rules.
ROLE_ADMIN_PERMISSIONS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    Role.POLICY_EDITOR: [
        ("policies_app", model, ("view", "add", "change", "delete"))
        for model in ("policy", "policyversion", "policycode", "policyterm", "criterion", "factdefinition")
    ],
    Role.NURSE: [("policies_app", m, ("view",)) for m in ("policy", "policyversion", "factdefinition")],
    Role.PHYSICIAN: [("policies_app", m, ("view",)) for m in ("policy", "policyversion", "factdefinition")],
    Role.MANAGER: [
        *[("policies_app", m, ("view",)) for m in ("policy", "policyversion", "factdefinition")],
        ("casemgmt", "deadlinerule", ("view", "add", "change")),
        ("casemgmt", "apitoken", ("view", "change")),
        # Retrospective review: runs, the nightly settings and the beat schedule they run on.
        ("retro", "retrorun", ("view", "add", "change")),
        ("retro", "retroschedule", ("view", "change")),
        ("retro", "retroreviewitem", ("view",)),
        ("django_celery_beat", "periodictask", ("view", "change")),
        ("django_celery_beat", "crontabschedule", ("view", "add", "change")),
        ("django_celery_beat", "intervalschedule", ("view", "add", "change")),
    ],
    Role.INTEGRATION_CLIENT: [],
}


def roles_sync_permissions() -> None:
    """Create the role groups and give each exactly its admin permissions."""
    from django.contrib.auth.models import Group, Permission

    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = [
            f"{action}_{model}" for app, model, actions in ROLE_ADMIN_PERMISSIONS.get(role, []) for action in actions
        ]
        apps_of = {
            f"{action}_{model}": app
            for app, model, actions in ROLE_ADMIN_PERMISSIONS.get(role, [])
            for action in actions
        }
        perms = [
            p
            for p in Permission.objects.filter(codename__in=wanted).select_related("content_type")
            if p.content_type.app_label == apps_of[p.codename]
        ]
        group.permissions.set(perms)


def demo_user_ensure(*, username: str, role: Role, password: str, full_name: str) -> User:
    """Create or reset a demo user in exactly one role."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    first, _, last = full_name.partition(" ")
    user, created = get_user_model().objects.get_or_create(username=username)
    user.first_name, user.last_name = first, last
    # Staff status only opens the admin; what each role sees there is its group's permissions.
    # Clients use the API and auditors the audit pages: neither has anything to do in the admin.
    user.is_staff = role not in (Role.INTEGRATION_CLIENT, Role.AUDITOR)
    user.set_password(password)
    user.save()
    user.groups.set([Group.objects.get(name=role.value)])
    audit_record(
        action=AuditAction.CREATE if created else AuditAction.CHANGE,
        object_type=AuditObject.USER,
        object_id=user.pk,
        changes={"username": (None, username), "role": (None, role.value), "password": (None, MASKED)},
    )
    return user


@transaction.atomic
def api_token_revoke(*, token_id: int, user: User) -> ApiToken:
    """Revoke an integration client's token. Revoking twice keeps the first revocation time."""
    require_role(user, Role.MANAGER, action="revoke an API token")
    try:
        token = ApiToken.objects.select_for_update().get(pk=token_id)
    except ApiToken.DoesNotExist as exc:
        raise NotFoundError(f"API token {token_id} does not exist") from exc
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditAction.CHANGE,
            object_type=AuditObject.API_TOKEN,
            object_id=token.pk,
            user=user,
            changes={"revoked_at": (None, token.revoked_at)},
        )
    return token


# --- webhooks -------------------------------------------------------------------------------

WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_MAX_ATTEMPTS = 8


def _webhook_target_problem(url: str) -> str | None:
    """Refuse URLs that would let a client make this server call into the plan's own network."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    from django.conf import settings

    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.scheme != "https" and not settings.WEBHOOK_ALLOW_HTTP:
        return "must use https"
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"host {parts.hostname!r} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            return f"host {parts.hostname!r} is on a private network"
    return None


def webhook_subscribe(*, client: User, url: str) -> tuple[WebhookSubscription, str]:
    """Register a webhook; the signing secret is returned once."""
    require_role(client, Role.INTEGRATION_CLIENT, action="register webhooks")
    problem = _webhook_target_problem(url)
    if problem:
        raise ValidationFailed({"url": [problem]})
    secret = secrets.token_hex(32)
    with transaction.atomic():
        subscription, created = WebhookSubscription.objects.get_or_create(
            client=client, url=url, defaults={"secret": secret}
        )
        if not created:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(secret=secret, active=True)
        audit_record(
            action=AuditAction.CREATE if created else AuditAction.CHANGE,
            object_type=AuditObject.WEBHOOK,
            object_id=subscription.pk,
            user=client,
            changes={
                **(
                    {"url": (None, url)}
                    if created
                    else changes_between({"active": subscription.active}, {"active": True})
                ),
                "secret": (None if created else MASKED, MASKED),
            },
        )
    return subscription, secret


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_deliver(*, delivery_id: int) -> str:
    """POST one notification. Returns delivered, retry or failed; idempotent once delivered."""
    import json
    import urllib.error
    import urllib.request

    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDeliveryStatus.PENDING:
        return "done"
    subscription = delivery.subscription
    attempts = delivery.attempts + 1
    problem = _webhook_target_problem(subscription.url)
    if problem:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDeliveryStatus.FAILED, attempts=attempts, last_error=problem
        )
        return "failed"
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    timestamp = str(int(timezone.now().timestamp()))
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "casemgmt-webhooks/1",
            "X-Casemgmt-Delivery": str(delivery.pk),
            "X-Casemgmt-Signature": f"t={timestamp},v1={webhook_signature(subscription.secret, timestamp, body)}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            code = response.status
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        code, error = 0, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDeliveryStatus.PENDING).update(
            status=WebhookDeliveryStatus.DELIVERED, attempts=attempts, delivered_at=timezone.now(), last_error=""
        )
        return "delivered"
    gave_up = attempts >= WEBHOOK_MAX_ATTEMPTS
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDeliveryStatus.PENDING).update(
        status=WebhookDeliveryStatus.FAILED if gave_up else WebhookDeliveryStatus.PENDING,
        attempts=attempts,
        last_error=error,
    )
    return "failed" if gave_up else "retry"


# --- claiming and assignment ----------------------------------------------------------------


def _person(user: User | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def _assignment_refused(case_id: int, user: User) -> DomainError:
    """Why a guarded assignment update matched no row, read after the fact."""
    case = Case.objects.select_related("assignee").filter(pk=case_id).first()
    if case is None:
        return NotFoundError("no such case")
    if not case.is_open:
        return InvalidTransition(
            f"case {case.case_number} is {case.get_status_display().lower()}; it can no longer be claimed",
            current_status=case.status,
        )
    if case.assignee is not None:
        owner = "you" if case.assignee_id == user.pk else _person(case.assignee)
        return ConflictError(
            f"{case.case_number} is already claimed by {owner}.",
            case_number=case.case_number,
            assignee=case.assignee.get_username(),
        )
    # Unassigned and open, yet the guard failed: its status moved between our read and write.
    return ConflictError(f"{case.case_number} changed while you claimed it; try again.", case_number=case.case_number)


def _assignment_event(case: Case, user: User, now: datetime, previous_status: str, **detail: Any) -> CaseEvent:
    event = _event(case, CaseEventKind.CLAIMED, user, now, previous_status=previous_status, **detail)
    if previous_status != case.status:
        # CLAIMED is not a status event in general, but received -> in review is a status change
        # the submitting client is promised a notification for.
        _webhooks_queue(case, [event], status=case.status)
    return event


def case_claim(*, case_id: int, user: User) -> Case:
    """A reviewer takes an unassigned open case. One owner at a time; a received case goes into review.

    The write is a conditional UPDATE (assignee still empty, status still what we read), so of
    two reviewers claiming at once exactly one wins; the other learns who did.
    """
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="claim a case")
    with transaction.atomic():
        current = Case.objects.filter(pk=case_id).values_list("status", flat=True).first()
        if current is None:
            raise NotFoundError("no such case")
        to = CaseStatus.IN_REVIEW if current == CaseStatus.RECEIVED else current
        now = timezone.now()
        claimed = Case.objects.filter(
            pk=case_id, assignee__isnull=True, status=current, status__in=OPEN_STATUSES
        ).update(assignee=user, status=to, row_version=F("row_version") + 1, updated_at=now)
        if not claimed:
            raise _assignment_refused(case_id, user)
        case = Case.objects.select_related("assignee").get(pk=case_id)
        _assignment_event(case, user, now, current, assignee=user.get_username())
        _case_change_recorded(
            case,
            user,
            changes=changes_between(
                {"assignee": None, "status": current}, {"assignee": user.get_username(), "status": to}
            ),
            detail={"event": CaseEventKind.CLAIMED},
        )
        return case


def case_reassign(*, case_id: int, user: User, assignee_id: int, expected_row_version: int | None = None) -> Case:
    """A manager gives an open case to a nurse or physician reviewer (or moves it to another one).

    With `expected_row_version`, a case that changed since the manager's page was drawn is refused
    rather than reassigned over whatever happened to it.
    """
    require_role(user, Role.MANAGER, action="reassign a case")
    assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
    if assignee is None or not has_role(assignee, Role.NURSE, Role.PHYSICIAN):
        raise ValidationFailed({"assignee_id": ["choose an active nurse or physician reviewer"]})
    with transaction.atomic():
        case = _lock_case(
            case_id,
            expected_row_version=expected_row_version,
            allowed=OPEN_STATUSES,
            refusal="it can no longer be reassigned",
        )
        previous_status, previous_assignee = case.status, case.assignee_id
        if previous_assignee == assignee.pk:
            return case
        to = CaseStatus.IN_REVIEW if previous_status == CaseStatus.RECEIVED else previous_status
        now = timezone.now()
        Case.objects.filter(pk=case.pk, row_version=case.row_version).update(
            assignee=assignee, status=to, row_version=F("row_version") + 1, updated_at=now
        )
        case.refresh_from_db()
        # There is no separate "reassigned" event kind: the timeline shows a claim made by the
        # manager on the assignee's behalf, with who held the case before.
        _assignment_event(
            case,
            user,
            now,
            previous_status,
            assignee=assignee.get_username(),
            previous_assignee_id=previous_assignee,
            reassigned_by=user.get_username(),
        )
        _case_change_recorded(
            case,
            user,
            changes=changes_between(
                {"assignee_id": previous_assignee, "status": previous_status},
                {"assignee_id": assignee.pk, "status": case.status},
            ),
            detail={"event": "reassigned", "assignee": assignee.get_username()},
        )
        return case


# --- reviewer workspace: notes, peer-to-peer, letters ---------------------------------------

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
        case = _lock_case(case_id, expected_row_version=expected_row_version)
        now = timezone.now()
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        event = _event(case, CaseEventKind.NOTE, user, now, text=text)
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
        case = _lock_case(
            case_id,
            expected_row_version=expected_row_version,
            allowed=[s for s in CaseStatus.values if s not in (CaseStatus.CANCELLED, CaseStatus.CLOSED)],
            refusal="no discussion can be recorded",
        )
        if held_at < case.received_at - PEER_TO_PEER_CLOCK_SKEW:
            raise ValidationFailed({"held_at": ["is before the request was received"]})
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        event = _event(
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
        event = _event(
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

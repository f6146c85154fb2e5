"""Gold cards: providers whose requests for a service were nearly always approved are exempt from
review of it (../shared/DOMAIN.md, "Triage at intake"; issue 17, section 5; Texas HB 3459).

A manager defines a programme: the services (a policy, any of its published or retired versions'
codes and ranges, and/or a code range), a line of business, and the bar: an approval rate of at
least `min_approval_rate` percent over the last `period_months` months with at least
`min_requests` decided requests (defaults 90%, 6 months, 5 requests).

What an evaluation counts, for each requesting provider (NPI):

- A *request* is an initial request (prospective or retrospective review; appeals and extensions
  are not requests) of the programme's line of business, first determined in the period
  (`Case.first_determined_at` in [now - period_months, now)).
- Its *lines in the programme* are the lines of its decision of record (the decision no other
  supersedes, so a reopening or correction counts as it came out) whose service the programme
  covers and that a nurse or physician reviewer determined: approved (A1), partially approved
  (A2), denied (A3) or modified (A6). Pended lines are no determination. Lines answered at intake
  (approved automatically, by criteria met or by a gold card, or "no authorization required")
  are not counted: an automated approval is not evidence that a person found the provider's
  requests approvable, and counting its own approvals would let a gold card renew itself.
- A request with at least one such line is *decided*; it is *approved* when every one of those
  lines was approved in full (A1). Rate = approved / decided, in percent.

The rules an evaluation applies to each programme:

- A provider with at least `min_requests` decided requests and a rate at or above the bar gets
  an evaluated exemption with its evidence, unless one of its exemptions is already active.
- An active *evaluated* exemption ends when its provider has at least `min_requests` decided
  requests and a rate below the bar (the ended reason gives the figures). It takes as much
  evidence to end one as to earn one: an exempt provider's requests are approved at intake and
  no longer counted, so "too few requests" is what a working gold card looks like.
- A manager's *granted* exemption is never ended by an evaluation; only a revocation ends it.
- A provider whose exemption under the programme a manager revoked is not granted one by
  evaluation until the revocation is older than the programme's period: the evidence for a new
  exemption must all postdate the revocation. A manager may still grant one by hand.

An evaluation reads one aggregate per programme (GROUP BY provider over the decision lines) and
writes in batches; it is idempotent (a second run finds nothing to change) and serialised with
grants by a lock on the programme row.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import Count, Q, Value, When
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.audit.services import audit_event_build, audit_record, changes_between
from casemgmt.cases.models import (
    INITIAL_REVIEW_TYPES,
    DecisionLine,
    GoldCardExemption,
    GoldCardProgramme,
    GoldCardSource,
    GoldCardStatus,
    LineOutcome,
    ReviewerRole,
)
from casemgmt.cases.validation import Problems, check_npi
from casemgmt.kernel.errors import InvalidTransition, NotFoundError, ValidationFailed
from casemgmt.kernel.roles import Role, require_role
from policies_app.codes import (
    code_problem,
    icd10cm_range_roots,
    icd10cm_range_span,
    normalize_code,
    range_problem,
)
from policies_app.models import LineOfBusiness, Policy, PolicyCode, PolicyVersionStatus

# The outcomes of a determination a person made on an initial request's line.
DETERMINED_OUTCOMES = (
    LineOutcome.APPROVED,
    LineOutcome.PARTIALLY_APPROVED,
    LineOutcome.DENIED,
    LineOutcome.MODIFIED,
)
HUMAN_ROLES = (ReviewerRole.NURSE, ReviewerRole.PHYSICIAN)
SERVICE_CODE_SYSTEMS = ("CPT", "HCPCS")
MAX_PERIOD_MONTHS = 60
REASON_MAX = 2000
BATCH = 500
RATE_STEP = Decimal("0.01")


# --- programmes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeValues:
    name: str
    line_of_business: str
    policy_id: int | None
    code_system: str
    code_start: str
    code_end: str
    min_approval_rate: Decimal
    period_months: int
    min_requests: int


def gold_card_programme_values(
    *,
    name: str,
    line_of_business: str,
    policy_id: int | None,
    code_system: str,
    code_start: str,
    code_end: str,
    min_approval_rate: Decimal | int | str,
    period_months: int,
    min_requests: int,
) -> ProgrammeValues:
    """The programme's values, normalised, or ValidationFailed naming each field that is wrong."""
    problems = Problems()
    name = (name or "").strip()
    if not name:
        problems.add("name", "A programme needs a name.")
    elif len(name) > 200:
        problems.add("name", "At most 200 characters.")
    if line_of_business not in LineOfBusiness.values:
        problems.add("line_of_business", "Choose a line of business.")
    if policy_id is not None and not Policy.objects.filter(pk=policy_id).exists():
        problems.add("policy", "No such policy.")
    code_system = (code_system or "").strip()
    code_start = normalize_code(code_system, code_start or "")
    code_end = normalize_code(code_system, code_end or "")
    if code_system and code_system not in SERVICE_CODE_SYSTEMS:
        problems.add("code_system", "Services are CPT or HCPCS Level II codes.")
    elif code_end and not code_start:
        problems.add("code_start", "A range needs its first code.")
    elif code_start and not code_system:
        problems.add("code_system", "Say which code system the codes are in.")
    elif code_start:
        problem = (
            range_problem(code_system, code_start, code_end) if code_end else code_problem(code_system, code_start)
        )
        if problem:
            problems.add(
                "code_end" if code_end and not code_problem(code_system, code_start) else "code_start", problem
            )
    if policy_id is None and not code_start and "code_start" not in problems.errors:
        problems.add("policy", "Choose a policy or give a code range (or both).")
    try:
        rate = Decimal(str(min_approval_rate))
        if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(100):
            raise InvalidOperation
        if rate != rate.quantize(RATE_STEP):
            problems.add("min_approval_rate", "At most two decimal places.")
    except (InvalidOperation, ValueError):
        problems.add("min_approval_rate", "A percentage from 0 to 100.")
        rate = Decimal(0)
    if not isinstance(period_months, int) or not 1 <= period_months <= MAX_PERIOD_MONTHS:
        problems.add("period_months", f"From 1 to {MAX_PERIOD_MONTHS} months.")
    if not isinstance(min_requests, int) or min_requests < 1:
        problems.add("min_requests", "At least 1 request.")
    if problems:
        raise ValidationFailed(problems.errors)
    return ProgrammeValues(
        name=name,
        line_of_business=line_of_business,
        policy_id=policy_id,
        code_system=code_system if code_start else "",
        code_start=code_start,
        code_end=code_end if code_end != code_start else "",
        min_approval_rate=rate,
        period_months=period_months,
        min_requests=min_requests,
    )


def _programme_audit_values(programme: GoldCardProgramme) -> dict[str, Any]:
    return {
        "name": programme.name,
        "line_of_business": programme.line_of_business,
        "policy": programme.policy_id,
        "code_system": programme.code_system,
        "code_start": programme.code_start,
        "code_end": programme.code_end,
        "min_approval_rate": programme.min_approval_rate,
        "period_months": programme.period_months,
        "min_requests": programme.min_requests,
        "active": programme.active,
    }


def gold_card_programme_create(
    *,
    user: User,
    name: str,
    line_of_business: str,
    policy_id: int | None = None,
    code_system: str = "",
    code_start: str = "",
    code_end: str = "",
    min_approval_rate: Decimal | int | str = Decimal(90),
    period_months: int = 6,
    min_requests: int = 5,
) -> GoldCardProgramme:
    """Define a gold-card programme (a manager). Its first evaluation is the next scheduled one."""
    require_role(user, Role.MANAGER, action="define a gold-card programme")
    values = gold_card_programme_values(
        name=name,
        line_of_business=line_of_business,
        policy_id=policy_id,
        code_system=code_system,
        code_start=code_start,
        code_end=code_end,
        min_approval_rate=min_approval_rate,
        period_months=period_months,
        min_requests=min_requests,
    )
    with transaction.atomic():
        programme = GoldCardProgramme.objects.create(
            **asdict(values), created_by=user, created_at=timezone.now(), active=True
        )
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.GOLD_CARD_PROGRAMME,
            object_id=programme.pk,
            user=user,
            changes=changes_between({}, _programme_audit_values(programme)),
        )
    return programme


def _locked_programme(programme_id: int) -> GoldCardProgramme:
    programme = GoldCardProgramme.objects.select_for_update().filter(pk=programme_id).first()
    if programme is None:
        raise NotFoundError(f"gold-card programme {programme_id} does not exist", field="programme")
    return programme


def gold_card_programme_update(
    *,
    user: User,
    programme_id: int,
    name: str,
    line_of_business: str,
    policy_id: int | None = None,
    code_system: str = "",
    code_start: str = "",
    code_end: str = "",
    min_approval_rate: Decimal | int | str = Decimal(90),
    period_months: int = 6,
    min_requests: int = 5,
) -> GoldCardProgramme:
    """Change a programme (a manager). Its exemptions keep the evidence they were granted on; the
    next evaluation applies the new terms (an evaluated exemption that no longer meets them ends)."""
    require_role(user, Role.MANAGER, action="change a gold-card programme")
    values = gold_card_programme_values(
        name=name,
        line_of_business=line_of_business,
        policy_id=policy_id,
        code_system=code_system,
        code_start=code_start,
        code_end=code_end,
        min_approval_rate=min_approval_rate,
        period_months=period_months,
        min_requests=min_requests,
    )
    with transaction.atomic():
        programme = _locked_programme(programme_id)
        if not programme.active:
            raise InvalidTransition("This programme has been deactivated; define a new one instead.")
        before = _programme_audit_values(programme)
        fields = asdict(values)
        for name_, value in fields.items():
            setattr(programme, name_, value)
        programme.save(update_fields=list(fields))
        changes = changes_between(before, _programme_audit_values(programme))
        if changes:
            audit_record(
                action=AuditAction.CHANGE,
                object_type=AuditObject.GOLD_CARD_PROGRAMME,
                object_id=programme.pk,
                user=user,
                changes=changes,
            )
    return programme


def gold_card_programme_deactivate(*, user: User, programme_id: int, reason: str = "") -> GoldCardProgramme:
    """Stop a programme (a manager): it is no longer evaluated, and its active exemptions end
    (with the reason, when one is given). Deactivating twice is refused."""
    require_role(user, Role.MANAGER, action="deactivate a gold-card programme")
    reason = (reason or "").strip()[:REASON_MAX]
    now = timezone.now()
    with transaction.atomic():
        programme = _locked_programme(programme_id)
        if not programme.active:
            raise InvalidTransition("This programme is already deactivated.")
        programme.active = False
        programme.save(update_fields=["active"])
        ended = list(
            GoldCardExemption.objects.filter(programme=programme, status=GoldCardStatus.ACTIVE).values_list(
                "pk", "provider_npi"
            )
        )
        ended_reason = f"Programme \u201c{programme.name}\u201d deactivated" + (f": {reason}" if reason else ".")
        GoldCardExemption.objects.filter(pk__in=[pk for pk, _ in ended], status=GoldCardStatus.ACTIVE).update(
            status=GoldCardStatus.ENDED, ended_at=now, ended_by=user, ended_reason=ended_reason
        )
        audit_record(
            action=AuditAction.CHANGE,
            object_type=AuditObject.GOLD_CARD_PROGRAMME,
            object_id=programme.pk,
            user=user,
            changes={"active": (True, False)},
            detail={"reason": reason, "exemptions_ended": [pk for pk, _ in ended]},
        )
        AuditEvent.objects.bulk_create(
            [
                _exemption_event(
                    pk,
                    npi,
                    programme.pk,
                    user=user,
                    changes={"status": (GoldCardStatus.ACTIVE.value, GoldCardStatus.ENDED.value)},
                    detail={"ended_reason": ended_reason},
                )
                for pk, npi in ended
            ],
            batch_size=BATCH,
        )
    return programme


# --- the figures --------------------------------------------------------------------------------


def months_before(moment: datetime, months: int) -> datetime:
    """The same local time `months` calendar months earlier (the 31st falls back to the month's end)."""
    local = timezone.localtime(moment)
    index = local.year * 12 + local.month - 1 - months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Period:
    start_at: datetime
    end_at: datetime

    @property
    def start(self) -> date:
        return timezone.localdate(self.start_at)

    @property
    def end(self) -> date:
        return timezone.localdate(self.end_at)

    def __str__(self) -> str:
        return f"{self.start:%d %b %Y} to {self.end:%d %b %Y}"


def programme_period(programme: GoldCardProgramme, now: datetime) -> Period:
    return Period(months_before(now, programme.period_months), now)


def _services_filter(programme: GoldCardProgramme) -> Q:
    """The decision lines whose service the programme covers: its policy's codes and ranges (any
    published or retired version) or its own code range. Built from the few codes in Python, so
    the database compares columns with constants."""
    covers = Q(pk__in=[])
    if programme.policy_id is not None:
        codes = PolicyCode.objects.filter(
            version__policy_id=programme.policy_id,
            version__status__in=[PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED],
        ).values_list("system", "code", "code_end")
        singles: dict[str, set[str]] = {}
        for system, first, last in codes.distinct():
            # An ICD-10-CM code listed alone holds the codes under it, as the flagging engine reads it.
            if (last and last != first) or system == "ICD10CM":
                covers |= _policy_range_filter(system, first, last or first)
            else:
                singles.setdefault(system, set()).add(first)
        for system, values in singles.items():
            covers |= Q(service_line__code_system=system, service_line__code__in=sorted(values))
    if programme.code_start:
        if programme.code_end:
            covers |= Q(
                service_line__code_system=programme.code_system,
                service_line__code__gte=programme.code_start,
                service_line__code__lte=programme.code_end,
            )
        else:
            covers |= Q(service_line__code_system=programme.code_system, service_line__code=programme.code_start)
    return covers


def _policy_range_filter(system: str, first: str, last: str) -> Q:
    """The decision lines whose code is in a range of a policy, read as the engine reads it: an
    ICD-10-CM range in tabular order, with every code under its last code (as its codes and the
    codes under its roots, dotted or not, since a line keeps its code as submitted); any other
    range between its ends in text order."""
    if system == "ICD10CM" and icd10cm_range_span(first, last) is not None:
        alone, roots = icd10cm_range_roots(first, last)
        within = Q(service_line__code__in=sorted({form for code in alone for form in (code, code.replace(".", ""))}))
        for root in roots:
            within |= Q(service_line__code__startswith=root)
            if "." in root:
                within |= Q(service_line__code__startswith=root.replace(".", ""))
        return Q(service_line__code_system=system) & within
    return Q(service_line__code_system=system, service_line__code__gte=first, service_line__code__lte=last)


def _figures_query(programme: GoldCardProgramme, period: Period, provider_npi: str | None = None) -> Any:
    """One row per requesting provider: (npi, decided requests, requests with a line not approved
    in full). One GROUP BY over the decision lines of record (see the module docstring)."""
    lines = DecisionLine.objects.filter(
        _services_filter(programme),
        outcome__in=DETERMINED_OUTCOMES,
        carried_from__isnull=True,
        decision__decided_role__in=HUMAN_ROLES,
        decision__superseded_by__isnull=True,
        decision__case__review_type__in=INITIAL_REVIEW_TYPES,
        decision__case__line_of_business=programme.line_of_business,
        decision__case__first_determined_at__gte=period.start_at,
        decision__case__first_determined_at__lt=period.end_at,
    )
    if provider_npi is not None:
        lines = lines.filter(decision__case__requesting_provider_npi=provider_npi)
    return (
        lines.values_list("decision__case__requesting_provider_npi")
        .annotate(
            decided=Count("decision__case_id", distinct=True),
            not_approved=Count("decision__case_id", distinct=True, filter=~Q(outcome=LineOutcome.APPROVED)),
        )
        .order_by()
    )


@dataclass(frozen=True)
class Figures:
    decided: int
    approved: int

    @property
    def rate(self) -> Decimal:
        """Approved / decided in percent, rounded down to 0.01 (never shown above the truth)."""
        if not self.decided:
            return Decimal("0.00")
        return (Decimal(self.approved * 100) / Decimal(self.decided)).quantize(RATE_STEP, rounding=ROUND_DOWN)

    def meets(self, programme: GoldCardProgramme) -> bool:
        return self.decided >= programme.min_requests and self.approved * 100 >= programme.min_approval_rate * (
            self.decided
        )

    def text(self, period: Period) -> str:
        return f"{self.approved} of {self.decided} requests approved ({self.rate}%) from {period}"


def provider_figures(*, programme: GoldCardProgramme, provider_npi: str, now: datetime | None = None) -> Figures:
    """One provider's figures under a programme now (what a grant records as its evidence)."""
    period = programme_period(programme, now or timezone.now())
    rows = list(_figures_query(programme, period, provider_npi))
    if not rows:
        return Figures(0, 0)
    [(_, decided, not_approved)] = rows
    return Figures(decided, decided - not_approved)


# --- evaluation ---------------------------------------------------------------------------------


@dataclass
class ProgrammeEvaluation:
    programme_id: int
    period_start: date
    period_end: date
    providers: int = 0
    qualifying: int = 0
    granted: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    skipped_revoked: list[str] = field(default_factory=list)


@dataclass
class EvaluationSummary:
    at: datetime
    programmes: list[ProgrammeEvaluation] = field(default_factory=list)

    @property
    def granted(self) -> int:
        return sum(len(p.granted) for p in self.programmes)

    @property
    def ended(self) -> int:
        return sum(len(p.ended) for p in self.programmes)

    def as_dict(self) -> dict[str, int]:
        return {"programmes": len(self.programmes), "granted": self.granted, "ended": self.ended}


def _exemption_event(
    exemption_id: int,
    provider_npi: str,
    programme_id: int,
    *,
    user: User | None,
    changes: dict[str, tuple[Any, Any]],
    detail: dict[str, Any],
    action: AuditAction = AuditAction.CHANGE,
) -> AuditEvent:
    return audit_event_build(
        action=action,
        object_type=AuditObject.GOLD_CARD_EXEMPTION,
        object_id=exemption_id,
        user=user,
        changes=changes,
        detail={"programme": programme_id, "provider_npi": provider_npi, **detail},
    )


def _evidence_changes(exemption: GoldCardExemption) -> dict[str, tuple[Any, Any]]:
    return {
        "status": (None, exemption.status),
        "source": (None, exemption.source),
        "provider_npi": (None, exemption.provider_npi),
        "period_start": (None, exemption.period_start),
        "period_end": (None, exemption.period_end),
        "decided_count": (None, exemption.decided_count),
        "approved_count": (None, exemption.approved_count),
        "approval_rate": (None, exemption.approval_rate),
    }


def _chunks(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _evaluate_programme(programme_id: int, now: datetime, user: User | None) -> ProgrammeEvaluation | None:
    with transaction.atomic():
        # The lock serialises evaluations of one programme with each other and with grants.
        programme = GoldCardProgramme.objects.select_for_update().filter(pk=programme_id, active=True).first()
        if programme is None:
            return None
        period = programme_period(programme, now)
        result = ProgrammeEvaluation(programme.pk, period.start, period.end)
        active = {
            npi: (pk, source)
            for npi, pk, source in GoldCardExemption.objects.filter(
                programme=programme, status=GoldCardStatus.ACTIVE
            ).values_list("provider_npi", "pk", "source")
        }
        # Only a card the evaluation earned is ended by it; a manager's grant stays.
        active_ids = {npi: pk for npi, (pk, source) in active.items() if source == GoldCardSource.EVALUATED}
        revoked = set(
            GoldCardExemption.objects.filter(
                programme=programme, status=GoldCardStatus.REVOKED, ended_at__gte=period.start_at
            ).values_list("provider_npi", flat=True)
        )
        new: list[GoldCardExemption] = []
        to_end: list[tuple[int, str, Figures]] = []
        for npi, decided, not_approved in _figures_query(programme, period).iterator(chunk_size=5000):
            figures = Figures(decided, decided - not_approved)
            result.providers += 1
            if figures.meets(programme):
                result.qualifying += 1
                if npi in active:
                    continue
                if npi in revoked:
                    result.skipped_revoked.append(npi)
                    continue
                new.append(
                    GoldCardExemption(
                        programme=programme,
                        provider_npi=npi,
                        source=GoldCardSource.EVALUATED,
                        status=GoldCardStatus.ACTIVE,
                        period_start=period.start,
                        period_end=period.end,
                        decided_count=figures.decided,
                        approved_count=figures.approved,
                        approval_rate=figures.rate,
                        granted_at=now,
                    )
                )
            elif npi in active_ids and figures.decided >= programme.min_requests:
                to_end.append((active_ids[npi], npi, figures))

        events: list[AuditEvent] = []
        for batch in _chunks(new):
            for exemption in GoldCardExemption.objects.bulk_create(batch):
                result.granted.append(exemption.provider_npi)
                events.append(
                    _exemption_event(
                        exemption.pk,
                        exemption.provider_npi,
                        programme.pk,
                        user=user,
                        action=AuditAction.CREATE,
                        changes=_evidence_changes(exemption),
                        detail={"event": "earned_by_evaluation"},
                    )
                )
        for batch in _chunks(to_end):
            reasons = {
                pk: f"No longer meets the programme: {figures.text(period)}; at least "
                f"{programme.min_approval_rate}% of at least {programme.min_requests} requests needed."
                for pk, _, figures in batch
            }
            GoldCardExemption.objects.filter(
                pk__in=list(reasons), status=GoldCardStatus.ACTIVE, source=GoldCardSource.EVALUATED
            ).update(
                status=GoldCardStatus.ENDED,
                ended_at=now,
                ended_reason=SqlCase(*(When(pk=pk, then=Value(text)) for pk, text in reasons.items())),
            )
            for pk, npi, _ in batch:
                result.ended.append(npi)
                events.append(
                    _exemption_event(
                        pk,
                        npi,
                        programme.pk,
                        user=user,
                        changes={"status": (GoldCardStatus.ACTIVE.value, GoldCardStatus.ENDED.value)},
                        detail={"event": "ended_by_evaluation", "ended_reason": reasons[pk]},
                    )
                )
        events.append(
            audit_event_build(
                action=AuditAction.CHANGE,
                object_type=AuditObject.GOLD_CARD_PROGRAMME,
                object_id=programme.pk,
                user=user,
                detail={
                    "event": "evaluated",
                    "period_start": period.start,
                    "period_end": period.end,
                    "providers": result.providers,
                    "qualifying": result.qualifying,
                    "granted": len(result.granted),
                    "ended": len(result.ended),
                    "not_granted_after_revocation": len(result.skipped_revoked),
                },
            )
        )
        AuditEvent.objects.bulk_create(events, batch_size=BATCH)
    return result


def gold_cards_evaluate(*, now: datetime | None = None, user: User | None = None) -> EvaluationSummary:
    """Evaluate every active programme (the beat task "gold cards: evaluation", or a manager's
    "evaluate now" in the admin, `user`); see the module docstring for the rules. Each programme
    is evaluated in its own transaction, audited by one row summarising it and one row per
    exemption earned or ended. Idempotent."""
    if user is not None:
        require_role(user, Role.MANAGER, action="evaluate gold-card programmes")
    now = now or timezone.now()
    summary = EvaluationSummary(at=now)
    for programme_id in GoldCardProgramme.objects.filter(active=True).order_by("pk").values_list("pk", flat=True):
        result = _evaluate_programme(programme_id, now, user)
        if result is not None:
            summary.programmes.append(result)
    return summary


# --- grant and revoke ---------------------------------------------------------------------------


def gold_card_grant(*, user: User, programme_id: int, provider_npi: str, reason: str) -> GoldCardExemption:
    """Exempt a provider under a programme by hand (a manager), with a reason. Its evidence is
    the provider's figures now; an evaluation never ends it (a revocation does)."""
    require_role(user, Role.MANAGER, action="grant a gold card")
    problems = Problems()
    provider_npi = (provider_npi or "").strip()
    check_npi(problems, "provider_npi", provider_npi)
    reason = (reason or "").strip()
    if not reason:
        problems.add("reason", "Say why the provider is exempted.")
    elif len(reason) > REASON_MAX:
        problems.add("reason", f"At most {REASON_MAX} characters.")
    if problems:
        raise ValidationFailed(problems.errors)
    now = timezone.now()
    with transaction.atomic():
        programme = GoldCardProgramme.objects.select_for_update().filter(pk=programme_id).first()
        if programme is None:
            raise ValidationFailed({"programme": ["No such programme."]})
        if not programme.active:
            raise ValidationFailed({"programme": ["This programme has been deactivated."]})
        if GoldCardExemption.objects.filter(
            programme=programme, provider_npi=provider_npi, status=GoldCardStatus.ACTIVE
        ).exists():
            raise ValidationFailed({"provider_npi": ["This provider already holds an active gold card here."]})
        period = programme_period(programme, now)
        figures = provider_figures(programme=programme, provider_npi=provider_npi, now=now)
        exemption = GoldCardExemption.objects.create(
            programme=programme,
            provider_npi=provider_npi,
            source=GoldCardSource.GRANTED,
            status=GoldCardStatus.ACTIVE,
            period_start=period.start,
            period_end=period.end,
            decided_count=figures.decided,
            approved_count=figures.approved,
            approval_rate=figures.rate,
            reason=reason,
            granted_by=user,
            granted_at=now,
        )
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.GOLD_CARD_EXEMPTION,
            object_id=exemption.pk,
            user=user,
            changes={**_evidence_changes(exemption), "reason": (None, reason)},
            detail={"programme": programme.pk, "provider_npi": provider_npi, "event": "granted"},
        )
    return exemption


def gold_card_revoke(*, user: User, exemption_id: int, reason: str) -> GoldCardExemption:
    """End an active exemption (a manager), with a reason. Guarded: an exemption that is no
    longer active (ended, revoked, perhaps a moment ago by someone else) is refused with 409."""
    require_role(user, Role.MANAGER, action="revoke a gold card")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say why the gold card is revoked."]})
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": [f"At most {REASON_MAX} characters."]})
    now = timezone.now()
    with transaction.atomic():
        updated = GoldCardExemption.objects.filter(pk=exemption_id, status=GoldCardStatus.ACTIVE).update(
            status=GoldCardStatus.REVOKED, ended_at=now, ended_by=user, ended_reason=reason
        )
        exemption = GoldCardExemption.objects.select_related("programme").filter(pk=exemption_id).first()
        if exemption is None:
            raise NotFoundError(f"gold-card exemption {exemption_id} does not exist")
        if updated != 1:
            raise InvalidTransition(
                f"This gold card is no longer active ({exemption.get_status_display().lower()}); reload the page."
            )
        audit_record(
            action=AuditAction.CHANGE,
            object_type=AuditObject.GOLD_CARD_EXEMPTION,
            object_id=exemption.pk,
            user=user,
            changes={
                "status": (GoldCardStatus.ACTIVE.value, GoldCardStatus.REVOKED.value),
                "ended_reason": ("", reason),
            },
            detail={"programme": exemption.programme_id, "provider_npi": exemption.provider_npi, "event": "revoked"},
        )
    return exemption

"""Figures for the manager dashboard and the yearly CMS-0057-F public metrics.

Reads only. Every function costs a fixed number of queries whatever the number of cases: counts
are SQL aggregates; the decision figures read one narrow row per decided case (`values_list`,
no model instances), because the median needs each duration and "due at the time of the
decision" needs each case's later deadline extensions.

Rules (../shared/DOMAIN.md, "Public metrics" and "Deadlines"):

- A period is [start, end) of local calendar dates; a decision belongs to the period of its
  `decided_at`.
- A case's *decision of record* is its latest decision: the one no other decision supersedes.
  A decision that pends any line is not a determination (the case waits for information), so a
  case whose latest decision pends is not counted as decided.
- Outcome of a request, from its decision of record: **approved** if every line is approved
  (A1); **denied** if any line is denied (A3), whatever the other lines say; otherwise
  **partially approved or modified** (some line A2 or A6, none denied), counted on its own.
- **Approved after appeal**: the decision of record approves the request and an earlier
  decision of the same case denied it. `decision_record` always supersedes the case's latest
  decision under the case's row lock, so a case's decisions form one `supersedes` chain in id
  order and "earlier in the chain" is "smaller id". The model has no appeal marker, so a
  physician's correction of a denial to an approval counts here too.
- **Approved after an extended timeframe**: approved, and either a pend moved the deadline
  before the decision (an INFORMATION_RECEIVED event with `clock_extension_seconds` > 0) or the
  decision came after the deadline.
- **In time**: `decided_at <= due_at` as the deadline stood when the decision was made, i.e.
  the case's `due_at` less any pend extension granted after the decision (a reopened case).
- The CMS-0057-F figures cover prior authorization, i.e. prospective (pre-service) requests;
  retrospective reviews count in timeliness and workload but not there. Percentages of
  standard (expedited) requests are of the standard (expedited) requests decided in the
  period; "after appeal" and "after an extended timeframe" are of all prospective requests
  decided in the period.
- Time to decision runs from `received_at` to the decision of record's `decided_at`; for an
  appealed case that includes the appeal.
- Open cases and their due risk are a snapshot as of now, not of the period.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import User
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from casemgmt.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseEventKind,
    Decision,
    DecisionLine,
    LineOutcome,
    ReviewType,
    Urgency,
)
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyCode, PolicyVersionStatus

# The work queue's countdown colours use the same bounds: due at or before now is overdue, due
# within the next 24 h (inclusive) is at risk.
DUE_SOON = timedelta(hours=24)


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end) in local calendar dates."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end, time.min))

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        """ISO 8601 interval; the end date is not included."""
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @classmethod
    def calendar_year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year + 1, 1, 1))


@dataclass(frozen=True)
class Rate:
    """`count` out of `total`; the percentage is None when there is nothing to divide by."""

    count: int
    total: int

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else round(100.0 * self.count / self.total, 1)


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class OpenCases:
    """Open cases as of `as_of`, by status and by how close their deadline is."""

    as_of: datetime
    by_status: tuple[StatusCount, ...]
    overdue: int
    due_within_24h: int
    due_later: int
    unassigned: int

    @property
    def total(self) -> int:
        return self.overdue + self.due_within_24h + self.due_later


@dataclass(frozen=True)
class Timeliness:
    in_time: int
    late: int

    @property
    def total(self) -> int:
        return self.in_time + self.late

    @property
    def in_time_rate(self) -> Rate:
        return Rate(self.in_time, self.total)


@dataclass(frozen=True)
class ReviewerLoad:
    user_id: int
    username: str
    name: str
    open_assigned: int
    decisions: int


@dataclass(frozen=True)
class DurationStats:
    """Time from submission to decision over `count` decided requests."""

    count: int
    mean: timedelta | None
    median: timedelta | None


@dataclass(frozen=True)
class OutcomeRates:
    """Outcomes of the requests of one urgency decided in the period."""

    total: int
    approved: Rate
    denied: Rate
    partial_or_modified: Rate
    time_to_decision: DurationStats


@dataclass(frozen=True)
class CmsMetrics:
    standard: OutcomeRates
    expedited: OutcomeRates
    approved_after_appeal: Rate
    approved_after_extension: Rate


@dataclass(frozen=True)
class PaService:
    """A code (or code range) that a published policy governs: a service requiring PA."""

    system: str
    code: str
    code_end: str
    description: str
    policy_number: str
    policy_title: str
    version_labels: tuple[str, ...]

    @property
    def code_label(self) -> str:
        return f"{self.code}–{self.code_end}" if self.code_end else self.code


@dataclass(frozen=True)
class DashboardMetrics:
    period: Period
    open_cases: OpenCases
    timeliness: Timeliness
    workload: tuple[ReviewerLoad, ...]
    cms: CmsMetrics
    services_requiring_pa: tuple[PaService, ...]


# --- open cases -----------------------------------------------------------------------------


def open_cases(now: datetime | None = None) -> OpenCases:
    """One grouped query: per open status, how many are overdue, due within 24 h, later."""
    now = now or timezone.now()
    rows = (
        Case.objects.filter(status__in=OPEN_STATUSES)
        .order_by()  # Meta.ordering must not leak into GROUP BY
        .values("status")
        .annotate(
            total=Count("pk"),
            overdue=Count("pk", filter=Q(due_at__lte=now)),
            soon=Count("pk", filter=Q(due_at__gt=now, due_at__lte=now + DUE_SOON)),
            unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        )
    )
    by_status: dict[str, dict[str, int]] = {
        row["status"]: {key: row[key] for key in ("total", "overdue", "soon", "unassigned")} for row in rows
    }
    totals = {key: sum(row[key] for row in by_status.values()) for key in ("total", "overdue", "soon", "unassigned")}
    return OpenCases(
        as_of=now,
        # Every open status, in workflow order, zero included: a chart with a missing bar misleads.
        by_status=tuple(
            StatusCount(status.value, status.label, by_status.get(status.value, {"total": 0})["total"])
            for status in OPEN_STATUSES
        ),
        overdue=totals["overdue"],
        due_within_24h=totals["soon"],
        due_later=totals["total"] - totals["overdue"] - totals["soon"],
        unassigned=totals["unassigned"],
    )


# --- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decided:
    """One decided case: its decision of record, reduced to what the figures need."""

    urgency: str
    review_type: str
    received_at: datetime
    due_at_then: datetime
    decided_at: datetime
    denied: bool
    approved: bool
    after_denial: bool
    extended: bool

    @property
    def in_time(self) -> bool:
        return self.decided_at <= self.due_at_then


def _lines(outcome: str | None = None, *, exclude: str | None = None) -> Exists:
    lines = DecisionLine.objects.filter(decision=OuterRef("pk"))
    if outcome is not None:
        lines = lines.filter(outcome=outcome)
    if exclude is not None:
        lines = lines.exclude(outcome=exclude)
    return Exists(lines)


def _decided_cases(period: Period) -> list[_Decided]:
    """The decisions of record made in the period: one query, one row per decided case."""
    info_received = CaseEvent.objects.filter(case=OuterRef("case"), kind=CaseEventKind.INFORMATION_RECEIVED)
    extension_seconds = Cast(KT("detail__clock_extension_seconds"), IntegerField())
    later_extension = (
        info_received.filter(at__gt=OuterRef("decided_at"))
        .order_by()
        .values("case")
        .annotate(seconds=Sum(extension_seconds))
        .values("seconds")
    )
    rows = (
        Decision.objects.filter(
            superseded_by__isnull=True, decided_at__gte=period.start_at, decided_at__lt=period.end_at
        )
        .annotate(
            pends=_lines(LineOutcome.PENDED),
            denies=_lines(LineOutcome.DENIED),
            not_all_approved=_lines(exclude=LineOutcome.APPROVED),
            after_denial=Exists(
                DecisionLine.objects.filter(
                    decision__case=OuterRef("case"), decision__pk__lt=OuterRef("pk"), outcome=LineOutcome.DENIED
                )
            ),
            extended=Exists(
                info_received.filter(at__lte=OuterRef("decided_at"), detail__clock_extension_seconds__gt=0)
            ),
            later_extension_seconds=Coalesce(Subquery(later_extension, output_field=IntegerField()), 0),
        )
        .filter(pends=False)
        .order_by()
        .values_list(
            "case__urgency",
            "case__review_type",
            "case__received_at",
            "case__due_at",
            "decided_at",
            "denies",
            "not_all_approved",
            "after_denial",
            "extended",
            "later_extension_seconds",
        )
    )
    decided = []
    for urgency, review_type, received_at, due_at, decided_at, denies, not_all, after, extended, later in rows:
        due_then = due_at - timedelta(seconds=later or 0)
        decided.append(
            _Decided(
                urgency=urgency,
                review_type=review_type,
                received_at=received_at,
                due_at_then=due_then,
                decided_at=decided_at,
                denied=bool(denies),
                approved=not not_all,
                after_denial=bool(after),
                extended=bool(extended) or decided_at > due_then,
            )
        )
    return decided


def timeliness(decided: Iterable[_Decided]) -> Timeliness:
    flags = [d.in_time for d in decided]
    return Timeliness(in_time=sum(flags), late=len(flags) - sum(flags))


def duration_stats(durations: list[timedelta]) -> DurationStats:
    """Mean and median in Python: SQLite has no percentile function, and one code path is
    simpler to trust than two. Whole seconds, as people read them."""
    if not durations:
        return DurationStats(0, None, None)
    seconds = [d.total_seconds() for d in durations]
    return DurationStats(
        count=len(seconds),
        mean=timedelta(seconds=round(statistics.fmean(seconds))),
        median=timedelta(seconds=round(statistics.median(seconds))),
    )


def _outcome_rates(decided: list[_Decided]) -> OutcomeRates:
    total = len(decided)
    approved = sum(d.approved for d in decided)
    denied = sum(d.denied for d in decided)
    return OutcomeRates(
        total=total,
        approved=Rate(approved, total),
        denied=Rate(denied, total),
        partial_or_modified=Rate(total - approved - denied, total),
        time_to_decision=duration_stats([d.decided_at - d.received_at for d in decided]),
    )


def cms_metrics(decided: Iterable[_Decided]) -> CmsMetrics:
    prior_auth = [d for d in decided if d.review_type == ReviewType.PROSPECTIVE]
    total = len(prior_auth)
    return CmsMetrics(
        standard=_outcome_rates([d for d in prior_auth if d.urgency == Urgency.STANDARD]),
        expedited=_outcome_rates([d for d in prior_auth if d.urgency == Urgency.EXPEDITED]),
        approved_after_appeal=Rate(sum(d.approved and d.after_denial for d in prior_auth), total),
        approved_after_extension=Rate(sum(d.approved and d.extended for d in prior_auth), total),
    )


# --- workload -------------------------------------------------------------------------------


def reviewer_workload(period: Period) -> tuple[ReviewerLoad, ...]:
    """Per reviewer: open cases assigned now, and every decision recorded in the period.

    Every decision counts as work, superseded or pending ones included. Active nurses and
    physicians are listed even when idle; anyone else holding open cases or having decided in
    the period (a former reviewer) is listed too, so no work goes missing from the chart.
    """
    open_assigned = Case.objects.filter(status__in=OPEN_STATUSES)
    in_period = Decision.objects.filter(decided_at__gte=period.start_at, decided_at__lt=period.end_at)
    # Correlated counts rather than joins: joining both would multiply one count by the other.
    assigned_count = (
        open_assigned.filter(assignee=OuterRef("pk")).order_by().values("assignee").annotate(n=Count("pk")).values("n")
    )
    decision_count = (
        in_period.filter(decided_by=OuterRef("pk")).order_by().values("decided_by").annotate(n=Count("pk")).values("n")
    )
    users = (
        User.objects.filter(
            Q(is_active=True, groups__name__in=[Role.NURSE.value, Role.PHYSICIAN.value])
            | Q(pk__in=open_assigned.filter(assignee__isnull=False).values("assignee"))
            | Q(pk__in=in_period.values("decided_by"))
        )
        .distinct()
        .annotate(
            open_count=Coalesce(Subquery(assigned_count, output_field=IntegerField()), 0),
            decision_count=Coalesce(Subquery(decision_count, output_field=IntegerField()), 0),
        )
        .order_by("username")
        .values_list("pk", "username", "first_name", "last_name", "open_count", "decision_count")
    )
    return tuple(
        ReviewerLoad(
            user_id=pk,
            username=username,
            name=f"{first} {last}".strip() or username,
            open_assigned=open_count,
            decisions=decisions,
        )
        for pk, username, first, last, open_count, decisions in users
    )


# --- services requiring PA ------------------------------------------------------------------


def services_requiring_pa() -> tuple[PaService, ...]:
    """Codes governed by a published policy version, once per code and policy.

    Several published versions of one policy (consecutive effective windows) list the same
    code; the list shows it once with each version's label.
    """
    rows = (
        PolicyCode.objects.filter(version__status=PolicyVersionStatus.PUBLISHED)
        .order_by("system", "code", "code_end", "version__policy__number", "version__effective_start", "version_id")
        .values_list(
            "system",
            "code",
            "code_end",
            "description",
            "version__policy_id",
            "version__policy__number",
            "version__policy__title",
            "version__version_label",
        )
    )
    merged: dict[tuple[str, str, str, int], PaService] = {}
    for system, code, code_end, description, policy_id, number, title, label in rows:
        key = (system, code, code_end, policy_id)
        seen = merged.get(key)
        if seen is None:
            merged[key] = PaService(system, code, code_end, description, number, title, (label,))
        else:
            merged[key] = PaService(
                system,
                code,
                code_end,
                seen.description or description,
                number,
                title,
                (*seen.version_labels, label),
            )
    return tuple(merged.values())


# --- everything -----------------------------------------------------------------------------


def dashboard_metrics(period: Period, now: datetime | None = None) -> DashboardMetrics:
    """All the dashboard's figures, in five queries."""
    decided = _decided_cases(period)
    return DashboardMetrics(
        period=period,
        open_cases=open_cases(now),
        timeliness=timeliness(decided),
        workload=reviewer_workload(period),
        cms=cms_metrics(decided),
        services_requiring_pa=services_requiring_pa(),
    )

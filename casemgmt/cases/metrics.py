"""Figures for the manager dashboard and the yearly CMS-0057-F public metrics.

Reads only. Every function costs a fixed number of queries whatever the number of cases: the
counts, means and (on PostgreSQL) medians are SQL aggregates. SQLite has no median, so there the
grouped query also reads each group's durations as a JSON array and the median is taken in
Python.

Definitions (../shared/DOMAIN.md, "Public metrics"; issue 16, section 5). The regulation's
paragraphs are the same for each program: Medicare Advantage 42 CFR 422.122(c), Medicaid managed
care 42 CFR 438.210(f), CHIP managed care 42 CFR 457.495 (which applies 438.210(f)), exchange
(QHP) issuers 45 CFR 156.223(b). Paragraph numbers below are those of 422.122(c).

- A period is [start, end) of local calendar dates.
- **Request**: a case whose review type is prospective, i.e. a prior-authorization request:
  422.122(c) covers prior authorization (pre-service) requests, so retrospective reviews count
  in timeliness and workload but not there. Appeals (`review_type` "appeal") and extensions of an
  authorization (`review_type` "extension") are cases of their own and never count as requests;
  an appeal counts only as the outcome of the request it appeals (`Case.appeal_of`).
- **Determination**: a decision that pends no line. A request's *decision of record* is its
  latest decision (the one no other supersedes) and gives its outcome; its *first
  determination* is its earliest determination, and gives its date: a request belongs to the
  period of its first determination, and its time to decision and timeliness are those of the
  first determination. A reopening or a correction changes the outcome, not when the request was
  first decided. `decision_record` keeps both on the case as it records them (`Case.outcome`,
  `first_determined_at`), with the deadline of that moment and whether a pend had extended it.
- **Automated determination**: a decision of record made by the system at intake, not a reviewer
  (`Case.determined_automatically`; casemgmt.cases.services.triage approves, never denies). The
  regulation counts every request, so they are in the bases below, and their number is shown on
  its own beside them. A request whose every line needed no authorization (X12 NA) is no
  determination and is not counted.
- **Outcome** of a request, from the lines of its decision of record: *approved* when every line
  is approved (A1); *denied* when every line is denied (A3); *mixed* when some line is denied
  and some other is approved, partially approved or modified; otherwise *partially approved or
  modified* (some line A2 or A6, none denied). The four add up to the base
  (`models.request_outcome`).
- Formulas (the base of an urgency = requests of that urgency whose first determination falls in
  the period):
  - (c)(2) approved, standard = approved standard requests / standard requests.
  - (c)(3) denied, standard = denied standard requests / standard requests.
  - (c)(4) approved after appeal, standard = standard requests an appeal approved / standard
    requests. The paragraph's denominator is "standard prior authorization requests", not the
    appeals; the appeals filed and decided are shown beside it as counts. An appeal *approved*
    the request when its decision of record overturns every appealed line; one that overturns
    some lines and upholds others, or partially overturns one, partially approved it; one that
    upholds every line denied it (overturned = approved, partially_overturned = partially
    approved, upheld = denied). A request appealed twice (two lines, two appeals) counts under
    each of its appeals' outcomes. The appeal may be decided after the period: the figure is of the period's requests.
  - (c)(5) approved after an extended timeframe = requests approved whose review clock was
    extended before the first determination (an INFORMATION_RECEIVED event with
    `clock_extension_seconds` > 0, `Case.first_determination_extended`) / all requests, standard and expedited. A late decision is
    not an extension: it is counted as late.
  - (c)(6), (c)(7): as (c)(2), (c)(3) for expedited requests.
  - (c)(8), (c)(9) average and median time = mean and median of (first determination's
    `decided_at` - `received_at`) over the base.
- **In time**: `first_determined_at` <= `first_determination_due_at`, the deadline the case had
  then (a reopening starts a new clock for the new decision and leaves this one as it was).
- The public report is by line of business and by plan or contract (`Case.plan_id`, blank shown
  as "(no plan id)"), for a calendar year.
- Open cases and their due risk are a snapshot as of now, not of the period.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, cached_property
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone
from pydantic import TypeAdapter

from casemgmt.cases.models import (
    INITIAL_REVIEW_TYPES,
    OPEN_STATUSES,
    Case,
    Decision,
    RequestOutcome,
    ReviewType,
    Urgency,
)
from casemgmt.kernel.roles import Role
from policies_app.models import LineOfBusiness, Requirement
from policies_app.selectors import requirement_code_description, requirement_rules_in_effect

# The work queue's countdown colours use the same bounds: due at or before now is overdue, due
# within the next 24 h (inclusive) is at risk.
DUE_SOON = timedelta(hours=24)
NO_PLAN_ID = "(no plan id)"


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
class TimelinessByKind:
    """First determinations in the period against their deadline: initial requests (prospective
    and retrospective), appeals and authorization extensions apart."""

    initial: Timeliness
    appeals: Timeliness
    extensions: Timeliness


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
class Outcomes:
    """Requests of one base by the outcome of their decision of record; the four add up."""

    approved: int = 0
    partially_approved: int = 0  # partially approved or modified, no line denied
    mixed: int = 0  # some line denied, some other approved, partially approved or modified
    denied: int = 0

    @property
    def total(self) -> int:
        return self.approved + self.partially_approved + self.mixed + self.denied

    @property
    def approved_rate(self) -> Rate:
        return Rate(self.approved, self.total)

    @property
    def partially_approved_rate(self) -> Rate:
        return Rate(self.partially_approved, self.total)

    @property
    def mixed_rate(self) -> Rate:
        return Rate(self.mixed, self.total)

    @property
    def denied_rate(self) -> Rate:
        return Rate(self.denied, self.total)


@dataclass(frozen=True)
class AppealOutcomes:
    """A base's requests that were appealed, by what their appeals decided."""

    appealed: int = 0
    approved: int = 0  # every appealed line overturned
    partially_approved: int = 0  # some line overturned or partially overturned, some upheld
    denied: int = 0  # every appealed line upheld

    @property
    def undecided(self) -> int:
        return self.appealed - self.approved - self.partially_approved - self.denied


@dataclass(frozen=True)
class BaseMetrics:
    """The CMS-0057-F figures of one base: the requests of one urgency."""

    urgency: str
    outcomes: Outcomes = Outcomes()
    after_appeal: AppealOutcomes = AppealOutcomes()
    approved_after_extension: int = 0
    in_time: int = 0
    time_to_decision: DurationStats = DurationStats(0, None, None)

    @property
    def total(self) -> int:
        return self.outcomes.total

    @property
    def approved_after_appeal(self) -> Rate:
        """422.122(c)(4): of the base's requests, not of the appeals."""
        return Rate(self.after_appeal.approved, self.total)

    @property
    def partially_approved_after_appeal(self) -> Rate:
        return Rate(self.after_appeal.partially_approved, self.total)


@dataclass(frozen=True)
class CmsMetrics:
    """The public table for one line of business and plan ("" and None: all of them)."""

    line_of_business: str
    plan_id: str | None
    standard: BaseMetrics
    expedited: BaseMetrics
    automated: int = 0  # of the requests above, those approved automatically at intake

    @property
    def line_of_business_label(self) -> str:
        if not self.line_of_business:
            return "All lines of business"
        return str(LineOfBusiness(self.line_of_business).label)

    @property
    def plan_label(self) -> str:
        if self.plan_id is None:
            return "All plans"
        return self.plan_id or NO_PLAN_ID

    @property
    def approved_after_appeal(self) -> Rate:
        return self.standard.approved_after_appeal

    @property
    def approved_after_extension(self) -> Rate:
        """422.122(c)(5): of all requests, standard and expedited."""
        return Rate(
            self.standard.approved_after_extension + self.expedited.approved_after_extension,
            self.standard.total + self.expedited.total,
        )


@dataclass(frozen=True)
class PaService:
    """A code (or code range) a published requirement rule says needs prior authorization; no code
    is the plan-wide default (every service no other rule names)."""

    system: str
    code: str
    code_end: str
    description: str
    policy_number: str
    policy_title: str
    line_of_business: str = ""
    diagnoses: tuple[str, ...] = ()

    @property
    def code_label(self) -> str:
        if not self.code:
            return "every other service (plan-wide default)"
        return f"{self.code}–{self.code_end}" if self.code_end else self.code

    @property
    def line_of_business_label(self) -> str:
        return str(LineOfBusiness(self.line_of_business).label) if self.line_of_business else "All lines of business"


@dataclass(frozen=True)
class WeekFigures:
    """One line of business in one week: initial requests received, and first determined (how
    many in time, and how long they took on average from receipt)."""

    received: int = 0
    decided: int = 0
    in_time: int = 0
    mean_turnaround: timedelta | None = None

    @property
    def in_time_rate(self) -> Rate:
        return Rate(self.in_time, self.decided)


@dataclass(frozen=True)
class WeekRow:
    """The figures of one line of business in one week (its Monday)."""

    week: date
    line_of_business: str
    figures: WeekFigures


@dataclass(frozen=True)
class WeeklyTrends:
    """Initial requests week by week (weeks start on Monday), by line of business."""

    weeks: tuple[date, ...]
    lines_of_business: tuple[str, ...]  # those with any figure, in LineOfBusiness order
    rows: tuple[WeekRow, ...]  # only the weeks and lines with a figure

    @cached_property
    def _by_key(self) -> dict[tuple[date, str], WeekFigures]:
        return {(row.week, row.line_of_business): row.figures for row in self.rows}

    def of(self, week: date, line_of_business: str) -> WeekFigures:
        return self._by_key.get((week, line_of_business), WeekFigures())


@dataclass(frozen=True)
class DashboardMetrics:
    period: Period
    open_cases: OpenCases
    timeliness: TimelinessByKind
    workload: tuple[ReviewerLoad, ...]
    cms: CmsMetrics
    services_requiring_pa: tuple[PaService, ...]
    trends: WeeklyTrends


@dataclass(frozen=True)
class CmsReport:
    """The yearly public report: one table per line of business and plan."""

    period: Period
    rows: tuple[CmsMetrics, ...]
    services_requiring_pa: tuple[PaService, ...] = field(default=())


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


# --- determinations -------------------------------------------------------------------------

# decision_record keeps on each case the outcome of its decision of record, when it was first
# determined, the deadline it had then and whether a pend extended it: a report is one grouped
# pass over the cases, with no decision, line or event read (bench/report).
AUTOMATED = Q(determined_automatically=True)


class Median(Aggregate):
    """The median, PostgreSQL's `percentile_cont(0.5)`; SQLite has no ordered-set aggregate."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


class Durations(Aggregate):
    """The group's durations as a JSON array of microseconds, SQLite's `json_group_array`: SQLite
    has no median, so the median is taken in Python from this list, read in the same grouped
    query as the counts."""

    function = "JSON_GROUP_ARRAY"
    name = "Durations"
    output_field = JSONField()


def _first_determined_in(cases: QuerySet[Case], period: Period) -> QuerySet[Case]:
    return cases.filter(first_determined_at__gte=period.start_at, first_determined_at__lt=period.end_at)


def _requests(period: Period, line_of_business: str, plan_id: str | None) -> QuerySet[Case]:
    """The prior-authorization requests first determined in the period (and determined now)."""
    requests = _first_determined_in(Case.objects.filter(review_type=ReviewType.PROSPECTIVE), period).exclude(outcome="")
    if line_of_business:
        requests = requests.filter(line_of_business=line_of_business)
    if plan_id is not None:
        requests = requests.filter(plan_id=plan_id)
    return requests


def _appealed(*outcomes: str) -> Q:
    """The request has a determined appeal with one of `outcomes` (any appeal when none given)."""
    # appeal_of first: the partial index case_appeal_of_idx holds only the appeals.
    appeals = Case.objects.filter(appeal_of__isnull=False, review_type=ReviewType.APPEAL)
    appeals = appeals.filter(outcome__in=outcomes) if outcomes else appeals
    return Q(pk__in=appeals.values("appeal_of_id"))


def _duration() -> ExpressionWrapper:
    return ExpressionWrapper(F("first_determined_at") - F("received_at"), output_field=DurationField())


def _whole_seconds(value: timedelta | float | None) -> timedelta | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value / 1_000_000
    return timedelta(seconds=round(seconds))


def duration_stats(durations: list[timedelta]) -> DurationStats:
    """Mean and median in Python, whole seconds, as people read them."""
    if not durations:
        return DurationStats(0, None, None)
    seconds = [d.total_seconds() for d in durations]
    return DurationStats(
        count=len(seconds),
        mean=timedelta(seconds=round(statistics.fmean(seconds))),
        median=timedelta(seconds=round(statistics.median(seconds))),
    )


GroupKey = tuple[str, ...]
BY_URGENCY = ("urgency",)
BY_PLAN = ("line_of_business", "plan_id", "urgency")


def _grouped_counts(requests: QuerySet[Case], keys: Sequence[str]) -> dict[GroupKey, dict[str, Any]]:
    """One grouped query over the requests; each group's counts, mean and median."""
    postgres = connection.vendor == "postgresql"
    counted = {
        "n": Count("pk"),
        "automated": Count("pk", filter=AUTOMATED),
        **{f"outcome_{outcome}": Count("pk", filter=Q(outcome=outcome)) for outcome in RequestOutcome.values},
        "in_time": Count("pk", filter=Q(first_determined_at__lte=F("first_determination_due_at"))),
        "extended": Count("pk", filter=Q(first_determination_extended=True, outcome=RequestOutcome.APPROVED)),
        "mean": Avg(_duration()),
        "appealed": Count("pk", filter=_appealed()),
        "appeal_approved": Count("pk", filter=_appealed(RequestOutcome.APPROVED)),
        "appeal_partially": Count("pk", filter=_appealed(RequestOutcome.PARTIALLY_APPROVED, RequestOutcome.MIXED)),
        "appeal_denied": Count("pk", filter=_appealed(RequestOutcome.DENIED)),
        "median": Median(_duration(), output_field=DurationField()) if postgres else Durations(_duration()),
    }
    found: dict[GroupKey, dict[str, Any]] = {}
    for row in requests.values(*keys).annotate(**counted).order_by():
        median = row["median"] if postgres else statistics.median(row["median"])
        found[tuple(row[k] for k in keys)] = {
            "outcomes": Outcomes(
                approved=row["outcome_approved"],
                partially_approved=row["outcome_partially_approved"],
                mixed=row["outcome_mixed"],
                denied=row["outcome_denied"],
            ),
            "automated": row["automated"],
            "in_time": row["in_time"],
            "extended": row["extended"],
            "time": DurationStats(row["n"], _whole_seconds(row["mean"]), _whole_seconds(median)),
            "appeals": AppealOutcomes(
                appealed=row["appealed"],
                approved=row["appeal_approved"],
                partially_approved=row["appeal_partially"],
                denied=row["appeal_denied"],
            ),
        }
    return found


def _base(urgency: str, counts: dict[str, Any] | None) -> BaseMetrics:
    counts = counts or {}
    return BaseMetrics(
        urgency=urgency,
        outcomes=counts.get("outcomes", Outcomes()),
        after_appeal=counts.get("appeals", AppealOutcomes()),
        approved_after_extension=counts.get("extended", 0),
        in_time=counts.get("in_time", 0),
        time_to_decision=counts.get("time", DurationStats(0, None, None)),
    )


def cms_metrics(period: Period, *, line_of_business: str = "", plan_id: str | None = None) -> CmsMetrics:
    """The CMS-0057-F figures of the requests first determined in the period, in one query."""
    found = _grouped_counts(_requests(period, line_of_business, plan_id), BY_URGENCY)
    return _cms_of(found, line_of_business, plan_id)


def _cms_of(found: dict[GroupKey, dict[str, Any]], line_of_business: str, plan_id: str | None) -> CmsMetrics:
    standard, expedited = found.get((Urgency.STANDARD,)), found.get((Urgency.EXPEDITED,))
    return CmsMetrics(
        line_of_business=line_of_business,
        plan_id=plan_id,
        standard=_base(Urgency.STANDARD, standard),
        expedited=_base(Urgency.EXPEDITED, expedited),
        automated=sum(c.get("automated", 0) for c in (standard or {}, expedited or {})),
    )


def cms_report(period: Period, *, line_of_business: str = "", plan_id: str | None = None) -> CmsReport:
    """The public table per line of business and plan, in two queries whatever the number of
    cases or plans. A line of business or plan with no request in the period has no row."""
    found = _grouped_counts(_requests(period, line_of_business, plan_id), BY_PLAN)
    groups = sorted({(lob, plan) for lob, plan, _ in found})
    rows = []
    for lob, plan in groups:
        standard = found.get((lob, plan, Urgency.STANDARD))
        expedited = found.get((lob, plan, Urgency.EXPEDITED))
        rows.append(
            CmsMetrics(
                line_of_business=lob,
                plan_id=plan,
                standard=_base(Urgency.STANDARD, standard),
                expedited=_base(Urgency.EXPEDITED, expedited),
                automated=sum(c.get("automated", 0) for c in (standard or {}, expedited or {})),
            )
        )
    return CmsReport(period=period, rows=tuple(rows), services_requiring_pa=services_requiring_pa())


def _week_of(value: datetime | date) -> date:
    return timezone.localtime(value).date() if isinstance(value, datetime) else value


def _seconds(value: timedelta | float | None) -> float:
    """A sum of durations: a timedelta on PostgreSQL, microseconds on SQLite."""
    if value is None:
        return 0.0
    return value.total_seconds() if isinstance(value, timedelta) else value / 1_000_000


@dataclass(frozen=True)
class _Determined:
    """First determinations in the period of one kind of case, line of business and week."""

    review_type: str
    line_of_business: str
    week: date
    n: int
    in_time: int
    seconds: float  # the sum of their times from receipt


def _determined_by_week(period: Period) -> list[_Determined]:
    """Every first determination in the period, counted by kind of case, line of business and
    week: the timeliness and the weekly trends' decided figures, in one grouped query."""
    rows = (
        _first_determined_in(Case.objects.all(), period)
        .annotate(week=TruncWeek("first_determined_at"))
        .values("review_type", "line_of_business", "week")
        .annotate(
            n=Count("pk"),
            in_time=Count("pk", filter=Q(first_determined_at__lte=F("first_determination_due_at"))),
            total=Sum(_duration()),
        )
        .order_by()
    )
    return [
        _Determined(
            row["review_type"],
            row["line_of_business"],
            _week_of(row["week"]),
            row["n"],
            row["in_time"],
            _seconds(row["total"]),
        )
        for row in rows
    ]


def weekly_trends(period: Period, now: datetime | None = None) -> WeeklyTrends:
    """Initial requests (prospective and retrospective) by week and line of business: received
    in the week, and first determined in it with their timeliness and mean turnaround. Two
    grouped queries whatever the number of cases; weeks after today are left out."""
    return _weekly_trends(period, now, _determined_by_week(period))


def _weekly_trends(period: Period, now: datetime | None, determined: list[_Determined]) -> WeeklyTrends:
    today = timezone.localdate(now)
    first_week = period.start - timedelta(days=period.start.weekday())
    last_day = min(period.last_day, today)
    weeks = tuple(first_week + timedelta(weeks=i) for i in range(max(0, (last_day - first_week).days // 7 + 1)))
    received = (
        Case.objects.filter(
            review_type__in=INITIAL_REVIEW_TYPES, received_at__gte=period.start_at, received_at__lt=period.end_at
        )
        .annotate(week=TruncWeek("received_at"))
        .values("week", "line_of_business")
        .annotate(n=Count("pk"))
        .order_by()
    )
    received_n = {(_week_of(row["week"]), row["line_of_business"]): row["n"] for row in received}
    decided: dict[tuple[date, str], list[_Determined]] = defaultdict(list)
    for found in determined:
        if found.review_type in INITIAL_REVIEW_TYPES:
            decided[(found.week, found.line_of_business)].append(found)
    figures: dict[tuple[date, str], WeekFigures] = {}
    for key in received_n.keys() | decided.keys():
        kinds = decided.get(key, [])
        n = sum(found.n for found in kinds)
        figures[key] = WeekFigures(
            received=received_n.get(key, 0),
            decided=n,
            in_time=sum(found.in_time for found in kinds),
            mean_turnaround=timedelta(seconds=round(sum(found.seconds for found in kinds) / n)) if n else None,
        )
    present = {lob for _, lob in figures}
    return WeeklyTrends(
        weeks=weeks,
        lines_of_business=tuple(lob for lob in LineOfBusiness.values if lob in present),
        rows=tuple(WeekRow(week, lob, found) for (week, lob), found in sorted(figures.items())),
    )


def timeliness(period: Period) -> TimelinessByKind:
    """Every first determination in the period against its deadline then, by kind of case: one query."""
    return _timeliness(_determined_by_week(period))


def _timeliness(determined: list[_Determined]) -> TimelinessByKind:
    def of(*review_types: str) -> Timeliness:
        kind = [found for found in determined if found.review_type in review_types]
        in_time = sum(found.in_time for found in kind)
        return Timeliness(in_time=in_time, late=sum(found.n for found in kind) - in_time)

    return TimelinessByKind(
        initial=of(ReviewType.PROSPECTIVE, ReviewType.RETROSPECTIVE),
        appeals=of(ReviewType.APPEAL),
        extensions=of(ReviewType.EXTENSION),
    )


# --- the public table -----------------------------------------------------------------------


@dataclass(frozen=True)
class CmsFigure:
    """One cell of the public table, with the formula it was computed by and its source."""

    name: str  # stable, machine-readable
    label: str
    value: int | float | timedelta | None
    unit: str  # "percent", "requests", "duration"
    formula: str
    source: str
    count: int | None = None  # the numerator of a percentage
    total: int | None = None  # its denominator


def _rate_figure(name: str, label: str, rate: Rate, formula: str, source: str) -> CmsFigure:
    return CmsFigure(name, label, rate.percent, "percent", formula, source, rate.count, rate.total)


def cms_figures(row: CmsMetrics) -> list[CmsFigure]:
    """The public table of one line of business and plan, in the regulation's order, each metric
    with its formula. Sources are 42 CFR 422.122(c); the same paragraphs are 438.210(f) for
    Medicaid, 457.495 for CHIP and 45 CFR 156.223(b) for exchange plans."""
    std, exp = row.standard, row.expedited
    out = [
        CmsFigure(
            "standard_requests",
            "Standard requests",
            std.total,
            "requests",
            "standard prior-authorization requests first determined in the period",
            "422.122(c)(2)",
        ),
        _rate_figure(
            "standard_approved_percent",
            "Standard: approved",
            std.outcomes.approved_rate,
            "standard requests with every line approved / standard requests",
            "422.122(c)(2)",
        ),
        _rate_figure(
            "standard_denied_percent",
            "Standard: denied",
            std.outcomes.denied_rate,
            "standard requests with every line denied / standard requests",
            "422.122(c)(3)",
        ),
        _rate_figure(
            "standard_partially_approved_percent",
            "Standard: partially approved or modified",
            std.outcomes.partially_approved_rate,
            "standard requests with some line partially approved or modified and none denied / standard requests",
            "issue 16, section 5 (shown apart, not counted as approved or denied)",
        ),
        _rate_figure(
            "standard_mixed_percent",
            "Standard: mixed (some lines approved, some denied)",
            std.outcomes.mixed_rate,
            "standard requests with a line denied and another approved, partially approved or modified"
            " / standard requests",
            "issue 16, section 5 (shown apart, not counted as approved or denied)",
        ),
        _rate_figure(
            "standard_approved_after_appeal_percent",
            "Standard: approved after appeal",
            std.approved_after_appeal,
            "standard requests whose appeal overturned every appealed line / standard requests",
            "422.122(c)(4)",
        ),
        _rate_figure(
            "standard_partially_approved_after_appeal_percent",
            "Standard: partially approved after appeal",
            std.partially_approved_after_appeal,
            "standard requests whose appeal overturned or partially overturned some appealed line and upheld"
            " another / standard requests",
            "issue 16, section 5 (a partial overturn counts as a partial approval)",
        ),
        CmsFigure(
            "standard_appealed",
            "Standard: requests appealed",
            std.after_appeal.appealed,
            "requests",
            "standard requests with an appeal filed (decided or not)",
            "context for 422.122(c)(4)",
        ),
        CmsFigure(
            "standard_appeals_upheld",
            "Standard: denial upheld on appeal",
            std.after_appeal.denied,
            "requests",
            "standard requests whose appeal upheld every appealed line",
            "context for 422.122(c)(4)",
        ),
        _rate_figure(
            "approved_after_extension_percent",
            "Approved after an extended timeframe",
            row.approved_after_extension,
            "requests (standard and expedited) approved whose review clock was extended before the first"
            " determination / all requests",
            "422.122(c)(5)",
        ),
        CmsFigure(
            "expedited_requests",
            "Expedited requests",
            exp.total,
            "requests",
            "expedited prior-authorization requests first determined in the period",
            "422.122(c)(6)",
        ),
        _rate_figure(
            "expedited_approved_percent",
            "Expedited: approved",
            exp.outcomes.approved_rate,
            "expedited requests with every line approved / expedited requests",
            "422.122(c)(6)",
        ),
        _rate_figure(
            "expedited_denied_percent",
            "Expedited: denied",
            exp.outcomes.denied_rate,
            "expedited requests with every line denied / expedited requests",
            "422.122(c)(7)",
        ),
        _rate_figure(
            "expedited_partially_approved_percent",
            "Expedited: partially approved or modified",
            exp.outcomes.partially_approved_rate,
            "expedited requests with some line partially approved or modified and none denied / expedited requests",
            "issue 16, section 5 (shown apart, not counted as approved or denied)",
        ),
        _rate_figure(
            "expedited_mixed_percent",
            "Expedited: mixed (some lines approved, some denied)",
            exp.outcomes.mixed_rate,
            "expedited requests with a line denied and another approved, partially approved or modified"
            " / expedited requests",
            "issue 16, section 5 (shown apart, not counted as approved or denied)",
        ),
    ]
    for key, name, base, source in (
        ("standard", "Standard", std, "422.122(c)(8)"),
        ("expedited", "Expedited", exp, "422.122(c)(9)"),
    ):
        out += [
            CmsFigure(
                f"{key}_time_to_decision_mean",
                f"{name}: average time to decision",
                base.time_to_decision.mean,
                "duration",
                f"sum of (first determination - submission) / {key} requests",
                source,
            ),
            CmsFigure(
                f"{key}_time_to_decision_median",
                f"{name}: median time to decision",
                base.time_to_decision.median,
                "duration",
                f"median of (first determination - submission) over {key} requests",
                source,
            ),
        ]
    out.append(
        CmsFigure(
            "automated_determinations",
            "Approved automatically at intake (counted in the figures above)",
            row.automated,
            "requests",
            "requests whose decision of record was made at intake by the automated reviewer, not a nurse or physician",
            "issue 17, section 4",
        )
    )
    return out


# --- workload -------------------------------------------------------------------------------


def reviewer_workload(period: Period) -> tuple[ReviewerLoad, ...]:
    """Per reviewer: open cases assigned now, and every decision recorded in the period.

    Every decision counts as work, superseded or pending ones included. Active nurses and
    physicians are listed even when idle; anyone else holding open cases or having decided in
    the period (a former reviewer) is listed too, so no work goes missing from the chart.
    """
    # Both read through indexes (case_open_assignee_idx, decision_decider_at_idx): a probe per
    # reviewer, never a pass over every open case or decision.
    open_assigned = Case.objects.filter(status__in=OPEN_STATUSES, assignee__isnull=False)
    in_period = Decision.objects.filter(decided_at__gte=period.start_at, decided_at__lt=period.end_at)
    # Correlated counts rather than joins: joining both would multiply one count by the other.
    # count(*), not count(id): the open cases' count is then read from the index alone.
    assigned_count = (
        open_assigned.filter(assignee=OuterRef("pk")).order_by().values("assignee").annotate(n=Count("*")).values("n")
    )
    decision_count = (
        in_period.filter(decided_by=OuterRef("pk")).order_by().values("decided_by").annotate(n=Count("pk")).values("n")
    )
    users = (
        User.objects.filter(
            Q(is_active=True, groups__name__in=[Role.NURSE.value, Role.PHYSICIAN.value])
            | Exists(open_assigned.filter(assignee=OuterRef("pk")))
            | Exists(in_period.filter(decided_by=OuterRef("pk")))
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


def services_requiring_pa(day: date | None = None) -> tuple[PaService, ...]:
    """The services the plan's published requirement rules say need prior authorization on `day`
    (today): each code or range, by line of business, with the policy it came from; the plan-wide
    default last when it requires authorization of every other service. One query."""
    day = day or timezone.localdate()
    rules = requirement_rules_in_effect(day=day).filter(requirement=Requirement.REQUIRED)
    return tuple(
        PaService(
            system=rule.code_system,
            code=rule.code_start,
            code_end=rule.code_end,
            description=rule.description or "",
            policy_number=rule.policy.number if rule.policy is not None else "",
            policy_title=rule.policy.title if rule.policy is not None else "",
            line_of_business=rule.line_of_business,
            diagnoses=tuple(rule.diagnosis_codes),
        )
        for rule in rules.annotate(description=requirement_code_description(day))
    )


# --- everything -----------------------------------------------------------------------------


def dashboard_metrics(period: Period, now: datetime | None = None) -> DashboardMetrics:
    """All the dashboard's figures, in six queries whatever the number of cases or rules. Over
    1,000,000 cases this reads every open case and the period's requests (about a second on
    PostgreSQL, bench/queue), so the page shows them from a stored snapshot
    (casemgmt.cases.services.dashboard_snapshots) rather than on every view."""
    now = now or timezone.now()
    determined = _determined_by_week(period)
    return DashboardMetrics(
        period=period,
        open_cases=open_cases(now),
        timeliness=_timeliness(determined),
        workload=reviewer_workload(period),
        cms=_cms_of(_grouped_counts(_requests(period, "", None), BY_URGENCY), "", None),
        services_requiring_pa=services_requiring_pa(timezone.localdate(now)),
        trends=_weekly_trends(period, now, determined),
    )


@cache
def _dashboard_metrics_adapter() -> TypeAdapter[DashboardMetrics]:
    return TypeAdapter(DashboardMetrics)


def dashboard_metrics_as_json(data: DashboardMetrics) -> Any:
    """The figures as JSON values (durations as ISO 8601), to be stored and read back whole."""
    return _dashboard_metrics_adapter().dump_python(data, mode="json")


def dashboard_metrics_from_json(value: Any) -> DashboardMetrics:
    """`dashboard_metrics_as_json` read back; a pydantic ValidationError if its shape differs."""
    return _dashboard_metrics_adapter().validate_python(value)

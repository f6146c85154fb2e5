"""The manager dashboard: workload, timeliness and the CMS-0057-F metrics, with a CSV export.

Figures come from casemgmt.cases.metrics through the stored snapshot of
casemgmt.cases.services.dashboard_snapshots; the page and the CSV say when they were computed,
and the page says when newer ones are being computed. This module lays them out. Every chart
(open cases, outcomes, workload, and the weekly trends by line of business) is drawn in the
browser by Chart.js, vendored in static/js (no CDN), from json_script blocks that
static/js/dashboard.js reads (no inline script, for the Content-Security-Policy); each has its
table beside it for screen readers, print and browsers without script.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audited_view
from casemgmt.cases import metrics
from casemgmt.cases.services.dashboard_snapshots import dashboard_figures
from casemgmt.kernel.http import AuthenticatedHttpRequest, role_required
from casemgmt.kernel.roles import Role
from policies_app.models import LineOfBusiness

MANAGERS_ONLY = "Only managers may see the dashboard."
# Dates outside these years are typos, and converting them to aware datetimes could overflow.
MIN_YEAR = 1990
MAX_YEAR = 2200


# --- the period -----------------------------------------------------------------------------


class PeriodForm(forms.Form):
    """A period [start, end) by decision date; blank fields default to the calendar year."""

    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        required=False,
        label="Until (not included)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        start: date | None = data.get("start")
        end: date | None = data.get("end")
        for name, value in (("start", start), ("end", end)):
            if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
                self.add_error(name, f"Choose a date between {MIN_YEAR} and {MAX_YEAR}.")
        if self.errors:
            return data
        if start is None and end is None:
            start = date(timezone.localdate().year, 1, 1)
        if start is None:
            assert end is not None
            start = date((end - timedelta(days=1)).year, 1, 1)
        if end is None:
            end = date(start.year + 1, 1, 1)
        if end <= start:
            self.add_error("end", "The end must be after the start.")
            return data
        data["start"], data["end"] = start, end
        return data

    def period(self) -> metrics.Period:
        return metrics.Period(self.cleaned_data["start"], self.cleaned_data["end"])


# --- figures: one list for the page's table and the CSV -------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str  # stable, machine-readable: the CSV's first column
    label: str
    value: int | float | str | None
    unit: str
    period: str  # the period label, or "as of ..." for a snapshot
    formula: str = ""  # how a CMS-0057-F metric is computed, and the paragraph it answers
    count: int | None = None
    total: int | None = None

    @property
    def display(self) -> str:
        if self.value is None:
            return "—"
        if self.unit == "percent":
            return f"{self.value}%"
        if self.unit == "hours" and isinstance(self.value, float):
            return _duration_text(timedelta(hours=self.value))
        return str(self.value)

    @property
    def counts(self) -> str:
        """ "3 of 7" beside a percentage, so the denominator is on the page."""
        return "" if self.count is None else f"{self.count} of {self.total}"


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def _duration_text(value: timedelta) -> str:
    minutes = round(value.total_seconds() / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def cms_figures(row: metrics.CmsMetrics, period: str) -> list[Figure]:
    """The public table's figures as the page and the CSV show them, formulas included."""
    out = []
    for f in metrics.cms_figures(row):
        value: int | float | str | None
        if isinstance(f.value, timedelta):
            value, unit = _hours(f.value), "hours"
        elif f.unit == "duration":
            value, unit = None, "hours"
        else:
            value, unit = f.value, f.unit
        out.append(Figure(f.name, f.label, value, unit, period, f"{f.formula} [{f.source}]", f.count, f.total))
    return out


def as_of_text(data: metrics.DashboardMetrics) -> str:
    """When the figures were computed, as the CSV says it: the open cases are counted then, and
    the period's decisions are those recorded by then."""
    return f"as of {timezone.localtime(data.open_cases.as_of).isoformat(timespec='seconds')}"


def figures(data: metrics.DashboardMetrics) -> list[Figure]:
    period = data.period.label
    now = as_of_text(data)
    oc, tl = data.open_cases, data.timeliness
    out = [
        Figure(
            "figures_as_of",
            "Figures computed at",
            timezone.localtime(oc.as_of).isoformat(timespec="seconds"),
            "timestamp",
            period,
            "the open cases are counted at this time, and the period's figures hold what was recorded by then",
        )
    ]
    out += [Figure(f"open_cases_{s.status}", f"Open: {s.label.lower()}", s.count, "cases", now) for s in oc.by_status]
    out += [
        Figure("open_cases_total", "Open cases", oc.total, "cases", now),
        Figure("open_cases_overdue", "Open and overdue", oc.overdue, "cases", now),
        Figure("open_cases_due_within_24h", "Open, due within 24 h", oc.due_within_24h, "cases", now),
        Figure("open_cases_due_later", "Open, due later", oc.due_later, "cases", now),
        Figure("open_cases_unassigned", "Open and unassigned", oc.unassigned, "cases", now),
    ]
    for key, name, counts in (
        ("decisions", "Requests", tl.initial),
        ("appeals", "Appeals", tl.appeals),
        ("extensions", "Extensions", tl.extensions),
    ):
        out += [
            Figure(f"{key}_total", f"{name} decided", counts.total, "cases", period),
            Figure(f"{key}_in_time", f"{name} decided in time", counts.in_time, "cases", period),
            Figure(f"{key}_late", f"{name} decided late", counts.late, "cases", period),
            Figure(
                f"{key}_in_time_percent",
                f"{name} decided in time",
                counts.in_time_rate.percent,
                "percent",
                period,
                "first determinations by their deadline at the time / first determinations in the period",
                counts.in_time,
                counts.total,
            ),
        ]
    out += cms_figures(data.cms, period)
    for load in data.workload:
        out += [
            Figure(
                f"reviewer_open_assigned:{load.username}", f"{load.name}: open cases", load.open_assigned, "cases", now
            ),
            Figure(
                f"reviewer_decisions:{load.username}", f"{load.name}: decisions", load.decisions, "decisions", period
            ),
        ]
    out.append(Figure("services_requiring_pa", "Services requiring PA", len(data.services_requiring_pa), "codes", now))
    for service in data.services_requiring_pa:
        out.append(
            Figure(
                "service_requiring_pa",
                "Service requiring PA",
                f"{service.system} {service.code_label}".strip()
                + f" ({service.line_of_business_label})"
                + (f": {service.policy_number} {service.policy_title}" if service.policy_number else ""),
                "code",
                now,
            )
        )
    return out


def trend_figures(data: metrics.DashboardMetrics) -> list[Figure]:
    """The weekly trends for the CSV (the page draws them from `trend_charts`): a row per week,
    line of business and measure (every week and line the charts draw, empty weeks included);
    each row's period is its week within the chosen period."""
    trends, chosen = data.trends, data.period
    out = []
    for week in trends.weeks:
        span = metrics.Period(max(week, chosen.start), min(week + timedelta(days=7), chosen.end)).label
        for lob in trends.lines_of_business:
            f = trends.of(week, lob)
            key = f"{week.isoformat()}:{lob}"
            name = LineOfBusiness(lob).label
            out += [
                Figure(
                    f"weekly_received:{key}",
                    f"{name}: requests received in the week",
                    f.received,
                    "requests",
                    span,
                    "initial requests (pre- and post-service) received in the week",
                ),
                Figure(
                    f"weekly_turnaround_mean:{key}",
                    f"{name}: mean turnaround in the week",
                    _hours(f.mean_turnaround),
                    "hours",
                    span,
                    "mean of (first determination - receipt) over the initial requests first determined in the week",
                    None,
                    f.decided,
                ),
                Figure(
                    f"weekly_in_time_percent:{key}",
                    f"{name}: decided in time in the week",
                    f.in_time_rate.percent,
                    "percent",
                    span,
                    "initial requests first determined in the week by their deadline / first determined in the week",
                    f.in_time,
                    f.decided,
                ),
            ]
    return out


# --- snapshot charts (drawn by static/js/dashboard.js) ----------------------------------


@dataclass(frozen=True)
class BarSeries:
    name: str
    values: tuple[int, ...]  # one per category
    # A name in static/js/dashboard.js's palette, or one per category (the due-risk bars are
    # red, amber and green like the work queue's countdowns).
    colour: str | tuple[str, ...]


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one group per category; `shares`: each category's bar split into its
    series as percentages of the category's total (the table keeps the counts)."""

    key: str
    title: str
    description: str
    category: str  # what a category is, the table's first column
    unit: str
    categories: tuple[str, ...]
    series: tuple[BarSeries, ...]
    shares: bool = False
    empty: str = ""  # said instead of the chart when there is no category

    def _total(self, i: int) -> int:
        return sum(s.values[i] for s in self.series)

    def _share(self, value: int, total: int) -> float | None:
        return None if total == 0 else round(100.0 * value / total, 1)

    @property
    def rows(self) -> list[tuple[str, list[str]]]:
        """The chart's table: a row per category, a cell per series (count and share)."""
        out = []
        for i, category in enumerate(self.categories):
            total = self._total(i)
            cells = []
            for s in self.series:
                share = self._share(s.values[i], total) if self.shares else None
                cells.append(f"{s.values[i]} ({share}%)" if share is not None else str(s.values[i]))
            out.append((category, cells))
        return out

    def as_json(self) -> dict[str, Any]:
        series = []
        for s in self.series:
            colour = s.colour if isinstance(s.colour, str) else list(s.colour)
            entry: dict[str, Any] = {"name": s.name, "colour": colour, "counts": list(s.values)}
            if self.shares:
                entry["values"] = [self._share(v, self._total(i)) for i, v in enumerate(s.values)]
            else:
                entry["values"] = list(s.values)
            series.append(entry)
        return {
            "title": self.title,
            "unit": "percent" if self.shares else self.unit,
            "count_unit": self.unit,
            "stacked": self.shares,
            "labels": list(self.categories),
            "series": series,
        }


def bar_charts(data: metrics.DashboardMetrics) -> list[BarChart]:
    oc, tl, cms = data.open_cases, data.timeliness.initial, data.cms

    def outcomes(name: str, rates: metrics.BaseMetrics) -> tuple[str, tuple[int, int, int, int]]:
        o = rates.outcomes
        return f"{name} ({rates.total})", (o.approved, o.partially_approved, o.mixed, o.denied)

    standard, expedited = outcomes("Standard", cms.standard), outcomes("Expedited", cms.expedited)
    return [
        BarChart(
            "status",
            "Open cases by status",
            f"{oc.total} open cases, by status.",
            "Status",
            "cases",
            tuple(s.label for s in oc.by_status),
            (
                BarSeries(
                    "Open cases",
                    tuple(s.count for s in oc.by_status),
                    tuple(f"status-{s.status}" for s in oc.by_status),
                ),
            ),
        ),
        BarChart(
            "risk",
            "Open cases by due risk",
            f"{oc.overdue} overdue, {oc.due_within_24h} due within 24 hours, {oc.due_later} due later.",
            "Due",
            "cases",
            ("Overdue", "Due within 24 h", "Later"),
            (BarSeries("Open cases", (oc.overdue, oc.due_within_24h, oc.due_later), ("bad", "warn", "ok")),),
        ),
        BarChart(
            "timeliness",
            "Decisions in time and late",
            f"{tl.in_time} requests decided in time and {tl.late} late in the period.",
            "Decided",
            "requests",
            ("In time", "Late"),
            (BarSeries("Requests", (tl.in_time, tl.late), ("ok", "bad")),),
        ),
        BarChart(
            "outcomes",
            "Outcomes of prior-authorization requests",
            f"Standard: {cms.standard.total} decided; expedited: {cms.expedited.total} decided; "
            "each bar is 100% of its requests.",
            "Urgency",
            "requests",
            (standard[0], expedited[0]),
            tuple(
                BarSeries(name, (standard[1][i], expedited[1][i]), colour)
                for i, (name, colour) in enumerate(
                    (
                        ("Approved", "ok"),
                        ("Partially approved or modified", "warn"),
                        ("Mixed: some lines approved, some denied", "open"),
                        ("Denied", "bad"),
                    )
                )
            ),
            shares=True,
        ),
        BarChart(
            "workload",
            "Reviewer workload",
            "Open cases assigned to each reviewer now, and decisions each recorded in the period.",
            "Reviewer",
            "cases",
            tuple(load.name for load in data.workload),
            (
                BarSeries("Open cases assigned", tuple(load.open_assigned for load in data.workload), "open"),
                BarSeries("Decisions in period", tuple(load.decisions for load in data.workload), "done"),
            ),
            empty="No reviewers yet.",
        ),
    ]


# --- weekly trends (drawn by static/js/dashboard.js) ---------------------------------------


@dataclass(frozen=True)
class TrendSeries:
    name: str  # the line of business, in words
    values: tuple[int | float | None, ...]  # one per week; None: nothing to measure that week


@dataclass(frozen=True)
class TrendChart:
    key: str
    title: str
    description: str
    unit: str  # how the table and the axis say a value
    weeks: tuple[str, ...]  # each week's label (its Monday)
    series: tuple[TrendSeries, ...]

    @property
    def rows(self) -> list[tuple[str, list[str]]]:
        """The chart's table: a row per week, a cell per line of business."""
        return [(week, [_trend_cell(s.values[i], self.unit) for s in self.series]) for i, week in enumerate(self.weeks)]

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "labels": list(self.weeks),
            "series": [{"name": s.name, "values": list(s.values)} for s in self.series],
        }


def _trend_cell(value: int | float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value}%"
    if unit == "hours":
        return _duration_text(timedelta(hours=value))
    return str(value)


def trend_charts(trends: metrics.WeeklyTrends) -> list[TrendChart]:
    weeks = tuple(week.strftime("%-d %b %Y") for week in trends.weeks)
    lobs = trends.lines_of_business

    def series(value: Any) -> tuple[TrendSeries, ...]:
        return tuple(
            TrendSeries(LineOfBusiness(lob).label, tuple(value(trends.of(week, lob)) for week in trends.weeks))
            for lob in lobs
        )

    return [
        TrendChart(
            "volume",
            "Requests received per week",
            "Prior-authorization requests (pre- and post-service) received each week, by line of business.",
            "requests",
            weeks,
            series(lambda f: f.received),
        ),
        TrendChart(
            "turnaround",
            "Mean turnaround per week",
            "Mean time from receipt to first determination of the requests first determined each week, "
            "in hours, by line of business.",
            "hours",
            weeks,
            series(lambda f: _hours(f.mean_turnaround)),
        ),
        TrendChart(
            "in-time",
            "Decided in time per week",
            "Share of the requests first determined each week that were determined by their deadline, "
            "by line of business.",
            "percent",
            weeks,
            series(lambda f: f.in_time_rate.percent),
        ),
    ]


# --- views ----------------------------------------------------------------------------------


def _period_form(request: HttpRequest) -> PeriodForm:
    # Bound even when the query string is empty, so the defaults go through the same checks.
    return PeriodForm({"start": request.GET.get("start", ""), "end": request.GET.get("end", "")})


@require_GET
@never_cache
@role_required(Role.MANAGER, refusal=MANAGERS_ONLY)
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = _period_form(request)
    if not form.is_valid():
        return render(request, "workspace/dashboard.html", {"form": form}, status=400)
    served = dashboard_figures(user=request.user, period=form.period())
    data = served.metrics
    period = data.period
    trends = trend_charts(data.trends)
    bars = bar_charts(data)
    # Show the chosen dates in the form, defaults included, so the page says what it shows.
    shown = PeriodForm(initial={"start": period.start, "end": period.end})
    return render(
        request,
        "workspace/dashboard.html",
        {
            "form": shown,
            "data": data,
            "as_of": served.as_of,
            "refreshing": served.refreshing,
            "period": period,
            "figures": {f.name: f for f in figures(data)},
            "cms_figures": cms_figures(data.cms, period.label),
            "charts": bars,
            "charts_json": {chart.key: chart.as_json() for chart in bars},
            "trends": trends,
            "trends_json": {chart.key: chart.as_json() for chart in trends},
            "export_query": f"start={period.start.isoformat()}&end={period.end.isoformat()}",
        },
    )


def _csv_safe(value: object) -> object:
    """Spreadsheets run cells that begin with = + - @ as formulas; a reviewer's name must not."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@require_GET
@never_cache
@role_required(Role.MANAGER, refusal=MANAGERS_ONLY)
def dashboard_export(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = _period_form(request)
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in form.errors.items())
        return HttpResponse(f"Bad period: {problems}\n", status=400, content_type="text/plain; charset=utf-8")
    data = dashboard_figures(user=request.user, period=form.period()).metrics
    period = data.period
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="pa-metrics-{period.start.isoformat()}-{period.end.isoformat()}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for figure in [*figures(data), *trend_figures(data)]:
        writer.writerow(_csv_row(figure))
    return response


CSV_HEADER = ["name", "value", "unit", "period", "count", "total", "formula"]


def _csv_row(figure: Figure, *prefix: str) -> list[object]:
    value = "" if figure.value is None else figure.value
    count = "" if figure.count is None else figure.count
    total = "" if figure.total is None else figure.total
    cells: list[object] = [*prefix, figure.name, value, figure.unit, figure.period, count, total, figure.formula]
    return [_csv_safe(cell) for cell in cells]


# --- the yearly public report ---------------------------------------------------------------


class ReportForm(forms.Form):
    """A calendar year, and optionally one line of business and one plan or contract."""

    year = forms.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR, label="Calendar year")
    line_of_business = forms.ChoiceField(
        required=False, label="Line of business", choices=[("", "All"), *LineOfBusiness.choices]
    )
    plan_id = forms.CharField(
        required=False, max_length=50, label="Plan or contract", help_text="Blank for every plan."
    )

    def report(self) -> metrics.CmsReport:
        data = self.cleaned_data
        return metrics.cms_report(
            metrics.Period.calendar_year(data["year"]),
            line_of_business=data["line_of_business"] or "",
            plan_id=data["plan_id"].strip() or None,
        )


def _report_form(request: HttpRequest) -> ReportForm:
    return ReportForm(
        {
            "year": request.GET.get("year", str(timezone.localdate().year - 1)),
            "line_of_business": request.GET.get("line_of_business", ""),
            "plan_id": request.GET.get("plan_id", ""),
        }
    )


@require_GET
@never_cache
@audited_view(action=AuditAction.VIEW, object_type=AuditObject.REPORT, case_kwarg=None)
@role_required(Role.MANAGER, refusal=MANAGERS_ONLY)
def cms_report(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The CMS-0057-F public table for a calendar year (by default the last one)."""
    form = _report_form(request)
    if not form.is_valid():
        return render(request, "workspace/dashboard_report.html", {"form": form}, status=400)
    report = form.report()
    period = report.period.label
    return render(
        request,
        "workspace/dashboard_report.html",
        {
            "form": form,
            "report": report,
            "tables": [(row, cms_figures(row, period)) for row in report.rows],
            "export_query": urlencode({k: v for k, v in form.cleaned_data.items() if v not in ("", None)}),
        },
    )


@require_GET
@never_cache
@audited_view(action=AuditAction.EXPORT, object_type=AuditObject.REPORT, case_kwarg=None)
@role_required(Role.MANAGER, refusal=MANAGERS_ONLY)
def cms_report_export(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = _report_form(request)
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in form.errors.items())
        return HttpResponse(f"Bad report: {problems}\n", status=400, content_type="text/plain; charset=utf-8")
    report = form.report()
    year = form.cleaned_data["year"]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cms-0057f-{year}.csv"'
    writer = csv.writer(response)
    writer.writerow(["line_of_business", "plan_id", *CSV_HEADER])
    for row in report.rows:
        for figure in cms_figures(row, report.period.label):
            writer.writerow(_csv_row(figure, row.line_of_business_label, row.plan_label))
    return response

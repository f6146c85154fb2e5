"""The manager dashboard: workload, timeliness and the CMS-0057-F metrics, with a CSV export.

The snapshot charts (open cases, outcomes, workload) are inline SVG drawn on the server. The
weekly trends (volume, turnaround, in-time rate by line of business) are drawn in the browser
by Chart.js, vendored in static/js (no CDN), from a json_script block that static/js/dashboard.js
reads (no inline script, for the Content-Security-Policy); each has its table beside it for
screen readers and print. Figures come from casemgmt.cases.metrics; this module lays them out.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
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


def figures(data: metrics.DashboardMetrics) -> list[Figure]:
    period = data.period.label
    now = f"as of {data.open_cases.as_of.isoformat(timespec='seconds')}"
    oc, tl = data.open_cases, data.timeliness
    out = [Figure(f"open_cases_{s.status}", f"Open: {s.label.lower()}", s.count, "cases", now) for s in oc.by_status]
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
    out.append(
        Figure(
            "services_requiring_pa", "Services requiring PA", len(data.services_requiring_pa), "codes", "as of today"
        )
    )
    for service in data.services_requiring_pa:
        out.append(
            Figure(
                "service_requiring_pa",
                "Service requiring PA",
                f"{service.system} {service.code_label}".strip()
                + f" ({service.line_of_business_label})"
                + (f": {service.policy_number} {service.policy_title}" if service.policy_number else ""),
                "code",
                "as of today",
            )
        )
    return out


# --- charts ---------------------------------------------------------------------------------

LABEL_WIDTH = 170
BAR_AREA = 330
VALUE_ROOM = 60
CHART_WIDTH = LABEL_WIDTH + BAR_AREA + VALUE_ROOM
BAR_HEIGHT = 18
BAR_GAP = 4
ROW_GAP = 12
TOP = 8


@dataclass(frozen=True)
class SvgBar:
    x: int
    y: int
    width: int
    height: int
    css: str
    title: str
    value_text: str
    value_x: int
    value_y: int
    # "after" the bar, "inside" a stacked segment wide enough to hold it, or "" (the title has it)
    value_pos: str


@dataclass(frozen=True)
class SvgRow:
    label: str
    label_y: int
    bars: tuple[SvgBar, ...]


@dataclass(frozen=True)
class SvgChart:
    key: str
    title: str
    description: str
    width: int
    height: int
    label_x: int
    axis_x: int
    rows: tuple[SvgRow, ...]
    legend: tuple[tuple[str, str], ...]  # (css class, series name)


Series = Sequence[tuple[str, int, str]]  # (series name, value, css class)


def _short(label: str, room: int = 24) -> str:
    """Row labels share a fixed column; a long name is cut (its bar's title keeps it whole)."""
    return label if len(label) <= room else label[: room - 1] + "…"


def bar_chart(
    key: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, Series]],
    legend: Sequence[tuple[str, str]] = (),
) -> SvgChart:
    """Horizontal bars, one group per row, scaled to the largest value (a zero draws no bar)."""
    largest = max((value for _, series in rows for _, value, _ in series), default=0) or 1
    svg_rows = []
    y = TOP
    for label, series in rows:
        bars = []
        for i, (name, value, css) in enumerate(series):
            bar_y = y + i * (BAR_HEIGHT + BAR_GAP)
            width = round(BAR_AREA * value / largest)
            bars.append(
                SvgBar(
                    x=LABEL_WIDTH,
                    y=bar_y,
                    width=width,
                    height=BAR_HEIGHT,
                    css=css,
                    title=f"{label}: {value}" if len(series) == 1 else f"{label}, {name}: {value}",
                    value_text=str(value),
                    value_x=LABEL_WIDTH + width + 6,
                    value_y=bar_y + BAR_HEIGHT - 5,
                    value_pos="after",
                )
            )
        group = len(series) * BAR_HEIGHT + (len(series) - 1) * BAR_GAP
        svg_rows.append(SvgRow(label=_short(label), label_y=y + group // 2 + 5, bars=tuple(bars)))
        y += group + ROW_GAP
    return SvgChart(
        key=key,
        title=title,
        description=description,
        width=CHART_WIDTH,
        height=max(y - ROW_GAP + TOP, 2 * TOP),
        label_x=LABEL_WIDTH - 8,
        axis_x=LABEL_WIDTH,
        rows=tuple(svg_rows),
        legend=tuple(legend),
    )


def stacked_chart(
    key: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, Series]],
    legend: Sequence[tuple[str, str]],
) -> SvgChart:
    """One bar per row split into its parts, as shares of the row's total (100% wide)."""
    svg_rows = []
    y = TOP
    for label, series in rows:
        total = sum(value for _, value, _ in series)
        x = LABEL_WIDTH
        bars = []
        for name, value, css in series:
            width = round(BAR_AREA * value / total) if total else 0
            share = f"{round(100 * value / total)}%" if total else "—"
            bars.append(
                SvgBar(
                    x=x,
                    y=y,
                    width=width,
                    height=BAR_HEIGHT,
                    css=css,
                    title=f"{label}, {name}: {value} ({share})",
                    value_text=share,
                    value_x=x + width // 2,
                    value_y=y + BAR_HEIGHT - 5,
                    value_pos="inside" if width >= 36 else "",
                )
            )
            x += width
        svg_rows.append(SvgRow(label=f"{label} ({total})", label_y=y + BAR_HEIGHT - 5, bars=tuple(bars)))
        y += BAR_HEIGHT + ROW_GAP
    return SvgChart(
        key=key,
        title=title,
        description=description,
        width=CHART_WIDTH,
        height=y - ROW_GAP + TOP,
        label_x=LABEL_WIDTH - 8,
        axis_x=LABEL_WIDTH,
        rows=tuple(svg_rows),
        legend=tuple(legend),
    )


def charts(data: metrics.DashboardMetrics) -> list[SvgChart]:
    oc, tl, cms = data.open_cases, data.timeliness.initial, data.cms
    outcome_legend = (
        ("c-ok", "Approved"),
        ("c-warn", "Partially approved or modified"),
        ("c-open", "Mixed: some lines approved, some denied"),
        ("c-bad", "Denied"),
    )

    def outcomes(rates: metrics.BaseMetrics) -> Series:
        o = rates.outcomes
        return (
            ("approved", o.approved, "c-ok"),
            ("partially approved or modified", o.partially_approved, "c-warn"),
            ("mixed", o.mixed, "c-open"),
            ("denied", o.denied, "c-bad"),
        )

    return [
        bar_chart(
            "status",
            "Open cases by status",
            f"{oc.total} open cases, by status.",
            [(s.label, [("cases", s.count, f"c-status-{s.status}")]) for s in oc.by_status],
        ),
        bar_chart(
            "risk",
            "Open cases by due risk",
            f"{oc.overdue} overdue, {oc.due_within_24h} due within 24 hours, {oc.due_later} due later.",
            [
                ("Overdue", [("cases", oc.overdue, "c-bad")]),
                ("Due within 24 h", [("cases", oc.due_within_24h, "c-warn")]),
                ("Later", [("cases", oc.due_later, "c-ok")]),
            ],
        ),
        bar_chart(
            "timeliness",
            "Decisions in time and late",
            f"{tl.in_time} requests decided in time and {tl.late} late in the period.",
            [("In time", [("requests", tl.in_time, "c-ok")]), ("Late", [("requests", tl.late, "c-bad")])],
        ),
        stacked_chart(
            "outcomes",
            "Outcomes of prior-authorization requests",
            f"Standard: {cms.standard.total} decided; expedited: {cms.expedited.total} decided.",
            [("Standard", outcomes(cms.standard)), ("Expedited", outcomes(cms.expedited))],
            outcome_legend,
        ),
        bar_chart(
            "workload",
            "Reviewer workload",
            "Open cases assigned to each reviewer now, and decisions each recorded in the period.",
            [
                (load.name, [("open cases", load.open_assigned, "c-open"), ("decisions", load.decisions, "c-done")])
                for load in data.workload
            ],
            legend=(("c-open", "Open cases assigned"), ("c-done", "Decisions in period")),
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
    data = metrics.dashboard_metrics(form.period())
    period = data.period
    trends = trend_charts(data.trends)
    # Show the chosen dates in the form, defaults included, so the page says what it shows.
    shown = PeriodForm(initial={"start": period.start, "end": period.end})
    return render(
        request,
        "workspace/dashboard.html",
        {
            "form": shown,
            "data": data,
            "period": period,
            "figures": {f.name: f for f in figures(data)},
            "cms_figures": cms_figures(data.cms, period.label),
            "charts": charts(data),
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
    data = metrics.dashboard_metrics(form.period())
    period = data.period
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="pa-metrics-{period.start.isoformat()}-{period.end.isoformat()}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for figure in figures(data):
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

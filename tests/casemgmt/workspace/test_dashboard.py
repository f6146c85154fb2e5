"""The manager dashboard page and its CSV export (issue 5)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.workspace.dashboard import _csv_safe
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db

T0 = timezone.make_aware(datetime.combine(timezone.localdate(), time(1, 0)))
START = T0.date().isoformat()
END = (T0.date() + timedelta(days=5)).isoformat()
PERIOD = f"?start={START}&end={END}"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr("django.utils.timezone.now", fake)
    return fake


def decided(client, clock: Clock, reviewer, outcome: str, after_hours: float, version_id: int, **overrides):
    clock.now = T0
    case = factories.case(client, **overrides)
    clock.now = T0 + timedelta(hours=after_hours)
    adverse = outcome != "approved"
    decision_record(
        case_id=case.pk,
        user=reviewer,
        lines=[DecisionLineInput(service_line=1, outcome=outcome, reason="Investigational." if adverse else "")],
        citations=[CitationInput(policy_version_id=version_id)] if adverse else [],
    )
    return case


@pytest.fixture
def dataset(clock, integration_client, nurse, physician, investigational):
    """Standard: approved in 2 h, approved in 4 h, denied in 6 h. Expedited: approved 80 h (late)."""
    decided(integration_client, clock, nurse, "approved", 2, investigational.pk)
    decided(integration_client, clock, nurse, "approved", 4, investigational.pk)
    decided(integration_client, clock, physician, "denied", 6, investigational.pk)
    decided(integration_client, clock, nurse, "approved", 80, investigational.pk, urgency="expedited")
    clock.now = T0
    return factories.case(integration_client)  # open, unassigned


def json_block(html: str, block_id: str) -> dict:
    found = re.search(rf'<script id="{block_id}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no {block_id} block on the page"
    return json.loads(found.group(1))


def test_dashboard_requires_sign_in(db):
    for url in ("/dashboard/", "/dashboard/export.csv"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("who", ["nurse", "physician", "integration_client", "outsider", "editor"])
def test_dashboard_is_for_managers_only(request, who):
    browser = signed_in(request.getfixturevalue(who))
    assert browser.get("/dashboard/").status_code == 403
    assert browser.get("/dashboard/export.csv").status_code == 403


def test_dashboard_shows_the_figures_and_charts(manager, editor, investigational, dataset):
    factories.requirement_rule(editor, code_start="62330", policy_id=investigational.policy_id)
    response = signed_in(manager).get("/dashboard/" + PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    # Every chart is drawn by Chart.js from a JSON block, with its table beside it.
    for chart in ("status", "risk", "timeliness", "outcomes", "workload"):
        assert f'id="chart-{chart}"' in html and f'<canvas data-chart="{chart}" role="img"' in html
    assert "<svg" not in html
    assert html.count('<details class="trend-table">') == 5 + 3
    # No inline script: the charts' data are JSON blocks, which a browser never runs.
    assert re.findall(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))", html) == []
    # 3 of 4 in time; standard 2 of 3 approved, 1 of 3 denied; expedited 1 of 1 approved.
    assert "75.0%" in html
    assert "66.7%" in html and "33.3%" in html and "100.0%" in html
    assert "4 h" in html  # standard median time to decision
    assert "3 d 8 h" in html  # expedited: 80 h
    charts = json_block(html, "dashboard-charts")
    assert charts["timeliness"]["labels"] == ["In time", "Late"]
    assert charts["timeliness"]["series"][0]["values"] == [3, 1]
    assert '<tr><th scope="row">In time</th><td>3</td></tr>' in html
    denied = next(s for s in charts["outcomes"]["series"] if s["name"] == "Denied")
    assert denied["values"] == [33.3, 0.0] and denied["counts"] == [1, 0]
    assert (
        '<tr><th scope="row">Standard (3)</th><td>2 (66.7%)</td><td>0 (0.0%)</td><td>0 (0.0%)</td><td>1 (33.3%)</td></tr>'
        in html
    )
    assert charts["workload"]["labels"] == ["nina.nurse", "phil.physician"]
    assert "CPT 62330" in html and "TP.01 Test procedure policy" in html
    assert f'href="/dashboard/export.csv?start={START}&amp;end={END}"' in html


def test_dashboard_defaults_to_this_calendar_year(manager):
    html = signed_in(manager).get("/dashboard/").content.decode()
    year = timezone.localdate().year
    assert f'value="{year}-01-01"' in html
    assert f'value="{year + 1}-01-01"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?start=2025-13-01", "Enter a valid date."),
        ("?start=yesterday&end=2025-01-01", "Enter a valid date."),
        ("?start=2025-06-01&end=2025-01-01", "The end must be after the start."),
        ("?start=2025-06-01&end=2025-06-01", "The end must be after the start."),
        ("?start=0001-01-01", "Choose a date between"),
        ("?end=9999-12-31", "Choose a date between"),
    ],
)
def test_a_bad_period_is_a_form_error(manager, query, message):
    response = signed_in(manager).get("/dashboard/" + query)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "<svg" not in html
    export = signed_in(manager).get("/dashboard/export.csv" + query)
    assert export.status_code == 400
    assert message in export.content.decode()


def test_csv_export_has_one_metric_per_row(manager, editor, investigational, dataset):
    factories.requirement_rule(editor, code_start="62330", policy_id=investigational.policy_id)
    response = signed_in(manager).get("/dashboard/export.csv" + PERIOD)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="pa-metrics-{START}-{END}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["name", "value", "unit", "period", "count", "total", "formula"]
    by_name = {row[0]: row for row in rows[1:]}
    period = f"{START}/{END}"
    assert by_name["standard_approved_percent"][:6] == [
        "standard_approved_percent",
        "66.7",
        "percent",
        period,
        "2",
        "3",
    ]
    assert by_name["standard_denied_percent"][1] == "33.3"
    assert by_name["standard_partially_approved_percent"][1] == "0.0"
    assert by_name["standard_mixed_percent"][1] == "0.0"
    assert by_name["expedited_approved_percent"][1] == "100.0"
    assert by_name["expedited_denied_percent"][4:6] == ["0", "1"]
    assert by_name["decisions_in_time"][1] == "3"
    assert by_name["decisions_late"][1] == "1"
    assert by_name["standard_time_to_decision_mean"][1:3] == ["4.0", "hours"]
    assert by_name["standard_time_to_decision_median"][1] == "4.0"
    assert by_name["expedited_time_to_decision_median"][1] == "80.0"
    assert by_name["standard_approved_after_appeal_percent"][1] == "0.0"
    # Late is not extended (42 CFR 422.122(c)(5)): the expedited approval at 80 h was only late.
    assert by_name["approved_after_extension_percent"][1] == "0.0"
    assert by_name["open_cases_received"][1] == "1"
    assert by_name["open_cases_total"][3].startswith("as of ")
    assert by_name["reviewer_decisions:nina.nurse"][1:3] == ["3", "decisions"]
    assert by_name["reviewer_decisions:phil.physician"][1] == "1"
    assert by_name["services_requiring_pa"][1] == "1"
    assert by_name["service_requiring_pa"][1] == "CPT 62330 (All lines of business): TP.01 Test procedure policy"
    assert "422.122(c)(4)" in by_name["standard_approved_after_appeal_percent"][6]
    assert all(len(row) == 7 for row in rows)


def test_csv_export_says_as_of_when_its_figures_are_as_the_page_does(manager, dataset):
    browser = signed_in(manager)
    html = browser.get("/dashboard/" + PERIOD).content.decode()
    rows = list(csv.reader(io.StringIO(browser.get("/dashboard/export.csv" + PERIOD).content.decode())))
    by_name = {row[0]: row for row in rows[1:]}

    as_of = timezone.localtime(T0)
    assert rows[1][0] == "figures_as_of"
    assert by_name["figures_as_of"][1:3] == [as_of.isoformat(timespec="seconds"), "timestamp"]
    assert by_name["open_cases_total"][3] == f"as of {as_of.isoformat(timespec='seconds')}"
    assert f"Figures as of {as_of:%-d %b %Y %H:%M}." in html


def test_csv_export_has_the_weekly_trends_by_line_of_business(manager, dataset):
    body = signed_in(manager).get("/dashboard/export.csv" + PERIOD).content.decode()
    by_name = {row[0]: row for row in csv.reader(io.StringIO(body))}

    monday = T0.date() - timedelta(days=T0.weekday())
    key = f"{monday.isoformat()}:commercial"
    # Received: the four decided requests and the open one, all in T0's week.
    assert by_name[f"weekly_received:{key}"][1:4] == [
        "5",
        "requests",
        f"{START}/{min(monday + timedelta(days=7), date.fromisoformat(END)).isoformat()}",
    ]
    in_time = by_name[f"weekly_in_time_percent:{key}"]
    assert in_time[2] == "percent" and in_time[5] != ""
    assert by_name[f"weekly_turnaround_mean:{key}"][2] == "hours"
    # Every week the charts draw has its rows, for each line of business with a figure.
    weeks = {name.split(":")[1] for name in by_name if name.startswith("weekly_received:")}
    assert monday.isoformat() in weeks
    assert all(name.endswith(":commercial") for name in by_name if name.startswith("weekly_"))


def test_csv_of_an_empty_period_leaves_percentages_blank(manager):
    response = signed_in(manager).get("/dashboard/export.csv?start=2001-01-01&end=2002-01-01")
    by_name = {row[0]: row for row in csv.reader(io.StringIO(response.content.decode()))}
    assert by_name["standard_approved_percent"][1] == ""
    assert by_name["standard_requests"][1] == "0"


def test_csv_cells_cannot_start_a_formula():
    assert _csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _csv_safe("@SUM") == "'@SUM"
    assert _csv_safe("CPT 62330") == "CPT 62330"
    assert _csv_safe(5) == 5


def test_nav_links_the_dashboard_for_managers_only(manager, nurse):
    assert 'href="/dashboard/"' in signed_in(manager).get("/dashboard/").content.decode()
    assert 'href="/dashboard/"' not in signed_in(nurse).get("/queue/").content.decode()


def test_period_boundaries_are_start_inclusive_end_exclusive(
    manager, clock, integration_client, nurse, investigational
):
    decided(integration_client, clock, nurse, "approved", 2, investigational.pk)
    clock.now = T0  # the patched clock also drives the session's idle expiry
    day = T0.date()
    inside = f"?start={day.isoformat()}&end={(day + timedelta(days=1)).isoformat()}"
    before = f"?start={(day - timedelta(days=1)).isoformat()}&end={day.isoformat()}"

    def read(query: str) -> dict[str, str]:
        body = signed_in(manager).get("/dashboard/export.csv" + query).content.decode()
        return {row[0]: row[1] for row in csv.reader(io.StringIO(body))}

    assert read(inside)["decisions_total"] == "1"
    assert read(before)["decisions_total"] == "0"
    assert date.fromisoformat(START) == day

"""The manager dashboard page and its CSV export (issue 5)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.kernel.roles import Role
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
    for chart in ("status", "risk", "timeliness", "outcomes", "workload"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<svg") == 5
    # No inline script: the trends' data is a JSON block, which a browser never runs.
    assert re.findall(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))", html) == []
    # 3 of 4 in time; standard 2 of 3 approved, 1 of 3 denied; expedited 1 of 1 approved.
    assert "75.0%" in html
    assert "66.7%" in html and "33.3%" in html and "100.0%" in html
    assert "4 h" in html  # standard median time to decision
    assert "3 d 8 h" in html  # expedited: 80 h
    assert "<title>In time: 3</title>" in html and "<title>Late: 1</title>" in html
    assert "<title>Standard, denied: 1 (33%)</title>" in html
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


def test_dashboard_query_count_does_not_grow_with_cases(
    manager, clock, integration_client, nurse, physician, investigational
):
    browser = signed_in(manager)

    def queries() -> int:
        clock.now = T0  # the patched clock also drives the session's idle expiry
        with CaptureQueriesContext(connection) as ctx:
            assert browser.get("/dashboard/" + PERIOD).status_code == 200
        return len(ctx.captured_queries)

    decided(integration_client, clock, nurse, "approved", 2, investigational.pk)
    queries()  # the first request also saves the session (casemgmt.security.sessions); the count is of pages
    few = queries()
    for n in range(6):
        decided(
            integration_client,
            clock,
            physician if n % 2 else nurse,
            "denied" if n % 2 else "approved",
            3 + n,
            investigational.pk,
            urgency="expedited" if n % 3 else "standard",
        )
        clock.now = T0
        factories.case(integration_client)
    factories.user("nora.nurse", Role.NURSE)  # one more row in the workload chart
    assert queries() == few


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

"""The dashboard's weekly trends by line of business, and mixed outcomes counted as mixed."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from casemgmt.cases import metrics
from casemgmt.cases.models import Case, LineOutcome, RequestOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.workspace.dashboard import figures
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in
from tests.casemgmt.workspace.test_dashboard import PERIOD, T0, Clock, decided, json_block


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr("django.utils.timezone.now", fake)
    return fake


pytestmark = pytest.mark.django_db


def trends_json(html: str) -> dict:
    found = re.search(r'<script id="dashboard-trends" type="application/json">(.*?)</script>', html, re.S)
    assert found, "no trends data on the page"
    return json.loads(found.group(1))


def test_weekly_trends_are_drawn_by_line_of_business_with_their_tables(
    manager, integration_client, nurse, physician, investigational, clock
):
    decided(integration_client, clock, nurse, "approved", 2, investigational.pk)
    decided(integration_client, clock, physician, "denied", 6, investigational.pk)
    decided(integration_client, clock, nurse, "approved", 80, investigational.pk, line_of_business="medicaid")
    clock.now = T0 + timedelta(days=4)  # weeks still to come are not drawn

    html = signed_in(manager).get("/dashboard/" + PERIOD).content.decode()

    data = trends_json(html)
    assert set(data) == {"volume", "turnaround", "in-time"}
    volume = {s["name"]: sum(v or 0 for v in s["values"]) for s in data["volume"]["series"]}
    assert volume == {"Commercial": 2, "Medicaid": 1}
    in_time = {s["name"]: [v for v in s["values"] if v is not None] for s in data["in-time"]["series"]}
    assert in_time["Commercial"] == [100.0]
    turnaround = {s["name"]: [v for v in s["values"] if v is not None] for s in data["turnaround"]["series"]}
    assert turnaround["Commercial"] == [4.0] and turnaround["Medicaid"] == [80.0]
    # Each chart's figures as a table for screen readers, and the library and script from our origin.
    assert html.count("<canvas data-trend=") == 3
    assert html.count('<details class="trend-table">') == 3 + 5  # the trends and the snapshot charts
    assert '<th scope="col">Medicaid</th>' in html
    assert 'src="/static/js/chart.umd.min.js"' in html and 'src="/static/js/dashboard.js"' in html


def test_an_empty_period_says_so_instead_of_drawing_empty_charts(manager):
    html = signed_in(manager).get("/dashboard/?start=2001-01-01&end=2001-02-01").content.decode()

    assert "No requests were received or decided in this period." in html
    assert "dashboard-trends" not in html


def two_lines(client):
    return factories.case(
        client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=T0.date() + timedelta(days=10)),
            LineInput(code_system="CPT", code="62331", units=1, date_of_service=T0.date() + timedelta(days=10)),
        ),
    )


def test_one_line_approved_and_one_denied_is_counted_mixed_not_denied(
    manager, integration_client, physician, investigational, clock
):
    case = two_lines(integration_client)
    clock.now = T0 + timedelta(hours=3)
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED),
            DecisionLineInput(service_line=2, outcome=LineOutcome.DENIED, reason="Investigational."),
        ],
        citations=[CitationInput(policy_version_id=investigational.pk)],
    )
    clock.now = T0

    assert Case.objects.get(pk=case.pk).outcome == RequestOutcome.MIXED
    data = metrics.dashboard_metrics(metrics.Period(T0.date(), T0.date() + timedelta(days=5)))
    assert data.cms.standard.outcomes.mixed == 1 and data.cms.standard.outcomes.denied == 0
    shown = {f.name: f.value for f in figures(data)}
    assert shown["standard_denied_percent"] == 0.0
    html = signed_in(manager).get("/dashboard/" + PERIOD).content.decode()
    mixed = next(s for s in json_block(html, "dashboard-charts")["outcomes"]["series"] if s["name"].startswith("Mixed"))
    assert mixed["values"] == [100.0, None] and mixed["counts"] == [1, 0]


def test_a_nurse_approval_and_a_physician_denial_on_referral_is_mixed(
    integration_client, nurse, physician, investigational, clock
):
    """The issue's two-line case: the nurse approves line 1 and refers line 2, which the
    physician denies; the request's outcome is mixed, whichever decision holds which line."""
    case = two_lines(integration_client)
    clock.now = T0 + timedelta(hours=1)
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED),
            DecisionLineInput(service_line=2, outcome=LineOutcome.REFERRED, reason="Please review the imaging."),
        ],
        citations=[],
    )
    clock.now = T0 + timedelta(hours=3)
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED),
            DecisionLineInput(service_line=2, outcome=LineOutcome.DENIED, reason="Investigational."),
        ],
        citations=[CitationInput(policy_version_id=investigational.pk)],
    )

    assert Case.objects.get(pk=case.pk).outcome == RequestOutcome.MIXED

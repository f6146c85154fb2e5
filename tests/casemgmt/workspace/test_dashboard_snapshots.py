"""The dashboard reads its figures from a stored snapshot (issue 19): shown while current,
marked "refreshing" while a newer one is computed, computed in the request once too old; the
refresh task and beat's refresh are idempotent; the page's query count is the same at any size."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casemgmt.cases import metrics
from casemgmt.cases.models import DashboardSnapshot
from casemgmt.cases.services.dashboard_snapshots import (
    DASHBOARD_SNAPSHOT_REFRESH_TASK,
    dashboard_snapshots_refresh,
    dashboard_stamp,
)
from casemgmt.cases.tasks import dashboard_snapshot_refresh_task, dashboard_snapshots_refresh_task
from casemgmt.kernel.roles import Role
from casemgmt.outbox.models import OutboxTask
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in
from tests.casemgmt.workspace.test_dashboard import END, PERIOD, START, T0, Clock, decided
from tests.services_fixtures import eager_tasks

pytestmark = pytest.mark.django_db

# The ceiling for every page (issue 19, bench/queue).
MAX_QUERIES = 12


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr("django.utils.timezone.now", fake)
    return fake


@pytest.fixture(autouse=True)
def max_age(settings) -> int:
    settings.DASHBOARD_MAX_AGE_SECONDS = 60
    return 60


def open_total(browser) -> int:
    body = browser.get("/dashboard/export.csv" + PERIOD).content.decode()
    return int({row[0]: row for row in csv.reader(io.StringIO(body))}["open_cases_total"][1])


def snapshot() -> DashboardSnapshot:
    return DashboardSnapshot.objects.get(period_start=date.fromisoformat(START), period_end=date.fromisoformat(END))


def refreshes_asked() -> list[list[int]]:
    return [row.args for row in OutboxTask.objects.filter(name=DASHBOARD_SNAPSHOT_REFRESH_TASK)]


def test_the_first_view_computes_and_stores_the_figures(manager, integration_client, clock):
    factories.case(integration_client)
    html = signed_in(manager).get("/dashboard/" + PERIOD).content.decode()

    stored = snapshot()
    assert stored.computed_at == T0 and stored.stamp == dashboard_stamp()
    assert metrics.dashboard_metrics_from_json(stored.figures).open_cases.total == 1
    assert "Figures as of" in html and "refreshing" not in html


def test_a_current_snapshot_is_shown_without_computing_again(manager, integration_client, clock, monkeypatch):
    factories.case(integration_client)
    browser = signed_in(manager)
    assert open_total(browser) == 1

    def never(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(metrics, "dashboard_metrics", never)
    clock.now = T0 + timedelta(seconds=30)
    html = browser.get("/dashboard/" + PERIOD).content.decode()

    assert f"Figures as of {T0:%-d %b %Y %H:%M}." in html
    assert "refreshing" not in html
    assert refreshes_asked() == []


def test_a_change_within_the_max_age_shows_the_snapshot_as_refreshing_and_asks_once(manager, integration_client, clock):
    browser = signed_in(manager)
    factories.case(integration_client)
    assert open_total(browser) == 1
    factories.case(integration_client)  # a new case: the stamp moves
    clock.now = T0 + timedelta(seconds=20)

    html = browser.get("/dashboard/" + PERIOD).content.decode()
    assert "(refreshing: newer figures are being computed" in html
    assert open_total(browser) == 1  # the CSV says the same, as of the same time
    assert refreshes_asked() == [[snapshot().pk]]  # asked once, not on every view


def test_a_change_past_the_max_age_is_computed_in_the_request(manager, integration_client, clock):
    browser = signed_in(manager)
    factories.case(integration_client)
    assert open_total(browser) == 1
    factories.case(integration_client)
    clock.now = T0 + timedelta(seconds=61)

    html = browser.get("/dashboard/" + PERIOD).content.decode()
    assert "refreshing" not in html
    assert open_total(browser) == 2
    assert snapshot().computed_at == clock.now
    assert refreshes_asked() == []


def test_with_no_max_age_every_change_is_computed_in_the_request(manager, integration_client, clock, settings):
    settings.DASHBOARD_MAX_AGE_SECONDS = 0
    browser = signed_in(manager)
    factories.case(integration_client)
    assert open_total(browser) == 1
    factories.case(integration_client)
    clock.now = T0 + timedelta(seconds=1)

    assert open_total(browser) == 2


def test_an_unchanged_snapshot_past_the_max_age_is_shown_and_refreshed(manager, integration_client, clock):
    browser = signed_in(manager)
    factories.case(integration_client)
    browser.get("/dashboard/" + PERIOD)
    clock.now = T0 + timedelta(minutes=5)

    html = browser.get("/dashboard/" + PERIOD).content.decode()
    # Nothing it counts has changed, only the clock: shown, saying when, while it is refreshed.
    assert f"Figures as of {T0:%-d %b %Y %H:%M} (refreshing" in html
    assert refreshes_asked() == [[snapshot().pk]]


def test_without_a_broker_the_refresh_runs_in_process_after_the_view(
    manager, integration_client, clock, django_capture_on_commit_callbacks
):
    browser = signed_in(manager)
    factories.case(integration_client)
    browser.get("/dashboard/" + PERIOD)
    factories.case(integration_client)
    clock.now = T0 + timedelta(seconds=20)

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert "(refreshing" in browser.get("/dashboard/" + PERIOD).content.decode()

    assert snapshot().stamp == dashboard_stamp() and snapshot().computed_at == clock.now
    assert "refreshing" not in browser.get("/dashboard/" + PERIOD).content.decode()


def test_publishing_a_requirement_rule_makes_the_snapshot_stale(editor, investigational):
    before = dashboard_stamp()
    factories.requirement_rule(editor, code_start="62330", policy_id=investigational.policy_id)
    assert dashboard_stamp() != before


def test_a_snapshot_stored_in_another_layout_is_computed_again(manager, integration_client, clock):
    browser = signed_in(manager)
    factories.case(integration_client)
    browser.get("/dashboard/" + PERIOD)
    DashboardSnapshot.objects.update(figures={"laid_out": "otherwise"})

    assert open_total(browser) == 1
    assert metrics.dashboard_metrics_from_json(snapshot().figures).open_cases.total == 1


def test_the_refresh_task_computes_a_stale_snapshot_once(manager, integration_client, clock):
    browser = signed_in(manager)
    factories.case(integration_client)
    browser.get("/dashboard/" + PERIOD)
    factories.case(integration_client)
    clock.now = T0 + timedelta(seconds=10)
    browser.get("/dashboard/" + PERIOD)  # asks for the refresh
    pk = snapshot().pk

    assert dashboard_snapshot_refresh_task(pk) is True
    assert snapshot().stamp == dashboard_stamp() and snapshot().refresh_requested_at is None
    assert dashboard_snapshot_refresh_task(pk) is False  # delivered twice: nothing more to do
    assert open_total(browser) == 2
    assert dashboard_snapshot_refresh_task(pk + 1000) is False  # forgotten meanwhile


def test_beat_keeps_this_years_snapshot_current_and_forgets_other_periods(integration_client, clock):
    old = DashboardSnapshot.objects.create(
        period_start=date(2001, 1, 1),
        period_end=date(2002, 1, 1),
        figures={},
        stamp="",
        computed_at=T0 - timedelta(days=2),
    )
    factories.case(integration_client)

    assert dashboard_snapshots_refresh_task() == 1
    this_year = metrics.Period.calendar_year(T0.year)
    stored = DashboardSnapshot.objects.get(period_start=this_year.start, period_end=this_year.end)
    assert metrics.dashboard_metrics_from_json(stored.figures).open_cases.total == 1
    assert not DashboardSnapshot.objects.filter(pk=old.pk).exists()
    assert dashboard_snapshots_refresh() == 0  # current: nothing to do
    factories.case(integration_client)
    assert dashboard_snapshots_refresh() == 1


def test_the_page_reads_at_most_twelve_queries_whatever_the_number_of_cases(
    manager, editor, clock, integration_client, nurse, physician, investigational
):
    """Served from a current snapshot: the session, the user, the roles, the snapshot with the
    change stamp, the retrospective runs panel. Refreshing adds the request's mark and the outbox
    row; computing, the figures' six queries and the snapshot's write, with no snapshot stored
    or a stale one, however many cases, reviewers and requirement rules there are."""
    browser = signed_in(manager)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert browser.get("/dashboard/" + PERIOD).status_code == 200
        return len(ctx.captured_queries)

    def grow(reviewer: str, code: str) -> None:
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
        factories.user(reviewer, Role.NURSE)  # one more row in the workload chart
        factories.requirement_rule(editor, code_start=code, policy_id=investigational.policy_id)

    decided(integration_client, clock, nurse, "approved", 2, investigational.pk)
    clock.now = T0  # the patched clock also drives the session's idle expiry
    browser.get("/")  # the session's first save (casemgmt.security.sessions) is not the page's
    computed = queries()
    served = queries()
    grow("nora.nurse", "62330")
    refreshing = queries()
    grow("noel.nurse", "62331")
    clock.now = T0 + timedelta(seconds=122)
    computed_again = queries()
    served_again = queries()

    assert computed == computed_again <= MAX_QUERIES
    assert served == served_again <= MAX_QUERIES
    assert refreshing <= MAX_QUERIES

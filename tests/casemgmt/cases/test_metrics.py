"""Dashboard and CMS-0057-F metrics (casemgmt.cases.metrics) on a small hand-computed dataset.

The clock is the services' `timezone.now`, moved by hand so every decision has a known time.
Decisions are append-only, so their times are set that way. Cases go through the services
(decisions, reopenings, appeals); only assigning a reviewer is done directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casemgmt.cases import metrics
from casemgmt.cases.models import Case
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.services.transitions import case_information_add, case_refer_to_physician
from tests import factories

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# Today at 01:00 local time: every action below falls on a known day of the period.
T0 = timezone.make_aware(datetime.combine(timezone.localdate(), time(1, 0)))
PERIOD = metrics.Period(T0.date(), T0.date() + timedelta(days=5))
NOW = T0 + timedelta(days=4)  # "now" for the open-case snapshot


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr("django.utils.timezone.now", fake)
    return fake


@pytest.fixture
def investigational(editor):
    return factories.publish(factories.draft_version(), editor)


TWO_LINES = (
    LineInput(code_system="CPT", code="62330", units=1, date_of_service=timezone.localdate() + timedelta(10)),
    LineInput(code_system="CPT", code="62331", units=4, date_of_service=timezone.localdate() + timedelta(10)),
)


ADVERSE = ("denied", "partially_approved", "modified", "partially_overturned", "upheld")


def line(seq: int, outcome: str, **kw) -> DecisionLineInput:
    if outcome in ADVERSE:
        kw.setdefault("reason", "Criteria not met.")
    return DecisionLineInput(service_line=seq, outcome=outcome, **kw)


@dataclass
class World:
    clock: Clock
    client: User
    nurse: User
    physician: User
    version_id: int

    def submit(self, at: datetime, **overrides) -> Case:
        self.clock.now = at
        return factories.case(self.client, **overrides)

    def decide(self, case: Case, at: datetime, by, *lines: DecisionLineInput):
        self.clock.now = at
        adverse = any(x.outcome in ADVERSE for x in lines)
        citations = [CitationInput(policy_version_id=self.version_id)] if adverse else []
        return decision_record(case_id=case.pk, user=by, lines=list(lines), citations=citations)

    def reopen(self, case: Case, at: datetime) -> None:
        self.clock.now = at
        case_reopen(case_id=case.pk, user=self.physician, reason="Clerical error in the units.")


@pytest.fixture
def world(clock, integration_client, nurse, physician, investigational) -> World:
    return World(clock, integration_client, nurse, physician, investigational.pk)


@pytest.fixture
def dataset(world: World) -> World:
    """Eight decided cases, three open ones, one decided after the period.

    prospective, decided in the period (decision of record):
      A standard  approved            2 h  in time
      B standard  mixed (1 approved, 1 denied) 10 h  in time
      C standard  partially approved  4 h  in time
      D standard  denied at 6 h, reopened, approved at 30 h: approved (not an appeal), first
                  determined at 6 h, in time
      G standard  pended 1-25 h (deadline +24 h), approved at 50 h: extended, in time
      E expedited approved           80 h  late (due 72 h): late, not extended
      F expedited denied              1 h  in time
    retrospective: R approved at 3 h, in time (timeliness only, not CMS)
    open: I received, assigned to the nurse, due T0+3 d (overdue at NOW)
          J pended by a nurse's pend decision at 3 h, due in 15 d (later)
          N expedited, received T0+2 d, referred (due T0+5 d: within 24 h at NOW)
    after the period: K standard approved at T0+6 d
    """
    w, nurse, phys = world, world.nurse, world.physician
    a = w.submit(T0)
    w.decide(a, hours(2), nurse, line(1, "approved"))
    b = w.submit(T0, service_lines=TWO_LINES)
    w.decide(b, hours(10), phys, line(1, "approved"), line(2, "denied"))
    c = w.submit(T0, service_lines=TWO_LINES)
    w.decide(c, hours(4), phys, line(1, "approved"), line(2, "partially_approved", approved_units=2))
    d = w.submit(T0)
    w.decide(d, hours(6), phys, line(1, "denied"))
    w.reopen(d, hours(7))
    w.decide(d, hours(30), phys, line(1, "approved"))
    g = w.submit(T0)
    w.clock.now = hours(1)
    case_pend_for_information(case_id=g.pk, user=nurse, needed="PT notes")
    w.clock.now = hours(25)
    case_information_add(case_id=g.pk, user=w.client, clinical_facts={}, clinical_notes="PT notes.")
    w.decide(g, hours(50), nurse, line(1, "approved"))
    e = w.submit(T0, urgency="expedited")
    w.decide(e, hours(80), nurse, line(1, "approved"))
    f = w.submit(T0, urgency="expedited")
    w.decide(f, hours(1), phys, line(1, "denied"))
    past = timezone.localdate() - timedelta(days=10)
    r = w.submit(
        T0,
        review_type="retrospective",
        service_lines=(LineInput(code_system="CPT", code="62330", units=1, date_of_service=past),),
    )
    w.decide(r, hours(3), phys, line(1, "approved"))

    i = w.submit(T0)
    Case.objects.filter(pk=i.pk).update(assignee=nurse, due_at=T0 + timedelta(days=3))
    j = w.submit(T0)
    w.decide(j, hours(3), nurse, line(1, "pended"))
    n = w.submit(T0 + timedelta(days=2), urgency="expedited")
    w.clock.now = T0 + timedelta(days=2, hours=1)
    case_refer_to_physician(case_id=n.pk, user=nurse, summary="Please review.")

    k = w.submit(T0)
    w.decide(k, T0 + timedelta(days=6), nurse, line(1, "approved"))
    return w


def test_open_cases_by_status_and_due_risk(dataset):
    open_now = metrics.open_cases(NOW)
    assert {s.status: s.count for s in open_now.by_status} == {
        "received": 1,
        "in_review": 0,
        "pended": 1,
        "physician_review": 1,
    }
    assert (open_now.overdue, open_now.due_within_24h, open_now.due_later) == (1, 1, 1)
    assert open_now.total == 3
    assert open_now.unassigned == 2


def test_in_time_and_late_use_the_first_determination(dataset):
    """Timeliness is of the first determination against its deadline (issue 16, section 5)."""
    result = metrics.dashboard_metrics(PERIOD, NOW).timeliness.initial
    # A B C D G F R in time (D at 6 h); E late. J's pend and K (after the period) do not count.
    assert (result.in_time, result.late) == (7, 1)
    assert result.in_time_rate.percent == 87.5


def test_standard_outcomes_show_a_mixed_outcome_apart(dataset):
    """42 CFR 422.122(c)(2)-(3); issue 16, section 5: a mixed outcome is its own category."""
    outcomes = metrics.dashboard_metrics(PERIOD, NOW).cms.standard.outcomes
    assert outcomes.total == 5
    assert (outcomes.approved, outcomes.partially_approved, outcomes.mixed, outcomes.denied) == (3, 1, 1, 0)
    assert (outcomes.approved_rate.percent, outcomes.denied_rate.percent, outcomes.mixed_rate.percent) == (
        60.0,
        0.0,
        20.0,
    )


def test_expedited_outcomes(dataset):
    """42 CFR 422.122(c)(6)-(7): expedited requests are their own base."""
    outcomes = metrics.dashboard_metrics(PERIOD, NOW).cms.expedited.outcomes
    assert outcomes.total == 2
    assert (outcomes.approved_rate.percent, outcomes.denied_rate.percent, outcomes.partially_approved_rate.percent) == (
        50.0,
        50.0,
        0.0,
    )


def test_a_reopening_is_not_an_appeal(dataset):
    """Issue 16, section 5: D's reopening and new approval is not "approved after appeal"."""
    cms = metrics.dashboard_metrics(PERIOD, NOW).cms
    assert cms.approved_after_appeal == metrics.Rate(0, 5)


def test_approved_after_an_extended_timeframe_counts_pend_extensions_only(dataset):
    """42 CFR 422.122(c)(5): of all requests; G's pend extended its clock, E was merely late."""
    cms = metrics.dashboard_metrics(PERIOD, NOW).cms
    assert cms.approved_after_extension == metrics.Rate(1, 7)
    assert cms.approved_after_extension.percent == 14.3


def test_time_from_submission_to_first_determination(dataset):
    """42 CFR 422.122(c)(8)-(9): average and median from submission to determination."""
    cms = metrics.dashboard_metrics(PERIOD, NOW).cms
    # Standard: 2, 10, 4, 6 (D's first determination), 50 h. Expedited: 80, 1 h.
    assert cms.standard.time_to_decision == metrics.DurationStats(
        count=5, mean=timedelta(hours=14, minutes=24), median=timedelta(hours=6)
    )
    assert cms.expedited.time_to_decision == metrics.DurationStats(
        count=2, mean=timedelta(hours=40, minutes=30), median=timedelta(hours=40, minutes=30)
    )


def test_an_overturned_appeal_is_approved_after_appeal_of_the_standard_base(world):
    """42 CFR 422.122(c)(4): standard requests approved after appeal / standard requests; the
    appeal is a case of its own and not a request."""
    from casemgmt.kernel.roles import Role

    other = factories.user("olga.physician", Role.PHYSICIAN)
    denied = world.submit(T0)
    world.decide(denied, hours(2), world.physician, line(1, "denied"))
    approved = world.submit(T0)
    world.decide(approved, hours(3), world.nurse, line(1, "approved"))
    world.clock.now = hours(4)
    appeal = appeal_open(
        case_id=denied.pk,
        user=world.client,
        lines=[1],
        reason="New imaging.",
        urgency="standard",
        requested_by="provider",
    )
    world.decide(appeal, hours(20), other, line(1, "overturned"))
    cms = metrics.dashboard_metrics(PERIOD, NOW).cms
    assert cms.standard.total == 2
    assert cms.approved_after_appeal == metrics.Rate(1, 2)
    assert cms.standard.after_appeal == metrics.AppealOutcomes(appealed=1, approved=1)
    # The original keeps its own outcome: denied at its determination.
    assert cms.standard.outcomes.denied == 1


def test_an_upheld_appeal_is_denied_after_appeal(world):
    """Issue 16, section 5: upheld = denied; it is not approved after appeal."""
    from casemgmt.kernel.roles import Role

    other = factories.user("olga.physician", Role.PHYSICIAN)
    denied = world.submit(T0)
    world.decide(denied, hours(2), world.physician, line(1, "denied"))
    world.clock.now = hours(4)
    appeal = appeal_open(
        case_id=denied.pk,
        user=world.client,
        lines=[1],
        reason="Disagree.",
        urgency="standard",
        requested_by="member",
    )
    world.decide(appeal, hours(20), other, line(1, "upheld"))
    cms = metrics.dashboard_metrics(PERIOD, NOW).cms
    assert cms.approved_after_appeal == metrics.Rate(0, 1)
    assert cms.standard.after_appeal == metrics.AppealOutcomes(appealed=1, denied=1)


def test_reviewer_workload(dataset):
    workload = {load.username: load for load in metrics.reviewer_workload(PERIOD)}
    assert set(workload) == {"nina.nurse", "phil.physician"}
    # Nurse: A, G, E and J's pend (K is after the period); holds I. Physician: B, C, D twice, F, R.
    assert (workload["nina.nurse"].open_assigned, workload["nina.nurse"].decisions) == (1, 4)
    assert (workload["phil.physician"].open_assigned, workload["phil.physician"].decisions) == (0, 6)


def test_a_later_period_sees_only_its_own_decisions(dataset):
    """A request belongs to the period of its first determination (issue 16, section 5)."""
    later = metrics.dashboard_metrics(metrics.Period(PERIOD.end, PERIOD.end + timedelta(days=5)), NOW)
    assert (later.timeliness.initial.in_time, later.timeliness.initial.late) == (1, 0)  # K
    assert later.cms.standard.outcomes.approved_rate == metrics.Rate(1, 1)
    assert later.cms.expedited.total == 0
    assert later.cms.expedited.outcomes.approved_rate.percent is None


def test_a_reopened_case_is_timed_against_the_deadline_it_had(world):
    """Issue 16, section 5: a reopened case's first determination is measured against the
    REOPENED event's previous_due_at, not the new deadline."""
    m = world.submit(T0, urgency="expedited")
    world.decide(m, hours(72.5), world.physician, line(1, "denied"))
    world.reopen(m, hours(73))
    world.decide(m, hours(74), world.physician, line(1, "approved"))
    m.refresh_from_db()
    assert m.due_at > hours(74)  # the new clock
    result = metrics.dashboard_metrics(PERIOD, NOW)
    assert (result.timeliness.initial.in_time, result.timeliness.initial.late) == (0, 1)
    assert result.cms.expedited.outcomes.approved == 1
    assert result.cms.approved_after_extension == metrics.Rate(0, 1)


def test_an_empty_period_has_no_percentages(db):
    result = metrics.dashboard_metrics(metrics.Period(date(2001, 1, 1), date(2002, 1, 1)))
    assert result.timeliness.initial.total == 0
    assert result.cms.standard.outcomes.approved_rate == metrics.Rate(0, 0)
    assert result.cms.standard.outcomes.approved_rate.percent is None
    assert result.cms.standard.time_to_decision == metrics.DurationStats(0, None, None)
    assert result.open_cases.total == 0


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    stats = metrics.duration_stats([timedelta(hours=h) for h in (1, 2, 6, 100)])
    assert stats.median == timedelta(hours=4)
    assert stats.mean == timedelta(hours=27, minutes=15)


def test_services_requiring_pa_come_from_the_published_requirement_rules_that_require_it(editor, investigational):
    factories.requirement_rule(editor, code_start="22867", code_end="22870", line_of_business="commercial")
    factories.requirement_rule(editor, code_system="HCPCS", code_start="G0276", policy_id=investigational.policy_id)
    factories.requirement_rule(editor, code_start="99213", requirement="not_required")
    factories.requirement_rule(editor, code_start="99999", publish=False)
    factories.requirement_rule(editor, code_system="", code_start="")  # the plan-wide default

    services_list = metrics.services_requiring_pa()

    assert [(s.system, s.code_label, s.line_of_business_label, s.policy_number) for s in services_list] == [
        ("CPT", "22867–22870", "Commercial", ""),
        ("HCPCS", "G0276", "All lines of business", "TP.01"),
        ("", "every other service (plan-wide default)", "All lines of business", ""),
    ]


def test_a_service_says_what_its_code_means_from_its_policys_codes_in_one_query(editor):
    version = factories.draft_version(codes=[("CPT", "62330", ""), ("CPT", "62331", "")])
    version.codes.filter(code="62330").update(description="Lumbar epidural injection")
    published = factories.publish(version, editor)
    factories.requirement_rule(editor, code_start="62330", policy_id=published.policy_id)
    factories.requirement_rule(editor, code_start="62331", policy_id=published.policy_id)
    factories.requirement_rule(editor, code_start="22867")  # no policy: nothing to describe it

    with CaptureQueriesContext(connection) as ctx:
        services_list = metrics.services_requiring_pa()

    assert [(s.code, s.description) for s in services_list] == [
        ("22867", ""),
        ("62330", "Lumbar epidural injection"),
        ("62331", ""),
    ]
    assert len(ctx.captured_queries) == 1


def test_metrics_cost_the_same_queries_whatever_the_number_of_cases(world):
    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            metrics.dashboard_metrics(PERIOD, NOW)
        return len(ctx.captured_queries)

    a = world.submit(T0)
    world.decide(a, hours(1), world.nurse, line(1, "approved"))
    few = count()
    for n in range(4):
        case = world.submit(T0, urgency="expedited" if n % 2 else "standard")
        world.decide(case, hours(2 + n), world.physician, line(1, "denied" if n % 2 else "approved"))
    assert count() == few

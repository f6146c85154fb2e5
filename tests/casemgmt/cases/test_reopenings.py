"""Reopening a decided case: who, within which limits, and what the new decision does.

../shared/DOMAIN.md, "After the decision"; issue 16, section 3.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from casemgmt.cases.models import Authorization, AuthorizationStatus, CaseEventKind, CaseStatus, LineOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.kernel.errors import ConflictError, InvalidTransition, PermissionDeniedError, ValidationFailed
from policies_app.models import PolicyVersion
from tests.casemgmt.cases.test_appeals import decided_case, every_line_of_business_policy, move_time

pytestmark = pytest.mark.django_db

CLERICAL = "Clerical error: the units were keyed as 2 instead of 4."


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return every_line_of_business_policy(editor)


def test_a_physician_reopens_a_decided_case_and_it_returns_to_review(integration_client, physician, version):
    """42 CFR 422.616(a): a determination may be reopened; the case is reviewed again (issue 16, section 3)."""
    case, decision = decided_case(integration_client, physician, version)
    reopened = case_reopen(case_id=case.pk, user=physician, reason=CLERICAL)
    assert reopened.status == CaseStatus.IN_REVIEW
    assert reopened.decided_at is None
    event = reopened.events.get(kind=CaseEventKind.REOPENED)
    assert (event.detail["reason"], event.detail["decision"], event.detail["good_cause"]) == (
        CLERICAL,
        decision.pk,
        False,
    )
    assert event.detail["previous_due_at"] == case.due_at.isoformat()


def test_a_manager_may_reopen(integration_client, physician, manager, version):
    """Issue 16, section 3: a physician or a manager reopens."""
    case, _ = decided_case(integration_client, physician, version)
    assert case_reopen(case_id=case.pk, user=manager, reason=CLERICAL).status == CaseStatus.IN_REVIEW


@pytest.mark.parametrize("who", ["nurse", "integration_client"])
def test_a_nurse_or_the_requester_may_not_reopen(request, integration_client, physician, version, who):
    """Issue 16, section 3: reopening is a physician's or a manager's act."""
    case, _ = decided_case(integration_client, physician, version)
    with pytest.raises(PermissionDeniedError):
        case_reopen(case_id=case.pk, user=request.getfixturevalue(who), reason=CLERICAL)


def test_a_reopening_needs_a_reason(integration_client, physician, version):
    """42 CFR 422.616(a): a reopening is for a stated cause (a clerical error, new and material evidence)."""
    case, _ = decided_case(integration_client, physician, version)
    with pytest.raises(ValidationFailed) as refused:
        case_reopen(case_id=case.pk, user=physician, reason="   ")
    assert "reason" in refused.value.errors


def test_an_open_case_cannot_be_reopened(integration_client, physician, version):
    """42 CFR 422.616(a): only a determination is reopened."""
    from tests import factories

    case = factories.case(integration_client)
    with pytest.raises(InvalidTransition):
        case_reopen(case_id=case.pk, user=physician, reason=CLERICAL)


def test_within_a_year_any_reason_will_do(integration_client, physician, version, monkeypatch):
    """42 CFR 422.616(b)(1): within one year of the determination, for any reason."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=365)
    assert case_reopen(case_id=case.pk, user=physician, reason=CLERICAL).status == CaseStatus.IN_REVIEW


def test_after_a_year_a_reopening_without_good_cause_is_refused_with_the_dates(
    integration_client, physician, version, monkeypatch
):
    """42 CFR 422.616(b)(1): the any-reason limit is one year; past it, 409 with the dates."""
    from django.utils import timezone

    case, decision = decided_case(integration_client, physician, version)
    decided_on = timezone.localdate(decision.decided_at)
    move_time(monkeypatch, days=366)
    with pytest.raises(ConflictError) as refused:
        case_reopen(case_id=case.pk, user=physician, reason=CLERICAL)
    assert refused.value.status_code == 409
    assert refused.value.extra["decided_on"] == decided_on.isoformat()
    case.refresh_from_db()
    assert case.status == CaseStatus.DECIDED


def test_within_four_years_good_cause_will_do(integration_client, physician, version, monkeypatch):
    """42 CFR 422.616(b)(2): within four years for good cause (new and material evidence, 422.616(c))."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=4 * 365)
    reopened = case_reopen(case_id=case.pk, user=physician, reason="New MRI shows progression.", good_cause=True)
    assert reopened.status == CaseStatus.IN_REVIEW


def test_after_four_years_even_good_cause_is_refused(integration_client, physician, version, monkeypatch):
    """42 CFR 422.616(b)(2): the good-cause limit is four years; past it, 409."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=4 * 365 + 1)
    with pytest.raises(ConflictError):
        case_reopen(case_id=case.pk, user=physician, reason="New MRI shows progression.", good_cause=True)


def test_the_limits_are_the_plans_settings(integration_client, physician, version, monkeypatch, settings):
    """Issue 16, section 3: "within the plan's limits (default: one year ...)"."""
    settings.REOPEN_ANY_REASON_DAYS = 30
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=31)
    with pytest.raises(ConflictError):
        case_reopen(case_id=case.pk, user=physician, reason=CLERICAL)


def test_the_new_decision_supersedes_the_old_one_and_its_authorization(integration_client, physician, version):
    """42 CFR 422.616; issue 16, section 3: the revised determination replaces the old; nothing is edited."""
    case, first = decided_case(integration_client, physician, version, outcomes=(LineOutcome.PARTIALLY_APPROVED,))
    old = Authorization.objects.get(decision=first)
    case_reopen(case_id=case.pk, user=physician, reason=CLERICAL)
    second = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    case.refresh_from_db()
    old.refresh_from_db()
    assert case.status == CaseStatus.DECIDED
    assert second.supersedes_id == first.pk
    assert old.status == AuthorizationStatus.SUPERSEDED
    new = Authorization.objects.get(decision=second)
    assert (new.supersedes_id, new.approved_units, new.status) == (old.pk, 4, AuthorizationStatus.ACTIVE)
    assert first.lines.get().outcome == LineOutcome.PARTIALLY_APPROVED


def test_a_denial_after_reopening_voids_the_authorization(integration_client, physician, version):
    """42 CFR 422.616; issue 16, section 1: a later decision on the line voids its authorization."""
    case, first = decided_case(integration_client, physician, version, outcomes=(LineOutcome.APPROVED,))
    old = Authorization.objects.get(decision=first)
    case_reopen(case_id=case.pk, user=physician, reason="New and material information: the member moved plans.")
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.DENIED, reason="Not covered on that date.")],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    old.refresh_from_db()
    assert old.status == AuthorizationStatus.VOIDED

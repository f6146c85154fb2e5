"""What a case keeps of its determinations for the CMS-0057-F report (issue 16, section 5;
../shared/DOMAIN.md "Public metrics"): the outcome of record, shown as mixed when it is mixed,
and when and against which deadline it was first determined."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from casemgmt.cases.models import Case, RequestOutcome, request_outcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.services.transitions import case_information_add
from policies_app.models import PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return factories.publish(factories.draft_version(), editor)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["approved", "approved"], RequestOutcome.APPROVED),
        (["denied", "denied"], RequestOutcome.DENIED),
        (["approved", "denied"], RequestOutcome.MIXED),
        (["modified", "denied"], RequestOutcome.MIXED),
        (["approved", "partially_approved"], RequestOutcome.PARTIALLY_APPROVED),
        (["modified"], RequestOutcome.PARTIALLY_APPROVED),
        (["overturned"], RequestOutcome.APPROVED),
        (["upheld"], RequestOutcome.DENIED),
        (["overturned", "upheld"], RequestOutcome.MIXED),
        (["partially_overturned"], RequestOutcome.PARTIALLY_APPROVED),
    ],
)
def test_a_request_outcome_follows_from_its_lines(lines: list[str], expected: RequestOutcome) -> None:
    """A mixed outcome (one line approved, one denied) is shown as such, never as approved or
    denied (issue 16, section 5); an appeal's overturn counts as an approval, an upheld line as
    a denial."""
    assert request_outcome(lines) == expected


def two_line_case(client: User) -> Case:
    dos = timezone.localdate() + timedelta(days=10)
    return factories.case(
        client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos),
        ),
    )


def test_a_determination_records_its_outcome_and_first_time_on_the_case(integration_client, physician, version):
    case = two_line_case(integration_client)
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(service_line=2, outcome="denied", reason="Investigational."),
        ],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    case.refresh_from_db()
    assert case.outcome == RequestOutcome.MIXED
    assert case.first_determined_at == decision.decided_at
    assert case.first_determination_due_at == case.due_at
    assert case.first_determination_extended is False
    assert case.determined_automatically is False


def test_a_pend_is_not_a_determination(integration_client, nurse):
    case = two_line_case(integration_client)
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(service_line=2, outcome="pended"),
        ],
        citations=[],
    )
    case.refresh_from_db()
    assert (case.outcome, case.first_determined_at) == ("", None)


def test_a_clock_extended_by_a_pend_is_remembered_at_the_first_determination(
    integration_client, nurse, monkeypatch: pytest.MonkeyPatch
):
    """(c)(5): approved after an extended timeframe (42 CFR 422.122(c)(5))."""
    case = factories.case(integration_client)
    case_pend_for_information(case_id=case.pk, user=nurse, needed="imaging report")
    later = timezone.now() + timedelta(hours=6)  # the answer comes six hours later
    monkeypatch.setattr(timezone, "now", lambda: later)
    case_information_add(case_id=case.pk, user=integration_client, clinical_facts={}, clinical_notes="MRI attached")
    decision_record(
        case_id=case.pk, user=nurse, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
    )
    case.refresh_from_db()
    assert case.first_determination_extended is True


def test_a_reopened_decision_changes_the_outcome_not_the_first_determination(integration_client, physician, version):
    """A reopening's new decision supersedes the old outcome; the request is still reported in
    the period, and against the deadline, of its first determination (42 CFR 422.616)."""
    case = factories.case(integration_client)
    first = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="Investigational.")],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    case.refresh_from_db()
    due_then = case.due_at
    case_reopen(case_id=case.pk, user=physician, reason="Clerical error: wrong line denied.")
    decision_record(
        case_id=case.pk, user=physician, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
    )
    case.refresh_from_db()
    assert case.outcome == RequestOutcome.APPROVED
    assert case.first_determined_at == first.decided_at
    assert case.first_determination_due_at == due_then
    assert case.due_at != due_then  # the reopening's own clock

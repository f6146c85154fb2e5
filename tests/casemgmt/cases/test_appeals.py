"""Appeals (reconsiderations): who may file what, when, on which clock, and who may decide them.

../shared/DOMAIN.md, "After the decision"; issue 16, section 2.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEventKind,
    CaseStatus,
    Decision,
    LineOutcome,
    ReviewType,
)
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.notes import PeerToPeerOutcome, case_peer_to_peer_record
from casemgmt.kernel.errors import ConflictError, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.roles import Role
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

DENIAL_REASON = "The procedure is investigational under the plan's policy."


# --- helpers shared by the appeal and reopening tests (API and pages too) ---------------------


def every_line_of_business_policy(editor: User) -> PolicyVersion:
    """A published policy for CPT 62330 and 62331 that applies to every line of business."""
    return factories.publish(
        factories.draft_version(
            factories.policy(number="AP.01", lines_of_business=list(LineOfBusiness.values)),
            codes=[("CPT", "62330", "62331")],
        ),
        editor,
    )


def decided_case(
    client: User,
    physician: User,
    version: PolicyVersion,
    *,
    outcomes: tuple[str, ...] = (LineOutcome.DENIED,),
    line_of_business: str = LineOfBusiness.COMMERCIAL,
    review_type: str = ReviewType.PROSPECTIVE,
    units: int = 4,
) -> tuple[Case, Decision]:
    """A case with one line per outcome, decided by `physician` (partial approvals approve 2 units)."""
    past = review_type == ReviewType.RETROSPECTIVE
    dos = timezone.localdate() + timedelta(days=-20 if past else 10)
    lines = tuple(
        LineInput(code_system="CPT", code="62330", units=units, date_of_service=dos) for _ in range(len(outcomes))
    )
    case = factories.case(client, line_of_business=line_of_business, review_type=review_type, service_lines=lines)
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(
                service_line=i,
                outcome=outcome,
                reason="" if outcome == LineOutcome.APPROVED else DENIAL_REASON,
                approved_units=2 if outcome in (LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED) else None,
            )
            for i, outcome in enumerate(outcomes, start=1)
        ],
        citations=[CitationInput(policy_version_id=version.pk, criterion="Investigational.")],
        rationale="Per policy.",
    )
    case.refresh_from_db()
    return case, decision


def file_appeal(case: Case, user: User, **overrides: Any) -> Case:
    values: dict[str, Any] = {
        "case_id": case.pk,
        "user": user,
        "lines": [1],
        "reason": "The member failed six months of conservative care; records attached.",
        "urgency": "standard",
        "requested_by": "provider",
    }
    values.update(overrides)
    return appeal_open(**values)


def move_time(monkeypatch: pytest.MonkeyPatch, days: int = 0, hours: int = 0) -> datetime:
    """Every clock the services read (timezone.now, and localdate through it) runs `days` ahead."""
    later = timezone.now() + timedelta(days=days, hours=hours)
    monkeypatch.setattr(timezone, "now", lambda: later)
    return later


def decide_appeal(appeal: Case, physician: User, version: PolicyVersion, outcome: str, **line: Any) -> Decision:
    adverse = outcome in (LineOutcome.UPHELD, LineOutcome.PARTIALLY_OVERTURNED)
    return decision_record(
        case_id=appeal.pk,
        user=physician,
        lines=[
            DecisionLineInput(
                service_line=sequence.sequence,
                outcome=outcome,
                reason=line.get("reason", "Still investigational: no new evidence." if adverse else ""),
                approved_units=line.get("approved_units"),
            )
            for sequence in appeal.lines.all()
        ],
        citations=[CitationInput(policy_version_id=version.pk)] if adverse else [],
    )


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return every_line_of_business_policy(editor)


@pytest.fixture
def second_physician(db: None) -> User:
    return factories.user("pat.second", Role.PHYSICIAN)


# --- filing -------------------------------------------------------------------------------------


def test_an_appeal_is_a_case_of_its_own_linked_to_the_original(integration_client, physician, version):
    """42 CFR 422.582(a); 29 CFR 2560.503-1(h)(2): a reconsideration of the adverse decision, tracked on its own."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client, requested_by="member")
    assert appeal.review_type == ReviewType.APPEAL
    assert appeal.appeal_of_id == case.pk
    assert appeal.case_number != case.case_number
    assert appeal.appeal_requested_by == "member"
    assert [(line.sequence, line.origin_id) for line in appeal.lines.all()] == [(1, case.lines.get().pk)]
    assert case.events.filter(kind=CaseEventKind.APPEALED, detail__appeal=appeal.case_number).exists()


@pytest.mark.parametrize("outcome", [LineOutcome.DENIED, LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED], ids=str)
def test_an_adverse_line_can_be_appealed(integration_client, physician, version, outcome):
    """42 CFR 422.566(b); 29 CFR 2560.503-1(m)(4): a denial, partial approval or modification is adverse."""
    case, _ = decided_case(integration_client, physician, version, outcomes=(outcome,))
    assert file_appeal(case, integration_client).lines.get().sequence == 1


def test_an_approved_line_cannot_be_appealed_and_the_refusal_names_it(integration_client, physician, version):
    """42 CFR 422.566(b); 29 CFR 2560.503-1(h)(1): only an adverse determination is appealed."""
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.DENIED, LineOutcome.APPROVED))
    with pytest.raises(ValidationFailed) as refused:
        file_appeal(case, integration_client, lines=[1, 2])
    assert list(refused.value.errors) == ["lines[1]"]
    assert "line 2 was approved" in refused.value.errors["lines[1]"][0]


WINDOWS = [
    (LineOfBusiness.COMMERCIAL, 180, "29 CFR 2560.503-1(h)(3)(i)"),
    (LineOfBusiness.EXCHANGE, 180, "45 CFR 147.136(b)(2); 29 CFR 2560.503-1(h)(3)(i)"),
    (LineOfBusiness.MEDICARE_ADVANTAGE, 65, "42 CFR 422.582(b)"),
    (LineOfBusiness.MEDICAID, 60, "42 CFR 438.402(c)(2)(ii)"),
    (LineOfBusiness.CHIP, 60, "42 CFR 457.1260; 42 CFR 438.402(c)(2)(ii)"),
]


@pytest.mark.parametrize(("line_of_business", "days", "source"), WINDOWS, ids=[w[0] for w in WINDOWS])
def test_an_appeal_on_the_last_day_of_its_window_is_accepted(
    integration_client, physician, version, monkeypatch, line_of_business, days, source
):
    """The window per line of business (source in the parameters): the last day still counts."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=line_of_business)
    move_time(monkeypatch, days=days)
    assert file_appeal(case, integration_client).appeal_of_id == case.pk


@pytest.mark.parametrize(("line_of_business", "days", "source"), WINDOWS, ids=[w[0] for w in WINDOWS])
def test_an_appeal_after_its_window_is_refused_with_the_window_and_the_dates(
    integration_client, physician, version, monkeypatch, line_of_business, days, source
):
    """The window per line of business (source in the parameters): a day late is 409 with the dates."""
    case, decision = decided_case(integration_client, physician, version, line_of_business=line_of_business)
    decided_on = timezone.localdate(decision.decided_at)
    move_time(monkeypatch, days=days + 1)
    with pytest.raises(ConflictError) as refused:
        file_appeal(case, integration_client)
    assert refused.value.status_code == 409
    assert refused.value.extra == {
        "window_days": days,
        "decided_on": decided_on.isoformat(),
        "window_closed_on": (decided_on + timedelta(days=days)).isoformat(),
        "filed_on": (decided_on + timedelta(days=days + 1)).isoformat(),
    }
    assert not Case.objects.filter(appeal_of=case).exists()


def test_a_manager_accepts_a_late_filing_for_good_cause_with_the_reason_recorded(
    integration_client, physician, manager, version, monkeypatch
):
    """42 CFR 422.582(c): the plan may extend the filing time for good cause; the reason is recorded."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    move_time(monkeypatch, days=90)
    appeal = file_appeal(case, manager, late_filing_reason="The member was hospitalized for six weeks.")
    assert appeal.late_filing_reason == "The member was hospitalized for six weeks."
    assert appeal.late_filing_accepted_by == manager
    event = case.events.get(kind=CaseEventKind.APPEALED)
    assert event.detail["late_filing_reason"] == "The member was hospitalized for six weeks."


def test_a_nurse_may_not_accept_a_late_filing(integration_client, physician, nurse, version, monkeypatch):
    """42 CFR 422.582(c): good cause is the plan's call; here a manager's (issue 16, section 2)."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=200)
    with pytest.raises(PermissionDeniedError):
        file_appeal(case, nurse, late_filing_reason="The provider's office was closed.")


def test_a_manager_without_a_reason_is_refused_a_late_filing_like_anyone(
    integration_client, physician, manager, version, monkeypatch
):
    """42 CFR 422.582(c): good cause must be shown; without it the window holds."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=181)
    with pytest.raises(ConflictError):
        file_appeal(case, manager)


def test_a_line_already_under_appeal_cannot_be_appealed_again(integration_client, physician, version):
    """42 CFR 422.582(a): one reconsideration of a determination at a time."""
    case, _ = decided_case(integration_client, physician, version)
    file_appeal(case, integration_client)
    with pytest.raises(ConflictError):
        file_appeal(case, integration_client)


# --- the appeal's clock ---------------------------------------------------------------------------

DAY = 24
CLOCKS = [
    (LineOfBusiness.MEDICARE_ADVANTAGE, ReviewType.PROSPECTIVE, "standard", 30 * DAY, "42 CFR 422.590(a)"),
    (LineOfBusiness.MEDICARE_ADVANTAGE, ReviewType.RETROSPECTIVE, "standard", 60 * DAY, "42 CFR 422.590(b)"),
    (LineOfBusiness.MEDICARE_ADVANTAGE, ReviewType.PROSPECTIVE, "expedited", 72, "42 CFR 422.590(e)"),
    (LineOfBusiness.MEDICAID, ReviewType.PROSPECTIVE, "standard", 30 * DAY, "42 CFR 438.408(b)(2)"),
    (LineOfBusiness.MEDICAID, ReviewType.PROSPECTIVE, "expedited", 72, "42 CFR 438.408(b)(3)"),
    (LineOfBusiness.CHIP, ReviewType.PROSPECTIVE, "standard", 30 * DAY, "42 CFR 438.408(b)(2); 42 CFR 457.1260"),
    (LineOfBusiness.CHIP, ReviewType.PROSPECTIVE, "expedited", 72, "42 CFR 438.408(b)(3); 42 CFR 457.1260"),
    (LineOfBusiness.COMMERCIAL, ReviewType.PROSPECTIVE, "standard", 30 * DAY, "29 CFR 2560.503-1(i)(2)(ii)"),
    (LineOfBusiness.COMMERCIAL, ReviewType.RETROSPECTIVE, "standard", 60 * DAY, "29 CFR 2560.503-1(i)(2)(iii)"),
    (LineOfBusiness.COMMERCIAL, ReviewType.PROSPECTIVE, "expedited", 72, "29 CFR 2560.503-1(i)(2)(i)"),
    # Exchange plans follow the ERISA clocks through 45 CFR 147.136(b)(2).
    (LineOfBusiness.EXCHANGE, ReviewType.PROSPECTIVE, "standard", 30 * DAY, "29 CFR 2560.503-1(i)(2)(ii)"),
]


@pytest.mark.parametrize(
    ("line_of_business", "review_type", "urgency", "hours", "source"),
    CLOCKS,
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CLOCKS],
)
def test_an_appeal_is_due_by_its_deadline_rule(
    integration_client, physician, version, line_of_business, review_type, urgency, hours, source
):
    """Appeal clocks per line of business, pre- or post-service, and urgency (source in the parameters)."""
    case, _ = decided_case(
        integration_client, physician, version, line_of_business=line_of_business, review_type=review_type
    )
    appeal = file_appeal(case, integration_client, urgency=urgency)
    assert appeal.due_at - appeal.received_at == timedelta(hours=hours)
    assert appeal.deadline_rule is not None and appeal.deadline_rule.source == source


# --- who decides ----------------------------------------------------------------------------------


def test_the_physician_who_denied_may_not_decide_the_appeal(integration_client, physician, version):
    """42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii): not the individual who made the adverse determination."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    with pytest.raises(PermissionDeniedError) as refused:
        decide_appeal(appeal, physician, version, LineOutcome.OVERTURNED)
    assert "took part in the decision under appeal" in refused.value.message
    assert not appeal.decisions.exists()


def test_the_peer_to_peer_physician_may_not_decide_the_appeal(integration_client, physician, second_physician, version):
    """42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii): nobody who took part in the adverse decision."""
    case, _ = decided_case(integration_client, physician, version)
    case_peer_to_peer_record(
        case_id=case.pk,
        user=second_physician,
        requesting_physician="Dr. Requesting",
        held_at=timezone.now(),
        summary="Discussed the imaging; the denial stands.",
        outcome=PeerToPeerOutcome.choices[0][0],
    )
    appeal = file_appeal(case, integration_client)
    with pytest.raises(PermissionDeniedError):
        decide_appeal(appeal, second_physician, version, LineOutcome.OVERTURNED)


def test_a_nurse_may_not_decide_an_appeal(integration_client, physician, nurse, version):
    """42 CFR 422.590(h)(2): a physician decides a reconsideration of a medical-necessity denial."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    with pytest.raises(PermissionDeniedError) as refused:
        decide_appeal(appeal, nurse, version, LineOutcome.OVERTURNED)
    assert "physician" in refused.value.message


def test_a_physician_who_took_no_part_decides_the_appeal(integration_client, physician, second_physician, version):
    """42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii)."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    decision = decide_appeal(appeal, second_physician, version, LineOutcome.OVERTURNED)
    assert decision.lines.get().outcome == LineOutcome.OVERTURNED


def test_an_appeal_takes_only_the_appeal_outcomes(integration_client, physician, second_physician, version):
    """29 CFR 2560.503-1(j): the notice of a decision on review says whether the denial is upheld or reversed."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    with pytest.raises(ValidationFailed) as refused:
        decide_appeal(appeal, second_physician, version, LineOutcome.APPROVED)
    assert "lines[0].outcome" in refused.value.errors


def test_an_upheld_line_needs_a_reason_and_a_citation(integration_client, physician, second_physician, version):
    """29 CFR 2560.503-1(j)(1)-(2); 42 CFR 422.568(e)(2): the specific reason and the provision relied on."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=appeal.pk,
            user=second_physician,
            lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.UPHELD)],
            citations=[],
        )
    assert set(refused.value.errors) == {"lines[0].reason", "citations"}


# --- what the outcome does -----------------------------------------------------------------------


def test_an_overturned_denial_issues_an_authorization(integration_client, physician, second_physician, version):
    """Issue 16, section 2: an overturn creates the authorization (42 CFR 422.618(a))."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, second_physician, version, LineOutcome.OVERTURNED)
    authorization = Authorization.objects.get(origin_line=case.lines.get())
    assert authorization.status == AuthorizationStatus.ACTIVE
    assert authorization.case_id == appeal.pk
    assert authorization.approved_units == 4


def test_an_overturned_partial_approval_supersedes_its_authorization(
    integration_client, physician, second_physician, version
):
    """Issue 16, sections 1-2: a later decision on the line supersedes its authorization, never edits it."""
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.PARTIALLY_APPROVED,))
    first = Authorization.objects.get(origin_line=case.lines.get())
    assert first.approved_units == 2
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, second_physician, version, LineOutcome.OVERTURNED)
    first.refresh_from_db()
    assert first.status == AuthorizationStatus.SUPERSEDED
    new = Authorization.objects.get(origin_line=case.lines.get(), status=AuthorizationStatus.ACTIVE)
    assert (new.supersedes_id, new.approved_units) == (first.pk, 4)


@pytest.mark.parametrize(("urgency", "forward_within"), [("standard", None), ("expedited", timedelta(hours=24))])
def test_an_upheld_medicare_advantage_appeal_goes_to_the_ire(
    integration_client, physician, second_physician, version, urgency, forward_within
):
    """42 CFR 422.592(a); 422.590(a)(2) (standard: within the reconsideration's deadline), 422.590(e)(5) (expedited: 24 hours)."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    appeal = file_appeal(case, integration_client, urgency=urgency)
    decision = decide_appeal(appeal, second_physician, version, LineOutcome.UPHELD)
    appeal.refresh_from_db()
    assert appeal.status == CaseStatus.FORWARDED_TO_IRE
    event = appeal.events.get(kind=CaseEventKind.FORWARDED_TO_IRE)
    due = datetime.fromisoformat(event.detail["forward_due_by"])
    expected = decision.decided_at + forward_within if forward_within else appeal.due_at
    assert due == expected
    assert any(case.case_number in item for item in event.detail["case_file"])


def test_a_partly_upheld_medicare_advantage_appeal_goes_to_the_ire(
    integration_client, physician, second_physician, version
):
    """42 CFR 422.592(a): a reconsideration that affirms the adverse determination in whole or in part."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, second_physician, version, LineOutcome.PARTIALLY_OVERTURNED, approved_units=3)
    appeal.refresh_from_db()
    assert appeal.status == CaseStatus.FORWARDED_TO_IRE


@pytest.mark.parametrize("line_of_business", [LineOfBusiness.COMMERCIAL, LineOfBusiness.MEDICAID], ids=str)
def test_an_upheld_appeal_outside_medicare_advantage_is_not_forwarded(
    integration_client, physician, second_physician, version, line_of_business
):
    """42 CFR 422.592 is Medicare Advantage only; commercial goes to external review on request (45 CFR 147.136(d))."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=line_of_business)
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, second_physician, version, LineOutcome.UPHELD)
    appeal.refresh_from_db()
    assert appeal.status == CaseStatus.DECIDED
    assert not appeal.events.filter(kind=CaseEventKind.FORWARDED_TO_IRE).exists()


def test_an_overturned_medicare_advantage_appeal_is_not_forwarded(
    integration_client, physician, second_physician, version
):
    """42 CFR 422.592(a): only an affirmed adverse determination goes to the IRE."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, second_physician, version, LineOutcome.OVERTURNED)
    appeal.refresh_from_db()
    assert appeal.status == CaseStatus.DECIDED

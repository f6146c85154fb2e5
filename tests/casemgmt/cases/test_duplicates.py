"""Duplicates at intake: which earlier requests a new one repeats, the flag it gets, the 409 a plan
may choose instead.

../shared/DOMAIN.md, "Triage at intake" ("Duplicates: the same member, service and dates as a
request already open or approved"); issue 17, section 3.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    Case,
    DuplicateAction,
    DuplicateRule,
    FlagKind,
    FlagSeverity,
    LineOutcome,
    ReviewType,
    ServiceLine,
)
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.duplicates import (
    DuplicateMatch,
    duplicate_flags,
    duplicate_matches,
    duplicate_refusal,
)
from casemgmt.cases.services.intake import LineInput, MemberInput
from casemgmt.cases.services.transitions import case_cancel
from casemgmt.kernel.errors import ConflictError
from casemgmt.security.services import roles_sync_permissions
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

DENIAL_REASON = "The procedure is investigational under the plan's policy."
MEMBER = "M123"
CODE = "62330"


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    """A published policy for CPT 62330 that applies to every line of business (decisions cite it)."""
    return factories.publish(
        factories.draft_version(
            factories.policy(number="DU.01", lines_of_business=list(LineOfBusiness.values)),
            codes=[("CPT", CODE, "")],
        ),
        editor,
    )


def dos_in(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


def earlier(client: User, *, dos: date | None = None, code: str = CODE, member_id: str = MEMBER) -> Case:
    """An earlier request for one service, sent by `client`."""
    dos = dos or dos_in(10)
    review_type = ReviewType.RETROSPECTIVE if dos < timezone.localdate() else ReviewType.PROSPECTIVE
    return factories.case(
        client,
        review_type=review_type,
        member=MemberInput(member_id=member_id, first_name="Ada", last_name="Case", birth_date=date(1960, 5, 1)),
        service_lines=(LineInput(code_system="CPT", code=code, units=2, date_of_service=dos),),
    )


def decide(case: Case, physician: User, version: PolicyVersion, outcome: str) -> None:
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(
                service_line=1, outcome=outcome, reason="" if outcome == LineOutcome.APPROVED else DENIAL_REASON
            )
        ],
        citations=[CitationInput(policy_version_id=version.pk, criterion="Investigational.")],
        rationale="Per policy.",
    )


def new_line(sequence: int = 1, *, dos: date | None = None, code: str = CODE) -> ServiceLine:
    """A line of the new request, as intake builds it before anything is stored."""
    return ServiceLine(sequence=sequence, code_system="CPT", code=code, units=1, date_of_service=dos or dos_in(10))


def matches_for(
    *lines: ServiceLine, member_id: str = MEMBER, line_of_business: str = LineOfBusiness.COMMERCIAL
) -> dict[int, list[DuplicateMatch]]:
    return duplicate_matches(member_id=member_id, line_of_business=line_of_business, lines=lines)


def set_rule(line_of_business: str = LineOfBusiness.COMMERCIAL, **values: object) -> None:
    DuplicateRule.objects.update_or_create(line_of_business=line_of_business, defaults=values)


# --- what counts as a duplicate ---------------------------------------------------------------


def test_an_open_request_for_the_same_member_and_service_from_another_client_is_repeated(
    integration_client, other_client
):
    """Issue 17 section 3: the same member and code within the window of a request still open,
    from any client."""
    first = earlier(integration_client)
    matches = matches_for(new_line())
    assert [(m.case_number, m.line, m.code, m.still_open, m.authorization_number) for m in matches[1]] == [
        (first.case_number, 1, CODE, True, None)
    ]


def test_another_members_request_is_not_repeated(integration_client):
    """Issue 17 section 3 / DOMAIN.md "Triage at intake": a duplicate is for the same member."""
    earlier(integration_client, member_id="M999")
    assert matches_for(new_line()) == {}


def test_another_code_is_not_a_duplicate(integration_client):
    """Issue 17 section 3: the same code; a line carries one code, so an overlapping range means
    the same code."""
    earlier(integration_client, code="62331")
    assert matches_for(new_line()) == {}


@pytest.mark.parametrize(("apart", "repeated"), [(30, True), (-30, True), (31, False), (-31, False)])
def test_dates_of_service_count_as_the_same_within_the_window(integration_client, apart, repeated):
    """Issue 17 section 3: a date of service within the line of business's window (30 days as
    seeded), before or after the earlier one."""
    earlier(integration_client, dos=dos_in(40))
    assert bool(matches_for(new_line(dos=dos_in(40 + apart)))) is repeated


def test_the_window_is_the_line_of_business_rule(integration_client):
    """Issue 17 section 3: the window is editable per line of business."""
    earlier(integration_client, dos=dos_in(10))
    set_rule(window_days=60)
    assert matches_for(new_line(dos=dos_in(55)))
    set_rule(window_days=5)
    assert not matches_for(new_line(dos=dos_in(16)))


def test_a_cancelled_request_is_not_repeated(integration_client):
    """Issue 17 section 3: only a request still open, or approved, counts."""
    first = earlier(integration_client)
    case_cancel(case_id=first.pk, user=integration_client, reason="Sent twice.")
    assert matches_for(new_line()) == {}


def test_a_denied_request_without_an_active_authorization_is_not_repeated(integration_client, physician, version):
    """Issue 17 section 3: a decided request counts only when approved with an active authorization."""
    first = earlier(integration_client)
    decide(first, physician, version, LineOutcome.DENIED)
    assert matches_for(new_line()) == {}


def test_an_approved_request_with_an_active_authorization_is_repeated_naming_it(integration_client, physician, version):
    """Issue 17 section 3: approved with an active authorization; the match names the earlier case
    and the authorization."""
    first = earlier(integration_client)
    decide(first, physician, version, LineOutcome.APPROVED)
    authorization = Authorization.objects.get(case=first, status=AuthorizationStatus.ACTIVE)
    [match] = matches_for(new_line())[1]
    assert (match.case_number, match.still_open) == (first.case_number, False)
    assert (match.authorization_number, match.authorization_valid_to) == (
        authorization.authorization_number,
        authorization.valid_to,
    )


def test_an_approval_whose_authorization_has_lapsed_is_not_repeated(integration_client, physician, version):
    """Issue 17 section 3: an active authorization is one still valid today (the nightly expiry
    may not have marked it yet)."""
    dos = dos_in(-100)  # the default validity ends 90 days after the date of service
    first = earlier(integration_client, dos=dos)
    decide(first, physician, version, LineOutcome.APPROVED)
    assert Authorization.objects.get(case=first).valid_to < timezone.localdate()
    assert matches_for(new_line(dos=dos)) == {}


def test_an_appeal_is_not_an_earlier_request_of_its_own(integration_client, physician, version):
    """Issue 17 section 3: an appeal re-reviews the original request; while it is open the original,
    denied, is still no open or approved request."""
    first = earlier(integration_client)
    decide(first, physician, version, LineOutcome.DENIED)
    appeal = appeal_open(
        case_id=first.pk,
        user=integration_client,
        lines=[1],
        reason="Six months of conservative care; records attached.",
        urgency="standard",
        requested_by="provider",
    )
    assert appeal.is_open
    assert matches_for(new_line()) == {}


def test_each_line_is_matched_on_its_own_service(integration_client):
    """Issue 17 section 3: the same member and the same code, line by line."""
    first = earlier(integration_client, code="62331")
    matches = matches_for(new_line(1), new_line(2, code="62331"), new_line(3, code="62331", dos=dos_in(300)))
    assert list(matches) == [2]
    assert matches[2][0].case_number == first.case_number


def test_the_query_count_does_not_grow_with_the_lines(integration_client, django_assert_num_queries):
    """Issue 17 "Performance": the check is two queries (the rule; the earlier lines with their
    authorizations) whatever the number of lines."""
    earlier(integration_client)
    with django_assert_num_queries(2):
        assert matches_for(new_line())
    lines = [new_line(i, code=f"6233{i % 2}", dos=dos_in(i)) for i in range(1, 11)]
    with django_assert_num_queries(2):
        assert len(matches_for(*lines)) == 5


# --- the flag -----------------------------------------------------------------------------------


def test_the_flag_names_the_open_request(integration_client, other_client):
    """Issue 17 section 3: the repeating line gets the flag `duplicate_request` naming the earlier case."""
    dos = dos_in(10)
    first = earlier(integration_client, dos=dos)
    matches = matches_for(new_line(dos=dos))
    second = earlier(other_client, dos=dos)
    now = timezone.now()
    [flag] = duplicate_flags(case=second, lines=list(second.lines.all()), matches=matches, now=now)
    assert flag.pk is None
    assert (flag.kind, flag.severity, flag.case, flag.created_at) == (
        FlagKind.DUPLICATE_REQUEST,
        FlagSeverity.WARNING,
        second,
        now,
    )
    assert flag.service_line.sequence == 1
    assert flag.message == f"Repeats {first.case_number} (line 1, CPT {CODE} on {dos.isoformat()}), still open"
    assert flag.details["case_numbers"] == [first.case_number]
    assert flag.details["authorization_numbers"] == []


def test_the_flag_names_the_approved_request_and_its_authorization(integration_client, physician, version):
    """Issue 17 section 3: the flag names the earlier case and its authorization."""
    dos = dos_in(10)
    first = earlier(integration_client, dos=dos)
    decide(first, physician, version, LineOutcome.APPROVED)
    authorization = Authorization.objects.get(case=first)
    matches = matches_for(new_line(dos=dos))
    second = earlier(integration_client, dos=dos)
    [flag] = duplicate_flags(case=second, lines=list(second.lines.all()), matches=matches, now=timezone.now())
    assert flag.message == (
        f"Repeats {first.case_number} (line 1, CPT {CODE} on {dos.isoformat()}), approved: authorization "
        f"{authorization.authorization_number}, valid to {authorization.valid_to.isoformat()}"
    )
    assert flag.details["case_numbers"] == [first.case_number]
    assert flag.details["authorization_numbers"] == [authorization.authorization_number]


def test_no_match_no_flag(integration_client):
    """Issue 17 section 3: only a repeating line is flagged."""
    case = earlier(integration_client)
    assert duplicate_flags(case=case, lines=list(case.lines.all()), matches={}, now=timezone.now()) == []


# --- flag or refuse -----------------------------------------------------------------------------


def test_by_default_a_duplicate_is_flagged_not_refused(integration_client):
    """Issue 17 section 3: the plan chooses per line of business: flag (default)."""
    earlier(integration_client)
    assert duplicate_refusal(line_of_business=LineOfBusiness.COMMERCIAL, matches=matches_for(new_line())) is None


def test_the_refuse_rule_answers_409_naming_the_earlier_case(integration_client):
    """Issue 17 section 3: or refuse with 409 naming the earlier case number."""
    first = earlier(integration_client)
    set_rule(action=DuplicateAction.REFUSE)
    refusal = duplicate_refusal(line_of_business=LineOfBusiness.COMMERCIAL, matches=matches_for(new_line()))
    assert isinstance(refusal, ConflictError)
    assert refusal.status_code == 409
    assert refusal.field == "service_lines"
    assert refusal.extra == {"case_number": first.case_number, "case_numbers": [first.case_number]}
    assert first.case_number in refusal.message


def test_the_refuse_rule_is_per_line_of_business(integration_client):
    """Issue 17 section 3: the choice is per line of business."""
    earlier(integration_client)
    set_rule(LineOfBusiness.MEDICAID, action=DuplicateAction.REFUSE)
    assert duplicate_refusal(line_of_business=LineOfBusiness.COMMERCIAL, matches=matches_for(new_line())) is None


def test_the_refuse_rule_refuses_nothing_without_a_match(db):
    """Issue 17 section 3: only a duplicate is refused."""
    set_rule(action=DuplicateAction.REFUSE)
    assert duplicate_refusal(line_of_business=LineOfBusiness.COMMERCIAL, matches={}) is None


# --- the rules in the admin ---------------------------------------------------------------------


def signed_in_manager(manager: User) -> Client:
    roles_sync_permissions()
    # Managers are staff in production (demo_user_ensure); the conftest persona is not.
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(manager)
    return browser


def test_a_manager_edits_the_window_and_the_action(manager):
    """Issue 17 section 3: an editable window; the plan chooses per line of business, flag or refuse."""
    rule = DuplicateRule.objects.get(line_of_business=LineOfBusiness.MEDICAID)
    response = signed_in_manager(manager).post(
        f"/admin/casemgmt/duplicaterule/{rule.pk}/change/",
        {"window_days": "14", "action": DuplicateAction.REFUSE, "line_of_business": LineOfBusiness.COMMERCIAL},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.line_of_business, rule.window_days, rule.action) == (
        LineOfBusiness.MEDICAID,
        14,
        DuplicateAction.REFUSE,
    )


def test_a_manager_neither_adds_nor_deletes_a_rule(manager):
    """Issue 17 section 3: one rule per line of business, seeded; managers change them."""
    browser = signed_in_manager(manager)
    rule = DuplicateRule.objects.get(line_of_business=LineOfBusiness.COMMERCIAL)
    assert browser.get("/admin/casemgmt/duplicaterule/add/").status_code == 403
    assert browser.post(f"/admin/casemgmt/duplicaterule/{rule.pk}/delete/", {"post": "yes"}).status_code == 403
    assert DuplicateRule.objects.filter(pk=rule.pk).exists()

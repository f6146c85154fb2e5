"""The case page after the decision: appeals by phone or mail, reopening, deciding an appeal,
authorizations and citations per line, the IRE forward; and the queue's appeal badge."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import User

from casemgmt.cases.models import Authorization, Case, CaseStatus, LineOutcome
from casemgmt.kernel.roles import Role
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories
from tests.casemgmt.cases.test_appeals import (
    decide_appeal,
    decided_case,
    every_line_of_business_policy,
    file_appeal,
    move_time,
)
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db

REASON = "The member called: six months of physical therapy failed."


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return every_line_of_business_policy(editor)


@pytest.fixture
def second_physician(db: None) -> User:
    return factories.user("pat.second", Role.PHYSICIAN)


def visible_text(response) -> str:
    """What a person reads on the page: the text outside tags, attributes (option values, classes) left out."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def decision_form_options(page: str) -> set[str]:
    """The outcomes the decision form offers: each line's menu sits in its panel, in the form by id."""
    menus = re.findall(r'<select name="outcome_\d+"[^>]*form="decision-form"[^>]*>(.*?)</select>', page, re.S)
    assert menus
    return {value for menu in menus for value in re.findall(r'<option value="(\w+)"', menu)}


def appeal_post(**overrides) -> dict:
    data = {"lines": ["1"], "reason": REASON, "urgency": "standard", "requested_by": "member"}
    data.update(overrides)
    return data


# --- recording an appeal ----------------------------------------------------------------------


def test_a_reviewer_records_an_appeal_received_by_phone(integration_client, physician, nurse, version):
    """Issue 16, section 2: reviewers open an appeal from the case page (received by phone or mail)."""
    case, _ = decided_case(integration_client, physician, version)
    response = signed_in(nurse).post(f"/cases/{case.case_number}/appeal", appeal_post())
    appeal = Case.objects.get(appeal_of=case)
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{appeal.case_number}/"
    assert (appeal.appeal_requested_by, appeal.appeal_reason) == ("member", REASON)


def test_the_appeal_form_offers_only_the_adverse_lines(integration_client, physician, nurse, version):
    """42 CFR 422.566(b); 29 CFR 2560.503-1(h)(1): only an adverse determination is appealed."""
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.APPROVED, LineOutcome.DENIED))
    page = signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode()
    assert 'name="lines" value="2"' in page
    assert 'name="lines" value="1"' not in page


def test_a_fully_approved_case_offers_no_appeal(integration_client, physician, nurse, version):
    """42 CFR 422.566(b): nothing adverse, nothing to appeal."""
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.APPROVED,))
    page = signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode()
    assert 'id="appeal"' not in page


def test_only_a_manager_sees_the_late_filing_field(integration_client, physician, nurse, manager, version):
    """42 CFR 422.582(c): good cause for a late filing; here a manager accepts it (issue 16, section 2)."""
    case, _ = decided_case(integration_client, physician, version)
    assert "late_filing_reason" in signed_in(manager).get(f"/cases/{case.case_number}/").content.decode()
    assert "late_filing_reason" not in signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode()


def test_a_late_appeal_is_refused_on_the_page_with_the_window_and_the_dates(
    integration_client, physician, nurse, version, monkeypatch
):
    """42 CFR 422.582(b): 65 days from the notice; the refusal says the window and the dates."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    move_time(monkeypatch, days=70)
    browser = signed_in(nurse)
    response = browser.post(f"/cases/{case.case_number}/appeal", appeal_post(), follow=True)
    text = visible_text(response)
    assert "Appeal not recorded" in text
    assert "65 days" in text and "window closed on" in text
    assert not Case.objects.filter(appeal_of=case).exists()


def test_a_manager_accepts_a_late_appeal_on_the_page(integration_client, physician, manager, version, monkeypatch):
    """42 CFR 422.582(c): a late filing accepted for good cause, the reason recorded."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    move_time(monkeypatch, days=70)
    signed_in(manager).post(
        f"/cases/{case.case_number}/appeal", appeal_post(late_filing_reason="The member was in hospital.")
    )
    appeal = Case.objects.get(appeal_of=case)
    assert (appeal.late_filing_reason, appeal.late_filing_accepted_by) == ("The member was in hospital.", manager)


def test_someone_without_a_reviewer_role_may_not_record_an_appeal(integration_client, physician, editor, version):
    """Issue 16, section 2: reviewers record appeals on the page; the requester uses the API."""
    case, _ = decided_case(integration_client, physician, version)
    assert signed_in(editor).post(f"/cases/{case.case_number}/appeal", appeal_post()).status_code == 403


# --- the appeal case --------------------------------------------------------------------------


def test_an_appeal_and_its_original_link_to_each_other(integration_client, physician, nurse, version):
    """Issue 16, section 2: an appeal names the case it appeals (`appeal_of`)."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client, urgency="expedited")
    browser = signed_in(nurse)
    original_page = browser.get(f"/cases/{case.case_number}/").content.decode()
    appeal_page = browser.get(f"/cases/{appeal.case_number}/").content.decode()
    assert f'href="/cases/{appeal.case_number}/"' in original_page
    assert f'href="/cases/{case.case_number}/"' in appeal_page
    assert "Appeal (reconsideration)" in appeal_page


def test_the_decide_form_offers_the_appeal_outcomes_on_an_appeal(
    integration_client, physician, second_physician, version
):
    """29 CFR 2560.503-1(j); 42 CFR 422.590: an appealed line is overturned, partially overturned or upheld."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    page = signed_in(second_physician).get(f"/cases/{appeal.case_number}/").content.decode()
    options = decision_form_options(page)
    assert {"overturned", "partially_overturned", "upheld"} <= options
    assert not options & {"approved", "denied", "partially_approved", "modified"}
    assert "required when partially overturned" in page


def test_the_decide_form_offers_the_initial_outcomes_elsewhere(integration_client, physician):
    """Issue 16, section 2: appeal outcomes belong to appeals only."""
    case = factories.case(integration_client)
    page = signed_in(physician).get(f"/cases/{case.case_number}/").content.decode()
    options = decision_form_options(page)
    assert {"approved", "denied", "partially_approved"} <= options
    assert not options & {"overturned", "upheld"}


@pytest.mark.parametrize("part", ["decider", "peer_to_peer"])
def test_a_physician_who_took_part_is_told_before_deciding_the_appeal(
    integration_client, physician, second_physician, version, part
):
    """42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii): the decider and the peer-to-peer physician may not decide."""
    from django.utils import timezone

    from casemgmt.cases.services.notes import PeerToPeerOutcome, case_peer_to_peer_record

    case, _ = decided_case(integration_client, physician, version)
    who = physician
    if part == "peer_to_peer":
        case_peer_to_peer_record(
            case_id=case.pk,
            user=second_physician,
            requesting_physician="Dr. Requesting",
            held_at=timezone.now(),
            summary="Discussed the imaging.",
            outcome=PeerToPeerOutcome.UPHELD,
        )
        who = second_physician
    appeal = file_appeal(case, integration_client)
    text = visible_text(signed_in(who).get(f"/cases/{appeal.case_number}/"))
    assert "you may not decide this appeal" in text


def test_a_physician_who_took_no_part_is_not_warned(integration_client, physician, second_physician, version):
    """42 CFR 422.590(h)(2): any other physician reviewer may decide."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    text = visible_text(signed_in(second_physician).get(f"/cases/{appeal.case_number}/"))
    assert "you may not decide this appeal" not in text


def test_the_excluded_physician_posting_anyway_gets_403(integration_client, physician, version):
    """42 CFR 422.590(h)(2): the service refuses whatever the page offered."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    response = signed_in(physician).post(
        f"/cases/{appeal.case_number}/decide",
        {"outcome_1": "overturned", "row_version": appeal.row_version},
    )
    assert response.status_code == 403
    assert not appeal.decisions.exists()


def test_a_physician_decides_an_appeal_on_the_page(integration_client, physician, second_physician, version):
    """42 CFR 422.590(a); issue 16, section 2: an overturn on the page issues the authorization."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    signed_in(second_physician).post(
        f"/cases/{appeal.case_number}/decide",
        {"outcome_1": "overturned", "row_version": appeal.row_version},
    )
    appeal.refresh_from_db()
    assert appeal.status == CaseStatus.DECIDED
    assert Authorization.objects.filter(case=appeal).exists()


# --- authorizations, citations, the IRE ----------------------------------------------------------


def test_each_line_shows_its_authorization(integration_client, physician, nurse, version):
    """Issue 16, section 1: number, units, valid from-to and status of each line's authorization."""
    case, decision = decided_case(integration_client, physician, version, outcomes=(LineOutcome.PARTIALLY_APPROVED,))
    authorization = Authorization.objects.get(decision=decision)
    text = visible_text(signed_in(nurse).get(f"/cases/{case.case_number}/"))
    assert authorization.authorization_number in text
    assert f"{authorization.valid_from.isoformat()} to {authorization.valid_to.isoformat()}" in text
    assert "Active" in text


def test_each_decision_line_shows_its_own_citations(integration_client, physician, nurse, version):
    """Issue 16, section 4: citations belong to decision lines."""
    case, _ = decided_case(integration_client, physician, version)
    page = signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode()
    assert page.count('class="citation line-citation"') == 1
    assert "AP.01" in page


def test_a_forwarded_appeal_shows_the_ire_the_date_and_the_case_file(
    integration_client, physician, second_physician, nurse, version
):
    """42 CFR 422.592(a); 422.590(a)(2): the case goes to the IRE with its file."""
    case, _ = decided_case(integration_client, physician, version, line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE)
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, second_physician, version, LineOutcome.UPHELD)
    text = visible_text(signed_in(nurse).get(f"/cases/{appeal.case_number}/"))
    assert "Forwarded to the Independent Review Entity" in text
    assert "Case file sent" in text
    assert f"Request {case.case_number} as received" in text
    assert "due at the IRE by" in text


def test_the_page_shows_labels_never_raw_codes(integration_client, physician, second_physician, nurse, version):
    """Issue 16, preamble and section 4: people see labels, never internal codes."""
    case, _ = decided_case(
        integration_client,
        physician,
        version,
        outcomes=(LineOutcome.PARTIALLY_APPROVED,),
        line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE,
    )
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, second_physician, version, LineOutcome.PARTIALLY_OVERTURNED, approved_units=3)
    browser = signed_in(nurse)
    for number in (case.case_number, appeal.case_number):
        text = visible_text(browser.get(f"/cases/{number}/"))
        for code in ("medicare_advantage", "partially_overturned", "partially_approved", "forwarded_to_ire"):
            assert code not in text, (number, code)


# --- reopening -------------------------------------------------------------------------------------


def test_physicians_and_managers_see_the_reopen_form_nurses_do_not(
    integration_client, physician, manager, nurse, version
):
    """Issue 16, section 3: a physician or manager reopens."""
    case, _ = decided_case(integration_client, physician, version)
    for user, shown in ((physician, True), (manager, True), (nurse, False)):
        page = signed_in(user).get(f"/cases/{case.case_number}/").content.decode()
        assert ('id="reopen"' in page) == shown, user


def test_a_physician_reopens_on_the_page(integration_client, physician, version):
    """42 CFR 422.616(a): the case returns to review with the reason recorded."""
    case, _ = decided_case(integration_client, physician, version)
    response = signed_in(physician).post(
        f"/cases/{case.case_number}/reopen",
        {"reason": "Clerical error in the units.", "row_version": case.row_version},
        follow=True,
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW
    assert "back in review" in visible_text(response)
    assert "for any reason: Clerical error in the units." in visible_text(response)


def test_a_nurse_may_not_reopen(integration_client, physician, nurse, version):
    """Issue 16, section 3: reopening is a physician's or a manager's act."""
    case, _ = decided_case(integration_client, physician, version)
    response = signed_in(nurse).post(f"/cases/{case.case_number}/reopen", {"reason": "x", "row_version": 1})
    assert response.status_code == 403


def test_a_reopening_past_the_limit_says_the_dates(integration_client, physician, version, monkeypatch):
    """42 CFR 422.616(b): one year for any reason; the refusal says the dates."""
    case, _ = decided_case(integration_client, physician, version)
    move_time(monkeypatch, days=400)
    response = signed_in(physician).post(
        f"/cases/{case.case_number}/reopen",
        {"reason": "Clerical error in the units.", "row_version": case.row_version},
        follow=True,
    )
    assert "Not reopened" in visible_text(response)
    assert "the limit passed on" in visible_text(response)


# --- the queue -------------------------------------------------------------------------------------


def test_the_queue_marks_appeals_with_a_badge(integration_client, physician, nurse, version):
    """Issue 16, section 2: an appeal is in the queue with its own badge."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client, urgency="expedited")
    page = signed_in(nurse).get("/queue/").content.decode()
    row = page[page.index(f'id="case-{appeal.case_number}"') :]
    assert "Appeal, expedited" in row[: row.index("</tr>")]


def test_the_queue_filters_by_review_type(integration_client, physician, nurse, version):
    """Issue 16, section 2: appeals can be worked as their own queue."""
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    other = factories.case(integration_client)
    page = signed_in(nurse).get("/queue/?review=appeal").content.decode()
    assert appeal.case_number in page
    assert other.case_number not in page

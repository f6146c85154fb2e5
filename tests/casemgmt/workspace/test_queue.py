"""The work queue page (issue 5): ordering, filters, search, pages, risk, query count, claim, reassign."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, Flag
from casemgmt.cases.services.assignment import case_claim, case_reassign
from casemgmt.cases.services.intake import LineInput, MemberInput
from casemgmt.kernel.errors import ConflictError, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.roles import Role
from casemgmt.workspace.queue import PAGE_SIZE
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db

UNFLAGGED_LINE = (LineInput(code_system="CPT", code="99213", units=1, date_of_service=timezone.localdate()),)


def make(client, *, due_in_hours: float | None = None, status: str | None = None, **overrides) -> Case:
    """A case through the intake service, then moved in time or status directly for the test."""
    overrides.setdefault("service_lines", UNFLAGGED_LINE)
    case = factories.case(client, **overrides)
    changes: dict = {}
    if due_in_hours is not None:
        now = timezone.now()
        changes.update(received_at=now - timedelta(days=40), due_at=now + timedelta(hours=due_in_hours))
    if status is not None:
        changes["status"] = status
    if changes:
        Case.objects.filter(pk=case.pk).update(**changes)
        case.refresh_from_db()
    return case


def flag(case: Case, kind: str, severity: str) -> Flag:
    return Flag.objects.create(
        case=case,
        service_line=case.lines.get(),
        kind=kind,
        severity=severity,
        message=f"{kind} test flag",
        created_at=timezone.now(),
    )


def listed(html: str) -> list[str]:
    """Case numbers in the order the table shows them."""
    return re.findall(r'<tr id="case-(PA-[0-9A-Z]+)"', html)


def page(user, query: str = "", **headers) -> str:
    response = signed_in(user).get("/queue/" + query, **headers)
    assert response.status_code == 200
    return response.content.decode()


# --- the page -------------------------------------------------------------------------------


def test_queue_lists_open_cases_by_due_time(integration_client, nurse):
    later = factories.case(integration_client, urgency="standard")
    sooner = factories.case(integration_client, urgency="expedited")
    html = signed_in(nurse).get("/queue/").content.decode()
    assert html.index(sooner.case_number) < html.index(later.case_number)


def test_queue_hides_decided_cases(integration_client, physician, investigational):
    case = factories.case(integration_client)
    signed_in(physician).post(
        f"/cases/{case.case_number}/decide",
        {
            "outcome_1": "denied",
            "reason_1": "Investigational.",
            "citation_versions": [investigational.pk],
            "row_version": case.row_version,
        },
    )
    assert case.case_number not in signed_in(physician).get("/queue/").content.decode()


def test_open_cases_are_ordered_by_due_time(integration_client, nurse):
    later = make(integration_client, due_in_hours=100)
    overdue = make(integration_client, due_in_hours=-5)
    soon = make(integration_client, due_in_hours=3)
    closed = make(integration_client, due_in_hours=-50, status=CaseStatus.DECIDED)
    shown = listed(page(nurse))
    assert shown == [overdue.case_number, soon.case_number, later.case_number]
    assert closed.case_number not in shown


def test_countdown_is_coloured_by_risk_on_the_server(integration_client, nurse):
    overdue = make(integration_client, due_in_hours=-5)
    soon = make(integration_client, due_in_hours=3)
    later = make(integration_client, due_in_hours=100)
    html = page(nurse)
    for case, risk in ((overdue, "overdue"), (soon, "soon"), (later, "later")):
        row = re.search(rf'<tr id="case-{case.case_number}" class="risk-{risk}">(.*?)</tr>', html, re.S)
        assert row, f"{case.case_number} should be a {risk} row"
        assert f'class="countdown {risk}"' in row.group(1)
        assert f'data-risk="{risk}"' in row.group(1)
    assert "overdue by 5 h" in html
    assert "2 h 59 min left" in html or "3 h 0 min left" in html


def test_row_shows_urgency_line_of_business_and_the_worst_flag(integration_client, nurse):
    case = make(integration_client, urgency="expedited", line_of_business="medicaid")
    flag(case, "term_match", "info")
    flag(case, "investigational", "critical")
    flag(case, "criteria_incomplete", "warning")
    html = page(nurse)
    row = re.search(rf'<tr id="case-{case.case_number}".*?</tr>', html, re.S).group(0)
    assert "Expedited (urgent)" in row
    assert "Medicaid" in row
    assert 'class="flag critical" data-kind="investigational"' in row
    assert "criteria_incomplete" not in row and "term_match" not in row


def test_superseded_flags_do_not_count(integration_client, nurse):
    case = make(integration_client)
    old = flag(case, "investigational", "critical")
    Flag.objects.filter(pk=old.pk).update(superseded_at=timezone.now())
    flag(case, "criteria_met", "info")
    row = re.search(rf'<tr id="case-{case.case_number}".*?</tr>', page(nurse), re.S).group(0)
    assert 'data-kind="criteria_met"' in row
    assert "investigational" not in row


# --- filters and search ---------------------------------------------------------------------


def test_filter_by_status(integration_client, nurse):
    pended = make(integration_client, status=CaseStatus.PENDED)
    received = make(integration_client)
    assert listed(page(nurse, "?status=pended")) == [pended.case_number]
    assert listed(page(nurse, "?status=received")) == [received.case_number]


def test_filter_by_urgency(integration_client, nurse):
    urgent = make(integration_client, urgency="expedited")
    make(integration_client, urgency="standard")
    assert listed(page(nurse, "?urgency=expedited")) == [urgent.case_number]


def test_filter_by_line_of_business(integration_client, nurse):
    medicaid = make(integration_client, line_of_business="medicaid")
    make(integration_client, line_of_business="commercial")
    assert listed(page(nurse, "?lob=medicaid")) == [medicaid.case_number]


def test_filter_by_flag_kind_matches_any_current_flag(integration_client, nurse):
    both = make(integration_client)
    flag(both, "investigational", "critical")
    flag(both, "criteria_incomplete", "warning")
    other = make(integration_client)
    flag(other, "criteria_met", "info")
    make(integration_client)  # no flags at all
    assert listed(page(nurse, "?flag=criteria_incomplete")) == [both.case_number]
    assert listed(page(nurse, "?flag=criteria_met")) == [other.case_number]


def test_filter_mine_and_unassigned(integration_client, nurse, physician):
    mine = make(integration_client)
    theirs = make(integration_client)
    free = make(integration_client)
    case_claim(case_id=mine.pk, user=nurse)
    case_claim(case_id=theirs.pk, user=physician)
    assert listed(page(nurse, "?assigned=mine")) == [mine.case_number]
    assert listed(page(nurse, "?assigned=unassigned")) == [free.case_number]
    assert set(listed(page(nurse))) == {mine.case_number, theirs.case_number, free.case_number}


def test_unknown_filter_values_are_ignored(integration_client, nurse):
    case = make(integration_client)
    assert listed(page(nurse, "?status=decided&urgency=bogus&page=abc")) == [case.case_number]


def search(browser: Client, term: str, **filters) -> str:
    """The filter form POSTed as a browser without JavaScript does, following the redirect."""
    response = browser.post("/queue/", {"q": term, **filters}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_search_by_case_number_or_exact_member_id(integration_client, nurse):
    ada = make(integration_client, member=MemberInput("M-100", "Ada", "One", date(1960, 1, 1)))
    bob = make(integration_client, member=MemberInput("M-1000", "Bob", "Two", date(1961, 1, 1)))
    browser = signed_in(nurse)
    assert listed(search(browser, bob.case_number.lower())) == [bob.case_number]
    assert listed(search(browser, "M-100")) == [ada.case_number]  # exact: M-1000 is someone else
    assert listed(search(browser, "M-10")) == []


def test_search_is_posted_and_never_put_in_a_url(integration_client, nurse):
    ada = make(integration_client, urgency="expedited", member=MemberInput("M-100", "Ada", "One", date(1960, 1, 1)))
    make(integration_client, urgency="expedited")
    browser = signed_in(nurse)
    response = browser.post("/queue/", {"q": "M-100", "urgency": "expedited"})
    # Post/redirect/get to the address with the filters that say nothing about a member.
    assert response.status_code == 302
    assert response["Location"] == "/queue/?urgency=expedited"
    html = browser.get(response["Location"]).content.decode()
    assert listed(html) == [ada.case_number]
    for url in re.findall(r'(?:href|hx-get|hx-post|action)="([^"]*)"', html):
        assert "M-100" not in url and "q=" not in url


def test_htmx_search_pushes_an_address_without_the_term(integration_client, nurse):
    ada = make(integration_client, member=MemberInput("M-100", "Ada", "One", date(1960, 1, 1)))
    make(integration_client)
    response = signed_in(nurse).post("/queue/", {"q": "M-100", "status": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert listed(response.content.decode()) == [ada.case_number]
    assert response["HX-Push-Url"] == "/queue/"


def test_search_is_kept_in_the_session_for_paging_and_filters(integration_client, nurse):
    ada = make(integration_client, urgency="expedited", member=MemberInput("M-100", "Ada", "One", date(1960, 1, 1)))
    make(integration_client, urgency="expedited")
    browser = signed_in(nurse)
    search(browser, "M-100")
    assert listed(page_of(browser, "?urgency=expedited")) == [ada.case_number]
    assert listed(page_of(browser, "?page=1")) == [ada.case_number]
    html = page_of(browser)
    assert 'name="q" value="M-100"' in html  # the box shows the search in force


def test_clear_forgets_the_search(integration_client, nurse):
    make(integration_client, member=MemberInput("M-100", "Ada", "One", date(1960, 1, 1)))
    make(integration_client)
    browser = signed_in(nurse)
    search(browser, "M-100")
    response = browser.post("/queue/", {"clear": "1"}, follow=True)
    assert len(listed(response.content.decode())) == 2


def test_a_search_term_in_the_query_string_is_ignored(integration_client, nurse):
    make(integration_client, member=MemberInput("M-100", "Ada", "One", date(1960, 1, 1)))
    make(integration_client)
    assert len(listed(page(nurse, "?q=M-100"))) == 2


def page_of(browser: Client, query: str = "") -> str:
    response = browser.get("/queue/" + query)
    assert response.status_code == 200
    return response.content.decode()


def test_pagination_fifty_per_page(integration_client, nurse):
    cases = [make(integration_client, due_in_hours=10 + i) for i in range(PAGE_SIZE + 1)]
    first = page(nurse)
    assert listed(first) == [c.case_number for c in cases[:PAGE_SIZE]]
    assert "page 1 of 2" in first
    assert 'href="?page=2"' in first
    second = page(nurse, "?page=2")
    assert listed(second) == [cases[-1].case_number]


def test_pagination_keeps_filters(integration_client, nurse):
    for i in range(PAGE_SIZE + 1):
        make(integration_client, due_in_hours=10 + i, urgency="expedited")
    html = page(nurse, "?urgency=expedited")
    assert 'href="?urgency=expedited&amp;page=2"' in html


def test_htmx_filter_returns_only_the_table(integration_client, nurse):
    urgent = make(integration_client, urgency="expedited")
    make(integration_client)
    response = signed_in(nurse).get("/queue/?urgency=expedited", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and '<form method="get"' not in html
    assert listed(html) == [urgent.case_number]
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_whole_page(integration_client, nurse):
    make(integration_client)
    html = page(nurse, "?urgency=standard", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in html


def test_page_works_without_javascript_and_loads_htmx_from_our_origin(integration_client, nurse):
    make(integration_client)
    html = page(nurse)
    assert '<form method="post" action="/queue/"' in html
    assert 'hx-post="/queue/"' in html
    assert '<script src="/static/js/htmx.min.js"' in html
    # No inline script anywhere (a Content Security Policy is coming), no CDN.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "https://" not in html


def test_filter_form_requests_on_submit_and_on_a_menu_change_only(integration_client, nurse):
    # A bare "change" also fires when Enter commits the search box: two requests, two audit rows.
    # The behaviour itself is proved in a browser (tests/browser/test_queue_filters.py).
    make(integration_client)
    form = re.search(r'<form[^>]*class="queue-filters"[^>]*>', page(nurse))
    assert form is not None
    assert 'hx-trigger="submit, change target:select"' in form.group(0)


# --- query count ----------------------------------------------------------------------------


def _queue_queries(user) -> int:
    browser = signed_in(user)
    with CaptureQueriesContext(connection) as queries:
        assert browser.get("/queue/").status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", [Role.NURSE, Role.MANAGER])
def test_query_count_does_not_grow_with_cases(integration_client, nurse, physician, role):
    user = factories.user("counting." + role.value, role)

    def add(n: int) -> None:
        for i in range(n):
            case = make(integration_client, due_in_hours=5 + i)
            flag(case, "investigational", "critical")
            flag(case, "criteria_met", "info")
            if i % 2:
                case_claim(case_id=case.pk, user=nurse if i % 4 == 1 else physician)

    add(5)
    few = _queue_queries(user)
    add(45)
    many = _queue_queries(user)
    assert few == many
    assert many <= 12


# --- claim ----------------------------------------------------------------------------------


def test_nurse_claims_a_case(integration_client, nurse):
    case = make(integration_client)
    response = signed_in(nurse).post(f"/cases/{case.case_number}/claim", {"next": "/queue/?urgency=standard"})
    assert response.status_code == 302
    assert response["Location"] == "/queue/?urgency=standard"
    case.refresh_from_db()
    assert case.assignee == nurse
    assert case.status == CaseStatus.IN_REVIEW
    event = CaseEvent.objects.get(case=case, kind=CaseEventKind.CLAIMED)
    assert event.actor == nurse
    assert event.detail["previous_status"] == "received"


def test_claim_keeps_a_pended_case_pended(integration_client, physician):
    case = make(integration_client, status=CaseStatus.PENDED)
    case_claim(case_id=case.pk, user=physician)
    case.refresh_from_db()
    assert (case.assignee, case.status) == (physician, CaseStatus.PENDED)


def test_second_claim_is_refused_naming_the_owner(integration_client, nurse):
    case = make(integration_client)
    nurse.first_name, nurse.last_name = "Nina", "Nurse"
    nurse.save()
    other = factories.user("otto.nurse", Role.NURSE)
    signed_in(nurse).post(f"/cases/{case.case_number}/claim")
    response = signed_in(other).post(f"/cases/{case.case_number}/claim", follow=True)
    html = response.content.decode()
    assert f"Not claimed: {case.case_number} is already claimed by Nina Nurse." in html
    case.refresh_from_db()
    assert case.assignee == nurse
    assert CaseEvent.objects.filter(case=case, kind=CaseEventKind.CLAIMED).count() == 1
    with pytest.raises(ConflictError, match="already claimed by Nina Nurse"):
        case_claim(case_id=case.pk, user=other)


def test_claim_with_htmx_swaps_the_row(integration_client, nurse):
    case = make(integration_client)
    other = factories.user("otto.nurse", Role.NURSE)
    response = signed_in(nurse).post(f"/cases/{case.case_number}/claim", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith(f'<tr id="case-{case.case_number}"')
    assert "nina.nurse" in html and "Claimed." in html
    assert "/claim" not in html  # no claim button on a claimed case
    refused = signed_in(other).post(f"/cases/{case.case_number}/claim", HTTP_HX_REQUEST="true").content.decode()
    assert 'role="alert"' in refused and "already claimed by nina.nurse" in refused


def test_claim_button_is_shown_only_to_reviewers_who_may_claim(integration_client, nurse, manager):
    case = make(integration_client)
    claim_url = f'action="/cases/{case.case_number}/claim"'
    assert claim_url in page(nurse)
    assert claim_url not in page(manager)


def test_manager_may_not_claim(integration_client, manager):
    case = make(integration_client)
    assert signed_in(manager).post(f"/cases/{case.case_number}/claim").status_code == 403
    with pytest.raises(PermissionDeniedError):
        case_claim(case_id=case.pk, user=manager)


def test_claim_of_a_decided_case_is_refused(integration_client, nurse):
    case = make(integration_client, status=CaseStatus.DECIDED)
    html = signed_in(nurse).post(f"/cases/{case.case_number}/claim", follow=True).content.decode()
    assert "can no longer be claimed" in html
    case.refresh_from_db()
    assert case.assignee is None


# --- reassign -------------------------------------------------------------------------------


def test_manager_reassigns(integration_client, nurse, physician, manager):
    case = make(integration_client)
    case_claim(case_id=case.pk, user=nurse)
    case.refresh_from_db()
    response = signed_in(manager).post(
        f"/cases/{case.case_number}/reassign", {"assignee_id": physician.pk, "row_version": case.row_version}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assignee == physician
    event = CaseEvent.objects.filter(case=case, kind=CaseEventKind.CLAIMED).latest("id")
    assert event.actor == manager
    assert event.detail["previous_assignee_id"] == nurse.pk


def test_manager_sees_the_reassign_menu_nurse_does_not(integration_client, nurse, physician, manager):
    case = make(integration_client)
    url = f'action="/cases/{case.case_number}/reassign"'
    manager_page = page(manager)
    assert url in manager_page
    assert f'<option value="{physician.pk}">' in manager_page
    assert f'<option value="{manager.pk}">' not in manager_page  # managers are not reviewers
    assert url not in page(nurse)


def test_manager_assigns_an_unassigned_case_into_review(integration_client, nurse, manager):
    case = make(integration_client)
    case_reassign(case_id=case.pk, user=manager, assignee_id=nurse.pk)
    case.refresh_from_db()
    assert (case.assignee, case.status) == (nurse, CaseStatus.IN_REVIEW)


def test_reassign_only_to_a_nurse_or_physician(integration_client, manager, editor):
    case = make(integration_client)
    with pytest.raises(ValidationFailed):
        case_reassign(case_id=case.pk, user=manager, assignee_id=editor.pk)
    html = (
        signed_in(manager)
        .post(f"/cases/{case.case_number}/reassign", {"assignee_id": integration_client.pk}, follow=True)
        .content.decode()
    )
    assert "Not reassigned: choose an active nurse or physician reviewer" in html
    case.refresh_from_db()
    assert case.assignee is None


def test_stale_reassign_is_refused(integration_client, nurse, physician, manager):
    case = make(integration_client)
    seen = case.row_version
    case_claim(case_id=case.pk, user=nurse)
    html = (
        signed_in(manager)
        .post(f"/cases/{case.case_number}/reassign", {"assignee_id": physician.pk, "row_version": seen}, follow=True)
        .content.decode()
    )
    assert "changed since you opened it" in html
    case.refresh_from_db()
    assert case.assignee == nurse


def test_nurse_cannot_reassign(integration_client, nurse, physician):
    case = make(integration_client)
    response = signed_in(nurse).post(f"/cases/{case.case_number}/reassign", {"assignee_id": physician.pk})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.assignee is None
    with pytest.raises(PermissionDeniedError):
        case_reassign(case_id=case.pk, user=nurse, assignee_id=physician.pk)


# --- who may use it -------------------------------------------------------------------------


def test_integration_client_and_outsider_are_refused(integration_client, other_client, outsider, physician):
    case = make(integration_client)
    for user in (integration_client, other_client, outsider):
        browser = signed_in(user)
        assert browser.get("/queue/").status_code == 403
        assert browser.get("/queue/", HTTP_HX_REQUEST="true").status_code == 403
        assert browser.post(f"/cases/{case.case_number}/claim").status_code == 403
        assert browser.post(f"/cases/{case.case_number}/reassign", {"assignee_id": physician.pk}).status_code == 403
    case.refresh_from_db()
    assert case.assignee is None


def test_actions_need_sign_in_and_post(integration_client, nurse):
    case = make(integration_client)
    response = Client().post(f"/cases/{case.case_number}/claim")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert signed_in(nurse).get(f"/cases/{case.case_number}/claim").status_code == 405


def test_claim_of_unknown_case_is_404(nurse):
    assert signed_in(nurse).post("/cases/PA-NOPE/claim").status_code == 404


def test_queue_requires_sign_in(db):
    response = Client().get("/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_queue_is_forbidden_to_integration_clients_and_outsiders(integration_client, outsider):
    assert signed_in(integration_client).get("/queue/").status_code == 403
    assert signed_in(outsider).get("/queue/").status_code == 403


def test_login_page_signs_in_and_lands_on_queue(nurse):
    browser = Client()
    response = browser.post("/login/", {"username": "nina.nurse", "password": factories.PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/queue/"

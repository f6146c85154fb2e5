"""The queue as a work list (issue 19): its columns in people's words, server-side sorting,
saved filters per user, "next case" and the table's self-refresh."""

from __future__ import annotations

import re
from datetime import date

import pytest

from casemgmt.cases.models import Case, CaseEventKind, CaseStatus, SavedQueueFilter
from casemgmt.cases.services.assignment import case_claim
from casemgmt.cases.services.intake import LineInput, MemberInput, ProviderInput
from casemgmt.cases.services.queue_filters import saved_queue_filter_save
from casemgmt.kernel.roles import Role
from tests import factories
from tests.casemgmt.cases.test_appeals import decided_case, every_line_of_business_policy, file_appeal
from tests.casemgmt.workspace.conftest import signed_in
from tests.casemgmt.workspace.test_queue import UNFLAGGED_LINE, listed, make, page

pytestmark = pytest.mark.django_db


def row_of(html: str, case: Case) -> str:
    found = re.search(rf'<tr id="case-{case.case_number}".*?</tr>', html, re.S)
    assert found, f"{case.case_number} is not listed"
    return found.group(0)


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


# --- columns ------------------------------------------------------------------------------------


def test_row_shows_member_service_provider_received_and_type(integration_client, nurse, editor):
    factories.publish(factories.draft_version(), editor)
    case = make(
        integration_client,
        member=MemberInput("M-4242", "Ada", "Lovelace", date(1960, 1, 1)),
        requesting_provider=ProviderInput(npi=factories.VALID_NPI, name="Harbor Spine Clinic"),
        service_lines=(
            LineInput(
                code_system="CPT",
                code="99213",
                units=1,
                date_of_service=date.today(),
                description="Office visit, established",
            ),
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=date.today()),
        ),
    )
    row = text_of(row_of(page(nurse), case))
    assert "Lovelace, Ada" in row and "M-4242" in row
    assert "99213 Office visit, established" in row and "+1 more line" in row
    assert "Harbor Spine Clinic" in row and factories.VALID_NPI in row
    assert "Prospective" in row
    assert case.received_at.astimezone().strftime("%Y-%m-%d") in row


def test_service_without_a_description_takes_the_policy_librarys(integration_client, nurse, editor):
    version = factories.draft_version()
    version.codes.filter(code="62330").update(description="Lumbar epidural injection")
    factories.publish(version, editor)
    case = make(
        integration_client,
        service_lines=(LineInput(code_system="CPT", code="62330", units=1, date_of_service=date.today()),),
    )
    assert "62330 Lumbar epidural injection" in text_of(row_of(page(nurse), case))


def test_diagnosis_shows_its_icd10_description(integration_client, nurse):
    case = make(integration_client, diagnosis_codes=("M48.062",))
    row = row_of(page(nurse), case)
    # The cell shows the start; the whole description is its title.
    assert 'title="M48.062 Spinal stenosis, lumbar region with neurogenic claudication"' in row
    assert "Diagnosis M48.062 Spinal stenosis, lumbar region" in text_of(row)


def test_every_column_has_a_header_with_its_label(integration_client, nurse):
    make(integration_client)
    head = re.search(r"<thead>.*?</thead>", page(nurse), re.S).group(0)
    for label in (
        "Case",
        "Member",
        "Service",
        "Requesting provider",
        "Received",
        "Type",
        "Due",
        "Status",
        "Flags",
        "Assignee",
    ):
        assert f">{label}<" in head, label


def test_type_badge_names_each_review_type(integration_client, nurse, physician, editor):
    version = every_line_of_business_policy(editor)
    retro = make(
        integration_client,
        review_type="retrospective",
        service_lines=(LineInput(code_system="CPT", code="99213", units=1, date_of_service=date.today()),),
    )
    original, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(original, integration_client)
    html = page(nurse)
    assert re.search(r'class="badge retrospective"[^>]*>Retrospective<', row_of(html, retro))
    assert re.search(r'class="badge appeal" title="Appeal \(reconsideration\), Standard">Appeal<', row_of(html, appeal))


def test_countdown_says_its_risk_in_words_not_colour_alone(integration_client, nurse):
    case = make(integration_client, due_in_hours=-3)
    row = row_of(page(nurse), case)
    assert 'class="countdown overdue"' in row and "overdue by" in text_of(row)


def test_no_raw_codes_in_the_rows(integration_client, nurse, physician):
    case = make(integration_client, line_of_business="medicare_advantage", status=CaseStatus.PHYSICIAN_REVIEW)
    case_claim(case_id=case.pk, user=physician)
    words = text_of(row_of(page(nurse), case))
    for raw in ("medicare_advantage", "physician_review", "prospective", "standard", "CPT 99213"):
        assert raw not in words, raw
    assert "Medicare Advantage" in words and "Physician review" in words


def test_case_numbers_do_not_wrap(integration_client, nurse):
    case = make(integration_client)
    assert '<td class="case-number">' in row_of(page(nurse), case)


# --- sorting ------------------------------------------------------------------------------------


def test_sort_by_member_name_and_back(integration_client, nurse):
    zed = make(integration_client, member=MemberInput("M-1", "Zoe", "Zed", date(1960, 1, 1)), due_in_hours=1)
    abe = make(integration_client, member=MemberInput("M-2", "Abe", "Able", date(1960, 1, 1)), due_in_hours=50)
    assert listed(page(nurse, "?sort=member")) == [abe.case_number, zed.case_number]
    assert listed(page(nurse, "?sort=-member")) == [zed.case_number, abe.case_number]


def test_sort_by_received_newest_first(integration_client, nurse):
    first = make(integration_client)
    second = make(integration_client)
    Case.objects.filter(pk=first.pk).update(received_at=first.received_at.replace(year=first.received_at.year - 1))
    assert listed(page(nurse, "?sort=-received")) == [second.case_number, first.case_number]


def test_header_links_toggle_the_direction_and_keep_the_filters(integration_client, nurse):
    make(integration_client, urgency="expedited")
    html = page(nurse, "?urgency=expedited&sort=member")
    assert re.search(r'<th aria-sort="ascending"><a href="/queue/\?urgency=expedited&amp;sort=-member"', html)
    assert 'href="/queue/?urgency=expedited&amp;sort=received"' in html
    # The default order's header links back to the address without a sort.
    assert re.search(r'<th aria-sort="none"><a href="/queue/\?urgency=expedited"[^>]*>Due<', html)


@pytest.mark.parametrize("bad", ["member_id", "-", "due_at;drop table", "assignee__password", "x" * 300])
def test_unknown_sort_is_ignored_never_an_error(integration_client, nurse, bad):
    later = make(integration_client, due_in_hours=50)
    sooner = make(integration_client, due_in_hours=5)
    response = signed_in(nurse).get("/queue/", {"sort": bad})
    assert response.status_code == 200
    assert listed(response.content.decode()) == [sooner.case_number, later.case_number]


def test_filtering_keeps_the_sort(integration_client, nurse):
    make(integration_client, urgency="expedited")
    response = signed_in(nurse).post("/queue/", {"urgency": "expedited", "sort": "-received"})
    assert response["Location"] == "/queue/?urgency=expedited&sort=-received"


# --- saved filters -------------------------------------------------------------------------------


def test_save_a_filter_and_apply_it(integration_client, nurse):
    urgent = make(integration_client, urgency="expedited")
    make(integration_client)
    browser = signed_in(nurse)
    response = browser.post("/queue/filters/save", {"name": "Urgent", "query": "urgency=expedited&sort=-received"})
    assert response.status_code == 302
    assert response["Location"] == "/queue/?urgency=expedited&sort=-received"
    html = browser.get("/queue/").content.decode()
    assert '<a href="/queue/?urgency=expedited&amp;sort=-received">Urgent</a>' in html
    assert listed(browser.get("/queue/?urgency=expedited&sort=-received").content.decode()) == [urgent.case_number]


def test_saving_the_same_name_replaces_the_filter(nurse):
    saved_queue_filter_save(user=nurse, name="Mine", query="assigned=mine")
    saved_queue_filter_save(user=nurse, name=" Mine ", query="assigned=mine&urgency=expedited")
    assert list(SavedQueueFilter.objects.filter(user=nurse).values_list("name", "query")) == [
        ("Mine", "urgency=expedited&assigned=mine")
    ]


def test_a_saved_filter_never_holds_a_search_term(nurse):
    browser = signed_in(nurse)
    html = browser.post("/queue/filters/save", {"name": "Ada", "query": "q=M-100&urgency=expedited"}, follow=True)
    assert "Filter not saved: query: may not hold q" in html.content.decode()
    assert not SavedQueueFilter.objects.exists()


def test_a_filter_needs_a_name(nurse):
    html = signed_in(nurse).post("/queue/filters/save", {"name": "  ", "query": ""}, follow=True).content.decode()
    assert "Filter not saved: name: is required" in html
    assert not SavedQueueFilter.objects.exists()


def test_saved_filters_are_per_user(nurse, physician):
    saved_queue_filter_save(user=nurse, name="Nina's urgent", query="urgency=expedited")
    assert "Nina&#x27;s urgent" in page(nurse)
    assert "Nina&#x27;s urgent" not in page(physician)


def test_another_user_cannot_delete_your_filter(nurse, physician):
    saved = saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited")
    assert signed_in(physician).post(f"/queue/filters/{saved.pk}/delete").status_code == 404
    assert SavedQueueFilter.objects.filter(pk=saved.pk).exists()


def test_delete_your_own_filter(nurse):
    saved = saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited")
    response = signed_in(nurse).post(f"/queue/filters/{saved.pk}/delete", follow=True)
    assert "Filter \u201cUrgent\u201d deleted." in response.content.decode()
    assert not SavedQueueFilter.objects.filter(pk=saved.pk).exists()


def test_saved_filter_views_refuse_get_and_outsiders(nurse, outsider, integration_client):
    saved = saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited")
    assert signed_in(nurse).get("/queue/filters/save").status_code == 405
    for user in (outsider, integration_client):
        assert signed_in(user).post("/queue/filters/save", {"name": "x", "query": ""}).status_code == 403
        assert signed_in(user).post(f"/queue/filters/{saved.pk}/delete").status_code == 403
    assert SavedQueueFilter.objects.count() == 1


# --- next case ----------------------------------------------------------------------------------


def test_next_case_claims_the_most_urgent_unclaimed_case_and_opens_it(integration_client, nurse, physician):
    claimed = make(integration_client, due_in_hours=1)
    case_claim(case_id=claimed.pk, user=physician)
    later = make(integration_client, due_in_hours=30)
    sooner = make(integration_client, due_in_hours=4)
    response = signed_in(nurse).post("/queue/next")
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{sooner.case_number}/"
    sooner.refresh_from_db()
    assert (sooner.assignee, sooner.status) == (nurse, CaseStatus.IN_REVIEW)
    assert sooner.events.filter(kind=CaseEventKind.CLAIMED, actor=nurse).count() == 1
    later.refresh_from_db()
    assert later.assignee is None


def test_next_case_never_gives_a_nurse_a_physician_review_case_or_an_appeal(
    integration_client, nurse, physician, editor
):
    version = every_line_of_business_policy(editor)
    make(integration_client, due_in_hours=1, status=CaseStatus.PHYSICIAN_REVIEW)
    make(integration_client, due_in_hours=2, status=CaseStatus.PENDED)
    original, _ = decided_case(integration_client, physician, version)
    file_appeal(original, integration_client, urgency="expedited")
    mine = make(integration_client, due_in_hours=200)
    assert signed_in(nurse).post("/queue/next")["Location"] == f"/cases/{mine.case_number}/"


def test_next_case_gives_a_physician_referred_cases_and_appeals_not_new_requests(
    integration_client, nurse, physician, editor
):
    version = every_line_of_business_policy(editor)
    make(integration_client, due_in_hours=1)  # a new request: a nurse's work
    referred = make(integration_client, due_in_hours=10, status=CaseStatus.PHYSICIAN_REVIEW)
    assert signed_in(physician).post("/queue/next")["Location"] == f"/cases/{referred.case_number}/"
    other = factories.user("pat.second", Role.PHYSICIAN)
    original, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(original, integration_client)
    # The physician who decided the appealed case may not decide its appeal: not theirs to take.
    response = signed_in(physician).post("/queue/next", follow=True)
    assert "No case is waiting for you" in response.content.decode()
    assert signed_in(other).post("/queue/next")["Location"] == f"/cases/{appeal.case_number}/"


def test_next_case_says_so_when_nothing_is_left(integration_client, nurse, physician):
    taken = make(integration_client)
    case_claim(case_id=taken.pk, user=physician)
    response = signed_in(nurse).post("/queue/next", {"next": "/queue/?urgency=standard"})
    assert response["Location"] == "/queue/?urgency=standard"
    html = signed_in(nurse).post("/queue/next", follow=True).content.decode()
    assert "No case is waiting for you" in html
    taken.refresh_from_db()
    assert taken.assignee == physician


def test_next_case_is_only_for_reviewers_who_claim(integration_client, manager, outsider, nurse):
    case = make(integration_client)
    assert signed_in(manager).post("/queue/next").status_code == 403
    assert signed_in(outsider).post("/queue/next").status_code == 403
    assert signed_in(nurse).get("/queue/next").status_code == 405
    case.refresh_from_db()
    assert case.assignee is None
    assert 'action="/queue/next"' in page(nurse)
    assert 'action="/queue/next"' not in page(manager)


def test_next_case_never_hands_out_a_case_the_user_may_not_see(integration_client, nurse, monkeypatch):
    from casemgmt.cases import selectors

    make(integration_client)
    # Whatever the roles say, only what cases_visible_to gives may be claimed.
    monkeypatch.setattr(selectors, "cases_visible_to", lambda user: Case.objects.none())
    html = signed_in(nurse).post("/queue/next", follow=True).content.decode()
    assert "No case is waiting for you" in html
    assert not Case.objects.filter(assignee=nurse).exists()


# --- the table's self-refresh -------------------------------------------------------------------


def test_the_table_polls_its_own_address_with_filters_sort_and_page(integration_client, nurse):
    for i in range(51):
        make(integration_client, due_in_hours=10 + i, urgency="expedited")
    html = page(nurse, "?urgency=expedited&sort=-due&page=2")
    poll = re.search(r'<div id="queue-poll"[^>]*>', html).group(0)
    assert 'hx-get="/queue/?urgency=expedited&amp;sort=-due&amp;page=2"' in poll
    assert 'hx-trigger="every 20s"' in poll and 'hx-target="#queue-table"' in poll


def test_polling_answers_the_rows_with_new_and_reassigned_cases(integration_client, nurse, physician, manager):
    first = make(integration_client)
    browser = signed_in(nurse)
    before = browser.get("/queue/", HTTP_HX_REQUEST="true").content.decode()
    assert listed(before) == [first.case_number]
    arrived = make(integration_client)
    from casemgmt.cases.services.assignment import case_reassign

    case_reassign(case_id=first.pk, user=manager, assignee_id=physician.pk)
    after = browser.get("/queue/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in after
    assert set(listed(after)) == {first.case_number, arrived.case_number}
    assert (physician.get_full_name() or physician.username) in row_of(after, first)


def test_polling_keeps_the_search_from_the_session(integration_client, nurse):
    ada = make(integration_client, member=MemberInput("M-100", "Ada", "One", date(1960, 1, 1)))
    make(integration_client)
    browser = signed_in(nurse)
    browser.post("/queue/", {"q": "M-100"})
    assert listed(browser.get("/queue/", HTTP_HX_REQUEST="true").content.decode()) == [ada.case_number]


def test_count_stops_at_its_limit(integration_client, nurse, monkeypatch):
    from casemgmt.workspace import queue

    monkeypatch.setattr(queue, "COUNT_LIMIT", 3)
    for _ in range(3):
        make(integration_client, service_lines=UNFLAGGED_LINE)
    assert "3 open cases" in page(nurse)
    make(integration_client, service_lines=UNFLAGGED_LINE)
    html = page(nurse)
    assert "More than 3 open cases: sort or filter to reach the rest" in html
    assert len(listed(html)) == 3

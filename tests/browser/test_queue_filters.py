"""The work queue's filter form in a real browser: one submission is one request, so one list row
in the audit log. (A bare `change` trigger also fired when Enter committed the search box: two
requests, two rows, for one search.)"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.cases.services.intake import MemberInput
from tests.browser.conftest import Workspace
from tests.browser.test_reviewer_workspace import queue_rows, sign_in
from tests.casemgmt.audit.conftest import rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Long enough for a second request, which htmx would send once the first answered, to show up.
SETTLE_MS = 1500


def member(member_id: str) -> MemberInput:
    return MemberInput(member_id=member_id, first_name="Ada", last_name="Case", birth_date=date(1960, 5, 1))


def filter_posts(page: Page) -> list[Request]:
    """The filter form's requests from now on (POSTs of /queue/ by htmx)."""
    sent: list[Request] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and urlsplit(request.url).path == "/queue/":
            sent.append(request)

    page.on("request", seen)
    return sent


def settled(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(SETTLE_MS)


def list_rows_since(last_id: int) -> int:
    return len(
        [e for e in rows(action=AuditAction.LIST, object_type=AuditObject.CASE, path="/queue/") if e.pk > last_id]
    )


def last_audit_id() -> int:
    found = rows()
    return found[-1].pk if found else 0


def test_enter_in_the_search_box_sends_one_request_and_writes_one_list_row(page: Page, workspace: Workspace) -> None:
    wanted = workspace.submit(member=member("M-ENTER-01"))
    workspace.submit(member=member("M-OTHER-02"))
    sign_in(page, "nurse")
    expect(queue_rows(page)).to_have_count(2)
    before = last_audit_id()
    sent = filter_posts(page)

    search = page.locator(".queue-filters").get_by_label("Case number or member id")
    search.fill("M-ENTER-01")
    search.press("Enter")

    expect(queue_rows(page)).to_have_count(1)
    expect(queue_rows(page).first).to_contain_text(wanted.case_number)
    settled(page)
    assert len(sent) == 1, [r.post_data for r in sent]
    assert list_rows_since(before) == 1


def test_choosing_a_filter_from_a_menu_filters_at_once_with_one_request(page: Page, workspace: Workspace) -> None:
    workspace.submit()
    expedited = workspace.submit(urgency="expedited")
    sign_in(page, "nurse")
    expect(queue_rows(page)).to_have_count(2)
    before = last_audit_id()
    sent = filter_posts(page)

    page.locator(".queue-filters").get_by_label("Urgency").select_option("expedited")

    expect(queue_rows(page)).to_have_count(1)
    expect(queue_rows(page).first).to_contain_text(expedited.case_number)
    settled(page)
    assert len(sent) == 1
    assert "urgency=expedited" in (sent[0].post_data or "")
    assert list_rows_since(before) == 1


def test_leaving_the_search_box_without_submitting_sends_nothing(page: Page, workspace: Workspace) -> None:
    workspace.submit(member=member("M-TYPED-03"))
    workspace.submit(member=member("M-OTHER-04"))
    sign_in(page, "nurse")
    expect(queue_rows(page)).to_have_count(2)
    sent = filter_posts(page)

    search = page.locator(".queue-filters").get_by_label("Case number or member id")
    search.fill("M-TYPED-03")
    search.press("Tab")

    settled(page)
    assert sent == []
    expect(queue_rows(page)).to_have_count(2)
    # The button submits what was typed.
    page.locator(".queue-filters").get_by_role("button", name="Filter").click()
    expect(queue_rows(page)).to_have_count(1)
    settled(page)
    assert len(sent) == 1

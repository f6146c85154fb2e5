"""The reviewer workspace in a real browser: the nurse's, physician's and manager's day.

Each test builds its own cases through the services and drives only the part it is about, so
each can run alone and in any order.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Locator, Page, expect

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, Decision
from casemgmt.cases.services.intake import MemberInput
from tests.browser.conftest import MILD_POLICY_NUMBER, PASSWORD, USERS, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

MILD_TITLE = "Image-Guided Minimally Invasive Decompression for Spinal Stenosis"


def member(member_id: str) -> MemberInput:
    return MemberInput(member_id=member_id, first_name="Ada", last_name="Case", birth_date=date(1960, 5, 1))


def full_name(username: str) -> str:
    return USERS[username][1]


def sign_in(page: Page, username: str) -> None:
    """Through the sign-in form, as a person would; lands on the work queue."""
    page.goto("/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("header.topbar")).to_contain_text(full_name(username))


def open_case(page: Page, case: Case) -> None:
    page.goto(f"/cases/{case.case_number}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.case_number)


def status_of(page: Page) -> Locator:
    return page.get_by_role("heading", level=1).locator(".status")


def success_message(page: Page, text: str) -> Locator:
    return page.locator("p.message.success", has_text=text)


def outcome_select(lines: Locator, line: str) -> Locator:
    """A line's outcome menu: labelled "Outcome" inside the fieldset whose legend names the line
    ("Decision on line 1: CPT 62330"), in the line's panel on the right of the case page."""
    return lines.get_by_role("group", name=line).get_by_label("Outcome")


def open_action(page: Page, action: str) -> Locator:
    """One of the case's other actions (#pend, #refer, #note ...), opened in place from its summary."""
    details = page.locator(f"details#{action}")
    details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    return details


def queue_rows(page: Page) -> Locator:
    return page.locator("#queue-table tbody tr")


def test_nurse_claims_most_urgent_case_reads_its_policy_and_pends_it(page: Page, workspace: Workspace) -> None:
    later = workspace.submit(member=member("M-LATER"))
    urgent = workspace.submit(urgency="expedited", member=member("M-URGENT"))
    assert urgent.due_at < later.due_at

    sign_in(page, "nurse")
    expect(page).to_have_url(re.compile(r"/queue/$"))
    expect(queue_rows(page)).to_have_count(2)
    first = queue_rows(page).first
    expect(first).to_contain_text(urgent.case_number)
    expect(first).to_contain_text("Expedited")
    expect(first).to_contain_text("unassigned")

    first.get_by_role("button", name="Claim").click()
    row = page.locator(f"#case-{urgent.case_number}")
    expect(row.get_by_role("status")).to_have_text("Claimed.")
    expect(row).to_contain_text(full_name("nurse"))
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)

    row.get_by_role("link", name=urgent.case_number).click()
    expect(page).to_have_url(re.compile(rf"/cases/{urgent.case_number}/$"))
    expect(status_of(page)).to_have_text("In review")
    flag = page.locator("#line-1 li.flag[data-kind=investigational]")
    expect(flag).to_be_visible()
    flag.locator(".citation a").click()

    expect(page).to_have_url(re.compile(rf"/policies/versions/{workspace.mild_policy.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Policy {MILD_POLICY_NUMBER}: {MILD_TITLE}")
    expect(page.locator(".policy-version .statement")).to_contain_text(
        "Image-guided minimally invasive decompression of the spine"
    )
    expect(page.locator(".policy-version .statement")).to_contain_text("is investigational")
    expect(page.locator(".policy-version dd.position")).to_have_text("Investigational")

    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_contain_text(urgent.case_number)
    needed = "Imaging report confirming stenosis and 12 weeks of therapy notes."
    pend = open_action(page, "pend")
    pend.get_by_label("What is needed from the requester").fill(needed)
    pend.get_by_role("button", name="Pend").click()

    expect(success_message(page, f"{urgent.case_number} pended for information.")).to_be_visible()
    expect(status_of(page)).to_have_text("Pended for information")
    pended = page.locator("#timeline li.event.pended")
    expect(pended).to_have_count(1)
    expect(pended).to_contain_text(f"Pended for information by {full_name('nurse')}: {needed}")
    expect(page.locator("#timeline li.event.claimed")).to_contain_text(f"Claimed by {full_name('nurse')}")
    urgent.refresh_from_db()
    assert urgent.status == CaseStatus.PENDED
    assert urgent.assignee == workspace.users["nurse"]


def test_nurse_approves_a_case(page: Page, workspace: Workspace) -> None:
    case = workspace.submit()
    sign_in(page, "nurse")
    open_case(page, case)

    decide = page.locator("#lines")
    outcome_select(decide, "Line 1: CPT 62330").select_option("approved")
    decide.get_by_label("Rationale").fill("Criteria reviewed; approved as requested.")
    decide.get_by_role("button", name="Record decision").click()

    expect(success_message(page, f"Decision recorded on {case.case_number}.")).to_be_visible()
    expect(status_of(page)).to_have_text("Decided")
    decision = page.locator("article.decision")
    expect(decision).to_have_count(1)
    expect(decision).to_contain_text(f"by {full_name('nurse')} (Nurse reviewer)")
    expect(decision).to_contain_text("Line 1: Approved, 1 units")
    expect(page.locator("#timeline li.event.decided")).to_contain_text("line 1 Approved")
    # A decided case offers no further decision.
    expect(page.locator("#decide")).to_have_count(0)
    assert Decision.objects.filter(case=case, lines__outcome="approved").count() == 1


def test_nurse_refers_a_case_to_physician_review(page: Page, workspace: Workspace) -> None:
    case = workspace.submit()
    sign_in(page, "nurse")
    open_case(page, case)

    summary = "Mild procedure flagged investigational; please review for denial."
    refer = open_action(page, "refer")
    refer.get_by_label("Summary for the physician").fill(summary)
    refer.get_by_role("button", name="Refer").click()

    expect(success_message(page, f"{case.case_number} referred to physician review.")).to_be_visible()
    expect(status_of(page)).to_have_text("Physician review")
    expect(page.locator("#timeline li.event.referred")).to_contain_text(
        f"Referred to physician by {full_name('nurse')}: {summary}"
    )
    # Once referred, the nurse cannot refer again.
    expect(page.locator("#refer")).to_have_count(0)
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW


def test_physician_denies_a_referred_case_citing_the_flagged_policy(page: Page, workspace: Workspace) -> None:
    workspace.submit()  # another open case, left alone
    case = workspace.submit()
    workspace.refer(case)
    version = workspace.mild_policy
    reason = "This procedure is investigational: studies do not show that it helps patients."

    sign_in(page, "physician")
    row = page.locator(f"#case-{case.case_number}")
    expect(row).to_contain_text("Physician review")
    row.get_by_role("link", name=case.case_number).click()
    expect(status_of(page)).to_have_text("Physician review")

    decide = page.locator("#lines")
    outcome_select(decide, "Line 1: CPT 62330").select_option("denied")
    decide.get_by_label("Reason (plain language)").fill(reason)
    citation = page.locator(f"#line-1 input[name=cite_1][value='{version.pk}']")
    expect(citation.locator("xpath=..")).to_contain_text(f"Policy {MILD_POLICY_NUMBER} version {version.version_label}")
    citation.check()
    decide.get_by_label("Rationale").fill("Investigational per the cited policy.")
    decide.get_by_role("button", name="Record decision").click()

    expect(success_message(page, f"Decision recorded on {case.case_number}.")).to_be_visible()
    expect(status_of(page)).to_have_text("Decided")
    decision = page.locator("article.decision")
    expect(decision).to_contain_text(f"by {full_name('physician')} (Physician reviewer)")
    expect(decision).to_contain_text(f"Line 1: Denied. Reason: {reason}")
    expect(decision.locator("p.citation")).to_contain_text(f"Cites policy {MILD_POLICY_NUMBER} “{MILD_TITLE}”")
    expect(decision.locator("p.citation")).to_contain_text(f"version {version.version_label}")

    recorded = Decision.objects.get(case=case)
    assert recorded.decided_by == workspace.users["physician"]
    assert list(recorded.citations.values_list("policy_version_id", flat=True)) == [version.pk]
    assert list(recorded.lines.values_list("outcome", "reason")) == [("denied", reason)]


def test_decision_letter_shows_the_cited_policy_and_the_reason(page: Page, workspace: Workspace) -> None:
    case = workspace.submit()
    workspace.refer(case)
    reason = "The mild procedure is still investigational, so the plan does not cover it."
    decision_id = workspace.deny(case, reason)
    version = workspace.mild_policy

    sign_in(page, "physician")
    open_case(page, case)
    page.locator(f"#decision-{decision_id}").get_by_role("link", name="to the member").click()

    expect(page).to_have_url(re.compile(rf"/cases/{case.case_number}/letter/{decision_id}/\?to=member$"))
    letter = page.locator("article.letter")
    expect(letter.locator("h1")).to_be_visible()
    expect(letter.locator(".letter-lines .reason")).to_have_text(reason)
    expect(letter.locator(".letter-lines")).to_contain_text("Not approved")
    cited = letter.locator(".letter-citations li")
    expect(cited).to_have_count(1)
    expect(cited).to_contain_text(f"Policy {MILD_POLICY_NUMBER} “{MILD_TITLE}”, version {version.version_label}")
    expect(letter.get_by_role("heading", name="Your right to appeal")).to_be_visible()
    expect(letter).to_contain_text(case.case_number)


def test_nurse_sees_no_deny_action_and_a_forged_deny_is_refused(page: Page, workspace: Workspace) -> None:
    case = workspace.submit()
    sign_in(page, "nurse")
    open_case(page, case)

    outcome = outcome_select(page.locator("#lines"), "Line 1: CPT 62330")
    expect(outcome).to_be_visible()
    expect(outcome.locator("option[value=approved]")).to_have_count(1)
    for adverse in ("denied", "partially_approved", "modified"):
        expect(outcome.locator(f"option[value={adverse}]")).to_have_count(0)
    expect(page.locator("#decide")).to_contain_text("A denial, partial approval or modification needs a physician")

    case.refresh_from_db()
    before = (case.status, case.row_version, CaseEvent.objects.filter(case=case).count())
    token = page.locator("#decision-form input[name=csrfmiddlewaretoken]").input_value()
    response = page.request.post(
        f"/cases/{case.case_number}/decide",
        form={
            "csrfmiddlewaretoken": token,
            "row_version": str(case.row_version),
            "outcome_1": "denied",
            "reason_1": "Forged denial.",
            "citation_versions": str(workspace.mild_policy.pk),
            "rationale": "Forged.",
        },
        max_redirects=0,
    )
    assert response.status == 403, response.text()[:500]
    # Refused for the role, not for a missing or bad CSRF token (which is a 403 too).
    assert "CSRF" not in response.text()
    assert "You cannot open this page" in response.text()

    case.refresh_from_db()
    assert (case.status, case.row_version, CaseEvent.objects.filter(case=case).count()) == before
    assert not Decision.objects.filter(case=case).exists()
    assert not CaseEvent.objects.filter(case=case, kind=CaseEventKind.DECIDED).exists()
    page.reload()
    expect(status_of(page)).to_have_text("Received")
    expect(page.locator("article.decision")).to_have_count(0)


def test_manager_dashboard_counts_the_decisions(page: Page, workspace: Workspace) -> None:
    approved, denied, _open = workspace.submit(), workspace.submit(), workspace.submit()
    workspace.approve(approved)
    workspace.refer(denied)
    workspace.deny(denied, "Investigational.")

    sign_in(page, "manager")
    page.get_by_role("navigation").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Manager dashboard")).to_be_visible()

    def tile(label: str) -> Locator:
        return page.locator(".tile", has=page.get_by_text(label, exact=True)).locator(".tile-value")

    expect(tile("requests decided")).to_have_text("2")
    expect(tile("decided in time")).to_have_text("100.0%")
    expect(tile("open cases")).to_have_text("1")

    metrics = page.locator("table.metrics-table").first

    def metric(name: str) -> Locator:
        return metrics.locator("tr", has=page.get_by_role("rowheader", name=name, exact=True)).locator("td").first

    expect(metric("Standard requests")).to_have_text("2")
    expect(metric("Standard: approved")).to_have_text("50.0%")
    expect(metric("Standard: denied")).to_have_text("50.0%")

    workload = page.locator("section", has=page.get_by_role("heading", name="Reviewer workload"))
    for username in ("nurse", "physician"):
        row = workload.locator("tr", has_text=full_name(username))
        expect(row.locator("td").nth(2)).to_have_text("1")


def test_queue_filter_swaps_the_table_without_a_full_reload(page: Page, workspace: Workspace) -> None:
    standard = [workspace.submit(), workspace.submit(line_of_business="exchange")]
    expedited = workspace.submit(urgency="expedited")

    sign_in(page, "nurse")
    expect(queue_rows(page)).to_have_count(3)
    # A full page load would drop this; an htmx swap keeps the document (and the marker).
    page.evaluate("window.__sameDocument = true")

    # The filter form is POSTed (its search box may hold a member id); the answer's address has
    # only the filters that say nothing about a member.
    with page.expect_request(
        lambda r: (
            r.method == "POST" and "urgency=expedited" in (r.post_data or "") and r.headers.get("hx-request") == "true"
        )
    ) as fragment:
        page.locator(".queue-filters").get_by_label("Urgency").select_option("expedited")
    assert fragment.value.resource_type in {"xhr", "fetch"}

    expect(page).to_have_url(re.compile(r"/queue/\?(.*&)?urgency=expedited(&|$)"))
    expect(queue_rows(page)).to_have_count(1)
    expect(queue_rows(page).first).to_contain_text(expedited.case_number)
    for case in standard:
        expect(page.locator(f"#case-{case.case_number}")).to_have_count(0)
    expect(page.locator("#queue-table .queue-count")).to_have_text("1 open case")
    assert page.evaluate("window.__sameDocument") is True
    # Exactly one page heading and one filter form: the fragment was not a whole page nested inside.
    expect(page.get_by_role("heading", name="Work queue")).to_have_count(1)
    expect(page.locator("form.queue-filters")).to_have_count(1)


def test_queue_search_for_a_member_never_puts_the_member_id_in_a_url(page: Page, workspace: Workspace) -> None:
    wanted = workspace.submit(member=member("M-SEARCH-77"))
    workspace.submit(member=member("M-OTHER-12"))

    sign_in(page, "nurse")
    expect(queue_rows(page)).to_have_count(2)
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    search = page.locator(".queue-filters").get_by_label("Case number or member id")
    search.fill("M-SEARCH-77")
    search.press("Enter")

    expect(queue_rows(page)).to_have_count(1)
    expect(queue_rows(page).first).to_contain_text(wanted.case_number)
    # Reloading keeps the search (it lives in the session), still with no member id in the address.
    page.reload()
    expect(queue_rows(page)).to_have_count(1)
    expect(page.locator(".queue-filters").get_by_label("Case number or member id")).to_have_value("M-SEARCH-77")
    assert "M-SEARCH-77" not in page.url
    assert not [url for url in urls if "M-SEARCH-77" in url]

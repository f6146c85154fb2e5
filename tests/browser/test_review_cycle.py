"""The whole review cycle in a real browser, on the demo's facet denervation cases: a denial, an
appeal recorded from the case page, its decision by a second physician, the Independent Review
Entity forward of an upheld Medicare Advantage appeal, and a reopening.

The data is what `make run` loads (`load_demo`), so these walk what a new user tries.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import Locator, Page, expect

from casemgmt.cases.models import (
    AppealRequester,
    Authorization,
    AuthorizationStatus,
    Case,
    CaseStatus,
    Decision,
    LineOutcome,
    ReviewType,
)
from casemgmt.cases.services.appeals import decision_of_record
from casemgmt.demo.facet_policy import BLOCKS_CRITERION, FACET_POLICY_NUMBER
from casemgmt.demo.management.commands.load_demo import DEMO_USERS, FACET_KINDS, facet_external_id
from policies_app.models import LineOfBusiness, PolicyVersion
from tests.browser.conftest import PASSWORD, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

FULL_NAMES = {username: name for username, _, name in DEMO_USERS}
SECOND_BLOCK = "A second medial branch block on 2026-11-20 gave 85% relief; the report came with the appeal."


def facet_case(line_of_business: str, tag: str) -> Case:
    kind = next(k for k in FACET_KINDS if k.tag == tag)
    return Case.objects.get(external_id=facet_external_id(line_of_business, kind))


@pytest.fixture
def demo(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], User]:
    """`load_demo` as `make run` runs it, with the browser tests' password; returns the users by name."""
    monkeypatch.setenv("DEMO_PASSWORD", PASSWORD)
    call_command("load_demo", url=workspace.url)
    return lambda username: User.objects.get(username=username)


def facet_version() -> PolicyVersion:
    return PolicyVersion.objects.get(policy__number=FACET_POLICY_NUMBER)


def sign_in(page: Page, username: str) -> None:
    """Through the sign-in form, as a person would (signing out whoever was signed in)."""
    # Leaving the page first stops its in-flight requests, whose responses would otherwise put the
    # previous person's CSRF cookie back after the clear and fail the sign-in.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header.topbar")).to_contain_text(FULL_NAMES[username])


def open_case(page: Page, case: Case) -> None:
    page.goto(f"/cases/{case.case_number}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.case_number)


def status_of(page: Page) -> Locator:
    return page.get_by_role("heading", level=1).locator(".status")


def message(page: Page, kind: str, text: str) -> Locator:
    return page.locator(f"p.message.{kind}", has_text=text)


def decide_line(page: Page, line: str, outcome: str, reason: str = "", cite: bool = False) -> None:
    """Fill the decision form for one line; with `cite`, cite the facet policy for BLOCKS_CRITERION."""
    # Each line's decision controls sit in its panel (#lines); the form's button in #decide.
    group = page.locator("#lines").get_by_role("group", name=line)
    group.get_by_label("Outcome").select_option(outcome)
    if reason:
        group.get_by_label("Reason (plain language)").fill(reason)
    if cite:
        version = facet_version()
        citation = group.locator(f"input[name^=cite_][value='{version.pk}']")
        expect(citation.locator("xpath=..")).to_contain_text(f"Policy {FACET_POLICY_NUMBER} version 2024-04")
        citation.check()
        group.locator(f"textarea[name$='_{version.pk}']").fill(BLOCKS_CRITERION)
    page.locator("#decide").get_by_role("button", name="Record decision").click()


def test_a_physician_denies_a_facet_line_with_a_reason_and_a_citation(page: Page, demo: Callable[[str], User]) -> None:
    """NCQA UM 7 and issue 16 §4: a denial gives a specific reason and cites the policy version on its line."""
    case = facet_case(LineOfBusiness.COMMERCIAL, "REQ")
    reason = "Only one diagnostic block is documented; the policy asks for two with at least 80% relief."

    sign_in(page, "physician")
    open_case(page, case)
    expect(page.locator("#line-1 li.flag[data-kind=criteria_not_met]")).to_contain_text(FACET_POLICY_NUMBER)
    decide_line(page, "Line 1: CPT 64635", "denied", reason, cite=True)

    expect(message(page, "success", f"Decision recorded on {case.case_number}.")).to_be_visible()
    expect(status_of(page)).to_have_text("Decided")
    decision = page.locator("article.decision")
    expect(decision).to_contain_text(f"Line 1: Denied. Reason: {reason}")
    expect(decision.locator("p.line-citation")).to_contain_text(f"Cites policy {FACET_POLICY_NUMBER}")
    expect(decision.locator("p.line-citation")).to_contain_text(BLOCKS_CRITERION)
    line = Decision.objects.get(case=case).lines.get()
    assert list(line.citations.values_list("policy_version_id", flat=True)) == [facet_version().pk]


def test_an_appeal_received_by_phone_is_recorded_from_the_case_page(page: Page, demo: Callable[[str], User]) -> None:
    """Issue 16 §2: reviewers open an appeal from the case page (an appeal received by phone or mail)."""
    case = facet_case(LineOfBusiness.EXCHANGE, "DEN")

    sign_in(page, "nurse")
    open_case(page, case)
    appeal_form = page.locator("details#appeal")
    appeal_form.locator("summary").click()
    appeal_form.get_by_role("checkbox", name=re.compile(r"^Line 1: CPT 64635")).check()
    appeal_form.get_by_label("Why the requester disagrees").fill(f"Member called: {SECOND_BLOCK}")
    appeal_form.get_by_label("Urgency").select_option("standard")
    appeal_form.get_by_label("Requested by").select_option(AppealRequester.MEMBER)
    appeal_form.get_by_role("button", name="Open the appeal").click()

    appeal = case.appeals.get()
    expect(message(page, "success", f"Appeal {appeal.case_number} opened")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(appeal.case_number)
    expect(page.locator(".appeal-of")).to_contain_text(f"of {case.case_number}, requested by the member")
    assert appeal.review_type == ReviewType.APPEAL and appeal.appeal_requested_by == AppealRequester.MEMBER

    open_case(page, case)
    expect(page.locator(".case-link.appeals")).to_contain_text(appeal.case_number)
    expect(page.locator("#timeline li.event.appealed")).to_contain_text(f"appeal {appeal.case_number} of line(s) 1")


def test_a_second_physician_decides_the_appeal_and_the_denying_physician_is_refused(
    page: Page, demo: Callable[[str], User]
) -> None:
    """42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii): only a physician who took no part decides the appeal."""
    appeal = facet_case(LineOfBusiness.COMMERCIAL, "APL").appeals.get()

    sign_in(page, "physician")
    open_case(page, appeal)
    expect(page.locator("#decide [role=alert]")).to_contain_text("You took part in the decision under appeal")
    decide_line(page, "Line 1: CPT 64633", "overturned")
    expect(message(page, "error", "took part in the decision under appeal")).to_be_visible()
    expect(status_of(page)).to_have_text("Received")
    assert not appeal.decisions.exists()

    sign_in(page, "physician2")
    open_case(page, appeal)
    expect(page.locator("#decide [role=alert]")).to_have_count(0)
    decide_line(page, "Line 1: CPT 64633", "overturned")

    expect(message(page, "success", f"Decision recorded on {appeal.case_number}.")).to_be_visible()
    expect(status_of(page)).to_have_text("Decided")
    expect(page.locator("article.decision")).to_contain_text(f"by {FULL_NAMES['physician2']} (Physician reviewer)")
    expect(page.locator("article.decision")).to_contain_text("Line 1: Overturned on appeal")
    expect(page.locator("#line-1 table.authorizations")).to_contain_text("Active")
    decision = decision_of_record(appeal)
    assert decision is not None and decision.decided_by == demo("physician2")
    assert Authorization.objects.get(case=appeal).status == AuthorizationStatus.ACTIVE


def test_an_upheld_medicare_advantage_appeal_is_forwarded_to_the_independent_review_entity(
    page: Page, demo: Callable[[str], User]
) -> None:
    """42 CFR 422.592(a): a Medicare Advantage reconsideration that upholds a denial goes to the IRE automatically."""
    original = facet_case(LineOfBusiness.MEDICARE_ADVANTAGE, "APL")
    appeal = original.appeals.get()

    sign_in(page, "physician2")
    open_case(page, appeal)
    decide_line(
        page,
        "Line 1: CPT 64633",
        "upheld",
        "The second block's relief is not documented in the records sent.",
        cite=True,
    )

    expect(message(page, "success", f"Decision recorded on {appeal.case_number}.")).to_be_visible()
    expect(status_of(page)).to_have_text("Forwarded to the Independent Review Entity")
    ire = page.locator("#ire")
    expect(ire.get_by_role("heading", name="Forwarded to the Independent Review Entity")).to_be_visible()
    expect(ire.locator("ol.case-file")).to_contain_text(f"Request {original.case_number}")
    expect(ire.locator("ol.case-file")).to_contain_text(f"Appeal {appeal.case_number}")
    page.locator("details#timeline > summary").click()
    expect(page.locator("#timeline li.event.forwarded_to_ire")).to_be_visible()
    appeal.refresh_from_db()
    assert appeal.status == CaseStatus.FORWARDED_TO_IRE


def test_a_reopened_case_returns_to_review_and_its_new_decision_supersedes_the_old(
    page: Page, demo: Callable[[str], User]
) -> None:
    """42 CFR 422.616 and issue 16 §3: a reopened case returns to review; the new decision supersedes the old."""
    case = facet_case(LineOfBusiness.MEDICAID, "DEN")
    first = decision_of_record(case)
    reason = f"New and material information: {SECOND_BLOCK}"

    sign_in(page, "physician")
    open_case(page, case)
    reopen = page.locator("details#reopen")
    reopen.locator("summary").click()
    reopen.get_by_label("Why the case is reopened").fill(reason)
    reopen.get_by_role("button", name="Reopen").click()

    expect(message(page, "success", f"{case.case_number} reopened: it is back in review.")).to_be_visible()
    expect(status_of(page)).to_have_text("In review")
    expect(page.locator("#timeline li.event.reopened")).to_contain_text(reason)

    decide_line(page, "Line 1: CPT 64635", "approved")
    expect(message(page, "success", f"Decision recorded on {case.case_number}.")).to_be_visible()
    expect(status_of(page)).to_have_text("Decided")
    expect(page.locator("article.decision")).to_have_count(2)
    expect(page.locator("article.decision", has_text="superseding an earlier decision")).to_contain_text(
        "Line 1: Approved"
    )
    latest = decision_of_record(case)
    assert latest is not None and first is not None
    assert latest.supersedes_id == first.pk
    assert latest.lines.get().outcome == LineOutcome.APPROVED
    # Nothing is deleted or edited in place: the denial is still there, superseded.
    assert Decision.objects.get(pk=first.pk).lines.get().outcome == LineOutcome.DENIED

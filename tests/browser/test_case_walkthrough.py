"""A nurse and a physician through a two-line case on the one-screen case page, in Chromium at 1440x900.

Line 1 (CPT 62330, the "mild" procedure) is flagged investigational: the nurse refers it to a
physician. Line 2 (CPT 64483, an epidural injection) has a criteria checklist with one fact the
request did not give: the nurse finds it in the documentation, records it in place, sees the
criteria met and approves the line, with the keyboard alone. The physician sees the referral
note, the approved line standing, searches the library without losing what was typed, and denies
line 1 citing the flagged version.

Each step leaves a screenshot in one folder ($CASE_WALKTHROUGH_DIR, else the test's tmp_path),
printed at the end.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Locator, Page, ViewportSize, expect

from casemgmt.cases.models import Case, CaseEventKind, CaseStatus, Decision, LineOutcome
from casemgmt.cases.services.intake import LineInput, MemberInput
from policies_app.models import Criterion, PolicyVersion
from tests import factories
from tests.browser.conftest import MILD_POLICY_NUMBER, PASSWORD, USERS, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

WIDE: ViewportSize = {"width": 1440, "height": 900}
SMALL: ViewportSize = {"width": 1280, "height": 720}
INJECTION_POLICY = "WT.77"
WEEKS_CRITERION = "At least 6 weeks of conservative therapy"
REFERRAL_NOTE = "Line 1 is the mild procedure, flagged investigational: please decide it."
DENIAL_REASON = "The mild procedure is investigational: studies do not show that it helps patients."
# Generous for a loaded machine: a keyboard walk that needs more than this is lost, not slow.
MAX_TABS = 250


class Shots:
    """Numbered screenshots of each step, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def take(self, page: Page, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.taken.append(path)


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    folder = os.environ.get("CASE_WALKTHROUGH_DIR")
    return Shots(Path(folder) if folder else tmp_path / "case-walkthrough")


def injection_policy(workspace: Workspace) -> PolicyVersion:
    """A published policy for CPT 64483 approving it when two criteria are met."""
    version = factories.draft_version(
        factories.policy(number=INJECTION_POLICY, title="Epidural steroid injections"),
        codes=[("CPT", "64483", "")],
        coverage_position="medically_necessary_with_criteria",
        statement="Epidural steroid injections are medically necessary when the criteria are met.",
    )
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of the following")
    factories.leaf(version, root, WEEKS_CRITERION, "conservative_therapy_weeks", "gte", 6)
    factories.leaf(version, root, "Imaging confirms stenosis", "imaging_confirms_stenosis", "is_true", None)
    return factories.publish(version, workspace.users["editor"])


def two_line_case(workspace: Workspace) -> Case:
    dos = timezone.localdate() + timedelta(days=14)
    return workspace.submit(
        member=MemberInput(member_id="M-WALK-1", first_name="Ada", last_name="Walker", birth_date=date(1958, 3, 9)),
        service_lines=(
            LineInput(
                code_system="CPT", code="62330", units=1, date_of_service=dos, description="Lumbar decompression"
            ),
            LineInput(
                code_system="CPT", code="64483", units=1, date_of_service=dos, description="Epidural steroid injection"
            ),
        ),
        clinical_facts={"imaging_confirms_stenosis": True},
        clinical_notes="Lumbar stenosis with leg pain. Physical therapy since January (see the therapy note).",
    )


def sign_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header.topbar")).to_contain_text(USERS[username][1])


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def tab_to(page: Page, target: Locator) -> None:
    """Press Tab, and only Tab, until `target` has the focus; its focus must be visible."""
    handle = target.element_handle()
    assert handle is not None
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("el => document.activeElement === el", handle):
            break
    else:
        raise AssertionError(f"Tab never reached {target}")
    outline = page.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth", handle)
    assert not outline.startswith("none") and not outline.endswith(" 0px"), f"no visible focus on {target}: {outline}"


def one_screen(page: Page) -> None:
    """The page itself does not scroll: the request and the lines scroll each in their pane."""
    overflow = page.evaluate("document.scrollingElement.scrollHeight - window.innerHeight")
    assert overflow <= 2, f"the page scrolls by {overflow}px"


def no_serious_accessibility_problem(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    found = [
        f"{v['id']} ({v['impact']}): {' '.join(str(t) for t in node['target'])} — {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]
    assert not found, "\n".join(found)


def test_a_nurse_and_a_physician_decide_a_two_line_case_on_one_screen(
    page: Page, workspace: Workspace, shots: Shots
) -> None:
    injection = injection_policy(workspace)
    case = two_line_case(workspace)
    page.set_viewport_size(WIDE)

    # --- the nurse ----------------------------------------------------------------------------
    sign_in(page, "nurse")
    expect(page.locator(f"#case-{case.case_number}")).to_be_visible()
    shots.take(page, "nurse-queue")
    page.goto(f"/cases/{case.case_number}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.case_number)
    one_screen(page)
    request = page.locator("#request")
    expect(request).to_contain_text("Ada Walker (M-WALK-1)")
    expect(request).to_contain_text("CPT 64483 Epidural steroid injection")
    line_1, line_2 = page.locator("#line-1"), page.locator("#line-2")
    expect(line_1.locator("li.flag[data-kind=investigational]")).to_contain_text("Investigational / experimental")
    weeks = line_2.locator("table.checklist tr", has_text=WEEKS_CRITERION)
    expect(weeks.locator(".tri")).to_have_text("Unknown")
    expect(weeks).to_contain_text("Weeks of failed conservative therapy")
    expect(weeks).to_contain_text("not provided")
    expect(page.locator("details#timeline")).not_to_have_attribute("open", "")
    no_serious_accessibility_problem(page)
    shots.take(page, "nurse-case-screen")

    # The fact from the therapy note, recorded in place with the keyboard alone.
    page.locator("body").focus()
    tab_to(page, weeks.get_by_label("Weeks of failed conservative therapy (weeks)"))
    page.keyboard.type("14")
    page.keyboard.press("Tab")
    page.keyboard.type("Physical therapy note, page 2")
    page.keyboard.press("Enter")
    expect(line_2.get_by_role("status")).to_contain_text("evaluated again")
    weeks = line_2.locator("table.checklist tr", has_text=WEEKS_CRITERION)
    expect(weeks.locator(".tri")).to_have_text("Met")
    expect(weeks.locator("td.value")).to_have_text("14 weeks")
    expect(line_2.locator("table.checklist caption")).to_contain_text("Met")
    no_serious_accessibility_problem(page)
    shots.take(page, "nurse-fact-recorded")

    # The decision, with the keyboard alone: refer line 1 with a note, approve line 2.
    outcome_1 = line_1.get_by_label("Outcome", exact=True)
    tab_to(page, outcome_1)
    expect(outcome_1.locator("option[value=denied]")).to_have_count(0)
    page.keyboard.type("Referred")
    expect(outcome_1).to_have_value(LineOutcome.REFERRED)
    tab_to(page, line_1.get_by_label("Reason (plain language)"))
    page.keyboard.type(REFERRAL_NOTE)
    outcome_2 = line_2.get_by_label("Outcome", exact=True)
    tab_to(page, outcome_2)
    page.keyboard.type("Approved")
    expect(outcome_2).to_have_value(LineOutcome.APPROVED)
    record = page.locator("#decide").get_by_role("button", name="Record decision")
    tab_to(page, record)
    shots.take(page, "nurse-decision-typed")
    page.keyboard.press("Enter")

    expect(page.locator("p.message.success")).to_contain_text(f"Decision recorded on {case.case_number}.")
    expect(page.get_by_role("heading", level=1).locator(".status")).to_have_text("Physician review")
    shots.take(page, "nurse-line-referred")
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    nurse_decision = Decision.objects.get(case=case)
    assert dict(nurse_decision.lines.values_list("service_line__sequence", "outcome")) == {
        1: LineOutcome.REFERRED,
        2: LineOutcome.APPROVED,
    }
    assert case.clinical_facts["conservative_therapy_weeks"] == 14
    assert case.events.filter(kind=CaseEventKind.FACT_RECORDED, actor=workspace.users["nurse"]).count() == 1

    # At 1280x720 the same screen is still one screen, with the decision within reach.
    page.set_viewport_size(SMALL)
    page.reload()
    one_screen(page)
    shots.take(page, "nurse-case-1280x720")
    page.set_viewport_size(WIDE)
    sign_out(page)

    # --- the physician ------------------------------------------------------------------------
    sign_in(page, "physician")
    page.goto(f"/cases/{case.case_number}/")
    one_screen(page)
    expect(page.locator("#referral-note")).to_contain_text(REFERRAL_NOTE)
    line_1, line_2 = page.locator("#line-1"), page.locator("#line-2")
    expect(line_1.locator(".referral-line-note")).to_contain_text(REFERRAL_NOTE)
    expect(line_2.locator(".standing")).to_contain_text("Approved, decided")
    expect(line_2.get_by_label("Outcome", exact=True)).to_have_count(0)
    no_serious_accessibility_problem(page)
    shots.take(page, "physician-case-screen")

    outcome_1 = line_1.get_by_label("Outcome", exact=True)
    outcome_1.select_option(LineOutcome.DENIED)
    line_1.get_by_label("Reason (plain language)").fill(DENIAL_REASON)
    # The library search answers in place: what was typed stays.
    search = page.locator("#decide").get_by_label("Search the library by policy number or title")
    search.fill("07.01")
    search.press("Enter")
    results = page.locator("#citation-search-results")
    expect(results).to_contain_text(f"Policy {MILD_POLICY_NUMBER}")
    expect(outcome_1).to_have_value(LineOutcome.DENIED)
    expect(line_1.get_by_label("Reason (plain language)")).to_have_value(DENIAL_REASON)
    citation = line_1.locator(f"input[name=cite_1][value='{workspace.mild_policy.pk}']")
    expect(citation.locator("xpath=..")).to_contain_text(f"Policy {MILD_POLICY_NUMBER} version")
    citation.check()
    page.locator("#decide").get_by_label("Rationale").fill("Investigational per the cited policy.")
    shots.take(page, "physician-decision-typed")
    page.locator("#decide").get_by_role("button", name="Record decision").click()

    expect(page.locator("p.message.success")).to_contain_text(f"Decision recorded on {case.case_number}.")
    expect(page.get_by_role("heading", level=1).locator(".status")).to_have_text(re.compile("Decided|Partially"))
    decision = page.locator("article.decision").last
    expect(decision).to_contain_text(f"Line 1: Denied. Reason: {DENIAL_REASON}")
    expect(decision).to_contain_text("Line 2: Approved")
    shots.take(page, "physician-decided")

    final = Decision.objects.filter(case=case).order_by("-decided_at", "-id").first()
    assert final is not None and final.decided_by == workspace.users["physician"]
    assert dict(final.lines.values_list("service_line__sequence", "outcome")) == {
        1: LineOutcome.DENIED,
        2: LineOutcome.APPROVED,
    }
    denied = final.lines.get(service_line__sequence=1)
    assert list(denied.citations.values_list("policy_version_id", flat=True)) == [workspace.mild_policy.pk]
    assert injection.pk != workspace.mild_policy.pk
    assert len(shots.taken) == 9
    print(f"\ncase walkthrough screenshots ({len(shots.taken)}): {shots.folder}")


def test_a_library_search_keeps_the_versions_already_ticked_and_what_was_typed(
    page: Page, workspace: Workspace
) -> None:
    case = workspace.submit()
    workspace.refer(case)
    sign_in(page, "physician")
    page.goto(f"/cases/{case.case_number}/")
    reason = page.locator("#line-1").get_by_label("Reason (plain language)")
    reason.fill(DENIAL_REASON)
    search = page.locator("#decide").get_by_label("Search the library by policy number or title")
    search.fill("07.01")
    found = page.locator(f"#citation-search-results input[name=citation_versions][value='{workspace.mild_policy.pk}']")
    found.check()
    search.fill("BCBSMN")
    search.press("Enter")
    expect(page.locator("#citation-search-results")).to_contain_text("BCBSMN-DSS")
    kept = page.locator(f"#citation-chosen input[name=citation_versions][value='{workspace.mild_policy.pk}']")
    expect(kept).to_be_checked()
    expect(reason).to_have_value(DENIAL_REASON)
    assert page.url.endswith(f"/cases/{case.case_number}/")

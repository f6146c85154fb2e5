"""In the browser: a fact recorded in place shows at once everywhere the page shows it (the
line's checklist, the case's worst flag, the clinical facts and the timeline), without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Workspace
from tests.browser.test_case_walkthrough import WEEKS_CRITERION, injection_policy, sign_in, two_line_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_fact_recorded_in_place_shows_in_the_timeline_without_a_reload(page: Page, workspace: Workspace) -> None:
    injection_policy(workspace)
    case = two_line_case(workspace)
    sign_in(page, "nurse")
    page.goto(f"/cases/{case.case_number}/")
    # A reload would lose this mark.
    page.evaluate("window.notReloaded = true")
    timeline = page.locator("details#timeline")
    timeline.locator("summary").click()
    expect(timeline.locator("#timeline-events")).not_to_contain_text("Clinical fact recorded")
    before = page.locator("#timeline-events li").count()

    weeks = page.locator("#line-2 table.checklist tr", has_text=WEEKS_CRITERION)
    weeks.get_by_label("Weeks of failed conservative therapy (weeks)").fill("14")
    weeks.get_by_label("Where found").fill("Physical therapy note, page 2")
    weeks.get_by_role("button", name="Record").click()

    expect(page.locator("#line-2").get_by_role("status")).to_contain_text("evaluated again")
    expect(timeline).to_have_attribute("open", "")
    recorded = timeline.locator("#timeline-events li.event.fact_recorded")
    expect(recorded).to_contain_text(
        "Weeks of failed conservative therapy: 14 weeks, found in Physical therapy note, page 2"
    )
    expect(recorded).to_contain_text("by Nora Reyes")
    assert page.locator("#timeline-events li").count() > before
    expect(page.locator("#timeline-count")).to_contain_text(f"({page.locator('#timeline-events li').count()} events)")
    expect(page.locator("#clinical-facts")).to_contain_text("14 weeks")
    expect(page.locator("#case-worst-flag")).to_contain_text("Worst flag: Investigational")
    assert page.evaluate("window.notReloaded === true")

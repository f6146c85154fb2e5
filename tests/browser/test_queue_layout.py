"""The work list fits a 1280x720 screen (issue 19): with `load_demo`'s cases, a nurse and a
manager see every column, the claim and assign controls included, without scrolling sideways."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page, ViewportSize, expect

from casemgmt.demo.management.commands.load_demo import DEFAULT_PASSWORD
from tests.browser.conftest import ARTIFACTS, TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SMALL_SCREEN = ViewportSize(width=1280, height=720)


@pytest.fixture
def demo_url(live_server: object) -> str:
    call_command("load_demo", stdout=io.StringIO())
    return str(live_server.url)  # type: ignore[attr-defined]


@pytest.fixture
def small_screen(browser: Browser, demo_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(base_url=demo_url, viewport=SMALL_SCREEN)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        context.close()


def open_work_list(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto("/queue/")
    expect(page.locator("#queue-table tbody tr").first).to_be_visible()


def sideways_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def right_edge_of(page: Page, selector: str) -> float:
    return float(
        page.evaluate(
            f"Math.max(...[...document.querySelectorAll({selector!r})].map(e => e.getBoundingClientRect().right))"
        )
    )


def test_a_nurse_sees_the_whole_work_list_and_its_claim_buttons_at_1280_by_720(small_screen: Page) -> None:
    open_work_list(small_screen, "nurse")
    expect(small_screen.locator("#queue-table").get_by_role("button", name="Claim").first).to_be_visible()
    assert sideways_overflow(small_screen) <= 0
    assert right_edge_of(small_screen, "#queue-table button") <= SMALL_SCREEN["width"]


def test_a_manager_sees_the_whole_work_list_and_its_assign_controls_at_1280_by_720(small_screen: Page) -> None:
    open_work_list(small_screen, "manager")
    expect(small_screen.locator("#queue-table").get_by_role("button", name="Assign").first).to_be_visible()
    assert sideways_overflow(small_screen) <= 0
    assert right_edge_of(small_screen, "#queue-table :is(button, select)") <= SMALL_SCREEN["width"]

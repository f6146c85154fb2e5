"""Accessibility of every page of the demo, for every role (issue 19, "Accessible").

axe-core (axe-playwright-python, from PyPI) runs in Chromium on each page a role can open with
`load_demo`'s data: the work queue, a case of every state, the letters, the dashboard and report,
retrospective review, gold cards, the policy pages, the public requirements list, the auditor's
log, the admin (index, every list the role sees and the first row's form), the sign-in page and
the 403 and 404 pages. Which pages a role opens comes from the access matrix
(casemgmt/security/access_matrix.py), so a new page is checked once it has its row there. Any
serious or critical violation fails, named by rule, page and node. A second set of tests tabs
through pages and checks that the focused element shows a focus indicator.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import Browser, BrowserContext, Page, expect

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.services.appeals import decision_of_record
from casemgmt.demo.management.commands.load_demo import DEFAULT_PASSWORD
from casemgmt.demo.story import cases_by_state
from casemgmt.retro.models import RetroReviewItem
from casemgmt.security.access_matrix import ADMIN_MODELS, ADMIN_PAGES, PAGES, Access, AdminAction, Entry, Persona
from policies_app.models import PolicyVersion, PolicyVersionStatus
from tests.browser.conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

FAILING_IMPACTS = ("serious", "critical")
# The demo users by role; the access matrix's persona for each.
ROLES: dict[str, Persona] = {
    "nurse": Persona.NURSE,
    "physician": Persona.PHYSICIAN,
    "manager": Persona.MANAGER,
    "editor": Persona.EDITOR,
    "auditor": Persona.AUDITOR,
}
# Roles whose admin pages are walked (the others see the admin's policy lists read-only, which
# the editor's walk covers).
ADMIN_WALKERS = {"editor", "manager"}
# Pages that are not HTML documents, are fragments htmx swaps into a page, or redirect.
NOT_A_PAGE = {
    "home",
    "healthz",
    "api_schema",
    "api_docs",
    "requirements_csv",
    "dashboard_export",
    "dashboard_report_export",
    "audit_export",
    "case_letter_pdf",
    "case_attachment_view",
    "retro_runs_panel",
    "retro_run_progress",
    "admin:jsi18n",
    "admin:autocomplete",
    "admin:login",
}
# Pages whose content does not depend on who reads them (a letter, a policy version, the public
# list): checked once, as the first role in ROLES that may open them, to keep the walk short.
SAME_FOR_EVERY_ROLE = {"case_letter", "policy_version_detail", "policy_search", "requirements_list"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# How many tab stops the focus test walks on a page.
TAB_STOPS = 12


@dataclass
class Demo:
    """`load_demo`'s data: what fills the access matrix's example paths."""

    url: str
    values: dict[str, list[str]] = field(default_factory=dict)
    # (case number, decision id) of every decided case: its letter.
    letters: list[tuple[str, str]] = field(default_factory=list)

    def paths(self, template: str, *, admin: bool = False) -> list[str]:
        """Every path the template names, one per value of its placeholder (none when the demo
        has no value for it). In the admin one version, the one with criteria, stands for all."""
        names = PLACEHOLDER.findall(template)
        if not names:
            return [template]
        if names == ["decided_case", "decision"]:
            return [template.format(decided_case=c, decision=d) for c, d in self.letters]
        values = self.values.get(names[0], []) if len(names) == 1 else []
        if admin:
            values = values[-1:]
        return [template.replace(f"{{{names[0]}}}", value) for value in values]


@pytest.fixture
def demo(live_server: object) -> Demo:
    call_command("load_demo", stdout=io.StringIO())
    portal = User.objects.get(username="portal")
    by_state = cases_by_state(client=portal)
    letters = []
    for _, case in by_state:
        decision = decision_of_record(case)
        if decision is not None:
            letters.append((case.case_number, str(decision.pk)))
    versions = PolicyVersion.objects.filter(status=PolicyVersionStatus.PUBLISHED).order_by("pk")
    last_event = AuditEvent.objects.order_by("-pk").first()
    return Demo(
        url=live_server.url,  # type: ignore[attr-defined]
        values={
            "case": [case.case_number for _, case in by_state],
            "version": [str(pk) for pk in versions.values_list("pk", flat=True)],
            "retro_item": [str(pk) for pk in RetroReviewItem.objects.values_list("pk", flat=True)],
            "audit_event": [str(last_event.pk)] if last_event else [],
        },
        letters=letters,
    )


def role_pages(role: str, demo: Demo) -> list[str]:
    """The pages the access matrix lets `role` open, filled in with the demo's data."""
    persona = ROLES[role]
    entries: list[Entry] = [*PAGES, *(ADMIN_PAGES if role in ADMIN_WALKERS else [])]
    paths: list[str] = []
    for entry in entries:
        if entry.method != "GET" or entry.name in NOT_A_PAGE or entry.access[persona] != Access.ALLOW:
            continue
        if 200 not in entry.ok:
            continue
        if entry.name in SAME_FOR_EVERY_ROLE and _first_role_allowed(entry) != role:
            continue
        if _walked_by_the_editor(entry, role):
            continue
        paths.extend(demo.paths(entry.path, admin=entry.path.startswith("/admin/")))
    return paths


def _first_role_allowed(entry: Entry) -> str | None:
    return next((role for role, persona in ROLES.items() if entry.access[persona] == Access.ALLOW), None)


def _walked_by_the_editor(entry: Entry, role: str) -> bool:
    """An admin page the editor opens too is checked once, on the editor's walk (the policy
    library); the index, which lists what each role sees, is checked for each."""
    return (
        role != "editor"
        and entry.path.startswith("/admin/")
        and entry.name != "admin:index"
        and entry.access[Persona.EDITOR] == Access.ALLOW
    )


def refused_page(role: str) -> str | None:
    """A page the role may not open (a 403 in the layout)."""
    persona = ROLES[role]
    for entry in PAGES:
        if entry.method == "GET" and entry.access[persona] == Access.FORBIDDEN and "{" not in entry.path:
            return entry.path
    return None


def admin_lists(role: str) -> list[str]:
    return [
        entry.path
        for entry in ADMIN_MODELS
        if entry.method == AdminAction.VIEW
        and entry.access[ROLES[role]] == Access.ALLOW
        and not entry.variant
        and not _walked_by_the_editor(entry, role)
    ]


@dataclass
class Finding:
    page: str
    text: str


class AxeWalk:
    """One signed-in browser context walking pages; collects serious and critical violations."""

    def __init__(self, context: BrowserContext) -> None:
        self.page = context.new_page()
        self.axe = Axe()
        self.findings: list[Finding] = []
        self.visited: list[str] = []

    def check(self, path: str, *, status: int = 200) -> Page:
        response = self.page.goto(path)
        self.visited.append(path)
        got = response.status if response is not None else 0
        if got != status:
            self.findings.append(Finding(path, f"answered {got}, expected {status}"))
            return self.page
        results = self.axe.run(self.page, options={"resultTypes": ["violations"]})
        for violation in results.response["violations"]:
            if violation["impact"] not in FAILING_IMPACTS:
                continue
            for node in violation["nodes"]:
                target = " ".join(str(t) for t in node["target"])
                html = re.sub(r"\s+", " ", node.get("html", ""))[:200]
                self.findings.append(
                    Finding(path, f"{violation['id']} ({violation['impact']}): {target}  {html}  — {violation['help']}")
                )
        return self.page

    def report(self, who: str) -> str:
        lines = [f"{len(self.findings)} problem(s) on the pages {who} opens ({len(self.visited)} pages):"]
        lines += [f"  {f.page}: {f.text}" for f in self.findings]
        return "\n".join(lines)


def password() -> str:
    return os.environ.get("DEMO_PASSWORD", DEFAULT_PASSWORD)


@pytest.fixture
def context(browser: Browser, demo: Demo) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=demo.url, viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def sign_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password())
    page.get_by_role("button", name="Sign in").click()
    # Each role lands on its start page: the work queue, the admin, the audit log.
    page.wait_for_url(lambda url: "/login/" not in url)


def admin_walk(walk: AxeWalk, role: str) -> None:
    """Each admin list the role sees, and the form of its first row."""
    for path in admin_lists(role):
        page = walk.check(path)
        first = page.locator("#result_list tbody tr").first.locator("th a, td a").first
        if first.count():
            href = first.get_attribute("href")
            if href:
                walk.check(href)


@pytest.mark.parametrize("role", list(ROLES))
def test_no_serious_or_critical_violation_on_any_page_the_role_opens(
    role: str, demo: Demo, context: BrowserContext
) -> None:
    walk = AxeWalk(context)
    sign_in(walk.page, role)
    for path in role_pages(role, demo):
        walk.check(path)
    if role in ADMIN_WALKERS:
        admin_walk(walk, role)
    refused = refused_page(role)
    if refused:
        walk.check(refused, status=403)
    walk.check("/no-such-page/", status=404)
    assert not walk.findings, walk.report(role)


def test_no_serious_or_critical_violation_on_the_pages_anyone_opens(demo: Demo, context: BrowserContext) -> None:
    walk = AxeWalk(context)
    walk.check("/login/")
    walk.check("/prior-authorization/requirements/")
    walk.check("/no-such-page/", status=404)
    assert not walk.findings, walk.report("a visitor who is not signed in")


FOCUS_STYLE = """() => {
  const el = document.activeElement;
  // Not :focus while the focus is inside the field's own browser-drawn parts (a date field's
  // calendar button), which the browser outlines itself.
  if (!el || el === document.body || !el.matches(':focus')) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  return {tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || el.name || '').trim().slice(0, 40),
          visible: Boolean(outline || shadow)};
}"""


def focus_stops_without_indicator(page: Page) -> list[str]:
    """Tab through the first TAB_STOPS stops of the page; the ones that show no focus indicator."""
    missing = []
    for _ in range(TAB_STOPS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_STYLE)
        if focused is not None and not focused["visible"]:
            missing.append(f"<{focused['tag']}> {focused['text']!r}")
    return missing


def test_every_tab_stop_of_the_sign_in_page_shows_where_the_focus_is(demo: Demo, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/login/")
    assert focus_stops_without_indicator(page) == []


@pytest.mark.parametrize(("role", "path"), [("nurse", "/queue/"), ("manager", "/dashboard/")])
def test_every_tab_stop_of_a_workspace_page_shows_where_the_focus_is(
    role: str, path: str, demo: Demo, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, role)
    page.goto(path)
    assert focus_stops_without_indicator(page) == []


def test_the_first_tab_stop_is_a_visible_link_to_the_main_content(demo: Demo, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, "nurse")
    page.goto("/queue/")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Skip to main content")
    expect(skip).to_be_in_viewport()
    skip.press("Enter")
    assert page.evaluate("() => location.hash") == "#main"

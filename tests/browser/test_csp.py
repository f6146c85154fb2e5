"""The Content Security Policy in a real browser: the main pages load with no violation.

Each page is visited as the persona who uses it, its htmx parts are exercised (the queue's
filter, the citation search), and every violation Chromium reports fails the test, whether as a
`securitypolicyviolation` event or as a console error. The policy itself is in settings
(CONTENT_SECURITY_POLICY); tests/casemgmt/security/test_csp.py checks the header and scans the templates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import ConsoleMessage, Page, expect

from casemgmt.cases.services.attachments import attachment_add
from tests.browser.conftest import PASSWORD, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# A one-page PDF and a 1x1 PNG: the case page shows both inline.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005fe02fea7d6a4"
    "0d0000000049454e44ae426082"
)
# Collects violations from the first moment of each document (an init script is not subject to the CSP).
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@dataclass
class Violations:
    page: Page
    console: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def collect(self) -> None:
        """Gather the current document's violation events (call before leaving a page)."""
        found = self.page.evaluate("window.__cspViolations || []")
        self.events += [f"{self.page.url}: {v}" for v in found]

    def assert_none(self) -> None:
        self.collect()
        assert not self.console and not self.events, f"CSP violations: {self.console + self.events}"


@pytest.fixture
def violations(page: Page) -> Iterator[Violations]:
    watched = Violations(page)
    page.add_init_script(WATCH_VIOLATIONS)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            watched.console.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    yield watched


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def sign_in(page: Page, username: str, path: str = "/login/") -> None:
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form [type=submit]").click()
    page.wait_for_load_state("networkidle")


def visit(page: Page, violations: Violations, path: str) -> None:
    violations.collect()
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    page.wait_for_load_state("networkidle")


def test_reviewer_pages_run_under_the_policy(
    page: Page, workspace: Workspace, violations: Violations, media: Path
) -> None:
    case = workspace.submit()
    portal = workspace.users["portal"]
    for name, data, kind in (("mri.pdf", PDF, "application/pdf"), ("scan.png", PNG, "image/png")):
        attachment_add(case_id=case.pk, user=portal, upload=SimpleUploadedFile(name, data, content_type=kind))
    decided = workspace.submit()
    workspace.approve(decided)
    decision = decided.decisions.get()

    visit(page, violations, "/login/")
    sign_in(page, "nurse")
    expect(page).to_have_url(re.compile(r"/queue/$"))
    # htmx: the filter form swaps the table (and shows its indicator) without a page load.
    page.get_by_label("Urgency").select_option("standard")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#queue-table")).to_contain_text(case.case_number)

    visit(page, violations, f"/cases/{case.case_number}/")
    expect(page.locator("iframe.pdf-view")).to_have_count(1)
    expect(page.locator("figure.attachment img")).to_have_count(1)
    # The PNG really loaded (img-src 'self'); a blocked image has no natural width.
    assert page.locator("figure.attachment img").evaluate("img => img.complete && img.naturalWidth > 0")
    # htmx: the citation search fills in its results in place.
    page.locator("input[type=search][name=q]").fill("07.01")
    page.wait_for_load_state("networkidle")

    visit(page, violations, f"/policies/versions/{workspace.mild_policy.pk}/")
    visit(page, violations, f"/cases/{decided.case_number}/letter/{decision.pk}/")
    violations.assert_none()


def test_the_dashboard_runs_under_the_policy(page: Page, workspace: Workspace, violations: Violations) -> None:
    decided = workspace.submit()
    workspace.approve(decided)
    sign_in(page, "manager")
    visit(page, violations, "/dashboard/")
    # The snapshot charts and the weekly trends: Chart.js (static/js) drew each canvas from the
    # page's JSON blocks, with no inline script.
    expect(page.locator("canvas[data-chart]").first).to_be_visible()
    expect(page.locator("canvas[data-trend]")).to_have_count(3)
    canvases = page.locator("canvas[data-chart], canvas[data-trend]")
    assert canvases.evaluate_all("cs => cs.every(c => window.Chart.getChart(c) !== undefined)")
    violations.assert_none()


def test_the_admin_runs_under_the_policy(page: Page, workspace: Workspace, violations: Violations) -> None:
    version = workspace.mild_policy
    sign_in(page, "editor", path="/admin/login/?next=/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    for path in (
        "/admin/",
        "/admin/policies_app/policyversion/",
        f"/admin/policies_app/policyversion/{version.pk}/change/",
        "/admin/policies_app/policyversion/add/",
        "/admin/policies_app/policy/",
        f"/admin/policies_app/policy/{version.policy_id}/change/",
        f"/admin/policies_app/policyversion/{version.pk}/compare/",
        f"/admin/policies_app/policyversion/{version.pk}/try/",
    ):
        visit(page, violations, path)
    # The add form's policy chooser is the admin's select2 autocomplete: open it and search.
    visit(page, violations, "/admin/policies_app/policyversion/add/")
    page.locator(".select2-selection").first.click()
    page.locator(".select2-search__field").fill("07")
    expect(page.locator(".select2-results__option").first).to_be_visible()
    # "Try it": the flags render with the admin's extra stylesheet.
    visit(page, violations, f"/admin/policies_app/policyversion/{version.pk}/try/")
    page.get_by_role("button", name="Try it").click()
    page.wait_for_load_state("networkidle")
    violations.assert_none()


def test_the_api_docs_run_under_the_policy(page: Page, workspace: Workspace, violations: Violations) -> None:
    visit(page, violations, "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("casemgmt prior authorization API")
    # Open one operation: Swagger UI renders its schema (inline SVG icons, styles set from script).
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    violations.assert_none()


def test_the_lockout_page_runs_under_the_policy(page: Page, workspace: Workspace, violations: Violations) -> None:
    from django.conf import settings

    visit(page, violations, "/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill("nurse")
        page.get_by_label("Password").fill("not-the-password")
        page.locator("form [type=submit]").click()
        page.wait_for_load_state("networkidle")
        if "Sign-in locked" in page.content():
            break
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    page.get_by_role("link", name="Back to sign in").click()
    page.wait_for_load_state("networkidle")
    violations.assert_none()

"""An editor imports a payer's policy saved as a web page, reads it beside its sources, creates the draft,
and confirms the fields the importer was unsure of before the draft can be published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from policies_app.models import CoveragePosition, PolicyVersion
from tests.browser.conftest import PASSWORD, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "importer" / "corpus"
DOCUMENT = CORPUS / "uni-01-spinal-cord-stimulation.html"
# Invented: a coverage sentence ending "when:" opens its list at 0.7, and a title read from a
# "Medical Policy:" line is read at 0.75, so the draft has fields the editor must confirm.
UNSURE_DOCUMENT = """Riverbend Health Plan
Medical Policy: Balloon Sinus Dilation
Policy Number: MP-4411
Effective Date: 03/01/2026

Policy
Balloon sinus dilation is considered medically necessary when:
1. The member is 18 years of age or older
2. Chronic rhinosinusitis is confirmed on CT

Codes
CPT 31295 Nasal/sinus endoscopy, surgical, with dilation of maxillary sinus ostium
"""
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_an_editor_reads_a_web_page_policy_beside_its_sources_and_creates_the_draft(
    page: Page, workspace: Workspace, media: Path
) -> None:
    console: list[str] = []
    page.add_init_script(WATCH_VIOLATIONS)
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/admin/login/?next=/admin/policies_app/policy/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form [type=submit]").click()

    page.get_by_role("link", name="Import a policy document").click()
    page.get_by_label("Policy document").set_input_files(str(DOCUMENT))
    page.get_by_role("button", name="Read document").click()

    source = page.locator("pre.import-text")
    expect(source.locator("mark").first).to_be_visible()
    number = page.locator('button.source-link[data-field="f-number"]')
    number.click()
    active = source.locator("mark.active")
    expect(active.first).to_be_visible()
    expect(page.locator("#src-f-number")).to_have_class("active")
    assert number.inner_text().strip() in source.locator('mark[data-fields~="f-number"]').first.inner_text()

    assert not console and not page.evaluate("window.__cspViolations"), f"CSP violations: {console}"
    # axe-core injects its own styles, so the policy is checked before it runs.
    serious = [
        v["id"]
        for v in Axe().run(page, options={"resultTypes": ["violations"]}).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"accessibility violations on the import page: {serious}"

    page.get_by_role("button", name="Create draft").click()
    expect(page.locator(".messagelist")).to_contain_text("created from uni-01-spinal-cord-stimulation.html")
    draft = PolicyVersion.objects.get(status="draft", source_sha256__gt="")
    assert page.url.endswith(f"/admin/policies_app/policy/import/?draft={draft.pk}")
    page.get_by_role("link", name="Open the draft").click()
    assert page.url.endswith(f"/admin/policies_app/policyversion/{draft.pk}/change/")


def serious_violations(page: Page) -> list[str]:
    return [
        v["id"]
        for v in Axe().run(page, options={"resultTypes": ["violations"]}).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_publishing_waits_until_the_editor_confirms_each_unsure_field(
    page: Page, workspace: Workspace, media: Path, settings: Any, tmp_path: Path
) -> None:
    document = tmp_path / "mp-4411-balloon-sinus-dilation.txt"
    document.write_text(UNSURE_DOCUMENT)
    settings.POLICY_PUBLISH_NEEDS_SECOND_EDITOR = False
    page.goto("/admin/login/?next=/admin/policies_app/policy/import/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form [type=submit]").click()
    page.get_by_label("Policy document").set_input_files(str(document))
    page.get_by_role("button", name="Read document").click()
    expect(page.locator(".check-this").first).to_be_visible()
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator(".messagelist")).to_contain_text("confirm the fields marked below")

    draft = PolicyVersion.objects.get(status="draft", source_sha256__gt="")
    unsure = draft.field_reviews.order_by("pk").first()
    assert unsure is not None and unsure.confirmed_at is None
    # What the editor settles on the draft's page, outside this walk: the notes and one position.
    PolicyVersion.objects.filter(pk=draft.pk).update(
        missing_fields=[], coverage_position=CoveragePosition.MEDICALLY_NECESSARY_WITH_CRITERIA
    )

    page.get_by_role("link", name="Open the draft").click()
    page.get_by_role("button", name="Submit for review").click()
    messages = page.locator(".messagelist")
    expect(messages).to_contain_text(f"confirm the imported {unsure.label.lower()}")

    page.get_by_role("link", name="Confirm them on the import page").click()
    assert not serious_violations(page), "accessibility violations on the draft review"
    for review in draft.field_reviews.order_by("pk"):
        page.locator(f"#review-{review.pk}").get_by_role("button", name=f"Confirm {review.label.lower()}").click()
        expect(page.locator(".messagelist")).to_contain_text("confirmed")
        expect(page.locator(f"#review-{review.pk}")).to_have_class("confirmed")

    page.get_by_role("link", name="Open the draft").click()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator(".messagelist")).to_contain_text("submitted for review")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".messagelist")).to_contain_text("published")
    assert PolicyVersion.objects.get(pk=draft.pk).status == "published"

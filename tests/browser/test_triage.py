"""Triage at intake as a nurse sees it (issue 17): an automatic approval, a gold-card approval and a
duplicate flag. The data is built through the services a plan would use: an editor's policy that
allows approval when its criteria are met, a manager's switch and gold-card programme, requests
from the portal."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from casemgmt.cases.models import Authorization, Case, CaseStatus
from casemgmt.cases.services.gold_cards import gold_card_programme_create
from casemgmt.cases.services.intake import LineInput, MemberInput
from casemgmt.cases.services.triage import intake_settings_update
from tests import factories
from tests.browser.conftest import PASSWORD, USERS, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def sign_in(page: Page, username: str) -> None:
    # Leaving the page first stops its in-flight requests, whose responses would otherwise put the
    # previous person's CSRF cookie back after the clear and fail the sign-in.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header.topbar")).to_contain_text(USERS[username][1])


def open_case(page: Page, case: Case) -> None:
    page.goto(f"/cases/{case.case_number}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.case_number)


def line(code: str) -> LineInput:
    return LineInput(code_system="CPT", code=code, units=1, date_of_service=timezone.localdate() + timedelta(days=10))


def test_a_nurse_sees_a_request_approved_at_intake_because_its_criteria_are_met(
    page: Page, workspace: Workspace
) -> None:
    # Not a code of the seed policies, which would flag it investigational.
    factories.criteria_library(workspace.users["editor"], auto_approve=True, code="27447")
    intake_settings_update(user=workspace.users["manager"], automatic_approval=True)
    case = workspace.submit(service_lines=(line("27447"),), clinical_facts={"conservative_therapy_weeks": 16})
    authorization = Authorization.objects.get(case=case)

    sign_in(page, "nurse")
    page.goto("/queue/")
    expect(page.locator("#queue-table")).not_to_contain_text(case.case_number)
    open_case(page, case)

    expect(page.get_by_role("heading", level=1).locator(".status")).to_have_text("Decided")
    decision = page.locator("article.decision")
    expect(decision).to_contain_text("Automated review at intake")
    expect(decision).to_contain_text("Approved automatically at intake")
    expect(decision).to_contain_text("At least 12 weeks of conservative therapy (16)")
    expect(page.locator("table.authorizations")).to_contain_text(authorization.authorization_number)
    expect(page.locator("#decide")).to_have_count(0)


def test_a_manager_grants_a_gold_card_and_the_nurse_sees_the_providers_next_request_approved(
    page: Page, workspace: Workspace
) -> None:
    intake_settings_update(user=workspace.users["manager"], automatic_approval=True)
    gold_card_programme_create(
        user=workspace.users["manager"],
        name="Epidural injections",
        line_of_business="commercial",
        code_system="CPT",
        code_start="62321",
    )

    sign_in(page, "manager")
    page.goto("/gold-cards/")
    grant = page.locator("form.grant-form")
    grant.get_by_label("Programme").select_option(label="Epidural injections")
    grant.get_by_label("Provider NPI").fill(factories.VALID_NPI)
    grant.get_by_label("Reason").fill("Clean record on peer review")
    grant.get_by_role("button", name="Grant").click()
    expect(page.locator("table.gold-cards")).to_contain_text(factories.VALID_NPI)

    case = workspace.submit(service_lines=(line("62321"),))
    assert case.status == CaseStatus.DECIDED

    sign_in(page, "nurse")
    open_case(page, case)
    decision = page.locator("article.decision")
    expect(decision).to_contain_text("gold card")
    expect(decision).to_contain_text("Epidural injections")
    expect(decision).to_contain_text("Clean record on peer review")


def test_a_nurse_sees_a_repeated_request_flagged_with_the_earlier_case(page: Page, workspace: Workspace) -> None:
    member = MemberInput(member_id="M-TWICE", first_name="Ada", last_name="Case", birth_date=date(1960, 5, 1))
    first = workspace.submit(member=member, external_id="EHR-FIRST")
    second = workspace.submit(member=member, external_id="EHR-AGAIN")

    sign_in(page, "nurse")
    open_case(page, second)

    flag = page.locator("li.flag[data-kind='duplicate_request']")
    expect(flag).to_contain_text("Duplicate of an earlier request")
    expect(flag).to_contain_text(first.case_number)

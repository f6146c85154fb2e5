"""The requirement rules' admin: editors draft, edit, publish, retire and version; reviewers read."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.security.services import roles_sync_permissions
from policies_app.models import RequirementRule
from tests import factories

pytestmark = pytest.mark.django_db

RULES = "/admin/policies_app/requirementrule/"


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    roles_sync_permissions()


def signed_in(user: User) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def form(**overrides: str) -> dict[str, str]:
    data = {
        "code_system": "CPT",
        "code_start": "99202",
        "code_end": "99215",
        "diagnosis_codes": "",
        "line_of_business": "",
        "requirement": "not_required",
        "effective_start": "2026-01-01",
        "effective_end": "",
        "policy": "",
        "note": "Office visits.",
    }
    data.update(overrides)
    return data


def test_editor_adds_a_draft_rule_through_the_service(editor):
    response = signed_in(editor).post(f"{RULES}add/", form(diagnosis_codes="M48.06, M54.16"))
    assert response.status_code == 302
    rule = RequirementRule.objects.get()
    assert (rule.status, rule.created_by, rule.diagnosis_codes) == ("draft", editor, ["M48.06", "M54.16"])
    assert AuditEvent.objects.filter(object_type=AuditObject.REQUIREMENT_RULE, object_id=str(rule.pk)).count() == 1


def test_invalid_code_is_shown_beside_the_field(editor):
    response = signed_in(editor).post(f"{RULES}add/", form(code_start="9920"))
    assert response.status_code == 200
    assert "is not a CPT code" in text(response)
    assert not RequirementRule.objects.exists()


def test_editor_edits_a_draft(editor):
    rule = factories.requirement_rule(editor, publish=False)
    response = signed_in(editor).post(
        f"{RULES}{rule.pk}/change/", form(code_start="62330", code_end="", requirement="notification_only")
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.requirement == "notification_only"


def test_published_rule_is_read_only_even_to_its_editor(editor):
    rule = factories.requirement_rule(editor)
    browser = signed_in(editor)
    assert browser.post(f"{RULES}{rule.pk}/change/", form()).status_code == 403
    assert 'name="requirement"' not in text(browser.get(f"{RULES}{rule.pk}/change/"))


def test_publish_action_confirms_a_suggested_rule(editor):
    rule = factories.requirement_rule(editor, publish=False, source_text="PRIOR APPROVAL: Not applicable.")
    response = signed_in(editor).post(RULES, {"action": "publish_rules", "_selected_action": [str(rule.pk)]})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.status, rule.published_by) == ("published", editor)


def test_refused_publish_is_a_message_naming_the_rule(editor):
    factories.requirement_rule(editor)
    clash = factories.requirement_rule(editor, publish=False, effective_start=date(2025, 1, 1))
    response = signed_in(editor).post(
        RULES, {"action": "publish_rules", "_selected_action": [str(clash.pk)]}, follow=True
    )
    assert f"CPT 62330 (rule {clash.pk})" in text(response)
    clash.refresh_from_db()
    assert clash.status == "draft"


def test_retire_action_retires(editor):
    rule = factories.requirement_rule(editor)
    signed_in(editor).post(RULES, {"action": "retire_rules", "_selected_action": [str(rule.pk)]})
    rule.refresh_from_db()
    assert rule.status == "retired"


def test_new_version_action_makes_a_draft_successor(editor):
    rule = factories.requirement_rule(editor)
    signed_in(editor).post(RULES, {"action": "new_version", "_selected_action": [str(rule.pk)]})
    assert RequirementRule.objects.get(supersedes=rule).status == "draft"


def test_list_shows_labels_and_the_suggestion_source(editor):
    version = factories.draft_version()
    factories.requirement_rule(
        editor,
        publish=False,
        requirement="not_required",
        source_text="PRIOR APPROVAL: Not applicable.",
        suggested_from_id=version.pk,
    )
    page = text(signed_in(editor).get(f"{RULES}?origin=suggested"))
    assert "No prior authorization required" in page
    assert "All lines of business" in page
    assert "PRIOR APPROVAL: Not applicable." in page


def test_list_filters_by_requirement(editor):
    factories.requirement_rule(editor, requirement="not_covered", code_start="15830")
    factories.requirement_rule(editor, requirement="required")
    page = text(signed_in(editor).get(f"{RULES}?requirement__exact=not_covered"))
    assert "15830" in page
    assert "62330" not in page


def test_search_finds_a_code(editor):
    factories.requirement_rule(editor, code_start="15830")
    factories.requirement_rule(editor)
    page = text(signed_in(editor).get(f"{RULES}?q=15830"))
    assert "15830" in page
    assert "CPT 62330" not in page


def test_nurse_reads_rules_but_cannot_add(nurse, editor):
    factories.requirement_rule(editor)
    browser = signed_in(nurse)
    assert browser.get(RULES).status_code == 200
    assert browser.get(f"{RULES}add/").status_code == 403


def test_nurse_cannot_run_actions(nurse, editor):
    rule = factories.requirement_rule(editor, publish=False)
    signed_in(nurse).post(RULES, {"action": "publish_rules", "_selected_action": [str(rule.pk)]})
    rule.refresh_from_db()
    assert rule.status == "draft"


def test_policy_version_admin_sets_approval_when_criteria_are_met(editor):
    version = factories.draft_version()
    page = text(signed_in(editor).get(f"/admin/policies_app/policyversion/{version.pk}/change/"))
    assert 'name="auto_approve_when_met"' in page

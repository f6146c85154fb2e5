from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import User
from django.test import Client

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.cases.admin import AuthorizationValidityRuleForm
from casemgmt.cases.models import ApiToken, DeadlineRule
from casemgmt.cases.services.triage import intake_settings
from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.security.services import api_token_create, api_token_revoke, roles_sync_permissions

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    roles_sync_permissions()


def signed_in_staff(user: User) -> Client:
    # Managers are staff in production (demo_user_ensure); the conftest persona is not.
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def token(integration_client: User) -> ApiToken:
    return api_token_create(user=integration_client, label="EHR")[0]


def test_manager_edits_a_deadline_rule(manager: User) -> None:
    rule = DeadlineRule.objects.get(review_type="prospective", urgency="expedited", line_of_business="")

    response = signed_in_staff(manager).post(
        f"/admin/casemgmt/deadlinerule/{rule.pk}/change/",
        {
            "review_type": "prospective",
            "urgency": "expedited",
            "line_of_business": "",
            "hours": "48",
            "pend_extension_hours": "48",
            "source": "Plan",
        },
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.hours, rule.pend_extension_hours, rule.source) == (48, 48, "Plan")


def test_deadline_rule_duplicate_scope_is_a_form_error(manager: User) -> None:
    response = signed_in_staff(manager).post(
        "/admin/casemgmt/deadlinerule/add/",
        {"review_type": "prospective", "urgency": "expedited", "line_of_business": "", "hours": "24", "source": "x"},
    )

    assert response.status_code == 200
    assert DeadlineRule.objects.filter(review_type="prospective", urgency="expedited", line_of_business="").count() == 1


def test_manager_revokes_a_token_with_the_list_action(manager: User, token: ApiToken) -> None:
    response = signed_in_staff(manager).post(
        "/admin/casemgmt/apitoken/", {"action": "revoke", "_selected_action": [str(token.pk)]}, follow=True
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert f"Token {token} revoked." in html.unescape(response.content.decode())


def test_manager_revokes_a_token_from_its_change_page(manager: User, token: ApiToken) -> None:
    browser = signed_in_staff(manager)
    page = browser.get(f"/admin/casemgmt/apitoken/{token.pk}/change/").content.decode()

    response = browser.post(f"/admin/casemgmt/apitoken/{token.pk}/revoke/")

    assert f'action="/admin/casemgmt/apitoken/{token.pk}/revoke/"' in page
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_tokens_cannot_be_added_in_the_admin(manager: User) -> None:
    assert signed_in_staff(manager).get("/admin/casemgmt/apitoken/add/").status_code == 403


def test_nurse_has_no_access_to_tokens(nurse: User, token: ApiToken) -> None:
    browser = signed_in_staff(nurse)

    assert browser.get("/admin/casemgmt/apitoken/").status_code == 403
    assert browser.post(f"/admin/casemgmt/apitoken/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_api_token_revoke_keeps_the_first_revocation_time(manager: User, token: ApiToken) -> None:
    first = api_token_revoke(token_id=token.pk, user=manager).revoked_at

    again = api_token_revoke(token_id=token.pk, user=manager)

    assert first is not None
    assert again.revoked_at == first


def test_api_token_revoke_requires_the_manager_role(nurse: User, token: ApiToken) -> None:
    with pytest.raises(PermissionDeniedError):
        api_token_revoke(token_id=token.pk, user=nurse)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_manager_turns_automatic_approval_on_in_the_admin_through_the_service(manager: User) -> None:
    response = signed_in_staff(manager).post(
        "/admin/casemgmt/intakesettings/1/change/", {"automatic_approval": "on", "_save": "Save"}
    )

    assert response.status_code == 302, response.content
    assert intake_settings().automatic_approval is True
    assert intake_settings().changed_by == manager
    assert AuditEvent.objects.filter(object_type=AuditObject.INTAKE_SETTINGS).count() == 1


def validity_rule_form(**codes: str) -> AuthorizationValidityRuleForm:
    data = {"name": "Spine imaging", "line_of_business": "commercial", "days_before": 0, "days_after": 90, **codes}
    return AuthorizationValidityRuleForm(data=data)


def test_a_validity_rule_with_a_mistyped_code_is_a_form_error_on_its_field() -> None:
    form = validity_rule_form(code_system="CPT", code_start="7214")
    assert not form.is_valid()
    assert "is not a CPT code" in form.errors["code_start"][0]


def test_a_validity_rule_with_a_reversed_range_is_a_form_error_on_its_end() -> None:
    form = validity_rule_form(code_system="CPT", code_start="72158", code_end="72141")
    assert not form.is_valid()
    assert "72141" in form.errors["code_end"][0]


def test_a_validity_rule_keeps_an_icd10cm_range_of_differing_length_in_the_code_sets_form() -> None:
    form = validity_rule_form(code_system="ICD10CM", code_start="e1010", code_end="E109")
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["code_start"], form.cleaned_data["code_end"]) == ("E10.10", "E10.9")


def test_a_validity_rule_saves_an_icd10cm_range_in_tabular_order_that_text_order_reverses() -> None:
    # C7A (malignant neuroendocrine tumours) comes after C75 and before C76 in the code set.
    form = validity_rule_form(code_system="ICD10CM", code_start="C7A", code_end="C76")
    assert form.is_valid(), form.errors

    rule = form.save()

    rule.refresh_from_db()
    assert (rule.code_start, rule.code_end) == ("C7A", "C76")

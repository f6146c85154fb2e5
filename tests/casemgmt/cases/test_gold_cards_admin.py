"""The managers' admin for gold-card programmes (through the services) and exemptions (read-only)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.cases.models import GoldCardExemption, GoldCardProgramme, GoldCardStatus
from casemgmt.cases.services.gold_cards import gold_card_grant
from casemgmt.security.services import roles_sync_permissions
from tests import factories
from tests.factories import VALID_NPI

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Lumbar injections",
    "line_of_business": "commercial",
    "policy": "",
    "code_system": "CPT",
    "code_start": "62320",
    "code_end": "62327",
    "min_approval_rate": "90",
    "period_months": "6",
    "min_requests": "5",
}


@pytest.fixture
def admin_browser(manager: User) -> Client:
    roles_sync_permissions()
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(manager)
    return browser


def test_a_manager_defines_a_programme_in_the_admin_through_the_service(admin_browser, manager):
    response = admin_browser.post("/admin/casemgmt/goldcardprogramme/add/", FORM)

    assert response.status_code == 302
    programme = GoldCardProgramme.objects.get()
    assert (programme.code_end, programme.created_by) == ("62327", manager)
    [row] = AuditEvent.objects.filter(object_type=AuditObject.GOLD_CARD_PROGRAMME)
    assert row.action == "create"


def test_the_admin_shows_the_services_refusal_on_its_field(admin_browser):
    response = admin_browser.post("/admin/casemgmt/goldcardprogramme/add/", {**FORM, "code_end": "62310"})

    assert response.status_code == 200
    assert "range 62320-62310 must run from the lower to the higher code" in response.content.decode()
    assert not GoldCardProgramme.objects.exists()


def test_evaluate_now_runs_the_evaluation_as_the_manager(admin_browser, manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager)
    for _ in range(5):
        factories.decided_case(integration_client, nurse)

    admin_browser.post(
        "/admin/casemgmt/goldcardprogramme/", {"action": "evaluate_now", "_selected_action": [programme.pk]}
    )

    assert GoldCardExemption.objects.filter(programme=programme, status=GoldCardStatus.ACTIVE).count() == 1
    run = AuditEvent.objects.get(object_type=AuditObject.GOLD_CARD_PROGRAMME, detail__event="evaluated")
    assert run.actor == manager


def test_deactivating_in_the_admin_ends_the_programmes_cards(admin_browser, manager):
    programme = factories.gold_card_programme(manager)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    admin_browser.post(
        "/admin/casemgmt/goldcardprogramme/",
        {"action": "deactivate_programmes", "_selected_action": [programme.pk]},
    )

    card.refresh_from_db()
    programme.refresh_from_db()
    assert (programme.active, card.status) == (False, GoldCardStatus.ENDED)


def test_exemptions_are_read_only_in_the_admin(admin_browser, manager):
    programme = factories.gold_card_programme(manager)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    assert admin_browser.get(f"/admin/casemgmt/goldcardexemption/{card.pk}/change/").status_code == 200
    assert admin_browser.get("/admin/casemgmt/goldcardexemption/add/").status_code == 403

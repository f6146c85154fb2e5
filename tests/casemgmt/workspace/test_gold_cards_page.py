"""The gold-card page /gold-cards/: exemptions with their evidence; managers grant and revoke."""

from __future__ import annotations

import pytest

from casemgmt.cases.models import GoldCardExemption, GoldCardStatus
from casemgmt.cases.services.gold_cards import gold_card_grant, gold_card_revoke
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in
from tests.factories import OTHER_VALID_NPI, VALID_NPI

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme(manager):
    return factories.gold_card_programme(manager, name="Lumbar injections")


def test_the_page_lists_cards_active_first_with_their_evidence_and_labels(manager, nurse, programme):
    revoked = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=OTHER_VALID_NPI, reason="Pilot.")
    gold_card_revoke(user=manager, exemption_id=revoked.pk, reason="Complaint upheld.")
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Known clinic.")

    page = signed_in(nurse).get("/gold-cards/").content.decode()

    assert page.index(VALID_NPI) < page.index(OTHER_VALID_NPI)
    assert "Granted by a manager" in page
    assert "Revoked by a manager" in page
    assert "Complaint upheld." in page
    assert "0 of 0 requests approved (0.00%)" in page
    assert "Commercial" in page
    assert ">granted<" not in page and ">revoked<" not in page


def test_a_nurse_sees_no_grant_or_revoke_form(manager, nurse, programme):
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    page = signed_in(nurse).get("/gold-cards/").content.decode()

    assert "Grant a gold card" not in page
    assert "/revoke" not in page


def test_the_list_filters_by_status_and_npi(manager, programme):
    revoked = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=OTHER_VALID_NPI, reason="Pilot.")
    gold_card_revoke(user=manager, exemption_id=revoked.pk, reason="Complaint upheld.")
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")
    browser = signed_in(manager)

    by_status = browser.get("/gold-cards/", {"status": "revoked"}).content.decode()
    by_npi = browser.get("/gold-cards/", {"npi": VALID_NPI}).content.decode()

    assert f'id="exemption-{revoked.pk}"' in by_status and f"<td>{VALID_NPI}</td>" not in by_status
    assert f"<td>{OTHER_VALID_NPI}</td>" not in by_npi and f"<td>{VALID_NPI}</td>" in by_npi


def test_a_manager_grants_a_card_from_the_page(manager, programme):
    response = signed_in(manager).post(
        "/gold-cards/grant", {"programme": programme.pk, "provider_npi": VALID_NPI, "reason": "Known clinic."}
    )

    assert response.status_code == 302
    card = GoldCardExemption.objects.get()
    assert (card.provider_npi, card.status, card.granted_by) == (VALID_NPI, GoldCardStatus.ACTIVE, manager)


def test_a_refused_grant_says_why_with_the_fields_label(manager, programme):
    response = signed_in(manager).post(
        "/gold-cards/grant", {"programme": programme.pk, "provider_npi": "1234567890", "reason": "Known."}, follow=True
    )

    assert "Not granted: Provider NPI:" in response.content.decode()
    assert not GoldCardExemption.objects.exists()


def test_a_manager_revokes_a_card_in_place_with_a_reason(manager, programme):
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    signed_in(manager).post(f"/gold-cards/{card.pk}/revoke", {"reason": "Complaint upheld."})

    card.refresh_from_db()
    assert (card.status, card.ended_reason) == (GoldCardStatus.REVOKED, "Complaint upheld.")


def test_revoking_a_card_no_longer_active_says_so(manager, programme):
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")
    gold_card_revoke(user=manager, exemption_id=card.pk, reason="First.")

    response = signed_in(manager).post(f"/gold-cards/{card.pk}/revoke", {"reason": "Second."}, follow=True)

    assert "Not revoked: This gold card is no longer active" in response.content.decode()


def test_a_physician_may_not_revoke(manager, physician, programme):
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    response = signed_in(physician).post(f"/gold-cards/{card.pk}/revoke", {"reason": "No."})

    assert response.status_code == 403
    card.refresh_from_db()
    assert card.status == GoldCardStatus.ACTIVE


def test_an_auditor_may_not_see_the_page(auditor):
    assert signed_in(auditor).get("/gold-cards/").status_code == 403


def test_the_nav_links_the_page_for_reviewers(nurse):
    assert 'href="/gold-cards/"' in signed_in(nurse).get("/queue/").content.decode()

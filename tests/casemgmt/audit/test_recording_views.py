"""Every view of member data is recorded: who, role, from where, what; refusals too."""

from __future__ import annotations

import pytest
from django.test import Client

from casemgmt.audit.models import AuditAction, AuditChannel, AuditEvent, AuditObject
from casemgmt.cases.models import ApiToken
from tests import factories
from tests.casemgmt.audit.conftest import BROWSER_AGENT, api, only, rows, web

pytestmark = pytest.mark.django_db


# --- pages ------------------------------------------------------------------------------------


def test_case_page_view_records_who_role_where_and_what(world, nurse):
    response = web(nurse, ip="203.0.113.7").get(f"/cases/{world.case.case_number}/?q=policy+words")
    assert response.status_code == 200
    event = only(action=AuditAction.VIEW, object_type=AuditObject.CASE)
    assert (event.actor, event.actor_username, event.roles) == (nurse, "nina.nurse", "nurse_reviewer")
    assert (event.object_id, event.case_number) == (world.case.case_number, world.case.case_number)
    assert (event.channel, event.ip, event.user_agent) == (AuditChannel.WEB, "203.0.113.7", BROWSER_AGENT)
    assert (event.method, event.status_code) == ("GET", 200)
    # The path, never the query string.
    assert event.path == f"/cases/{world.case.case_number}/"
    assert len(event.request_id) == 32


def test_queue_records_the_case_numbers_it_listed(integration_client, manager):
    first, second = factories.case(integration_client), factories.case(integration_client)
    assert web(manager).get("/queue/").status_code == 200
    event = only(action=AuditAction.LIST, object_type=AuditObject.CASE)
    assert set(event.object_ids.split()) == {first.case_number, second.case_number}
    assert (event.roles, event.case_number) == ("manager", "")


def test_letter_page_and_pdf_are_recorded(world, manager):
    browser = web(manager)
    base = f"/cases/{world.case.case_number}/letter/{world.decision.pk}"
    assert browser.get(f"{base}/?to=provider").status_code == 200
    assert browser.get(f"{base}.pdf?to=member").status_code == 200
    page = only(action=AuditAction.VIEW, object_type=AuditObject.LETTER)
    pdf = only(action=AuditAction.DOWNLOAD, object_type=AuditObject.LETTER)
    assert (page.object_id, page.case_number, page.detail["recipient"]) == (
        str(world.decision.pk),
        world.case.case_number,
        "provider",
    )
    assert (pdf.detail["recipient"], pdf.path) == ("member", f"{base}.pdf")


def test_attachment_download_on_the_web_is_recorded(world, physician):
    url = f"/cases/{world.case.case_number}/attachments/{world.attachment.pk}/view"
    assert web(physician).get(url).status_code == 200
    event = only(action=AuditAction.DOWNLOAD, object_type=AuditObject.ATTACHMENT)
    assert (event.object_id, event.case_number, event.roles) == (
        str(world.attachment.pk),
        world.case.case_number,
        "physician_reviewer",
    )


# --- the API ----------------------------------------------------------------------------------


def test_api_case_list_records_the_case_numbers_returned(world, integration_client, other_client):
    factories.case(other_client)  # not the client's: not returned, not listed
    client = api(integration_client, ip="198.51.100.4")
    assert client.get("/api/v1/cases?status=decided").status_code == 200
    event = only(action=AuditAction.LIST, object_type=AuditObject.CASE)
    assert event.object_ids == world.case.case_number
    assert (event.channel, event.ip, event.path) == (AuditChannel.API, "198.51.100.4", "/api/v1/cases")
    assert event.detail["api_token"] == ApiToken.objects.filter(user=integration_client).latest("id").prefix


def test_api_case_read_is_recorded(world, integration_client):
    assert api(integration_client).get(f"/api/v1/cases/{world.case.case_number}").status_code == 200
    event = only(action=AuditAction.VIEW, object_type=AuditObject.CASE)
    assert (event.actor, event.roles, event.case_number) == (
        integration_client,
        "integration_client",
        world.case.case_number,
    )


def test_api_decisions_read_is_recorded(world, integration_client):
    assert api(integration_client).get(f"/api/v1/cases/{world.case.case_number}/decisions").status_code == 200
    event = only(action=AuditAction.LIST, object_type=AuditObject.DECISION)
    assert (event.case_number, event.object_ids) == (world.case.case_number, str(world.decision.pk))


def test_api_attachment_list_and_download_are_recorded(world, integration_client):
    client = api(integration_client)
    base = f"/api/v1/cases/{world.case.case_number}/attachments"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}/{world.attachment.pk}").status_code == 200
    listed = only(action=AuditAction.LIST, object_type=AuditObject.ATTACHMENT)
    downloaded = only(action=AuditAction.DOWNLOAD, object_type=AuditObject.ATTACHMENT)
    assert listed.object_ids == str(world.attachment.pk)
    assert (downloaded.object_id, downloaded.case_number) == (str(world.attachment.pk), world.case.case_number)


def test_api_write_is_not_recorded_twice_as_a_view(integration_client):
    client = api(integration_client)
    assert client.post("/api/v1/cases", factories.api_case_body(), format="json").status_code == 201
    assert [e.action for e in rows(channel=AuditChannel.API)] == [AuditAction.CREATE]


# --- refusals ---------------------------------------------------------------------------------


def test_another_clients_case_over_the_api_is_recorded_as_denied(world, other_client):
    assert api(other_client).get(f"/api/v1/cases/{world.case.case_number}").status_code == 404
    event = only(action=AuditAction.DENIED)
    assert (event.actor, event.object_type, event.case_number, event.status_code) == (
        other_client,
        AuditObject.CASE,
        world.case.case_number,
        404,
    )
    assert event.detail["attempted"] == AuditAction.VIEW


def test_a_case_page_refused_to_a_role_without_access_is_recorded_as_denied(world, editor):
    assert web(editor).get(f"/cases/{world.case.case_number}/").status_code == 403
    event = only(action=AuditAction.DENIED)
    assert (event.actor, event.case_number, event.status_code) == (editor, world.case.case_number, 403)


def test_an_unknown_case_number_is_recorded_as_denied(nurse):
    assert web(nurse).get("/cases/PA-NOSUCH00/").status_code == 404
    assert only(action=AuditAction.DENIED).case_number == "PA-NOSUCH00"


def test_any_other_refusal_is_recorded_by_the_middleware(nurse):
    assert web(nurse).get("/dashboard/").status_code == 403
    event = only(action=AuditAction.DENIED)
    assert (event.object_type, event.path, event.status_code, event.actor) == (
        AuditObject.PAGE,
        "/dashboard/",
        403,
        nurse,
    )


def test_an_unauthenticated_api_call_is_recorded_as_denied():
    response = Client(REMOTE_ADDR="192.0.2.99").get("/api/v1/cases", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    event = only(action=AuditAction.DENIED)
    assert (event.actor, event.actor_username, event.ip, event.status_code) == (None, "", "192.0.2.99", 401)


def test_anonymous_case_page_is_a_sign_in_redirect_and_records_nothing(world):
    before = AuditEvent.objects.count()
    response = Client().get(f"/cases/{world.case.case_number}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert AuditEvent.objects.count() == before


# --- sign-in ----------------------------------------------------------------------------------


def test_sign_in_and_sign_out_are_recorded(nurse):
    browser = Client(REMOTE_ADDR="10.0.0.5")
    response = browser.post("/login/", {"username": "nina.nurse", "password": factories.PASSWORD})
    assert response.status_code == 302
    browser.post("/logout/")
    signed_in = only(action=AuditAction.SIGN_IN)
    signed_out = only(action=AuditAction.SIGN_OUT)
    assert (signed_in.actor, signed_in.ip, signed_in.path, signed_in.channel) == (nurse, "10.0.0.5", "/login/", "web")
    assert (signed_out.actor, signed_out.path) == (nurse, "/logout/")


def test_failed_sign_in_is_recorded_with_the_name_tried_and_never_the_password(nurse):
    response = Client(REMOTE_ADDR="10.0.0.6").post("/login/", {"username": "nina.nurse", "password": "wrong-guess-77"})
    assert response.status_code == 200
    event = only(action=AuditAction.SIGN_IN_FAILED)
    assert (event.actor, event.actor_username, event.ip) == (None, "nina.nurse", "10.0.0.6")
    assert event.detail["account_exists"] is True
    assert "wrong-guess-77" not in str(event.detail) + str(event.changes)


def test_failed_sign_in_to_the_admin_is_recorded_on_the_admin_channel(db):
    Client().post("/admin/login/", {"username": "nobody", "password": "x"})
    event = only(action=AuditAction.SIGN_IN_FAILED)
    assert (event.actor_username, event.channel, event.detail["account_exists"]) == ("nobody", "admin", False)


# --- where from -------------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_a_trusted_proxy(world, nurse):
    web(nurse, ip="10.0.0.1").get(f"/cases/{world.case.case_number}/", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert only(action=AuditAction.VIEW).ip == "10.0.0.1"


def test_forwarded_for_is_read_from_a_trusted_proxy(world, nurse, settings):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    web(nurse, ip="10.0.0.1").get(
        f"/cases/{world.case.case_number}/", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.50, 10.2.3.4"
    )
    # Right to left: 10.2.3.4 is another trusted proxy, 203.0.113.50 the first address none vouches for.
    assert only(action=AuditAction.VIEW).ip == "203.0.113.50"


# --- fail closed ------------------------------------------------------------------------------


def test_a_view_whose_audit_row_cannot_be_written_shows_nothing(world, nurse, monkeypatch):
    from casemgmt.audit import models

    def broken(self, *args, **kwargs):
        raise RuntimeError("audit store unavailable")

    browser = web(nurse)
    monkeypatch.setattr(models.AuditEvent, "save", broken)
    browser.raise_request_exception = False
    response = browser.get(f"/cases/{world.case.case_number}/")
    assert response.status_code == 500
    assert world.case.member_last_name.encode() not in response.content

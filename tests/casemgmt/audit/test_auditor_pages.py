"""The auditor's pages: who may use them, the filters, paging, a row's detail, the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.audit.views import PAGE_SIZE
from tests import factories
from tests.casemgmt.audit.conftest import only, web

pytestmark = pytest.mark.django_db

PAGES = ["/audit/", "/audit/export.csv"]


def shown(html: str) -> list[int]:
    """Audit row ids in the order the table shows them."""
    return [int(i) for i in re.findall(r'<tr id="audit-(\d+)"', html)]


def listing(user, query: str = "") -> str:
    response = web(user).get("/audit/" + query)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def record(**kwargs) -> AuditEvent:
    kwargs.setdefault("action", AuditAction.VIEW)
    kwargs.setdefault("object_type", AuditObject.CASE)
    return audit_record(**kwargs)


# --- who may ----------------------------------------------------------------------------------


def test_auditor_may_browse_read_and_export(auditor):
    event = record(object_id="PA-AAAA0001", case_number="PA-AAAA0001")
    browser = web(auditor)
    assert browser.get("/audit/").status_code == 200
    assert browser.get(f"/audit/{event.pk}/").status_code == 200
    assert browser.get("/audit/export.csv").status_code == 200


@pytest.mark.parametrize("persona", ["nurse", "physician", "manager", "editor", "integration_client", "outsider"])
def test_every_other_role_is_refused_with_403(persona, request):
    user = request.getfixturevalue(persona)
    event = record()
    browser = web(user)
    for url in [*PAGES, f"/audit/{event.pk}/"]:
        assert browser.get(url).status_code == 403, url


def test_anonymous_is_sent_to_sign_in(db):
    event = record()
    for url in [*PAGES, f"/audit/{event.pk}/"]:
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_the_audit_log_is_in_the_auditors_nav_only(auditor, nurse):
    assert 'href="/audit/"' in listing(auditor)
    assert 'href="/audit/"' not in web(nurse).get("/queue/").content.decode()


def test_an_auditor_signing_in_lands_on_the_audit_log(auditor):
    response = Client().post("/login/", {"username": auditor.username, "password": factories.PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/audit/"


# --- filters ----------------------------------------------------------------------------------


def test_filter_by_actor(auditor, nurse, manager):
    mine = record(user=nurse)
    record(user=manager)
    assert shown(listing(auditor, "?actor=nina")) == [mine.pk]


def test_filter_by_role(auditor, nurse, manager):
    record(user=nurse)
    theirs = record(user=manager)
    assert shown(listing(auditor, "?role=manager")) == [theirs.pk]


def test_filter_by_action_and_object_type(auditor):
    record(action=AuditAction.VIEW, object_type=AuditObject.CASE)
    letter = record(action=AuditAction.DOWNLOAD, object_type=AuditObject.LETTER, object_id="12")
    assert shown(listing(auditor, "?action=download")) == [letter.pk]
    assert shown(listing(auditor, "?object_type=letter")) == [letter.pk]


def test_filter_by_object_finds_the_case_however_it_was_touched(auditor):
    viewed = record(object_id="PA-AAAA0001", case_number="PA-AAAA0001")
    letter = record(object_type=AuditObject.LETTER, object_id="7", case_number="PA-AAAA0001")
    listed = record(action=AuditAction.LIST, object_ids=["PA-BBBB0002", "PA-AAAA0001"])
    record(object_id="PA-CCCC0003", case_number="PA-CCCC0003")
    record(action=AuditAction.LIST, object_ids=["PA-AAAA00011"])  # a longer number is not a match
    assert shown(listing(auditor, "?object_id=pa-aaaa0001")) == [listed.pk, letter.pk, viewed.pk]


def test_filter_by_channel(auditor, integration_client):
    factories.case(integration_client)  # a command-channel row here (no request)
    assert shown(listing(auditor, "?channel=api")) == []
    assert len(shown(listing(auditor, "?channel=command"))) == 1


def test_filter_by_date_range_includes_the_end_day(auditor):
    today = timezone.localdate()
    recent = record()
    # Rows cannot be updated, so the old one is written with its earlier time from the start.
    earlier = AuditEvent.objects.create(
        at=timezone.now() - timedelta(days=10), actor_username="x", channel="web", action="view", object_type="case"
    )
    day = (today - timedelta(days=10)).isoformat()
    assert shown(listing(auditor, f"?date_from={day}&date_to={day}")) == [earlier.pk]
    from_today = shown(listing(auditor, f"?date_from={today.isoformat()}"))
    assert recent.pk in from_today and earlier.pk not in from_today


def test_filter_by_ip(auditor, world, nurse):
    web(nurse, ip="192.0.2.77").get(f"/cases/{world.case.case_number}/")
    web(nurse, ip="192.0.2.78").get(f"/cases/{world.case.case_number}/")
    found = [AuditEvent.objects.get(pk=i) for i in shown(listing(auditor, "?ip=192.0.2.77&action=view"))]
    assert [(e.ip, e.case_number) for e in found] == [("192.0.2.77", world.case.case_number)]


def test_bad_filters_are_a_400_naming_the_field(auditor):
    response = web(auditor).get("/audit/?date_from=2025-02-30&ip=999.1.1.1")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid date" in html and "Enter a valid IPv4 or IPv6 address" in html


def test_an_end_before_the_start_is_refused(auditor):
    response = web(auditor).get("/audit/?date_from=2025-03-02&date_to=2025-03-01")
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()


# --- paging and detail ------------------------------------------------------------------------


def test_pages_go_from_newest_to_older(auditor):
    made = [record(object_id=f"PA-{i:08d}") for i in range(PAGE_SIZE + 3)]
    first = listing(auditor, "?object_type=case&action=view")
    assert shown(first) == [e.pk for e in reversed(made)][:PAGE_SIZE]
    older = re.search(r'href="(\?[^"]*after=\d+[^"]*)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "object_type=case" in older  # the filters are kept
    assert shown(listing(auditor, older)) == [e.pk for e in reversed(made)][PAGE_SIZE:]


def test_detail_shows_the_fields_changed_with_old_and_new_values(auditor, integration_client, nurse):
    case = factories.case(integration_client)
    from casemgmt.cases.services.assignment import case_claim

    case_claim(case_id=case.pk, user=nurse)
    event = only(action=AuditAction.CHANGE, case_number=case.case_number)
    html = web(auditor).get(f"/audit/{event.pk}/").content.decode()
    assert re.search(r'<th scope="row">Status</th><td>Received</td><td>In review</td>', html)
    assert re.search(r'<th scope="row">Assignee</th><td>—</td><td>nina.nurse</td>', html)


# --- reading the log is recorded --------------------------------------------------------------


def test_browsing_and_reading_are_recorded(auditor):
    event = record()
    browser = web(auditor, ip="10.7.7.7")
    browser.get("/audit/?action=view")
    browser.get(f"/audit/{event.pk}/")
    browsed = only(action=AuditAction.LIST, object_type=AuditObject.AUDIT_LOG)
    read = only(action=AuditAction.VIEW, object_type=AuditObject.AUDIT_LOG)
    assert (browsed.actor, browsed.roles, browsed.detail["filters"]) == (auditor, "auditor", {"action": "view"})
    assert (read.object_id, read.ip) == (str(event.pk), "10.7.7.7")


# --- export -----------------------------------------------------------------------------------


def exported(user, query: str = "") -> list[dict[str, str]]:
    response = web(user).get("/audit/export.csv" + query)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    body = b"".join(getattr(response, "streaming_content", []))
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_export_has_every_matching_row_oldest_first(auditor, nurse):
    made = [record(user=nurse, object_id=f"PA-{i:08d}") for i in range(PAGE_SIZE + 5)]
    record(action=AuditAction.DOWNLOAD)
    found = exported(auditor, "?action=view")
    assert [int(r["id"]) for r in found] == [e.pk for e in made]
    assert found[0]["actor_username"] == "nina.nurse" and found[0]["roles"] == "nurse_reviewer"


def test_export_records_itself_with_its_filters_and_size(auditor):
    record()
    record()
    exported(auditor, "?object_type=case")
    event = only(action=AuditAction.EXPORT)
    assert (event.object_type, event.actor, event.detail["filters"], event.detail["rows"]) == (
        AuditObject.AUDIT_LOG,
        auditor,
        {"object_type": "case"},
        2,
    )


def test_export_neutralises_spreadsheet_formulas(auditor):
    audit_record(action=AuditAction.SIGN_IN_FAILED, object_type=AuditObject.USER, user=None, username="=HYPERLINK(1)")
    row = next(r for r in exported(auditor) if r["action"] == "sign_in_failed")
    assert row["actor_username"] == "'=HYPERLINK(1)"


def test_export_with_bad_filters_is_a_400(auditor):
    response = web(auditor).get("/audit/export.csv?date_to=nope")
    assert response.status_code == 400
    assert b"date_to" in response.content

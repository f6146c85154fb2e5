"""The audit log page: the whole width, rows in people's words, a row's detail opened in place."""

from __future__ import annotations

import pytest

from casemgmt.audit.models import AuditEvent
from casemgmt.audit.services import audit_record
from tests.casemgmt.audit.conftest import web

pytestmark = pytest.mark.django_db


@pytest.fixture
def change(nurse) -> AuditEvent:
    audit_record(
        action="change",
        object_type="retro_review",
        object_id=7,
        case_number="PA-TEST0001",
        user=nurse,
        roles=["nurse_reviewer"],
        changes={"status": ("open", "in_review"), "clinical_facts": (None, {"smoking_status": "never"})},
    )
    return AuditEvent.objects.filter(object_type="retro_review").latest("id")


def test_the_log_shows_roles_and_objects_in_words(auditor, change):
    html = web(auditor).get("/audit/").content.decode()

    assert '<div class="audit-page">' in html  # the page takes the whole width (app.css)
    assert "Nurse reviewer" in html and "Retrospective review 7" in html
    assert ">nurse_reviewer<" not in html and ">retro_review" not in html


def test_a_rows_detail_opens_in_place_under_it(auditor, change):
    page = web(auditor).get("/audit/").content.decode()
    assert f'hx-get="/audit/{change.pk}/" hx-target="#audit-{change.pk}-detail"' in page
    assert f'<tr id="audit-{change.pk}-detail" class="audit-detail-slot" hidden></tr>' in page

    fragment = web(auditor).get(f"/audit/{change.pk}/", HTTP_HX_REQUEST="true")

    html = fragment.content.decode()
    assert html.lstrip().startswith(f'<tr id="audit-{change.pk}-detail" class="audit-detail-row">')
    assert "<html" not in html
    assert "In review" in html and "Status" in html
    assert "<code>{&quot;smoking_status&quot;: &quot;never&quot;}</code>" in html
    assert fragment["Vary"].count("HX-Request") == 1


def test_opening_a_detail_in_place_is_recorded_like_the_page(auditor, change):
    web(auditor).get(f"/audit/{change.pk}/", HTTP_HX_REQUEST="true")

    assert AuditEvent.objects.filter(object_type="audit_log", action="view", object_id=str(change.pk)).exists()


def test_the_detail_page_still_stands_on_its_own(auditor, change):
    html = web(auditor).get(f"/audit/{change.pk}/").content.decode()

    assert 'class="topbar"' in html and "Back to the audit log" in html and "In review" in html

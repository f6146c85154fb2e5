"""A manager sees on the case page who viewed or changed the case, when and from where."""

from __future__ import annotations

import re

import pytest

from casemgmt.audit.selectors import case_access_history
from casemgmt.cases.services.assignment import case_claim
from tests import factories
from tests.casemgmt.audit.conftest import api, web

pytestmark = pytest.mark.django_db


def history_rows(html: str) -> list[str]:
    section = re.search(r'<section class="card" id="access-history">(.*?)</section>', html, re.S)
    assert section, "no access history on the page"
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr class=.*?</tr>", section.group(1), re.S)
    ]


def test_manager_sees_who_viewed_and_changed_the_case(world, nurse, manager, integration_client):
    web(nurse, ip="10.20.30.40").get(f"/cases/{world.case.case_number}/attachments/{world.attachment.pk}/view")
    api(integration_client, ip="192.0.2.5").get(f"/api/v1/cases/{world.case.case_number}")
    html = web(manager).get(f"/cases/{world.case.case_number}/").content.decode()
    shown = history_rows(html)
    # Newest first: the client's API read, the nurse's download, then the changes.
    assert shown[0].endswith("ehr.client Integration client View Case REST API 192.0.2.5")
    assert "nina.nurse Nurse reviewer Download Attachment" in shown[1] and shown[1].endswith("10.20.30.40")
    assert any("phil.physician Physician reviewer Create Decision" in row for row in shown)
    assert shown[-1].split(" ", 2)[2].startswith("ehr.client Integration client Create Case")


def test_the_history_names_the_fields_a_change_touched(integration_client, nurse, manager):
    case = factories.case(integration_client)
    case_claim(case_id=case.pk, user=nurse)
    html = web(manager).get(f"/cases/{case.case_number}/").content.decode()
    assert any("Change Case (Assignee, Status)" in row for row in history_rows(html))


def test_nurse_and_physician_do_not_see_the_history(world, nurse, physician):
    for user in (nurse, physician):
        html = web(user).get(f"/cases/{world.case.case_number}/").content.decode()
        assert 'id="access-history"' not in html


def test_list_appearances_are_left_out_of_a_cases_history(integration_client, nurse):
    case = factories.case(integration_client)
    web(nurse).get("/queue/")
    from casemgmt.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="list", object_ids=case.case_number).exists()
    assert [e.action for e in case_access_history(case.case_number)] == ["create"]

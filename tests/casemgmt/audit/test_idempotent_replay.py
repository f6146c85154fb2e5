"""A replayed POST (the same Idempotency-Key again) sends back the stored answer, which can show a
case: the replay is recorded as a view of what it shows, so it is never an unrecorded read."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from casemgmt.audit.models import AuditAction, AuditChannel, AuditObject
from casemgmt.audit.selectors import case_access_history
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.retro.models import RetroRun
from tests import factories
from tests.casemgmt.audit.conftest import PNG, api, only, rows
from tests.casemgmt.retro.conftest import days_ago

pytestmark = pytest.mark.django_db


def post_twice(client, url: str, body, key: str, **extra):
    first = client.post(url, body, HTTP_IDEMPOTENCY_KEY=key, **extra)
    second = client.post(url, body, HTTP_IDEMPOTENCY_KEY=key, **extra)
    return first, second


def test_a_replayed_submission_is_recorded_as_a_view_of_the_case(integration_client):
    client = api(integration_client, ip="192.0.2.44")
    first, second = post_twice(client, "/api/v1/cases", factories.api_case_body(), "submit-1", format="json")
    assert (first.status_code, second.status_code, second["Idempotent-Replayed"]) == (201, 201, "true")
    number = second.json()["case_number"]
    event = only(action=AuditAction.VIEW, object_type=AuditObject.CASE)
    assert (event.object_id, event.case_number, event.actor) == (number, number, integration_client)
    assert (event.channel, event.ip, event.method, event.path) == (
        AuditChannel.API,
        "192.0.2.44",
        "POST",
        "/api/v1/cases",
    )
    assert (event.status_code, event.detail["idempotent_replay"]) == (201, True)


def test_the_first_answer_is_recorded_by_its_service_not_as_a_view(integration_client):
    response = api(integration_client).post(
        "/api/v1/cases", factories.api_case_body(), HTTP_IDEMPOTENCY_KEY="once", format="json"
    )
    assert response.status_code == 201
    assert rows(action=AuditAction.VIEW) == []
    assert len(rows(action=AuditAction.CREATE, object_type=AuditObject.CASE)) == 1


def test_each_replay_writes_its_own_row(integration_client):
    client = api(integration_client)
    for _ in range(3):
        client.post("/api/v1/cases", factories.api_case_body(), HTTP_IDEMPOTENCY_KEY="thrice", format="json")
    assert len(rows(action=AuditAction.VIEW, object_type=AuditObject.CASE)) == 2


def test_a_replay_is_in_the_cases_access_history(integration_client):
    _, second = post_twice(api(integration_client), "/api/v1/cases", factories.api_case_body(), "k", format="json")
    number = second.json()["case_number"]
    assert [e.action for e in case_access_history(number)] == [AuditAction.VIEW, AuditAction.CREATE]


def test_a_replayed_decision_is_recorded_as_a_view_of_the_decision_on_its_case(integration_client, physician):
    case = factories.case(integration_client)
    body = {"lines": [{"service_line": 1, "outcome": "approved"}]}
    first, second = post_twice(
        api(physician), f"/api/v1/cases/{case.case_number}/decisions", body, "decide-1", format="json"
    )
    assert (first.status_code, second.status_code) == (201, 201)
    event = only(action=AuditAction.VIEW, object_type=AuditObject.DECISION)
    assert (event.object_id, event.case_number, event.actor) == (str(first.json()["id"]), case.case_number, physician)


def test_a_replayed_information_answer_is_recorded_as_a_view_of_the_case(integration_client, nurse):
    case = factories.case(integration_client)
    case_pend_for_information(case_id=case.pk, user=nurse, needed="weeks of therapy")
    url = f"/api/v1/cases/{case.case_number}/information"
    body = {"clinical_facts": {"conservative_therapy_weeks": 12}}
    first, second = post_twice(api(integration_client), url, body, "info-1", format="json")
    assert (first.status_code, second.status_code) == (200, 200)
    event = only(action=AuditAction.VIEW, object_type=AuditObject.CASE)
    assert (event.object_id, event.case_number, event.path) == (case.case_number, case.case_number, url)


def test_a_replayed_cancel_is_recorded_as_a_view_of_the_case(integration_client):
    case = factories.case(integration_client)
    url = f"/api/v1/cases/{case.case_number}/cancel"
    first, second = post_twice(api(integration_client), url, {"reason": "member withdrew"}, "cancel-1", format="json")
    assert (first.status_code, second.status_code) == (200, 200)
    event = only(action=AuditAction.VIEW, object_type=AuditObject.CASE)
    assert (event.object_id, event.case_number, event.path) == (case.case_number, case.case_number, url)


def test_a_replayed_pend_is_recorded_as_a_view_of_the_case(integration_client, nurse):
    case = factories.case(integration_client)
    url = f"/api/v1/cases/{case.case_number}/pend"
    first, second = post_twice(api(nurse), url, {"needed": "weeks of therapy"}, "pend-1", format="json")
    assert (first.status_code, second.status_code) == (200, 200)
    event = only(action=AuditAction.VIEW, object_type=AuditObject.CASE)
    assert (event.case_number, event.actor) == (case.case_number, nurse)


def test_a_replayed_attachment_is_recorded_as_a_view_of_it(integration_client):
    case = factories.case(integration_client)
    client = api(integration_client)
    url = f"/api/v1/cases/{case.case_number}/attachments"
    answers = [
        client.post(
            url,
            {"file": SimpleUploadedFile("scan.png", PNG, content_type="image/png")},
            HTTP_IDEMPOTENCY_KEY="attach-1",
            format="multipart",
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    event = only(action=AuditAction.VIEW, object_type=AuditObject.ATTACHMENT)
    assert (event.object_id, event.case_number) == (str(answers[0].json()["id"]), case.case_number)


def test_a_replayed_refusal_records_no_view(integration_client, nurse):
    case = factories.case(integration_client)
    body = {"lines": [{"service_line": 1, "outcome": "denied", "reason": "No."}]}
    # A nurse may not deny: the refusal is stored, and the replay gets it again.
    first, second = post_twice(api(nurse), f"/api/v1/cases/{case.case_number}/decisions", body, "deny", format="json")
    assert (first.status_code, second.status_code) == (403, 403)
    assert rows(action=AuditAction.VIEW) == []


def test_a_replayed_run_start_is_not_a_read_of_member_data(manager):
    policy = factories.policy(number="RP.01", title="Replayed")
    body = {"policy_id": policy.pk, "date_from": str(days_ago(30)), "date_to": str(days_ago(1))}
    first, second = post_twice(api(manager), "/api/v1/retro/runs", body, "run-1", format="json")
    assert (first.status_code, second.status_code, second["Idempotent-Replayed"]) == (201, 201, "true")
    assert RetroRun.objects.count() == 1
    assert rows(action=AuditAction.VIEW) == []

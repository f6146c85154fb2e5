"""The cost of `POST /api/v1/cases` in SQL statements, and the 201 body it answers with.

The 201 body must be exactly what `GET /api/v1/cases/{case_number}` returns.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, CaseEvent, Flag, WebhookDelivery
from casemgmt.cases.services.webhooks import webhook_subscribe
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

# A submission of 3 lines without clinical facts, after a first one (which touches the token's
# last use and builds the engine index), on either database: the token; the client's roles; the
# candidate deadline rules; the library stamp (is the engine index current?); the line of
# business's duplicate rule and the member's earlier lines of the same services; in one
# transaction the case, its lines, flags and events (one insert each), the client's webhooks
# and the audit row; then the lines for the answer (its flags are the ones just written). The test's own
# transaction turns the submission's into a savepoint and its release: two statements more.
QUERIES_WITHOUT_FACTS = 15
# Clinical facts are checked against the fact catalogue: one more read.
FACTS_READS = 1
# A request triage answers at intake writes the automated reviewer's decision and its lines (the
# reviewer's account is read once per process); its events and audit rows go into the same
# inserts as the case's.
ANSWERED_WRITES = 2


def _client_for(user) -> APIClient:
    _, raw = api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


# The warm-up request is another member's, so the measured one repeats nothing.
WARM_UP_MEMBER = {"member_id": "M-WARM", "first_name": "Wes", "last_name": "Warm", "birth_date": "1970-01-01"}


def _body(external_id: str, **overrides: Any) -> dict[str, Any]:
    dos = (timezone.localdate() + timedelta(days=14)).isoformat()
    lines = [
        {"code_system": "CPT", "code": "62330", "units": 1, "date_of_service": dos, "description": "mild, L4-L5"},
        {"code_system": "CPT", "code": "62331", "units": 2, "date_of_service": dos, "modifiers": ["59"]},
        {"code_system": "CPT", "code": "72148", "units": 1, "date_of_service": dos, "description": "MRI lumbar"},
    ]
    return factories.api_case_body(
        external_id=external_id,
        service_lines=lines,
        diagnosis_codes=["M48.062", "M54.16"],
        servicing_provider={"npi": factories.OTHER_VALID_NPI, "name": "Surgery Center"},
        **overrides,
    )


@pytest.fixture
def library(editor) -> None:
    factories.two_policy_library(editor)


def _submit_counted(api: APIClient, body: dict[str, Any]) -> tuple[dict[str, Any], int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/cases", body, format="json")
    assert response.status_code == 201, response.content
    return response.json(), len(queries.captured_queries), [q["sql"] for q in queries.captured_queries]


def test_three_line_submission_costs_its_known_number_of_queries(integration_client, library):
    api = _client_for(integration_client)
    _submit_counted(api, _body("WARM-UP", member=WARM_UP_MEMBER))

    body, count, statements = _submit_counted(api, _body("EHR-2"))

    assert count == QUERIES_WITHOUT_FACTS, "\n".join(statements)
    # Nothing is superseded on a new case.
    assert not any(sql.startswith("UPDATE") for sql in statements), "\n".join(statements)
    assert len(body["service_lines"]) == 3
    assert [(f["service_line"], f["kind"]) for f in body["flags"]] == [
        (1, "investigational"),
        (2, "criteria_incomplete"),
    ]


def test_submission_with_clinical_facts_reads_the_catalogue_once_more(integration_client, library):
    api = _client_for(integration_client)
    _submit_counted(api, _body("WARM-UP", member=WARM_UP_MEMBER))

    body, count, statements = _submit_counted(api, _body("EHR-3", clinical_facts={"conservative_therapy_weeks": 14}))

    assert count == QUERIES_WITHOUT_FACTS + FACTS_READS, "\n".join(statements)
    assert [(f["service_line"], f["kind"]) for f in body["flags"]] == [(1, "investigational"), (2, "criteria_met")]


def test_a_request_answered_at_intake_costs_its_known_number_of_queries(integration_client, library, editor):
    for code in ("62330", "62331", "72148"):
        factories.requirement_rule(editor, code_start=code, requirement="not_required")
    api = _client_for(integration_client)
    _submit_counted(api, _body("WARM-UP", member=WARM_UP_MEMBER))

    body, count, statements = _submit_counted(api, _body("EHR-NA"))

    assert body["status"] == "closed"
    assert count == QUERIES_WITHOUT_FACTS + ANSWERED_WRITES, "\n".join(statements)
    assert not any(sql.startswith("UPDATE") for sql in statements), "\n".join(statements)


def test_the_201_of_a_request_answered_at_intake_is_what_get_returns(integration_client, library, editor):
    factories.requirement_rule(editor, code_start="72148", requirement="not_required")
    api = _client_for(integration_client)

    created = api.post("/api/v1/cases", _body("EHR-NA2"), format="json")
    fetched = api.get(f"/api/v1/cases/{created.json()['case_number']}")

    assert created.json() == fetched.json()
    assert created.json()["service_lines"][2]["determination"]["review_action_code"] == "NA"


@pytest.mark.parametrize("facts", [{}, {"conservative_therapy_weeks": 6}])
def test_201_body_is_what_get_returns(integration_client, library, facts):
    api = _client_for(integration_client)

    created = api.post("/api/v1/cases", _body("EHR-4", clinical_facts=facts), format="json")
    assert created.status_code == 201, created.content
    fetched = api.get(f"/api/v1/cases/{created.json()['case_number']}")

    assert fetched.status_code == 200
    assert created.json() == fetched.json()
    assert created.json()["flags"], "the comparison must cover flags"


def test_submission_records_events_in_order_and_current_flags(integration_client, library):
    api = _client_for(integration_client)
    body = api.post("/api/v1/cases", _body("EHR-5"), format="json").json()

    case = Case.objects.get(case_number=body["case_number"])
    events = list(CaseEvent.objects.filter(case=case).order_by("id"))
    assert [(e.kind, e.actor_id) for e in events] == [("received", integration_client.pk), ("flagged", None)]
    assert events[0].detail == {"due_at": case.due_at.isoformat(), "rule": str(case.deadline_rule)}
    assert events[1].detail == {"flags": len(body["flags"])}
    assert events[0].at == events[1].at == case.received_at
    assert Flag.objects.filter(case=case, superseded_at__isnull=True).count() == len(body["flags"])


def test_received_webhook_carries_the_status_without_reading_it_back(integration_client, library, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook_subscribe(client=integration_client, url="https://hooks.example.test/a")
    webhook_subscribe(client=integration_client, url="https://hooks.example.test/b")
    api = _client_for(integration_client)

    body = api.post("/api/v1/cases", _body("EHR-6"), format="json").json()

    deliveries = WebhookDelivery.objects.filter(event__case__case_number=body["case_number"])
    assert sorted(d.subscription.url for d in deliveries) == [
        "https://hooks.example.test/a",
        "https://hooks.example.test/b",
    ]
    for delivery in deliveries:
        assert delivery.event.kind == "received"
        assert delivery.payload["status"] == "received"
        assert delivery.payload["case_number"] == body["case_number"]
        assert delivery.payload["external_id"] == "EHR-6"

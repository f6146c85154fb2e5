from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, Decision
from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    _, raw = api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.fixture
def investigational(editor):
    return factories.publish(factories.draft_version(), editor)


def test_submit_returns_201_with_case_and_flags(integration_client, investigational):
    response = client_for(integration_client).post("/api/v1/cases", factories.api_case_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "received"
    assert body["service_lines"][0]["sequence"] == 1
    flag = body["flags"][0]
    assert (flag["service_line"], flag["kind"]) == (1, "investigational")
    assert flag["citation"]["policy_version_id"] == investigational.pk
    assert flag["citation"]["version"] == "2024-01"


def test_submit_without_credentials_is_401(db):
    response = APIClient().post("/api/v1/cases", factories.api_case_body(), format="json")
    assert response.status_code == 401


def test_revoked_token_is_refused(integration_client):
    token, raw = api_token_create(user=integration_client)
    token.revoked_at = token.created_at
    token.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/cases").status_code == 401


def test_invalid_body_is_400_naming_each_field_path(integration_client):
    body = factories.api_case_body(
        urgency="whenever",
        surprise="x",
        service_lines=[{"code_system": "CPT", "code": "62330", "units": 0, "date_of_service": "2026-02-30"}],
    )
    response = client_for(integration_client).post("/api/v1/cases", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"urgency", "surprise", "service_lines[0].units", "service_lines[0].date_of_service"} <= set(errors)
    assert Case.objects.count() == 0


def test_domain_validation_is_400_naming_each_field_path(integration_client):
    body = factories.api_case_body(diagnosis_codes=["M48.06X"], requesting_provider={"npi": "1234567890", "name": "x"})
    response = client_for(integration_client).post("/api/v1/cases", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"diagnosis_codes[0]", "requesting_provider.npi"}


def test_malformed_json_is_400_not_500(integration_client):
    response = client_for(integration_client).post("/api/v1/cases", "{oops", content_type="application/json")
    assert response.status_code == 400


def test_wrong_content_type_is_415(integration_client):
    response = client_for(integration_client).post("/api/v1/cases", "a=b", content_type="text/plain")
    assert response.status_code == 415


def test_duplicate_external_id_is_409_with_existing_case_number(integration_client):
    api = client_for(integration_client)
    first = api.post("/api/v1/cases", factories.api_case_body(), format="json").json()
    second = api.post("/api/v1/cases", factories.api_case_body(), format="json")
    assert second.status_code == 409
    assert second.json()["case_number"] == first["case_number"]


def test_client_lists_only_its_own_cases(integration_client, other_client):
    mine = factories.case(integration_client)
    factories.case(other_client)
    response = client_for(integration_client).get("/api/v1/cases")
    assert [c["case_number"] for c in response.json()["results"]] == [mine.case_number]


def test_client_cannot_read_another_clients_case(integration_client, other_client):
    theirs = factories.case(other_client)
    response = client_for(integration_client).get(f"/api/v1/cases/{theirs.case_number}")
    assert response.status_code == 404


def test_outsider_sees_no_cases(integration_client, outsider):
    case = factories.case(integration_client)
    api = client_for(outsider)
    assert api.get("/api/v1/cases").json()["results"] == []
    assert api.get(f"/api/v1/cases/{case.case_number}").status_code == 404


def test_reviewer_reads_any_case(integration_client, nurse):
    case = factories.case(integration_client)
    api = APIClient()
    api.force_authenticate(nurse)
    assert api.get(f"/api/v1/cases/{case.case_number}").status_code == 200


def test_list_filters_by_status(integration_client):
    factories.case(integration_client)
    api = client_for(integration_client)
    assert api.get("/api/v1/cases?status=decided").json()["count"] == 0
    assert api.get("/api/v1/cases?status=received").json()["count"] == 1
    assert api.get("/api/v1/cases?status=bogus").status_code == 400


def test_nurse_denial_is_403_saying_why(integration_client, nurse, investigational):
    case = factories.case(integration_client)
    api = APIClient()
    api.force_authenticate(nurse)
    body = {
        "lines": [{"service_line": 1, "outcome": "denied", "reason": "Investigational."}],
        "citations": [{"policy_version_id": investigational.pk}],
    }
    response = api.post(f"/api/v1/cases/{case.case_number}/decisions", body, format="json")
    assert response.status_code == 403
    assert "physician" in response.json()["detail"]
    assert not Decision.objects.exists()


def test_physician_denial_is_201_with_frozen_citation(integration_client, physician, investigational):
    case = factories.case(integration_client)
    api = APIClient()
    api.force_authenticate(physician)
    body = {
        "lines": [{"service_line": 1, "outcome": "denied", "reason": "Investigational per policy TP.01."}],
        "citations": [{"policy_version_id": investigational.pk, "criterion": "The procedure is investigational."}],
        "rationale": "No evidence of improved outcomes.",
    }
    response = api.post(f"/api/v1/cases/{case.case_number}/decisions", body, format="json")
    assert response.status_code == 201, response.content
    decision = response.json()
    assert decision["lines"][0]["review_action_code"] == "A3"
    assert decision["citations"][0]["policy_number"] == "TP.01"
    assert decision["citations"][0]["content_sha256"] == investigational.content_sha256
    listed = client_for(integration_client).get(f"/api/v1/cases/{case.case_number}/decisions").json()
    assert listed[0]["id"] == decision["id"]


def test_client_may_not_record_decisions(integration_client):
    case = factories.case(integration_client)
    body = {"lines": [{"service_line": 1, "outcome": "approved"}]}
    response = client_for(integration_client).post(f"/api/v1/cases/{case.case_number}/decisions", body, format="json")
    assert response.status_code == 403


def test_openapi_schema_is_served(nurse):
    api = APIClient()
    api.force_authenticate(nurse)
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/cases" in response.content


def test_retry_with_same_idempotency_key_replays_and_creates_nothing(integration_client):
    api = client_for(integration_client)
    first = api.post("/api/v1/cases", factories.api_case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/cases", factories.api_case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Case.objects.count() == 1


def test_same_idempotency_key_with_other_body_is_422(integration_client):
    api = client_for(integration_client)
    api.post("/api/v1/cases", factories.api_case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    other = api.post(
        "/api/v1/cases", factories.api_case_body(external_id="EHR-2"), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert other.status_code == 422
    assert Case.objects.count() == 1


def test_idempotency_key_still_in_progress_is_409(integration_client, monkeypatch):
    from django.db import connection
    from django.utils import timezone

    from casemgmt.api.idempotency import request_fingerprint
    from casemgmt.cases.models import IdempotencyRecord

    body = factories.api_case_body()
    IdempotencyRecord.objects.create(
        client=integration_client,
        key="k-3",
        method="POST",
        path="/api/v1/cases",
        request_sha256=request_fingerprint("POST", "/api/v1/cases", body),
        status="in_progress",
        started_at=timezone.now(),
    )
    # Whether the claim's owner is alive is read from its row lock where the database can refuse
    # a lock at once (tests/casemgmt/api/test_idempotency.py holds one from another connection);
    # here, from the claim's age, on either database.
    monkeypatch.setattr(connection.features, "has_select_for_update_nowait", False)
    response = client_for(integration_client).post("/api/v1/cases", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert response.status_code == 409
    assert Case.objects.count() == 0


def test_refused_request_is_replayed_with_the_same_refusal(integration_client):
    api = client_for(integration_client)
    body = factories.api_case_body(diagnosis_codes=["M48.06X"])
    first = api.post("/api/v1/cases", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    again = api.post("/api/v1/cases", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()


def test_information_reevaluates_flags_and_reopens_pended_case(integration_client, physician, editor):
    from casemgmt.cases.models import CaseStatus
    from policies_app.models import Criterion

    version = factories.draft_version(coverage_position="medically_necessary_with_criteria")
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of")
    factories.leaf(version, root, "At least 12 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 12)
    factories.publish(version, editor)
    case = factories.case(integration_client)
    assert case.flags.get().kind == "criteria_incomplete"
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="pended")],
        citations=[],
    )
    response = client_for(integration_client).post(
        f"/api/v1/cases/{case.case_number}/information",
        {"clinical_facts": {"conservative_therapy_weeks": 14}, "clinical_notes": "PT notes attached."},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert [f["kind"] for f in response.json()["flags"]] == ["criteria_met"]
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW


def test_information_with_unknown_fact_is_400(integration_client):
    case = factories.case(integration_client)
    response = client_for(integration_client).post(
        f"/api/v1/cases/{case.case_number}/information", {"clinical_facts": {"shoe_size": 9}}, format="json"
    )
    assert response.status_code == 400
    assert "clinical_facts.shoe_size" in response.json()["errors"]


def test_client_cancels_and_a_second_cancel_is_409_with_current_status(integration_client):
    case = factories.case(integration_client)
    api = client_for(integration_client)
    assert api.post(f"/api/v1/cases/{case.case_number}/cancel", {}, format="json").json()["status"] == "cancelled"
    again = api.post(f"/api/v1/cases/{case.case_number}/cancel", {}, format="json")
    assert again.status_code == 409
    assert again.json()["current_status"] == "cancelled"


def test_coverage_names_the_governing_version(integration_client, investigational):
    response = client_for(integration_client).get(
        "/api/v1/coverage?code=62330&code_system=CPT&date_of_service=2026-12-01&line_of_business=commercial"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["governed"] is True
    assert body["policies"][0]["citation"]["version"] == "2024-01"
    assert body["policies"][0]["kind"] == "investigational"


def test_coverage_of_ungoverned_code_is_empty(integration_client, investigational):
    body = (
        client_for(integration_client)
        .get("/api/v1/coverage?code=99213&code_system=CPT&date_of_service=2026-12-01&line_of_business=commercial")
        .json()
    )
    assert (body["governed"], body["policies"]) == (False, [])


def test_coverage_with_bad_code_is_400(integration_client):
    response = client_for(integration_client).get(
        "/api/v1/coverage?code=99&code_system=CPT&date_of_service=2026-12-01&line_of_business=commercial"
    )
    assert response.status_code == 400
    assert "code" in response.json()["errors"]


def test_coverage_is_refused_to_outsiders(outsider):
    response = client_for(outsider).get(
        "/api/v1/coverage?code=62330&code_system=CPT&date_of_service=2026-12-01&line_of_business=commercial"
    )
    assert response.status_code == 403


def test_schema_generates_without_warnings(db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_api_docs_use_local_static_files(nurse):
    api = APIClient()
    api.force_authenticate(nurse)
    html = api.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()


def test_client_over_its_rate_limit_gets_429_with_retry_after(integration_client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMIT = "2/min"
    api = client_for(integration_client)
    statuses = [api.get("/api/v1/cases").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = api.get("/api/v1/cases")
    assert "throttled" in limited.json()["detail"]
    assert int(limited["Retry-After"]) > 0


def test_unknown_api_path_is_a_json_404(nurse, settings):
    settings.DEBUG = False
    api = APIClient()
    api.force_authenticate(nurse)
    response = api.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_case_without_flags_shows_an_empty_list(integration_client):
    case = factories.case(integration_client)
    body = client_for(integration_client).get(f"/api/v1/cases/{case.case_number}").json()
    assert body["flags"] == []
    assert [line["sequence"] for line in body["service_lines"]] == [1]


def test_a_flag_without_citation_shows_a_null_citation(integration_client):
    # The engine cites a version on every flag it raises; the column is nullable, so a row
    # written otherwise (older data, an admin) must still render.
    from django.utils import timezone

    from casemgmt.cases.models import Flag

    case = factories.case(integration_client)
    Flag.objects.create(
        case=case,
        service_line=case.lines.get(sequence=1),
        kind="term_match",
        severity="info",
        message="Named in text.",
        citation=None,
        created_at=timezone.now(),
    )
    body = client_for(integration_client).get(f"/api/v1/cases/{case.case_number}").json()
    assert body["flags"] == [
        {"service_line": 1, "kind": "term_match", "severity": "info", "message": "Named in text.", "citation": None}
    ]


def test_a_decided_case_shows_when_it_was_decided(integration_client, nurse, investigational):
    case = factories.case(integration_client)
    decision_record(
        case_id=case.pk, user=nurse, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
    )
    case.refresh_from_db()
    body = client_for(integration_client).get(f"/api/v1/cases/{case.case_number}").json()
    assert body["status"] == "decided"
    assert body["decided_at"] == case.decided_at.isoformat().replace("+00:00", "Z")

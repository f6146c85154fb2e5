"""Property-based tests of the whole v1 API against its own OpenAPI schema (schemathesis).

The schema is the one served at /api/schema/, loaded through the Django WSGI application, and
every operation in it is called with generated valid (positive) and invalid (negative) inputs,
once with an integration client's bearer token and once with a physician reviewer's. Each
response must not be a server error and must match what the schema documents: the status code,
the content type and the body schema for that status code.

Inputs that match the schema mostly still fail the domain's own checks (an NPI's check digit,
ICD-10-CM codes, a case number that exists), so only the 400/404 branches would run. A share of
the generated requests is therefore steered past them: a real case number the persona may see,
a valid NPI, diagnosis and CPT code, a decision on the case's one service line citing a
published policy. The rest are sent exactly as generated.

Bounded: MAX_EXAMPLES per operation and generation mode, no deadline, no example database;
the file runs in well under a minute.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from django.test import override_settings
from django.urls import Resolver404, resolve
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from casemgmt.security.services import api_token_create
from casemgmt.wsgi import application
from tests import factories

MAX_EXAMPLES = 40
CHECKS: list[Any] = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# A path that no URL pattern matches (e.g. a non-integer attachment id) never reaches the API:
# Django's own 404 page answers, in HTML. Such responses must still be a 404 and no 5xx.
UNROUTED_CHECKS: list[Any] = [not_a_server_error]


def _load_schema() -> schemathesis.BaseSchema:
    """The schema as served at /api/schema/ (needs no database; the WSGI client says Host: localhost)."""
    with override_settings(ALLOWED_HOSTS=["localhost"]):
        loaded = schemathesis.openapi.from_wsgi("/api/schema/", application)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        database="none",
    )
    return loaded


schema = _load_schema()
HYPOTHESIS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


pytestmark = pytest.mark.usefixtures("api_over_wsgi")  # tests/conftest.py


@pytest.fixture
def world(integration_client, other_client, physician, editor) -> dict[str, Any]:
    """Cases and a published policy, so generated requests can reach past the 404s."""
    version = factories.publish(factories.draft_version(), editor)
    own = [factories.case(integration_client, external_id=f"OWN-{i}") for i in range(6)]
    theirs = factories.case(other_client, external_id="THEIRS-1")
    return {
        "policy_version_id": version.pk,
        "integration_client": {"user": integration_client, "cases": [c.case_number for c in own]},
        "physician": {"user": physician, "cases": [c.case_number for c in [*own, theirs]]},
    }


def _steer_case_body(body: dict[str, Any]) -> None:
    dos = (timezone.localdate() + timedelta(days=10)).isoformat()
    # The schema does not (yet) say minLength: 1 for the required names; see the module docstring.
    if isinstance(body.get("member"), dict):
        body["member"].update(member_id="M123", first_name="Ada", last_name="Case", birth_date="1960-05-01")
    for key in ("requesting_provider", "servicing_provider"):
        if isinstance(body.get(key), dict):
            body[key].update(npi=factories.VALID_NPI, name="Spine Clinic")
    body["diagnosis_codes"] = ["M48.062"]
    body["clinical_facts"] = {}
    if isinstance(body.get("service_lines"), list):
        for line in body["service_lines"]:
            if isinstance(line, dict):
                line.update(code_system="CPT", code="62330", date_of_service=dos, modifiers=[])
    if isinstance(body.get("external_id"), str) and body["external_id"]:
        body["external_id"] = f"{body['external_id'][:60]}-{uuid.uuid4().hex[:8]}"


def _steer(case: schemathesis.Case, who: dict[str, Any], world: dict[str, Any]) -> None:
    """Swap some generated values for ones the domain accepts (see the module docstring).

    Which requests are steered follows a call counter, not randomness: Hypothesis reseeds the
    global random for every example, and the generated values repeat too often to hash.
    """
    n = who["calls"] = who.get("calls", 0) + 1
    path_parameters = case.path_parameters or {}
    if isinstance(path_parameters.get("case_number"), str) and n % 3:
        case.path_parameters = {**path_parameters, "case_number": who["cases"][n % len(who["cases"])]}
    if case.path == "/api/v1/coverage" and isinstance(case.query, dict) and n % 2:
        case.query = {**case.query, "code": "62330", "code_system": "CPT", "date_of_service": "2026-12-01"}
    body = case.body
    if not isinstance(body, dict) or (n // 3) % 2:
        return
    body = dict(body)
    if (case.method, case.path) == ("POST", "/api/v1/cases"):
        _steer_case_body(body)
    elif case.path.endswith("/decisions") and isinstance(body.get("lines"), list) and body["lines"]:
        first = body["lines"][0]
        outcome = first.get("outcome", "approved") if isinstance(first, dict) else "approved"
        body["lines"] = [{"service_line": 1, "outcome": outcome, "reason": "Per the cited policy."}]
        body["citations"] = [{"policy_version_id": world["policy_version_id"], "criterion": "Investigational."}]
    elif case.path.endswith("/information"):
        body["clinical_facts"] = {}
    case.body = body


def call_as(persona: str, case: schemathesis.Case, world: dict[str, Any]) -> None:
    who = world[persona]
    if "token" not in who:
        who["token"] = api_token_create(user=who["user"])[1]
    _steer(case, who, world)
    try:
        resolve(unquote(case.formatted_path))
    except Resolver404:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {who['token']}"}, checks=UNROUTED_CHECKS)
        assert response.status_code == 404
        return
    case.call_and_validate(headers={"Authorization": f"Bearer {who['token']}"}, checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_api_as_integration_client(case: schemathesis.Case, world: dict[str, Any]) -> None:
    call_as("integration_client", case, world)


@schema.parametrize()
@HYPOTHESIS
def test_api_as_physician(case: schemathesis.Case, world: dict[str, Any]) -> None:
    call_as("physician", case, world)


# --- regressions found while fuzzing --------------------------------------------------------


@pytest.mark.django_db
def test_webhook_url_with_port_out_of_range_is_400_not_500(integration_client):
    _, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.post("/api/v1/webhooks", {"url": "https://hooks.example.com:99999/pa"}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()["errors"]


def test_schema_documents_the_paginated_case_list():
    responses = schema.raw_schema["paths"]["/api/v1/cases"]["get"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PaginatedCaseOutputList")

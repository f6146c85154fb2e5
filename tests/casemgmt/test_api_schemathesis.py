"""Property-based tests of the whole v1 API against its own OpenAPI schema (schemathesis).

The schema is the one served at /api/schema/, loaded through the Django WSGI application, and
every operation in it is called with generated valid (positive) and invalid (negative) inputs,
once with an integration client's bearer token and once with a physician reviewer's. Each
response must not be a server error and must match what the schema documents for its status
code: its body schema, its content type and the status code itself.

Path parameters are mostly random, so a third of the generated `case_number`s are swapped for a
real case the persona may see: otherwise only the 404 branch of the case endpoints would run.

Bounded: MAX_EXAMPLES per operation and generation mode, no deadline, no example database.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from casemgmt import services
from casemgmt.wsgi import application
from tests import factories

MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def _load_schema() -> schemathesis.BaseSchema:
    """The schema as served at /api/schema/ (no database needed; the WSGI client says Host: localhost)."""
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


@pytest.fixture(autouse=True)
def _wsgi_calls_allowed(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    # The generated volume must not run into the rate limit (a 429 is tested in test_api.py).
    settings.API_RATE_LIMIT = "1000000/min"


@pytest.fixture
def world(integration_client, other_client, physician, editor) -> dict[str, Any]:
    """Cases and a published policy, so generated requests can reach past the 404s."""
    factories.publish(factories.draft_version(), editor)
    own = [factories.case(integration_client, external_id=f"OWN-{i}") for i in range(6)]
    theirs = factories.case(other_client, external_id="THEIRS-1")
    return {
        "integration_client": {"user": integration_client, "cases": [c.case_number for c in own]},
        "physician": {"user": physician, "cases": [c.case_number for c in [*own, theirs]]},
    }


def call_as(persona: str, case: schemathesis.Case, world: dict[str, Any]) -> None:
    who = world[persona]
    if "token" not in who:
        who["token"] = services.api_token_create(user=who["user"])[1]
    number = (case.path_parameters or {}).get("case_number")
    if isinstance(number, str) and zlib.crc32(number.encode()) % 3 == 0:
        case.path_parameters = {**case.path_parameters, "case_number": who["cases"][len(number) % len(who["cases"])]}
    case.call_and_validate(headers={"Authorization": f"Bearer {who['token']}"}, checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_api_as_integration_client(case: schemathesis.Case, world: dict[str, Any]) -> None:
    call_as("integration_client", case, world)


@schema.parametrize()
@HYPOTHESIS
def test_api_as_physician(case: schemathesis.Case, world: dict[str, Any]) -> None:
    call_as("physician", case, world)

"""The API's error answers outside validation (casemgmt.api.errors, casemgmt.api.middleware):
413 for a body over the limit, 503 with Retry-After when the database or the cache does not
answer, JSON for every error on an API path, answers that always encode, no-store everywhere;
and pages keep their HTML."""

from __future__ import annotations

import json
from typing import Any

import kombu.exceptions
import pytest
import redis.exceptions
from django.contrib.auth.models import User
from django.db import InterfaceError, OperationalError, connections
from django.test import Client
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.throttling import SimpleRateThrottle

from casemgmt.api.errors import RETRY_AFTER_SECONDS, exception_handler, safe_text
from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import Case
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

OVER_THE_LIMIT = 2_621_440 + 1  # Django's default DATA_UPLOAD_MAX_MEMORY_SIZE, plus one


def api(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}", raise_request_exception=False)


def submit(client: Client, body: bytes | None = None) -> Any:
    payload = body if body is not None else json.dumps(factories.api_case_body()).encode()
    return client.generic("POST", "/api/v1/cases", payload, "application/json")


def big_case_body() -> bytes:
    return json.dumps(factories.api_case_body(clinical_notes="x" * OVER_THE_LIMIT)).encode()


# --- 413 ------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_json_413(integration_client: User) -> None:
    response = submit(api(integration_client), big_case_body())
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert str(OVER_THE_LIMIT - 1) in response.json()["detail"]
    assert Case.objects.count() == 0


def test_a_body_over_the_limit_is_413_before_credentials_are_checked(db: None) -> None:
    response = Client().generic("POST", "/api/v1/cases", big_case_body(), "application/json")
    assert response.status_code == 413
    assert AuditEvent.objects.count() == 0


def test_a_body_just_under_the_limit_is_read(integration_client: User) -> None:
    body = json.dumps(factories.api_case_body(clinical_notes="x" * (OVER_THE_LIMIT - 1000))).encode()
    response = submit(api(integration_client), body)
    assert response.status_code == 400  # clinical_notes is too long: the body was read
    assert list(response.json()["errors"]) == ["clinical_notes"]


def test_a_large_form_field_in_an_upload_is_a_json_413(integration_client: User) -> None:
    # Multipart bodies pass the middleware (attachments have their own limit); Django refuses
    # the oversized text field while DRF parses it, and the exception handler answers.
    case = factories.case(integration_client)
    response = api(integration_client).post(
        f"/api/v1/cases/{case.case_number}/attachments", {"description": "x" * OVER_THE_LIMIT}
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"


def test_a_page_keeps_its_html_400_for_a_body_over_the_limit(db: None) -> None:
    response = Client(raise_request_exception=False).post(
        "/login/", "username=" + "x" * OVER_THE_LIMIT, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


# --- 503 ------------------------------------------------------------------------------------


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "no-store" in response["Cache-Control"]
    assert "retry" in response.json()["detail"]


def test_a_database_outage_during_an_api_request_is_a_json_503_with_retry_after(integration_client: User) -> None:
    client = api(integration_client)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connections["default"], "cursor", _refuse)
        response = submit(client)
    assert_unavailable(response)
    assert submit(client).status_code == 201  # and the next request, with the database back, succeeds


def test_a_database_outage_outside_the_view_is_a_json_503(db: None) -> None:
    # No credentials: DRF answers 401 without the database, then the audit middleware's row
    # for the refusal meets the outage, outside DRF.
    client = Client(raise_request_exception=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connections["default"], "cursor", _refuse)
        response = client.get("/api/v1/cases")
    assert_unavailable(response)


def test_a_cache_outage_is_a_json_503(integration_client: User) -> None:
    class Unreachable:
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    client = api(integration_client)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SimpleRateThrottle, "cache", Unreachable())
        response = client.get("/api/v1/cases")
    assert_unavailable(response)


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        kombu.exceptions.OperationalError("Error 111 connecting to localhost:6379"),
    ],
    ids=["database", "database_interface", "cache_timeout", "broker"],
)
def test_each_unavailable_service_is_a_503(error: Exception) -> None:
    response = exception_handler(error, {})
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_an_unexpected_error_on_an_api_path_is_a_json_500(integration_client: User) -> None:
    client = api(integration_client)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("casemgmt.api.cases.case_submit", _explode)
        response = submit(client)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "Retry-After" not in response


def test_a_page_keeps_its_html_500_when_the_database_is_down(nurse: User) -> None:
    browser = Client(raise_request_exception=False)
    browser.force_login(nurse)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connections["default"], "cursor", _refuse)
        response = browser.get("/queue/")
    assert response.status_code == 500
    assert not response["Content-Type"].startswith("application/json")


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise KeyError("unexpected")


# --- answers that always encode -------------------------------------------------------------


def test_a_lone_surrogate_or_nul_in_a_message_is_escaped() -> None:
    error = exceptions.ValidationError({"\ud800name": ["'\udc00' is not valid", "a\x00b"]})
    response = exception_handler(error, {})
    assert response is not None
    rendered = JSONRenderer().render(response.data).decode("utf-8")
    assert json.loads(rendered)["errors"] == {"\\ud800name": ["'\\udc00' is not valid", "a\\u0000b"]}


def test_a_lone_surrogate_in_a_plain_detail_is_escaped() -> None:
    response = exception_handler(exceptions.NotFound("No case \ud83d."), {})
    assert response is not None
    assert response.data == {"detail": "No case \\ud83d."}


def test_text_that_encodes_is_left_alone() -> None:
    assert safe_text("Müller \U0001f600") == "Müller \U0001f600"


# --- JSON and no-store on every API answer --------------------------------------------------


def test_every_api_answer_is_no_store(integration_client: User) -> None:
    client = api(integration_client)
    case = factories.case(integration_client)
    for response in (
        client.get("/api/v1/cases"),
        client.get(f"/api/v1/cases/{case.case_number}"),
        submit(client),
        client.get("/api/v1/cases/PA-NOPE"),
        Client().get("/api/v1/cases"),
    ):
        assert "no-store" in response["Cache-Control"], response.status_code


def test_an_unknown_api_path_is_a_json_404(integration_client: User) -> None:
    response = api(integration_client).get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_page_keeps_its_html_404(nurse: User) -> None:
    browser = Client()
    browser.force_login(nurse)
    response = browser.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- NUL outside the body -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "where"),
    [
        ("/api/v1/cases/PA%00X", {}, "path"),
        ("/api/v1/cases?status=%00", {}, "status"),
        ("/api/v1/cases?%00=1", {}, "query"),
        ("/api/v1/cases", {"Idempotency-Key": "a\x00b"}, "Idempotency-Key"),
    ],
)
def test_a_nul_in_the_path_query_or_a_header_is_a_400_naming_where(
    integration_client: User, path: str, headers: dict[str, str], where: str
) -> None:
    response = api(integration_client).get(path, headers=headers)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [where]

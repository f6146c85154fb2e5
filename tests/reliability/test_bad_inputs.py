"""A hand-made corpus of bad inputs, sent to every JSON POST of the v1 API.

Each bad body answers 4xx, never 5xx, as JSON in the API's error shape that encodes (no NUL
and no lone surrogate quoted back), with `Cache-Control: no-store`; and it stores nothing:
the rows of every table a POST can write are counted before and after. Each request carries
an Idempotency-Key, which a refusal must not use up. A control test sends each endpoint its
valid body first, so a 4xx here is the bad input's doing, not a broken endpoint's.

Runs on SQLite and PostgreSQL (DATABASE_URL): a NUL reaching SQL fails only on PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseStatus,
    Citation,
    Decision,
    DecisionLine,
    Flag,
    IdempotencyRecord,
    ServiceLine,
    WebhookDelivery,
    WebhookSubscription,
)
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.retro.models import RetroChunk, RetroRun
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

WRITTEN: tuple[Any, ...] = (
    Case,
    ServiceLine,
    CaseEvent,
    Decision,
    DecisionLine,
    Citation,
    Flag,
    IdempotencyRecord,
    WebhookSubscription,
    WebhookDelivery,
    Attachment,
    AuditEvent,
    RetroRun,
    RetroChunk,
)
PLACEHOLDER = "\u2603PLACEHOLDER\u2603"
TEN_MEGABYTES = 10 * 1024 * 1024


@dataclass
class World:
    clients: dict[str, Client]
    case_number: str
    pended_case_number: str
    policy_id: int
    version_id: int
    run_id: int


@dataclass(frozen=True)
class Endpoint:
    name: str
    persona: str
    path: Callable[[World], str]
    body: Callable[[World], dict[str, Any]]
    text_field: str  # a string field the body may carry
    ok: int


def _dos() -> str:
    return (timezone.localdate() + timedelta(days=10)).isoformat()


ENDPOINTS = [
    Endpoint(
        "cases_submit",
        "integration_client",
        lambda w: "/api/v1/cases",
        lambda w: factories.api_case_body(external_id="", clinical_facts={}),
        "clinical_notes",
        201,
    ),
    Endpoint(
        "decisions",
        "nurse",
        lambda w: f"/api/v1/cases/{w.case_number}/decisions",
        lambda w: {
            "lines": [{"service_line": 1, "outcome": "approved"}],
            "citations": [{"policy_version_id": w.version_id, "criterion": "Covered."}],
            "rationale": "Meets the policy.",
        },
        "rationale",
        201,
    ),
    Endpoint(
        "information",
        "integration_client",
        lambda w: f"/api/v1/cases/{w.pended_case_number}/information",
        lambda w: {"clinical_notes": "Physical therapy notes.", "clinical_facts": {}},
        "clinical_notes",
        200,
    ),
    Endpoint(
        "cancel",
        "integration_client",
        lambda w: f"/api/v1/cases/{w.case_number}/cancel",
        lambda w: {"reason": "Withdrawn by the provider."},
        "reason",
        200,
    ),
    Endpoint(
        "pend",
        "nurse",
        lambda w: f"/api/v1/cases/{w.case_number}/pend",
        lambda w: {"needed": "Six weeks of physical therapy notes."},
        "needed",
        200,
    ),
    Endpoint(
        "webhooks",
        "integration_client",
        lambda w: "/api/v1/webhooks",
        lambda w: {"url": "https://ehr.example.com/hooks/casemgmt"},
        "url",
        201,
    ),
    Endpoint(
        "retro_runs",
        "manager",
        lambda w: "/api/v1/retro/runs",
        lambda w: {
            "policy_id": w.policy_id,
            "date_from": (timezone.localdate() - timedelta(days=60)).isoformat(),
            "date_to": (timezone.localdate() - timedelta(days=1)).isoformat(),
        },
        "line_of_business",
        201,
    ),
    # Takes no body: whatever is sent is read (for the Idempotency-Key's fingerprint), so the
    # parser's refusals apply to it as to the others.
    Endpoint(
        "retro_run_cancel",
        "manager",
        lambda w: f"/api/v1/retro/runs/{w.run_id}/cancel",
        lambda w: {},
        "reason",
        200,
    ),
]


def _with(body: dict[str, Any], field: str, raw_json_value: str) -> bytes:
    """`body` with `field` set to a value written as raw JSON text (which json.dumps cannot write)."""
    text = json.dumps({**body, field: PLACEHOLDER})
    return text.replace(json.dumps(PLACEHOLDER), raw_json_value).encode()


def _with_name(body: dict[str, Any], raw_json_name: str) -> bytes:
    """`body` with one more field, its name written as raw JSON text."""
    text = json.dumps({**body, PLACEHOLDER: 1})
    return text.replace(json.dumps(PLACEHOLDER), raw_json_name).encode()


def _with_bytes(body: dict[str, Any], field: str, raw: bytes) -> bytes:
    text = json.dumps({**body, field: PLACEHOLDER}).encode()
    return text.replace(json.dumps(PLACEHOLDER).encode(), raw)


def _facts(body: dict[str, Any], raw_json_facts: str) -> bytes:
    return _with(body, "clinical_facts", raw_json_facts)


def _valid(endpoint: Endpoint, world: World) -> bytes:
    return json.dumps(endpoint.body(world)).encode()


JSON = "application/json"
# name -> (body for an endpoint, Content-Type)
BadBody = Callable[[Endpoint, World], bytes]
BAD_BODIES: dict[str, tuple[BadBody, str]] = {
    # Nesting
    "array_nested_10000_deep": (lambda e, w: b"[" * 10_000 + b"]" * 10_000, JSON),
    "object_nested_10000_deep": (lambda e, w: b'{"a":' * 10_000 + b"1" + b"}" * 10_000, JSON),
    "field_nested_10000_deep": (lambda e, w: _with(e.body(w), e.text_field, "[" * 10_000 + "]" * 10_000), JSON),
    "facts_nested_10000_deep": (lambda e, w: _facts(e.body(w), '{"a":' * 10_000 + "1" + "}" * 10_000), JSON),
    "field_nested_past_the_limit": (lambda e, w: _with(e.body(w), e.text_field, "[" * 65 + "]" * 65), JSON),
    "field_nested_just_under_orjsons_own_limit": (
        lambda e, w: _with(e.body(w), e.text_field, "[" * 1000 + "]" * 1000),
        JSON,
    ),
    # Strings that are not text
    "lone_surrogate_in_a_value": (lambda e, w: _with(e.body(w), e.text_field, '"\\ud800"'), JSON),
    "lone_low_surrogate_in_a_value": (lambda e, w: _with(e.body(w), e.text_field, '"abc\\udc00"'), JSON),
    "reversed_surrogate_pair_in_a_value": (lambda e, w: _with(e.body(w), e.text_field, '"\\ude00\\ud83d"'), JSON),
    "lone_surrogate_in_an_unknown_field_name": (lambda e, w: _with_name(e.body(w), '"\\ud800"'), JSON),
    "lone_surrogate_in_a_list_item": (lambda e, w: _with(e.body(w), e.text_field, '["ok", "\\ud800"]'), JSON),
    "nul_in_a_value": (lambda e, w: _with(e.body(w), e.text_field, '"a\\u0000b"'), JSON),
    "nul_in_an_unknown_field_name": (lambda e, w: _with_name(e.body(w), '"sur\\u0000prise"'), JSON),
    "nul_in_a_clinical_facts_key": (lambda e, w: _facts(e.body(w), '{"bm\\u0000i": 31}'), JSON),
    "lone_surrogate_in_a_clinical_facts_key": (lambda e, w: _facts(e.body(w), '{"\\ud800": 31}'), JSON),
    "nul_in_a_clinical_facts_value": (lambda e, w: _facts(e.body(w), '{"prior_surgery": "a\\u0000"}'), JSON),
    "utf8_encoded_surrogate_bytes": (lambda e, w: _with_bytes(e.body(w), e.text_field, b'"\xed\xa0\x80"'), JSON),
    "invalid_utf8_bytes": (lambda e, w: _with_bytes(e.body(w), e.text_field, b'"\xff\xfe"'), JSON),
    "overlong_utf8_nul": (lambda e, w: _with_bytes(e.body(w), e.text_field, b'"\xc0\x80"'), JSON),
    # Numbers JSON cannot hold
    "infinite_clinical_fact": (lambda e, w: _facts(e.body(w), '{"bmi": 1e400}'), JSON),
    "negative_infinite_clinical_fact": (lambda e, w: _facts(e.body(w), '{"bmi": -1e400}'), JSON),
    "nan_clinical_fact": (lambda e, w: _facts(e.body(w), '{"bmi": NaN}'), JSON),
    "infinity_clinical_fact": (lambda e, w: _facts(e.body(w), '{"bmi": Infinity}'), JSON),
    "minus_infinity_clinical_fact": (lambda e, w: _facts(e.body(w), '{"bmi": -Infinity}'), JSON),
    "integer_of_400_digits": (lambda e, w: _facts(e.body(w), '{"bmi": 1' + "0" * 400 + "}"), JSON),
    "nan_in_a_value": (lambda e, w: _with(e.body(w), e.text_field, "NaN"), JSON),
    # Size
    "ten_megabyte_body": (lambda e, w: _with(e.body(w), e.text_field, json.dumps("x" * TEN_MEGABYTES)), JSON),
    "body_just_over_the_limit": (
        lambda e, w: _with(e.body(w), e.text_field, json.dumps("x" * (2_621_440 + 1))),
        JSON,
    ),
    "ten_megabytes_of_whitespace": (lambda e, w: b" " * TEN_MEGABYTES + _valid(e, w), JSON),
    # Not an object
    "list_holding_the_valid_body": (lambda e, w: b"[" + _valid(e, w) + b"]", JSON),
    "empty_list": (lambda e, w: b"[]", JSON),
    "bare_string": (lambda e, w: b'"hello"', JSON),
    "bare_number": (lambda e, w: b"42", JSON),
    "null": (lambda e, w: b"null", JSON),
    "true": (lambda e, w: b"true", JSON),
    # Not JSON
    "malformed": (lambda e, w: b"{oops", JSON),
    "truncated": (lambda e, w: _valid(e, w)[:-1], JSON),
    "trailing_garbage": (lambda e, w: _valid(e, w) + b" x", JSON),
    "two_documents": (lambda e, w: _valid(e, w) + _valid(e, w), JSON),
    "byte_order_mark": (lambda e, w: b"\xef\xbb\xbf" + _valid(e, w), JSON),
    "whitespace_only": (lambda e, w: b"   ", JSON),
    "single_quotes": (lambda e, w: b"{'reason': 'x'}", JSON),
    "comment": (lambda e, w: b"/* hi */" + _valid(e, w), JSON),
    # Wrong or odd Content-Type
    "text_plain": (lambda e, w: _valid(e, w), "text/plain"),
    "form_urlencoded": (lambda e, w: b"reason=x&needed=y", "application/x-www-form-urlencoded"),
    "multipart_form": (
        lambda e, w: b'--b\r\nContent-Disposition: form-data; name="reason"\r\n\r\nx\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
    "xml": (lambda e, w: b"<case/>", "application/xml"),
    "declared_utf16_sent_utf8": (lambda e, w: _valid(e, w), "application/json; charset=utf-16"),
    "declared_bytes_codec": (lambda e, w: _valid(e, w), "application/json; charset=bz2_codec"),
    "declared_latin1_with_a_nul": (
        lambda e, w: _with(e.body(w), e.text_field, '"\\u0000"'),
        "application/json; charset=latin-1",
    ),
}


def _client(user: Any) -> Client:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}")
    return client


@pytest.fixture
def world(integration_client: Any, nurse: Any, manager: Any, editor: Any, settings: Any) -> World:
    settings.API_RATE_LIMIT = "1000000/min"
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # lets a host that does not resolve here through
    version = factories.publish(factories.draft_version(), editor)
    case = factories.case(integration_client)
    pended = factories.case(integration_client, external_id="EHR-PENDED")
    case_pend_for_information(case_id=pended.pk, user=nurse, needed="Notes")
    clients = {"integration_client": _client(integration_client), "nurse": _client(nurse), "manager": _client(manager)}
    run = clients["manager"].post(
        "/api/v1/retro/runs",
        {
            "policy_id": version.policy_id,
            "date_from": (timezone.localdate() - timedelta(days=60)).isoformat(),
            "date_to": (timezone.localdate() - timedelta(days=1)).isoformat(),
        },
        content_type=JSON,
    )
    assert run.status_code == 201, run.content
    return World(clients, case.case_number, pended.case_number, version.policy_id, version.pk, run.json()["id"])


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WRITTEN}


def _strings(data: Any) -> list[str]:
    """Every string in a JSON value, keys too (the error bodies are shallow)."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [*data.keys(), *(s for value in data.values() for s in _strings(value))]
    if isinstance(data, list):
        return [s for item in data for s in _strings(item)]
    return []


def assert_refused_as_json(response: Any) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert "no-store" in response["Cache-Control"]
    body = json.loads(response.content.decode("utf-8"))
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body
    for text in _strings(body):
        assert "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text), text
    return body


FRESH_KEY = "fresh"


def post(world: World, endpoint: Endpoint, body: bytes, content_type: str, key: str | None = FRESH_KEY) -> Any:
    """POST the bytes as they are (Client.post would re-encode them to a declared charset)."""
    client = world.clients[endpoint.persona]
    client.raise_request_exception = False  # a 500 is a failure to report, not an exception to raise
    headers = {} if key is None else {"Idempotency-Key": uuid.uuid4().hex if key == FRESH_KEY else key}
    return client.generic("POST", endpoint.path(world), body, content_type, headers=headers)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_each_endpoint_takes_its_valid_body(world: World, endpoint: Endpoint) -> None:
    response = post(world, endpoint, _valid(endpoint, world), JSON)
    assert response.status_code == endpoint.ok, response.content


@pytest.mark.parametrize("bad", list(BAD_BODIES))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_a_bad_body_is_refused_with_4xx_json_and_stores_nothing(world: World, endpoint: Endpoint, bad: str) -> None:
    make, content_type = BAD_BODIES[bad]
    before = _counts()

    response = post(world, endpoint, make(endpoint, world), content_type)

    assert_refused_as_json(response)
    assert _counts() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_a_refused_body_leaves_its_idempotency_key_free(world: World, endpoint: Endpoint) -> None:
    bad = _with(endpoint.body(world), endpoint.text_field, '"\\ud800"')
    assert post(world, endpoint, bad, JSON, key="retry-1").status_code == 400

    response = post(world, endpoint, _valid(endpoint, world), JSON, key="retry-1")

    assert response.status_code == endpoint.ok, response.content
    assert "Idempotent-Replayed" not in response


@pytest.mark.parametrize(
    ("bad", "status", "path", "words"),
    [
        ("array_nested_10000_deep", 400, "[0]" * 64, "nested more than 64 levels"),
        ("facts_nested_10000_deep", 400, "clinical_facts" + ".a" * 63, "nested more than 64 levels"),
        ("lone_surrogate_in_a_value", 400, "clinical_notes", "unpaired surrogate"),
        ("lone_surrogate_in_an_unknown_field_name", 400, "non_field_errors", "a field name"),
        ("nul_in_a_value", 400, "clinical_notes", "NUL"),
        ("nul_in_a_clinical_facts_key", 400, "clinical_facts", "a field name"),
        ("lone_surrogate_in_a_clinical_facts_key", 400, "clinical_facts", "a field name"),
        ("infinite_clinical_fact", 400, "clinical_facts.bmi", "too large"),
        ("nan_clinical_fact", 400, "clinical_facts.bmi", "finite"),
        ("minus_infinity_clinical_fact", 400, "clinical_facts.bmi", "finite"),
        ("list_holding_the_valid_body", 400, "non_field_errors", "JSON object"),
        ("bare_string", 400, "non_field_errors", "JSON object"),
    ],
)
def test_a_refusal_names_the_field_path_and_never_quotes_the_bad_string(
    world: World, bad: str, status: int, path: str, words: str
) -> None:
    submit = ENDPOINTS[0]
    make, content_type = BAD_BODIES[bad]

    body = assert_refused_as_json(post(world, submit, make(submit, world), content_type))

    assert body["detail"] == "The request is invalid; nothing was stored."
    assert list(body["errors"]) == [path]
    assert words in " ".join(body["errors"][path])


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        ("ten_megabyte_body", 413),
        ("body_just_over_the_limit", 413),
        ("ten_megabytes_of_whitespace", 413),
        ("text_plain", 415),
        ("form_urlencoded", 415),
        ("multipart_form", 415),
        ("malformed", 400),
        ("invalid_utf8_bytes", 400),
        ("declared_bytes_codec", 400),
    ],
)
def test_each_kind_of_unreadable_body_has_its_status(world: World, bad: str, status: int) -> None:
    submit = ENDPOINTS[0]
    make, content_type = BAD_BODIES[bad]
    assert post(world, submit, make(submit, world), content_type).status_code == status


# --- beyond the body ------------------------------------------------------------------------
# Refused further on, by the serializers and services. These go without an Idempotency-Key:
# with one, a refusal by a service is stored as the key's answer (a retry gets it again),
# which is an outcome kept on purpose, not a half-done write.


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/%00",
        "/api/v1/cases/PA%00X",
        "/api/v1/cases/%ED%A0%80",
        "/api/v1/cases?status=%00",
        "/api/v1/cases?updated_since=%00",
        "/api/v1/cases?page=%00",
        "/api/v1/cases?page=99999999999999999999999",
        "/api/v1/cases?updated_since=99999-01-01T00:00:00Z",
        "/api/v1/coverage?code_system=CPT&code=%00&date_of_service=2026-01-01&line_of_business=commercial",
        "/api/v1/coverage?code_system=%00&code=62330&date_of_service=2026-01-01&line_of_business=commercial",
        "/api/v1/coverage?code_system=CPT&code=62330&date_of_service=%00&line_of_business=commercial",
        "/api/v1/coverage?code_system=CPT&code=62330&date_of_service=2026-01-01&line_of_business=%00",
        "/api/v1/coverage?code_system=CPT&code=62330&date_of_service=2026-01-01&line_of_business=commercial&x=%00",
        "/api/v1/retro/runs/99999999999999999999999",
        "/api/v1/cases/%00/decisions",
        "/api/v1/cases/%00/attachments",
        "/api/v1/nowhere",
    ],
)
def test_a_bad_path_or_query_is_4xx_json(world: World, path: str) -> None:
    client = world.clients["manager"]
    client.raise_request_exception = False
    assert_refused_as_json(client.get(path))


@pytest.mark.parametrize("key", ["a\x00b", "k" * 256])
def test_a_bad_idempotency_key_is_refused_and_stores_nothing(world: World, key: str) -> None:
    before = _counts()
    response = post(world, ENDPOINTS[0], _valid(ENDPOINTS[0], world), JSON, key=key)
    assert_refused_as_json(response)
    assert _counts() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("units", 10**30),
        ("units", -(10**30)),
        ("units", 1.5),
        ("units", True),
        ("date_of_service", "0000-01-01"),
        ("date_of_service", "9999-12-31"),
        ("code", "6" * 10_000),
        ("code_system", None),
    ],
)
def test_a_bad_service_line_value_is_400_and_stores_nothing(world: World, field: str, value: Any) -> None:
    submit = ENDPOINTS[0]
    body = submit.body(world)
    body["service_lines"] = [{**body["service_lines"][0], field: value}]
    before = _counts()
    assert_refused_as_json(post(world, submit, json.dumps(body).encode(), JSON, key=None))
    assert _counts() == before


@pytest.mark.parametrize(
    ("endpoint_name", "field", "value"),
    [
        ("decisions", "lines", [{"service_line": 10**30, "outcome": "approved"}]),
        ("decisions", "citations", [{"policy_version_id": 10**30}]),
        ("decisions", "citations", [{"policy_version_id": 2**63}]),
        ("retro_runs", "policy_id", 10**30),
        ("retro_runs", "policy_id", 2**63),
        ("retro_runs", "sample_percent", "1e400"),
        ("retro_runs", "sample_percent", "NaN"),
        ("retro_runs", "date_from", "0001-01-01"),
    ],
)
def test_an_out_of_range_number_or_date_is_4xx_and_stores_nothing(
    world: World, endpoint_name: str, field: str, value: Any
) -> None:
    endpoint = next(e for e in ENDPOINTS if e.name == endpoint_name)
    body = {**endpoint.body(world), field: value}
    before = _counts()
    assert_refused_as_json(post(world, endpoint, json.dumps(body).encode(), JSON, key=None))
    assert _counts() == before


def test_a_big_integer_clinical_fact_is_kept_exactly(world: World) -> None:
    # orjson reads integers past 64 bits as floats; the parser reads such a body again exactly,
    # so a number is never stored changed (the catalogue then judges it).
    submit = ENDPOINTS[0]
    body = _facts(submit.body(world), '{"conservative_therapy_weeks": 123456789012345678901234567890}')
    response = post(world, submit, body, JSON)
    if response.status_code == 201:
        case = Case.objects.get(case_number=response.json()["case_number"])
        assert case.clinical_facts["conservative_therapy_weeks"] == 123456789012345678901234567890
    else:
        assert_refused_as_json(response)


def test_the_case_is_unchanged_by_every_refused_body(world: World) -> None:
    case = Case.objects.get(case_number=world.case_number)
    before = (case.status, case.clinical_notes, case.clinical_facts, case.updated_at)
    for endpoint in ENDPOINTS[1:5]:
        for make, content_type in BAD_BODIES.values():
            post(world, endpoint, make(endpoint, world), content_type)
    case.refresh_from_db()
    assert (case.status, case.clinical_notes, case.clinical_facts, case.updated_at) == before
    assert case.status == CaseStatus.RECEIVED


PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.mark.parametrize(
    ("name", "description"),
    [("scan.pdf", "a\x00b"), ("scan\x00.pdf", "Notes"), ("s" * 5000 + ".pdf", "Notes"), ("scan.pdf", "x" * 100_000)],
    ids=["nul_in_description", "nul_in_file_name", "long_file_name", "long_description"],
)
def test_a_bad_upload_field_is_4xx_and_stores_nothing(world: World, name: str, description: str) -> None:
    client = world.clients["integration_client"]
    client.raise_request_exception = False
    before = _counts()
    response = client.post(
        f"/api/v1/cases/{world.case_number}/attachments",
        {"file": SimpleUploadedFile(name, PDF, content_type="application/pdf"), "description": description},
    )
    if response.status_code == 201:
        # A name is the client's to give; what is stored must be text PostgreSQL can hold.
        stored = Attachment.objects.get()
        assert "\x00" not in stored.original_name
    else:
        assert_refused_as_json(response)
        assert _counts() == before

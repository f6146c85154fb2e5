"""The whole v1 API against its own OpenAPI schema (schemathesis), with every check it has.

The schema is the one served at /api/schema/, loaded through the Django WSGI application. Every
operation in it is called with generated valid (positive) and invalid (negative) inputs, in turn
by an integration client, a nurse, a physician and a manager (one role per call, by a counter),
and every response goes through all of schemathesis's checks: no server error; the status code,
content type, headers and body the schema documents; an invalid request refused (negative data
rejection); a valid one not refused (positive data acceptance); 401 without credentials; 405 for
an undocumented method.

A valid request may still be refused by a rule no schema keyword can state: an NPI's check
digit, whether an ICD-10-CM code exists, a date of service within its window, what the case
holds. SERVICE_RULES names each such rule, by operation, status code and the field and message
of the service's answer, with the reason the schema cannot say it. A refusal of a valid request
passes only when every problem its answer names is one of those. An invalid request accepted
passes only when its body is valid as the server receives it (valid_as_received). Anything else
fails as schemathesis reports it.

Most generated values fail those rules, so only the refusals would run. A share of the valid
requests is therefore steered past them, with values that still fit the schema (schemathesis
checks again that they do): a case number the caller may see, a valid NPI, diagnosis and CPT
code, a decision on the case's service line citing a published policy. Invalid requests keep
their invalid part: only the case number in their path is steered, when the path is valid.

Bounded for CI: the fuzzing phase only, MAX_EXAMPLES per operation, a deadline per example, no
example database, derandomized (a failure recurs on the next run). FUZZ_THOROUGH=1 adds
schemathesis's coverage phase (each constraint's boundaries, undocumented methods) and more
examples: some 2,500 requests, half a minute on SQLite. The figures (requests by status and by
role, and the refusals explained) are printed at the end of the module.
"""

from __future__ import annotations

import copy
import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from openapi_schema_validator import OAS30Validator
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.transport.serialization import Binary

from casemgmt.cases.models import LineOutcome
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.intake import LineInput
from casemgmt.retro import services as retro_services
from casemgmt.retro.models import RetroOrigin
from casemgmt.security.services import api_token_create
from casemgmt.wsgi import application
from tests import factories

THOROUGH = os.environ.get("FUZZ_THOROUGH") == "1"
MAX_EXAMPLES = 100 if THOROUGH else 20
DEADLINE = timedelta(seconds=10)
PERSONAS = ("integration_client", "nurse", "physician", "manager")
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
UNITS = 4  # each fixture case's one service line: room for a partial approval


def _load_schema() -> schemathesis.BaseSchema:
    """The schema as served at /api/schema/ (needs no database; the WSGI client says Host: localhost)."""
    with override_settings(ALLOWED_HOSTS=["localhost"]):
        loaded = schemathesis.openapi.from_wsgi("/api/schema/", application)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        database="none",
        # Each call carries the role's own bearer token, never a generated one.
        with_security_parameters=False,
    )
    loaded.config.phases.coverage.enabled = THOROUGH
    return loaded


schema = _load_schema()
HYPOTHESIS = settings(
    deadline=DEADLINE,
    database=None,
    derandomize=not THOROUGH,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


OPERATIONS = tuple(
    f"{method.upper()} {path}"
    for path, item in schema.raw_schema["paths"].items()
    for method in item
    if method in ("get", "post")
)
IDEMPOTENT_OPERATIONS = tuple(
    f"{method.upper()} {path}"
    for path, item in schema.raw_schema["paths"].items()
    for method, operation in item.items()
    if any(parameter.get("name") == "Idempotency-Key" for parameter in operation.get("parameters", []))
)


@dataclass(frozen=True)
class ServiceRule:
    """A rule a service enforces that the schema cannot state: a valid request it rightly refuses.

    `operations` are "METHOD /path" as the schema writes them; `field` is a regular expression
    over the field path the answer names, `message` over the problem it gives for that field.
    """

    name: str
    operations: tuple[str, ...]
    status: int
    field: str
    message: str
    why: str


SERVICE_RULES = (
    ServiceRule(
        "Idempotency-Key reused",
        IDEMPOTENT_OPERATIONS,
        422,
        r"Idempotency-Key",
        r"was used with a different request",
        "An Idempotency-Key names one request: generated keys repeat (the empty-ish ones often), "
        "and the second request with another body is refused. The schema describes one request, "
        "not the ones sent before it.",
    ),
    ServiceRule(
        "NUL in a string",
        OPERATIONS,
        400,
        r".*",
        r"holds a NUL character|Null characters are not allowed",
        "A JSON string (and a URL or a header) may hold a NUL; PostgreSQL cannot store one, so the "
        "API refuses it wherever it is (casemgmt.kernel.json_input, casemgmt.api.middleware). A pattern "
        "on every string of the schema would say it, at the cost of every string's readability.",
    ),
    ServiceRule(
        "NPI check digit",
        ("POST /api/v1/cases",),
        400,
        r"(requesting|servicing)_provider\.npi",
        r"is not a valid NPI",
        "The NPI's tenth digit is a Luhn check digit over the other nine; the schema states the form.",
    ),
    ServiceRule(
        "ICD-10-CM code set",
        ("POST /api/v1/cases", "GET /api/v1/coverage"),
        400,
        r"diagnosis_codes(\[\d+\])?",
        r"is not an ICD-10-CM code|is not a billable code",
        "Whether a code of the right form is in the ICD-10-CM code set, and billable there (a leaf, "
        "not a category such as M48): issue 17 §6.",
    ),
    ServiceRule(
        "diagnosis codes equal as read",
        ("POST /api/v1/cases",),
        400,
        r"diagnosis_codes",
        r"a diagnosis code is listed twice",
        "Codes are compared as the service reads them (upper case, one dot after the category): "
        "m48.062 and M48062 are the same code. uniqueItems compares the strings as sent.",
    ),
    ServiceRule(
        "date of service window",
        ("POST /api/v1/cases",),
        400,
        r"service_lines\[\d+\]\.date_of_service",
        r"is more than (two years ahead|three years ago)",
        "A window around today; OpenAPI 3.0 has no minimum or maximum for a date.",
    ),
    ServiceRule(
        "birth date window",
        ("POST /api/v1/cases",),
        400,
        r"member\.birth_date",
        r"is in the future|is before 1890",
        "A window ending today; OpenAPI 3.0 has no minimum or maximum for a date.",
    ),
    ServiceRule(
        "fact catalogue",
        ("POST /api/v1/cases", "POST /api/v1/cases/{case_number}/information"),
        400,
        r"clinical_facts\..*",
        r"is not a known clinical fact|must be",
        "The fact catalogue (its keys and their types) is data the plan edits, not part of the API.",
    ),
    ServiceRule(
        "the case's service lines",
        ("POST /api/v1/cases/{case_number}/decisions",),
        400,
        r"lines\[\d+\]\.service_line|lines",
        r"has no service line|is decided twice|every service line needs an outcome|was answered at intake|"
        r"every line left to decide is referred",
        "Which service lines the case has, and which of them intake answered (they are not decided "
        "again); each line decided once, which is uniqueness of one property across the items "
        "(uniqueItems compares whole items); and a decision that refers lines decides at least one "
        "other, a rule across the items' outcomes and the case's other lines.",
    ),
    ServiceRule(
        "outcomes of the case's kind",
        ("POST /api/v1/cases/{case_number}/decisions",),
        400,
        r"lines\[\d+\]\.outcome",
        r"is not an outcome of (a line of an initial request|an appealed line)",
        "Which outcomes a line takes depends on the case the path names: an appeal's lines are "
        "overturned, partially overturned or upheld; an initial request's approved, denied and so on.",
    ),
    ServiceRule(
        "the plan's review decision reason codes",
        ("POST /api/v1/cases/{case_number}/decisions",),
        400,
        r"lines\[\d+\]\.reason_code",
        r"is not one of the plan's review decision reason codes|is no longer in use|is given on a denial",
        "Which review decision reason codes (X12 list 886, a licensed list) the plan keeps, and which are "
        "in use, is data managers edit, not part of the API.",
    ),
    ServiceRule(
        "the line's requested units",
        ("POST /api/v1/cases/{case_number}/decisions",),
        400,
        r"lines\[\d+\]\.approved_units",
        r"cannot exceed the \d+ units requested|a partial approval approves between 1 and \d+ units",
        "The units the case's service line requested.",
    ),
    ServiceRule(
        "published policy versions",
        ("POST /api/v1/cases/{case_number}/decisions",),
        400,
        r"(lines\[\d+\]\.)?citations\[\d+\]\.policy_version_id",
        r"is not a published policy version",
        "Which policy versions are published.",
    ),
    ServiceRule(
        "document type by content",
        ("POST /api/v1/cases/{case_number}/attachments",),
        400,
        r"file",
        r"the file is empty|must be a PDF, PNG, JPEG or TIFF document",
        "The document's type is read from its content (magic numbers), not from anything a schema "
        "can describe of a binary part.",
    ),
    ServiceRule(
        "code form by code_system",
        ("GET /api/v1/coverage",),
        400,
        r"code",
        r"is not a (CPT|HCPCS Level II) code",
        "The code's form depends on code_system, another query parameter; OpenAPI ties no "
        "parameter to another (the request body of POST /cases does, with anyOf).",
    ),
    ServiceRule(
        "Django's URLValidator",
        ("POST /api/v1/webhooks",),
        400,
        r"url",
        r"Enter a valid URL\.",
        "Django's URLValidator takes less than format: uri says (a host name of labels of at most "
        "63 characters and at most 253 in all, a top-level domain of letters, no user info).",
    ),
    ServiceRule(
        "webhook target network",
        ("POST /api/v1/webhooks",),
        400,
        r"url",
        r"must use https|does not resolve|is on a private network",
        "The deployment decides whether http is allowed (WEBHOOK_ALLOW_HTTP); whether the host "
        "resolves, and where to, is the network's answer at the time.",
    ),
    ServiceRule(
        "coverage end not before its start",
        ("POST /api/v1/eligibility",),
        400,
        r"coverages\[\d+\]\.coverage_end",
        r"is before the coverage start",
        "A period's end compared with its start: OpenAPI 3.0 has no minimum for a date and compares "
        "no field with another.",
    ),
    ServiceRule(
        "existing policies",
        ("POST /api/v1/retro/runs",),
        400,
        r"policy",
        r"there is no policy",
        "Which policies exist.",
    ),
    ServiceRule(
        "run dates",
        ("POST /api/v1/retro/runs",),
        400,
        r"date_from|date_to",
        r"must not be before",
        "The first date a run may cover (1990-01-01), and date_to not before date_from: OpenAPI "
        "3.0 has no minimum for a date and compares no field with another.",
    ),
)


def refusal_explained(case: schemathesis.Case, status: int, body: Any) -> list[ServiceRule]:
    """The rules that explain every problem a refusal names; empty when any problem is unexplained."""
    operation = f"{case.method.upper()} {case.path}"
    problems = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(problems, dict) or not problems:
        return []
    explained: list[ServiceRule] = []
    for field, messages in problems.items():
        for message in messages if isinstance(messages, list) else [messages]:
            rule = next(
                (
                    rule
                    for rule in SERVICE_RULES
                    if rule.status == status
                    and operation in rule.operations
                    and re.fullmatch(rule.field, str(field), re.DOTALL)
                    and re.search(rule.message, str(message))
                ),
                None,
            )
            if rule is None:
                return []
            explained.append(rule)
    return explained


FIGURES: dict[str, Counter[Any]] = {
    "status": Counter(),
    "role": Counter(),
    "explained": Counter(),
    "valid_as_received": Counter(),
}


def valid_data_accepted_but_for_service_rules(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis's positive data acceptance, but for a refusal that SERVICE_RULES explains."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        try:
            body = response.json()
        except ValueError:
            body = None
        rules = refusal_explained(case, response.status_code, body)
        if not rules:
            raise
        for rule in rules:
            FIGURES["explained"][(f"{case.method.upper()} {case.path}", rule.status, rule.name)] += 1
        return None


def invalid_data_refused_but_as_received(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis's negative data rejection, but for a body that is valid as the server receives it.

    Three ways a body invalid as generated reaches the view valid, each checked, not assumed:
    DRF's CharField reads a JSON number given for a string as its text (0 as "0"), and trims
    surrounding whitespace before it checks a string's length; and every field of a
    multipart/form-data body is text, so a null is sent as "null" (any other JSON value as its
    JSON text). Any other violation, or one outside the body, fails as schemathesis reports it.
    """
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        if any(_is_negative(case, location) for location in ("path", "query", "header", "cookie")):
            raise
        how = valid_as_received(case)
        if how is None:
            raise
        FIGURES["valid_as_received"][(f"{case.method.upper()} {case.path}", how)] += 1
        return None


def valid_as_received(case: schemathesis.Case) -> str | None:
    """How the body the case sends is valid as the server reads it, or None if it is not."""
    operation = schema.raw_schema["paths"][case.path][case.method.lower()]
    contents = operation.get("requestBody", {}).get("content", {})
    if not isinstance(case.body, dict) or case.media_type not in contents:
        return None
    validator = OAS30Validator({**contents[case.media_type]["schema"], "components": schema.raw_schema["components"]})
    if case.media_type == "multipart/form-data":
        form = {name: _form_text(value) for name, value in case.body.items()}
        return "a multipart field is text" if validator.is_valid(form) else None
    body: dict[str, Any] = copy.deepcopy(case.body)
    read: set[str] = set()
    while True:
        readings = {}
        for error in validator.iter_errors(body):
            value = error.instance
            if error.validator == "type" and error.validator_value == "string" and _is_number(value):
                readings[tuple(error.absolute_path)] = str(value)
                read.add("DRF reads a number as its text")
            elif error.validator in ("maxLength", "pattern") and isinstance(value, str) and value != value.strip():
                readings[tuple(error.absolute_path)] = value.strip()
                read.add("DRF trims surrounding whitespace first")
        if not readings:
            return "; ".join(sorted(read)) if read and validator.is_valid(body) else None
        for (*parents, last), value in readings.items():
            container: Any = body
            for key in parents:
                container = container[key]
            container[last] = value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _form_text(value: Any) -> Any:
    if isinstance(value, Binary):
        return value.data.decode("latin-1")
    if isinstance(value, str):
        return value
    return json.dumps(value)


pytestmark = pytest.mark.usefixtures("api_over_wsgi")  # tests/conftest.py


@pytest.fixture(scope="module", autouse=True)
def print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not FIGURES["status"]:
        return
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    total = sum(FIGURES["status"].values())
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(FIGURES["status"].items()))
    by_role = ", ".join(f"{role}: {n}" for role, n in sorted(FIGURES["role"].items()))
    lines = [f"schemathesis: {total} requests; by status {by_status}; by role {by_role}"]
    lines += [
        f"  valid request refused by a service rule: {operation} {status} ({name}): {n}"
        for (operation, status, name), n in sorted(FIGURES["explained"].items())
    ]
    lines += [
        f"  invalid request valid as received ({how}): {operation}: {n}"
        for (operation, how), n in sorted(FIGURES["valid_as_received"].items())
    ]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    # pytest-randomly may run the module's tests in two stretches: each prints its own figures.
    for figures in FIGURES.values():
        figures.clear()


@pytest.fixture
def world(integration_client, nurse, physician, manager, editor) -> dict[str, Any]:
    """Cases, a published policy, an attachment and a retrospective run, so requests reach past the 404s."""
    version = factories.publish(factories.draft_version(), editor)
    dos = timezone.localdate() + timedelta(days=10)
    line = LineInput(code_system="CPT", code="62330", units=UNITS, date_of_service=dos)
    cases = [factories.case(integration_client, external_id=f"OWN-{i}", service_lines=(line,)) for i in range(6)]
    attachment = attachment_add(
        case_id=cases[0].pk,
        user=integration_client,
        upload=_upload(),
        description="Imaging report",
    )
    run = retro_services.retro_run_request(
        user=manager,
        request=retro_services.RunRequest(
            policy_id=version.policy_id, date_from=timezone.localdate() - timedelta(days=90), date_to=dos
        ),
        origin=RetroOrigin.API,
    )
    users = {"integration_client": integration_client, "nurse": nurse, "physician": physician, "manager": manager}
    return {
        "policy_version_id": version.pk,
        "policy_id": version.policy_id,
        "cases": [c.case_number for c in cases],
        "attachment": (cases[0].case_number, attachment.pk),
        "run_id": run.pk,
        "people": {name: {"user": user, "token": api_token_create(user=user)[1]} for name, user in users.items()},
        "calls": 0,
    }


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("report.pdf", PDF, content_type="application/pdf")


def _is_negative(case: schemathesis.Case, location: str | None = None) -> bool:
    """Whether the case was generated invalid (in `location`: path, query, header, body)."""
    meta = case.meta
    if meta is None:
        return False
    if location is None:
        return bool(meta.generation.mode.is_negative)
    return any(
        component.mode.is_negative
        for where, component in meta.components.items()
        if str(getattr(where, "value", where)).lower() == location
    )


def _steer_path(case: schemathesis.Case, world: dict[str, Any], n: int) -> None:
    if _is_negative(case, "path") or not n % 3:
        return
    path_parameters = dict(case.path_parameters or {})
    if "attachment_id" in path_parameters:
        path_parameters["case_number"], path_parameters["attachment_id"] = world["attachment"]
    elif "case_number" in path_parameters:
        path_parameters["case_number"] = world["cases"][n % len(world["cases"])]
    if "run_id" in path_parameters:
        path_parameters["run_id"] = world["run_id"]
    case.path_parameters = path_parameters


def _steer_valid(case: schemathesis.Case, world: dict[str, Any], n: int) -> None:
    """Swap values of a valid request for ones the services accept (every one fits the schema)."""
    if case.path == "/api/v1/coverage" and isinstance(case.query, dict) and n % 2:
        case.query = {**case.query, "code": "62330", "code_system": "CPT", "date_of_service": "2026-12-01"}
    if not isinstance(case.body, dict) or (n // 3) % 2 or case.path.endswith("/attachments"):
        return
    body: dict[str, Any] = dict(case.body)
    dos = (timezone.localdate() + timedelta(days=10)).isoformat()
    if (case.method, case.path) == ("POST", "/api/v1/cases"):
        body["member"] = {"member_id": "M123", "first_name": "Ada", "last_name": "Case", "birth_date": "1960-05-01"}
        body["requesting_provider"] = {"npi": factories.VALID_NPI, "name": "Spine Clinic"}
        if body.get("servicing_provider") is not None:
            body["servicing_provider"] = {"npi": factories.OTHER_VALID_NPI, "name": "Surgery Center"}
        body["diagnosis_codes"] = ["M48.062"]
        body["clinical_facts"] = {}
        body["service_lines"] = [
            {**line, "code_system": "CPT", "code": "62330", "date_of_service": dos, "modifiers": []}
            for line in body["service_lines"]
        ]
        if body.get("external_id"):
            body["external_id"] = f"{body['external_id'][:60]}-{uuid.uuid4().hex[:8]}"
    elif case.path.endswith("/decisions"):
        outcome = body["lines"][0]["outcome"]
        line: dict[str, Any] = {"service_line": 1, "outcome": outcome, "reason": "Per the cited policy."}
        if outcome == LineOutcome.PARTIALLY_APPROVED:
            line["approved_units"] = UNITS - 1
        body["lines"] = [line]
        body["citations"] = [{"policy_version_id": world["policy_version_id"], "criterion": "Investigational."}]
    elif case.path.endswith("/information"):
        body["clinical_facts"] = {}
        body["clinical_notes"] = "Six weeks of physical therapy, no relief."
    elif case.path == "/api/v1/retro/runs":
        body["policy_id"] = world["policy_id"]
        body["date_from"] = (timezone.localdate() - timedelta(days=30)).isoformat()
        body["date_to"] = dos
    case.body = body


def call_as_each_role(case: schemathesis.Case, world: dict[str, Any]) -> None:
    world["calls"] += 1
    n = world["calls"]
    role = PERSONAS[n % len(PERSONAS)]
    _steer_path(case, world, n)
    if not _is_negative(case):
        _steer_valid(case, world, n)
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {world['people'][role]['token']}"},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
        additional_checks=[valid_data_accepted_but_for_service_rules, invalid_data_refused_but_as_received],
    )
    FIGURES["status"][response.status_code] += 1
    FIGURES["role"][role] += 1


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema(case: schemathesis.Case, world: dict[str, Any]) -> None:
    m = case.meta
    FIGURES.setdefault("dbg", Counter())[(case.method, case.path, str(m.phase.name), str(m.generation.mode))] += 1
    call_as_each_role(case, world)


# --- the rules the test lets through, checked themselves ----------------------------------


def test_every_service_rule_names_operations_of_the_schema() -> None:
    assert len(IDEMPOTENT_OPERATIONS) == 12
    for rule in SERVICE_RULES:
        assert rule.operations and set(rule.operations) <= set(OPERATIONS), rule.name


def test_a_refusal_naming_an_unexplained_problem_is_not_explained() -> None:
    case = schema["/api/v1/cases"]["POST"].Case(body={})
    mixed = {
        "errors": {
            "requesting_provider.npi": ["'1234567890' is not a valid NPI: ten digits with a correct check digit"],
            "member.first_name": ["This field may not be blank."],
        }
    }
    assert refusal_explained(case, 400, mixed) == []
    assert refusal_explained(
        case, 400, {"errors": {"requesting_provider.npi": mixed["errors"]["requesting_provider.npi"]}}
    )
    assert refusal_explained(case, 409, {"errors": {"requesting_provider.npi": ["is not a valid NPI"]}}) == []


# --- regressions found while fuzzing --------------------------------------------------------


@pytest.mark.django_db
def test_webhook_url_with_port_out_of_range_is_400_not_500(integration_client):
    _, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.post("/api/v1/webhooks", {"url": "https://hooks.example.com:99999/pa"}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()["errors"]


@pytest.mark.django_db
def test_a_sampled_retrospective_run_started_with_an_idempotency_key_is_201_and_replays(manager, editor):
    version = factories.publish(factories.draft_version(), editor)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=manager)[1]}")
    today = timezone.localdate()
    body = {
        "policy_id": version.policy_id,
        "date_from": str(today - timedelta(days=30)),
        "date_to": str(today),
        "sample_percent": "12.5",
    }
    first = api.post("/api/v1/retro/runs", body, format="json", HTTP_IDEMPOTENCY_KEY="sampled-run")
    again = api.post("/api/v1/retro/runs", body, format="json", HTTP_IDEMPOTENCY_KEY="sampled-run")
    assert (first.status_code, again.status_code) == (201, 201), first.content
    assert first.json() == again.json()
    assert first.json()["sample_percent"] == 12.5
    assert again["Idempotent-Replayed"] == "true"


def test_schema_documents_the_paginated_case_list():
    responses = schema.raw_schema["paths"]["/api/v1/cases"]["get"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PaginatedCaseOutputList")

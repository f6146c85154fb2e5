"""The OpenAPI schema at /api/schema/: valid OpenAPI 3.0, and saying what the server enforces.

CI validates it with openapi-spec-validator here. The rest checks the rules casemgmt.api.schema
and the field classes of casemgmt.api.serializers add, against the services' own checks where
there are some: a pattern the schema states must take exactly the form the service takes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import simple_icd_10_cm as icd
from django.test import Client, override_settings
from django.utils import timezone
from openapi_spec_validator import OpenAPIV30SpecValidator
from rest_framework.test import APIClient

from casemgmt.api.retro import PERCENT_PATTERN, RetroRunCollectionApi
from casemgmt.api.serializers import (
    CPT_PATTERN,
    HCPCS_PATTERN,
    ICD10CM_PATTERN,
    MODIFIER_PATTERN,
    NOT_BLANK_PATTERN,
    NPI_PATTERN,
    PROCEDURE_CODE_PATTERN,
)
from casemgmt.cases.validation import MODIFIER_RE, NPI_RE
from casemgmt.kernel.json_input import INTEGER_LIMIT
from casemgmt.retro.models import RetroRun
from casemgmt.retro.services import RunRequest, retro_run_request_problems
from casemgmt.security.services import api_token_create
from policies_app.codes import code_problem
from tests import factories

ANSWERED_TO_ANY_REQUEST = {400, 401, 429, 503}  # a NUL in the URL or a header; no token; rate; outage
ANSWERED_TO_ANY_BODY = {413, 415}


def _serve() -> dict[str, Any]:
    """The schema as /api/schema/ serves it (no database needed)."""
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


SERVED = _serve()


@pytest.fixture
def served() -> dict[str, Any]:
    return SERVED


def _component(served: dict[str, Any], reference: str) -> dict[str, Any]:
    return served["components"]["schemas"][reference.rpartition("/")[2]]


def _request_objects(served: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object a request body holds, by component name, the nested ones too."""
    pending = [
        media["schema"]["$ref"]
        for item in served["paths"].values()
        for operation in item.values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
    ]
    seen: set[str] = set()
    while pending:
        reference = pending.pop()
        if reference in seen:
            continue
        seen.add(reference)
        schema = _component(served, reference)
        if schema.get("type") == "object":
            yield reference.rpartition("/")[2], schema
        for prop in schema.get("properties", {}).values():
            for nested in (prop, prop.get("items", {}), *prop.get("allOf", [])):
                if "$ref" in nested:
                    pending.append(nested["$ref"])


def _operations(served: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in served["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_the_served_schema_is_valid_openapi_3(served):
    errors = [f"{list(error.path)}: {error.message}" for error in OpenAPIV30SpecValidator(served).iter_errors()]
    assert errors == []


def test_every_request_object_refuses_fields_it_does_not_know(served):
    objects = dict(_request_objects(served))
    assert {"CaseCollectionInputRequest", "CaseCollectionInputLineRequest", "RetroRunInputRequest"} <= set(objects)
    assert {name for name, schema in objects.items() if schema.get("additionalProperties") is not False} == set()


def test_lists_of_objects_state_their_sizes(served):
    case = _component(served, "CaseCollectionInputRequest")["properties"]
    decision = _component(served, "CaseDecisionsInputRequest")["properties"]
    assert (case["service_lines"]["minItems"], case["service_lines"]["maxItems"]) == (1, 50)
    assert (decision["lines"]["minItems"], decision["lines"]["maxItems"]) == (1, 50)
    assert decision["citations"]["maxItems"] == 20
    assert case["diagnosis_codes"]["maxItems"] == 25


def test_every_request_integer_is_bounded_within_what_the_parser_takes(served):
    unbounded = [
        f"{name}.{prop}"
        for name, schema in _request_objects(served)
        for prop, field in schema.get("properties", {}).items()
        if field.get("type") == "integer"
        and not (field.get("minimum", -(2**64)) >= -INTEGER_LIMIT - 1 and field.get("maximum", 2**64) <= INTEGER_LIMIT)
    ]
    assert unbounded == []


def test_ids_and_counts_state_their_real_limits(served):
    line = _component(served, "CaseDecisionsInputLineRequest")["properties"]
    citation = _component(served, "CaseDecisionsInputCitationRequest")["properties"]
    run = _component(served, "RetroRunInputRequest")["properties"]
    assert (line["service_line"]["minimum"], line["service_line"]["maximum"]) == (1, 50)
    assert (line["approved_units"]["minimum"], line["approved_units"]["maximum"]) == (0, 10_000)
    assert citation["policy_version_id"]["maximum"] == run["policy_id"]["maximum"] == INTEGER_LIMIT


def test_codes_and_npis_carry_their_patterns(served):
    provider = _component(served, "CaseCollectionInputProviderRequest")["properties"]
    line = _component(served, "CaseCollectionInputLineRequest")
    case = _component(served, "CaseCollectionInputRequest")["properties"]
    coverage = next(p for p in served["paths"]["/api/v1/coverage"]["get"]["parameters"] if p["name"] == "code")
    assert provider["npi"]["pattern"] == NPI_PATTERN
    assert line["properties"]["code"]["pattern"] == coverage["schema"]["pattern"] == PROCEDURE_CODE_PATTERN
    assert line["properties"]["modifiers"]["items"]["pattern"] == MODIFIER_PATTERN
    assert case["diagnosis_codes"]["items"]["pattern"] == ICD10CM_PATTERN
    assert case["diagnosis_codes"]["uniqueItems"] is True
    assert [branch["properties"]["code"]["pattern"] for branch in line["anyOf"]] == [CPT_PATTERN, HCPCS_PATTERN]


def test_a_string_that_may_not_be_blank_says_so(served):
    member = _component(served, "CaseCollectionInputMemberRequest")["properties"]
    pend = _component(served, "CasePendInputRequest")["properties"]
    cancel = _component(served, "CaseCancelInputRequest")["properties"]
    assert member["first_name"]["pattern"] == pend["needed"]["pattern"] == NOT_BLANK_PATTERN
    assert "pattern" not in cancel["reason"]  # may be blank


def test_a_choice_with_no_default_in_its_enum_is_stated_without_one(served):
    line_of_business = _component(served, "RetroRunInputRequest")["properties"]["line_of_business"]
    assert line_of_business == {"$ref": "#/components/schemas/LineOfBusinessEnum"}


def test_a_body_that_must_hold_something_is_required(served):
    information = served["paths"]["/api/v1/cases/{case_number}/information"]["post"]["requestBody"]
    cancel = served["paths"]["/api/v1/cases/{case_number}/cancel"]["post"]["requestBody"]
    assert information.get("required") is True
    assert cancel.get("required") is not True  # no body is a cancellation without a reason


@pytest.mark.parametrize(
    "method, path",
    [pytest.param(method, path, id=operation["operationId"]) for method, path, operation in _operations(SERVED)],
)
def test_an_operation_documents_the_answers_any_request_may_get(served, method, path):
    documented = {int(code) for code in served["paths"][path][method]["responses"]}
    expected = ANSWERED_TO_ANY_REQUEST | (ANSWERED_TO_ANY_BODY if method == "post" else set())
    assert expected - documented == set()


# --- the schema's patterns take what the services take ----------------------------------------

CODE_SAMPLES = [
    "62330",
    "0001F",
    "0001f",
    "0042T",
    "0001U",
    "1234X",
    "6233",
    "623301",
    "J1234",
    "j1234",
    "V9999",
    "W1234",
    "A12345",
    "A123",
    "",
    "ABCDE",
    "12 45",
    "٦٢٣٣٠",
]


@pytest.mark.parametrize("system, pattern", [("CPT", CPT_PATTERN), ("HCPCS", HCPCS_PATTERN)])
def test_a_procedure_code_fits_its_pattern_exactly_when_the_service_takes_its_form(system, pattern):
    for code in CODE_SAMPLES:
        # The service's \d also takes digits of other scripts (٦٢٣٣٠); the schema states ASCII
        # digits, the only ones a real code has.
        takes = code_problem(system, code.strip().upper()) is None and code.isascii()
        assert bool(re.search(pattern, code)) == takes, (system, code)


def test_the_procedure_code_pattern_is_either_system_s():
    for code in CODE_SAMPLES:
        either = bool(re.search(CPT_PATTERN, code) or re.search(HCPCS_PATTERN, code))
        assert bool(re.search(PROCEDURE_CODE_PATTERN, code)) == either, code


def test_every_icd10cm_code_fits_the_diagnosis_pattern_written_as_clients_write_it():
    codes = [code for code in icd.get_all_codes(with_dots=True) if not icd.is_chapter_or_block(code)]
    assert len(codes) > 90_000
    for code in codes:
        for written in (code, code.replace(".", ""), code.lower()):
            assert re.search(ICD10CM_PATTERN, written), written
            assert code_problem("ICD10CM", written) is None, written


@pytest.mark.parametrize("text", ["M48", "M480", "M48.0621", "Z3A.01", "1", "A00-A09", "M48..0", "M", "M48.06210"])
def test_the_diagnosis_pattern_takes_codes_only(text):
    assert bool(re.search(ICD10CM_PATTERN, text)) == (text in {"M48", "M480", "M48.0621", "Z3A.01"})


@pytest.mark.parametrize("npi", ["1234567893", "123456789", "12345678931", "123456789X", "", "٠١٢٣٤٥٦٧٨٩"])
def test_an_npi_fits_its_pattern_exactly_when_it_has_the_form_the_service_checks(npi):
    # ASCII digits only, as for procedure codes above.
    assert bool(re.search(NPI_PATTERN, npi)) == bool(NPI_RE.match(npi) and npi.isascii())


@pytest.mark.parametrize("modifier", ["26", "TC", "tc", "Lt", "T", "TCX", "-1", "  ", "ü1"])
def test_a_modifier_fits_its_pattern_exactly_when_the_service_takes_it(modifier):
    assert bool(re.search(MODIFIER_PATTERN, modifier)) == bool(MODIFIER_RE.match(modifier.upper()))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "percent", ["100", "100.00", "0.01", ".5", "33.33", "1", "0", "0.00", "100.01", "101", "-1", "1.001", "ten"]
)
def test_the_sample_percent_pattern_takes_what_the_api_and_the_retro_service_take(percent):
    today = timezone.localdate()
    body = {
        "policy_id": 1,
        "date_from": str(today - timedelta(days=30)),
        "date_to": str(today),
        "sample_percent": percent,
    }
    serializer = RetroRunCollectionApi.InputSerializer(data=body)
    taken = (
        serializer.is_valid()
        and "sample_percent" not in retro_run_request_problems(RunRequest(**serializer.validated_data)).errors
    )
    assert bool(re.search(PERCENT_PATTERN, percent)) == taken


def test_a_not_blank_string_holds_a_character_python_does_not_strip():
    pattern = re.compile(NOT_BLANK_PATTERN)
    disagree = [c for c in range(sys.maxunicode + 1) if bool(pattern.search(chr(c))) == (chr(c).strip() == "")]
    assert disagree == []


# --- behaviour kept while the schema changed ----------------------------------------------


@pytest.mark.django_db
def test_a_retrospective_run_without_a_line_of_business_covers_every_one(manager, editor):
    version = factories.publish(factories.draft_version(), editor)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=manager)[1]}")
    today = timezone.localdate()
    body = {"policy_id": version.policy_id, "date_from": str(today - timedelta(days=30)), "date_to": str(today)}
    response = api.post("/api/v1/retro/runs", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["line_of_business"] == ""
    assert RetroRun.objects.get(pk=response.json()["id"]).line_of_business == ""

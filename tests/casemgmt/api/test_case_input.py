"""What `POST /api/v1/cases` accepts, and the exact 400 body of what it refuses.

CaseCollectionApi.InputSerializer validates the request (DRF); a refusal names every field path
with DRF's message for it, in the API's error body. The tables are realistic requests with one
thing changed at an edge DRF cares about (whitespace, lengths, NUL and surrogates, coercible
types, date formats, missing and unknown keys).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from casemgmt.api.cases import CaseCollectionApi
from casemgmt.api.serializers import MAX_DIAGNOSES, MAX_LINES, MAX_NOTES
from casemgmt.cases.models import Case, ReviewType
from casemgmt.security.services import api_token_create
from tests import factories

DOS = "2026-12-01"


def _valid_line(code: str = "62330") -> dict[str, Any]:
    return {"code_system": "CPT", "code": code, "units": 1, "date_of_service": DOS, "description": "mild, L4-L5"}


def _valid_provider() -> dict[str, Any]:
    return {"npi": factories.VALID_NPI, "name": "Spine Clinic"}


def _valid_body() -> dict[str, Any]:
    """A realistic submission (bench/intake/run.py's intake_body), every key present."""
    return {
        "external_id": "EHR-1",
        "urgency": "standard",
        "line_of_business": "commercial",
        "review_type": "prospective",
        "member": {"member_id": "W100200300", "first_name": "Bench", "last_name": "Member", "birth_date": "1961-03-14"},
        "requesting_provider": _valid_provider(),
        "diagnosis_codes": ["M48.062", "M54.16"],
        "service_lines": [
            _valid_line("62330"),
            {**_valid_line("62331"), "modifiers": ["59"], "description": "add. level"},
            {**_valid_line("72148"), "modifiers": [], "description": "MRI lumbar"},
        ],
        "clinical_facts": {"conservative_therapy_weeks": 12},
        "clinical_notes": "Lumbar stenosis with neurogenic claudication; 12 weeks of physical therapy failed.",
    }


def _minimal_body() -> dict[str, Any]:
    return {
        "urgency": "expedited",
        "line_of_business": "medicaid",
        "member": {"member_id": "M1", "first_name": "Ada", "last_name": "Case", "birth_date": "1960-05-01"},
        "requesting_provider": _valid_provider(),
        "service_lines": [{"code_system": "HCPCS", "code": "G0276", "units": 10_000, "date_of_service": DOS}],
    }


def _body_with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = _valid_body()
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def _body_without(*path: Any) -> dict[str, Any]:
    body = _valid_body()
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return body


def _validated(raw: Any) -> Any:
    serializer = CaseCollectionApi.InputSerializer(data=raw)
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data


def _refused(raw: Any) -> bool:
    return not CaseCollectionApi.InputSerializer(data=raw).is_valid()


# --- refused: the 400 body, field path by field path -----------------------------------------

# Each body DRF refuses, with the `errors` of the API's 400 answer to it.
REFUSED: dict[str, tuple[Any, dict[str, list[str]]]] = {
    "empty body": (
        None,
        {
            "urgency": ["This field is required."],
            "line_of_business": ["This field is required."],
            "member": ["This field is required."],
            "requesting_provider": ["This field is required."],
            "service_lines": ["This field is required."],
        },
    ),
    "unknown top-level key": (
        _body_with(("extra",), "x"),
        {"extra": ["This field is not part of the request."]},
    ),
    "unknown member key": (
        _body_with(("member", "middle_name"), "Q"),
        {"member.middle_name": ["This field is not part of the request."]},
    ),
    "unknown provider key": (
        _body_with(("requesting_provider", "taxonomy"), "x"),
        {"requesting_provider.taxonomy": ["This field is not part of the request."]},
    ),
    "unknown line key": (
        _body_with(("service_lines", 0, "quantity"), 1),
        {"service_lines[0].quantity": ["This field is not part of the request."]},
    ),
    "required top-level key missing": (
        _body_without("urgency"),
        {"urgency": ["This field is required."]},
    ),
    "required nested key missing": (
        _body_without("member", "birth_date"),
        {"member.birth_date": ["This field is required."]},
    ),
    "required line key missing": (
        _body_without("service_lines", 0, "units"),
        {"service_lines[0].units": ["This field is required."]},
    ),
    "member missing": (
        _body_without("member"),
        {"member": ["This field is required."]},
    ),
    "service_lines missing": (
        _body_without("service_lines"),
        {"service_lines": ["This field is required."]},
    ),
    "null member": (
        _body_with(("member",), None),
        {"member": ["This field may not be null."]},
    ),
    "null string": (
        _body_with(("external_id",), None),
        {"external_id": ["This field may not be null."]},
    ),
    "null line list": (
        _body_with(("service_lines",), None),
        {"service_lines": ["This field may not be null."]},
    ),
    "member not an object": (
        _body_with(("member",), ["M123"]),
        {"member": ["Invalid data. Expected a dictionary, but got list."]},
    ),
    "blank required string": (
        _body_with(("member", "member_id"), ""),
        {"member.member_id": ["This field may not be blank."]},
    ),
    "whitespace-only required string": (
        _body_with(("member", "first_name"), " \t\u00a0"),
        {"member.first_name": ["This field may not be blank."]},
    ),
    "string over max_length": (
        _body_with(("member", "member_id"), "M" * 51),
        {"member.member_id": ["Ensure this field has no more than 50 characters."]},
    ),
    "string over max_length after trimming": (
        _body_with(("requesting_provider", "npi"), " 12345678901 "),
        {"requesting_provider.npi": ["Ensure this field has no more than 10 characters."]},
    ),
    "list for a string": (
        _body_with(("clinical_notes",), ["Lumbar"]),
        {"clinical_notes": ["Not a valid string."]},
    ),
    "bool for a string": (
        _body_with(("external_id",), True),
        {"external_id": ["Not a valid string."]},
    ),
    "choice not offered": (
        _body_with(("urgency",), "urgent"),
        {"urgency": ['"urgent" is not a valid choice.']},
    ),
    "choice in other case": (
        _body_with(("urgency",), "STANDARD"),
        {"urgency": ['"STANDARD" is not a valid choice.']},
    ),
    "choice with whitespace": (
        _body_with(("line_of_business",), " commercial"),
        {"line_of_business": ['" commercial" is not a valid choice.']},
    ),
    "units 0": (
        _body_with(("service_lines", 0, "units"), 0),
        {"service_lines[0].units": ["Ensure this value is greater than or equal to 1."]},
    ),
    "units 10001": (
        _body_with(("service_lines", 0, "units"), 10_001),
        {"service_lines[0].units": ["Ensure this value is less than or equal to 10000."]},
    ),
    "units true": (
        _body_with(("service_lines", 0, "units"), True),
        {"service_lines[0].units": ["A valid integer is required."]},
    ),
    "units 2.5": (
        _body_with(("service_lines", 0, "units"), 2.5),
        {"service_lines[0].units": ["A valid integer is required."]},
    ),
    "units not numeric": (
        _body_with(("service_lines", 0, "units"), "one"),
        {"service_lines[0].units": ["A valid integer is required."]},
    ),
    "impossible date": (
        _body_with(("member", "birth_date"), "2026-02-30"),
        {"member.birth_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    "datetime for a date": (
        _body_with(("service_lines", 0, "date_of_service"), "2026-12-01T00:00:00"),
        {"service_lines[0].date_of_service": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    "date with leading space": (
        _body_with(("service_lines", 0, "date_of_service"), " 2026-12-01"),
        {"service_lines[0].date_of_service": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    "date with slashes": (
        _body_with(("member", "birth_date"), "1961/03/14"),
        {"member.birth_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    "number for a date": (
        _body_with(("member", "birth_date"), 19610314),
        {"member.birth_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    "modifiers not a list": (
        _body_with(("service_lines", 0, "modifiers"), "59"),
        {"service_lines[0].modifiers": ['Expected a list of items but got type "str".']},
    ),
    "five modifiers": (
        _body_with(("service_lines", 0, "modifiers"), ["59", "LT", "RT", "76", "77"]),
        {"service_lines[0].modifiers": ["Ensure this field has no more than 4 elements."]},
    ),
    "modifier too long": (
        _body_with(("service_lines", 0, "modifiers"), ["591"]),
        {"service_lines[0].modifiers[0]": ["Ensure this field has no more than 2 characters."]},
    ),
    "null modifier": (
        _body_with(("service_lines", 0, "modifiers"), [None]),
        {"service_lines[0].modifiers[0]": ["This field may not be null."]},
    ),
    "26 diagnoses": (
        _body_with(("diagnosis_codes",), ["M48.062"] * (MAX_DIAGNOSES + 1)),
        {"diagnosis_codes": ["Ensure this field has no more than 25 elements."]},
    ),
    "diagnosis too long": (
        _body_with(("diagnosis_codes",), ["M48.0620000X"]),
        {"diagnosis_codes[0]": ["Ensure this field has no more than 10 characters."]},
    ),
    "facts not an object": (
        _body_with(("clinical_facts",), [["weeks", 12]]),
        {"clinical_facts": ['Expected a dictionary of items but got type "list".']},
    ),
    "null facts": (
        _body_with(("clinical_facts",), None),
        {"clinical_facts": ["This field may not be null."]},
    ),
    "no service lines": (
        _body_with(("service_lines",), []),
        {"service_lines": ["Ensure this field has at least 1 elements."]},
    ),
    "51 service lines": (
        _body_with(("service_lines",), [_valid_line()] * (MAX_LINES + 1)),
        {"service_lines": ["Ensure this field has no more than 50 elements."]},
    ),
    "service line not an object": (
        _body_with(("service_lines", 1), "62331"),
        {"service_lines[1]": ["Invalid data. Expected a dictionary, but got str."]},
    ),
    "service_lines an object": (
        _body_with(("service_lines",), _valid_line()),
        {"service_lines": ['Expected a list of items but got type "dict".']},
    ),
    "servicing provider not an object": (
        _body_with(("servicing_provider",), factories.VALID_NPI),
        {"servicing_provider": ["Invalid data. Expected a dictionary, but got str."]},
    ),
    "clinical notes over max_length": (
        _body_with(("clinical_notes",), "a" * (MAX_NOTES + 1)),
        {"clinical_notes": ["Ensure this field has no more than 20000 characters."]},
    ),
}


@pytest.fixture
def api(integration_client: User) -> APIClient:
    _, raw = api_token_create(user=integration_client)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(("raw", "errors"), REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_request_is_400_naming_each_field_path(
    api: APIClient, raw: Any, errors: dict[str, list[str]]
) -> None:
    # Sent as JSON text, so a lone surrogate travels as JSON escapes it.
    response = api.post("/api/v1/cases", "" if raw is None else json.dumps(raw), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "The request is invalid; nothing was stored.", "errors": errors}
    assert not Case.objects.exists()


# Bodies the API's JSON parser refuses before any serializer sees them (its own 400 and tests:
# tests/casemgmt/api/test_parsers.py); the serializer refuses each of them as well.
REFUSED_BY_THE_PARSER_TOO: dict[str, Any] = {
    "top-level list": [_valid_body()],
    "top-level string": "{}",
    "NUL in string": _body_with(("member", "last_name"), "Ca\x00se"),
    "lone surrogate in string": _body_with(("member", "last_name"), "Case\ud800"),
    "units 2**70": _body_with(("service_lines", 0, "units"), 2**70),
}


@pytest.mark.parametrize("raw", REFUSED_BY_THE_PARSER_TOO.values(), ids=REFUSED_BY_THE_PARSER_TOO.keys())
def test_the_serializer_refuses_what_the_parser_refuses_first(raw: Any) -> None:
    assert _refused(raw)


# --- accepted ---------------------------------------------------------------------------------

# Bodies DRF accepts by coercing a value.
COERCED: dict[str, Any] = {
    "integer for a string": _body_with(("external_id",), 12345),
    "float for a string": _body_with(("member", "member_id"), 1.5),
    "units 1.0": _body_with(("service_lines", 0, "units"), 1.0),
    "units as a string": _body_with(("service_lines", 0, "units"), "2"),
    "units as a string with spaces": _body_with(("service_lines", 0, "units"), " 2 "),
    "date without zero padding": _body_with(("service_lines", 0, "date_of_service"), "2026-1-5"),
    "date without dashes": _body_with(("service_lines", 0, "date_of_service"), "20261201"),
    "ISO week date": _body_with(("member", "birth_date"), "1961-W11-2"),
    "integer for the code": _body_with(("service_lines", 0, "code"), 62330),
}


# Bodies DRF accepts as they are (the domain's own checks may still refuse some: 25 diagnoses, say).
ACCEPTED: dict[str, Any] = {
    "whitespace trimmed": _body_with(("member", "member_id"), " \tM123\u00a0\n"),
    "blank optional string": _body_with(("external_id",), ""),
    "whitespace-only optional string": _body_with(("service_lines", 0, "description"), " \u3000 "),
    "string at max_length": _body_with(("member", "member_id"), "M" * 50),
    "string at max_length once trimmed": _body_with(("requesting_provider", "npi"), "  1234567893  "),
    "non-ASCII letters": _body_with(("member", "last_name"), "Ünal-Zoë 名前"),
    "non-ASCII at max_length": _body_with(("member", "first_name"), "é" * 100),
    "astral character": _body_with(("member", "first_name"), "\U0001d518da"),
    "zero-width space kept": _body_with(("member", "first_name"), "\u200bAda"),
    "units 1": _body_with(("service_lines", 0, "units"), 1),
    "units 10000": _body_with(("service_lines", 0, "units"), 10_000),
    "leap day": _body_with(("member", "birth_date"), "2024-02-29"),
    "four modifiers": _body_with(("service_lines", 0, "modifiers"), ["59", "lt", " RT", "76 "]),
    "25 diagnoses": _body_with(("diagnosis_codes",), ["M48.062"] * MAX_DIAGNOSES),
    "no diagnoses": _body_with(("diagnosis_codes",), []),
    "50 service lines": _body_with(("service_lines",), [_valid_line()] * MAX_LINES),
    "nested facts": _body_with(("clinical_facts",), {"a": {"b": [1, None, "x"]}, "c": None, "d": 1.5, "e": True}),
    "clinical notes at max_length": _body_with(("clinical_notes",), "a" * MAX_NOTES),
    "retrospective review": _body_with(("review_type",), "retrospective"),
}


@pytest.mark.parametrize("raw", [*COERCED.values(), *ACCEPTED.values()], ids=[*COERCED, *ACCEPTED])
def test_edge_values_pass_the_serializer(raw: Any) -> None:
    assert not _refused(raw)


def test_a_realistic_request_is_accepted_with_dates_as_dates() -> None:
    v = _validated(_valid_body())
    assert v["member"]["birth_date"] == date(1961, 3, 14)
    assert [type(line["date_of_service"]) for line in v["service_lines"]] == [date] * 3


def test_coerced_values_arrive_as_their_fields_type() -> None:
    assert _validated(COERCED["integer for a string"])["external_id"] == "12345"
    assert _validated(COERCED["units as a string with spaces"])["service_lines"][0]["units"] == 2
    assert _validated(COERCED["date without dashes"])["service_lines"][0]["date_of_service"] == date(2026, 12, 1)


def test_whitespace_around_text_is_trimmed() -> None:
    assert _validated(ACCEPTED["whitespace trimmed"])["member"]["member_id"] == "M123"


def test_the_defaults_are_applied() -> None:
    v = _validated(_minimal_body())
    assert (v["external_id"], v["diagnosis_codes"], v["clinical_facts"], v["clinical_notes"]) == ("", [], {}, "")
    assert v["review_type"] == ReviewType.PROSPECTIVE
    assert (v["service_lines"][0]["modifiers"], v["service_lines"][0]["description"]) == ([], "")


def test_each_request_gets_its_own_default_lists() -> None:
    # default=list is called per request: a shared list would leak one request's edits into the next.
    first, second = _validated(_minimal_body()), _validated(_minimal_body())
    assert first["diagnosis_codes"] is not second["diagnosis_codes"]
    assert first["clinical_facts"] is not second["clinical_facts"]


def test_an_absent_servicing_provider_is_left_out() -> None:
    assert "servicing_provider" not in _validated(_minimal_body())


def test_a_null_servicing_provider_is_kept_as_null() -> None:
    assert _validated({**_minimal_body(), "servicing_provider": None})["servicing_provider"] is None


def test_a_given_servicing_provider_is_validated() -> None:
    raw = {**_minimal_body(), "servicing_provider": {"npi": f" {factories.OTHER_VALID_NPI} ", "name": "Imaging"}}
    assert _validated(raw)["servicing_provider"] == {"npi": factories.OTHER_VALID_NPI, "name": "Imaging"}

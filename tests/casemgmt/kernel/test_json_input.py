"""The API's JSON parser (casemgmt.kernel.json_input): what it refuses, where it says the problem is,
and that it reads everything else as the standard library would.

tests/reliability/test_bad_inputs.py sends the same kinds of bodies to every endpoint.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.views import APIView

from casemgmt.api.attachments import CaseAttachmentsApi
from casemgmt.kernel.json_input import MAX_DEPTH, ApiJSONParser, JsonRefused, read_json


def refusal(document: bytes | str) -> dict[str, list[str]]:
    with pytest.raises(JsonRefused) as caught:
        read_json(document)
    return caught.value.errors


def parse(body: bytes, charset: str = "utf-8") -> Any:
    return ApiJSONParser().parse(io.BytesIO(body), "application/json", {"encoding": charset})


def nested(depth: int, inner: str = "1") -> str:
    """An object `depth` containers deep: {"a": {"a": ... inner ...}}."""
    return '{"a":' * depth + inner + "}" * depth


# --- depth ----------------------------------------------------------------------------------


def test_the_depth_limit_is_sixty_four() -> None:
    assert MAX_DEPTH == 64


def test_sixty_four_levels_are_read() -> None:
    data = read_json(nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        data = data["a"]
    assert data == {"a": 1}


def test_sixty_five_levels_are_refused_naming_the_deepest_allowed_path() -> None:
    assert refusal(nested(MAX_DEPTH + 1)) == {"a" + ".a" * (MAX_DEPTH - 1): ["is nested more than 64 levels deep"]}


@pytest.mark.parametrize(
    "document",
    [
        "[" * 10_000 + "]" * 10_000,
        nested(10_000),
        '{"clinical_facts": ' + "[" * 10_000 + "]" * 10_000 + "}",
        # Past Python's recursion limit but within orjson's own (1,024): refused by the loop.
        '{"clinical_facts": ' + "[" * 1_000 + "]" * 1_000 + "}",
    ],
    ids=["array", "object", "in_a_field", "under_orjsons_limit"],
)
def test_deep_nesting_is_refused_without_reaching_the_recursion_limit(document: str) -> None:
    errors = refusal(document)
    assert list(errors.values()) == [["is nested more than 64 levels deep"]]


def test_deep_nesting_inside_a_field_names_that_field() -> None:
    (path,) = refusal('{"clinical_facts": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}")
    assert path == "clinical_facts.x" + "[0]" * (MAX_DEPTH - 2)


def test_a_deep_array_is_refused_at_its_own_path() -> None:
    assert list(refusal("[" * 10_000 + "]" * 10_000)) == ["[0]" * MAX_DEPTH]


# --- strings that are not text --------------------------------------------------------------

NOT_TEXT = "holds a NUL character or an unpaired surrogate (\\ud800-\\udfff), which the API does not take"


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ('{"clinical_notes": "\\ud800"}', "clinical_notes"),
        ('{"clinical_notes": "abc\\udfff"}', "clinical_notes"),
        ('{"clinical_notes": "\\ude00\\ud83d"}', "clinical_notes"),
        ('{"service_lines": [{"code": "1"}, {"code": "\\udc00"}]}', "service_lines[1].code"),
        ('{"clinical_notes": "a\\u0000b"}', "clinical_notes"),
        ('{"clinical_facts": {"bmi": "\\u0000"}}', "clinical_facts.bmi"),
        ('{"diagnosis_codes": ["M48.062", "\\u0000"]}', "diagnosis_codes[1]"),
    ],
)
def test_a_nul_or_lone_surrogate_in_a_value_is_refused_at_its_path(document: str, path: str) -> None:
    assert refusal(document) == {path: [NOT_TEXT]}


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ('{"\\ud800": 1}', "non_field_errors"),
        ('{"clinical_facts": {"bm\\u0000i": 31}}', "clinical_facts"),
        ('{"clinical_facts": {"\\udbff": 31}}', "clinical_facts"),
        ('{"service_lines": [{"co\\u0000de": "1"}]}', "service_lines[0]"),
    ],
)
def test_a_nul_or_lone_surrogate_in_a_field_name_is_refused_at_its_objects_path(document: str, path: str) -> None:
    assert refusal(document) == {path: ["a field name here " + NOT_TEXT]}


def test_a_refusal_never_quotes_the_string_it_refuses() -> None:
    errors = refusal('{"clinical_facts": {"secret\\u0000": 1}}')
    assert "secret" not in json.dumps(errors)


@pytest.mark.parametrize("text", ["\U0001f600", "\uffff", "\u200b", "\x01\x1f", "e\u0301"])
def test_other_text_is_read_as_sent(text: str) -> None:
    assert read_json(json.dumps({"clinical_notes": text})) == {"clinical_notes": text}


def test_raw_surrogate_bytes_are_not_utf8() -> None:
    with pytest.raises(ParseError, match="not valid UTF-8"):
        read_json(b'{"clinical_notes": "\xed\xa0\x80"}')


# --- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "problem"),
    [
        ("1e400", "is a number too large to read"),
        ("-1e400", "is a number too large to read"),
        ("1" + "0" * 400, "is a number too large to read"),
        ("NaN", "must be a finite number"),
        ("Infinity", "must be a finite number"),
        ("-Infinity", "must be a finite number"),
        (str(2**63), "is an integer beyond 64 bits"),
        (str(-(2**63) - 1), "is an integer beyond 64 bits"),
        (str(10**30), "is an integer beyond 64 bits"),
    ],
)
def test_a_number_no_field_can_hold_is_refused_at_its_path(literal: str, problem: str) -> None:
    errors = refusal('{"clinical_facts": {"bmi": ' + literal + "}}")
    assert list(errors) == ["clinical_facts.bmi"]
    assert errors["clinical_facts.bmi"][0].startswith(problem)


@pytest.mark.parametrize(
    "value", [2**63 - 1, -(2**63), 0, -0.0, 1.5, 1e308, -1e308, 1e30, 5e-324, 12345678901234567, True, None]
)
def test_numbers_a_field_can_hold_are_read_exactly(value: Any) -> None:
    assert read_json(json.dumps({"n": value})) == {"n": value}


def test_a_large_float_next_to_a_big_integer_is_still_read() -> None:
    # A whole float past 2**63 makes the body be read again exactly; it stays a float.
    assert read_json('{"a": 1e30, "b": 7}') == {"a": 1e30, "b": 7}


# --- the body as a whole --------------------------------------------------------------------


@pytest.mark.parametrize("document", ["[]", "[{}]", '"x"', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_refused(document: str) -> None:
    assert refusal(document) == {"non_field_errors": ["the body must be a JSON object"]}


@pytest.mark.parametrize(
    "document",
    [b"{oops", b'{"a": 1', b'{"a": 1} x', b"\xef\xbb\xbf{}", b"", b"   ", b"{'a': 1}", b'{"a": 01}', b'{"a": "\\x"}'],
)
def test_malformed_json_is_a_parse_error(document: bytes) -> None:
    with pytest.raises(ParseError, match=r"^JSON parse error - "):
        read_json(document)


def test_a_parse_error_does_not_quote_the_body() -> None:
    with pytest.raises(ParseError) as caught:
        read_json(b'{"member": {"last_name": "Confidential" !!!}}')
    assert "Confidential" not in str(caught.value.detail)


def test_what_json_allows_is_read_as_the_standard_library_reads_it() -> None:
    document = '{"a": [1, 2.5, "x", null, false, {"b": {}}], "a": "last wins", "c": "\\u00e9\\n"}'
    assert read_json(document) == json.loads(document)


# --- the parser DRF uses --------------------------------------------------------------------


def test_the_parser_reads_the_charset_the_request_declares() -> None:
    body = '{"clinical_notes": "Müller"}'
    assert parse(body.encode("latin-1"), "latin-1") == {"clinical_notes": "Müller"}
    assert parse(body.encode("utf-16"), "utf-16") == {"clinical_notes": "Müller"}


def test_a_body_not_in_its_declared_charset_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse(b'{"a": "x"}', "utf-16")


def test_a_declared_charset_that_is_no_text_encoding_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not a text encoding"):
        parse(b'{"a": "x"}', "bz2_codec")


def test_a_nul_is_refused_whatever_the_charset() -> None:
    with pytest.raises(JsonRefused):
        parse(b'{"a": "\\u0000"}', "latin-1")


def test_every_api_view_reads_json_with_it_and_attachments_keep_multipart() -> None:
    assert [type(parser) for parser in APIView().get_parsers()] == [ApiJSONParser]
    assert [parser.media_type for parser in CaseAttachmentsApi().get_parsers()] == ["multipart/form-data"]

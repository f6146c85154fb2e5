"""The compiled serializers (casemgmt/api/fast_serializers.py) answer exactly as DRF does, or decline.

The intake hot path validates a request with `_CASE_INPUT_FAST` and renders the case with
`_CASE_OUTPUT_FAST`, falling back to DRF when either answers DECLINE. That is only safe if:

- input: whatever DRF refuses, the fast function declines; whatever it accepts, it returns
  what `_CASE_INPUT.run_validation` returns (same keys, equal values, same types);
- output: it returns `CaseOutputSerializer(case).data`, or declines.

The property tests generate bodies near the valid space (a realistic request with a few
mutations at the edges DRF cares about: whitespace, lengths, NUL and surrogates, coercible
types, date formats, missing and unknown keys), where a disagreement would hide. Hypothesis is
derandomized, so a failure recurs on the next run with its falsifying example printed.
"""

from __future__ import annotations

import copy
import zoneinfo
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from casemgmt.api.cases import _CASE_INPUT, _CASE_INPUT_FAST, _CASE_OUTPUT_FAST, case_body
from casemgmt.api.fast_serializers import DECLINE, compile_input, compile_output
from casemgmt.api.serializers import MAX_DIAGNOSES, MAX_LINES, MAX_NOTES, CaseOutputSerializer
from casemgmt.cases import selectors
from casemgmt.cases.models import Case, Flag, ReviewType, Urgency
from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput, ProviderInput
from policies_app.models import LineOfBusiness
from tests import factories

MAX_EXAMPLES = 300
PROPERTY = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    # The conftest's autouse fixtures reset caches this pure test never touches.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- comparison -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """DRF's ReturnDict/ReturnList (and OrderedDict) as the plain dict/list a renderer sees."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _difference(fast: Any, drf: Any, path: str = "$") -> str | None:
    """Where two results first differ in keys, key order, length, type or value; None if nowhere."""
    if type(fast) is not type(drf):
        return f"{path}: fast {type(fast).__name__} {fast!r}, DRF {type(drf).__name__} {drf!r}"
    if isinstance(drf, dict):
        if list(fast) != list(drf):
            return f"{path}: fast keys {list(fast)}, DRF keys {list(drf)}"
        for key in drf:
            found = _difference(fast[key], drf[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(drf, list):
        if len(fast) != len(drf):
            return f"{path}: fast has {len(fast)} items, DRF {len(drf)}"
        for i, (a, b) in enumerate(zip(fast, drf, strict=True)):
            found = _difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if fast == drf else f"{path}: fast {fast!r}, DRF {drf!r}"


def _fast_input(raw: Any) -> Any:
    assert _CASE_INPUT_FAST is not None
    return _CASE_INPUT_FAST(raw)


def _fast_output(case: Case) -> Any:
    assert _CASE_OUTPUT_FAST is not None
    return _CASE_OUTPUT_FAST(case)


def _drf_input(raw: Any) -> Any:
    """What the API's DRF path returns for raw, or DECLINE where it raises ValidationError."""
    try:
        return _CASE_INPUT.run_validation(raw)
    except ValidationError:
        return DECLINE


def _input_contract_broken(raw: Any) -> str | None:
    fast = _fast_input(raw)
    drf = _drf_input(raw)
    if fast is DECLINE:
        event("fast declined" + (" (DRF refuses too)" if drf is DECLINE else " (DRF accepts)"))
        return None
    event("fast accepted")
    if drf is DECLINE:
        return f"DRF refuses the body but the fast path accepted it as {fast!r}"
    return _difference(fast, drf)


# --- bodies -----------------------------------------------------------------------------------

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


def _branch(*alternatives: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One alternative among several, weighted as one: st.one_of flattens nested one_ofs, so the
    many kinds of wrong value would otherwise crowd out the valid ones."""
    return st.sampled_from(alternatives).flatmap(lambda alternative: alternative)


# Values of the wrong JSON type for almost every field (some of which DRF coerces).
WRONG_TYPES: st.SearchStrategy[Any] = _branch(
    st.none(),
    st.booleans(),
    st.integers(-3, 100),
    st.sampled_from([2**70, -(2**70), 1.0, 0.5, -0.0, 1e300]),
    # Built afresh for each draw: a shared container could end up inside itself after mutation.
    st.builds(list),
    st.builds(dict),
    st.lists(st.just("a"), min_size=1, max_size=2),
    st.dictionaries(st.just("a"), st.just("b"), min_size=1),
)

# Characters DRF keeps or trims (whitespace of several kinds, non-ASCII letters, an astral one)...
_PLAIN_CHARS = st.sampled_from(["a", "Z", "1", "-", " ", "\t", "\n", "\u00a0", "\u3000", "\u200b", "é", "ß", "名"])
_PLAIN_CHARS |= st.just("\U0001d518")
# ...and those it refuses: NUL and lone surrogates (a JSON body can carry "\ud800").
_EDGE_CHARS = _PLAIN_CHARS | st.sampled_from(["\x00", "\ud800", "\udfff"])


def _strings(max_length: int, sample: str) -> st.SearchStrategy[Any]:
    """Strings on both sides of DRF's CharField checks, and values of other types."""
    kept = [
        sample,
        f" {sample}",
        f"{sample} ",
        f"\t{sample}\n",
        f"\u00a0{sample}\u3000",
        "a" * max_length,
        " " + "a" * max_length + " ",
        "é" * max_length,
        "\n" + "名" * max_length,
        "Zoë",
        "Ünal",
        "名前",
    ]
    refused = [
        "",
        " ",
        " \t\n\u00a0",
        "a" * (max_length + 1),
        "é" * (max_length + 1),
        "\x00",
        f"{sample}\x00",
        "\ud800",
        f"{sample}\udfff",
    ]
    # Random text is kept short for long fields: their boundaries are in the fixed lists.
    size = min(max_length + 2, 24)
    return st.one_of(
        st.sampled_from(kept),
        st.lists(_PLAIN_CHARS, min_size=1, max_size=size).map("".join),
        st.sampled_from(refused),
        st.lists(_EDGE_CHARS, max_size=size).map("".join),
        st.text(max_size=size),
        WRONG_TYPES,
    )


def _choices(values: list[str]) -> st.SearchStrategy[Any]:
    offered = st.sampled_from(values)
    return st.one_of(
        offered,
        offered,
        _branch(
            offered.map(lambda v: f" {v}"),
            offered.map(str.upper),
            offered.map(str.title),
            st.sampled_from(["", " ", "unknown"]),
        ),
        WRONG_TYPES,
    )


UNITS: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([0, 1, 2, 10_000, 10_001, -1, True, False, 1.0, 2.5, "1", " 1", "1.0", "", "abc", 2**70, None]),
    st.integers(-5, 20_000),
    WRONG_TYPES,
)

DATES: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(
        [
            "2026-12-01",
            "2026-1-5",
            "20261201",
            "2026-02-30",
            "2024-02-29",
            "2023-02-29",
            "2026-12-01T00:00:00",
            " 2026-12-01",
            "2026-12-01 ",
            "2026-12-01\n",
            "0000-01-01",
            "0001-01-01",
            "9999-12-31",
            "2026/12/01",
            "2026-W48-2",
            "２０２６-１２-０１",
            "",
        ]
    ),
    st.dates().map(date.isoformat),
    st.dates().map(lambda d: f"{d.year}-{d.month}-{d.day}"),
    WRONG_TYPES,
)

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)

FACTS: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(st.text(max_size=8), JSON, max_size=4),
    st.builds(lambda: {"conservative_therapy_weeks": None}),
    WRONG_TYPES,
)


def _string_lists(max_items: int, item_length: int, sample: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(_strings(item_length, sample), max_size=3),
        st.sampled_from([0, 1, max_items - 1, max_items, max_items + 1]).map(lambda n: [sample] * n),
        _branch(
            st.lists(st.one_of(st.just(sample), WRONG_TYPES), min_size=1, max_size=3), WRONG_TYPES, st.just(sample)
        ),
    )


MEMBER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "member_id": _strings(50, "M123"),
    "first_name": _strings(100, "Ada"),
    "last_name": _strings(100, "Case"),
    "birth_date": DATES,
}
PROVIDER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "npi": _strings(10, factories.VALID_NPI),
    "name": _strings(200, "Spine Clinic"),
}
LINE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "code_system": _choices(["CPT", "HCPCS"]),
    "code": _strings(10, "62330"),
    "modifiers": _string_lists(4, 2, "59"),
    "units": UNITS,
    "date_of_service": DATES,
    "description": _strings(500, "mild, L4-L5"),
}
TOP_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "external_id": _strings(100, "EHR-1"),
    "urgency": _choices(list(Urgency.values)),
    "line_of_business": _choices(list(LineOfBusiness.values)),
    "review_type": _choices(list(ReviewType.values)),
    "member": WRONG_TYPES,
    "requesting_provider": WRONG_TYPES,
    "servicing_provider": st.one_of(st.none(), st.builds(_valid_provider), WRONG_TYPES),
    "diagnosis_codes": _string_lists(MAX_DIAGNOSES, 10, "M48.062"),
    "service_lines": WRONG_TYPES,
    "clinical_facts": FACTS,
    "clinical_notes": st.one_of(
        st.sampled_from(["a" * MAX_NOTES, "a" * (MAX_NOTES + 1), " " + "a" * MAX_NOTES + " "]),
        _strings(40, "Lumbar stenosis."),
    ),
}
UNKNOWN_KEYS = st.sampled_from(["extra", "Member", "", "external_id ", "servicing_provider_npi", "id", "name"])


def _mutate_fields(draw: st.DrawFn, target: Any, fields: dict[str, st.SearchStrategy[Any]]) -> None:
    if not isinstance(target, dict):
        return
    name = draw(st.sampled_from(sorted(fields)))
    if draw(st.integers(0, 3)) == 0:
        target.pop(name, None)
    else:
        target[name] = draw(fields[name])


@st.composite
def request_bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 29)) == 0:
        return draw(st.one_of(WRONG_TYPES, st.builds(lambda: [_valid_body()]), st.just("{}")))
    body = _valid_body()
    servicing = draw(st.sampled_from(["absent", "none", "valid"]))
    if servicing != "absent":
        body["servicing_provider"] = None if servicing == "none" else _valid_provider()
    if draw(st.integers(0, 4)) == 0:
        count = draw(st.sampled_from([0, 1, 2, MAX_LINES - 1, MAX_LINES, MAX_LINES + 1]))
        body["service_lines"] = [_valid_line() for _ in range(count)]
        if count and draw(st.booleans()):
            body["service_lines"][draw(st.integers(0, count - 1))] = draw(WRONG_TYPES)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3, 4]))):
        # Weighted toward edits of values, where the fast path must agree with DRF value for value.
        where = draw(
            st.sampled_from(["top"] * 2 + ["member"] * 2 + ["requesting", "servicing"] + ["line"] * 3 + ["unknown"])
        )
        if where == "top":
            _mutate_fields(draw, body, TOP_FIELDS)
        elif where == "member":
            _mutate_fields(draw, body.get("member"), MEMBER_FIELDS)
        elif where == "requesting":
            _mutate_fields(draw, body.get("requesting_provider"), PROVIDER_FIELDS)
        elif where == "servicing":
            _mutate_fields(draw, body.get("servicing_provider"), PROVIDER_FIELDS)
        elif where == "line":
            lines = body.get("service_lines")
            if isinstance(lines, list) and lines:
                _mutate_fields(draw, lines[draw(st.integers(0, len(lines) - 1))], LINE_FIELDS)
        else:
            containers = [body, body.get("member"), body.get("requesting_provider"), body.get("servicing_provider")]
            lines = body.get("service_lines")
            containers += lines[:3] if isinstance(lines, list) else []
            target = draw(st.sampled_from(containers))
            if isinstance(target, dict):
                target[draw(UNKNOWN_KEYS)] = draw(st.one_of(st.just("x"), st.none()))
    return body


# --- 1. input: generated bodies ---------------------------------------------------------------


@PROPERTY
@given(raw=request_bodies())
def test_fast_input_declines_or_returns_what_drf_returns(raw: Any) -> None:
    broken = _input_contract_broken(raw)
    assert broken is None, f"fast input differs from DRF: {broken}"


@PROPERTY
@given(raw=request_bodies())
def test_fast_input_leaves_the_request_body_unchanged(raw: Any) -> None:
    # DRF reads the body again after a decline: a fast path that edited it would change DRF's answer.
    before = copy.deepcopy(raw)
    _fast_input(raw)
    assert _difference(raw, before) is None


# --- 2. input: explicit examples --------------------------------------------------------------


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


# Bodies DRF refuses (400): the fast path must decline each, one reason apiece.
REFUSED: dict[str, Any] = {
    "top-level null": None,
    "top-level list": [_valid_body()],
    "top-level string": "{}",
    "unknown top-level key": _body_with(("extra",), "x"),
    "unknown member key": _body_with(("member", "middle_name"), "Q"),
    "unknown provider key": _body_with(("requesting_provider", "taxonomy"), "x"),
    "unknown line key": _body_with(("service_lines", 0, "quantity"), 1),
    "required top-level key missing": _body_without("urgency"),
    "required nested key missing": _body_without("member", "birth_date"),
    "required line key missing": _body_without("service_lines", 0, "units"),
    "member missing": _body_without("member"),
    "service_lines missing": _body_without("service_lines"),
    "null member": _body_with(("member",), None),
    "null string": _body_with(("external_id",), None),
    "null line list": _body_with(("service_lines",), None),
    "member not an object": _body_with(("member",), ["M123"]),
    "blank required string": _body_with(("member", "member_id"), ""),
    "whitespace-only required string": _body_with(("member", "first_name"), " \t\u00a0"),
    "string over max_length": _body_with(("member", "member_id"), "M" * 51),
    "string over max_length after trimming": _body_with(("requesting_provider", "npi"), " 12345678901 "),
    "NUL in string": _body_with(("member", "last_name"), "Ca\x00se"),
    "lone surrogate in string": _body_with(("member", "last_name"), "Case\ud800"),
    "list for a string": _body_with(("clinical_notes",), ["Lumbar"]),
    "bool for a string": _body_with(("external_id",), True),
    "choice not offered": _body_with(("urgency",), "urgent"),
    "choice in other case": _body_with(("urgency",), "STANDARD"),
    "choice with whitespace": _body_with(("line_of_business",), " commercial"),
    "units 0": _body_with(("service_lines", 0, "units"), 0),
    "units 10001": _body_with(("service_lines", 0, "units"), 10_001),
    "units 2**70": _body_with(("service_lines", 0, "units"), 2**70),
    "units true": _body_with(("service_lines", 0, "units"), True),
    "units 2.5": _body_with(("service_lines", 0, "units"), 2.5),
    "units not numeric": _body_with(("service_lines", 0, "units"), "one"),
    "impossible date": _body_with(("member", "birth_date"), "2026-02-30"),
    "datetime for a date": _body_with(("service_lines", 0, "date_of_service"), "2026-12-01T00:00:00"),
    "date with leading space": _body_with(("service_lines", 0, "date_of_service"), " 2026-12-01"),
    "date with slashes": _body_with(("member", "birth_date"), "1961/03/14"),
    "number for a date": _body_with(("member", "birth_date"), 19610314),
    "modifiers not a list": _body_with(("service_lines", 0, "modifiers"), "59"),
    "five modifiers": _body_with(("service_lines", 0, "modifiers"), ["59", "LT", "RT", "76", "77"]),
    "modifier too long": _body_with(("service_lines", 0, "modifiers"), ["591"]),
    "null modifier": _body_with(("service_lines", 0, "modifiers"), [None]),
    "26 diagnoses": _body_with(("diagnosis_codes",), ["M48.062"] * (MAX_DIAGNOSES + 1)),
    "diagnosis too long": _body_with(("diagnosis_codes",), ["M48.0620000X"]),
    "facts not an object": _body_with(("clinical_facts",), [["weeks", 12]]),
    "null facts": _body_with(("clinical_facts",), None),
    "no service lines": _body_with(("service_lines",), []),
    "51 service lines": _body_with(("service_lines",), [_valid_line()] * (MAX_LINES + 1)),
    "service line not an object": _body_with(("service_lines", 1), "62331"),
    "service_lines an object": _body_with(("service_lines",), _valid_line()),
    "servicing provider not an object": _body_with(("servicing_provider",), factories.VALID_NPI),
    "clinical notes over max_length": _body_with(("clinical_notes",), "a" * (MAX_NOTES + 1)),
}

# Bodies DRF accepts by coercing a value: the fast path declines them rather than coerce, and
# DRF answers for them (the declines are conservative, not refusals).
COERCED_BY_DRF: dict[str, Any] = {
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


@pytest.mark.parametrize("raw", REFUSED.values(), ids=REFUSED.keys())
def test_fast_input_declines_what_drf_refuses(raw: Any) -> None:
    assert _drf_input(raw) is DECLINE, "the example must be one DRF refuses"
    assert _fast_input(raw) is DECLINE


@pytest.mark.parametrize("raw", COERCED_BY_DRF.values(), ids=COERCED_BY_DRF.keys())
def test_fast_input_declines_what_drf_would_coerce(raw: Any) -> None:
    assert _drf_input(raw) is not DECLINE, "the example must be one DRF accepts"
    assert _fast_input(raw) is DECLINE


def test_fast_input_accepts_a_realistic_request_as_drf_does() -> None:
    raw = _valid_body()
    fast = _fast_input(raw)
    assert fast is not DECLINE
    assert _difference(fast, _drf_input(raw)) is None


def test_fast_input_parses_dates_to_date_objects() -> None:
    fast = _fast_input(_valid_body())
    assert fast["member"]["birth_date"] == date(1961, 3, 14)
    assert [type(line["date_of_service"]) for line in fast["service_lines"]] == [date] * 3


def _minimal_body() -> dict[str, Any]:
    return {
        "urgency": "expedited",
        "line_of_business": "medicaid",
        "member": {"member_id": "M1", "first_name": "Ada", "last_name": "Case", "birth_date": "1960-05-01"},
        "requesting_provider": _valid_provider(),
        "service_lines": [{"code_system": "HCPCS", "code": "G0276", "units": 10_000, "date_of_service": DOS}],
    }


def test_fast_input_applies_the_defaults_drf_applies() -> None:
    raw = _minimal_body()
    fast = _fast_input(raw)
    assert fast is not DECLINE
    assert _difference(fast, _drf_input(raw)) is None
    assert (fast["external_id"], fast["diagnosis_codes"], fast["clinical_facts"], fast["clinical_notes"]) == (
        "",
        [],
        {},
        "",
    )
    assert fast["review_type"] is ReviewType.PROSPECTIVE
    assert (fast["service_lines"][0]["modifiers"], fast["service_lines"][0]["description"]) == ([], "")


def test_fast_input_gives_each_request_its_own_default_lists() -> None:
    # default=list is called per request: a shared list would leak one request's edits into the next.
    first, second = _fast_input(_minimal_body()), _fast_input(_minimal_body())
    assert first["diagnosis_codes"] is not second["diagnosis_codes"]
    assert first["clinical_facts"] is not second["clinical_facts"]


def test_fast_input_leaves_out_an_absent_servicing_provider() -> None:
    raw = _minimal_body()
    fast = _fast_input(raw)
    assert "servicing_provider" not in fast
    assert _difference(fast, _drf_input(raw)) is None


def test_fast_input_keeps_a_null_servicing_provider() -> None:
    raw = {**_minimal_body(), "servicing_provider": None}
    fast = _fast_input(raw)
    assert fast["servicing_provider"] is None
    assert _difference(fast, _drf_input(raw)) is None


def test_fast_input_validates_a_given_servicing_provider() -> None:
    raw = {**_minimal_body(), "servicing_provider": {"npi": f" {factories.OTHER_VALID_NPI} ", "name": "Imaging"}}
    fast = _fast_input(raw)
    assert fast["servicing_provider"] == {"npi": factories.OTHER_VALID_NPI, "name": "Imaging"}
    assert _difference(fast, _drf_input(raw)) is None


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


@pytest.mark.parametrize("raw", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_fast_input_accepts_edge_values_as_drf_does(raw: Any) -> None:
    fast = _fast_input(raw)
    assert fast is not DECLINE
    assert _difference(fast, _drf_input(raw)) is None


# --- 3. output: real cases --------------------------------------------------------------------


@pytest.fixture
def library(editor: User) -> None:
    factories.two_policy_library(editor)


def _lines(*specs: tuple[str, int, tuple[str, ...]]) -> tuple[LineInput, ...]:
    dos = timezone.localdate() + timedelta(days=10)
    return tuple(
        LineInput(code_system="CPT", code=code, units=units, date_of_service=dos, modifiers=mods)
        for code, units, mods in specs
    )


def _flagged_case(client: User) -> Case:
    """Three lines: investigational (cited), criteria not met (cited, with modifiers), unflagged."""
    return factories.case(
        client,
        external_id="OUT-1",
        service_lines=_lines(("62330", 1, ()), ("62331", 2, ("59", "LT")), ("72148", 1, ())),
        servicing_provider=ProviderInput(npi=factories.OTHER_VALID_NPI, name="Imaging"),
        clinical_facts={"conservative_therapy_weeks": 6},
    )


def _drf_output(case: Case) -> Any:
    return _plain(CaseOutputSerializer(case).data)


def _reread(client: User, case: Case) -> Case:
    found = selectors.case_detail(client, case.case_number)
    assert found is not None
    return found


def _assert_output_matches_drf(case: Case) -> None:
    fast = _fast_output(case)
    assert fast is not DECLINE, "the fast output should render a stored case"
    difference = _difference(fast, _drf_output(case))
    assert difference is None, f"fast output differs from DRF: {difference}"


@pytest.mark.django_db
def test_fast_output_renders_a_submitted_case_with_flags_as_drf_does(integration_client: User, library: None) -> None:
    case = _flagged_case(integration_client)
    assert [flag.citation is not None for flag in case.current_flags] == [True, True]  # type: ignore[attr-defined]
    _assert_output_matches_drf(case)


@pytest.mark.django_db
def test_fast_output_renders_a_reread_case_with_flags_as_drf_does(integration_client: User, library: None) -> None:
    _assert_output_matches_drf(_reread(integration_client, _flagged_case(integration_client)))


@pytest.mark.django_db
def test_fast_output_renders_a_case_without_flags_as_drf_does(integration_client: User) -> None:
    case = factories.case(integration_client, service_lines=_lines(("72148", 1, ())))
    assert _fast_output(case)["flags"] == []
    _assert_output_matches_drf(case)
    _assert_output_matches_drf(_reread(integration_client, case))


@pytest.mark.django_db
def test_fast_output_renders_a_flag_without_citation_as_drf_does(integration_client: User) -> None:
    # The engine cites a version on every flag it raises today; the column is nullable, so a row
    # written otherwise (older data, an admin) must still render as DRF renders it.
    case = factories.case(integration_client, service_lines=_lines(("72148", 1, ())))
    Flag.objects.create(
        case=case,
        service_line=case.lines.get(sequence=1),
        kind="term_match",
        severity="info",
        message="Named in text.",
        citation=None,
        created_at=timezone.now(),
    )
    reread = _reread(integration_client, case)
    assert _fast_output(reread)["flags"][0]["citation"] is None
    _assert_output_matches_drf(reread)


@pytest.mark.django_db
def test_fast_output_renders_a_decided_case_as_drf_does(integration_client: User, nurse: User, library: None) -> None:
    case = _flagged_case(integration_client)
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[DecisionLineInput(service_line=n, outcome="approved") for n in (1, 2, 3)],
        citations=[],
    )
    reread = _reread(integration_client, case)
    assert reread.decided_at is not None
    _assert_output_matches_drf(reread)


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def test_fast_output_renders_times_in_the_current_time_zone_as_drf_does(
    integration_client: User, library: None, zone: str
) -> None:
    # The fast path formats datetimes itself; DRF converts to the zone active at render time.
    case = _flagged_case(integration_client)
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        _assert_output_matches_drf(case)


@pytest.mark.django_db
def test_case_body_is_what_drf_renders(integration_client: User, library: None) -> None:
    case = _flagged_case(integration_client)
    for shown in (case, _reread(integration_client, case)):
        assert _difference(_plain(case_body(shown)), _drf_output(shown)) is None


@pytest.mark.django_db
def test_fast_output_declines_a_case_without_its_current_flags(integration_client: User) -> None:
    # Loaded without selectors.current_flags(), `current_flags` is missing: DRF raises there, so
    # the fast path must not invent an answer.
    case = factories.case(integration_client)
    assert _fast_output(Case.objects.get(pk=case.pk)) is DECLINE


# --- 4. guards --------------------------------------------------------------------------------


def test_intake_input_is_compiled() -> None:
    assert _CASE_INPUT_FAST is not None


def test_intake_output_is_compiled() -> None:
    assert _CASE_OUTPUT_FAST is not None


def _no_zeros(value: str) -> None:
    if "0" in value:
        raise serializers.ValidationError("no zeros")


class MyChar(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        return str(super().to_internal_value(data)).upper()

    def to_representation(self, value: Any) -> str:
        return str(value).upper()


class Plain(serializers.Serializer):
    code = serializers.CharField(max_length=10)
    units = serializers.IntegerField(min_value=1)


class WithValidator(serializers.Serializer):
    code = serializers.CharField(max_length=10, validators=[_no_zeros])


class WithFieldMethod(Plain):
    def validate_code(self, value: str) -> str:
        return value.upper()


class WithValidate(Plain):
    def validate(self, attrs: Any) -> Any:
        return attrs


class WithSubclassField(serializers.Serializer):
    code = MyChar(max_length=10)


class WithWholeSource(serializers.Serializer):
    code = serializers.CharField(max_length=10)
    everything = Plain(source="*")


class WithOtherSource(serializers.Serializer):
    code = serializers.CharField(source="code_value")


class WithUncompiledField(serializers.Serializer):
    email = serializers.EmailField()


class WithOtherDateFormat(serializers.Serializer):
    day = serializers.DateField(input_formats=["%d/%m/%Y"])


class WithContextDefault(serializers.Serializer):
    # The stubs type a CharField's default as a string; DRF takes any default, this one with context.
    owner = serializers.CharField(default=serializers.CurrentUserDefault())  # type: ignore[arg-type]


class WithMethodField(serializers.Serializer):
    code = serializers.CharField()
    summary = serializers.SerializerMethodField()

    def get_summary(self, obj: Any) -> str:
        return "summary"


class WithCharSource(serializers.Serializer):
    code = serializers.CharField(source="*")


class WithOwnRepresentation(Plain):
    def to_representation(self, instance: Any) -> Any:
        return {"code": "fixed"}


def test_compile_input_compiles_a_plain_serializer() -> None:
    check = compile_input(Plain())
    assert check is not None
    assert check({"code": " x ", "units": 2}) == {"code": "x", "units": 2}


@pytest.mark.parametrize(
    "serializer",
    [
        WithValidator,
        WithFieldMethod,
        WithValidate,
        WithSubclassField,
        WithWholeSource,
        WithOtherSource,
        WithUncompiledField,
        WithOtherDateFormat,
        WithContextDefault,
    ],
)
def test_compile_input_refuses_what_it_cannot_vouch_for(serializer: type[serializers.Serializer]) -> None:
    assert compile_input(serializer()) is None


def test_compile_output_compiles_a_plain_serializer() -> None:
    render = compile_output(Plain())
    assert render is not None
    assert render({"code": "x", "units": 2}) == {"code": "x", "units": 2}


@pytest.mark.parametrize("serializer", [WithSubclassField, WithMethodField, WithCharSource, WithOwnRepresentation])
def test_compile_output_refuses_what_it_cannot_vouch_for(serializer: type[serializers.Serializer]) -> None:
    assert compile_output(serializer()) is None

"""The bench's held-out documents import cleanly, and their expected extractions keep the bench's shape.

The scores themselves are the bench's business (bench/importer/run.py --set heldout), not a test's:
these documents measure the importer and must not be tuned against.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from policies_app.importing.extract import extract_document
from policies_app.importing.facts import FactSpec
from policies_app.importing.services import policy_document_import
from policies_app.models import CoveragePosition, LineOfBusiness, Requirement

BENCH = Path(__file__).resolve().parents[3] / "bench" / "importer"
HELDOUT = BENCH / "heldout"
EXPECTED = sorted((HELDOUT / "expected").glob("*.json"))

SHAPE = {
    "document",
    "layout",
    "identity",
    "codes",
    "dates",
    "positions",
    "lines_of_business",
    "devices",
    "prior_authorization",
    "criteria",
}
DATE_KEYS = {"effective_start", "original_effective", "last_review", "effective_end", "history"}
CODE = re.compile(r"(CPT|HCPCS|ICD10CM):([A-Z0-9.]+)(-[A-Z0-9.]+)?")
LINES_OF_BUSINESS = {*LineOfBusiness.values, "fep"}


def bench_catalogue() -> list[FactSpec]:
    return [FactSpec(*row) for row in json.loads((BENCH / "catalogue.json").read_text())["facts"]]


@cache
def document_bytes(name: str) -> bytes:
    """The document's bytes; a PDF is printed from its .source.html as the bench prints it."""
    if name.endswith(".pdf"):
        import weasyprint

        source = HELDOUT / "corpus" / name.replace(".pdf", ".source.html")
        return bytes(weasyprint.HTML(filename=str(source)).write_pdf())
    return (HELDOUT / "corpus" / name).read_bytes()


def is_iso_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def expected_documents() -> list[Any]:
    return [pytest.param(json.loads(path.read_text()), id=path.name) for path in EXPECTED]


def test_the_heldout_set_has_at_least_six_documents_in_as_many_layouts():
    layouts = {json.loads(path.read_text())["layout"].split(" (")[0] for path in EXPECTED}
    assert len(EXPECTED) >= 6
    assert len(layouts) >= 6


@pytest.mark.parametrize("expected", expected_documents())
def test_expected_extraction_has_the_bench_shape(expected):
    assert set(expected) == SHAPE
    name = expected["document"]
    source = name.replace(".pdf", ".source.html") if name.endswith(".pdf") else name
    assert (HELDOUT / "corpus" / source).is_file()
    assert set(expected["identity"]) == {"payer", "number", "title"}
    assert all(isinstance(value, str) and value for value in expected["identity"].values())
    assert all(CODE.fullmatch(code) for code in expected["codes"]), expected["codes"]
    dates = expected["dates"]
    assert set(dates) == DATE_KEYS
    assert all(dates[key] is None or is_iso_date(dates[key]) for key in DATE_KEYS - {"history"})
    assert all(is_iso_date(value) for value in dates["history"])
    assert expected["positions"] and set(expected["positions"]) <= set(CoveragePosition.values)
    assert set(expected["lines_of_business"]) == {"excluded", "only"}
    assert set(expected["lines_of_business"]["excluded"]) | set(expected["lines_of_business"]["only"]) <= (
        LINES_OF_BUSINESS
    )
    assert all(isinstance(device, str) and device for device in expected["devices"])
    assert expected["prior_authorization"] is None or expected["prior_authorization"] in Requirement.values


@pytest.mark.parametrize("expected", expected_documents())
def test_expected_criteria_name_facts_of_the_bench_catalogue(expected):
    facts = {fact.key for fact in bench_catalogue()}
    for criterion in expected["criteria"]:
        assert set(criterion) == {"label", "fact"}
        assert isinstance(criterion["label"], str) and criterion["label"].strip()
        fact = criterion["fact"]
        if fact is not None:
            assert set(fact) == {"key", "operator", "value"}
            assert fact["key"] in facts


@pytest.mark.parametrize("expected", expected_documents())
def test_heldout_document_is_extracted_without_error(expected):
    name = expected["document"]
    result = extract_document(document_bytes(name), file=name, catalogue=bench_catalogue())
    assert result.layout != "unreadable"
    assert result.errors == []
    assert result.as_json()["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize("expected", expected_documents())
def test_heldout_document_imports_as_a_draft(expected, editor):
    name = expected["document"]
    outcome = policy_document_import(data=document_bytes(name), filename=name, user=editor, payer="Held-out Payer")
    assert outcome.created
    assert outcome.version.status == "draft"

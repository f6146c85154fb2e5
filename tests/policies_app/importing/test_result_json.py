"""The documented JSON shape of an extraction (docs/importer.md)."""

from __future__ import annotations

import json

from policies_app.importing import extract_document
from tests.policies_app.importing.conftest import CATALOGUE, CORPUS


def corpus_result():
    path = CORPUS / "nat-01-si-joint-fusion.txt"
    return extract_document(path.read_bytes(), file=path.name, catalogue=CATALOGUE).as_json()


def test_document_has_file_layout_fields_criteria_needs_review_and_errors():
    assert set(corpus_result()) == {"file", "layout", "fields", "criteria", "needs_review", "errors"}


def test_each_field_has_value_source_and_confidence():
    for name, found in corpus_result()["fields"].items():
        for item in found if isinstance(found, list) else [found]:
            assert set(item) == {"value", "source", "confidence"}, name
            assert set(item["source"]) == {"start", "end", "text"}
            assert 0 <= item["confidence"] <= 1


def test_dates_are_iso_strings():
    assert corpus_result()["fields"]["effective_start"]["value"] == "2025-03-01"


def test_criteria_nodes_carry_type_label_source_confidence_and_fact():
    root = corpus_result()["criteria"][0]
    assert root["type"] == "all_of"
    age = root["children"][0]
    assert age["fact"] == {"key": "member_age", "operator": "gte", "value": 18}
    assert set(age) == {"type", "label", "source", "confidence", "fact"}


def test_the_shape_is_plain_json():
    assert json.loads(json.dumps(corpus_result())) == corpus_result()


def test_an_unreadable_document_has_its_error_and_no_fields():
    data = extract_document(b"", file="empty.txt").as_json()
    assert (data["layout"], data["fields"], data["errors"]) == ("unreadable", {}, ["the file is empty"])

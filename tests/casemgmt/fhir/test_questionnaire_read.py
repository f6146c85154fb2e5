"""DTR Questionnaires read by id (`GET /fhir/r4/Questionnaire/<id>`) and searched by canonical
(`GET /fhir/r4/Questionnaire?url=`), with the SMART scope the other reads need."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from rest_framework.test import APIClient

from casemgmt.fhir.codes import FHIR_JSON, SCOPE_CLAIM_WRITE
from casemgmt.fhir.models import FhirClient
from casemgmt.fhir.parsing import resource_json
from tests import factories
from tests.casemgmt.fhir.conftest import api_for

pytestmark = pytest.mark.django_db

BASE = "http://testserver/fhir/r4"


def read(api: APIClient, questionnaire_id: str) -> Any:
    return api.get(f"/fhir/r4/Questionnaire/{questionnaire_id}", HTTP_ACCEPT=FHIR_JSON)


def search(api: APIClient, **params: str) -> Any:
    return api.get("/fhir/r4/Questionnaire", params, HTTP_ACCEPT=FHIR_JSON)


def test_a_questionnaire_is_read_by_its_id(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    response = read(fhir_api, f"policy-{version.policy_id}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert resource_json(Questionnaire.model_validate(body)) == body
    assert (body["url"], body["version"]) == (
        f"{BASE}/Questionnaire/policy-{version.policy_id}",
        f"2024-01-pv{version.pk}",
    )


def test_the_read_gives_the_version_in_effect_today(fhir_api: APIClient, editor: User) -> None:
    first = factories.criteria_library(editor, auto_approve=False)
    second = factories.draft_version(
        first.policy,
        codes=[("CPT", "62331", "")],
        version_label="2025-01",
        effective_start=date(2025, 1, 1),
        coverage_position="medically_necessary_with_criteria",
    )
    factories.leaf(second, None, "At least 6 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 6)
    factories.publish(second, editor)
    assert read(fhir_api, f"policy-{first.policy_id}").json()["version"] == f"2025-01-pv{second.pk}"


def test_an_id_that_is_not_ours_is_not_found(fhir_api: APIClient) -> None:
    response = read(fhir_api, "policy-999999")
    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"


def test_a_policy_whose_criteria_ask_nothing_has_no_questionnaire_to_read(fhir_api: APIClient, editor: User) -> None:
    version = factories.publish(
        factories.draft_version(factories.policy(number="NC.01"), codes=[("CPT", "70551", "")]), editor
    )
    assert read(fhir_api, f"policy-{version.policy_id}").status_code == 404


def test_reading_needs_the_questionnaire_scope(ehr: FhirClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    assert read(api_for(ehr, frozenset({SCOPE_CLAIM_WRITE})), f"policy-{version.policy_id}").status_code == 403


def test_reading_needs_an_access_token(client: Any, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    assert client.get(f"/fhir/r4/Questionnaire/policy-{version.policy_id}").status_code == 401


def test_a_search_by_canonical_finds_the_questionnaire(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    response = search(fhir_api, url=f"{BASE}/Questionnaire/policy-{version.policy_id}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert resource_json(Bundle.model_validate(body)) == body
    assert (body["type"], body["total"]) == ("searchset", 1)
    assert body["entry"][0]["resource"]["version"] == f"2024-01-pv{version.pk}"


def test_a_search_by_canonical_with_its_version_finds_that_version(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    canonical = f"{BASE}/Questionnaire/policy-{version.policy_id}|2024-01-pv{version.pk}"
    assert search(fhir_api, url=canonical).json()["total"] == 1


def test_a_search_for_a_version_that_is_not_ours_finds_nothing(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    response = search(fhir_api, url=f"{BASE}/Questionnaire/policy-{version.policy_id}", version="2023-01-pv1")
    assert (response.status_code, response.json()["total"]) == (200, 0)


def test_a_search_needs_the_canonical(fhir_api: APIClient) -> None:
    response = search(fhir_api)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["url"]


def test_a_search_parameter_we_do_not_have_is_refused(fhir_api: APIClient, editor: User) -> None:
    response = search(fhir_api, url=f"{BASE}/Questionnaire/policy-1", title="Lumbar")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["title"]


def test_the_capability_statement_names_questionnaire_read_and_search(client: Any) -> None:
    body = client.get("/fhir/r4/metadata").json()
    questionnaire = next(r for r in body["rest"][0]["resource"] if r["type"] == "Questionnaire")
    assert {i["code"] for i in questionnaire["interaction"]} == {"read", "search-type"}
    assert {p["name"] for p in questionnaire["searchParam"]} == {"url", "version"}

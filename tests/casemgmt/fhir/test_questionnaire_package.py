"""DTR `POST /fhir/r4/Questionnaire/$questionnaire-package`: the payer's Questionnaires for a
coverage and its orders."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaire import Questionnaire
from rest_framework.test import APIClient

from casemgmt.fhir.codes import FHIR_JSON, SCOPE_CLAIM_WRITE, Profile, System
from casemgmt.fhir.models import FhirClient
from casemgmt.fhir.parsing import resource_json
from casemgmt.security.services import api_token_create
from tests import factories
from tests.casemgmt.fhir.conftest import api_for
from tests.casemgmt.fhir.test_questionnaires import WEEKS, seeded_version

pytestmark = pytest.mark.django_db

URL = reverse("fhir:questionnaire_package")
BASE = "http://testserver/fhir/r4"


def coverage(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": "M123",
        "beneficiary": {"reference": "Patient/pat-1"},
        "payor": [{"reference": "Organization/payer-1"}],
        **extra,
    }


def service_request(code: str = "62331", *, system: str = System.CPT, **extra: Any) -> dict[str, Any]:
    when = {} if any(k.startswith("occurrence") for k in extra) else {"occurrenceDateTime": "2026-12-20"}
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
        "code": {"coding": [{"system": system, "code": code}]},
        **when,
        **extra,
    }


def parameters(*orders: dict[str, Any], cover: dict[str, Any] | None = None, **others: Any) -> dict[str, Any]:
    found = [{"name": "coverage", "resource": cover or coverage()}]
    found += [{"name": "order", "resource": order} for order in orders]
    found += [{"name": name, **value} for name, value in others.items()]
    return {"resourceType": "Parameters", "parameter": found}


def ask(api: APIClient, body: dict[str, Any]) -> Any:
    return api.post(URL, body, format="json", HTTP_ACCEPT=FHIR_JSON)


def bundles(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [p["resource"] for p in answer["parameter"] if p["name"] == "PackageBundle"]


def questionnaires(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The package's Questionnaires, each checked to pass its model's validation."""
    found = []
    for bundle in bundles(answer):
        first = bundle["entry"][0]["resource"]
        assert resource_json(Questionnaire.model_validate(first)) == first
        found.append(first)
    return found


def outcome_issues(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [issue for p in answer["parameter"] if p["name"] == "outcome" for issue in p["resource"]["issue"]]


def test_an_order_under_criteria_gets_its_policy_questionnaire(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    response = ask(fhir_api, parameters(service_request()))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert resource_json(Parameters.model_validate(answer)) == answer
    assert answer["meta"]["profile"] == [Profile.DTR_QPACKAGE_OUTPUT]
    [questionnaire] = questionnaires(answer)
    assert questionnaire["url"] == f"{BASE}/Questionnaire/policy-{version.policy_id}"
    assert questionnaire["version"] == f"2024-01-pv{version.pk}"
    assert outcome_issues(answer) == []


def test_the_package_bundle_is_a_collection_with_a_draft_response_for_the_questionnaire(
    fhir_api: APIClient, editor: User
) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    [bundle] = bundles(ask(fhir_api, parameters(service_request())).json())
    assert resource_json(Bundle.model_validate(bundle)) == bundle
    assert bundle["type"] == "collection"
    draft = bundle["entry"][1]["resource"]
    assert draft["resourceType"] == "QuestionnaireResponse"
    assert draft["questionnaire"] == f"{BASE}/Questionnaire/policy-{version.policy_id}|2024-01-pv{version.pk}"
    assert draft["subject"] == {"reference": "Patient/pat-1"}


def test_the_order_date_picks_the_version_in_effect_then(fhir_api: APIClient, editor: User) -> None:
    old = seeded_version(editor, [WEEKS], effective_end=date(2024, 12, 31))
    new = seeded_version(editor, [{**WEEKS, "value": 6}], version_label="2025-01", effective_start=date(2025, 1, 1))
    body = parameters(
        service_request(occurrenceDateTime="2024-06-01"), service_request(occurrencePeriod={"start": "2025-03-01"})
    )
    versions = [q["version"] for q in questionnaires(ask(fhir_api, body).json())]
    assert versions == [f"2024-01-pv{old.pk}", f"2025-01-pv{new.pk}"]


def test_two_orders_under_one_version_share_one_package(fhir_api: APIClient, editor: User) -> None:
    factories.criteria_library(editor, auto_approve=False)
    answer = ask(fhir_api, parameters(service_request(), service_request(occurrenceDateTime="2026-12-27"))).json()
    assert len(bundles(answer)) == 1


def test_the_coverage_plan_class_picks_the_line_of_business(fhir_api: APIClient, editor: User) -> None:
    seeded_version(editor, [WEEKS], number="DTR.COM", lines_of_business=["commercial"])
    medicare = seeded_version(editor, [WEEKS], number="DTR.MA", lines_of_business=["medicare_advantage"])
    plan = {"type": {"coding": [{"system": System.COVERAGE_CLASS, "code": "plan"}]}, "value": "medicare_advantage"}
    answer = ask(fhir_api, parameters(service_request(), cover=coverage(**{"class": [plan]}))).json()
    assert [q["url"] for q in questionnaires(answer)] == [f"{BASE}/Questionnaire/policy-{medicare.policy_id}"]


def test_without_a_plan_class_the_clients_line_of_business_applies(
    fhir_api: APIClient, ehr: FhirClient, editor: User
) -> None:
    commercial = seeded_version(editor, [WEEKS], number="DTR.COM", lines_of_business=["commercial"])
    seeded_version(editor, [WEEKS], number="DTR.MA", lines_of_business=["medicare_advantage"])
    answer = ask(fhir_api, parameters(service_request())).json()
    assert ehr.line_of_business == "commercial"
    assert [q["url"] for q in questionnaires(answer)] == [f"{BASE}/Questionnaire/policy-{commercial.policy_id}"]


def test_an_order_no_policy_governs_gets_an_outcome_and_no_questionnaire(fhir_api: APIClient, editor: User) -> None:
    factories.criteria_library(editor, auto_approve=False)
    answer = ask(fhir_api, parameters(service_request("99213"))).json()
    assert bundles(answer) == []
    [issue] = outcome_issues(answer)
    assert issue["expression"] == ["Parameters.parameter[1].resource"]
    assert "No policy governs CPT 99213" in issue["diagnostics"]


def test_an_order_under_a_policy_without_criteria_gets_an_outcome(fhir_api: APIClient, editor: User) -> None:
    factories.publish(factories.draft_version(), editor)  # CPT 62330, investigational
    answer = ask(fhir_api, parameters(service_request("62330"))).json()
    assert bundles(answer) == []
    assert "no documentation is asked" in outcome_issues(answer)[0]["diagnostics"]


def test_criteria_reading_only_what_the_request_carries_ask_nothing(fhir_api: APIClient, editor: User) -> None:
    seeded_version(editor, [{"label": "Adult", "fact": "member_age", "operator": "gte", "value": 18}])
    answer = ask(fhir_api, parameters(service_request())).json()
    assert bundles(answer) == []
    assert "ask nothing" in outcome_issues(answer)[0]["diagnostics"]


def test_a_canonical_asked_for_returns_that_version(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    canonical = f"{BASE}/Questionnaire/policy-{version.policy_id}|2024-01-pv{version.pk}"
    answer = ask(fhir_api, parameters(questionnaire={"valueCanonical": canonical})).json()
    assert [f"{q['url']}|{q['version']}" for q in questionnaires(answer)] == [canonical]


def test_a_canonical_without_a_version_returns_the_version_in_effect_today(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    url = f"{BASE}/Questionnaire/policy-{version.policy_id}"
    answer = ask(fhir_api, parameters(questionnaire={"valueCanonical": url})).json()
    assert [q["version"] for q in questionnaires(answer)] == [f"2024-01-pv{version.pk}"]


def test_a_canonical_whose_version_label_does_not_match_is_not_ours(fhir_api: APIClient, editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    canonical = f"{BASE}/Questionnaire/policy-{version.policy_id}|1999-01-pv{version.pk}"
    answer = ask(fhir_api, parameters(questionnaire={"valueCanonical": canonical})).json()
    assert bundles(answer) == []
    assert outcome_issues(answer)[0]["severity"] == "warning"


def test_an_unknown_canonical_is_a_warning_in_the_outcome(fhir_api: APIClient, editor: User) -> None:
    factories.criteria_library(editor, auto_approve=False)
    answer = ask(fhir_api, parameters(questionnaire={"valueCanonical": f"{BASE}/Questionnaire/policy-999"})).json()
    [issue] = outcome_issues(answer)
    assert (issue["severity"], issue["expression"]) == ("warning", ["Parameters.parameter[1].valueCanonical"])


def test_an_order_without_a_service_code_is_refused_naming_the_element(fhir_api: APIClient) -> None:
    response = ask(fhir_api, parameters(service_request("12345-6", system="http://loinc.org")))
    assert response.status_code == 400
    assert [i["expression"] for i in response.json()["issue"]] == [["Parameters.parameter[1].resource.code"]]


def test_a_malformed_code_is_refused_naming_the_coding(fhir_api: APIClient) -> None:
    response = ask(fhir_api, parameters(service_request("ABC")))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Parameters.parameter[1].resource.code.coding[0].code"]


def test_a_resource_that_is_not_an_order_is_refused(fhir_api: APIClient) -> None:
    body = parameters({"resourceType": "Patient", "id": "pat-1"})
    response = ask(fhir_api, body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Parameters.parameter[1].resource"]


def test_a_request_without_a_coverage_is_refused(fhir_api: APIClient) -> None:
    body = parameters(service_request())
    del body["parameter"][0]
    response = ask(fhir_api, body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Parameters.parameter"]


def test_a_body_that_is_not_parameters_is_refused(fhir_api: APIClient) -> None:
    response = ask(fhir_api, service_request())
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Parameters.resourceType"]


def test_a_token_without_the_questionnaire_scope_is_refused(ehr: FhirClient) -> None:
    response = ask(api_for(ehr, frozenset({SCOPE_CLAIM_WRITE})), parameters(service_request()))
    assert response.status_code == 403


def test_a_v1_api_token_is_not_a_fhir_token(integration_client: User) -> None:
    _, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert ask(api, parameters(service_request())).status_code == 401

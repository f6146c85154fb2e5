"""Claim/$submit: a PAS Request Bundle becomes a case as a v1 request does, and the answer is a
PAS Response Bundle that validates."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, CaseStatus
from casemgmt.fhir.codes import Ext
from casemgmt.fhir.models import FhirSubmission
from casemgmt.fhir.parsing import resource_parse
from tests.casemgmt.fhir.conftest import shared_example

SUBMIT = "/fhir/r4/Claim/$submit"
REQUEST_EXAMPLES = [
    "Bundle-ReferralAuthorizationBundleExample.json",
    "Bundle-HomecareAuthorizationBundleExample.json",
    "Bundle-MedicalServicesAuthorizationBundleExample.json",
    "Bundle-SurgicalRequestBundleExample.json",
]


def moved_to_the_future(bundle: dict[str, Any]) -> dict[str, Any]:
    """The example with only its dates of service moved a month ahead (they are in 2005 or 2020)."""
    moved = copy.deepcopy(bundle)
    ahead = (timezone.localdate() + timedelta(days=30)).isoformat()
    claim = moved["entry"][0]["resource"]
    for item in claim.get("item", []):
        if "servicedDate" in item:
            item["servicedDate"] = ahead
        if "servicedPeriod" in item:
            item["servicedPeriod"] = {"start": ahead}
    for info in claim.get("supportingInfo", []):
        if "timingPeriod" in info:
            info["timingPeriod"] = {"start": ahead}
    for extension in claim.get("extension", []):
        if extension["url"] == Ext.HOME_HEALTH_CARE:
            for part in extension["extension"]:
                if part["url"] == "date":
                    part["valueDate"] = ahead
    return moved


def submit(api: APIClient, bundle: dict[str, Any]) -> Any:
    return api.post(SUBMIT, bundle, format="json")


def review_actions(response_bundle: dict[str, Any]) -> list[str]:
    claim_response = response_bundle["entry"][0]["resource"]
    return [
        ext["valueCodeableConcept"]["coding"][0]["code"]
        for item in claim_response["item"]
        for adjudication in item["adjudication"]
        for review in adjudication["extension"]
        for ext in review["extension"]
        if ext["url"] == Ext.REVIEW_ACTION_CODE
    ]


@pytest.mark.parametrize("name", REQUEST_EXAMPLES)
def test_each_pas_request_example_becomes_a_case_and_a_valid_response(db, fhir_api, name):
    response = submit(fhir_api, moved_to_the_future(shared_example(name)))
    assert response.status_code == 201, response.json()
    body = response.json()
    resource_parse(body, Bundle)  # the answer passes R4 model validation
    claim_response = body["entry"][0]["resource"]
    assert claim_response["resourceType"] == "ClaimResponse"
    case = Case.objects.get()
    assert case.fhir_submissions.get().bundle_identifier
    assert {"system": "urn:casemgmt:case-number", "value": case.case_number} in claim_response["identifier"]
    assert [item["itemSequence"] for item in claim_response["item"]] == [line.sequence for line in case.lines.all()]
    assert set(review_actions(body)) <= {"A1", "A4", "NA"}


def test_a_service_dated_2005_is_refused_naming_the_element(db, fhir_api):
    response = submit(fhir_api, shared_example("Bundle-MedicalServicesAuthorizationBundleExample.json"))
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0].resource.item[0].servicedDate"]
    assert "three years ago" in outcome["issue"][0]["diagnostics"]
    assert not Case.objects.exists() and not FhirSubmission.objects.exists()


def test_the_same_bundle_sent_again_is_answered_without_a_second_case(db, fhir_api):
    bundle = moved_to_the_future(shared_example("Bundle-HomecareAuthorizationBundleExample.json"))
    first = submit(fhir_api, bundle)
    again = submit(fhir_api, bundle)
    assert (first.status_code, again.status_code) == (201, 200)
    assert Case.objects.count() == 1
    assert again.json()["entry"][0]["resource"]["identifier"] == first.json()["entry"][0]["resource"]["identifier"]


def test_a_bundle_that_is_not_valid_fhir_gets_an_outcome_per_problem(db, fhir_api):
    response = submit(fhir_api, shared_example("ri/bundle-prior-auth.json"))
    assert response.status_code == 400
    issues = response.json()["issue"]
    assert len(issues) > 1
    assert all(issue["expression"][0].startswith("Bundle.entry[") for issue in issues)
    assert not Case.objects.exists()


def test_a_cancellation_cancels_the_pended_request(db, fhir_api):
    bundle = moved_to_the_future(shared_example("Bundle-HomecareAuthorizationBundleExample.json"))
    assert submit(fhir_api, bundle).status_code == 201
    cancel = copy.deepcopy(bundle)
    cancel["identifier"]["value"] += "-cancel"
    claim = cancel["entry"][0]["resource"]
    claim["identifier"][0]["value"] += "-cancel"
    claim["related"] = [{"claim": {"identifier": bundle["entry"][0]["resource"]["identifier"][0]}}]
    claim["extension"] = [
        {
            "url": Ext.CERTIFICATION_TYPE,
            "valueCodeableConcept": {"coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "3"}]},
        }
    ]
    response = submit(fhir_api, cancel)
    assert response.status_code == 201, response.json()
    assert Case.objects.get().status == CaseStatus.CANCELLED
    assert set(review_actions(response.json())) == {"C"}


def test_the_update_example_replaces_the_pended_request(db, fhir_api):
    original = moved_to_the_future(shared_example("Bundle-HomecareAuthorizationBundleExample.json"))
    assert submit(fhir_api, original).status_code == 201
    response = submit(
        fhir_api, moved_to_the_future(shared_example("Bundle-HomecareAuthorizationUpdateBundleExample.json"))
    )
    assert response.status_code == 201, response.json()
    first, second = Case.objects.order_by("pk")
    assert first.status == CaseStatus.CANCELLED
    assert [line.code for line in second.lines.all()] == ["G0154", "B4185"]
    assert [item["itemSequence"] for item in response.json()["entry"][0]["resource"]["item"]] == [1, 3]


def test_another_client_cannot_update_a_request_it_did_not_send(db, fhir_api, other_fhir_api):
    assert (
        submit(
            fhir_api, moved_to_the_future(shared_example("Bundle-HomecareAuthorizationBundleExample.json"))
        ).status_code
        == 201
    )
    response = submit(
        other_fhir_api, moved_to_the_future(shared_example("Bundle-HomecareAuthorizationUpdateBundleExample.json"))
    )
    assert response.status_code == 404
    assert Case.objects.get().status != CaseStatus.CANCELLED


def test_metadata_names_the_pas_operations(db, client):
    body = client.get("/fhir/r4/metadata").json()
    claim = next(r for r in body["rest"][0]["resource"] if r["type"] == "Claim")
    assert {op["name"] for op in claim["operation"]} == {"submit", "inquire"}

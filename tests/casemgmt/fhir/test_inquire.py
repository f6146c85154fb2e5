"""Claim/$inquire: query by example over the calling client's PAS requests, answered with each
matching request's current state as a PAS Inquiry Response Bundle that validates."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import Authorization, Case
from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
from casemgmt.cases.services.intake import MemberInput, ProviderInput
from casemgmt.fhir.codes import Ext, Profile, System
from casemgmt.fhir.parsing import resource_parse
from tests import factories
from tests.casemgmt.fhir.conftest import shared_example
from tests.casemgmt.fhir.test_submit import moved_to_the_future, review_actions, submit

INQUIRE = "/fhir/r4/Claim/$inquire"
HOMECARE = "Bundle-HomecareAuthorizationBundleExample.json"
HOMECARE_UPDATE = "Bundle-HomecareAuthorizationUpdateBundleExample.json"
INQUIRY = "Bundle-PASClaimInquiryBundleExample.json"
CLAIM_IDENTIFIER_SYSTEM = "http://example.org/PATIENT_EVENT_TRACE_NUMBER"


def submitted(api: APIClient, name: str = HOMECARE, **changes: Any) -> Case:
    """The example submitted with its dates moved ahead; `changes` set top-level Claim elements."""
    bundle = moved_to_the_future(shared_example(name))
    bundle["entry"][0]["resource"].update(changes)
    response = submit(api, bundle)
    assert response.status_code == 201, response.json()
    return Case.objects.latest("pk")


def inquiry(*items: dict[str, Any], identifier: str | None = None) -> dict[str, Any]:
    """The inquiry example, with other items or another Claim.identifier when given ("": none)."""
    bundle = copy.deepcopy(shared_example(INQUIRY))
    claim = bundle["entry"][0]["resource"]
    if items:
        claim["item"] = list(items)
    if identifier == "":
        del claim["identifier"]
    elif identifier is not None:
        claim["identifier"] = [{"system": CLAIM_IDENTIFIER_SYSTEM, "value": identifier}]
    return bundle


def item(
    code: str = "", *, last: str = "", start: str = "", end: str = "", extensions: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An inquiry item: a HCPCS code (or none), a range's last code, a period of service, extensions."""
    service = (
        {"system": System.HCPCS, "code": code}
        if code
        else {"system": System.DATA_ABSENT_REASON, "code": "not-applicable"}
    )
    found: dict[str, Any] = {"sequence": 1, "productOrService": {"coding": [service]}, "extension": []}
    if last:
        found["extension"].append(
            {
                "url": Ext.PRODUCT_OR_SERVICE_CODE_END,
                "valueCodeableConcept": {"coding": [{"system": System.HCPCS, "code": last}]},
            }
        )
    if start or end:
        found["servicedPeriod"] = {key: value for key, value in (("start", start), ("end", end)) if value}
    for url, value in (extensions or {}).items():
        found["extension"].append({"url": url, **value})
    return found


def inquiry_for(member_id: str, npi: str) -> dict[str, Any]:
    """An inquiry of our own making: the member and the requesting provider, any service."""
    base = "http://ehr.example/fhir"
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Claim",
            "id": "inquiry",
            "meta": {"profile": [Profile.CLAIM_INQUIRY]},
            "status": "active",
            "type": {"coding": [{"system": System.CLAIM_TYPE, "code": "professional"}]},
            "use": "preauthorization",
            "patient": {"reference": "Patient/member"},
            "created": timezone.now().isoformat(),
            "insurer": {"reference": "Organization/plan"},
            "provider": {"reference": "Organization/provider"},
            "priority": {"coding": [{"system": System.PROCESS_PRIORITY, "code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/coverage"}}],
            "item": [item()],
        },
        {"resourceType": "Patient", "id": "member", "name": [{"family": "Case", "given": ["Ada"]}]},
        {
            "resourceType": "Coverage",
            "id": "coverage",
            "status": "active",
            "subscriberId": member_id,
            "beneficiary": {"reference": "Patient/member"},
            "payor": [{"reference": "Organization/plan"}],
        },
        {"resourceType": "Organization", "id": "provider", "identifier": [{"system": System.NPI, "value": npi}]},
        {"resourceType": "Organization", "id": "plan", "name": "The plan"},
    ]
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [Profile.INQUIRY_REQUEST_BUNDLE]},
        "identifier": {"system": "http://ehr.example/inquiries", "value": "1"},
        "type": "collection",
        "timestamp": timezone.now().isoformat(),
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


def inquire(api: APIClient, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The Inquiry Response Bundles answered, each checked against the R4 models."""
    response = api.post(INQUIRE, bundle, format="json")
    assert response.status_code == 200, response.json()
    parameters = resource_parse(response.json(), Parameters)
    assert all(parameter.name == "return" for parameter in parameters.parameter or [])
    bundles = [p["resource"] for p in response.json().get("parameter", [])]
    for found in bundles:
        resource_parse(found, Bundle)
    return bundles


def in_the_future(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def approve(case: Case, reviewer: Any) -> None:
    decision_record(
        case_id=case.pk,
        user=reviewer,
        lines=[DecisionLineInput(service_line=line.sequence, outcome="approved") for line in case.lines.all()],
        citations=[],
    )


def test_the_inquiry_example_answers_the_pended_request_as_it_stands(db, fhir_api):
    case = submitted(fhir_api)
    [answer] = inquire(fhir_api, inquiry())
    claim_response = answer["entry"][0]["resource"]
    assert answer["meta"]["profile"] == [Profile.INQUIRY_RESPONSE_BUNDLE]
    assert claim_response["meta"]["profile"] == [Profile.CLAIM_INQUIRY_RESPONSE]
    assert {"system": System.CASE_NUMBER, "value": case.case_number} in claim_response["identifier"]
    assert set(review_actions(answer)) == {"A4"}
    assert all(entry["resource"]["resourceType"] != "CommunicationRequest" for entry in answer["entry"])


def test_after_a_nurse_approves_the_answer_is_certified_with_the_authorization_number(db, fhir_api, nurse):
    case = submitted(fhir_api)
    approve(case, nurse)
    [answer] = inquire(fhir_api, inquiry())
    claim_response = answer["entry"][0]["resource"]
    assert set(review_actions(answer)) == {"A1"}
    assert claim_response["preAuthRef"] in set(Authorization.objects.values_list("authorization_number", flat=True))


def test_an_inquiry_for_the_member_and_provider_alone_finds_the_request(db, fhir_api):
    submitted(fhir_api)
    assert len(inquire(fhir_api, inquiry_for("1122334455", "8189991234"))) == 1


def test_the_servicing_providers_npi_finds_the_request_too(db, fhir_api):
    submitted(fhir_api, "Bundle-ReferralAuthorizationBundleExample.json")  # a practitioner with NPI 1234567893
    assert len(inquire(fhir_api, inquiry_for("1122334455", "1234567893"))) == 1


def test_an_inquiry_inside_parameters_is_answered_as_a_bundle_is(db, fhir_api):
    submitted(fhir_api)
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": inquiry()}]}
    assert len(inquire(fhir_api, wrapped)) == 1


def test_an_inquiry_without_the_member_id_is_refused_naming_the_element(db, fhir_api):
    bundle = inquiry()
    for entry in bundle["entry"]:
        entry["resource"].pop("subscriberId", None)
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"].pop("identifier")
    response = fhir_api.post(INQUIRE, bundle, format="json")
    assert response.status_code == 400
    [issue] = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[0].resource.insurance[0].coverage"]
    assert "member id is required" in issue["diagnostics"]


def test_an_inquiry_without_the_provider_is_refused_naming_the_element(db, fhir_api):
    bundle = inquiry()
    del bundle["entry"][0]["resource"]["provider"]
    response = fhir_api.post(INQUIRE, bundle, format="json")
    assert response.status_code == 400
    assert [issue["expression"] for issue in response.json()["issue"]] == [["Bundle.entry[0].resource.provider"]]


def test_an_inquiry_whose_provider_has_no_npi_is_refused_naming_the_element(db, fhir_api):
    bundle = inquiry()
    provider = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "UMOExample")
    del provider["identifier"]
    response = fhir_api.post(INQUIRE, bundle, format="json")
    assert response.status_code == 400
    [issue] = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[0].resource.provider"]
    assert "NPI" in issue["diagnostics"]


def test_another_trace_number_finds_nothing(db, fhir_api):
    submitted(fhir_api)
    assert inquire(fhir_api, inquiry(identifier="999999")) == []


def test_the_case_number_our_answer_gave_finds_the_request(db, fhir_api):
    case = submitted(fhir_api)
    assert len(inquire(fhir_api, inquiry(identifier=case.case_number))) == 1


def test_an_item_trace_number_finds_only_the_request_with_it(db, fhir_api):
    claim = moved_to_the_future(shared_example(HOMECARE))["entry"][0]["resource"]
    items = copy.deepcopy(claim["item"])
    items[0]["extension"].append({"url": Ext.ITEM_TRACE_NUMBER, "valueIdentifier": {"value": "TRACE-1"}})
    submitted(fhir_api, item=items)
    traced = {"valueIdentifier": {"value": "TRACE-1"}}
    other = {"valueIdentifier": {"value": "TRACE-2"}}
    assert len(inquire(fhir_api, inquiry(item(extensions={Ext.ITEM_TRACE_NUMBER: traced})))) == 1
    assert inquire(fhir_api, inquiry(item(extensions={Ext.ITEM_TRACE_NUMBER: other}))) == []


def test_a_code_range_finds_a_line_inside_it_and_no_other(db, fhir_api):
    submitted(fhir_api)  # G0154 and B4184
    assert len(inquire(fhir_api, inquiry(item("B4180", last="B4190")))) == 1
    assert inquire(fhir_api, inquiry(item("B4185", last="B4190"))) == []


def test_a_range_that_ends_before_it_starts_is_refused_naming_the_element(db, fhir_api):
    response = fhir_api.post(INQUIRE, inquiry(item("B4190", last="B4180")), format="json")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == [
        "Bundle.entry[0].resource.item[0].extension[0].valueCodeableConcept"
    ]


def test_dates_find_the_lines_served_between_them_and_no_other(db, fhir_api):
    submitted(fhir_api)  # every line a month ahead
    assert len(inquire(fhir_api, inquiry(item(start=in_the_future(20), end=in_the_future(40))))) == 1
    assert inquire(fhir_api, inquiry(item(start=in_the_future(40)))) == []


def test_a_review_action_finds_the_lines_that_have_it_now(db, fhir_api, nurse):
    case = submitted(fhir_api)
    certified = {"valueCodeableConcept": {"coding": [{"system": System.REVIEW_ACTION, "code": "A1"}]}}
    assert inquire(fhir_api, inquiry(item("B4184", extensions={Ext.REVIEW_ACTION_CODE: certified}))) == []
    approve(case, nurse)
    assert len(inquire(fhir_api, inquiry(item("B4184", extensions={Ext.REVIEW_ACTION_CODE: certified})))) == 1


def test_another_clients_requests_are_never_returned(db, fhir_api, other_fhir_api):
    submitted(fhir_api)
    assert inquire(other_fhir_api, inquiry()) == []


def test_a_case_opened_through_v1_is_not_a_pas_request(db, fhir_api, integration_client):
    factories.case(
        integration_client,
        member=MemberInput(member_id="1122334455", first_name="Joe", last_name="Smith", birth_date=None),
        requesting_provider=ProviderInput(npi="8189991234", name="Dr. Joe Smith Corporation"),
    )
    assert inquire(fhir_api, inquiry()) == []


def test_a_replaced_request_is_answered_by_its_update(db, fhir_api):
    submitted(fhir_api)
    update = submitted(fhir_api, HOMECARE_UPDATE)
    [answer] = inquire(fhir_api, inquiry())  # the original's trace number
    claim_response = answer["entry"][0]["resource"]
    assert {"system": System.CASE_NUMBER, "value": update.case_number} in claim_response["identifier"]
    assert [i["itemSequence"] for i in claim_response["item"]] == [1, 3]


def test_each_matching_request_is_returned_in_a_bundle_of_its_own(db, fhir_api):
    submitted(fhir_api)
    second = moved_to_the_future(shared_example(HOMECARE))
    second["identifier"]["value"] += "-2"
    second["entry"][0]["resource"]["identifier"][0]["value"] += "-2"
    assert submit(fhir_api, second).status_code == 201
    answers = inquire(fhir_api, inquiry(item("G0154"), identifier=""))
    assert len(answers) == 2
    assert len({a["entry"][0]["resource"]["identifier"][1]["value"] for a in answers}) == 2


def test_an_inquiry_is_audited_with_the_cases_it_shows(db, fhir_api):
    case = submitted(fhir_api)
    inquire(fhir_api, inquiry())
    event = AuditEvent.objects.filter(path=INQUIRE).get()
    assert (event.action, event.object_type, event.object_ids) == ("list", "case", case.case_number)

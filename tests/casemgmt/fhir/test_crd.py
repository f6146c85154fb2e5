"""Da Vinci CRD: the coverage answer for a draft order (casemgmt/fhir/crd.py), read from the same
rules intake applies. The request builders below are shared with test_cds_hooks.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from fhir.resources.R4B.devicerequest import DeviceRequest
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.services.gold_cards import gold_card_grant
from casemgmt.cases.services.triage import intake_settings_update
from casemgmt.fhir.codes import CRD_TEMP, Ext, System
from casemgmt.fhir.crd import SERVICES, crd_hook_answer
from casemgmt.fhir.models import FhirClient
from tests import factories

pytestmark = pytest.mark.django_db

FHIR_BASE = "https://payer.example/fhir/r4"
REQUIREMENTS_URL = "https://payer.example/prior-authorization/requirements/"

ORDER_SIGN = "casemgmt-crd-order-sign"
ORDER_SELECT = "casemgmt-crd-order-select"


def occurrence() -> str:
    return (timezone.localdate() + timedelta(days=10)).isoformat()


def service_request(code: str = "62330", *, id_: str = "sr-1", npi: str = factories.VALID_NPI) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": id_,
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": System.CPT, "code": code, "display": "Lumbar injection"}]},
        "subject": {"reference": "Patient/pat-1"},
        "occurrenceDateTime": occurrence(),
        "requester": {"reference": "Practitioner/prac-1"},
        "reasonCode": [{"coding": [{"system": System.ICD10CM, "code": "M48.062"}]}],
    }


def device_request(code: str = "E0601") -> dict[str, Any]:
    return {
        "resourceType": "DeviceRequest",
        "id": "dr-1",
        "status": "draft",
        "intent": "order",
        "codeCodeableConcept": {"coding": [{"system": System.HCPCS, "code": code, "display": "CPAP device"}]},
        "subject": {"reference": "Patient/pat-1"},
        "occurrenceDateTime": occurrence(),
        "requester": {"reference": "Practitioner/prac-1"},
    }


def medication_request(code: str = "J1745") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": System.HCPCS, "code": code, "display": "Infliximab"}]},
        "subject": {"reference": "Patient/pat-1"},
        "authoredOn": timezone.localdate().isoformat(),
        "requester": {"reference": "Practitioner/prac-1"},
    }


def prefetch(npi: str = factories.VALID_NPI) -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": "pat-1", "birthDate": "1960-05-01"},
        "coverage": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Coverage",
                        "id": "cov-1",
                        "status": "active",
                        "subscriberId": "M123",
                        "beneficiary": {"reference": "Patient/pat-1"},
                        "payor": [{"display": "Example Health Plan"}],
                    }
                }
            ],
        },
        "practitioners": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Practitioner",
                        "id": "prac-1",
                        "identifier": [{"system": System.NPI, "value": npi}],
                    }
                }
            ],
        },
    }


def hook_body(
    *orders: dict[str, Any], hook: str = "order-sign", with_prefetch: bool = True, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/prac-1",
            "patientId": "pat-1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": order} for order in (orders or (service_request(),))],
            },
        },
        **extra,
    }
    if with_prefetch:
        body["prefetch"] = prefetch()
    return body


def coverage_information(resource: dict[str, Any]) -> dict[str, Any]:
    """The coverage-information extension's parts by url (their value, or their own parts)."""
    extension = next(e for e in resource["extension"] if e["url"] == Ext.CRD_COVERAGE_INFORMATION)
    parts: dict[str, Any] = {}
    for part in extension["extension"]:
        values = [v for k, v in part.items() if k.startswith("value")]
        parts[part["url"]] = values[0] if values else part["extension"]
    return parts


def answer(ehr: FhirClient, body: dict[str, Any], service: str = ORDER_SIGN) -> dict[str, Any]:
    return crd_hook_answer(
        client=ehr,
        service=SERVICES[service],
        body=body,
        fhir_base=FHIR_BASE,
        requirements_url=REQUIREMENTS_URL,
        now=timezone.now(),
        today=timezone.localdate(),
    )


def updated_order(response: dict[str, Any], index: int = 0) -> dict[str, Any]:
    action = response["systemActions"][index]
    assert action["type"] == "update"
    return dict(action["resource"])


# --- the mapping of the plan's rules --------------------------------------------------------------


def test_a_service_whose_rule_requires_authorization_is_auth_needed(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor)
    info = coverage_information(updated_order(answer(ehr, hook_body())))
    assert (info["covered"], info["pa-needed"]) == ("covered", "auth-needed")
    assert "doc-needed" not in info and "questionnaire" not in info


def test_a_service_whose_rule_needs_no_authorization_is_no_auth(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor, requirement="not_required")
    info = coverage_information(updated_order(answer(ehr, hook_body())))
    assert (info["covered"], info["pa-needed"]) == ("covered", "no-auth")


def test_a_notification_only_service_is_no_auth(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor, requirement="notification_only")
    info = coverage_information(updated_order(answer(ehr, hook_body())))
    assert info["pa-needed"] == "no-auth"


def test_a_benefit_exclusion_is_not_covered_with_no_pa_needed(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor, requirement="not_covered")
    info = coverage_information(updated_order(answer(ehr, hook_body())))
    assert info["covered"] == "not-covered"
    assert "pa-needed" not in info


def test_a_gold_carded_ordering_provider_is_satisfied(ehr: FhirClient, editor: User, manager: User) -> None:
    factories.requirement_rule(editor)
    intake_settings_update(user=manager, automatic_approval=True)
    programme = factories.gold_card_programme(manager)
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=factories.VALID_NPI, reason="Pilot.")
    info = coverage_information(updated_order(answer(ehr, hook_body())))
    assert info["pa-needed"] == "satisfied"
    assert info["reason"]["coding"][0] == {"system": CRD_TEMP, "code": "gold-card", "display": "Gold card"}
    assert info["satisfied-pa-id"]


def test_a_gold_card_satisfies_nothing_while_automatic_approval_is_off(
    ehr: FhirClient, editor: User, manager: User
) -> None:
    factories.requirement_rule(editor)
    programme = factories.gold_card_programme(manager)
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=factories.VALID_NPI, reason="Pilot.")
    info = coverage_information(updated_order(answer(ehr, hook_body())))
    assert info["pa-needed"] == "auth-needed"


def test_criteria_met_from_the_prefetched_patient_are_satisfied_where_intake_would_approve(
    ehr: FhirClient, editor: User, manager: User
) -> None:
    version = factories.draft_version(
        factories.policy(number="AGE.01"),
        coverage_position="medically_necessary_with_criteria",
        auto_approve_when_met=True,
    )
    factories.leaf(version, None, "Adult", "member_age", "gte", 18)
    factories.publish(version, editor)
    factories.requirement_rule(editor)
    intake_settings_update(user=manager, automatic_approval=True)
    info = coverage_information(updated_order(answer(ehr, hook_body())))
    assert info["pa-needed"] == "satisfied"
    assert "criteria" in info["reason"]["text"]


def test_criteria_that_read_clinical_facts_need_documentation_with_the_dtr_questionnaire(
    ehr: FhirClient, editor: User
) -> None:
    version = factories.criteria_library(editor, auto_approve=True)
    factories.requirement_rule(editor, code_start="62331")
    info = coverage_information(updated_order(answer(ehr, hook_body(service_request("62331")))))
    assert (info["pa-needed"], info["doc-needed"]) == ("auth-needed", "clinical")
    assert info["questionnaire"] == f"{FHIR_BASE}/Questionnaire/policy-{version.policy_id}"
    assert version.version_label in info["detail"][1]["valueString"]


def test_the_answer_names_the_coverage_the_date_and_a_trace_id(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor)
    response = answer(ehr, hook_body())
    info = coverage_information(updated_order(response))
    assert info["coverage"] == {"reference": "Coverage/cov-1"}
    assert info["date"] == timezone.localdate().isoformat()
    event = AuditEvent.objects.get(object_type="crd_hook")
    assert event.detail["assertions"][0]["coverage_assertion_id"] == info["coverage-assertion-id"]


# --- the orders ---------------------------------------------------------------------------------------


def test_a_device_request_is_answered_from_its_hcpcs_code(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor, code_system="HCPCS", code_start="E0601")
    order = updated_order(answer(ehr, hook_body(device_request())))
    assert order["resourceType"] == "DeviceRequest"
    assert coverage_information(order)["pa-needed"] == "auth-needed"


def test_a_medication_request_is_answered_from_its_hcpcs_code(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor, code_system="HCPCS", code_start="J1745", requirement="not_required")
    order = updated_order(answer(ehr, hook_body(medication_request())))
    assert order["resourceType"] == "MedicationRequest"
    assert coverage_information(order)["pa-needed"] == "no-auth"


def test_every_returned_order_is_valid_r4_with_the_extension(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor)
    response = answer(ehr, hook_body(service_request(), device_request(), medication_request()))
    models: tuple[type[DomainResource], ...] = (ServiceRequest, DeviceRequest, MedicationRequest)
    for action, model in zip(response["systemActions"], models, strict=True):
        validated = model.model_validate(action["resource"])
        assert [e.url for e in validated.extension or []] == [Ext.CRD_COVERAGE_INFORMATION]


def test_order_select_answers_only_the_selected_orders(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor)
    body = hook_body(service_request(id_="sr-1"), service_request(id_="sr-2"), hook="order-select")
    body["context"]["selections"] = ["ServiceRequest/sr-2"]
    response = answer(ehr, body, ORDER_SELECT)
    assert [a["resource"]["id"] for a in response["systemActions"]] == ["sr-2"]


def test_an_order_without_a_cpt_or_hcpcs_code_gets_a_card_saying_so(ehr: FhirClient) -> None:
    order = service_request()
    order["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "231238003"}], "text": "Epidural"}
    response = answer(ehr, hook_body(order))
    assert "systemActions" not in response
    assert response["cards"][0]["summary"] == "Epidural: coverage requirements not determined"


# --- the EHR's FHIR server when the prefetch is missing ------------------------------------------


class FakeEhr(BaseHTTPRequestHandler):
    """An EHR's FHIR server: the patient's Coverage for the right token, 401 otherwise."""

    seen: list[str] = []

    def do_GET(self) -> None:
        FakeEhr.seen.append(self.path)
        if self.headers.get("Authorization") != "Bearer ehr-token":
            self.send_response(401)
            self.end_headers()
            return
        coverage = {**prefetch()["coverage"]["entry"][0]["resource"], "id": "cov-from-ehr"}
        body = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": coverage}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def ehr_server(settings: Any) -> Iterator[str]:
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEhr)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeEhr.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_a_missing_coverage_prefetch_is_read_from_the_ehr_with_the_calls_token(
    ehr: FhirClient, editor: User, ehr_server: str
) -> None:
    factories.requirement_rule(editor)
    body = hook_body(with_prefetch=False, fhirServer=ehr_server, fhirAuthorization={"access_token": "ehr-token"})
    response = answer(ehr, body)
    assert response["cards"] == []
    assert coverage_information(updated_order(response))["coverage"] == {"reference": "Coverage/cov-from-ehr"}
    assert FakeEhr.seen == ["/fhir/Coverage?patient=pat-1&status=active"]


def test_a_coverage_the_ehr_refuses_to_give_is_said_in_a_card(ehr: FhirClient, editor: User, ehr_server: str) -> None:
    factories.requirement_rule(editor)
    body = hook_body(with_prefetch=False, fhirServer=ehr_server, fhirAuthorization={"access_token": "expired"})
    response = answer(ehr, body)
    assert "could not be read" in response["cards"][0]["detail"]
    assert len(response["systemActions"]) == 1

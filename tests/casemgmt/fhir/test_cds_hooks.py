"""CDS Hooks 2.0 over HTTP (casemgmt/fhir/cds_views.py): discovery, the EHR's signed JWT, plain
JSON in and out, and errors that name the element."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent
from casemgmt.fhir.models import FhirClient
from tests import factories
from tests.casemgmt.fhir.conftest import signed_jwt
from tests.casemgmt.fhir.test_crd import ORDER_SELECT, ORDER_SIGN, hook_body, service_request

pytestmark = pytest.mark.django_db


def service_url(service: str = ORDER_SIGN) -> str:
    return f"http://testserver{reverse('cds_service', kwargs={'service_id': service})}"


def call(
    ehr: FhirClient, key: ec.EllipticCurvePrivateKey, body: Any, service: str = ORDER_SIGN, audience: str | None = None
) -> Any:
    token = signed_jwt(key, client_id=ehr.client_id, audience=audience or service_url(service), sub="ignored")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api.post(service_url(service), body, format="json")


def test_discovery_lists_the_order_select_and_order_sign_services_with_their_prefetch() -> None:
    response = APIClient().get(reverse("cds_services"))
    assert response.status_code == 200
    services = {s["id"]: s for s in response.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"order-select", "order-sign"}
    prefetch = services[ORDER_SIGN]["prefetch"]
    assert prefetch["coverage"] == "Coverage?patient={{context.patientId}}&status=active"
    assert prefetch["patient"] == "Patient/{{context.patientId}}"


def test_a_call_signed_by_the_registered_ehr_is_answered_with_a_system_action(
    ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey, editor: User
) -> None:
    factories.requirement_rule(editor)
    response = call(ehr, ehr_key, hook_body())
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["systemActions"][0]["resource"]["id"] == "sr-1"


def test_a_call_without_a_jwt_is_401(ehr: FhirClient) -> None:
    response = APIClient().post(service_url(), hook_body(), format="json")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_jwt_signed_with_another_key_is_401_and_says_why(ehr: FhirClient) -> None:
    response = call(ehr, ec.generate_private_key(ec.SECP384R1()), hook_body())
    assert response.status_code == 401
    assert "signature" in response.json()["detail"]


def test_a_jwt_for_another_service_is_401(ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey) -> None:
    response = call(ehr, ehr_key, hook_body(), audience=service_url(ORDER_SELECT))
    assert response.status_code == 401
    assert service_url() in response.json()["detail"]


def test_a_v1_api_token_is_not_a_cds_hooks_jwt(integration_client: User) -> None:
    from casemgmt.security.services import api_token_create

    _, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.post(service_url(), hook_body(), format="json").status_code == 401


def test_a_draft_order_without_a_code_is_400_naming_the_element(
    ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey
) -> None:
    order = service_request()
    del order["code"]
    response = call(ehr, ehr_key, hook_body(order))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["context.draftOrders.entry[0].resource.code"]


def test_a_draft_order_that_is_not_valid_fhir_is_400_naming_the_element(
    ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey
) -> None:
    order = service_request()
    order["code"] = {"coding": "62330"}
    response = call(ehr, ehr_key, hook_body(order))
    assert response.status_code == 400
    assert "context.draftOrders.entry[0].resource.code.coding" in response.json()["errors"]


def test_a_malformed_cpt_code_is_400_naming_the_coding(ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey) -> None:
    response = call(ehr, ehr_key, hook_body(service_request("6233")))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["context.draftOrders.entry[0].resource.code.coding[0].code"]


def test_a_call_for_another_hook_is_400(ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey) -> None:
    response = call(ehr, ehr_key, hook_body(hook="order-select"))
    assert response.status_code == 400
    assert "hook" in response.json()["errors"]


def test_an_unknown_service_is_404(ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey) -> None:
    assert call(ehr, ehr_key, hook_body(), service="no-such-service").status_code == 404


def test_a_call_without_the_coverage_prefetch_gets_a_card_and_still_an_answer(
    ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey, editor: User
) -> None:
    factories.requirement_rule(editor)
    response = call(ehr, ehr_key, hook_body(with_prefetch=False)).json()
    assert response["cards"][0]["indicator"] == "info"
    assert "'coverage'" in response["cards"][0]["detail"]
    assert "Commercial" in response["cards"][0]["detail"]
    assert len(response["systemActions"]) == 1


def test_an_ehr_that_asks_for_cards_gets_a_card_with_the_update_as_a_suggestion(
    ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey, editor: User
) -> None:
    factories.requirement_rule(editor)
    body = hook_body(extension={"davinci-crd.configuration": {"coverage-info-card": True}})
    response = call(ehr, ehr_key, body).json()
    assert "systemActions" not in response
    card = response["cards"][0]
    assert card["summary"] == "Lumbar injection: Prior authorization required"
    assert card["suggestions"][0]["actions"][0]["type"] == "update"
    assert card["links"][0]["url"].endswith(reverse("requirements_list"))


def test_each_call_is_recorded_in_the_audit_log_as_the_ehr(
    ehr: FhirClient, ehr_key: ec.EllipticCurvePrivateKey, editor: User
) -> None:
    factories.requirement_rule(editor)
    call(ehr, ehr_key, hook_body())
    event = AuditEvent.objects.get(object_type="crd_hook")
    assert (event.actor, event.object_id, event.detail["fhir_client"]) == (
        ehr.user,
        "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        ehr.client_id,
    )
    assert event.detail["assertions"][0]["pa_needed"] == "auth-needed"


def test_a_refused_call_answers_nothing_and_records_no_assertion(ehr: FhirClient) -> None:
    APIClient().post(service_url(), hook_body(), format="json")
    assert not AuditEvent.objects.filter(object_type="crd_hook").exists()

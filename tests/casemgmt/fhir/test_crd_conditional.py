"""CRD answers that depend on what the order does not say: `conditional`, with the guide's
`info-needed` codes naming what is missing (a diagnosis the plan's rules turn on, the ordering
provider a gold card would exempt, the documentation that would let intake approve at once)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.services.triage import intake_settings_update
from casemgmt.fhir.codes import CRD_INFO_OTHER, CRD_INFO_PERFORMER, Ext
from casemgmt.fhir.models import FhirClient
from tests import factories
from tests.casemgmt.fhir.test_crd import (
    FHIR_BASE,
    answer,
    coverage_information,
    hook_body,
    service_request,
    updated_order,
)

pytestmark = pytest.mark.django_db


def without_diagnosis(code: str = "62330") -> dict[str, Any]:
    order = service_request(code)
    del order["reasonCode"]
    return order


def without_requester(code: str = "62330") -> dict[str, Any]:
    order = service_request(code)
    del order["requester"]
    return order


def info_needed(resource: dict[str, Any]) -> list[str]:
    extension = next(e for e in resource["extension"] if e["url"] == Ext.CRD_COVERAGE_INFORMATION)
    return [part["valueCode"] for part in extension["extension"] if part["url"] == "info-needed"]


@pytest.fixture
def by_diagnosis(editor: User) -> None:
    """Required with a lumbar stenosis diagnosis; otherwise not required."""
    factories.requirement_rule(editor, diagnosis_codes=("M48.06",))
    factories.requirement_rule(editor, requirement="not_required")


# --- a diagnosis the rules turn on ---------------------------------------------------------------


def test_an_order_without_the_diagnosis_a_rule_turns_on_is_conditional(ehr: FhirClient, by_diagnosis: None) -> None:
    order = updated_order(answer(ehr, hook_body(without_diagnosis())))
    info = coverage_information(order)
    assert (info["covered"], info["pa-needed"]) == ("covered", "conditional")
    assert info_needed(order) == [CRD_INFO_OTHER]
    assert "diagnosis" in info["reason"]["text"]


def test_an_order_naming_the_diagnosis_is_answered_by_its_rule(ehr: FhirClient, by_diagnosis: None) -> None:
    order = updated_order(answer(ehr, hook_body(service_request())))
    assert coverage_information(order)["pa-needed"] == "auth-needed"
    assert info_needed(order) == []


def test_an_order_naming_another_diagnosis_is_answered_by_the_general_rule(ehr: FhirClient, by_diagnosis: None) -> None:
    order = service_request()
    order["reasonCode"] = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50"}]}]
    assert coverage_information(updated_order(answer(ehr, hook_body(order))))["pa-needed"] == "no-auth"


def test_a_diagnosis_rule_answering_the_same_leaves_the_answer_definite(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor, diagnosis_codes=("M48.06",))
    factories.requirement_rule(editor)
    order = updated_order(answer(ehr, hook_body(without_diagnosis())))
    assert (coverage_information(order)["pa-needed"], info_needed(order)) == ("auth-needed", [])


def test_a_benefit_exclusion_for_a_diagnosis_makes_coverage_conditional(ehr: FhirClient, editor: User) -> None:
    factories.requirement_rule(editor, requirement="not_covered", diagnosis_codes=("M48.06",))
    factories.requirement_rule(editor)
    info = coverage_information(updated_order(answer(ehr, hook_body(without_diagnosis()))))
    assert (info["covered"], info["pa-needed"]) == ("conditional", "auth-needed")


# --- a gold card the order cannot be checked against ---------------------------------------------------


@pytest.fixture
def gold_card_programme(editor: User, manager: User) -> None:
    factories.requirement_rule(editor)
    intake_settings_update(user=manager, automatic_approval=True)
    factories.gold_card_programme(manager)


def test_an_order_without_its_orderer_under_a_gold_card_programme_needs_the_performer(
    ehr: FhirClient, gold_card_programme: None
) -> None:
    order = updated_order(answer(ehr, hook_body(without_requester())))
    assert coverage_information(order)["pa-needed"] == "conditional"
    assert info_needed(order) == [CRD_INFO_PERFORMER]


def test_an_orderer_without_a_gold_card_is_auth_needed(ehr: FhirClient, gold_card_programme: None) -> None:
    order = updated_order(answer(ehr, hook_body(service_request())))
    assert (coverage_information(order)["pa-needed"], info_needed(order)) == ("auth-needed", [])


def test_without_automatic_approval_a_missing_orderer_changes_nothing(
    ehr: FhirClient, editor: User, manager: User
) -> None:
    factories.requirement_rule(editor)
    factories.gold_card_programme(manager)
    order = updated_order(answer(ehr, hook_body(without_requester())))
    assert (coverage_information(order)["pa-needed"], info_needed(order)) == ("auth-needed", [])


# --- criteria that documentation could meet -----------------------------------------------------------


def test_criteria_unknown_under_a_version_that_approves_when_met_are_conditional(
    ehr: FhirClient, editor: User, manager: User
) -> None:
    version = factories.criteria_library(editor, auto_approve=True)
    factories.requirement_rule(editor, code_start="62331")
    intake_settings_update(user=manager, automatic_approval=True)
    order = updated_order(answer(ehr, hook_body(service_request("62331"))))
    info = coverage_information(order)
    assert (info["pa-needed"], info["doc-needed"]) == ("conditional", "clinical")
    assert info["questionnaire"] == f"{FHIR_BASE}/Questionnaire/policy-{version.policy_id}"
    assert info_needed(order) == [CRD_INFO_OTHER]


def test_criteria_unknown_under_a_version_that_never_approves_at_once_are_auth_needed(
    ehr: FhirClient, editor: User, manager: User
) -> None:
    factories.criteria_library(editor, auto_approve=False)
    factories.requirement_rule(editor, code_start="62331")
    intake_settings_update(user=manager, automatic_approval=True)
    order = updated_order(answer(ehr, hook_body(service_request("62331"))))
    assert (coverage_information(order)["pa-needed"], info_needed(order)) == ("auth-needed", [])


def test_the_audit_row_keeps_what_was_needed(ehr: FhirClient, by_diagnosis: None) -> None:
    answer(ehr, hook_body(without_diagnosis()))
    event = AuditEvent.objects.get(object_type="crd_hook")
    assert event.detail["assertions"][0]["info_needed"] == [CRD_INFO_OTHER]

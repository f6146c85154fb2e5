"""An adverse item of the PAS Response Bundle carries the plan's review decision reason code
(X12 list 886) the decision gave, as reviewAction.reasonCode; without one, none."""

from __future__ import annotations

from typing import Any

from casemgmt.cases.models import Case, ReviewReasonCode
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.fhir.codes import System
from policies_app.models import PolicyVersion
from tests import factories
from tests.casemgmt.fhir.pas_bundles import pas_request
from tests.casemgmt.fhir.test_submit_answers import answered, claim_response, inquire_again


def denied_answer(api: Any, physician: Any, editor: Any, reason_code: str) -> dict[str, Any]:
    factories.two_policy_library(editor)
    bundle = pas_request("62330")
    answered(api, bundle)
    case = Case.objects.get()
    version = PolicyVersion.objects.get(pk=case.flags.exclude(policy_version=None).values("policy_version")[:1])
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="Not necessary.", reason_code=reason_code)],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    return claim_response(inquire_again(api, bundle))


def review_action(response: dict[str, Any]) -> list[dict[str, Any]]:
    return response["item"][0]["adjudication"][0]["extension"][0]["extension"]


def test_a_denied_item_carries_its_reason_code(db, fhir_api, editor, physician):
    ReviewReasonCode.objects.create(code="N1", display="Not medically necessary")
    response = denied_answer(fhir_api, physician, editor, "N1")
    [reason] = [e for e in review_action(response) if e["url"] == "reasonCode"]
    assert reason["valueCodeableConcept"]["coding"] == [
        {"system": System.REVIEW_DECISION_REASON, "code": "N1", "display": "Not medically necessary"}
    ]


def test_a_denied_item_without_a_reason_code_carries_none(db, fhir_api, editor, physician):
    response = denied_answer(fhir_api, physician, editor, "")
    assert not [e for e in review_action(response) if e["url"] == "reasonCode"]


def test_a_code_kept_under_another_system_is_sent_under_it(db, fhir_api, editor, physician):
    ReviewReasonCode.objects.create(code="L7", display="Plan-specific", system="urn:example:plan-reasons")
    response = denied_answer(fhir_api, physician, editor, "L7")
    [reason] = [e for e in review_action(response) if e["url"] == "reasonCode"]
    assert reason["valueCodeableConcept"]["coding"][0]["system"] == "urn:example:plan-reasons"

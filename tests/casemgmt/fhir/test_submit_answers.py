"""What the PAS Response Bundle says for each state of a request: pended with the documentation
it waits for, approved with its authorization, denied with its reason and policy version, no
authorization required, and the guide's error answer for a member the plan cannot review."""

from __future__ import annotations

import base64
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from casemgmt.cases.models import Attachment, Case, CaseStatus
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.triage import intake_settings_update
from casemgmt.fhir.codes import Ext
from casemgmt.fhir.parsing import resource_parse
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyVersion
from tests import factories
from tests.casemgmt.fhir.pas_bundles import pas_request
from tests.casemgmt.fhir.test_submit import SUBMIT, review_actions

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def claim_response(body: dict[str, Any]) -> dict[str, Any]:
    resource_parse(body, Bundle)
    return body["entry"][0]["resource"]


def answered(api: Any, bundle: dict[str, Any]) -> dict[str, Any]:
    response = api.post(SUBMIT, bundle, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def inquire_again(api: Any, bundle: dict[str, Any]) -> dict[str, Any]:
    """The same bundle again: its answer is the request's state now."""
    response = api.post(SUBMIT, bundle, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def deny(case: Case, physician: Any, reason: str) -> PolicyVersion:
    """A physician denies the request's one line, citing the version its flag names; that version."""
    version = PolicyVersion.objects.get(pk=case.flags.exclude(policy_version=None).values("policy_version")[:1])
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason=reason)],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    return version


def test_a_pended_item_names_the_documentation_its_criteria_wait_for(db, fhir_api, editor):
    factories.criteria_library(editor, auto_approve=False, code="62331")
    body = answered(fhir_api, pas_request("62331"))
    assert review_actions(body) == ["A4"]
    requests = [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "CommunicationRequest"]
    assert len(requests) == 1
    assert "conservative therapy" in requests[0]["payload"][0]["contentString"].lower()
    notes = claim_response(body)["processNote"]
    assert "pended for documentation" in notes[0]["text"]


def test_an_approved_item_carries_its_authorization_and_period(db, fhir_api, nurse):
    bundle = pas_request("62330")
    answered(fhir_api, bundle)
    case = Case.objects.get()
    decision_record(
        case_id=case.pk, user=nurse, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
    )
    body = inquire_again(fhir_api, bundle)
    response = claim_response(body)
    authorization = case.authorizations.get()
    assert review_actions(body) == ["A1"]
    assert response["preAuthRef"] == authorization.authorization_number
    assert response["preAuthPeriod"] == {"start": str(authorization.valid_from), "end": str(authorization.valid_to)}
    review = response["item"][0]["adjudication"][0]["extension"][0]["extension"]
    assert {"url": "number", "valueString": authorization.authorization_number} in review
    assert any(e["url"] == Ext.ITEM_PREAUTH_PERIOD for e in response["item"][0]["extension"])


def test_a_denied_item_says_why_and_names_the_policy_version(db, fhir_api, editor, physician):
    factories.two_policy_library(editor)
    bundle = pas_request("62330")
    answered(fhir_api, bundle)
    case = Case.objects.get()
    version = deny(case, physician, "Investigational for this indication.")
    body = inquire_again(fhir_api, bundle)
    response = claim_response(body)
    assert review_actions(body) == ["A3"]
    assert "preAuthRef" not in response
    note = response["processNote"][response["item"][0]["noteNumber"][0] - 1]
    assert "Investigational for this indication." in note["text"]
    assert version.policy.number in note["text"]
    policy = [e["valueString"] for e in response["item"][0]["extension"] if e["url"] == Ext.POLICY_VERSION]
    assert policy and version.version_label in policy[0]


def test_a_service_that_needs_no_authorization_answers_na_and_closes_the_request(db, fhir_api, editor):
    factories.requirement_rule(editor, requirement="not_required", code_start="99213")
    body = answered(fhir_api, pas_request("99213"))
    assert review_actions(body) == ["NA"]
    assert Case.objects.get().status == CaseStatus.CLOSED


def test_an_item_triage_approves_answers_a1_in_the_same_response(db, fhir_api, editor, manager):
    factories.criteria_library(editor, auto_approve=True, code="62331")
    intake_settings_update(user=manager, automatic_approval=True)
    questionnaire = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [{"linkId": "conservative_therapy_weeks", "answer": [{"valueInteger": 16}]}],
    }
    info = {
        "category": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                    "code": "additionalInformation",
                }
            ]
        }
    }
    body = answered(fhir_api, pas_request("62331", supporting=[(info, questionnaire)]))
    assert review_actions(body) == ["A1"]
    assert Case.objects.get().clinical_facts == {"conservative_therapy_weeks": 16}
    assert claim_response(body)["preAuthRef"].startswith("AUTH-")


def test_a_pdf_document_reference_becomes_a_case_attachment(db, fhir_api):
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "description": "Imaging report",
        "content": [{"attachment": {"contentType": "application/pdf", "data": base64.b64encode(PDF).decode()}}],
    }
    info = {
        "category": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                    "code": "additionalInformation",
                }
            ]
        }
    }
    answered(fhir_api, pas_request("62330", supporting=[(info, document)]))
    attachment = Attachment.objects.get()
    assert attachment.content_type == "application/pdf"
    assert attachment.description == "Imaging report"


def test_a_document_that_is_not_a_pdf_or_image_is_refused_naming_it(db, fhir_api):
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [
            {"attachment": {"contentType": "application/pdf", "data": base64.b64encode(b"MZ\x90\x00exe").decode()}}
        ],
    }
    info = {
        "category": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                    "code": "additionalInformation",
                }
            ]
        }
    }
    response = fhir_api.post(SUBMIT, pas_request("62330", supporting=[(info, document)]), format="json")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[5].resource.content[0].attachment.data"]
    assert not Case.objects.exists()


def test_a_member_the_plan_cannot_place_gets_the_error_response(db, fhir_api, ehr):
    ehr.line_of_business = ""
    ehr.save()
    response = fhir_api.post(SUBMIT, pas_request("62330"), format="json")
    assert response.status_code == 200
    claim = claim_response(response.json())
    assert claim["outcome"] == "error"
    assert claim["error"][0]["code"]["coding"][0]["code"] == "75"
    assert not Case.objects.exists()


def test_a_denied_request_cannot_be_updated(db, fhir_api, editor, physician):
    factories.two_policy_library(editor)
    bundle = pas_request("62330")
    answered(fhir_api, bundle)
    case = Case.objects.get()
    deny(case, physician, "Investigational.")
    update = pas_request("62330", "62331")
    update["entry"][0]["resource"]["related"] = [
        {"claim": {"identifier": bundle["entry"][0]["resource"]["identifier"][0]}}
    ]
    response = fhir_api.post(SUBMIT, update, format="json")
    assert response.status_code == 422
    assert "new request" in response.json()["issue"][0]["diagnostics"]
    assert Case.objects.count() == 1


def test_a_token_without_the_claim_write_scope_is_refused(db, ehr):
    from tests.casemgmt.fhir.conftest import api_for

    api = api_for(ehr, frozenset({"system/Claim.read"}))
    response = api.post(SUBMIT, pas_request("62330"), format="json")
    assert response.status_code == 403
    assert response.json()["issue"][0]["code"] == "forbidden"
    assert not Case.objects.exists()


def test_an_appeal_that_overturns_the_denial_shows_in_the_pas_answer(
    db, fhir_api, integration_client, editor, physician
):
    factories.two_policy_library(editor)
    bundle = pas_request("62330")
    answered(fhir_api, bundle)
    case = Case.objects.get()
    version = deny(case, physician, "Investigational.")
    appeal = appeal_open(
        case_id=case.pk,
        user=integration_client,
        lines=[1],
        reason="New evidence.",
        urgency="standard",
        requested_by="provider",
    )
    second = factories.user("pat.second", Role.PHYSICIAN)
    decision_record(
        case_id=appeal.pk,
        user=second,
        lines=[DecisionLineInput(service_line=1, outcome="overturned")],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    body = inquire_again(fhir_api, bundle)
    assert review_actions(body) == ["A1"]
    assert claim_response(body)["preAuthRef"] == appeal.authorizations.get().authorization_number


def test_a_pas_request_is_the_same_case_through_the_v1_api(db, fhir_api, integration_client):
    answered(fhir_api, pas_request("62330"))
    case = Case.objects.get()
    v1 = APIClient()
    v1.force_authenticate(integration_client)
    body = v1.get(f"/api/v1/cases/{case.case_number}").json()
    assert body["service_lines"][0]["code"] == "62330"
    assert body["status"] == case.status


def test_a_member_sent_without_a_birth_date_is_reviewed_and_written_to(db, fhir_api, editor, physician, client):
    factories.two_policy_library(editor)
    bundle = pas_request("62330")
    del bundle["entry"][1]["resource"]["birthDate"]
    answered(fhir_api, bundle)
    case = Case.objects.get()
    assert case.member_birth_date is None
    deny(case, physician, "Investigational.")
    decision = case.decisions.get()
    client.force_login(physician)
    assert b"date of birth not given" in client.get(f"/cases/{case.case_number}/").content
    letter = client.get(f"/cases/{case.case_number}/letter/{decision.pk}/?to=provider")
    assert b"date of birth not given" in letter.content
    pdf = client.get(f"/cases/{case.case_number}/letter/{decision.pk}.pdf?to=provider")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_an_update_of_an_approved_request_reviews_the_added_item_and_answers_every_item(db, fhir_api, nurse):
    bundle = pas_request("62330", "62331")
    answered(fhir_api, bundle)
    case = Case.objects.get()
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[],
    )
    update = pas_request("62330", "62331", "72148")
    claim = update["entry"][0]["resource"]
    claim["related"] = [{"claim": {"identifier": bundle["entry"][0]["resource"]["identifier"][0]}}]
    claim["item"][2]["extension"].append({"url": Ext.INFO_CHANGED, "valueCode": "added"})
    claim["item"][1]["extension"][1]["valueCodeableConcept"]["coding"][0]["code"] = "3"
    body = answered(fhir_api, update)
    assert review_actions(body) == ["A1", "A1", "A4"]
    added = Case.objects.exclude(pk=case.pk).get()
    assert [line.code for line in added.lines.all()] == ["72148"]
    notes = " ".join(note["text"] for note in claim_response(body)["processNote"])
    assert "item 2: a decided service is not cancelled through $submit" in notes

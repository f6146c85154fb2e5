"""A PAS Request Bundle as an EHR builds one, for the tests: a Claim for CPT codes for member
M123 from the demo NPI, with its Patient, Coverage, requesting and insurer Organizations."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from casemgmt.fhir.codes import Ext, System
from tests.factories import VALID_NPI

X12_1322 = "https://codesystem.x12.org/005010/1322"
X12_1525 = "https://codesystem.x12.org/005010/1525"


def item(sequence: int, code: str, day: date, *, units: int = 1, trace: str = "") -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {
            "url": Ext.SERVICE_ITEM_REQUEST_TYPE,
            "valueCodeableConcept": {"coding": [{"system": X12_1525, "code": "HS"}]},
        },
        {"url": Ext.CERTIFICATION_TYPE, "valueCodeableConcept": {"coding": [{"system": X12_1322, "code": "I"}]}},
    ]
    if trace:
        extensions.append(
            {"url": Ext.ITEM_TRACE_NUMBER, "valueIdentifier": {"system": "urn:ehr:trace", "value": trace}}
        )
    return {
        "extension": extensions,
        "sequence": sequence,
        "category": {"coding": [{"system": "https://codesystem.x12.org/005010/1365", "code": "1"}]},
        "productOrService": {"coding": [{"system": System.CPT, "code": code}]},
        "servicedDate": day.isoformat(),
        "quantity": {"value": units},
        "locationCodeableConcept": {
            "coding": [
                {
                    "system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
                    "code": "11",
                }
            ]
        },
    }


def pas_request(
    *codes: str,
    day: date | None = None,
    member_id: str = "M123",
    npi: str = VALID_NPI,
    diagnoses: tuple[str, ...] = ("M48.062",),
    supporting: list[tuple[dict[str, Any], dict[str, Any]]] = (),  # type: ignore[assignment]
    trn: str | None = None,
) -> dict[str, Any]:
    """A request bundle for `codes` (default CPT 62330) on `day` (ten days ahead). `supporting`:
    (supportingInfo element without sequence, the resource it refers to)."""
    day = day or timezone.localdate() + timedelta(days=10)
    trn = trn or uuid.uuid4().hex[:12]
    infos, extra = [], []
    for i, (info, resource) in enumerate(supporting, start=1):
        full_url = f"urn:uuid:{uuid.uuid4()}"
        infos.append({**info, "sequence": i, "valueReference": {"reference": full_url}})
        extra.append({"fullUrl": full_url, "resource": resource})
    claim = {
        "resourceType": "Claim",
        "id": "request",
        "meta": {"profile": ["http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claim"]},
        "identifier": [{"system": "urn:ehr:trn", "value": trn}],
        "status": "active",
        "type": {"coding": [{"system": System.CLAIM_TYPE, "code": "professional"}]},
        "use": "preauthorization",
        "patient": {"reference": "Patient/member"},
        "created": timezone.now().isoformat(),
        "insurer": {"reference": "Organization/insurer"},
        "provider": {"reference": "Organization/clinic"},
        "priority": {"coding": [{"system": System.PROCESS_PRIORITY, "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/coverage"}}],
        "diagnosis": [
            {"sequence": i, "diagnosisCodeableConcept": {"coding": [{"system": System.ICD10CM, "code": code}]}}
            for i, code in enumerate(diagnoses, start=1)
        ],
        "item": [item(i, code, day) for i, code in enumerate(codes or ("62330",), start=1)],
    }
    if infos:
        claim["supportingInfo"] = infos
    base = "http://ehr.example/fhir"
    return {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:ehr:bundle", "value": uuid.uuid4().hex},
        "type": "collection",
        "timestamp": timezone.now().isoformat(),
        "entry": [
            {"fullUrl": f"{base}/Claim/request", "resource": claim},
            {
                "fullUrl": f"{base}/Patient/member",
                "resource": {
                    "resourceType": "Patient",
                    "id": "member",
                    "name": [{"family": "Case", "given": ["Ada"]}],
                    "birthDate": "1960-05-01",
                },
            },
            {
                "fullUrl": f"{base}/Coverage/coverage",
                "resource": {
                    "resourceType": "Coverage",
                    "id": "coverage",
                    "status": "active",
                    "subscriberId": member_id,
                    "beneficiary": {"reference": "Patient/member"},
                    "payor": [{"reference": "Organization/insurer"}],
                },
            },
            {
                "fullUrl": f"{base}/Organization/clinic",
                "resource": {
                    "resourceType": "Organization",
                    "id": "clinic",
                    "name": "Spine Clinic",
                    "identifier": [{"system": System.NPI, "value": npi}],
                },
            },
            {
                "fullUrl": f"{base}/Organization/insurer",
                "resource": {"resourceType": "Organization", "id": "insurer", "name": "Demo Health Plan"},
            },
            *extra,
        ],
    }

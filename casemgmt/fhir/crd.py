"""Da Vinci CRD: what the plan answers about an order an EHR is drafting (CDS Hooks 2.0, the
order-select and order-sign hooks), before anything is submitted.

Each draft order is answered by the rules intake applies to a request, through intake's own
functions: the policy engine's flags, the duplicate and eligibility checks and triage (the
requirement rules, automatic approval with criteria met, gold cards), run on an unsaved request
built from the order. So "satisfied" here means exactly that intake would approve the line at
once, and the answer here and intake's cannot disagree. Nothing is stored but the audit row each
call writes (CRD asks the plan to keep every answer it gave).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from casemgmt.audit.models import AuditAction
from casemgmt.audit.services import audit_record
from casemgmt.cases.models import Case, FlagKind, GoldCardProgramme, LineOutcome, ServiceLine
from casemgmt.cases.selectors import case_request_data, member_coverage_on
from casemgmt.cases.services.duplicates import duplicate_flags, duplicate_matches
from casemgmt.cases.services.eligibility import eligibility_flags
from casemgmt.cases.services.triage import CRITERIA_APPROVAL_FLAGS, automatic_approval_on, triage_lines
from casemgmt.cases.services.webhooks import webhook_target_problem
from casemgmt.fhir.codes import (
    CRD_AUTH_NEEDED,
    CRD_CONDITIONAL,
    CRD_CONFIGURATION,
    CRD_CONFIGURATION_OPTIONS,
    CRD_COVERED,
    CRD_DETAIL,
    CRD_DOC_CLINICAL,
    CRD_DOC_WITH_PA,
    CRD_INFO_OTHER,
    CRD_INFO_PERFORMER,
    CRD_NO_AUTH,
    CRD_NOT_COVERED,
    CRD_SATISFIED,
    CRD_TEMP,
    FHIR_JSON,
    SERVICE_CODE_SYSTEMS,
    SOPT,
    SOPT_LINES_OF_BUSINESS,
    Ext,
    System,
)
from casemgmt.fhir.models import FhirClient
from casemgmt.fhir.parsing import FhirInvalid, resource_json, resource_parse
from casemgmt.fhir.questionnaires import questionnaire_items
from policies_app.codes import code_problem, normalize_code
from policies_app.engine import FlagData, VersionData, evaluate_request
from policies_app.models import LineOfBusiness, Requirement
from policies_app.requirement_index import RequirementAnswer, RequirementIndex, RuleData
from policies_app.selectors import engine_index, governing_version, library_stamp, requirement_index

AUDIT_OBJECT = "crd_hook"
ORDER_TYPES = ("ServiceRequest", "DeviceRequest", "MedicationRequest")
# The element of each order type that says what is ordered.
ORDER_CODE = {
    "ServiceRequest": "code",
    "DeviceRequest": "codeCodeableConcept",
    "MedicationRequest": "medicationCodeableConcept",
}
# The prefetch without which the answer rests on the client's defaults.
NEEDED_PREFETCH = ("coverage",)
# Reading the EHR's FHIR server when the prefetch is missing: the answer is due within seconds.
EHR_READ_SECONDS = 3
EHR_READ_MAX_BYTES = 1_000_000
SUMMARY_MAX = 140


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str


SERVICES = {
    service.id: service
    for service in (
        CdsService(
            "casemgmt-crd-order-select",
            "order-select",
            "Coverage requirements when an order is selected",
            "Whether each selected service, device or medication order is covered, needs prior authorization "
            "and needs documentation (with the plan's DTR questionnaire), under the plan's published rules.",
        ),
        CdsService(
            "casemgmt-crd-order-sign",
            "order-sign",
            "Coverage requirements when orders are signed",
            "Whether each service, device or medication order being signed is covered, needs prior "
            "authorization and needs documentation (with the plan's DTR questionnaire), under the plan's "
            "published rules.",
        ),
    )
}

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "practitioners": "Practitioner?_id={{context.draftOrders.entry.resource.requester.resolve().ofType(Practitioner).id}}",
    "practitionerRoles": "PractitionerRole?_id={{context.draftOrders.entry.resource.requester.resolve()"
    ".ofType(PractitionerRole).id}}&_include=PractitionerRole:practitioner",
}

OPTION_COVERAGE_INFO = "coverage-info"
OPTION_AS_CARD = "coverage-info-card"
CONFIGURATION_OPTIONS = (
    {
        "code": OPTION_COVERAGE_INFO,
        "type": "boolean",
        "name": "Coverage information",
        "description": "Record on each order whether it is covered, needs prior authorization and needs documentation.",
        "default": True,
    },
    {
        "code": OPTION_AS_CARD,
        "type": "boolean",
        "name": "Coverage information as cards",
        "description": "Show the coverage information as a card the user accepts, instead of updating the order at once.",
        "default": False,
    },
)

COVERED_LABELS = {
    CRD_COVERED: "Covered",
    CRD_NOT_COVERED: "Not a covered benefit",
    CRD_CONDITIONAL: "Coverage depends on information the order does not give",
}
PA_LABELS = {
    CRD_AUTH_NEEDED: "Prior authorization required",
    CRD_NO_AUTH: "No prior authorization needed",
    CRD_SATISFIED: "Prior authorization requirement satisfied: approved without a request",
    CRD_CONDITIONAL: "Prior authorization depends on information the order does not give",
}
# What each of the plan's requirements answers as `pa-needed` (a benefit exclusion answers none).
PA_NEEDED = {
    Requirement.REQUIRED: CRD_AUTH_NEEDED,
    Requirement.NOT_REQUIRED: CRD_NO_AUTH,
    Requirement.NOTIFICATION_ONLY: CRD_NO_AUTH,
}


def cds_discovery() -> dict[str, Any]:
    """The CDS Hooks discovery document: our services, their prefetch and configuration options."""
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title,
                "description": service.description,
                "id": service.id,
                "prefetch": PREFETCH,
                "usageRequirements": "Send the prefetch: without the patient's Coverage the answer uses the "
                "line of business registered for your client.",
                "extension": {CRD_CONFIGURATION_OPTIONS: list(CONFIGURATION_OPTIONS)},
            }
            for service in SERVICES.values()
        ]
    }


# --- reading the request ------------------------------------------------------------------------


class CdsInvalid(Exception):
    """A CDS Hooks request we cannot read: each problem by the path of its element."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{path}: {' '.join(messages)}" for path, messages in self.errors.items()))


@dataclass(frozen=True)
class DraftOrder:
    path: str  # context.draftOrders.entry[i].resource
    resource: DomainResource
    code_system: str  # CPT or HCPCS; "" when the order has no coding in either
    code: str
    display: str
    date_of_service: date
    diagnoses: tuple[str, ...]
    requester_npi: str
    insurance: Reference | None

    @property
    def label(self) -> str:
        return self.display or (f"{self.code_system} {self.code}" if self.code else self.path)


@dataclass(frozen=True)
class HookCall:
    service: CdsService
    hook_instance: str
    patient_id: str
    fhir_server: Any
    fhir_authorization: Any
    orders: tuple[DraftOrder, ...]
    coverage: Coverage | None
    patient: Patient | None
    missing: tuple[str, ...]
    configuration: Mapping[str, Any]

    def option(self, code: str) -> bool:
        default = next(option["default"] for option in CONFIGURATION_OPTIONS if option["code"] == code)
        value = self.configuration.get(code, default)
        return value if isinstance(value, bool) else bool(default)


def _parse(value: Any, path: str) -> Resource:
    """`value` as the FHIR resource its resourceType names, problems named under `path`."""
    kind = value.get("resourceType") if isinstance(value, dict) else None
    try:
        found = get_fhir_model_class(str(kind))
    except (KeyError, ValueError):
        found = None
    if found is None or not issubclass(found, Resource):
        raise CdsInvalid({f"{path}.resourceType": [f"{kind!r} is not a FHIR R4 resource type"]})
    model: type[Resource] = found
    try:
        return resource_parse(value, model)
    except FhirInvalid as exc:
        root = model.get_resource_type()
        errors: dict[str, list[str]] = {}
        for problem in exc.problems:
            errors.setdefault(path + problem.path.removeprefix(root), []).append(problem.message)
        raise CdsInvalid(errors) from None


def _resources(value: Resource) -> list[Resource]:
    if isinstance(value, Bundle):
        return [entry.resource for entry in value.entry or [] if entry.resource is not None]
    return [value]


def _npi(resource: Resource | None) -> str:
    identifiers = getattr(resource, "identifier", None) or []
    return next((str(i.value) for i in identifiers if i.system == System.NPI and i.value), "")


def _requester_npi(order: DomainResource, known: Mapping[str, Resource]) -> str:
    """The ordering provider's NPI: on the reference itself, or on the Practitioner (or the
    PractitionerRole's practitioner) it points to in the request."""
    requester: Reference | None = getattr(order, "requester", None)
    if requester is None:
        return ""
    if requester.identifier is not None and requester.identifier.system == System.NPI:
        return str(requester.identifier.value or "")
    target = known.get(requester.reference or "")
    if target is not None and target.get_resource_type() == "PractitionerRole":
        practitioner = getattr(target, "practitioner", None)
        return _npi(target) or _npi(known.get(practitioner.reference or "") if practitioner else None)
    return _npi(target)


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _order_day(order: DomainResource, today: date) -> date:
    """When the service is to be given: its occurrence, else when it was ordered, else today."""
    period = getattr(order, "occurrencePeriod", None)
    for value in (getattr(order, "occurrenceDateTime", None), period.start if period else None, order.authoredOn):  # type: ignore[attr-defined]
        day = _day(value)
        if day is not None:
            return day
    return today


def _service_code(concept: CodeableConcept, path: str) -> tuple[str, str, str]:
    """(our system, code, display) of the concept's first CPT or HCPCS coding; ("", "", text) without one."""
    for k, coding in enumerate(concept.coding or []):
        system = SERVICE_CODE_SYSTEMS.get(coding.system or "")
        if system not in ("CPT", "HCPCS"):
            continue
        code = normalize_code(system, coding.code or "")
        problem = code_problem(system, code)
        if problem:
            raise CdsInvalid({f"{path}.coding[{k}].code": [problem]})
        return system, code, coding.display or concept.text or ""
    return "", "", concept.text or next((c.display for c in concept.coding or [] if c.display), "")


def _diagnoses(order: DomainResource) -> tuple[str, ...]:
    found = []
    for concept in getattr(order, "reasonCode", None) or []:
        for coding in concept.coding or []:
            code = normalize_code("ICD10CM", coding.code or "")
            if coding.system == System.ICD10CM and code_problem("ICD10CM", code) is None:
                found.append(code)
    return tuple(found)


def _draft_order(order: DomainResource, path: str, known: Mapping[str, Resource], today: date) -> DraftOrder:
    element = ORDER_CODE[order.get_resource_type()]
    concept = getattr(order, element, None)
    if concept is None:
        raise CdsInvalid({f"{path}.{element}": ["is required: what is ordered, with a CPT or HCPCS coding"]})
    system, code, display = _service_code(concept, f"{path}.{element}")
    insurance = getattr(order, "insurance", None) or []
    return DraftOrder(
        path=path,
        resource=order,
        code_system=system,
        code=code,
        display=display,
        date_of_service=_order_day(order, today),
        diagnoses=_diagnoses(order),
        requester_npi=_requester_npi(order, known),
        insurance=insurance[0] if insurance else None,
    )


def hook_call_parse(*, service: CdsService, body: Any, today: date) -> HookCall:
    """The request as we read it, or CdsInvalid naming each element that is wrong."""
    if not isinstance(body, dict):
        raise CdsInvalid({"": ["must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    if body.get("hook") != service.hook:
        errors["hook"] = [f"this service answers the {service.hook!r} hook"]
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        errors["hookInstance"] = ["is required: the id of this hook call"]
    context = body.get("context")
    if not isinstance(context, dict):
        errors["context"] = ["is required: an object with patientId and draftOrders"]
        raise CdsInvalid(errors)
    if not isinstance(context.get("patientId"), str) or not context["patientId"]:
        errors["context.patientId"] = ["is required"]
    if not isinstance(context.get("draftOrders"), dict):
        errors["context.draftOrders"] = ["is required: a Bundle of the draft orders"]
    prefetch = body.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        errors["prefetch"] = ["must be an object"]
    if errors:
        raise CdsInvalid(errors)
    drafts = _parse(context["draftOrders"], "context.draftOrders")
    if not isinstance(drafts, Bundle):
        raise CdsInvalid({"context.draftOrders.resourceType": ["must be 'Bundle'"]})
    # Keys we did not ask for are the EHR's business (CRD: ignore what is unexpected).
    fetched = {
        key: _parse(value, f"prefetch.{key}")
        for key, value in prefetch.items()
        if key in PREFETCH and value is not None
    }
    known = {
        f"{r.get_resource_type()}/{r.id}": r
        for r in [*_resources(drafts), *(r for value in fetched.values() for r in _resources(value))]
        if r.id
    }
    coverage = (
        next((r for r in _resources(fetched["coverage"]) if isinstance(r, Coverage)), None)
        if "coverage" in fetched
        else None
    )
    patient = fetched.get("patient")
    selections = context.get("selections")
    selected = (
        {s for s in selections if isinstance(s, str)}
        if service.hook == "order-select" and isinstance(selections, list)
        else set()
    )
    orders = tuple(
        _draft_order(entry.resource, f"context.draftOrders.entry[{i}].resource", known, today)
        for i, entry in enumerate(drafts.entry or [])
        if isinstance(entry.resource, DomainResource)
        and entry.resource.get_resource_type() in ORDER_TYPES
        and (not selected or f"{entry.resource.get_resource_type()}/{entry.resource.id}" in selected)
    )
    extension = body.get("extension")
    configuration = extension.get(CRD_CONFIGURATION) if isinstance(extension, dict) else None
    return HookCall(
        service=service,
        hook_instance=body["hookInstance"],
        patient_id=context["patientId"],
        fhir_server=body.get("fhirServer"),
        fhir_authorization=body.get("fhirAuthorization"),
        orders=orders,
        coverage=coverage,
        patient=patient if isinstance(patient, Patient) else None,
        missing=tuple(key for key in NEEDED_PREFETCH if key not in fetched),
        configuration=configuration if isinstance(configuration, dict) else {},
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead the read into the plan's own network: it is a failed read."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_ehr_opener = urllib.request.build_opener(_NoRedirect)


def ehr_coverage(*, fhir_server: Any, fhir_authorization: Any, patient_id: str) -> Coverage | None:
    """The patient's active Coverage read from the EHR's FHIR server with the access token the
    call carried (CDS Hooks' FHIR resource access), or None when the call gave no access or the
    read failed. The server must be a public https URL, by the rule webhooks follow."""
    token = fhir_authorization.get("access_token") if isinstance(fhir_authorization, dict) else None
    if not isinstance(fhir_server, str) or not isinstance(token, str) or webhook_target_problem(fhir_server):
        return None
    query = urlencode({"patient": patient_id, "status": "active"})
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        f"{fhir_server.rstrip('/')}/Coverage?{query}",
        headers={"Authorization": f"Bearer {token}", "Accept": FHIR_JSON},
    )
    try:
        with _ehr_opener.open(request, timeout=EHR_READ_SECONDS) as response:
            found = _parse(json.loads(response.read(EHR_READ_MAX_BYTES)), "Coverage search")
    except (urllib.error.URLError, OSError, ValueError, CdsInvalid):
        return None
    return next((r for r in _resources(found) if isinstance(r, Coverage)), None)


# --- the answer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderAnswer:
    order: DraftOrder
    line_of_business: str
    covered: str
    pa_needed: str | None
    doc_needed: str | None
    questionnaire: str | None
    reason: str
    gold_card: bool
    governing: VersionData | None
    assertion_id: str
    satisfied_pa_id: str | None
    # CRD info-needed codes: what the order lacks for a definite answer (only when one is conditional).
    info_needed: tuple[str, ...] = ()


def line_of_business_for(*, coverage: Coverage | None, day: date, client: FhirClient) -> str:
    """The plan's eligibility file for the Coverage's subscriber, else what its type names, else
    the line of business registered for the client."""
    member_id = coverage.subscriberId if coverage is not None and coverage.subscriberId else ""
    on_file = member_coverage_on(member_id, day) if member_id else None
    if on_file is not None:
        return on_file.line_of_business
    for coding in (coverage.type.coding or []) if coverage is not None and coverage.type is not None else []:
        if coding.system == SOPT and coding.code:
            for prefix, line_of_business in SOPT_LINES_OF_BUSINESS.items():
                if coding.code.startswith(prefix):
                    return line_of_business
    return client.line_of_business


def order_answer(
    *,
    order: DraftOrder,
    line_of_business: str,
    member_id: str,
    birth_date: date | None,
    fhir_base: str,
    stamp: tuple[int, str],
    now: datetime,
) -> OrderAnswer:
    """What intake would answer if the order arrived as a request now (nothing is stored)."""
    case = Case(
        line_of_business=line_of_business,
        member_id=member_id,
        member_birth_date=birth_date,
        requesting_provider_npi=order.requester_npi,
        diagnosis_codes=list(order.diagnoses),
        clinical_facts={},
        clinical_notes="",
    )
    line = ServiceLine(
        case=case,
        sequence=1,
        code_system=order.code_system,
        code=order.code,
        units=1,
        date_of_service=order.date_of_service,
        description=order.display,
    )
    evaluation: list[FlagData] = evaluate_request(engine_index(stamp), case_request_data(case, [line]))
    matches = duplicate_matches(member_id=member_id, line_of_business=line_of_business, lines=[line])
    blocking = [
        *duplicate_flags(case=case, lines=[line], matches=matches, now=now),
        *eligibility_flags(line_of_business=line_of_business, member_id=member_id, lines=[line], case=case, now=now),
    ]
    triage = triage_lines(case=case, lines=[line], evaluation=evaluation, triage_flags=blocking, stamp=stamp, now=now)
    requirement = triage.requirements[1]
    approval = triage.answers.get(1)
    governing = governing_version(evaluation, line_of_business=line_of_business, day=order.date_of_service)
    covered = CRD_NOT_COVERED if requirement.requirement == Requirement.NOT_COVERED else CRD_COVERED
    pa_needed: str | None = PA_NEEDED.get(Requirement(requirement.requirement))
    if pa_needed == CRD_AUTH_NEEDED and approval is not None and approval.outcome == LineOutcome.APPROVED:
        pa_needed = CRD_SATISFIED
    needed: list[tuple[str, str]] = []  # (info-needed code, what it is and why)
    other_rules = diagnosis_rules(
        index=requirement_index(stamp), order=order, line_of_business=line_of_business, answer=requirement
    )
    if other_rules:
        outcomes = {requirement.requirement, *(rule.requirement for rule in other_rules)}
        if Requirement.NOT_COVERED in outcomes:
            covered = CRD_CONDITIONAL
        answers = {PA_NEEDED[Requirement(r)] for r in outcomes if r != Requirement.NOT_COVERED}
        if len(answers) > 1:
            pa_needed = CRD_CONDITIONAL
        elif pa_needed is None:
            pa_needed = next(iter(answers))
        needed.append(
            (
                CRD_INFO_OTHER,
                "The diagnosis: the order names none, and the plan's rules answer differently by diagnosis ("
                + "; ".join(rule.description() for rule in other_rules)
                + ").",
            )
        )
    elif pa_needed == CRD_AUTH_NEEDED and not blocking and automatic_approval_on(stamp):
        if not order.requester_npi and gold_card_programmes_cover(
            line_of_business=line_of_business, order=order, evaluation=evaluation
        ):
            needed.append(
                (
                    CRD_INFO_PERFORMER,
                    "The ordering provider's NPI: a provider holding the plan's gold card for this service is "
                    "approved without review.",
                )
            )
        if documentation_could_approve(evaluation):
            needed.append(
                (
                    CRD_INFO_OTHER,
                    "The clinical documentation the policy's criteria read: a request whose criteria are met "
                    "with every fact known is approved without review (complete the plan's questionnaire).",
                )
            )
        if needed:
            pa_needed = CRD_CONDITIONAL
    documented = (
        pa_needed in (CRD_AUTH_NEEDED, CRD_CONDITIONAL)
        and governing is not None
        and bool(questionnaire_items(governing))
    )
    reason = approval.reason if approval is not None else requirement.description
    if needed:
        reason = (
            "Depends on what the order does not say. Needed: "
            + " ".join(why for _code, why in needed)
            + (f" Without it: {reason}")
        )
    return OrderAnswer(
        order=order,
        line_of_business=line_of_business,
        covered=covered,
        pa_needed=pa_needed,
        doc_needed=CRD_DOC_CLINICAL if documented else None,
        questionnaire=f"{fhir_base}/Questionnaire/policy-{governing.policy_id}" if documented and governing else None,
        reason=reason,
        gold_card=approval is not None and approval.exemption is not None,
        governing=governing,
        assertion_id=uuid.uuid4().hex,
        satisfied_pa_id=uuid.uuid4().hex if pa_needed == CRD_SATISFIED else None,
        info_needed=tuple(dict.fromkeys(code for code, _why in needed)),
    )


def diagnosis_rules(
    *, index: RequirementIndex, order: DraftOrder, line_of_business: str, answer: RequirementAnswer
) -> tuple[RuleData, ...]:
    """The requirement rules that would answer the order otherwise had it named a diagnosis: the
    diagnosis-scoped rules in effect for it that rank before the rule that answered. None when the
    order names a diagnosis (its diagnoses settle which rule applies)."""
    if order.diagnoses:
        return ()
    found = []
    for rule in index.candidates(order.code_system, order.code):
        if not rule.in_effect_on(order.date_of_service) or rule.line_of_business not in ("", line_of_business):
            continue
        if not rule.diagnosis_codes:
            break  # this rule answers whatever the diagnosis: none after it can apply
        if rule.requirement != answer.requirement:
            found.append(rule)
    return tuple(found)


def gold_card_programmes_cover(*, line_of_business: str, order: DraftOrder, evaluation: Iterable[FlagData]) -> bool:
    """Whether an active gold-card programme of the line of business covers the ordered service."""
    policy_ids = {flag.version.policy_id for flag in evaluation if flag.version is not None}
    programmes = GoldCardProgramme.objects.filter(active=True, line_of_business=line_of_business)
    return any(
        programme.covers(code_system=order.code_system, code=order.code, policy_ids=policy_ids)
        for programme in programmes
    )


def documentation_could_approve(evaluation: Iterable[FlagData]) -> bool:
    """Whether intake would approve the line at once were the criteria it reads unknown answered:
    they are the line's only open question, under versions whose editors allow approval when met."""
    flags = list(evaluation)
    unknown = [flag for flag in flags if flag.kind == FlagKind.CRITERIA_INCOMPLETE]
    return (
        bool(unknown)
        and all(flag.kind in CRITERIA_APPROVAL_FLAGS or flag.kind == FlagKind.CRITERIA_INCOMPLETE for flag in flags)
        and all(flag.version is not None and flag.version.auto_approve for flag in unknown)
    )


def _coverage_reference(call: HookCall, order: DraftOrder) -> Reference:
    if call.coverage is not None and call.coverage.id:
        return Reference(reference=f"Coverage/{call.coverage.id}")
    if order.insurance is not None:
        return order.insurance
    return Reference(type="Coverage", display="The patient's coverage (not sent with the request)")


def governing_text(version: VersionData) -> str:
    return f"{version.reference}: \u201c{version.policy_title}\u201d"


def coverage_information(answer: OrderAnswer, *, coverage: Reference, requirements_url: str, today: date) -> Extension:
    """The CRD coverage-information extension for the order."""
    parts: list[Extension] = [
        Extension(url="coverage", valueReference=coverage),
        Extension(url="covered", valueCode=answer.covered),
    ]
    if answer.pa_needed:
        parts.append(Extension(url="pa-needed", valueCode=answer.pa_needed))
    if answer.doc_needed:
        parts.append(Extension(url="doc-needed", valueCode=answer.doc_needed))
        parts.append(Extension(url="doc-purpose", valueCode=CRD_DOC_WITH_PA))
    parts.extend(Extension(url="info-needed", valueCode=code) for code in answer.info_needed)
    if answer.questionnaire:
        parts.append(Extension(url="questionnaire", valueCanonical=answer.questionnaire))
    reason = CodeableConcept(
        coding=[Coding(system=CRD_TEMP, code="gold-card", display="Gold card")] if answer.gold_card else None,
        text=answer.reason,
    )
    parts.append(Extension(url="reason", valueCodeableConcept=reason))
    if answer.governing is not None:
        parts.append(
            Extension(
                url="detail",
                extension=[
                    Extension(
                        url="code",
                        valueCodeableConcept=CodeableConcept(
                            coding=[Coding(system=CRD_DETAIL, code="policy", display="Governing policy")]
                        ),
                    ),
                    Extension(url="value", valueString=governing_text(answer.governing)),
                    Extension(url="qualification", valueString=f"Published requirements: {requirements_url}"),
                ],
            )
        )
    parts.append(Extension(url="date", valueDate=today))
    parts.append(Extension(url="coverage-assertion-id", valueString=answer.assertion_id))
    if answer.satisfied_pa_id:
        parts.append(Extension(url="satisfied-pa-id", valueString=answer.satisfied_pa_id))
    return Extension(url=Ext.CRD_COVERAGE_INFORMATION, extension=parts)


def order_with_coverage_information(answer: OrderAnswer, extension: Extension) -> dict[str, Any]:
    """The order as the EHR sent it, with the extension added (an earlier one of ours replaced)."""
    resource = answer.order.resource
    kept = [e for e in resource.extension or [] if e.url != Ext.CRD_COVERAGE_INFORMATION]
    return resource_json(resource.model_copy(update={"extension": [*kept, extension]}))


def _summary(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "\u2026"


def _source(answer: OrderAnswer | None) -> dict[str, Any]:
    label = answer.governing.payer if answer is not None and answer.governing is not None else "Health plan"
    return {"label": label, "topic": {"system": CRD_TEMP, "code": "coverage-info", "display": "Coverage Information"}}


def _answer_card(answer: OrderAnswer, action: dict[str, Any], requirements_url: str) -> dict[str, Any]:
    headline = (
        PA_LABELS[answer.pa_needed]
        if answer.pa_needed and answer.covered != CRD_CONDITIONAL
        else COVERED_LABELS[answer.covered]
    )
    detail = [answer.reason]
    if answer.governing is not None:
        detail.append(f"Governed by {governing_text(answer.governing)}.")
    if answer.questionnaire:
        detail.append(
            "Documentation is needed: complete the plan's questionnaire (DTR) before requesting authorization."
        )
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _summary(f"{answer.order.label}: {headline}"),
        "detail": "\n\n".join(detail),
        "indicator": "info",
        "source": _source(answer),
        "suggestions": [
            {"label": "Record the coverage information on the order", "uuid": str(uuid.uuid4()), "actions": [action]}
        ],
        "links": [
            {"label": "The plan's prior authorization requirements", "url": requirements_url, "type": "absolute"}
        ],
    }


def _notice(summary: str, detail: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _summary(summary),
        "detail": detail,
        "indicator": "info",
        "source": _source(None),
    }


def crd_hook_answer(
    *,
    client: FhirClient,
    service: CdsService,
    body: Any,
    fhir_base: str,
    requirements_url: str,
    now: datetime,
    today: date,
) -> dict[str, Any]:
    """The CDS Hooks response for one call: a system action (or, where the EHR asked for cards, a
    card) per order we can answer, and cards saying what could not be answered and why. Records
    the call and every assertion made in the audit log."""
    call = hook_call_parse(service=service, body=body, today=today)
    if "coverage" in call.missing:
        coverage = ehr_coverage(
            fhir_server=call.fhir_server, fhir_authorization=call.fhir_authorization, patient_id=call.patient_id
        )
        if coverage is not None:
            call = replace(call, coverage=coverage, missing=tuple(k for k in call.missing if k != "coverage"))
    cards: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    answers: list[OrderAnswer] = []
    if call.missing:
        default = LineOfBusiness(client.line_of_business).label if client.line_of_business else "none registered"
        cards.append(
            _notice(
                "Coverage requirements answered without the patient's coverage",
                f"The request did not include the prefetch {', '.join(repr(k) for k in call.missing)}, and the EHR's "
                "FHIR server could not be read for it (the call gave no fhirServer and access token, or the read "
                f"failed). The answers use the line of business registered for your system ({default}) and cannot "
                "check the member's eligibility: send the Coverage for an answer for this patient's plan.",
            )
        )
    stamp = library_stamp()
    member_id = call.coverage.subscriberId or "" if call.coverage is not None else ""
    birth_date = call.patient.birthDate if call.patient is not None else None
    for order in call.orders if call.option(OPTION_COVERAGE_INFO) else ():
        line_of_business = line_of_business_for(coverage=call.coverage, day=order.date_of_service, client=client)
        if not order.code_system or not line_of_business:
            why = (
                "it has no CPT or HCPCS coding, which the plan's rules are written in"
                if not order.code_system
                else "the plan cannot tell the member's line of business: send the Coverage"
            )
            cards.append(_notice(f"{order.label}: coverage requirements not determined", f"Not answered: {why}."))
            continue
        answer = order_answer(
            order=order,
            line_of_business=line_of_business,
            member_id=member_id,
            birth_date=birth_date if isinstance(birth_date, date) else None,
            fhir_base=fhir_base,
            stamp=stamp,
            now=now,
        )
        extension = coverage_information(
            answer, coverage=_coverage_reference(call, order), requirements_url=requirements_url, today=today
        )
        action = {
            "type": "update",
            "description": f"Coverage information for {order.label}",
            "resource": order_with_coverage_information(answer, extension),
        }
        if call.option(OPTION_AS_CARD):
            cards.append(_answer_card(answer, action, requirements_url))
        else:
            actions.append(action)
        answers.append(answer)
    _record(call, answers)
    response: dict[str, Any] = {"cards": cards}
    if actions:
        response["systemActions"] = actions
    return response


def _record(call: HookCall, answers: Iterable[OrderAnswer]) -> None:
    audit_record(
        action=AuditAction.VIEW,
        object_type=AUDIT_OBJECT,
        object_id=call.hook_instance[:100],
        detail={
            "hook": call.service.hook,
            "missing_prefetch": list(call.missing),
            "assertions": [
                {
                    "order": a.order.path,
                    "code": f"{a.order.code_system} {a.order.code}",
                    "line_of_business": a.line_of_business,
                    "covered": a.covered,
                    "pa_needed": a.pa_needed,
                    "doc_needed": a.doc_needed,
                    "info_needed": list(a.info_needed),
                    "policy_version": a.governing.version_id if a.governing else None,
                    "coverage_assertion_id": a.assertion_id,
                    "satisfied_pa_id": a.satisfied_pa_id,
                }
                for a in answers
            ],
        },
    )

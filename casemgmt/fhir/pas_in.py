"""A PAS Request Bundle read into the request our intake takes (the same CaseInput the v1 API
builds), with the FHIRPath of every element each field came from, so intake's refusals name
the element the EHR sent.

The PAS rules the models cannot check (bundle type, the Claim first, fixed values, required
extensions, references resolved inside the bundle) are checked here, all of them before any
refusal, so one answer lists every problem.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim, ClaimItem
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from casemgmt.cases.models import Urgency
from casemgmt.cases.selectors import member_coverage_on
from casemgmt.cases.services.intake import CaseInput, LineInput, MemberInput, ProviderInput
from casemgmt.fhir.codes import (
    CERTIFICATION_CANCEL,
    REJECT_SUBSCRIBER_NOT_FOUND,
    SERVICE_CODE_SYSTEMS,
    URGENT_LEVELS_OF_SERVICE,
    URGENT_PRIORITIES,
    Ext,
    Profile,
    System,
)
from casemgmt.fhir.models import FhirClient, FhirSubmissionKind
from casemgmt.fhir.parsing import FhirInvalid, FhirProblem, PasNotReviewable
from policies_app.codes import CPT_RE, HCPCS_RE

CLAIM = "Bundle.entry[0].resource"


@dataclass(frozen=True)
class PasItem:
    """A Claim item: the sequence and trace number the EHR gave it, and what it asks for."""

    sequence: int
    trace_number: str
    certification_type: str
    info_changed: str  # "added", "changed" or "" (PAS update requests)


@dataclass(frozen=True)
class PasDocument:
    """A document that came in the bundle (DocumentReference or Binary)."""

    path: str
    content_type: str
    data: bytes
    description: str


@dataclass
class PasRequest:
    kind: str
    bundle_identifier: str
    claim_identifier: str
    case: CaseInput
    items: list[PasItem]
    # intake's field paths (service_lines[0].date_of_service) -> the FHIRPath they came from
    paths: dict[str, str]
    documents: list[PasDocument] = field(default_factory=list)
    # An update's or cancellation's earlier Claim, by its identifier.
    related_claim_identifier: str = ""
    warnings: list[str] = field(default_factory=list)


def identifier_key(identifier: Identifier | None) -> str:
    if identifier is None or not identifier.value:
        return ""
    return f"{identifier.system or ''}|{identifier.value}"


def extension(extensions: list[Extension] | None, url: str) -> Extension | None:
    return next((e for e in extensions or [] if e.url == url), None)


def concept_code(concept: CodeableConcept | None, system: str | None = None) -> str:
    for coding in (concept.coding if concept else None) or []:
        if system is None or coding.system == system:
            return str(coding.code or "")
    return ""


def extension_code(extensions: list[Extension] | None, url: str) -> str:
    found = extension(extensions, url)
    return concept_code(found.valueCodeableConcept) if found is not None else ""


def profiles_of(resource: Resource) -> list[str]:
    return [str(p) for p in (resource.meta.profile if resource.meta and resource.meta.profile else [])]


class BundleIndex:
    """The bundle's resources by fullUrl and by `Type/id`, to resolve references inside it."""

    def __init__(self, bundle: Bundle) -> None:
        self.by_reference: dict[str, tuple[int, Resource]] = {}
        for i, entry in enumerate(bundle.entry or []):
            resource = entry.resource
            if resource is None:
                continue
            if entry.fullUrl:
                self.by_reference[str(entry.fullUrl)] = (i, resource)
            if resource.id:
                local = f"{resource.get_resource_type()}/{resource.id}"
                self.by_reference.setdefault(local, (i, resource))
                if entry.fullUrl and str(entry.fullUrl).endswith("/" + local):
                    self.by_reference.setdefault(str(entry.fullUrl), (i, resource))

    def resolve(self, reference: Reference | None) -> tuple[int, Resource] | None:
        if reference is None or not reference.reference:
            return None
        target = str(reference.reference)
        found = self.by_reference.get(target)
        if found is None and "/" in target:
            found = self.by_reference.get("/".join(target.rsplit("/", 2)[-2:]))
        return found


class Reader:
    """Reads one bundle, collecting every problem before refusing."""

    def __init__(self, bundle: Bundle, client: FhirClient) -> None:
        self.bundle = bundle
        self.client = client
        self.index = BundleIndex(bundle)
        self.problems: list[FhirProblem] = []
        self.unreviewable: list[FhirProblem] = []
        self.warnings: list[str] = []
        self.paths: dict[str, str] = {}
        self.today = timezone.localdate()

    def problem(self, path: str, message: str, code: str = "invalid") -> None:
        self.problems.append(FhirProblem(path=path, message=message, code=code))

    def required(self, reference: Reference | None, path: str, what: str, types: tuple[str, ...]) -> Resource | None:
        if reference is None or not reference.reference:
            self.problem(path, f"is required: a reference to the {what}", code="required")
            return None
        found = self.index.resolve(reference)
        if found is None:
            self.problem(path, f"{reference.reference!r} is not in the bundle: every referenced resource must be")
            return None
        resource = found[1]
        if resource.get_resource_type() not in types:
            self.problem(path, f"must refer to a {' or '.join(types)}, not a {resource.get_resource_type()}")
            return None
        return resource

    # --- the bundle and its Claim --------------------------------------------------------

    def claim(self) -> Claim | None:
        bundle = self.bundle
        if bundle.type != "collection":
            self.problem("Bundle.type", f"must be 'collection' (a PAS request bundle), not {bundle.type!r}")
        if not identifier_key(bundle.identifier):
            self.problem("Bundle.identifier", "is required: the submitter's identifier of this bundle", "required")
        if bundle.timestamp is None:
            self.problem("Bundle.timestamp", "is required", "required")
        entries = bundle.entry or []
        for i, entry in enumerate(entries):
            if not entry.fullUrl:
                self.problem(f"Bundle.entry[{i}].fullUrl", "is required", "required")
            if entry.resource is None:
                self.problem(f"Bundle.entry[{i}].resource", "is required", "required")
        if not entries or not isinstance(entries[0].resource, Claim):
            self.problem("Bundle.entry[0].resource", "must be the Claim: a PAS request bundle starts with it")
            return None
        claim = entries[0].resource
        if claim.use != "preauthorization":
            self.problem(f"{CLAIM}.use", f"must be 'preauthorization', not {claim.use!r}")
        if claim.status != "active":
            self.problem(f"{CLAIM}.status", f"must be 'active', not {claim.status!r}")
        if not claim.identifier or not identifier_key(claim.identifier[0]):
            self.problem(f"{CLAIM}.identifier", "is required: the request's trace number", "required")
        if not claim.item:
            self.problem(f"{CLAIM}.item", "at least one item is required", "required")
        return claim

    def kind(self, claim: Claim) -> tuple[str, str]:
        """New request, update or cancellation; for the last two, the earlier Claim's identifier."""
        cancelled = extension_code(claim.extension, Ext.CERTIFICATION_TYPE) == CERTIFICATION_CANCEL
        related = [r for r in claim.related or [] if r.claim is not None]
        if not related and Profile.CLAIM_UPDATE not in profiles_of(claim):
            return (FhirSubmissionKind.CANCEL if cancelled else FhirSubmissionKind.REQUEST), ""
        if not related:
            self.problem(f"{CLAIM}.related", "an update must name the earlier request in related.claim", "required")
            return FhirSubmissionKind.UPDATE, ""
        path = f"{CLAIM}.related[0].claim"
        earlier = related[0].claim
        key = identifier_key(earlier.identifier) if earlier and earlier.identifier else ""
        if not key:
            found = self.index.resolve(earlier)
            if found is not None and isinstance(found[1], Claim) and found[1].identifier:
                key = identifier_key(found[1].identifier[0])
        if not key:
            self.problem(
                path, "must identify the earlier request: its identifier, or a Claim in the bundle that has one"
            )
        return (FhirSubmissionKind.CANCEL if cancelled else FhirSubmissionKind.UPDATE), key

    # --- the member, the providers and the coverage -----------------------------------------

    def member(self, claim: Claim, coverage: Resource | None) -> MemberInput:
        found = self.required(claim.patient, f"{CLAIM}.patient", "patient", ("Patient",))
        patient = found if isinstance(found, Patient) else None
        member_id = str(getattr(coverage, "subscriberId", "") or "")
        first, last, born = "", "", None
        if patient is not None:
            if not member_id:
                member_id = next((str(i.value) for i in patient.identifier or [] if i.value), "")
            for name in (patient.name or [])[:1]:
                last = str(name.family or "")
                first = " ".join(str(g) for g in name.given or [])
            if not last:
                self.problem(f"{CLAIM}.patient", "the Patient needs a name with a family name", "required")
            born = patient.birthDate if isinstance(patient.birthDate, date) else None
        if not member_id:
            self.problem(
                f"{CLAIM}.insurance[0].coverage",
                "the member id is required: Coverage.subscriberId or a Patient identifier",
                "required",
            )
        self.paths["member.birth_date"] = f"{CLAIM}.patient"
        return MemberInput(
            member_id=member_id[:50], first_name=first[:100] or "-", last_name=last[:100], birth_date=born
        )

    def provider(self, reference: Reference | None, path: str, what: str) -> ProviderInput | None:
        resource = self.required(reference, path, what, ("Organization", "Practitioner", "PractitionerRole"))
        if resource is None:
            return None
        if resource.get_resource_type() == "PractitionerRole":
            role_org = getattr(resource, "organization", None)
            practitioner = self.index.resolve(getattr(resource, "practitioner", None))
            if practitioner is None and role_org is not None:
                practitioner = self.index.resolve(role_org)
            if practitioner is None:
                self.problem(path, "the PractitionerRole must name a practitioner or organization in the bundle")
                return None
            resource = practitioner[1]
        npi = next((str(i.value) for i in getattr(resource, "identifier", None) or [] if i.system == System.NPI), "")
        if not npi:
            self.problem(path, f"the {what} needs an NPI identifier ({System.NPI})", "required")
        return ProviderInput(npi=npi, name=display_name(resource)[:200])

    def coverage(self, claim: Claim) -> Resource | None:
        insurance = [i for i in claim.insurance or [] if i.focal] or list(claim.insurance or [])
        if not insurance:
            self.problem(f"{CLAIM}.insurance", "is required: the member's focal coverage", "required")
            return None
        index = (claim.insurance or []).index(insurance[0])
        return self.required(insurance[0].coverage, f"{CLAIM}.insurance[{index}].coverage", "coverage", ("Coverage",))

    def line_of_business(self, coverage: Resource | None, member_id: str, day: date) -> tuple[str, str]:
        """From the plan's eligibility file when it knows the member, else the client's default."""
        on_file = member_coverage_on(member_id, day) if member_id else None
        if on_file is not None:
            return on_file.line_of_business, on_file.plan_id
        if self.client.line_of_business:
            return self.client.line_of_business, ""
        self.unreviewable.append(
            FhirProblem(
                path=f"{CLAIM}.insurance[0].coverage",
                message="the member is not in the plan's eligibility file and this client has no default line of business",
                code="not-found",
            )
        )
        return "", ""

    # --- the items ---------------------------------------------------------------------------

    def items(self, claim: Claim) -> tuple[list[LineInput], list[PasItem]]:
        lines: list[LineInput] = []
        items: list[PasItem] = []
        fallback, fallback_path = self.request_date(claim)
        for i, item in enumerate(claim.item or []):
            path = f"{CLAIM}.item[{i}]"
            certification = extension_code(item.extension, Ext.CERTIFICATION_TYPE)
            if not certification:
                self.problem(f"{path}.extension", "the certificationType extension is required", "required")
            if not extension_code(item.extension, Ext.SERVICE_ITEM_REQUEST_TYPE):
                self.problem(f"{path}.extension", "the serviceItemRequestType extension is required", "required")
            if item.category is None:
                self.problem(f"{path}.category", "is required", "required")
            system, code, display = self.service_code(item, path)
            day, day_path = self.service_date(item, path)
            if day is None:
                day, day_path = fallback, fallback_path
            units = 1
            if item.quantity is not None and item.quantity.value is not None:
                units = int(item.quantity.value)
                if units != item.quantity.value:
                    self.problem(f"{path}.quantity.value", "must be a whole number of units")
            line = len(lines)
            self.paths[f"service_lines[{line}].code"] = f"{path}.productOrService"
            self.paths[f"service_lines[{line}].units"] = f"{path}.quantity"
            self.paths[f"service_lines[{line}].date_of_service"] = day_path
            self.paths[f"service_lines[{line}].modifiers"] = f"{path}.modifier"
            modifiers = tuple(str(c.code) for m in item.modifier or [] for c in (m.coding or [])[:1] if c.code)
            lines.append(
                LineInput(
                    code_system=system,
                    code=code,
                    units=units,
                    date_of_service=day,
                    modifiers=modifiers,
                    description=display[:200],
                )
            )
            trace = extension(item.extension, Ext.ITEM_TRACE_NUMBER)
            items.append(
                PasItem(
                    sequence=int(item.sequence or 0),
                    trace_number=str(trace.valueIdentifier.value or "") if trace and trace.valueIdentifier else "",
                    certification_type=certification,
                    info_changed=str(getattr(extension(item.extension, Ext.INFO_CHANGED), "valueCode", "") or ""),
                )
            )
        sequences = [item.sequence for item in items]
        if len(set(sequences)) != len(sequences):
            self.problem(f"{CLAIM}.item", "item sequences must be unique")
        return lines, items

    def service_code(self, item: ClaimItem, path: str) -> tuple[str, str, str]:
        for coding in (item.productOrService.coding if item.productOrService else None) or []:
            ours = SERVICE_CODE_SYSTEMS.get(str(coding.system or ""))
            if ours is None or not coding.code:
                continue
            code = str(coding.code).upper()
            if ours in ("CPT", "HCPCS"):
                # EHRs send CPT codes under the HCPCS system (HCPCS Level I is CPT): the code's
                # shape says which it is.
                ours = "CPT" if CPT_RE.match(code) else "HCPCS" if HCPCS_RE.match(code) else ours
            return ours, code, str(coding.display or "")
        self.problem(
            f"{path}.productOrService",
            "needs a CPT, HCPCS or X12 1365 service type coding (systems: "
            + ", ".join(sorted(set(SERVICE_CODE_SYSTEMS)))
            + ")",
        )
        return "CPT", "", ""

    def service_date(self, item: ClaimItem, path: str) -> tuple[date | None, str]:
        if isinstance(item.servicedDate, date):
            return item.servicedDate, f"{path}.servicedDate"
        if item.servicedPeriod is not None and item.servicedPeriod.start is not None:
            return as_date(item.servicedPeriod.start), f"{path}.servicedPeriod.start"
        requested = extension(item.extension, Ext.REQUESTED_SERVICE)
        if requested is not None and requested.valueReference is not None:
            found = self.index.resolve(requested.valueReference)
            if found is not None:
                index, order = found
                day = order_date(order)
                if day is not None:
                    return day, f"Bundle.entry[{index}].resource.occurrence"
        return None, f"{path}.servicedDate"

    def request_date(self, claim: Claim) -> tuple[date, str]:
        """The date of service of items that give none: the admission, or the home health care
        start; else the day the request is received (a prospective request for now)."""
        for i, info in enumerate(claim.supportingInfo or []):
            if concept_code(info.category) == "admissionDates" and info.timingPeriod and info.timingPeriod.start:
                return as_date(info.timingPeriod.start), f"{CLAIM}.supportingInfo[{i}].timingPeriod.start"
        home = extension(claim.extension, Ext.HOME_HEALTH_CARE)
        if home is not None:
            for j, part in enumerate(home.extension or []):
                if part.url == "date" and isinstance(part.valueDate, date):
                    where = (claim.extension or []).index(home)
                    return part.valueDate, f"{CLAIM}.extension[{where}].extension[{j}].valueDate"
        return self.today, f"{CLAIM}.item"

    def urgency(self, claim: Claim) -> str:
        level = extension_code(claim.extension, Ext.LEVEL_OF_SERVICE)
        priority = concept_code(claim.priority)
        urgent = level in URGENT_LEVELS_OF_SERVICE or priority in URGENT_PRIORITIES
        return Urgency.EXPEDITED if urgent else Urgency.STANDARD

    # --- supporting information ---------------------------------------------------------------

    def supporting(self, claim: Claim) -> tuple[list[str], list[PasDocument], list[tuple[QuestionnaireResponse, str]]]:
        notes: list[str] = []
        documents: list[PasDocument] = []
        responses: list[tuple[QuestionnaireResponse, str]] = []
        for i, info in enumerate(claim.supportingInfo or []):
            path = f"{CLAIM}.supportingInfo[{i}]"
            if info.valueString:
                notes.append(str(info.valueString))
            found = self.index.resolve(info.valueReference) if info.valueReference else None
            if info.valueReference is not None and found is None:
                self.problem(f"{path}.valueReference", "is not in the bundle: every referenced resource must be")
                continue
            if found is None:
                continue
            index, resource = found
            resource_path = f"Bundle.entry[{index}].resource"
            if isinstance(resource, QuestionnaireResponse):
                responses.append((resource, resource_path))
            else:
                documents.extend(self.documents_of(resource, resource_path, describe(info)))
        return notes, documents, responses

    def documents_of(self, resource: Resource, path: str, description: str) -> list[PasDocument]:
        kind = resource.get_resource_type()
        if kind == "Binary":
            pieces = [(getattr(resource, "contentType", ""), getattr(resource, "data", None), path)]
        elif kind == "DocumentReference":
            pieces = [
                (c.attachment.contentType, c.attachment.data, f"{path}.content[{j}].attachment")
                for j, c in enumerate(getattr(resource, "content", None) or [])
            ]
            description = str(getattr(resource, "description", "") or description)
        else:
            return []
        found = []
        for content_type, data, piece_path in pieces:
            if data is None:
                continue  # a document by URL only: the reviewer asks for it
            try:
                raw = data if isinstance(data, bytes) else base64.b64decode(str(data), validate=True)
            except (binascii.Error, ValueError):
                self.problem(f"{piece_path}.data", "is not base64")
                continue
            found.append(
                PasDocument(path=piece_path, content_type=str(content_type or ""), data=raw, description=description)
            )
        return found


def display_name(resource: Resource) -> str:
    name = getattr(resource, "name", None)
    if isinstance(name, str):
        return name
    first = (name or [None])[0]
    if first is None:
        return ""
    if first.text:
        return str(first.text)
    return " ".join([*(str(g) for g in first.given or []), str(first.family or "")]).strip()


def describe(info: Any) -> str:
    for outer in info.extension or []:
        for part in outer.extension or []:
            if part.url == "description" and part.valueString:
                return str(part.valueString)
    return concept_code(info.category)


def as_date(value: date | datetime) -> date:
    """A FHIR date or dateTime as the day it names (a dateTime in its own offset)."""
    return value.date() if isinstance(value, datetime) else value


def order_date(order: Resource) -> date | None:
    for name in ("occurrenceDateTime", "authoredOn"):
        value = getattr(order, name, None)
        if value is not None:
            return as_date(value)
    period = getattr(order, "occurrencePeriod", None)
    if period is not None and period.start is not None:
        return as_date(period.start)
    return None


def pas_request_read(
    *, bundle: Bundle, client: FhirClient
) -> tuple[PasRequest, list[tuple[QuestionnaireResponse, str]]]:
    """The bundle as our request, or FhirInvalid naming every problem (nothing is stored).

    Also returns the DTR QuestionnaireResponses it carries, with their paths, for the caller to
    turn into clinical facts."""
    reader = Reader(bundle, client)
    claim = reader.claim()
    if claim is None:
        raise FhirInvalid(reader.problems)
    kind, related = reader.kind(claim)
    coverage = reader.coverage(claim)
    member = reader.member(claim, coverage)
    requesting = reader.provider(claim.provider, f"{CLAIM}.provider", "requesting provider")
    servicing = None
    for j, team in enumerate(claim.careTeam or []):
        # Optional for a review: one that cannot be read is left out and said so, not refused.
        before = len(reader.problems)
        servicing = reader.provider(team.provider, f"{CLAIM}.careTeam[{j}].provider", "servicing provider")
        reader.warnings += [
            f"{p.path}: {p.message}; the servicing provider was not recorded" for p in reader.problems[before:]
        ]
        del reader.problems[before:]
        break
    lines, items = reader.items(claim)
    day = min((line.date_of_service for line in lines), default=reader.today)
    line_of_business, plan_id = reader.line_of_business(coverage, member.member_id, day)
    diagnoses: list[str] = []
    for k, diagnosis in enumerate(claim.diagnosis or []):
        code = concept_code(diagnosis.diagnosisCodeableConcept, System.ICD10CM)
        reader.paths[f"diagnosis_codes[{len(diagnoses)}]"] = f"{CLAIM}.diagnosis[{k}].diagnosisCodeableConcept"
        if code:
            diagnoses.append(code)
        else:
            reader.problem(f"{CLAIM}.diagnosis[{k}].diagnosisCodeableConcept", "needs an ICD-10-CM coding")
    notes, documents, responses = reader.supporting(claim)
    text_documents = [d for d in documents if d.content_type.startswith("text/plain")]
    for document in text_documents:
        notes.append(document.data.decode("utf-8", errors="replace"))
    if reader.problems:
        raise FhirInvalid(reader.problems)
    if reader.unreviewable:
        raise PasNotReviewable(reader.unreviewable, REJECT_SUBSCRIBER_NOT_FOUND)
    reader.paths["diagnosis_codes"] = f"{CLAIM}.diagnosis"
    reader.paths["service_lines"] = f"{CLAIM}.item"
    reader.paths["requesting_provider.npi"] = f"{CLAIM}.provider"
    reader.paths["servicing_provider.npi"] = f"{CLAIM}.careTeam[0].provider"
    assert requesting is not None  # a missing one is a problem above
    claim_key = identifier_key(claim.identifier[0]) if claim.identifier else ""
    request = CaseInput(
        urgency=reader.urgency(claim),
        line_of_business=line_of_business,
        member=member,
        requesting_provider=requesting,
        servicing_provider=servicing,
        service_lines=tuple(lines),
        diagnosis_codes=tuple(diagnoses),
        clinical_notes="\n\n".join(notes),
        external_id=claim_key[-100:],
        plan_id=plan_id,
    )
    return (
        PasRequest(
            kind=kind,
            bundle_identifier=identifier_key(bundle.identifier),
            claim_identifier=claim_key,
            case=request,
            items=items,
            paths=reader.paths,
            documents=[d for d in documents if d not in text_documents],
            related_claim_identifier=related,
            warnings=reader.warnings,
        ),
        responses,
    )


def fhir_paths(errors: dict[str, list[str]], paths: dict[str, str]) -> list[FhirProblem]:
    """Intake's refusals (by its field paths) as problems at the FHIRPath each field came from."""
    problems = []
    for name, messages in errors.items():
        path = paths.get(name)
        if path is None:
            # "service_lines[0].code" when only "service_lines[0]" maps, and so on up.
            parent = name
            while path is None and ("." in parent or "[" in parent):
                parent = parent.rsplit(".", 1)[0] if "." in parent else parent.rsplit("[", 1)[0]
                path = paths.get(parent)
        problems.append(FhirProblem(path=path or "Bundle", message=f"{name}: {'; '.join(messages)}"))
    return problems

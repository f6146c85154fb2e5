"""Where a PAS request stands, as the guide's Response Bundle: the ClaimResponse first, per item
its X12 306 review action, authorization and period, the reason and policy version of an adverse
answer, a CommunicationRequest naming the documentation a pended item waits for, and the
request's patient and organizations it refers to.

Built from the case as it is now, every time (the $submit answer, $inquire, notifications), so
the FHIR door and the v1 API can never disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.claimresponse import (
    ClaimResponse,
    ClaimResponseError,
    ClaimResponseItem,
    ClaimResponseItemAdjudication,
    ClaimResponseProcessNote,
)
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.communicationrequest import CommunicationRequest, CommunicationRequestPayload
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference

from casemgmt.cases.models import (
    X12_REVIEW_ACTION,
    Authorization,
    Case,
    CaseStatus,
    Citation,
    DecisionLine,
    Flag,
    LineOutcome,
    ReviewReasonCode,
    ServiceLine,
)
from casemgmt.cases.selectors import current_flags, line_authorizations, line_current_determinations
from casemgmt.fhir.codes import OUR_SYSTEM_URLS, REVIEW_ACTIONS, Ext, Profile, System
from casemgmt.fhir.models import FhirItem, FhirSubmission
from casemgmt.fhir.parsing import FhirProblem
from policies_app.models import FactDefinition

# Outcomes a member may appeal: their reason goes in a processNote the item points to.
ADVERSE = frozenset(
    {LineOutcome.DENIED, LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED, LineOutcome.UPHELD}
) | frozenset({LineOutcome.PARTIALLY_OVERTURNED})


def concept(system: str, code: str, display: str | None = None) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=system, code=code, display=display or None)])


@dataclass
class ItemState:
    """One item of the request and everything its answer says."""

    item: FhirItem
    line: ServiceLine
    determination: DecisionLine | None
    authorization: Authorization | None
    flags: list[Flag]

    @property
    def review_action(self) -> str:
        if self.determination is not None:
            return X12_REVIEW_ACTION[LineOutcome(self.determination.outcome)]
        if self.line.case.status == CaseStatus.CANCELLED:
            return "C"
        return "A4"


def cited(determinations: Iterable[DecisionLine]) -> None:
    """Attach each determination's citations (one query) and reason code (one more, when one has a code)."""
    found = list(determinations)
    if not found:
        return
    by_line: dict[int, list[Citation]] = {}
    for citation in Citation.objects.filter(decision_line__in=[d.pk for d in found]):
        by_line.setdefault(citation.decision_line_id or 0, []).append(citation)
    coded = {d.reason_code_id for d in found if d.reason_code_id is not None}
    codes = ReviewReasonCode.objects.in_bulk(coded) if coded else {}
    for determination in found:
        determination.fhir_citations = by_line.get(determination.pk, [])  # type: ignore[attr-defined]
        determination.fhir_reason_code = codes.get(determination.reason_code_id or 0)  # type: ignore[attr-defined]


def intake_state(case: Case, items: list[FhirItem]) -> list[ItemState]:
    """The items of a request intake has just answered, from what intake returned: the lines,
    flags, answers and authorizations it wrote, not read back (one query, for citations, only
    when intake answered a line)."""
    cited(case.intake_determinations.values())
    return item_states(items, case.current_flags, case.intake_determinations, case.intake_authorizations)


def submission_state(submission: FhirSubmission) -> list[ItemState]:
    """The submission's items with their case's current answers: a handful of queries."""
    items = list(submission.items.select_related("service_line__case", "service_line__origin").order_by("sequence"))
    lines = [item.service_line for item in items]
    determinations = line_current_determinations(lines)
    cited(determinations.values())
    authorizations = line_authorizations(lines)
    case = Case.objects.filter(pk=submission.case_id).prefetch_related(current_flags()).first()
    return item_states(items, getattr(case, "current_flags", []), determinations, authorizations)


def item_states(
    items: list[FhirItem],
    flags: Iterable[Flag],
    determinations: dict[int, DecisionLine],
    authorizations: dict[int, Authorization],
) -> list[ItemState]:
    by_line: dict[int, list[Flag]] = {}
    for flag in flags:
        by_line.setdefault(flag.service_line_id, []).append(flag)
    return [
        ItemState(
            item=item,
            line=item.service_line,
            determination=determinations.get(item.service_line_id),
            authorization=authorizations.get(item.service_line_id),
            flags=by_line.get(item.service_line_id, []),
        )
        for item in items
    ]


class ResponseBuilder:
    def __init__(self, submission: FhirSubmission, states: list[ItemState]) -> None:
        self.submission = submission
        self.states = states
        self.request: dict[str, Any] = submission.bundle
        self.entries: list[dict[str, Any]] = self.request.get("entry") or []
        self.claim: dict[str, Any] = self.entries[0]["resource"]
        self.notes: list[dict[str, Any]] = []
        self.extra: list[BundleEntry] = []
        for warning in submission.warnings:
            self.note(f"Not used: {warning}")

    def reference(self, reference: dict[str, Any] | None) -> Reference:
        """A reference of the request's Claim, as it was sent (the target is in the answer too)."""
        if reference and reference.get("reference"):
            return Reference(reference=reference["reference"])
        return Reference(display="not given in the request")

    def note(self, text: str) -> int:
        number = len(self.notes) + 1
        self.notes.append({"number": number, "type": "display", "text": text})
        return number

    def item(self, state: ItemState) -> ClaimResponseItem:
        action = state.review_action
        review = [
            Extension(
                url=Ext.REVIEW_ACTION_CODE,
                valueCodeableConcept=concept(System.REVIEW_ACTION, action, REVIEW_ACTIONS[action]),
            )
        ]
        extensions: list[Extension] = []
        authorization = state.authorization
        determination = state.determination
        if authorization is not None and determination is not None and action in ("A1", "A2", "A6"):
            review.insert(0, Extension(url="number", valueString=authorization.authorization_number))
            extensions += [
                Extension(
                    url=Ext.ITEM_PREAUTH_ISSUE_DATE, valueDate=timezone.localtime(authorization.issued_at).date()
                ),
                Extension(
                    url=Ext.ITEM_PREAUTH_PERIOD,
                    valuePeriod=period(authorization.valid_from, authorization.valid_to),
                ),
                Extension(
                    url=Ext.ITEM_AUTHORIZED_DETAIL,
                    extension=[
                        Extension(
                            url="productOrServiceCode",
                            valueCodeableConcept=concept(
                                OUR_SYSTEM_URLS[authorization.code_system], authorization.code
                            ),
                        ),
                        Extension(url="quantity", valueQuantity=Quantity(value=Decimal(authorization.approved_units))),
                    ],
                ),
            ]
        elif action == "A4":
            # The case number is the reference a provider quotes when calling about a pended item.
            review.insert(0, Extension(url="number", valueString=state.line.case.case_number))
        note_numbers: list[int | None] = []
        citations: list[Citation] = getattr(determination, "fhir_citations", []) if determination else []
        for citation in citations:
            extensions.append(Extension(url=Ext.POLICY_VERSION, valueString=citation_text(citation)))
        if determination is not None and LineOutcome(determination.outcome) in ADVERSE:
            code: ReviewReasonCode | None = getattr(determination, "fhir_reason_code", None)
            if code is not None:
                review.append(
                    Extension(url="reasonCode", valueCodeableConcept=concept(code.system, code.code, code.display))
                )
            basis = "; ".join(citation_text(c) for c in citations)
            reason = determination.reason or "See the decision letter."
            note_numbers.append(
                self.note(f"Item {state.item.sequence}: {reason}" + (f" (per {basis})" if basis else ""))
            )
        elif action == "NA":
            note_numbers.append(self.note(f"Item {state.item.sequence}: no prior authorization is required."))
        elif action == "A4":
            documentation = documentation_needed(state.flags)
            if documentation:
                note_numbers.append(
                    self.note(f"Item {state.item.sequence}: pended for documentation: {', '.join(documentation)}.")
                )
                self.extra.append(self.communication_request(state, documentation))
        return ClaimResponseItem(
            extension=extensions or None,
            itemSequence=state.item.sequence,
            noteNumber=note_numbers or None,
            adjudication=[
                ClaimResponseItemAdjudication(
                    extension=[Extension(url=Ext.REVIEW_ACTION, extension=review)],
                    category=concept(System.ADJUDICATION, "submitted"),
                )
            ],
        )

    def communication_request(self, state: ItemState, documentation: list[str]) -> BundleEntry:
        identifier = f"{state.line.case.case_number}-{state.item.sequence}"
        resource = CommunicationRequest(
            id=identifier,
            meta=Meta(profile=[Profile.COMMUNICATION_REQUEST]),
            identifier=[Identifier(system=System.CASE_NUMBER, value=identifier)],
            status="active",
            category=[concept(System.PAS_TEMP, "additionalInformation")],
            subject=self.reference(self.claim.get("patient")),
            recipient=[self.reference(self.claim.get("provider"))],
            sender=self.reference(self.claim.get("insurer")),
            authoredOn=timezone.now(),
            payload=[CommunicationRequestPayload(contentString=text) for text in documentation],
            reasonCode=[CodeableConcept(text=f"Documentation needed to review item {state.item.sequence}")],
        )
        return BundleEntry(fullUrl=f"urn:uuid:{uuid.uuid4()}", resource=resource)

    def claim_response(self) -> ClaimResponse:
        items = [self.item(state) for state in self.states]
        case = self.submission.case
        claim = self.claim
        authorized = [
            s.authorization
            for s in self.states
            if s.authorization is not None and s.review_action in ("A1", "A2", "A6")
        ]
        response = ClaimResponse(
            id=claim_response_id(self.submission),
            meta=Meta(profile=[Profile.CLAIM_RESPONSE]),
            identifier=[
                *(Identifier.model_validate(i) for i in (claim.get("identifier") or [])[:1]),
                Identifier(system=System.CASE_NUMBER, value=case.case_number),
            ],
            status="active",
            type=claim_type(claim),
            use="preauthorization",
            patient=self.reference(claim.get("patient")),
            created=timezone.now(),
            insurer=self.reference(claim.get("insurer")),
            requestor=self.reference(claim.get("provider")),
            request=claim_request(claim),
            outcome="complete",
            disposition=disposition([s.review_action for s in self.states]),
            item=items,
            processNote=[ClaimResponseProcessNote(**note) for note in self.notes] or None,
        )
        if authorized:
            response.preAuthRef = authorized[0].authorization_number
            response.preAuthPeriod = period(min(a.valid_from for a in authorized), max(a.valid_to for a in authorized))
        return response


def claim_response_id(submission: FhirSubmission) -> str:
    """The id of a submission's ClaimResponse: the same in every answer about it."""
    return f"{submission.case.case_number}-{submission.pk}"


def citation_text(citation: Citation) -> str:
    period = f"effective {citation.effective_start}" if citation.effective_start else "no start date"
    return f"{citation.payer} {citation.policy_number} {citation.policy_title}, version {citation.version_label} ({period})"


def documentation_needed(flags: list[Flag]) -> list[str]:
    """The labels of the facts the item's criteria could not read, as a provider reads them."""
    keys = sorted({key for flag in flags for key in (flag.details or {}).get("unknown_facts", [])})
    if not keys:
        return []
    labels = dict(FactDefinition.objects.filter(key__in=keys).values_list("key", "label"))
    return [labels.get(key, key) for key in keys]


def disposition(actions: list[str]) -> str:
    if actions and all(a == "C" for a in actions):
        return "Cancelled"
    if "A4" in actions:
        return (
            "Pended for review" if all(a == "A4" for a in actions) else "Partly answered; the rest is pended for review"
        )
    if actions and all(a in ("A1", "NA") for a in actions):
        return "Certified" if "A1" in actions else "No prior authorization required"
    if actions and all(a == "A3" for a in actions):
        return "Not certified"
    return "Partly certified"


def response_bundle(submission: FhirSubmission, states: list[ItemState] | None = None) -> Bundle:
    """The PAS Response Bundle for a submission, as its case stands now."""
    builder = ResponseBuilder(submission, states if states is not None else submission_state(submission))
    claim_response = builder.claim_response()
    referenced = {
        (ref or {}).get("reference")
        for ref in (builder.claim.get("patient"), builder.claim.get("insurer"), builder.claim.get("provider"))
    }
    echoed = [
        BundleEntry(fullUrl=entry["fullUrl"], resource=entry["resource"])
        for entry in builder.entries[1:]
        if local_reference(entry) in referenced or entry.get("fullUrl") in referenced
    ]
    return Bundle(
        id=str(uuid.uuid4()),
        meta=Meta(profile=[Profile.RESPONSE_BUNDLE]),
        identifier=Identifier(system=System.RESPONSE_BUNDLE, value=str(uuid.uuid4())),
        type="collection",
        timestamp=timezone.now(),
        entry=[
            BundleEntry(fullUrl=f"urn:uuid:{uuid.uuid4()}", resource=claim_response),
            *echoed,
            *builder.extra,
        ],
    )


def inquiry_response_bundle(submission: FhirSubmission) -> Bundle:
    """The PAS Inquiry Response Bundle for a submission, as its case stands now: the Response
    Bundle under the inquiry profiles, without its CommunicationRequests (the guide leaves
    requests for documentation to the $submit answer and the notifications)."""
    bundle = response_bundle(submission)
    bundle.meta = Meta(profile=[Profile.INQUIRY_RESPONSE_BUNDLE])
    bundle.entry = [entry for entry in bundle.entry or [] if not isinstance(entry.resource, CommunicationRequest)]
    claim_response = bundle.entry[0].resource
    assert isinstance(claim_response, ClaimResponse)
    claim_response.meta = Meta(profile=[Profile.CLAIM_INQUIRY_RESPONSE])
    return bundle


def period(start: date, end: date) -> Period:
    """A period of whole days (FHIR's dateTime takes a date)."""
    return Period.model_validate({"start": start.isoformat(), "end": end.isoformat()})


def claim_type(claim: dict[str, Any]) -> CodeableConcept:
    found = claim.get("type")
    return CodeableConcept.model_validate(found) if found else concept(System.CLAIM_TYPE, "professional")


def claim_request(claim: dict[str, Any]) -> Reference | None:
    """The request answered, by its identifier (the Claim itself is not sent back)."""
    identifiers = claim.get("identifier") or []
    return Reference(identifier=Identifier.model_validate(identifiers[0])) if identifiers else None


def local_reference(entry: dict[str, Any]) -> str:
    resource = entry.get("resource") or {}
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def error_response_bundle(*, request: dict[str, Any], problems: list[FhirProblem], reject_reason: str) -> Bundle:
    """The guide's error response: a valid request for a member or service we cannot review."""
    claim = ((request.get("entry") or [{}])[0]).get("resource") or {}
    response = ClaimResponse(
        meta=Meta(profile=[Profile.CLAIM_RESPONSE]),
        identifier=[Identifier.model_validate(i) for i in (claim.get("identifier") or [])[:1]] or None,
        status="active",
        type=claim_type(claim),
        use="preauthorization",
        patient=Reference.model_validate(claim.get("patient") or {"display": "unknown"}),
        created=timezone.now(),
        insurer=Reference.model_validate(claim.get("insurer") or {"display": "unknown"}),
        request=claim_request(claim),
        outcome="error",
        disposition="; ".join(p.message for p in problems),
        error=[
            ClaimResponseError(
                code=concept(System.REJECT_REASON, reject_reason),
                extension=[
                    Extension(url=Ext.ERROR_PATH, valueString=problem.path),
                    Extension(
                        url=Ext.ERROR_FOLLOWUP_ACTION,
                        valueCodeableConcept=concept(System.FOLLOWUP_ACTION, "C"),
                    ),
                ],
            )
            for problem in problems
        ],
    )
    return Bundle(
        id=str(uuid.uuid4()),
        meta=Meta(profile=[Profile.RESPONSE_BUNDLE]),
        identifier=Identifier(system=System.RESPONSE_BUNDLE, value=str(uuid.uuid4())),
        type="collection",
        timestamp=timezone.now(),
        entry=[BundleEntry(fullUrl=f"urn:uuid:{uuid.uuid4()}", resource=response)],
    )


def prefetch_items() -> Prefetch[str, Any, str]:
    return Prefetch("items", queryset=FhirItem.objects.select_related("service_line").order_by("sequence"))
